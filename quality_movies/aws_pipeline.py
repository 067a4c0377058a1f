"""The whole pipeline for the files the AWS-native trigger hands the Glue job (``--pipeline true``).

The state machine crawls, then starts the Glue job on a batch; with ``--pipeline true`` the job does what
the Dagster path does after it, through the same functions: it claims each file version in the ledger
(S3, conditional writes), evaluates the claimed files into staged outputs (``stage_batches``, the
ruleset in force, the reference data under ``reference_data/``, the catalog's column types and the metric
history), loads the batch into the warehouse in one ``load_files`` call while recording each file's
metric history entry (``load_and_publish``), publishes the outputs, settles the ledger and announces each
file once with the message the Dagster path sends (``pipeline_runs.file_message``).

A version already in the ledger (processed, failed, or claimed by the other trigger) is skipped: a
replayed event, or a deployment running both triggers, processes and announces it once. A claim of an
earlier job run left untouched for the ledger's ``stale_claim_seconds`` (that run was killed) is
taken over.
"""

import logging
import os
import tempfile
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from quality_movies.pipeline_runs import FileOutcome, Settled, file_message
from quality_movies.quality.assets import (
    PublishedFile,
    RunInputs,
    StagedFile,
    failure_message,
    load_and_publish,
    prepare_file,
    remove_staged,
    stage_batches,
)
from quality_movies.quality.engine_inputs import catalog_column_types
from quality_movies.quality.resources import FileToEvaluate
from quality_movies.runs.resources import PIPELINE_OWNER_PREFIX

logger = logging.getLogger("quality_movies.aws_pipeline")

OWNER_PREFIX = PIPELINE_OWNER_PREFIX
UNKNOWN_VERSION = "unknown"
# Job arguments (``--name value``) that configure the pipeline in the job, and the variable of each.
PIPELINE_ARGUMENTS = {
    "redshift_workgroup": "QUALITY_MOVIES_REDSHIFT_WORKGROUP",
    "redshift_cluster": "QUALITY_MOVIES_REDSHIFT_CLUSTER",
    "redshift_database": "QUALITY_MOVIES_REDSHIFT_DATABASE",
    "redshift_secret_arn": "QUALITY_MOVIES_REDSHIFT_SECRET_ARN",
    "redshift_db_user": "QUALITY_MOVIES_REDSHIFT_DB_USER",
    "redshift_iam_role_arn": "QUALITY_MOVIES_REDSHIFT_IAM_ROLE_ARN",
    "sns_topic_arn": "QUALITY_MOVIES_SNS_TOPIC_ARN",
    "stale_claim_seconds": "QUALITY_MOVIES_STALE_CLAIM_SECONDS",
    "bucket": "QUALITY_MOVIES_BUCKET",
    "endpoint_url": "QUALITY_MOVIES_AWS_ENDPOINT_URL",
}


@dataclass(frozen=True)
class TriggerRun:
    """One execution of the AWS-native trigger, where the gate's functions expect a Dagster run
    context (``context.run.run_id``, ``context.log``) and a run (``run_id``, ``job_name``)."""

    run_id: str
    job_name: str
    url: str = ""
    log: logging.Logger = field(default=logger, compare=False)

    @property
    def run(self) -> "TriggerRun":
        return self

    @property
    def owner(self) -> str:
        """Its ledger owner."""
        return f"{OWNER_PREFIX}{self.run_id}"


@dataclass
class PipelineResult:
    """The files settled by this execution (with their message) and those it left to their owner."""

    settled: list[Settled] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    # files settled here whose notification could not be published, each with the reason
    unannounced: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        """JSON for the job's ``--report_key``: each file's message, or why it was skipped."""
        return {
            "files": {
                **{s.outcome.source_file: s.message for s in self.settled},
                **{name: {"skipped": reason} for name, reason in self.skipped.items()},
            }
        }


def file_summary(published: PublishedFile, lake: Any) -> dict[str, Any]:
    """What the Dagster path's notification says about a loaded file (``pipeline_runs._summaries``
    reads the same values back from the gate's materializations)."""
    result = published.result
    return {
        "rows_read": result.rows_read,
        "good_rows": result.validated_rows,
        "bad_rows": result.bad_rows,
        "validated_uri": published.validated.uri,
        "bad_records_uri": lake.uri(published.outputs.bad_records),
        "rule_outcomes_uri": lake.uri(published.outputs.rule_outcomes),
        "rule_outcomes": [
            {"rule": o["Rule"], "outcome": o["Outcome"], "failure_reason": o.get("FailureReason")}
            for o in result.rule_outcomes
        ],
        "rows_loaded": published.rows_loaded,
    }


