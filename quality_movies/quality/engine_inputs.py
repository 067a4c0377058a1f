"""What the gate gives the DQDL engine besides the file: the other datasets the rules name, the input
files file rules look at, and the catalog's column types.

- A dataset name resolves to the CSV file(s) under the lake's ``reference_data/<name>/`` prefix, or to
  the warehouse table (its name, with or without the schema), whose rows from the *other* files are
  exported to Parquet for the evaluation (so "no movie already loaded from another file" holds on a
  re-run of the same file). Any other name stops the file with the names available.
- File rules see the file being processed and, through a path, the lake: ``s3://<bucket>/input_data/``
  (or the lake's own URI of that prefix) lists the input files, locally and on S3 alike.
- Where clauses and CustomSql see the columns typed as the catalog table has them (the crawler's types).
- Dynamic rules and DetectAnomalies read the metric history, followed, in a run over several files, by the
  files staged before this one in the run (their history entries are written only when they publish);
  ``glue_job.batch_history`` builds it, in the gate and in the batch job alike.

The Glue job gets the same: its runner stages the column types and the references' ``s3://`` URIs beside
the ruleset (a dataset of one CSV is read where it lies), and the job lists S3 for file rules.
"""

import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import duckdb

from quality_movies.dq.column_types import CRAWLER_TYPES, STRING
from quality_movies.dq.data_files import DataFile, LocalFiles
from quality_movies.dq.model import Ruleset
from quality_movies.dq.rules import referenced_names
from quality_movies.lake import Catalog, Lake, LakeObject
from quality_movies.quality.resources import QualityJobFailed, QualityJobRunner, work_folder
from quality_movies.settings import REFERENCE_PREFIX
from quality_movies.warehouse.resources import Warehouse


@dataclass(frozen=True)
class LakeFiles:
    """``dq.data_files.FileListing`` over the lake: ``key`` is the input object being evaluated; a rule's
    path is ``s3://<bucket>/<key or prefix/>`` or the lake's URI of it (a local path locally)."""

    lake: Lake
    key: str

    def _data_file(self, obj: LakeObject) -> DataFile:
        lake = self.lake

        def chunks() -> Iterator[bytes]:
            with lake.open(obj.key) as stream:
                while chunk := stream.read(1 << 20):
                    yield chunk

        modified = obj.last_modified.astimezone(UTC).replace(tzinfo=None)
        return DataFile(lake.uri(obj.key), obj.size, modified, chunks)

    def lake_key(self, uri: str) -> str | None:
        """The lake key (or prefix) a rule's path names, None when it is outside the lake."""
        roots = (f"s3://{self.lake.bucket}/", self.lake.uri("_")[:-1])
        for root in roots:
            if uri.startswith(root):
                return uri[len(root) :]
            if uri == root.rstrip("/"):
                return ""
        return None

    def current(self) -> DataFile:
        return self._data_file(self.lake.head(self.key))

    def list(self, uri: str) -> list[DataFile]:
        key = self.lake_key(uri)
        if key is None:  # a local path outside the lake (nothing on S3)
            return [] if uri.startswith("s3://") else LocalFiles(Path(uri)).list(uri)
        if key and not key.endswith("/"):
            try:
                return [self._data_file(self.lake.head(key))]
            except FileNotFoundError:
                key += "/"
        objects = self.lake.list_objects(key)
        return [self._data_file(o) for o in objects if not o.key.endswith("/")]


def catalog_column_types(catalog: Catalog) -> dict[str, str] | None:
    """Column -> crawler type from the catalog table (types the engine does not type, such as dates,
    stay text, as the crawler's CSV classifier leaves them); None before the first crawl."""
    table = catalog.get_table()
    if table is None:
        return None
    return {name: type_ if type_ in CRAWLER_TYPES else STRING for name, type_ in table.columns}


def warehouse_names(warehouse: Warehouse) -> list[str]:
    """The names a rule can give the warehouse table: ``imdb_movies_rating``, ``movies.imdb_movies_rating``."""
    return [warehouse.table, warehouse.qualified_table]


def reference_folders(lake: Lake) -> dict[str, list[str]]:
    """Dataset name (lower case) -> the CSV keys under ``reference_data/<name>/``."""
    folders: dict[str, list[str]] = {}
    for obj in lake.list_objects(REFERENCE_PREFIX):
        name, _, rest = obj.key[len(REFERENCE_PREFIX) :].partition("/")
        if rest and obj.key.lower().endswith(".csv"):
            folders.setdefault(name.lower(), []).append(obj.key)
    return folders


def dataset_names(ruleset: Ruleset) -> list[str]:
    """The dataset names the rules read (an alias stands for its ``AdditionalDataSources`` name)."""
    aliases = {alias.lower(): dataset for alias, dataset in ruleset.additional_sources.items()}
    return [aliases.get(name.lower(), name) for name in referenced_names(ruleset)]


