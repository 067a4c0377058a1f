"""PySpark backend (what the Glue job runs): the same SQL as DuckDB, transpiled with sqlglot."""

import shutil
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quality_movies.dq import column_types as crawler
from quality_movies.dq import model
from quality_movies.dq.data_files import FileListing
from quality_movies.dq.datasets import References, resolve_references
from quality_movies.dq.duckdb_engine import normalize_column_names, read_header
from quality_movies.dq.errors import DataQualityError, UnreadableInputError
from quality_movies.dq.files import concatenate
from quality_movies.dq.history import MetricHistory
from quality_movies.dq.input_format import InputFormat, detect_file_format
from quality_movies.dq.outcomes import AnalyzerResult, RuleOutcome
from quality_movies.dq.plan import ROW_ID, EvaluationPlan, build_plan, first_line
from quality_movies.dq.rules import Reference, columns_to_type

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from sqlglot import exp

# One CSV field that stays on its line: quoted with '""' escapes, or unquoted without any '"'.
# Possessive quantifiers keep Java's regex from backtracking (and from recursing on long fields);
# the quoted form comes first, as the possessive repetition never retries another alternative.
_FIELD = '(?:"[^"]*+(?:""[^"]*+)*+"|[^",]*+)'
# A physical line that is a whole record on its own; a file of only such lines needs no multiLine.
SINGLE_LINE_RECORD = f"^{_FIELD}(?:,{_FIELD})*+$"
# A line of only spaces and control characters: Spark skips it when reading line by line but
# reads it as a row with multiLine, so a file holding one keeps multiLine.
BLANK_LINE = "^[\\x00-\\x20]+$"
# Partition column of the one write that splits rows into good and bad files.
_RESULT_PART = "__dq_result"


def quote_spark(name: str) -> str:
    """A column name as a Spark SQL identifier (backquoted): the only way the Spark backend names
    a column to Spark itself; the shared SQL quotes with ``rules.quote`` and reaches Spark through
    sqlglot. A bare name would be parsed (``Some.Date`` as field ``Date`` of ``Some``)."""
    return "`" + name.replace("`", "``") + "`"


def spark_column(name: str) -> "Column":
    """The DataFrame column named ``name`` exactly (dots, spaces, backquotes... are no syntax)."""
    from pyspark.sql import functions as F

    return F.col(quote_spark(name))


def to_spark_sql(sql: str) -> str:
    """DuckDB-dialect SQL as Spark SQL."""
    import sqlglot  # imported when first needed: DuckDB-only runs never load it

    return sqlglot.transpile(sql, read="duckdb", write="spark")[0]


def read_csv_spark(spark: "SparkSession", path: str | Path) -> "DataFrame":
    """The CSV as all-string columns with lower-cased, trimmed names; the same reading as DuckDB's.

    A file whose every line is a whole record is read line by line (split between tasks); one
    with a quoted field spanning lines (or any line the check cannot vouch for) with multiLine,
    which Spark reads as one partition. A local file is checked on the driver while Spark reads
    its header.
    """
    remote = str(path).startswith(("s3://", "s3a://"))
    if not remote and not Path(path).is_file():
        raise UnreadableInputError(f"{path}: no such data file")
    fmt = detect_file_format(path)
    if fmt.kind == "parquet":
        frame = spark.read.parquet(str(path))
        columns = normalize_column_names(frame.columns, str(path))
        return frame.select(
            *[
                spark_column(o).cast("string").alias(c)
                for o, c in zip(frame.columns, columns, strict=True)
            ]
        )
    if remote or fmt.gzip:  # a gzip file is one stream: read whole, lines or not
        multi_line = fmt.gzip or needs_multiline(spark, path)
        frame = _read_csv(spark, path, fmt, multi_line=multi_line)
        # Spark names an empty header field _c<i> and numbers repeated names: the header's own
        # names decide, as on DuckDB (its first row read without a header)
        first = _read_csv(spark, path, fmt, multi_line=multi_line, header=False).first()
        names = ["" if name is None else name for name in first] if first else frame.columns
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            records = pool.submit(local_lines_are_records, Path(path))
            names = read_header(Path(path), fmt).names
            frame = _read_csv(spark, path, fmt, multi_line=False)
            if not records.result():
                frame = _read_csv(spark, path, fmt, multi_line=True)
    columns = normalize_column_names(names, str(path))
    if len(columns) != len(frame.columns):
        raise UnreadableInputError(
            f"{path}: Spark reads {len(frame.columns)} columns in the header where it has "
            f"{len(columns)}; check the header row's quotes and run again."
        )
    return frame.toDF(*columns)


