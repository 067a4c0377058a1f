"""The quality gate: per file, the ruleset and the warehouse contract split the rows into validated movies
and bad records, the warehouse loads the validated rows from the lake, and only then are the file's
outputs published, together.

One step per run, over one or many files (``context.partition_keys``): each file is staged, loaded and
published on its own, so a file that fails leaves nothing half-written and does not stop the others.
"""

import json
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import dagster as dg
import pandas as pd

from quality_movies.dq import ROW_LEVEL_COLUMNS
from quality_movies.ingestion.assets import movies_catalog_table
from quality_movies.ingestion.resources import Catalog, Lake
from quality_movies.monitoring.history import FileQuality, history_rows, now, ruleset_fingerprint
from quality_movies.monitoring.resources import MetricStore, QualityMetrics
from quality_movies.partitions import movie_files
from quality_movies.quality.checks import (
    conservation_check_result,
    conservation_check_spec,
    rule_check_results,
    rule_check_specs,
    rule_metrics_metadata,
)
from quality_movies.quality.engine_inputs import (
    batch_history,
    catalog_column_types,
    engine_inputs,
)
from quality_movies.quality.resources import (
    FileOutputs,
    QualityJobFailed,
    QualityJobRunner,
    QualityRunResult,
    final_outputs,
    staged_outputs,
    staging_token,
)
from quality_movies.runs.faults import DATA, RULESET, failure_kind
from quality_movies.warehouse.contract import (
    CONTRACT,
    SOURCE_FILE_COLUMN,
    ValidatedTable,
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


class RowsNotConserved(RuntimeError):
    """Rows read differ from validated plus bad rows: the file is not loaded."""


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


def stage_file(
    context: dg.AssetExecutionContext,
    source_file: str,
    lake: Lake,
    catalog: Catalog,
    quality_job: QualityJobRunner,
    run_inputs: RunInputs,
    warehouse: Warehouse,
    earlier: Sequence[StagedFile] = (),
) -> StagedFile:
    """Run the ruleset and the contract over one file into staged outputs; every row must be
    accounted for. On failure nothing of the attempt is left."""
    staged = staged_outputs(lake, source_file, staging_token())
    input_key = lake.input_key(source_file)
    file_version = lake.head(input_key).etag
    known, problem = catalog.inspection(input_key, file_version)
    if problem:
        raise QualityJobFailed(problem)
    try:
        with engine_inputs(
            lake,
            run_inputs.column_types,
            quality_job,
            warehouse,
            source_file,
            lambda: [lake.uri(f.staged.validated) for f in earlier],
        ) as inputs:
            history = batch_history(run_inputs.stored_history, earlier, source_file, file_version)
            result = quality_job.run(
                context,
                lake,
                source_file,
                staged,
                engine_options={"history": history, **inputs},
                inspected=known,
            )
        if not result.rows_conserved:
            raise RowsNotConserved(
                f"{source_file}: {result.rows_read} rows read but {result.validated_rows} validated "
                f"+ {result.bad_rows} bad; nothing was loaded, report this with the file"
            )
    except BaseException:
        remove_staged(lake, staged)
        raise
    return StagedFile(file_version=file_version, staged=staged, result=result)


def load_and_publish(
    context: dg.AssetExecutionContext,
    staged_file: StagedFile,
    lake: Lake,
    quality_job: QualityJobRunner,
    warehouse: Warehouse,
    metric_store: MetricStore,
) -> PublishedFile:
    """Write the file's metric history entry and warehouse rows, then move its lake outputs into
    place. On a failure, what was staged is removed, the metric history entry is put back, and the
    file's published outputs and warehouse rows stay as they were (a failure while moving the outputs,
    after the warehouse commit, is repaired by running the file again: every step replaces the file's
    earlier outputs)."""
    result, staged = staged_file.result, staged_file.staged
    source_file = result.source_file
    final = final_outputs(lake, source_file)
    try:
        entry = FileQuality(
            source_file=source_file,
            file_version=staged_file.file_version,
            run_id=context.run.run_id,
            ruleset_fingerprint=ruleset_fingerprint(quality_job.ruleset_text()),
            rule_outcomes=result.rule_outcomes,
            rules=list(quality_job.ruleset().rules),
            analyzer_metrics=result.analyzer_metrics,
        )
        with metric_store.recording(entry):
            loaded = warehouse.load_file(
                ValidatedTable(source_file, lake.uri(staged.validated), result.validated_rows)
            )
            publish_outputs(lake, staged, final)
    except BaseException:
        remove_staged(lake, staged)
        raise
    validated = ValidatedTable(source_file, lake.uri(final.validated), result.validated_rows)
    return PublishedFile(result=result, rows_loaded=loaded, outputs=final, validated=validated)


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
                    "contract": "pandera schema validated_movies (warehouse/contract.py)",
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

        staged_files: deque[StagedFile] = deque()
        files = list(context.partition_keys)
        held = ExitStack()
        try:
            run_inputs = RunInputs(catalog_column_types(catalog), metric_store.frame())
            held.enter_context(warehouse.kept_open())
        except Exception as error:  # e.g. a locked warehouse: every file of the run fails with it
            for source_file in files:
                fail(source_file, error)
            files = []
        try:
            for source_file in files:
                try:
                    staged_files.append(
                        stage_file(
                            context,
                            source_file,
                            lake,
                            catalog,
                            quality_job,
                            run_inputs,
                            warehouse,
                            staged_files,
                        )
                    )
                except Exception as error:
                    fail(source_file, error)
            broken = quality_job.check_contract(lake, [f.result for f in staged_files])
            while staged_files:
                staged_file = staged_files.popleft()
                source_file = staged_file.source_file
                if source_file in broken:
                    remove_staged(lake, staged_file.staged)
                    fail(source_file, broken[source_file])
                    continue
                try:
                    published = load_and_publish(
                        context, staged_file, lake, quality_job, warehouse, metric_store
                    )
                except Exception as error:
                    fail(source_file, error)
                    continue
                result = published.result
                quality_metrics.publish(source_file, result.rule_outcomes)
                yield from file_materializations(lake, warehouse, published)
                yield from rule_check_results(rules, result.rule_outcomes, partition=source_file)
                yield conservation_check_result(
                    result.rows_read,
                    result.validated_rows,
                    result.bad_rows,
                    partition=source_file,
                )
        finally:
            for staged_file in staged_files:
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