def export_warehouse_table(
    warehouse: Warehouse, source_file: str, out: Path, staged: Sequence[str] = ()
) -> Path:
    """The table's rows from files other than ``source_file``, and the validated rows ``staged`` by
    earlier files of the run (Parquet files), as Parquet at ``out`` (read straight from the embedded
    DuckDB warehouse file)."""
    path = getattr(warehouse, "path", None)
    if path is None:
        raise QualityJobFailed(
            f"{source_file}: the rules read the warehouse table {warehouse.qualified_table}, which is "
            "available as a reference on the embedded warehouse only; give a CSV under "
            f"{REFERENCE_PREFIX}<name>/ instead"
        )
    warehouse.row_counts()  # creates the table on a new warehouse
    try:
        con = duckdb.connect(path)
        try:
            query = f"SELECT * FROM {warehouse.qualified_table} WHERE source_file <> ?"
            if staged:
                query += " UNION ALL BY NAME SELECT * FROM read_parquet(?)"
            con.execute(
                f"COPY ({query}) TO ? (FORMAT parquet)",
                [source_file, *([list(staged)] if staged else []), str(out)],
            )
        finally:
            con.close()
    except duckdb.Error as error:
        raise QualityJobFailed(
            f"{source_file}: the rules read the warehouse table {warehouse.qualified_table}, which "
            f"could not be read ({' '.join(str(error).split())}); close other programs using "
            f"{path} and run the file again"
        ) from None
    return out


def _reference_csv(lake: Lake, keys: list[str], out: Path, stack: ExitStack) -> Path:
    """One CSV with the rows of ``keys`` (the file itself when there is one)."""
    paths = [stack.enter_context(lake.local_file(key)) for key in keys]
    if len(paths) == 1:
        return paths[0]
    con = duckdb.connect()
    try:
        con.execute(
            "COPY (SELECT * FROM read_csv(?, header=true, all_varchar=true, union_by_name=true)) "
            "TO ? (FORMAT csv, HEADER)",
            [[str(p) for p in paths], str(out)],
        )
    finally:
        con.close()
    return out


@contextmanager
def engine_inputs(
    lake: Lake,
    column_types: Mapping[str, str] | None,
    quality_job: QualityJobRunner,
    warehouse: Warehouse,
    source_file: str,
    staged_validated: Callable[[], Sequence[str]] = tuple,
) -> Iterator[dict[str, Any]]:
    """``references=``, ``files=`` and ``column_types=`` (the catalog's, see ``catalog_column_types``)
    for evaluating ``source_file``; the files the references point at exist for the duration of the
    block. ``staged_validated()``: the validated Parquet of the files staged before it in the run,
    which count as loaded for the warehouse table (asked only when a rule reads that table)."""
    ruleset = quality_job.ruleset()
    options: dict[str, Any] = {
        "files": LakeFiles(lake, lake.input_key(source_file)),
        "column_types": column_types,
    }
    names = dataset_names(ruleset)
    if not names:
        yield options
        return
    folders = reference_folders(lake)
    in_warehouse = {n.lower() for n in warehouse_names(warehouse)}
    unknown = [n for n in names if n.lower() not in folders and n.lower() not in in_warehouse]
    if unknown:
        available = sorted({*folders, *warehouse_names(warehouse)})
        raise QualityJobFailed(
            f"{source_file}: the rules of {quality_job.resolved_ruleset_path().name} read "
            f"{', '.join(repr(n) for n in unknown)}, which the pipeline does not have. Names "
            f"available: {', '.join(available)}. Put the dataset's CSV under "
            f"{lake.uri(REFERENCE_PREFIX).rstrip('/')}/<name>/ or name the warehouse table."
        )
    work_dir = getattr(quality_job, "work_dir", "") or tempfile.gettempdir()
    work = work_folder(work_dir, "references")
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        references: dict[str, str] = {}
        for i, name in enumerate(dict.fromkeys(names)):
            keys = folders.get(name.lower())
            if keys and len(keys) == 1 and quality_job.reads_lake:
                references[name] = lake.uri(keys[0])
            elif keys:
                references[name] = str(_reference_csv(lake, keys, work / f"{i}.csv", stack))
            else:
                references[name] = str(
                    export_warehouse_table(
                        warehouse, source_file, work / f"{i}.parquet", staged_validated()
                    )
                )
        yield {**options, "references": references}


def reads_warehouse_table(ruleset: Ruleset, warehouse: Warehouse) -> bool:
    """Whether a rule reads the warehouse table (each file then sees the rows of the files before it)."""
    names = {n.lower() for n in warehouse_names(warehouse)}
    return any(name.lower() in names for name in dataset_names(ruleset))
