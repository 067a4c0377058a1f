"""A batch of CSV files on Spark: one read of the files that share a header, each row carrying its
file (``_metadata.file_path``), cached once; each file's rows are then evaluated in batch order
exactly as ``evaluate_file`` evaluates them alone (its Spark jobs read the cache, not the files).

The Glue job can use the same two steps over S3: ``read_csv_files_spark(spark, uris)``, then
``file_rows(frame, uri)`` for each file, given to ``evaluate_spark_to_jsonl`` or ``evaluate_file``.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quality_movies.dq import duckdb_engine, spark_engine
from quality_movies.dq.batch import BatchFile, BatchResult, runs_alone
from quality_movies.dq.errors import DataQualityError
from quality_movies.dq.history import MetricHistory
from quality_movies.dq.model import Ruleset

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FILE_COLUMN = "__dq_file"


def file_uri(path: str | Path) -> str:
    """The file as Spark's ``_metadata.file_path`` names it (``file:/abs/path``, or the S3 URI)."""
    text = str(path)
    if text.startswith(("s3://", "s3a://")):
        return text
    return Path(text).resolve().as_uri().replace("file:///", "file:/", 1)


def read_csv_files_spark(
    spark: "SparkSession", paths: Sequence[str | Path], multi_line: bool = False
) -> "DataFrame":
    """One read of CSV files that share a header: string columns named as ``read_csv_spark``
    names them, plus ``FILE_COLUMN`` (each row's ``file_uri``). ``multi_line`` reads them all with
    Spark's multiLine (needed when one has a quoted field spanning lines)."""
    from pyspark.sql import functions as F

    frame = spark_engine._read_csv(spark, [str(p) for p in paths], multi_line)  # noqa: SLF001
    columns = duckdb_engine.normalize_column_names(frame.columns, str(paths[0]))
    return frame.toDF(*columns).withColumn(FILE_COLUMN, F.col("_metadata.file_path"))


def file_rows(frame: "DataFrame", path: str | Path) -> "DataFrame":
    """One file's rows of a ``read_csv_files_spark`` frame, without the file column."""
    from pyspark.sql import functions as F

    return frame.where(F.col(FILE_COLUMN) == file_uri(path)).drop(FILE_COLUMN)


@dataclass
class _SharedRead:
    """A cached read of several files, released when its last file is evaluated."""

    frame: "DataFrame"
    remaining: int

    def done(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self.frame.unpersist()


@dataclass
class _Member:
    """A file of a shared read, evaluated when its turn (and so its history) comes."""

    ruleset: Ruleset
    batch_file: BatchFile
    options: dict[str, Any]
    read: _SharedRead
    spark: Any

    def finish(self, history: MetricHistory | None) -> BatchResult:
        from quality_movies.dq.evaluate import evaluate_file

        name = self.batch_file.name
        try:
            summary = evaluate_file(
                self.ruleset,
                self.batch_file.path,
                self.batch_file.out_dir,
                engine="spark",
                spark=self.spark,
                source_name=self.batch_file.source_name,
                rows=file_rows(self.read.frame, self.batch_file.path),
                **{**self.options, "history": history},
            )
        except DataQualityError as error:
            return BatchResult(name, None, error)
        finally:
            self.read.done()
        return BatchResult(name, summary, None)


def spark_pass(
    ruleset: Ruleset, files: Sequence[BatchFile], common: Mapping[str, Any], spark: Any
) -> dict[int, _Member]:
    """The files read together (one cached read per header), by their index in ``files``."""
    groups: dict[tuple, list[int]] = {}
    for index, batch_file in enumerate(files):
        if runs_alone(ruleset, batch_file):
            continue
        path = Path(batch_file.path)
        try:
            header = duckdb_engine.read_header(path)
            duckdb_engine.normalize_column_names(header.names, str(path))
        except DataQualityError:
            continue  # evaluate_file gives the same message
        if header.blank_lines or FILE_COLUMN in header.names:
            continue
        multi_line = not spark_engine.local_lines_are_records(path)
        groups.setdefault((tuple(header.names), multi_line), []).append(index)
    members: dict[int, _Member] = {}
    for (_, multi_line), indices in groups.items():
        if len(indices) < 2:
            continue
        frame = read_csv_files_spark(spark, [files[i].path for i in indices], multi_line).cache()
        read = _SharedRead(frame, len(indices))
        for index in indices:
            options = {
                k: v for k, v in {**common, **files[index].options}.items() if k != "history"
            }
            members[index] = _Member(ruleset, files[index], options, read, spark)
    return members