def _gate(
    run: TriggerRun, resources: Mapping[str, Any], files: Sequence[FileToEvaluate]
) -> tuple[dict[str, PublishedFile], dict[str, str]]:
    """The quality gate's body over ``files``: (published files, failure message per failed file)."""
    lake, quality_job, warehouse = (resources[k] for k in ("lake", "quality_job", "warehouse"))
    metric_store, quality_metrics = resources["metric_store"], resources["quality_metrics"]
    failed: dict[str, str] = {}
    published: dict[str, PublishedFile] = {}

    def fail(source_file: str, error: BaseException | str) -> None:
        failed[source_file] = failure_message(source_file, error)
        run.log.error(failed[source_file])

    batches: deque[list[StagedFile]] = deque()
    try:
        quality_job.sweep(lake)
        with warehouse.kept_open():
            run_inputs = RunInputs(catalog_column_types(resources["catalog"]), metric_store.frame())
            batches.extend(
                stage_batches(run, files, lake, quality_job, run_inputs, warehouse, fail)
            )
            while batches:
                broken = quality_job.check_contract(lake, [f.result for f in batches[0]])
                for staged_file in [f for f in batches[0] if f.source_file in broken]:
                    batches[0].remove(staged_file)
                    remove_staged(lake, staged_file.staged)
                    fail(staged_file.source_file, broken[staged_file.source_file])
                done = load_and_publish(
                    run, batches[0], lake, quality_job, warehouse, metric_store, fail
                )
                batches.popleft()
                for file in done:
                    published[file.result.source_file] = file
                    result = file.result
                    try:
                        quality_metrics.publish(
                            result.source_file, result.rule_outcomes, result.job_cost
                        )
                    except Exception as error:  # loaded: the metrics are not its outcome
                        run.log.warning(f"{result.source_file}: metrics not published: {error}")
    except Exception as error:  # e.g. the catalog or warehouse unreachable: the rest fail with it
        for file in files:
            if file.source_file not in published and file.source_file not in failed:
                fail(file.source_file, error)
    finally:
        for staged_batch in batches:
            for staged_file in staged_batch:
                remove_staged(lake, staged_file.staged)
    return published, failed


def run_pipeline(
    run: TriggerRun, resources: Mapping[str, Any], source_files: Sequence[str]
) -> PipelineResult:
    """Claim, evaluate, load, record and announce ``source_files`` (names under the input prefix) as
    the Dagster path does. A notification that could not be published is in ``unannounced`` (the
    job then fails, so the state machine announces the failure)."""
    lake, ledger, notifier = resources["lake"], resources["ledger"], resources["notifier"]
    outcome = PipelineResult()
    versions: dict[str, str] = {}
    failed: dict[str, str] = {}
    for source_file in dict.fromkeys(source_files):
        try:
            versions[source_file] = lake.head(lake.input_key(source_file)).etag
        except Exception as error:
            versions[source_file] = UNKNOWN_VERSION
            failed[source_file] = failure_message(
                source_file, f"{source_file}: cannot read its input ({error}); upload it again"
            )
    wanted = [(lake.input_key(f), etag) for f, etag in versions.items() if f not in failed]
    keys = {key for key, _ in wanted}
    latest = ledger.latest()
    for stale in ledger.release_stale(OWNER_PREFIX, {k: v for k, v in latest.items() if k in keys}):
        run.log.warning(f"{stale.input_key}: taking over the claim {stale.owner} left")
    claimed = {key for key, _ in ledger.claim(wanted, run.owner)}
    latest = ledger.latest()
    files: list[FileToEvaluate] = []
    for source_file, etag in versions.items():
        input_key = lake.input_key(source_file)
        if source_file in failed:
            continue
        if input_key not in claimed:
            record = latest.get(input_key)
            state = f"{record.state} by {record.owner or 'a run'}" if record else "claimed"
            outcome.skipped[source_file] = f"version {etag} already {state}"
            continue
        try:
            files.append(
                replace(prepare_file(lake, resources["catalog"], source_file), file_version=etag)
            )
        except Exception as error:
            failed[source_file] = failure_message(source_file, error)
    published, gate_failed = _gate(run, resources, files) if files else ({}, {})
    failed.update(gate_failed)
    for source_file in [f for f in versions if f not in outcome.skipped]:
        if source_file in published:
            result = FileOutcome(source_file, True, "", file_summary(published[source_file], lake))
        else:
            reason = failed.get(source_file, f"{source_file}: the file was not loaded")
            result = FileOutcome(source_file, False, reason, {})
        subject, message = file_message(run, result, run.url)
        state = "processed" if result.processed else "failed"
        input_key = lake.input_key(source_file)
        first = ledger.finish(input_key, versions[source_file], state, run.run_id, result.reason)
        if first:
            try:
                notifier.notify(subject, message)
            except Exception as error:
                outcome.unannounced.append(failure_message(source_file, f"not announced: {error}"))
        outcome.settled.append(Settled(result, subject, message, first))
    return outcome


