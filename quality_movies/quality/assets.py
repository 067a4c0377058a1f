"""The quality gate: per file, the ruleset and the warehouse contract split the rows into validated movies
and bad records, the warehouse loads the validated rows from the lake, and only then are the file's
outputs published, together.

One step per run, over one or many files (``context.partition_keys``), in batches (the quality job's
caps on files and bytes): every batch is evaluated by one quality job run (on Glue, several at once) into
staged outputs; then per batch the contract is checked, the warehouse loads the batch in one
``load_files`` call, and each file's outputs are published. A file that fails leaves nothing
half-written and does not stop the others.
"""

import json
import re
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from quality_movies.contract import (
    CONTRACT,
    SOURCE_FILE_COLUMN,
    ValidatedTable,
)
from quality_movies.dq import ROW_LEVEL_COLUMNS
from quality_movies.dq.metric_history import FileQuality, history_rows, now, ruleset_fingerprint
from quality_movies.faults import DATA, RULESET, failure_kind
from quality_movies.ingestion.assets import movies_catalog_table
from quality_movies.lake import Catalog, Lake
from quality_movies.monitoring.resources import MetricStore, QualityMetrics, job_cost_metrics
from quality_movies.partitions import movie_files
from quality_movies.quality.checks import (
    conservation_check_result,
    conservation_check_spec,
    rule_check_results,
    rule_check_specs,
    rule_metrics_metadata,
)
from quality_movies.quality.engine_inputs import (
    catalog_column_types,
    engine_inputs,
    reads_warehouse_table,
)
from quality_movies.quality.resources import (
    BatchInputs,
    FileOutputs,
    FileToEvaluate,
    QualityJobFailed,
    QualityJobRunner,
    QualityRunResult,
    RowsNotConserved,
    final_outputs,
    plan_batches,
    ruleset_reads_history,
    staged_outputs,
    staging_token,
)
from quality_movies.warehouse.resources import Warehouse

VALIDATED_COLUMN_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn(
            c.name,
            c.glue_type,
            constraints=dg.TableColumnConstraints(
                nullable=c.nullable,
                other=[
                    text
                    for text in (
                        f">= {c.min_value:g}" if c.min_value is not None else "",
                        f"<= {c.max_value:g}" if c.max_value is not None else "",
                    )
                    if text
                ],
            ),
        )
        for c in CONTRACT
    ]
    + [dg.TableColumn(SOURCE_FILE_COLUMN, "string", constraints=dg.TableColumnConstraints(False))]
)


__all__ = ["RowsNotConserved", "build_quality_gate"]


def rule_outcomes_table(rule_outcomes: list[dict]) -> dg.TableMetadataValue:
    """Rule outcomes as a table for the UI."""
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {
                    "rule": o["Rule"],
                    "outcome": o["Outcome"],
                    "failure_reason": o.get("FailureReason") or "",
                    "metrics": json.dumps(o.get("EvaluatedMetrics") or {}, sort_keys=True),
                }
            )
            for o in rule_outcomes
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("rule", "string"),
                dg.TableColumn("outcome", "string"),
                dg.TableColumn("failure_reason", "string"),
                dg.TableColumn("metrics", "string"),
            ]
        ),
    )


@dataclass(frozen=True)
class PublishedFile:
    """One file that went through the gate: its run, its warehouse load and where its outputs are."""

    result: QualityRunResult
    rows_loaded: int
    outputs: FileOutputs
    validated: ValidatedTable


def publish_outputs(lake: Lake, staged: FileOutputs, final: FileOutputs) -> None:
    """Move the staged outputs to their final keys (each replaced whole: old or new, never partial)."""
    for name, key in staged.keys().items():
        lake.move(key, final.keys()[name])


def remove_staged(lake: Lake, staged: FileOutputs) -> None:
    """Delete what an attempt staged (missing objects are fine)."""
    for key in staged.keys().values():
        lake.delete(key)


@dataclass(frozen=True)
class RunInputs:
    """What every file of one gate run is evaluated with, read once per run: the catalog's column
    types and the metric history as stored when the run started."""

    column_types: Mapping[str, str] | None
    stored_history: pd.DataFrame


@dataclass(frozen=True)
class StagedFile:
    """One file whose outputs are staged, waiting to be loaded and published."""

    file_version: str
    staged: FileOutputs
    result: QualityRunResult
    staged_at: datetime = field(default_factory=now)

    @property
    def source_file(self) -> str:
        return self.result.source_file

    @cached_property
    def history_rows(self) -> pd.DataFrame:
        """Its metric history rows, as the files staged after it in the run see them."""
        entry = FileQuality(self.source_file, self.file_version, "", "", self.result.rule_outcomes)
        return history_rows(entry, self.staged_at, self.staged_at)


