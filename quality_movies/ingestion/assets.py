"""The raw CSV objects and the catalog table the crawler infers over them.

Both assets run over every file of a run (``context.partition_keys``, one or many) and never fail
because of another file: an unreadable file is reported in their metadata, and fails alone.
"""

import csv
import io
from dataclasses import dataclass

import dagster as dg

from quality_movies.contract import REQUIRED_COLUMNS
from quality_movies.dq.input_format import detect_input_format, text_head
from quality_movies.lake import Catalog, Lake, LakeObject
from quality_movies.lake.inspect import InputProblem, inspect_csv
from quality_movies.markdown import markdown_table
from quality_movies.partitions import movie_files

PREVIEW_ROWS = 5
LISTED_FILES = 20


def csv_preview(
    head: bytes, rows: int = PREVIEW_ROWS, name: str = ""
) -> tuple[list[str], list[list[str]]]:
    """Header and the first complete rows of a CSV file ``name`` whose first bytes are ``head``
    (with its delimiter; decompressed when it is a .csv.gz)."""
    fmt = detect_input_format(name, head)
    text = text_head(head, fmt).decode("utf-8", errors="replace")
    if len(head) >= 65536 and "\n" in text:
        text = text[: text.rindex("\n")]
    reader = csv.reader(io.StringIO(text), delimiter=fmt.delimiter)
    header = next(reader, [])
    body = [row for _, row in zip(range(rows), reader, strict=False)]
    return header, body


@dataclass
class RawFile:
    """One input file as raw_movies found it: its listing entry and why it is unusable, if it is."""

    source_file: str
    obj: LakeObject | None
    inspection: InputProblem | None

    @property
    def problem(self) -> str | None:
        return self.inspection.message if self.inspection else None


def inspect_input(lake: Lake, source_file: str, attempts: int = 3) -> RawFile:
    """Stream the input object once through ``inspect_csv``; the problem names the user's file.

    The object's ETag is read before and after, so the verdict is that of the version it names.
    """
    key = lake.input_key(source_file)
    try:
        for _ in range(attempts):
            obj = lake.head(key)
            with lake.open(key) as stream:
                problem = inspect_csv(stream, source_file, required_columns=REQUIRED_COLUMNS)
            if lake.head(key).etag == obj.etag:
                return RawFile(source_file, obj, problem)
    except FileNotFoundError:
        return RawFile(
            source_file,
            None,
            InputProblem(
                kind="missing_file",
                source_file=source_file,
                detail=f"the file is no longer in {lake.uri(lake.input_prefix)}",
                action="upload it again to process it",
            ),
        )
    changing = InputProblem(
        kind="changing_file",
        source_file=source_file,
        detail=f"the file changed while it was read, {attempts} times",
        action="upload it once, wait until the upload is complete, and run again",
    )
    return RawFile(source_file, None, changing)


def raw_file_metadata(lake: Lake, raw: RawFile) -> dict:
    """What the UI shows for one readable file: where it is, its version, header and first rows."""
    header, preview = csv_preview(lake.read_head(raw.obj.key), name=raw.obj.key)
    return {
        "uri": dg.MetadataValue.path(lake.uri(raw.obj.key)),
        "size_bytes": raw.obj.size,
        "etag": raw.obj.etag,
        "last_modified": raw.obj.last_modified.isoformat(),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, "string") for name in header]
        ),
        "preview": dg.MetadataValue.md(markdown_table(header, preview)),
    }


def first_listed(messages: dict[str, str]) -> dict[str, str]:
    """At most ``LISTED_FILES`` entries: a batch's metadata is copied to each of its partitions, so
    it must not grow with the batch (the log has every message)."""
    return dict(list(messages.items())[:LISTED_FILES])


@dg.asset(
    partitions_def=movie_files,
    group_name="ingestion",
    kinds={"csv"},
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def raw_movies(
    context: dg.AssetExecutionContext, lake: Lake, catalog: Catalog
) -> dg.MaterializeResult:
    """The CSV objects under ``input_data/`` of the run, each read once to check it is a usable CSV.

    A file that is not fails alone: its message names it, the line and what to do. The step fails
    only when no file of the run is usable, so a bad file never holds back the good ones. What the
    inspection found is handed to the catalog, whose crawl then does not inspect those files again.
    """
    files = [inspect_input(lake, source_file) for source_file in context.partition_keys]
    catalog.remember_inspections({f.obj.key: (f.obj.etag, f.inspection) for f in files if f.obj})
    unreadable = {f.source_file: f.problem for f in files if f.problem}
    for message in unreadable.values():
        context.log.error(message)
    if len(unreadable) == len(files):
        raise dg.Failure(
            description="\n".join(unreadable.values()),
            metadata={"failed_files": dg.MetadataValue.json(unreadable)},
        )
    readable = [f for f in files if not f.problem]
    metadata = raw_file_metadata(lake, readable[0])
    if len(files) > 1:
        metadata = {
            "files": len(files),
            "size_bytes": sum(f.obj.size for f in readable),
            "dagster/column_schema": metadata["dagster/column_schema"],
        }
    return dg.MaterializeResult(
        metadata={
            **metadata,
            "unreadable_count": len(unreadable),
            "unreadable_files": dg.MetadataValue.json(first_listed(unreadable)),
        }
    )


@dg.asset(
    partitions_def=movie_files,
    group_name="ingestion",
    deps=[raw_movies],
    kinds={"glue"},
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def movies_catalog_table(
    context: dg.AssetExecutionContext, lake: Lake, catalog: Catalog
) -> dg.MaterializeResult:
    """The catalog table over ``input_data/`` (columns lower-cased), crawled once per run; the crawl
    reads only new file versions and never fails because of a file it cannot read."""
    table = catalog.crawl(lake)
    context.log.info(f"catalog table {table.database}.{table.name}: {len(table.columns)} columns")
    run_files = {lake.input_key(f) for f in context.partition_keys}
    for key, message in table.unreadable.items():
        (context.log.error if key in run_files else context.log.warning)(message)
    return dg.MaterializeResult(
        metadata={
            "dagster/table_name": f"{table.database}.{table.name}",
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name, type_) for name, type_ in table.columns]
            ),
            "location": table.location,
            "classification": table.classification,
            "files_crawled": len(table.files),
            "unreadable_count": len(table.unreadable),
            "unreadable_files": dg.MetadataValue.json(
                first_listed({lake.source_file(k): m for k, m in table.unreadable.items()})
            ),
        }
    )