def _read_csv(
    spark: "SparkSession",
    path: str | Path | list[str],
    fmt: InputFormat,
    multi_line: bool,
    header: bool = True,
) -> "DataFrame":
    """The CSV (or the CSVs of a list, one read) as Spark reads it: strings, header, PERMISSIVE."""
    return (
        spark.read.option("header", header)
        .option("sep", fmt.delimiter)
        .option("inferSchema", False)
        .option("multiLine", multi_line)
        .option("quote", '"')
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .option("encoding", "UTF-8")
        .csv(path if isinstance(path, list) else str(path))
    )


def needs_multiline(spark: "SparkSession", path: str | Path) -> bool:
    """True unless every line of the file is a whole CSV record, so lines may be read apart.

    A line where a quoted field opens without closing fails, and so does a quote inside an
    unquoted field (or text after a closing quote); such files are read with multiLine. A local
    file is scanned on the driver (numpy, about 0.7 s per 300 MB), a file on S3 by Spark.
    """
    if str(path).startswith(("s3://", "s3a://")):
        return not spark_lines_are_records(spark, path)
    return not local_lines_are_records(Path(path))


def spark_lines_are_records(spark: "SparkSession", path: str | Path) -> bool:
    """Whether every line matches ``SINGLE_LINE_RECORD`` (one parallel Spark job over the lines)."""
    from pyspark.sql import functions as F

    line = F.col("value")
    blank = line.rlike(BLANK_LINE)
    suspect = (line.contains('"') & ~line.rlike(SINGLE_LINE_RECORD)) | blank
    with _job_settings(spark):
        found = spark.read.text(str(path)).agg(F.max(suspect.cast("int"))).first()[0]
    return not found


_CHUNK_BYTES = 1 << 24


def local_lines_are_records(path: Path) -> bool:
    """``spark_lines_are_records`` for a local file, on its bytes with numpy, chunk by chunk.

    The n-th quote of the file opens a quoted field when n is even (counting from 0), else it
    closes one or starts a doubled quote. Every line is a whole record when no line break (LF or
    CR, as Spark's line reader splits on both) falls inside quotes, every opening quote follows
    a comma, a line break or a quote, and every other quote precedes one of those.
    """
    import numpy as np

    quote, line_feed, carriage_return = ord('"'), ord("\n"), ord("\r")
    field_edge = np.zeros(256, dtype=bool)
    field_edge[[ord(","), line_feed, carriage_return, quote]] = True
    # window[0] is the byte before the chunk, window[1 : size + 1] the chunk, then the next byte.
    window = bytearray(_CHUNK_BYTES + 2)
    window[0] = line_feed
    quotes_before = 0
    with path.open("rb", buffering=0) as source:
        head = source.read(3)
        if head != b"\xef\xbb\xbf":
            source.seek(0)
        size = source.readinto(memoryview(window)[1 : _CHUNK_BYTES + 1])
        while size:
            after = source.read(1)
            window[size + 1] = after[0] if after else line_feed
            data = np.frombuffer(window, np.uint8, count=size + 2)
            chunk = data[1 : size + 1]
            quotes = np.flatnonzero(chunk == quote)
            breaks = np.flatnonzero((chunk == line_feed) | (chunk == carriage_return))
            if ((np.searchsorted(quotes, breaks) + quotes_before) & 1).any():
                return False
            opening = ((np.arange(len(quotes)) + quotes_before) & 1) == 0
            edges = np.where(opening, field_edge[data[quotes]], field_edge[data[quotes + 2]])
            if not edges.all() or _has_blank_line(data, breaks + 2, size):
                return False
            quotes_before += len(quotes)
            window[0] = window[size]
            if not after:
                break
            window[1] = after[0]
            size = 1 + source.readinto(memoryview(window)[2 : _CHUNK_BYTES + 1])
    return quotes_before % 2 == 0


