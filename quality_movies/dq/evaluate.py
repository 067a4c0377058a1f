"""Evaluate a ruleset over a CSV file and write Glue's outputs, all-or-nothing, into one folder."""

import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from quality_movies.dq import duckdb_engine, spark_engine
from quality_movies.dq.errors import DataQualityError
from quality_movies.dq.history import MetricHistory
from quality_movies.dq.model import Ruleset
from quality_movies.dq.outcomes import EvaluationSummary, RuleOutcome

RULE_OUTCOMES_FILE = "rule_outcomes.jsonl"
BAD_RECORDS_FILE = "bad_records.jsonl"
GOOD_RECORDS_FILE = "good_records.jsonl"
GOOD_PARQUET_FILE = "good_records.parquet"


def write_rule_outcomes(outcomes: Sequence[RuleOutcome], path: Path) -> None:
    """One JSON object per rule with exactly Glue's five keys."""
    with path.open("w", encoding="utf-8") as out:
        for outcome in outcomes:
            out.write(
                json.dumps(outcome.to_glue_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"
            )


def evaluate_file(
    ruleset: Ruleset,
    data_path: str | Path,
    out_dir: str | Path,
    *,
    engine: str = "duckdb",
    spark: Any = None,
    write_good_jsonl: bool = False,
    good_parquet: bool = False,
    good_projection: Sequence[str] | None = None,
    source_name: str | None = None,
    temp_directory: str | None = None,
    now: datetime | None = None,
    column_types: Mapping[str, str] | None = None,
    history: MetricHistory | None = None,
) -> EvaluationSummary:
    """Evaluate ``ruleset`` over the CSV at ``data_path``; write rule outcomes, bad (and good) records.

    ``column_types`` (column -> bigint, double, boolean or string, e.g. from the Glue catalog) types
    the columns where clauses and CustomSql read; without it they are typed as the crawler would.
    Outputs appear in ``out_dir`` only when everything succeeded; on error ``out_dir`` is left untouched.
    """
    if engine not in ("duckdb", "spark"):
        raise ValueError(f"engine must be 'duckdb' or 'spark', not {engine!r}")
    data_path, out_dir = Path(data_path), Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        if engine == "duckdb":
            counts, outcomes = _run_duckdb(
                ruleset,
                data_path,
                staging,
                write_good_jsonl,
                good_parquet,
                good_projection,
                temp_directory,
                now,
                column_types,
                history,
            )
        else:
            if spark is None:
                raise ValueError("engine='spark' needs a SparkSession (spark=...)")
            counts, outcomes = _run_spark(
                ruleset,
                data_path,
                staging,
                spark,
                write_good_jsonl,
                good_parquet,
                good_projection,
                now,
                column_types,
                history,
            )
        write_rule_outcomes(outcomes, staging / RULE_OUTCOMES_FILE)
        outputs = _publish(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    rows_read, good_rows, bad_rows = counts
    return EvaluationSummary(
        source=source_name or data_path.name,
        rows_read=rows_read,
        good_rows=good_rows,
        bad_rows=bad_rows,
        rule_outcomes=outcomes,
        outputs=outputs,
    )


def _publish(staging: Path, out_dir: Path) -> dict[str, Path]:
    """Move the finished files into ``out_dir``; stale good-record files from an earlier run go away."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {
        "rule_outcomes": RULE_OUTCOMES_FILE,
        "bad_records": BAD_RECORDS_FILE,
        "good_records": GOOD_RECORDS_FILE,
        "good_parquet": GOOD_PARQUET_FILE,
    }
    outputs = {}
    for key, name in names.items():
        source, target = staging / name, out_dir / name
        if source.exists():
            source.replace(target)
            outputs[key] = target
        elif target.exists():
            target.unlink()
    return outputs


def _run_duckdb(
    ruleset: Ruleset,
    data_path: Path,
    staging: Path,
    write_good_jsonl: bool,
    good_parquet: bool,
    good_projection: Sequence[str] | None,
    temp_directory: str | None,
    now: datetime | None,
    column_types: Mapping[str, str] | None,
    history: MetricHistory | None,
) -> tuple[tuple[int, int, int], list[RuleOutcome]]:
    spill = temp_directory or str(staging / "duckdb_spill")
    con = duckdb_engine.connect(temp_directory=spill)
    try:
        columns = duckdb_engine.read_csv_duckdb(con, data_path, materialize=False)
        evaluation = duckdb_engine.evaluate_duckdb(
            ruleset,
            con,
            "dq_input",
            now=now,
            column_types=column_types,
            history=history,
        )
        try:
            duckdb_engine.write_jsonl(con, evaluation.bad_sql, staging / BAD_RECORDS_FILE)
            if write_good_jsonl:
                duckdb_engine.write_jsonl(con, evaluation.good_sql, staging / GOOD_RECORDS_FILE)
            if good_parquet:
                duckdb_engine.write_parquet(
                    con, evaluation.good_sql, columns, good_projection, staging / GOOD_PARQUET_FILE
                )
        except duckdb_engine.duckdb.Error as error:
            raise DataQualityError(f"{data_path}: writing the outputs failed: {error}") from None
    finally:
        con.close()
        shutil.rmtree(staging / "duckdb_spill", ignore_errors=True)
    counts = (evaluation.rows_read, evaluation.good_rows, evaluation.bad_rows)
    return counts, evaluation.rule_outcomes


def _run_spark(
    ruleset: Ruleset,
    data_path: Path,
    staging: Path,
    spark: Any,
    write_good_jsonl: bool,
    good_parquet: bool,
    good_projection: Sequence[str] | None,
    now: datetime | None,
    column_types: Mapping[str, str] | None,
    history: MetricHistory | None,
) -> tuple[tuple[int, int, int], list[RuleOutcome]]:
    from pyspark.errors import PySparkException

    try:
        frame = spark_engine.read_csv_spark(spark, data_path)
        good_path = staging / GOOD_RECORDS_FILE if write_good_jsonl else None
        evaluation = spark_engine.evaluate_spark_to_jsonl(
            ruleset,
            frame,
            staging / BAD_RECORDS_FILE,
            good_path,
            now=now,
            column_types=column_types,
            history=history,
        )
        if good_parquet:
            spark_engine.write_parquet(evaluation, good_projection, staging / GOOD_PARQUET_FILE)
    except PySparkException as error:
        raise DataQualityError(f"{data_path}: Spark could not evaluate the file: {error}") from None
    counts = (evaluation.rows_read, evaluation.good_rows, evaluation.bad_rows)
    return counts, evaluation.rule_outcomes
