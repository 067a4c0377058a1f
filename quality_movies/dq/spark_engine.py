"""PySpark backend (what the Glue job runs): the same SQL as DuckDB, transpiled with sqlglot."""

import json
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot

from quality_movies.dq import model
from quality_movies.dq.duckdb_engine import normalize_column_names
from quality_movies.dq.errors import DataQualityError, UnreadableInputError
from quality_movies.dq.outcomes import RuleOutcome
from quality_movies.dq.plan import ROW_ID, EvaluationPlan, build_plan

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def to_spark_sql(sql: str) -> str:
    """DuckDB-dialect SQL as Spark SQL."""
    return sqlglot.transpile(sql, read="duckdb", write="spark")[0]


def read_csv_spark(spark: "SparkSession", path: str | Path) -> "DataFrame":
    """The CSV as all-string columns with lower-cased, trimmed names; the same reading as DuckDB's."""
    if not str(path).startswith(("s3://", "s3a://")) and not Path(path).is_file():
        raise UnreadableInputError(f"{path}: no such data file")
    frame = (
        spark.read.option("header", True)
        .option("inferSchema", False)
        .option("multiLine", True)
        .option("quote", '"')
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .option("encoding", "UTF-8")
        .csv(str(path))
    )
    columns = normalize_column_names(frame.columns, str(path))
    return frame.toDF(*columns)


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


def evaluate_spark(
    ruleset: model.Ruleset, df: "DataFrame", *, now: datetime | None = None
) -> SparkEvaluation:
    """Evaluate ``ruleset`` over ``df`` (string columns); outcomes are computed now, rows stay lazy."""
    from pyspark.errors import PySparkException
    from pyspark.sql import functions as F

    spark = df.sparkSession
    plan = build_plan(ruleset, df.columns, now=now)
    suffix = uuid.uuid4().hex[:8]
    base, stage = f"dq_base_{suffix}", f"dq_stage_{suffix}"
    try:
        df.withColumn(ROW_ID, F.monotonically_increasing_id()).createOrReplaceTempView(base)
        spark.sql(to_spark_sql(plan.stage_sql(base))).createOrReplaceTempView(stage)
        values: dict[str, Any] = (
            spark.sql(to_spark_sql(plan.aggregate_sql(stage))).collect()[0].asDict()
        )
        for alias, query in plan.scalar_queries(stage).items():
            values[alias] = spark.sql(to_spark_sql(query)).collect()[0][0]
    except PySparkException as error:
        raise DataQualityError(
            f"{ruleset.source}: evaluating the rules failed: {error}. Columns are strings: cast them "
            "in where clauses and CustomSql (TRY_CAST(col AS DOUBLE))."
        ) from None
    outcomes = plan.decide(values)
    rows_read, bad_rows = int(values["__rows_read"]), int(values["__bad_rows"] or 0)
    ordered = spark.sql(to_spark_sql(plan.annotated_sql(stage, with_row_id=True)))
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
    )


def write_jsonl(evaluation: SparkEvaluation, bad_path: Path, good_path: Path | None = None) -> None:
    """Bad (and good) rows in input order as JSON lines, byte-identical to DuckDB's COPY output.

    One pass over the annotated rows; they are sorted only when a window (IsUnique...) reordered them.
    """
    frame = evaluation.ordered
    if good_path is None:
        frame = frame.filter("DataQualityEvaluationResult = 'Failed'")
    if evaluation.plan.uses_windows:
        frame = frame.orderBy(ROW_ID)
    with ExitStack() as files:
        bad = files.enter_context(bad_path.open("w", encoding="utf-8"))
        good = files.enter_context(good_path.open("w", encoding="utf-8")) if good_path else None
        for row in frame.toLocalIterator():
            record = row.asDict()
            del record[ROW_ID]
            target = bad if record["DataQualityEvaluationResult"] == "Failed" else good
            target.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")


def write_parquet(
    evaluation: SparkEvaluation, projection: Sequence[str] | None, path: Path
) -> None:
    """Good rows (projected with DuckDB-dialect expressions, transpiled) as one parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = evaluation.good.select(*evaluation.plan.columns)
    if projection:
        frame = frame.selectExpr(
            *[to_spark_sql(f"SELECT {expr}")[len("SELECT ") :] for expr in projection]
        )
    table = pa.Table.from_pandas(frame.toPandas(), preserve_index=False)
    pq.write_table(table, path)
