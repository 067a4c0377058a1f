"""PySpark backend (what the Glue job runs): the same SQL as DuckDB, transpiled with sqlglot."""

import shutil
import uuid
from collections.abc import Sequence
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
            spark.sql(to_spark_sql(plan.aggregate_sql(stage, first_values_by=ROW_ID)))
            .collect()[0]
            .asDict()
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

    Spark's own writer produces the file (one partition, sorted by the row id), so no row passes
    through the driver; each line is ``to_json`` of the row with nulls kept, as DuckDB writes it.
    """
    from pyspark.sql import functions as F

    targets = [("Failed", bad_path)] + ([("Passed", good_path)] if good_path else [])
    for result, path in targets:
        rows = _in_input_order(evaluation, result)
        fields = F.struct(*[rows[name] for name in rows.columns if name != ROW_ID])
        lines = rows.select(F.to_json(fields, {"ignoreNullFields": "false"}).alias("value"))
        _write_single_file(lines.write.option("compression", "none"), "text", path)


def write_parquet(
    evaluation: SparkEvaluation, projection: Sequence[str] | None, path: Path
) -> None:
    """Good rows in input order (projected with DuckDB-dialect expressions, transpiled) as one parquet file."""
    rows = _in_input_order(evaluation, "Passed").select(*evaluation.plan.columns)
    if projection:
        rows = rows.selectExpr(
            *[to_spark_sql(f"SELECT {expr}")[len("SELECT ") :] for expr in projection]
        )
    _write_single_file(rows.write, "parquet", path)


def _in_input_order(evaluation: SparkEvaluation, result: str) -> "DataFrame":
    """Annotated rows of one DataQualityEvaluationResult, with the row id, in one sorted partition."""
    rows = evaluation.ordered.filter(f"DataQualityEvaluationResult = '{result}'")
    return rows.coalesce(1).sortWithinPartitions(ROW_ID)


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