def _has_blank_line(data: Any, starts: Any, size: int) -> bool:
    """Whether a line starting at one of ``starts`` (or at the chunk's start) is ``BLANK_LINE``.

    Only lines whose first byte is a space or control character are looked at; one running past
    the chunk counts as blank (the answer errs towards multiLine).
    """
    import numpy as np

    chunk_start = [1] if data[0] in (0x0A, 0x0D) else []
    starts = np.concatenate((np.array(chunk_start, dtype=starts.dtype), starts[starts <= size]))
    first = data[starts]
    for start in starts[(first <= 0x20) & (first != 0x0A) & (first != 0x0D)]:
        line = data[start : size + 1]
        ends = np.flatnonzero((line == 0x0A) | (line == 0x0D))
        if not len(ends) or line[: ends[0]].max() <= 0x20:
            return True
    return False


@dataclass
class SparkEvaluation:
    """Annotated rows (original columns + Glue's four row-level columns), split into good and bad."""

    annotated: "DataFrame"
    good: "DataFrame"
    bad: "DataFrame"
    rule_outcomes: list[RuleOutcome]
    rows_read: int
    good_rows: int
    bad_rows: int
    ordered: "DataFrame"
    plan: EvaluationPlan
    analyzer_results: list[AnalyzerResult]


@dataclass
class _Staged:
    """The compiled plan, the temp view of its row-level stage, and the shared subexpressions.

    ``shared`` maps a Spark SQL expression (a regex-guarded number cast and the like, which the
    plan repeats in row results, aggregates and first-value conditions) to the column of the
    base view that computes it once per row.
    """

    plan: EvaluationPlan
    stage: str
    shared: dict[str, str]
    base: str = ""

    def isolate_runtime_failures(self, spark: "SparkSession") -> bool:
        """After a Spark job failed: make each rule whose SQL fails on the data a Failed rule and
        register the stage again without them; True when one was found."""
        if not self.base or not self.plan.isolate_runtime_failures(
            self.base, _error_of(spark, collect=True)
        ):
            return False
        spark.sql(self.sql(self.plan.stage_sql(self.base))).createOrReplaceTempView(self.stage)
        return True

    def sql(self, duckdb_sql: str) -> str:
        """``duckdb_sql`` as Spark SQL reading the shared columns instead of recomputing them."""
        return _use_shared(to_spark_sql(duckdb_sql), self.shared)

    def first_value_sql(self) -> list[str]:
        """First values as ``min_by(value, CASE WHEN condition THEN row id END)`` selects.

        Observed metrics take no FILTER clause, and ``min_by`` skips rows whose ordering is NULL.
        """
        return [
            self.sql(
                f"SELECT arg_min({first.value}, CASE WHEN {first.condition} THEN {ROW_ID} END) "
                f"AS {alias} FROM {self.stage}"
            )
            for leaf in self.plan.leaves
            for alias, first in leaf.first_values.items()
        ]


# Node types of an expression that is a pure, never-failing function of one row's columns.
@cache
def _pure_nodes() -> tuple[type, ...]:
    from sqlglot import exp

    return (
        exp.Column,
        exp.Identifier,
        exp.Literal,
        exp.Boolean,
        exp.Null,
        exp.DataType,
        exp.Paren,
        exp.Case,
        exp.If,
        exp.Not,
        exp.And,
        exp.Or,
        exp.EQ,
        exp.NEQ,
        exp.GT,
        exp.GTE,
        exp.LT,
        exp.LTE,
        exp.Is,
        exp.Coalesce,
        exp.RegexpLike,
        exp.TryCast,
        exp.Trim,
        exp.Length,
    )


