"""A batch of CSV files on Spark: one read of the files that share a header, each row carrying its
file (``_metadata.file_path``); files whose rules compile to the same SQL share their jobs
(aggregates and first values grouped by file, windows partitioned by file, partitioned writes), and
each file's rules are decided in batch order, exactly as ``evaluate_file`` decides them alone.

``evaluate_spark_files`` is the DataFrame-level form the Glue job calls over S3.
"""

import contextlib
import dataclasses
import functools
import shutil
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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
from quality_movies.dq.errors import DataQualityError, UnreadableInputError
from quality_movies.dq.evaluate import (
    BAD_RECORDS_FILE,
    GOOD_PARQUET_FILE,
    GOOD_RECORDS_FILE,
    Staging,
)
from quality_movies.dq.files import concatenate
from quality_movies.dq.history import MetricHistory
from quality_movies.dq.input_format import InputFormat
from quality_movies.dq.model import Ruleset
from quality_movies.dq.plan import ROW_ID, EvaluationPlan, build_plan
from quality_movies.dq.rules import columns_to_type, referenced_names
from quality_movies.dq.spark_engine import SparkEvaluation

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FILE_COLUMN = "__dq_file"


def file_uri(path: str | Path) -> str:
    """The file as Spark's ``_metadata.file_path`` names it (``file:/abs/path``, or the S3 URI)."""
    text = str(path)
    if text.startswith(("s3://", "s3a://", "file:")):
        return text
    return Path(text).resolve().as_uri().replace("file:///", "file:/", 1)


def read_csv_files_spark(
    spark: "SparkSession",
    paths: Sequence[str | Path],
    multi_line: bool = False,
    fmt: InputFormat | None = None,
    names: Sequence[str] | None = None,
) -> "DataFrame":
    """One read of CSV files that share a header: string columns named as ``read_csv_spark``
    names them, plus ``FILE_COLUMN`` (each row's ``file_uri``). ``multi_line`` reads them all with
    Spark's multiLine (needed when one has a quoted field spanning lines). ``names`` is the
    header's row when already read (``duckdb_engine.parse_header`` of an S3 object's first bytes);
    otherwise it is read from the first file when local."""
    from pyspark.sql import functions as F

    fmt = fmt or InputFormat()
    frame = spark_engine._read_csv(spark, [str(p) for p in paths], fmt, multi_line)
    first = Path(str(paths[0]))  # the header's own names decide, as in read_csv_spark
    if names is None:
        names = duckdb_engine.read_header(first, fmt).names if first.is_file() else frame.columns
    columns = duckdb_engine.normalize_column_names(names, str(paths[0]))
    if len(columns) != len(frame.columns):
        raise UnreadableInputError(
            f"{paths[0]}: Spark reads {len(frame.columns)} columns in the header where it has "
            f"{len(columns)}; check the header row's quotes and run again."
        )
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
        if header.format.kind != "csv" or header.format.gzip:
            continue  # Parquet and gzip files are read alone
        options = {**common, **batch_file.options}
        writes = (
            bool(options.get("write_good_jsonl")),
            bool(options.get("good_parquet")),
            tuple(options.get("good_projection") or ()),
        )
        multi_line = not spark_engine.local_lines_are_records(path)
        key = (tuple(header.names), header.format, multi_line, writes)
        groups.setdefault(key, []).append(index)
    evaluated: dict[int, Evaluated] = {}
    for (_, fmt, multi_line, _), indices in groups.items():
        if len(indices) > 1:
            members = [files[i] for i in indices]
            done = _write_group(ruleset, members, common, spark, multi_line, fmt)
            evaluated.update({indices[position]: found for position, found in done.items()})
    return evaluated