def prepare_file(lake: Lake, catalog: Catalog, source_file: str) -> FileToEvaluate:
    """The file's version, size and staging keys; raises when its inspection found it unusable."""
    input_key = lake.input_key(source_file)
    head = lake.head(input_key)
    known, problem = catalog.inspection(input_key, head.etag)
    if problem:
        raise QualityJobFailed(problem)
    staged = staged_outputs(lake, source_file, staging_token())
    return FileToEvaluate(source_file, head.etag, staged, head.size, known)


def stage_batches(
    context: dg.AssetExecutionContext,
    files: Sequence[FileToEvaluate],
    lake: Lake,
    quality_job: QualityJobRunner,
    run_inputs: RunInputs,
    warehouse: Warehouse,
    fail: Callable[[str, BaseException | str], None],
) -> Iterator[list[StagedFile]]:
    """Evaluate ``files`` in batches into staged outputs; yields each batch's staged files, in order.
    A file that fails is reported to ``fail`` with nothing of it left staged. Each file is judged
    against the metric history followed by the files staged before it in the run."""
    ruleset = quality_job.ruleset()
    one_by_one = quality_job.shares_engine_inputs and reads_warehouse_table(ruleset, warehouse)
    batches = plan_batches(
        files, 1 if one_by_one else quality_job.batch_max_files, quality_job.batch_max_bytes
    )
    staged_so_far: list[StagedFile] = []

    def inputs_for(source_file: str, earlier: Sequence[QualityRunResult]) -> Any:
        def staged_validated() -> list[str]:
            staged = [f.staged.validated for f in staged_so_far] + [
                r.outputs.validated for r in earlier
            ]
            return [lake.uri(key) for key in staged]

        return engine_inputs(
            lake, run_inputs.column_types, quality_job, warehouse, source_file, staged_validated
        )

    reads_history = ruleset_reads_history(ruleset)

    def batch_inputs() -> BatchInputs:
        # the files staged before are history only to a ruleset that reads it (typing their rows
        # costs more than evaluating a small file)
        pending = [f.history_rows for f in staged_so_far] if reads_history else []
        stored = run_inputs.stored_history
        history = pd.concat([stored, *pending], ignore_index=True) if pending else stored
        return BatchInputs(history, inputs_for)

    if len(batches) > 1:
        context.log.info(f"{len(files)} files in {len(batches)} batches")
    independent = not one_by_one and not reads_history
    results = quality_job.run_batches(context, lake, batches, batch_inputs, independent)
    for batch, outcomes in zip(batches, results, strict=False):
        staged_batch = []
        for file, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Exception):
                remove_staged(lake, file.outputs)
                fail(file.source_file, outcome)
                continue
            staged_file = StagedFile(file.file_version, file.outputs, outcome)
            staged_so_far.append(staged_file)
            staged_batch.append(staged_file)
        yield staged_batch


def load_and_publish(
    context: dg.AssetExecutionContext,
    staged_files: Sequence[StagedFile],
    lake: Lake,
    quality_job: QualityJobRunner,
    warehouse: Warehouse,
    metric_store: MetricStore,
    fail: Callable[[str, BaseException | str], None],
) -> list[PublishedFile]:
    """Write the batch's metric history entries (in file order), load its validated rows in one
    ``load_files`` call, then move each loaded file's lake outputs into place. A file that fails has
    its staged outputs removed, its metric history entry put back, and its published outputs and
    warehouse rows as they were (a failure while moving the outputs, after the warehouse commit, is
    repaired by running the file again: every step replaces the file's earlier outputs)."""
    fingerprint = ruleset_fingerprint(quality_job.ruleset_text())
    rules = list(quality_job.ruleset().rules)
    recordings: dict[str, AbstractContextManager[None]] = {}
    ready: list[StagedFile] = []
    for staged_file in staged_files:
        result = staged_file.result
        entry = FileQuality(
            source_file=result.source_file,
            file_version=staged_file.file_version,
            run_id=context.run.run_id,
            ruleset_fingerprint=fingerprint,
            rule_outcomes=result.rule_outcomes,
            rules=rules,
            analyzer_metrics={**result.analyzer_metrics, **job_cost_metrics(result.job_cost)},
        )
        recording = metric_store.recording(entry)
        try:
            recording.__enter__()
        except Exception as error:
            remove_staged(lake, staged_file.staged)
            fail(result.source_file, error)
            continue
        recordings[result.source_file] = recording
        ready.append(staged_file)
    tables = [
        ValidatedTable(f.source_file, lake.uri(f.staged.validated), f.result.validated_rows)
        for f in ready
    ]
    try:
        loaded = warehouse.load_files(tables) if tables else {}
    except Exception as error:  # the batch's load failed as a whole: each file fails with it
        loaded = {table.source_file: error for table in tables}
    published = []
    for staged_file in ready:
        source_file, result = staged_file.source_file, staged_file.result
        final = final_outputs(lake, source_file)
        rows = loaded.get(source_file)
        try:
            if rows is None:
                raise QualityJobFailed(
                    f"{source_file}: the warehouse did not load it; run it again"
                )
            if isinstance(rows, Exception):
                raise rows
            publish_outputs(lake, staged_file.staged, final)
        except Exception as error:
            fail(source_file, error)
            # Best effort: the lake may be what failed (an endpoint gone), and this file's failure
            # must not stop the batch's other files; the next run's sweep removes what is left.
            with suppress(Exception):
                recordings[source_file].__exit__(type(error), error, error.__traceback__)
            with suppress(Exception):
                remove_staged(lake, staged_file.staged)
            continue
        recordings[source_file].__exit__(None, None, None)
        validated = ValidatedTable(source_file, lake.uri(final.validated), result.validated_rows)
        published.append(
            PublishedFile(result=result, rows_loaded=rows, outputs=final, validated=validated)
        )
    return published


