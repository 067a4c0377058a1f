"""A batch of CSV files on Spark: one read of the files that share a header, each row carrying its
file (``_metadata.file_path``), cached once; each file's rows are then evaluated in batch order
exactly as ``evaluate_file`` evaluates them alone (its Spark jobs read the cache, not the files).

The Glue job can use the same two steps over S3: ``read_csv_files_spark(spark, uris)``, then
``file_rows(frame, uri)`` for each file, given to ``evaluate_spark_to_jsonl`` or ``evaluate_file``.
"""

import dataclasses
import shutil
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quality_movies.dq import duckdb_engine, spark_engine
from quality_movies.dq.batch import (
    FILE_PART,
    BatchFile,
    Evaluated,
    discard_staging,
    per_file_windows,
    runs_alone,
    sql_key,
)
from quality_movies.dq.column_types import profile_sql, types_from_profile
from quality_movies.dq.data_files import LocalFiles
from quality_movies.dq.errors import DataQualityError
from quality_movies.dq.evaluate import (
    BAD_RECORDS_FILE,
    GOOD_PARQUET_FILE,
    GOOD_RECORDS_FILE,
    Staging,
)
from quality_movies.dq.files import concatenate
from quality_movies.dq.model import Ruleset
from quality_movies.dq.plan import ROW_ID, EvaluationPlan, build_plan
from quality_movies.dq.rules import columns_to_type

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


def spark_pass(
    ruleset: Ruleset, files: Sequence[BatchFile], common: Mapping[str, Any], spark: Any
) -> dict[int, Evaluated]:
    """The files Spark evaluated together, by their index in ``files``; the others run alone."""
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
        if header.blank_lines or {FILE_COLUMN, FILE_PART, ROW_ID} & set(header.names):
            continue
        options = {**common, **batch_file.options}
        writes = (
            bool(options.get("write_good_jsonl")),
            bool(options.get("good_parquet")),
            tuple(options.get("good_projection") or ()),
        )
        multi_line = not spark_engine.local_lines_are_records(path)
        groups.setdefault((tuple(header.names), multi_line, writes), []).append(index)
    evaluated: dict[int, Evaluated] = {}
    for (_, multi_line, _), indices in groups.items():
        if len(indices) > 1:
            members = [files[i] for i in indices]
            done = _SparkGroup(ruleset, members, common, spark, multi_line).run()
            evaluated.update({indices[position]: found for position, found in done.items()})
    return evaluated