def _write_group(
    ruleset: Ruleset,
    files: Sequence[BatchFile],
    common: Mapping[str, Any],
    spark: "SparkSession",
    multi_line: bool,
    fmt: InputFormat,
) -> dict[int, Evaluated]:
    """One read and shared jobs for files of one header, their rows written into their folders;
    a file missing from the answer runs alone."""
    options = [{**common, **f.options} for f in files]
    stagings: list[tuple[Staging, bool]] = []
    token = uuid.uuid4().hex[:12]
    for batch_file in files:
        out_dir = Path(batch_file.out_dir)
        created = not out_dir.is_dir()
        out_dir.mkdir(parents=True, exist_ok=True)
        stagings.append((Staging(out_dir, token), created))
    scratch = stagings[0][0] / "batch"
    evaluated: dict[int, Evaluated] = {}
    try:
        frame = read_csv_files_spark(spark, [f.path for f in files], multi_line, fmt)
        group = _SparkGroup(ruleset, [f.path for f in files], options, frame)
        for number, shared in enumerate(group.passes()):
            try:
                shared.write(options[shared.positions[0]], scratch / str(number), stagings)
            except (*_failures(), OSError):
                for position in shared.positions:
                    stagings[position][0].discard()
                continue
            for position in shared.positions:
                staging, created = stagings[position]
                evaluated[position] = Evaluated(
                    files[position],
                    group.plans[position],
                    shared.values[position],
                    staging,
                    created,
                )
    except _failures():
        pass  # each file alone: evaluate_file says what went wrong
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for position, (staging, created) in enumerate(stagings):
            if position not in evaluated:
                discard_staging(staging, created)
    return evaluated


def _failures() -> tuple[type[Exception], ...]:
    """What makes files leave a shared pass and run alone."""
    import sqlglot
    from pyspark.errors import PySparkException

    return (PySparkException, DataQualityError, sqlglot.errors.SqlglotError)


def evaluate_spark_files(
    ruleset: Ruleset,
    frame: "DataFrame",
    uris: Sequence[str],
    *,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    history_of: Callable[[str, Sequence[Any]], MetricHistory | None] | None = None,
    **common: Any,
) -> list["SparkEvaluation | DataQualityError"]:
    """``evaluate_spark`` for each file of ``frame`` (``read_csv_files_spark`` of files sharing a
    header), in shared jobs: one ``SparkEvaluation`` per URI of ``uris`` (as ``file_uri`` spells
    them), in their order, or the error that kept that file out.

    ``common`` are ``evaluate_spark``'s keywords for every file, ``options[uri]`` one file's own
    (e.g. its ``files`` listing). Files are decided in order, each with ``history_of(uri, earlier
    results)`` when given. What cannot share the jobs (rulesets reading other datasets, a pass
    failing while it runs) is evaluated file by file from ``file_rows``.
    """
    options = options or {}
    moment = common.get("now") or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    per_file = [{**common, "now": moment, **options.get(uri, {})} for uri in uris]
    group = _SparkGroup(ruleset, uris, per_file, frame)
    shared: dict[int, _Shared] = {}
    if not referenced_names(ruleset) and not any("references" in o for o in per_file):
        with contextlib.suppress(*_failures()):
            for found in group.passes():
                shared.update(dict.fromkeys(found.positions, found))
    results: list[SparkEvaluation | DataQualityError] = []
    for position, uri in enumerate(uris):
        chosen = dict(per_file[position])
        if history_of is not None and "history" not in options.get(uri, {}):
            chosen["history"] = history_of(uri, list(results))
        if position in shared:
            found = shared[position]
            plan = group.plans[position]
            results.append(found.evaluation(plan, position, chosen.get("history")))
            continue
        try:
            results.append(spark_engine.evaluate_spark(ruleset, file_rows(frame, uri), **chosen))
        except DataQualityError as error:
            results.append(error)
    return results


class SharedSparkEvaluation(SparkEvaluation):
    """A file's ``SparkEvaluation`` from a shared pass. Its frames (``ordered``, ``annotated``,
    ``good``, ``bad``) are built on first use (each costs Spark an analysis of the pass's plan);
    ``pass_rows`` are the annotated rows of every file of the pass (with ``FILE_PART``, this file's
    rows where it is ``part``, and ``ROW_ID``, input order within a file), one DataFrame object for
    the whole pass, so a caller can write all its files' rows at once (partitioned by
    ``FILE_PART``)."""

    def __init__(self, shared: "_Shared", part: int, **decided: Any) -> None:
        self._shared = shared
        self.part = part
        for name, value in decided.items():
            setattr(self, name, value)

    @property
    def pass_rows(self) -> "DataFrame":
        return self._shared.pass_rows

    @functools.cached_property
    def ordered(self) -> "DataFrame":  # type: ignore[override]
        return self._shared.ordered(self.part)

    @functools.cached_property
    def annotated(self) -> "DataFrame":  # type: ignore[override]
        return self.ordered.drop(ROW_ID)

    @functools.cached_property
    def good(self) -> "DataFrame":  # type: ignore[override]
        from pyspark.sql import functions as F

        return self.annotated.filter(F.col("DataQualityEvaluationResult") == "Passed")

    @functools.cached_property
    def bad(self) -> "DataFrame":  # type: ignore[override]
        from pyspark.sql import functions as F

        return self.annotated.filter(F.col("DataQualityEvaluationResult") == "Failed")


