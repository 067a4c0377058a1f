"""Evaluate a ruleset over a CSV file and write Glue's outputs, all-or-nothing, into one folder."""

import contextlib
import json
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quality_movies.dq import duckdb_engine
from quality_movies.dq.data_files import FileListing, LocalFiles
from quality_movies.dq.datasets import References
from quality_movies.dq.errors import DataQualityError
from quality_movies.dq.history import MetricHistory
from quality_movies.dq.model import Ruleset
from quality_movies.dq.outcomes import AnalyzerResult, EvaluationSummary, RuleOutcome

if TYPE_CHECKING:
    from quality_movies.dq.spark_engine import SparkEvaluation

RULE_OUTCOMES_FILE = "rule_outcomes.jsonl"
BAD_RECORDS_FILE = "bad_records.jsonl"
GOOD_RECORDS_FILE = "good_records.jsonl"
GOOD_PARQUET_FILE = "good_records.parquet"
ANALYZER_RESULTS_FILE = "analyzer_results.jsonl"


def write_rule_outcomes(outcomes: Sequence[RuleOutcome], path: Path) -> None:
    """One JSON object per rule with Glue's keys (Rule, Outcome, FailureReason, EvaluatedMetrics,
    EvaluatedRule, Labels)."""
    _write_jsonl([outcome.to_glue_dict() for outcome in outcomes], path)