def _shared_candidates(tree: "exp.Expression", columns: set[str]) -> Iterator["exp.Expression"]:
    """The largest pure CASE or RLIKE expressions over input ``columns`` that run a regex."""
    from sqlglot import exp

    stack = [tree]
    while stack:
        node = stack.pop()
        if (
            isinstance(node, (exp.Case, exp.RegexpLike))
            and all(isinstance(part, _pure_nodes()) for part in node.walk())
            and all(column.name in columns for column in node.find_all(exp.Column))
            and node.find(exp.RegexpLike)
        ):
            yield node
            continue
        stack.extend(node.iter_expressions())


def _find_shared(statements: Sequence[str], columns: Sequence[str]) -> dict[str, str]:
    """Regex-running expressions that occur more than once in ``statements`` (Spark SQL)."""
    import sqlglot

    counts: Counter[str] = Counter()
    for statement in statements:
        tree = sqlglot.parse_one(statement, read="spark")
        counts.update(node.sql(dialect="spark") for node in _shared_candidates(tree, set(columns)))
    repeated = sorted(sql for sql, count in counts.items() if count > 1)
    return {sql: f"__dq_shared{i}" for i, sql in enumerate(repeated)}


def _use_shared(spark_sql: str, shared: dict[str, str]) -> str:
    import sqlglot
    from sqlglot import exp

    if not shared:
        return spark_sql

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, (exp.Case, exp.RegexpLike)):
            name = shared.get(node.sql(dialect="spark"))
            if name:
                return exp.column(name)
        return node

    return sqlglot.parse_one(spark_sql, read="spark").transform(replace).sql(dialect="spark")