class _SparkGroup:
    """Files with one header read by one Spark read, evaluated in shared jobs."""

    def __init__(
        self,
        ruleset: Ruleset,
        files: Sequence[BatchFile],
        common: Mapping[str, Any],
        spark: "SparkSession",
        multi_line: bool,
    ) -> None:
        self.ruleset = ruleset
        self.files = files
        self.options = [{**common, **f.options} for f in files]
        self.spark = spark
        self.multi_line = multi_line
        self.token = uuid.uuid4().hex[:12]
        self.base = f"dq_batch_base_{self.token}"

    def run(self) -> dict[int, Evaluated]:
        from pyspark.errors import PySparkException

        stagings = []
        for batch_file in self.files:
            out_dir = Path(batch_file.out_dir)
            created = not out_dir.is_dir()
            out_dir.mkdir(parents=True, exist_ok=True)
            stagings.append((Staging(out_dir, self.token), created))
        scratch = stagings[0][0] / "batch"
        evaluated: dict[int, Evaluated] = {}
        failures = (PySparkException, DataQualityError, OSError, sqlglot_errors())
        try:
            columns = self._read()
            plans = self._plans(columns)
            by_sql: dict[tuple, list[int]] = {}
            for position, plan in enumerate(plans):
                by_sql.setdefault(sql_key(plan, self.base), []).append(position)
            for number, positions in enumerate(by_sql.values()):
                try:
                    values = self._evaluate(plans, positions, scratch / str(number), stagings)
                except failures:
                    for position in positions:
                        stagings[position][0].discard()
                    continue
                for position in positions:
                    staging, created = stagings[position]
                    evaluated[position] = Evaluated(
                        self.files[position], plans[position], values[position], staging, created
                    )
        except failures:
            pass  # each file alone: evaluate_file says what went wrong
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            for position, (staging, created) in enumerate(stagings):
                if position not in evaluated:
                    discard_staging(staging, created)
        return evaluated

    def _read(self) -> list[str]:
        """Every file's rows with ``FILE_PART`` (its position) and ``ROW_ID`` (input order)."""
        from pyspark.sql import functions as F

        paths = [f.path for f in self.files]
        frame = read_csv_files_spark(self.spark, paths, self.multi_line)
        columns = [c for c in frame.columns if c != FILE_COLUMN]
        positions = F.create_map(
            *[item for i, p in enumerate(paths) for item in (F.lit(file_uri(p)), F.lit(i))]
        )
        rows = frame.select(*columns, positions[F.col(FILE_COLUMN)].alias(FILE_PART))
        rows = rows.withColumn(ROW_ID, F.monotonically_increasing_id())
        rows.createOrReplaceTempView(self.base)
        return columns

    def _plans(self, columns: list[str]) -> list[EvaluationPlan]:
        """Each file's plan, its columns typed from its own rows (one profile grouped by file)."""
        wanted = columns_to_type(self.ruleset, columns)
        if any(rule.rule_type == "SchemaMatch" for rule in self.ruleset.leaves):
            wanted = list(columns)
        profiles: dict[int, dict[str, Any]] = {}
        if wanted:
            sql = profile_sql(wanted, self.base)
            grouped = f"SELECT {FILE_PART}, {sql.removeprefix('SELECT ')} GROUP BY {FILE_PART}"
            with spark_engine._job_settings(self.spark):  # noqa: SLF001
                for row in self.spark.sql(spark_engine.to_spark_sql(grouped)).collect():
                    profiles[row[FILE_PART]] = row.asDict()
        error_of = _memo(spark_engine._error_of(self.spark))  # noqa: SLF001
        raw = f"(SELECT * FROM {self.base}) AS raw"
        plans = []
        for position, (batch_file, options) in enumerate(
            zip(self.files, self.options, strict=True)
        ):
            types = dict(options.get("column_types") or {})
            if wanted:
                profile = profiles.get(position) or defaultdict(lambda: None)
                inferred = types_from_profile(wanted, profile)
                types.update({c: t for c, t in inferred.items() if c not in types})
            plan = build_plan(
                self.ruleset,
                columns,
                now=options["now"],
                column_types=types,
                references={},
                files=options.get("files") or LocalFiles(Path(batch_file.path)),
            )
            plan.isolate_where_failures(raw, error_of)
            plans.append(plan)
        return plans

    def _evaluate(
        self,
        plans: Sequence[EvaluationPlan],
        positions: Sequence[int],
        parts_dir: Path,
        stagings: Sequence[tuple[Staging, bool]],
    ) -> dict[int, dict[str, Any]]:
        """Shared jobs for files whose plans are the same SQL: the aggregates and first values
        grouped by file, scalar queries per file, one partitioned write per output."""
        from pyspark.errors import PySparkException

        spark, plan = self.spark, plans[positions[0]]
        stage = f"dq_batch_stage_{self.token}_{parts_dir.name}"
        stage_sql = per_file_windows(plan.stage_sql(self.base))
        if any(leaf.join for leaf in plan.leaves) or stage_sql is None:
            raise DataQualityError("joined rules run file by file")
        spark.sql(spark_engine.to_spark_sql(stage_sql)).createOrReplaceTempView(stage)
        error_of = _memo(spark_engine._error_of(spark))  # noqa: SLF001
        for position in positions:
            plans[position].isolate_query_failures(stage, error_of)
        firsts = [
            f"arg_min({first.value}, CASE WHEN {first.condition} THEN {ROW_ID} END) AS {alias}"
            for leaf in plan.leaves
            for alias, first in leaf.first_values.items()
        ]
        aggregates = plan.aggregate_sql(stage, group_by=FILE_PART)
        if firsts:
            aggregates = aggregates.replace(
                f" FROM {stage} GROUP BY", f", {', '.join(firsts)} FROM {stage} GROUP BY", 1
            )
        with spark_engine._job_settings(spark):  # noqa: SLF001
            rows = spark.sql(spark_engine.to_spark_sql(aggregates)).collect()
            found = {row[FILE_PART]: row.asDict() for row in rows}
            for position in positions:
                if position not in found:  # a file without rows: the aggregates of no rows
                    empty = f"(SELECT * FROM {stage} WHERE FALSE) AS no_rows"
                    no_rows = spark_engine.to_spark_sql(plan.aggregate_sql(empty))
                    found[position] = spark.sql(no_rows).collect()[0].asDict()
        values = {}
        for position in positions:
            row = found[position]
            needed = {
                alias
                for leaf in plans[position].leaves
                for alias, first in leaf.first_values.items()
                if first.needed(row)
            }
            all_firsts = {a for leaf in plan.leaves for a in leaf.first_values}
            values[position] = {
                k: v
                for k, v in row.items()
                if k != FILE_PART and (k not in all_firsts or k in needed)
            }
        if any(leaf.scalar_queries for leaf in plan.leaves):
            for position in positions:
                piece = f"dq_batch_file_{self.token}_{position}"
                spark.table(stage).where(f"{FILE_PART} = {position}").drop(
                    FILE_PART
                ).createOrReplaceTempView(piece)
                with spark_engine._job_settings(spark):  # noqa: SLF001
                    values[position].update(
                        plans[position].run_scalar_queries(
                            piece,
                            lambda query: spark_engine._scalar(spark, query),  # noqa: SLF001
                            PySparkException,
                        )
                    )
        self._write(plan, positions, stage, parts_dir, stagings)
        return values

    def _write(
        self,
        plan: EvaluationPlan,
        positions: Sequence[int],
        stage: str,
        parts_dir: Path,
        stagings: Sequence[tuple[Staging, bool]],
    ) -> None:
        """Bad (and good) rows as JSON lines, one write partitioned by file and result; the
        validated rows as Parquet, one write partitioned by file."""
        from pyspark.sql import functions as F

        spark, options = self.spark, self.options[positions[0]]
        parted = dataclasses.replace(plan, columns=[*plan.columns, FILE_PART])
        annotated = spark.sql(spark_engine.to_spark_sql(parted.annotated_sql(stage)))
        shown = [c for c in annotated.columns if c != FILE_PART]
        result = F.col("DataQualityEvaluationResult")
        lines = annotated.select(
            F.to_json(
                F.struct(*[annotated[c] for c in shown]), {"ignoreNullFields": "false"}
            ).alias("value"),
            F.col(FILE_PART),
            result.alias("__dq_result"),
        )
        good_jsonl = bool(options.get("write_good_jsonl"))
        if not good_jsonl:
            lines = lines.filter(result == "Failed")
        folder = parts_dir / "rows"
        with spark_engine._job_settings(spark, writers=4):  # noqa: SLF001
            lines.write.mode("overwrite").option("compression", "none").partitionBy(
                FILE_PART, "__dq_result"
            ).text(str(folder))
        kinds = {
            "Failed": BAD_RECORDS_FILE,
            **({"Passed": GOOD_RECORDS_FILE} if good_jsonl else {}),
        }
        for position in positions:
            for value, name in kinds.items():
                part_folder = folder / f"{FILE_PART}={position}" / f"__dq_result={value}"
                parts = sorted(part_folder.glob("part-*")) if part_folder.is_dir() else []
                concatenate(parts, stagings[position][0] / name)
        if options.get("good_parquet"):
            good = annotated.filter(result == "Passed").select(*plan.columns, FILE_PART)
            projection = options.get("good_projection")
            if projection:
                good = good.selectExpr(
                    *[
                        spark_engine.to_spark_sql(f"SELECT {expr}")[len("SELECT ") :]
                        for expr in projection
                    ],
                    FILE_PART,
                )
            parquet = parts_dir / "validated"
            good.repartition(FILE_PART).write.mode("overwrite").partitionBy(FILE_PART).parquet(
                str(parquet)
            )
            empty = None
            for position in positions:
                parts = sorted((parquet / f"{FILE_PART}={position}").glob("part-*"))
                target = stagings[position][0] / GOOD_PARQUET_FILE
                if len(parts) > 1:
                    raise DataQualityError("several Parquet parts for one file")
                if parts:
                    shutil.move(parts[0], target)
                    continue
                if empty is None:  # the validated rows of a file with none: one empty part
                    empty = parts_dir / "empty"
                    good.drop(FILE_PART).limit(0).coalesce(1).write.parquet(str(empty))
                shutil.copyfile(next(empty.glob("part-*.parquet")), target)


def _memo(error_of: Any) -> Any:
    """``error_of`` answering each SQL text once (the files of a group share their SQL)."""
    answers: dict[str, str | None] = {}

    def remembered(sql: str) -> str | None:
        if sql not in answers:
            answers[sql] = error_of(sql)
        return answers[sql]

    return remembered


def sqlglot_errors() -> type[Exception]:
    import sqlglot

    return sqlglot.errors.SqlglotError
