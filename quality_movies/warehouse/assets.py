"""The yearly analytic view over the warehouse table.

``movies.imdb_movies_rating`` itself is loaded, per file, by the quality gate (quality/assets.py): the
load is one step with the file's other outputs, so they are published together or not at all.
"""

import dagster as dg

from quality_movies.markdown import markdown_table
from quality_movies.warehouse.resources import Warehouse

IMDB_MOVIES_RATING = dg.AssetKey("imdb_movies_rating")


@dg.asset(
    group_name="warehouse",
    deps=[IMDB_MOVIES_RATING],
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
