"""The warehouse table of good movies and the yearly analytic view."""

import dagster as dg
import pandas as pd

from quality_movies.ingestion.assets import markdown_table
from quality_movies.ingestion.resources import Lake
from quality_movies.partitions import ETAG_TAG, movie_files
from quality_movies.quality.assets import VALIDATED_COLUMN_SCHEMA
from quality_movies.warehouse.resources import Warehouse


@dg.asset(
    partitions_def=movie_files,
    group_name="warehouse",
    kinds={"sql"},
    metadata={"dagster/column_schema": VALIDATED_COLUMN_SCHEMA},
)
def imdb_movies_rating(
    context: dg.AssetExecutionContext,
    validated_movies: pd.DataFrame,
    lake: Lake,
    warehouse: Warehouse,
) -> dg.MaterializeResult:
    """``movies.imdb_movies_rating``: the file's good rows; loading a file again replaces its rows."""
    source_file = context.partition_key
    etag = context.run.tags.get(ETAG_TAG) or lake.head(lake.input_key(source_file)).etag
    loaded = warehouse.load_file(
        source_file, validated_movies, lake.uri(lake.validated_key(source_file))
    )
    counts = warehouse.row_counts()
    return dg.MaterializeResult(
        metadata={
            "dagster/table_name": warehouse.qualified_table,
            "rows_loaded": loaded,
            "dagster/row_count": sum(counts.values()),
            "source_files_in_table": len(counts),
            "source_etag": etag,
        }
    )


@dg.asset(
    group_name="warehouse",
    deps=[imdb_movies_rating],
    kinds={"sql"},
    metadata={
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn("released_year", "string"),
                dg.TableColumn("genre", "string"),
                dg.TableColumn("movie_count", "long"),
                dg.TableColumn("avg_imdb_rating", "double"),
            ]
        )
    },
)
def year_aggregated(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Movies per released_year and genre over the whole table (the seed's analytic view)."""
    view = warehouse.refresh_year_aggregated()
    preview = view.head(10).astype(object).where(view.head(10).notna(), "")
    return dg.MaterializeResult(
        metadata={
            "dagster/table_name": warehouse.qualified_view,
            "dagster/row_count": len(view),
            "movies": int(view["movie_count"].sum()) if len(view) else 0,
            "preview": dg.MetadataValue.md(
                markdown_table(list(preview.columns), preview.values.tolist())
            ),
        }
    )