@dataclass
class _Shared:
    """Files whose plans are the same SQL, evaluated over one stage: each file's values (by its
    position) and the annotated rows of them all (with ``FILE_PART`` and ``ROW_ID``)."""

    spark: "SparkSession"
    plan: EvaluationPlan
    stage: str
    positions: list[int]
    values: dict[int, dict[str, Any]]

    def ordered(self, position: int | None = None) -> "DataFrame":
        """The annotated rows with ``ROW_ID`` (and ``FILE_PART`` unless one file's are asked)."""
        parted = dataclasses.replace(self.plan, columns=[*self.plan.columns, FILE_PART])
        rows = self.spark.sql(
            spark_engine.to_spark_sql(parted.annotated_sql(self.stage, with_row_id=True))
        )
        if position is None:
            return rows
        return rows.where(rows[FILE_PART] == position).drop(FILE_PART)

    @functools.cached_property
    def pass_rows(self) -> "DataFrame":
        """The annotated rows of this pass's files (the stage holds every file of the read)."""
        rows = self.ordered()
        return rows.where(rows[FILE_PART].isin(self.positions))

    def evaluation(
        self, plan: EvaluationPlan, position: int, history: MetricHistory | None
    ) -> "SharedSparkEvaluation":
        """The file's ``SparkEvaluation``, its rules decided with ``history``."""
        values = self.values[position]
        outcomes = plan.decide_with(history, values)
        rows_read, bad_rows = int(values["__rows_read"]), int(values["__bad_rows"] or 0)
        return SharedSparkEvaluation(
            self,
            position,
            rule_outcomes=outcomes,
            rows_read=rows_read,
            good_rows=rows_read - bad_rows,
            bad_rows=bad_rows,
            plan=plan,
            analyzer_results=plan.analyzer_results(values),
        )

    def write(
        self,
        options: Mapping[str, Any],
        parts_dir: Path,
        stagings: Sequence[tuple[Staging, bool]],
    ) -> None:
        """Bad (and good) rows as JSON lines, one write partitioned by file and result; the
        validated rows as Parquet, one write partitioned by file; each file's part moved into its
        staging names."""
        from pyspark.sql import functions as F

        spark, plan, positions = self.spark, self.plan, self.positions
        annotated = self.ordered().drop(ROW_ID)
        shown = [c for c in annotated.columns if c != FILE_PART]
        result = F.col("DataQualityEvaluationResult")
        fields = F.struct(*[spark_engine.spark_column(c).alias(c) for c in shown])
        lines = annotated.select(
            F.to_json(fields, {"ignoreNullFields": "false"}).alias("value"),
            F.col(FILE_PART),
            result.alias("__dq_result"),
        )
        good_jsonl = bool(options.get("write_good_jsonl"))
        if not good_jsonl:
            lines = lines.filter(result == "Failed")
        folder = parts_dir / "rows"
        with spark_engine._job_settings(spark, writers=4):
            lines.write.mode("overwrite").option("compression", "none").partitionBy(
                FILE_PART, "__dq_result"
            ).text(str(folder))
        kinds = {"Failed": BAD_RECORDS_FILE}
        if good_jsonl:
            kinds["Passed"] = GOOD_RECORDS_FILE
        for position in positions:
            for value, name in kinds.items():
                part_folder = folder / f"{FILE_PART}={position}" / f"__dq_result={value}"
                parts = sorted(part_folder.glob("part-*")) if part_folder.is_dir() else []
                concatenate(parts, stagings[position][0] / name)
        if options.get("good_parquet"):
            good = annotated.filter(result == "Passed").select(
                *[spark_engine.spark_column(c) for c in plan.columns], FILE_PART
            )
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


