"""The raw CSV objects and the catalog table the crawler infers over them."""

import csv
import io

import dagster as dg

from quality_movies.ingestion.resources import Catalog, Lake
from quality_movies.partitions import movie_files

PREVIEW_ROWS = 5


def csv_preview(head: bytes, rows: int = PREVIEW_ROWS) -> tuple[list[str], list[list[str]]]:
    """Header and the first complete rows of a CSV whose first bytes are ``head``."""
    text = head.decode("utf-8", errors="replace")
    if len(head) >= 65536 and "\n" in text:
        text = text[: text.rindex("\n")]
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    body = [row for _, row in zip(range(rows), reader, strict=False)]
    return header, body


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A small Markdown table for the UI."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


@dg.asset(partitions_def=movie_files, group_name="ingestion", kinds={"csv"})
def raw_movies(context: dg.AssetExecutionContext, lake: Lake) -> dg.MaterializeResult:
    """One CSV object under ``input_data/``: the file as it landed in the bucket."""
    obj = lake.head(lake.input_key(context.partition_key))
    header, preview = csv_preview(lake.read_head(obj.key))
    return dg.MaterializeResult(
        metadata={
            "uri": dg.MetadataValue.path(lake.uri(obj.key)),
            "size_bytes": obj.size,
            "etag": obj.etag,
            "last_modified": obj.last_modified.isoformat(),
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name, "string") for name in header]
            ),
            "preview": dg.MetadataValue.md(markdown_table(header, preview)),
        }
    )


@dg.asset(partitions_def=movie_files, group_name="ingestion", deps=[raw_movies], kinds={"glue"})
def movies_catalog_table(
    context: dg.AssetExecutionContext, lake: Lake, catalog: Catalog
) -> dg.MaterializeResult:
    """The catalog table over ``input_data/``, re-crawled when a file arrives (columns lower-cased)."""
    table = catalog.crawl(lake)
    context.log.info(f"catalog table {table.database}.{table.name}: {len(table.columns)} columns")
    return dg.MaterializeResult(
        metadata={
            "dagster/table_name": f"{table.database}.{table.name}",
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name, type_) for name, type_ in table.columns]
            ),
            "location": table.location,
            "classification": table.classification,
            "files_crawled": len(table.files),
        }
    )