def failure_message(source_file: str, error: BaseException | str) -> str:
    """One or two lines naming the user's file and what went wrong (no traceback)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if source_file in text else f"{source_file}: {text}"


def file_materializations(
    lake: Lake, warehouse: Warehouse, published: PublishedFile
) -> Iterator[dg.AssetMaterialization]:
    """The four per-file materializations, reported once the file's outputs are published."""
    result, source_file = published.result, published.result.source_file
    yield dg.AssetMaterialization(
        "validated_movies",
        partition=source_file,
        metadata={
            "dagster/row_count": result.validated_rows,
            "rows_read": result.rows_read,
            "good_rows": result.validated_rows,
            "bad_rows": result.bad_rows,
            "rule_passing_rows": result.good_rows,
            "contract_rejected_rows": result.contract_rejected,
            "engine": result.engine,
            "uri": dg.MetadataValue.path(published.validated.uri),
            "reference": dg.MetadataValue.json(published.validated.as_metadata()),
            **job_run_metadata(result),
        },
    )
    yield dg.AssetMaterialization(
        "bad_records",
        partition=source_file,
        metadata={
            "dagster/row_count": result.bad_rows,
            "contract_rejected_rows": result.contract_rejected,
            "uri": dg.MetadataValue.path(lake.uri(published.outputs.bad_records)),
            "row_level_columns": ", ".join(ROW_LEVEL_COLUMNS),
        },
    )
    yield dg.AssetMaterialization(
        "rule_outcomes",
        partition=source_file,
        metadata={
            "uri": dg.MetadataValue.path(lake.uri(published.outputs.rule_outcomes)),
            "rules": len(result.rule_outcomes),
            "rules_failed": sum(o["Outcome"] != "Passed" for o in result.rule_outcomes),
            "rule_outcomes": rule_outcomes_table(result.rule_outcomes),
            "rule_outcomes_json": dg.MetadataValue.json(result.rule_outcomes),
            **rule_metrics_metadata(result.rule_outcomes),
        },
    )
    yield dg.AssetMaterialization(
        "imdb_movies_rating",
        partition=source_file,
        metadata={
            "dagster/table_name": warehouse.qualified_table,
            "dagster/row_count": published.rows_loaded,
            "rows_loaded": published.rows_loaded,
        },
    )


def job_run_metadata(result: QualityRunResult) -> dict[str, Any]:
    """The job run a file was evaluated in (Glue): its id, facts and logs, and the file's share (by
    input bytes) of the run's DPU-seconds and estimated cost."""
    run = result.extra.get("glue_job_run")
    if not run:
        return {}
    return {
        "glue_job_name": result.extra["AWS Glue Job Name"],
        "glue_job_run_id": run["job_run_id"],
        "glue_job_run": dg.MetadataValue.json(run),
        "glue_logs": dg.MetadataValue.url(run["logs_url"]),
        "glue_log_group": run["log_group"],
        "glue_log_stream": run["log_stream"],
        "glue_cost_share": result.extra["glue_cost_share"],
        "glue_dpu_seconds": result.job_cost["DPUSeconds"],
        "glue_estimated_cost_usd": result.job_cost["EstimatedCostUSD"],
    }