def pipeline_environ(options: Mapping[str, str], ruleset_path: str) -> dict[str, str]:
    """The variables ``environment.aws_resources`` reads, from the job's arguments."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QUALITY_MOVIES_")}
    environ.update(
        {
            "QUALITY_MOVIES_ENV": "aws",
            "QUALITY_MOVIES_RULESET": ruleset_path,
            "QUALITY_MOVIES_HOME": tempfile.mkdtemp(prefix="quality-movies-home-"),
        }
    )
    for name, variable in PIPELINE_ARGUMENTS.items():
        if options.get(name):
            environ[variable] = options[name]
    return environ


def missing_arguments(options: Mapping[str, str]) -> list[str]:
    """The pipeline's required job arguments that are absent or empty."""
    required = {
        "--redshift_workgroup (or --redshift_cluster)": ("redshift_workgroup", "redshift_cluster"),
        "--redshift_iam_role_arn": ("redshift_iam_role_arn",),
        "--sns_topic_arn": ("sns_topic_arn",),
    }
    return [name for name, keys in required.items() if not any(options.get(k) for k in keys)]


def job_resources(options: Mapping[str, str], ruleset_text: str) -> dict[str, Any]:
    """The Dagster path's resources, built in the Glue job from its arguments and its ruleset in force
    (written to a local file); the quality job evaluates in the job's active Spark session."""
    from dagster_pyspark import PySparkResource

    from quality_movies.quality.glue_job import QualityJobError

    missing = missing_arguments(options)
    if missing:
        raise QualityJobError(
            f"job argument {', '.join(missing)} is empty: the pipeline loads into Redshift and "
            "announces on SNS; deploy the stack with a RedshiftTarget (or pass the arguments)"
        )
    from quality_movies.environment import Environment, aws_resources
    from quality_movies.quality.resources import SparkQualityJobRunner

    path = Path(tempfile.mkdtemp(prefix="quality-movies-ruleset-")) / "ruleset.dqdl"
    path.write_text(ruleset_text, encoding="utf-8")
    env = Environment.from_env(pipeline_environ(options, str(path)))
    resources = aws_resources(env)
    resources["quality_job"] = SparkQualityJobRunner(
        ruleset_path=env.ruleset_path,
        pyspark=PySparkResource(spark_config={}),
        work_dir=str(env.home / "work"),
        batch_max_files=env.settings.batch_max_files,
        batch_max_bytes=env.settings.batch_max_bytes,
    )
    return resources


def run_job_pipeline(options: Mapping[str, str], arguments: Any, s3: Any) -> dict[str, Any]:
    """The Glue job's ``--pipeline true`` run over the files of its manifest (``arguments``, the
    resolved ``glue_job.JobArguments``): the report goes to ``--report_key``; raises when a file
    could not be announced, so the execution ends failed."""
    from quality_movies.quality.glue_job import (
        QualityJobError,
        packaged_ruleset_text,
        read_text_uri,
        write_report,
    )

    ruleset_text = (
        read_text_uri(arguments.ruleset_uri, s3)
        if arguments.ruleset_uri
        else packaged_ruleset_text()
    )
    run = TriggerRun(
        run_id=options.get("run_id") or options.get("JOB_RUN_ID") or uuid.uuid4().hex,
        job_name=arguments.job_name or "quality-movies-dq-job",
        url=options.get("run_url", ""),
    )
    result = run_pipeline(
        run, job_resources(options, ruleset_text), [f.source_file for f in arguments.files]
    )
    report = result.report()
    write_report(arguments, report, s3)
    if result.unannounced:
        raise QualityJobError("; ".join(result.unannounced))
    return report