def infer_column_types(
    spark: "SparkSession",
    view: str,
    columns: Sequence[str],
    known: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``known`` types plus the crawler's type of each other column in ``columns`` (one job)."""
    types = dict(known or {})
    unknown = [column for column in columns if column not in types]
    if unknown:
        row = spark.sql(to_spark_sql(crawler.profile_sql(unknown, view))).collect()[0].asDict()
        types.update(crawler.types_from_profile(unknown, row))
    return types


def load_references(
    spark: "SparkSession", locations: Mapping[str, str], suffix: str
) -> dict[str, Reference]:
    """Each reference dataset as a temp view of text columns (lower-cased names), with crawler types."""
    loaded = {}
    for i, (name, location) in enumerate(locations.items()):
        view = f"dq_ref{i}_{suffix}"
        frame = read_csv_spark(spark, location)
        frame.createOrReplaceTempView(view)
        loaded[name] = Reference(
            name, view, frame.columns, infer_column_types(spark, view, frame.columns)
        )
    return loaded


def spark_errors() -> tuple[type[Exception], ...]:
    """What a failing Spark query raises: PySparkException and, on Spark 3.5 (Glue 5.x), py4j's
    Py4JJavaError for the Java errors PySpark 3.5 does not convert (a task failing while it writes,
    as ``raise_error`` in a where clause does)."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JJavaError)


def spark_error_message(error: Exception) -> str:
    """One line saying what failed: a Java error's innermost cause (``bad value``, not the task's
    wrapper), else the first line of the PySpark error."""
    java = getattr(error, "java_exception", None)
    if java is None:
        return first_line(str(error))
    while java.getCause() is not None:
        java = java.getCause()
    return first_line(str(java.toString()))


def _error_of(spark: "SparkSession", collect: bool = False) -> Any:
    """``error_of(sql)`` for ``EvaluationPlan.isolate_*``: Spark analyses the SQL (and runs it when
    ``collect``)."""
    import sqlglot

    spark_error = spark_errors()

    def error_of(sql: str) -> str | None:
        try:
            frame = spark.sql(to_spark_sql(sql))
            if collect:
                with _job_settings(spark):
                    frame.collect()
        except (*spark_error, sqlglot.errors.SqlglotError) as error:
            return spark_error_message(error)
        return None

    return error_of


def _scalar(spark: "SparkSession", query: str) -> Any:
    rows = spark.sql(to_spark_sql(query)).take(1)
    return rows[0][0] if rows else None


def _stage(
    ruleset: model.Ruleset,
    df: "DataFrame",
    now: datetime | None,
    column_types: Mapping[str, str] | None = None,
    history: MetricHistory | None = None,
    references: References | None = None,
    files: FileListing | None = None,
) -> _Staged:
    """Register the input (with a row id in input order, and the shared subexpressions computed
    once) and the row-level stage as temp views. Rules whose SQL Spark rejects become Failed."""
    from pyspark.sql import functions as F

    spark = df.sparkSession
    suffix = uuid.uuid4().hex[:8]
    base, stage, raw = f"dq_base_{suffix}", f"dq_stage_{suffix}", f"dq_raw_{suffix}"
    df.createOrReplaceTempView(raw)
    with _job_settings(spark):
        types = infer_column_types(spark, raw, columns_to_type(ruleset, df.columns), column_types)
        if any(rule.rule_type == "SchemaMatch" for rule in ruleset.leaves):
            types = infer_column_types(spark, raw, df.columns, types)
        loaded = load_references(spark, resolve_references(ruleset, references), suffix)
    plan = build_plan(
        ruleset,
        df.columns,
        now=now,
        column_types=types,
        history=history,
        references=loaded,
        files=files,
    )
    plan.isolate_where_failures(raw, _error_of(spark))
    unshared = _Staged(plan, stage, {})
    statements = [
        to_spark_sql(plan.stage_sql(base)),
        to_spark_sql(plan.aggregate_sql(stage)),
        *unshared.first_value_sql(),
    ]
    shared = _find_shared(statements, plan.columns)
    computed = [f"{sql} AS {name}" for sql, name in shared.items()]
    rows = df.withColumn(ROW_ID, F.monotonically_increasing_id())
    rows.selectExpr("*", *computed).createOrReplaceTempView(base)
    staged = _Staged(plan, stage, shared, base)
    spark.sql(staged.sql(plan.stage_sql(base))).createOrReplaceTempView(stage)
    plan.isolate_query_failures(stage, _error_of(spark))
    return staged


def _evaluation(spark: "SparkSession", staged: _Staged, values: dict[str, Any]) -> SparkEvaluation:
    """Outcomes from the aggregate values, and the lazy annotated frames over the stage view."""
    from pyspark.sql import functions as F

    plan = staged.plan
    outcomes = plan.decide(values)
    rows_read, bad_rows = int(values["__rows_read"]), int(values["__bad_rows"] or 0)
    ordered = spark.sql(to_spark_sql(plan.annotated_sql(staged.stage, with_row_id=True)))
    annotated = ordered.drop(ROW_ID)
    result = F.col("DataQualityEvaluationResult")
    return SparkEvaluation(
        annotated=annotated,
        good=annotated.filter(result == "Passed"),
        bad=annotated.filter(result == "Failed"),
        rule_outcomes=outcomes,
        rows_read=rows_read,
        good_rows=rows_read - bad_rows,
        bad_rows=bad_rows,
        ordered=ordered,
        plan=plan,
        analyzer_results=plan.analyzer_results(values),
    )


def evaluate_spark(
    ruleset: model.Ruleset,
    df: "DataFrame",
    *,
    now: datetime | None = None,
    column_types: Mapping[str, str] | None = None,
    history: MetricHistory | None = None,
    references: References | None = None,
    files: FileListing | None = None,
) -> SparkEvaluation:
    """Evaluate ``ruleset`` over ``df`` (string columns); outcomes are computed now, rows stay lazy.

    ``column_types`` (e.g. the catalog's) types the columns where clauses and CustomSql read;
    without it they are typed as the Glue crawler would type them from ``df``.
    """
    spark_error = spark_errors()

    spark = df.sparkSession
    try:
        staged = _stage(ruleset, df, now, column_types, history, references, files)
        plan, stage = staged.plan, staged.stage
        with _job_settings(spark):
            try:
                aggregates = staged.sql(plan.aggregate_sql(stage, first_values_by=ROW_ID))
                values = spark.sql(aggregates).collect()[0].asDict()
            except spark_error:
                if not staged.isolate_runtime_failures(spark):
                    raise
                aggregates = staged.sql(plan.aggregate_sql(stage, first_values_by=ROW_ID))
                values = spark.sql(aggregates).collect()[0].asDict()
            values.update(
                plan.run_scalar_queries(stage, lambda query: _scalar(spark, query), spark_error)
            )
    except spark_error as error:
        raise _fail(ruleset, error) from None
    return _evaluation(spark, staged, values)


def _fail(ruleset: model.Ruleset, error: Exception) -> DataQualityError:
    return DataQualityError(
        f"{ruleset.source}: evaluating the rules failed: {spark_error_message(error)}"
    )


def evaluate_spark_to_jsonl(
    ruleset: model.Ruleset,
    df: "DataFrame",
    bad_path: Path,
    good_path: Path | None = None,
    *,
    now: datetime | None = None,
    column_types: Mapping[str, str] | None = None,
    history: MetricHistory | None = None,
    references: References | None = None,
    files: FileListing | None = None,
) -> SparkEvaluation:
    """Evaluate ``ruleset`` over ``df`` and write bad (and good) rows as JSON lines in one pass.

    The aggregates ride along the write (``DataFrame.observe``); only what observed metrics cannot
    hold (DISTINCT aggregates) and the scalar queries (Entropy, CustomSql...) run as their own jobs.
    """
    spark_error = spark_errors()

    spark = df.sparkSession
    try:
        staged = _stage(ruleset, df, now, column_types, history, references, files)
        try:
            return _evaluate_to_jsonl(spark, staged, bad_path, good_path)
        except spark_error:
            # A where clause or CustomSql failing on some value: make it a Failed rule, run again.
            if not staged.isolate_runtime_failures(spark):
                raise
            return _evaluate_to_jsonl(spark, staged, bad_path, good_path)
    except spark_error as error:
        raise _fail(ruleset, error) from None


def _evaluate_to_jsonl(
    spark: "SparkSession", staged: _Staged, bad_path: Path, good_path: Path | None
) -> SparkEvaluation:
    """The body of ``evaluate_spark_to_jsonl`` once the stage is registered."""
    spark_error = spark_errors()
    from pyspark.sql import Observation

    plan, stage = staged.plan, staged.stage
    with _job_settings(spark):
        values = plan.run_scalar_queries(stage, lambda query: _scalar(spark, query), spark_error)
    if good_path is None and plan.failing_row_sql() == "FALSE":
        # No row can fail and good rows are not asked for: Spark would prune the whole write
        # (and the observed aggregates with it), so the aggregates run on their own.
        bad_path.write_bytes(b"")
        with _job_settings(spark):
            aggregates = staged.sql(plan.aggregate_sql(stage, first_values_by=ROW_ID))
            values.update(spark.sql(aggregates).collect()[0].asDict())
        return _evaluation(spark, staged, values)
    observed, separate = _split_aggregates(staged)
    with _job_settings(spark):
        if separate:
            query = f"SELECT {', '.join(separate)} FROM {stage}"
            values.update(spark.sql(query).collect()[0].asDict())
    observation = Observation(f"dq_{uuid.uuid4().hex[:8]}")
    observed_view = f"{stage}_observed"
    spark.table(stage).observe(observation, *observed).createOrReplaceTempView(observed_view)
    rows = spark.sql(to_spark_sql(plan.annotated_sql(observed_view)))
    targets = {"Failed": bad_path, **({"Passed": good_path} if good_path else {})}
    _write_jsonl_split(rows, targets)
    values.update(observation.get)
    return _evaluation(spark, staged, values)


def _split_aggregates(staged: _Staged) -> tuple[list["Column"], list[str]]:
    """The aggregates as Spark columns for ``observe``, and (as Spark SQL) those it cannot take."""
    import sqlglot
    from pyspark.sql import functions as F
    from sqlglot import exp

    selects = [staged.sql(staged.plan.aggregate_sql(staged.stage)), *staged.first_value_sql()]
    observed: list[Column] = []
    separate: list[str] = []
    for select in selects:
        for projection in sqlglot.parse_one(select, read="spark").expressions:
            sql = projection.sql(dialect="spark")
            if projection.find(exp.Distinct):
                separate.append(sql)
            else:
                observed.append(F.expr(sql))
    return observed, separate


def _write_jsonl_split(annotated: "DataFrame", targets: dict[str, Path]) -> None:
    """Write ``annotated`` rows (no row id) as JSON lines, one file per DataQualityEvaluationResult.

    Spark writes part files per result in parallel, without sorting (concurrent writers); the
    parts are then joined in part order, which is input order when the plan has no shuffle.
    """
    from pyspark.sql import functions as F

    result = F.col("DataQualityEvaluationResult")
    fields = F.struct(*[spark_column(name) for name in annotated.columns])
    lines = annotated.select(
        F.to_json(fields, {"ignoreNullFields": "false"}).alias("value"),
        result.alias(_RESULT_PART),
    )
    if "Passed" not in targets:
        lines = lines.filter(result == "Failed")
    first = next(iter(targets.values()))
    folder = first.with_name(f".{first.name}.spark")
    with _job_settings(annotated.sparkSession, writers=len(targets)):
        lines.write.mode("overwrite").option("compression", "none").partitionBy(_RESULT_PART).text(
            str(folder)
        )
    try:
        for value, path in targets.items():
            part_folder = folder / f"{_RESULT_PART}={value}"
            parts = sorted(part_folder.glob("part-*")) if part_folder.is_dir() else []
            concatenate(parts, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _job_settings(spark: "SparkSession", writers: int = 0) -> Iterator[None]:
    """Session settings for the engine's own Spark jobs, restored afterwards; explicit ones stay.

    ``writers`` open files per task (one per partition value) replace the sort a partitioned
    write does first; at least two input splits per core keep both cores busy to the end (a
    300 MB file otherwise makes three 128 MB splits for two cores).
    """
    settings = {"spark.sql.files.minPartitionNum": str(2 * spark.sparkContext.defaultParallelism)}
    if writers:
        settings["spark.sql.maxConcurrentOutputFileWriters"] = str(writers)
    unset = [key for key in settings if spark.conf.get(key, None) is None]
    for key in unset:
        spark.conf.set(key, settings[key])
    try:
        yield
    finally:
        for key in unset:
            spark.conf.unset(key)


def write_parquet(
    evaluation: SparkEvaluation, projection: Sequence[str] | None, path: Path
) -> None:
    """Good rows (projected with DuckDB-dialect expressions, transpiled) as one parquet file.

    One task writes the file (``coalesce(1)``, no sort): rows are in input order when the plan
    has no shuffle (no IsUnique-like rule), otherwise in no particular order.
    """
    rows = evaluation.good.select(*[spark_column(name) for name in evaluation.plan.columns])
    if projection:
        rows = rows.selectExpr(
            *[to_spark_sql(f"SELECT {expr}")[len("SELECT ") :] for expr in projection]
        )
    _write_single_file(rows.coalesce(1).write, "parquet", path)


def _write_single_file(writer: Any, file_format: str, path: Path) -> None:
    """Write one partition with Spark into a folder beside ``path``, then move its part file to ``path``."""
    folder = path.with_name(f".{path.name}.spark")
    writer.mode("overwrite").format(file_format).save(str(folder))
    parts = sorted(
        part for part in folder.iterdir() if part.name.startswith("part-") and part.is_file()
    )
    if len(parts) > 1:
        raise DataQualityError(
            f"{folder}: Spark wrote {len(parts)} part files where one was expected; "
            "this is a bug in the Spark writer of quality_movies.dq"
        )
    if parts:
        parts[0].replace(path)
    else:
        path.write_bytes(b"")
    shutil.rmtree(folder, ignore_errors=True)