def build_quality_gate(rules: Sequence[Any]) -> dg.AssetsDefinition:
    """The quality gate and warehouse load, with one per-file asset check per rule of the ruleset in
    force (``rules``: the parsed rules, or their texts)."""
    rules = list(rules)
    catalog_key = movies_catalog_table.key

    @dg.multi_asset(
        name="quality_gate",
        partitions_def=movie_files,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
        deps=[movies_catalog_table],
        outs={
            "validated_movies": dg.AssetOut(
                dagster_type=dg.Nothing,
                is_required=False,
                group_name="quality",
                kinds={"parquet"},
                description=(
                    "Good rows of the file in the warehouse types: a Parquet table in the lake "
                    "(validated_movies/source_file=<file>/), checked against the warehouse contract "
                    "with pandera where the rows are. Its materialization carries the reference "
                    "(uri, row count, columns), never the rows."
                ),
                metadata={
                    "dagster/column_schema": VALIDATED_COLUMN_SCHEMA,
                    "contract": "pandera schema validated_movies (quality_movies/contract.py)",
                },
            ),
            "bad_records": dg.AssetOut(
                dagster_type=dg.Nothing,
                is_required=False,
                group_name="quality",
                kinds={"json"},
                description=(
                    "Rows that failed a rule or broke the warehouse contract, with Glue's row-level "
                    "outcome columns (JSON Lines); contract reasons start with 'Contract:'."
                ),
            ),
            "rule_outcomes": dg.AssetOut(
                dagster_type=dg.Nothing,
                is_required=False,
                group_name="quality",
                kinds={"json"},
                description="Glue-shaped outcome of each rule for the file (JSON Lines).",
            ),
            "imdb_movies_rating": dg.AssetOut(
                dagster_type=dg.Nothing,
                is_required=False,
                group_name="warehouse",
                kinds={"sql"},
                description=(
                    "movies.imdb_movies_rating: the file's validated rows, loaded from the lake in one "
                    "transaction; loading a file again replaces its rows."
                ),
                metadata={"dagster/column_schema": VALIDATED_COLUMN_SCHEMA},
                freshness_policy=dg.FreshnessPolicy.time_window(
                    fail_window=timedelta(days=2), warn_window=timedelta(days=1)
                ),
            ),
        },
        internal_asset_deps={
            "validated_movies": {catalog_key},
            "bad_records": {catalog_key},
            "rule_outcomes": {catalog_key},
            "imdb_movies_rating": {dg.AssetKey("validated_movies")},
        },
        check_specs=[*rule_check_specs(rules), conservation_check_spec],
    )
    def quality_gate(
        context: dg.AssetExecutionContext,
        lake: Lake,
        catalog: Catalog,
        quality_job: QualityJobRunner,
        warehouse: Warehouse,
        metric_store: MetricStore,
        quality_metrics: QualityMetrics,
    ) -> Iterator:
        """Per file: ruleset and contract into staged outputs; the contract checked over all staged
        files at once; then per file, warehouse load from the lake and the outputs together."""
        problem = quality_job.ruleset_problem()
        if problem:  # no file's fault: they stay pending until the ruleset is fixed
            raise dg.Failure(description=problem, metadata={"failure_kind": RULESET})
        swept = quality_job.sweep(lake)
        if swept:
            context.log.info(f"removed {len(swept)} leftovers of interrupted runs")
        failed: dict[str, str] = {}
        kinds: dict[str, str] = {}

        def fail(source_file: str, error: BaseException | str) -> None:
            failed[source_file] = failure_message(source_file, error)
            kinds[source_file] = DATA if isinstance(error, str) else failure_kind(error)
            context.log.error(f"{failed[source_file]} ({kinds[source_file]} failure)")

        files = list(context.partition_keys)
        held = ExitStack()
        try:
            run_inputs = RunInputs(catalog_column_types(catalog), metric_store.frame())
            held.enter_context(warehouse.kept_open())
        except Exception as error:  # e.g. a locked warehouse: every file of the run fails with it
            for source_file in files:
                fail(source_file, error)
            files = []
        prepared: list[FileToEvaluate] = []
        batches: deque[list[StagedFile]] = deque()
        try:
            for source_file in files:
                try:
                    prepared.append(prepare_file(lake, catalog, source_file))
                except Exception as error:
                    fail(source_file, error)
            if prepared:
                batches.extend(
                    stage_batches(context, prepared, lake, quality_job, run_inputs, warehouse, fail)
                )
            while batches:
                broken = quality_job.check_contract(lake, [f.result for f in batches[0]])
                for staged_file in [f for f in batches[0] if f.source_file in broken]:
                    batches[0].remove(staged_file)
                    remove_staged(lake, staged_file.staged)
                    fail(staged_file.source_file, broken[staged_file.source_file])
                published_files = load_and_publish(
                    context, batches[0], lake, quality_job, warehouse, metric_store, fail
                )
                batches.popleft()
                for published in published_files:
                    result = published.result
                    quality_metrics.publish(
                        result.source_file, result.rule_outcomes, result.job_cost
                    )
                    yield from file_materializations(lake, warehouse, published)
                    yield from rule_check_results(
                        rules, result.rule_outcomes, partition=result.source_file
                    )
                    yield conservation_check_result(
                        result.rows_read,
                        result.validated_rows,
                        result.bad_rows,
                        partition=result.source_file,
                    )
        finally:
            for staged_batch in batches:
                for staged_file in staged_batch:
                    remove_staged(lake, staged_file.staged)
            held.close()
        if failed:
            raise dg.Failure(
                description="\n".join(failed.values()),
                metadata={
                    "failed_files": dg.MetadataValue.json(failed),
                    "failure_kinds": dg.MetadataValue.json(kinds),
                },
            )

    return quality_gate