class _SparkGroup:
    """Files with one header in one read (``read_csv_files_spark``), evaluated in shared jobs."""

    def __init__(
        self,
        ruleset: Ruleset,
        paths: Sequence[str | Path],
        options: Sequence[Mapping[str, Any]],
        frame: "DataFrame",
    ) -> None:
        self.ruleset = ruleset
        self.paths = paths
        self.options = options
        self.frame = frame
        self.spark = frame.sparkSession
        self.token = uuid.uuid4().hex[:12]
        self.base = f"dq_batch_base_{self.token}"
        self.plans: list[EvaluationPlan] = []

    def passes(self) -> Iterator["_Shared"]:
        """The shared passes, one per distinct SQL; a pass that fails leaves its files out."""
        columns = self._read()
        self.plans = self._plans(columns)
        by_sql: dict[tuple, list[int]] = {}
        for position, plan in enumerate(self.plans):
            by_sql.setdefault(sql_key(plan, self.base), []).append(position)
        for number, positions in enumerate(by_sql.values()):
            try:
                yield self._evaluate(positions, str(number))
            except _failures():
                continue

    def _read(self) -> list[str]:
        """Every file's rows with ``FILE_PART`` (its position) and ``ROW_ID`` (input order)."""
        from pyspark.sql import functions as F

        paths, frame = self.paths, self.frame
        columns = [c for c in frame.columns if c != FILE_COLUMN]
        positions = F.create_map(
            *[item for i, p in enumerate(paths) for item in (F.lit(file_uri(p)), F.lit(i))]
        )
        rows = frame.select(
            *[spark_engine.spark_column(c) for c in columns],
            positions[F.col(FILE_COLUMN)].alias(FILE_PART),
        )
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
            with spark_engine._job_settings(self.spark):
                for row in self.spark.sql(spark_engine.to_spark_sql(grouped)).collect():
                    profiles[row[FILE_PART]] = row.asDict()
        error_of = _memo(spark_engine._error_of(self.spark))
        raw = f"(SELECT * FROM {self.base}) AS raw"
        plans = []
        for path, options in zip(self.paths, self.options, strict=True):
            types = dict(options.get("column_types") or {})
            if wanted:
                profile = profiles.get(len(plans)) or defaultdict(lambda: None)
                inferred = types_from_profile(wanted, profile)
                types.update({c: t for c, t in inferred.items() if c not in types})
            plan = build_plan(
                self.ruleset,
                columns,
                now=options["now"],
                column_types=types,
                references={},
                files=options.get("files") or LocalFiles(Path(path)),
            )
            plan.isolate_where_failures(raw, error_of)
            plans.append(plan)
        return plans

    def _evaluate(self, positions: list[int], number: str) -> "_Shared":
        """Shared jobs for files whose plans are the same SQL: the aggregates and first values
        grouped by file, scalar queries per file."""
        from pyspark.errors import PySparkException

        plans = self.plans
        spark, plan = self.spark, plans[positions[0]]
        stage = f"dq_batch_stage_{self.token}_{number}"
        stage_sql = per_file_windows(plan.stage_sql(self.base))
        if any(leaf.join for leaf in plan.leaves) or stage_sql is None:
            raise DataQualityError("joined rules run file by file")
        spark.sql(spark_engine.to_spark_sql(stage_sql)).createOrReplaceTempView(stage)
        error_of = _memo(spark_engine._error_of(spark))
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
        with spark_engine._job_settings(spark):
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
                with spark_engine._job_settings(spark):
                    values[position].update(
                        plans[position].run_scalar_queries(
                            piece,
                            lambda query: spark_engine._scalar(spark, query),
                            PySparkException,
                        )
                    )
        return _Shared(spark, plan, stage, positions, values)


def _memo(error_of: Any) -> Any:
    """``error_of`` answering each SQL text once (the files of a group share their SQL)."""
    answers: dict[str, str | None] = {}

    def remembered(sql: str) -> str | None:
        if sql not in answers:
            answers[sql] = error_of(sql)
        return answers[sql]

    return remembered