def _write_jsonl(objects: Sequence[dict[str, object]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for item in objects:
            out.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")


@dataclass(frozen=True)
class _Run:
    """What one evaluation needs besides the rules and the data file."""

    write_good_jsonl: bool
    good_parquet: bool
    good_projection: Sequence[str] | None
    temp_directory: str | None
    now: datetime | None
    column_types: Mapping[str, str] | None
    history: MetricHistory | None
    references: References | None
    files: FileListing
    rows: Any = None


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
    references: References | None = None,
    files: FileListing | None = None,
    rows: Any = None,
) -> EvaluationSummary:
    """Evaluate ``ruleset`` over the CSV at ``data_path``; write rule outcomes, bad (and good) records.

    ``column_types`` (column -> bigint, double, boolean or string, e.g. from the Glue catalog) types
    the columns where clauses and CustomSql read; without it they are typed as the crawler would.
    ``history`` answers dynamic rules and DetectAnomalies; ``references`` maps the other datasets the
    rules name (alias or dataset name) to CSV or Parquet files; ``files`` lists the evaluated file and
    its neighbours for file rules (default: the data file's own folder). On Spark, ``rows`` may
    give the file's rows already read (as ``read_csv_spark`` reads them), e.g. its part of one
    read of a batch (``spark_batch.file_rows``).
    Outputs appear in ``out_dir`` only when everything succeeded (written under hidden names, then
    renamed); on error ``out_dir`` is left as it was.
    """
    if engine not in ("duckdb", "spark"):
        raise ValueError(f"engine must be 'duckdb' or 'spark', not {engine!r}")
    if engine == "spark" and spark is None:
        raise ValueError("engine='spark' needs a SparkSession (spark=...)")
    data_path, out_dir = Path(data_path), Path(out_dir)
    run = _Run(
        write_good_jsonl,
        good_parquet,
        good_projection,
        temp_directory,
        now,
        column_types,
        history,
        references,
        files or LocalFiles(data_path),
        rows,
    )
    created = not out_dir.is_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Staging(out_dir, uuid.uuid4().hex[:12])
    published = False
    try:
        if engine == "duckdb":
            evaluation = _run_duckdb(ruleset, data_path, staging, run)
        else:
            evaluation = _run_spark(ruleset, data_path, staging, spark, run)
        outputs = publish_results(
            ruleset, evaluation.rule_outcomes, evaluation.analyzer_results, staging, out_dir
        )
        published = True
    finally:
        staging.discard()
        if created and not published:
            with contextlib.suppress(OSError):
                out_dir.rmdir()
    return EvaluationSummary(
        source=source_name or data_path.name,
        rows_read=evaluation.rows_read,
        good_rows=evaluation.good_rows,
        bad_rows=evaluation.bad_rows,
        rule_outcomes=evaluation.rule_outcomes,
        outputs=outputs,
        analyzer_results=evaluation.analyzer_results,
    )


@dataclass(frozen=True)
class Staging:
    """Where a run writes before it publishes: hidden names in ``out_dir`` itself
    (``staging / name``), so that publishing is renames only. (A scratch folder beside it had to be
    removed after its files moved out, which on ext4 can wait for the journal: 20-50 ms.)"""

    out_dir: Path
    token: str

    def __truediv__(self, name: str) -> Path:
        return self.out_dir / f".{self.token}.{name}"

    def discard(self) -> None:
        """Remove what the run left under its hidden names (all of it, when it failed)."""
        for path in self.out_dir.glob(f".{self.token}.*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def publish_results(
    ruleset: Ruleset,
    rule_outcomes: Sequence[RuleOutcome],
    analyzer_results: Sequence[AnalyzerResult],
    staging: Staging,
    out_dir: Path,
) -> dict[str, Path]:
    """Write the rule outcomes (and analyzer results) beside the staged rows, then publish all."""
    write_rule_outcomes(rule_outcomes, staging / RULE_OUTCOMES_FILE)
    if ruleset.analyzers:
        _write_jsonl(
            [result.to_dict() for result in analyzer_results], staging / ANALYZER_RESULTS_FILE
        )
    return _publish(staging, out_dir)


def _publish(staging: Staging, out_dir: Path) -> dict[str, Path]:
    """Move the finished files into ``out_dir``; stale good-record files from an earlier run go away."""
    names = {
        "rule_outcomes": RULE_OUTCOMES_FILE,
        "analyzer_results": ANALYZER_RESULTS_FILE,
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
    ruleset: Ruleset, data_path: Path, staging: Staging, run: _Run
) -> duckdb_engine.DuckDBEvaluation:
    spill = run.temp_directory or str(staging / "duckdb_spill")
    con = duckdb_engine.connect(temp_directory=spill)
    try:
        # first failing values read a big file's head in small buffers (a small one is one buffer)
        big = data_path.is_file() and data_path.stat().st_size > 4 * duckdb_engine.HEAD_BUFFER_BYTES
        head = "dq_head" if big else None
        duckdb_engine.read_csv_duckdb(con, data_path, materialize=False, head_table=head)
        outputs = duckdb_engine.Outputs(
            bad_jsonl=staging / BAD_RECORDS_FILE,
            good_jsonl=staging / GOOD_RECORDS_FILE if run.write_good_jsonl else None,
            good_parquet=staging / GOOD_PARQUET_FILE if run.good_parquet else None,
            good_projection=run.good_projection,
        )
        try:
            evaluation = duckdb_engine.evaluate_duckdb(
                ruleset,
                con,
                "dq_input",
                now=run.now,
                column_types=run.column_types,
                history=run.history,
                references=run.references,
                files=run.files,
                outputs=outputs,
                head_table=head,
            )
        except duckdb_engine.duckdb.Error as error:
            raise duckdb_engine.output_error(data_path, error) from None
    finally:
        con.close()
        shutil.rmtree(staging / "duckdb_spill", ignore_errors=True)
    return evaluation


def _run_spark(
    ruleset: Ruleset, data_path: Path, staging: Staging, spark: Any, run: _Run
) -> "SparkEvaluation":
    from pyspark.errors import PySparkException

    from quality_movies.dq import spark_engine

    try:
        frame = run.rows if run.rows is not None else spark_engine.read_csv_spark(spark, data_path)
        good_path = staging / GOOD_RECORDS_FILE if run.write_good_jsonl else None
        evaluation = spark_engine.evaluate_spark_to_jsonl(
            ruleset,
            frame,
            staging / BAD_RECORDS_FILE,
            good_path,
            now=run.now,
            column_types=run.column_types,
            history=run.history,
            references=run.references,
            files=run.files,
        )
        if run.good_parquet:
            spark_engine.write_parquet(evaluation, run.good_projection, staging / GOOD_PARQUET_FILE)
    except PySparkException as error:
        raise DataQualityError(f"{data_path}: Spark could not evaluate the file: {error}") from None
    return evaluation