RECOMMENDED_RULESET_KEY = "reports/recommended_ruleset.dqdl"
LATEST_FILES = 5  # the newest input files a recommendation is made from


def ruleset_diff(in_force: str, recommended: str) -> str:
    """A unified diff from the ruleset in force to the recommended one."""
    import difflib

    return "".join(
        difflib.unified_diff(
            in_force.splitlines(keepends=True),
            recommended.splitlines(keepends=True),
            "ruleset in force",
            "recommended",
        )
    )


def markdown_code_block(text: str, info: str = "") -> str:
    """``text`` as a fenced code block whose fence is longer than any run of backticks in it, so no
    line of it (a column name or value from the data) can close the block and become markup."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{fence}{info}\n{body}{fence}"


def latest_input_files(
    lake: Lake, folder: Path, count: int = LATEST_FILES
) -> tuple[Path, list[str]]:
    """The newest CSV files under input_data/ (at most ``count``) downloaded and joined into one CSV
    under ``folder``: the newest file's header, then the rows of every file with that same header."""
    objects = [o for o in lake.list_objects(lake.input_prefix) if o.key.lower().endswith(".csv")]
    if not objects:
        raise dg.Failure(f"no CSV file under {lake.uri(lake.input_prefix)} to recommend rules from")
    newest = sorted(objects, key=lambda o: (o.last_modified, o.key), reverse=True)[:count]
    joined = folder / "latest_input_files.csv"
    used: list[str] = []
    header: bytes | None = None
    with joined.open("wb") as out:
        for i, obj in enumerate(newest):
            lines = lake.download(obj.key, folder / f"input_{i}.csv").read_bytes().splitlines(True)
            first = lines[0].removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n") if lines else b""
            if header is None:
                header = first
                out.write(first + b"\n")
            if first != header:
                continue
            body = b"".join(lines[1:])
            out.write(body if body.endswith(b"\n") or not body else body + b"\n")
            used.append(obj.key)
    return joined, used


@dg.asset(
    group_name="quality",
    deps=[dg.AssetKey("raw_movies")],
    description="A starting ruleset recommended from the newest input files (as `quality-movies dq "
    "recommend` makes it), and how it differs from the ruleset in force. Materialize it by hand.",
)
def recommended_ruleset(lake: Lake, quality_job: QualityJobRunner) -> dg.MaterializeResult:
    """Profile the newest input files, store the recommended ruleset under reports/, show the diff."""
    from quality_movies.dq.recommend import profile_duckdb, recommend

    with tempfile.TemporaryDirectory(prefix="quality_movies_") as tmp:
        data, used = latest_input_files(lake, Path(tmp))
        profile = profile_duckdb(data)
        text = recommend(profile, source=f"the newest {len(used)} file(s) of input_data/")
        written = Path(tmp) / "recommended_ruleset.dqdl"
        written.write_text(text, encoding="utf-8")
        lake.upload(written, RECOMMENDED_RULESET_KEY)
    diff = ruleset_diff(quality_job.ruleset_text(), text)
    return dg.MaterializeResult(
        metadata={
            "ruleset": dg.MetadataValue.md(markdown_code_block(text)),
            "diff_against_ruleset_in_force": dg.MetadataValue.md(markdown_code_block(diff, "diff")),
            "files": dg.MetadataValue.json(used),
            "rows": profile.rows,
            "uri": dg.MetadataValue.path(lake.uri(RECOMMENDED_RULESET_KEY)),
        }
    )
