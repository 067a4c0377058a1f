"""A sensor that claims new or changed CSVs under ``input_data/`` in the ledger and runs them in batches."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import dagster as dg

from quality_movies.dq.input_format import is_input_file
from quality_movies.lake import Lake, LakeObject
from quality_movies.notifications.resources import Notifier
from quality_movies.partitions import movie_files
from quality_movies.pipeline_runs import (
    announce_pending,
    dead_cli_owner,
    partition_ranges,
    range_tags,
    run_key,
    run_url,
    settle_run,
)
from quality_movies.quality.resources import QualityJobRunner
from quality_movies.runs.resources import PIPELINE_OWNER_PREFIX, Ledger

CLAIM_TAG = "quality_movies/claim"
STALE_CLAIM_AFTER = timedelta(minutes=10)
FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def run_in_flight(instance: dg.DagsterInstance, job_name: str) -> dg.DagsterRun | None:
    """A run of ``job_name`` queued or running (and updated within ``STALE_CLAIM_AFTER``, so a run
    whose process died unseen does not hold the sensor back)."""
    recent = datetime.now(UTC) - STALE_CLAIM_AFTER
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=job_name, statuses=IN_FLIGHT, updated_after=recent), limit=1
    )
    return runs[0] if runs else None


@dataclass
class FilePlan:
    """What to do about the objects under the input prefix."""

    to_process: list[LakeObject] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def plan_input_files(objects: list[LakeObject], latest: dict[str, str]) -> FilePlan:
    """Pick the CSV objects (``.csv``, ``.csv.gz``) whose ETag differs from the latest one the ledger holds for their key.

    Keyed by object key and ETag (never by LastModified, whose 1 s resolution hides files written in
    the same second), so a changed file is processed again and an unchanged one never is.
    """
    plan = FilePlan()
    for obj in sorted(objects, key=lambda o: o.key):
        if not is_input_file(obj.key):
            plan.ignored.append(obj.key)
        elif latest.get(obj.key) != obj.etag:
            plan.to_process.append(obj)
    return plan


def batch_run_requests(
    lake: Lake,
    known: list[str],
    claimed: list[LakeObject],
    owner: str,
    attempts: Mapping[str, int] | None = None,
) -> tuple[list[str], list[dg.RunRequest]]:
    """New partitions to add, and one run request per contiguous range of the claimed files (its run
    key names each version and its earlier attempts, so a retry is a new run)."""
    files = [lake.source_file(o.key) for o in claimed]
    new_partitions = [f for f in dict.fromkeys(files) if f not in set(known)]
    ordered = [*known, *new_partitions]
    by_file = {lake.source_file(o.key): o for o in claimed}
    requests = []
    for first, last in partition_ranges(ordered, files):
        span = ordered[ordered.index(first) : ordered.index(last) + 1]
        requests.append(
            dg.RunRequest(
                run_key=run_key(_attempt(by_file[f], attempts) for f in span),
                tags={**range_tags(first, last), CLAIM_TAG: owner},
            )
        )
    return new_partitions, requests


def _attempt(obj: LakeObject, attempts: Mapping[str, int] | None) -> tuple[str, str]:
    """(key, ETag) of a version, with its count of earlier attempts when it is a retry."""
    earlier = (attempts or {}).get(obj.key, 0)
    return obj.key, f"{obj.etag}#{earlier}" if earlier else obj.etag


def release_dead_claims(ledger: Ledger) -> int:
    """Give back the claims of CLI runs of this host that were killed before settling them."""
    released = 0
    for owner in {v.owner for v in ledger.claims_by("cli:")}:
        if dead_cli_owner(owner):
            released += ledger.release(
                [(v.input_key, v.etag) for v in ledger.claims_by(owner)], owner
            )
    return released


def reconcile_claims(
    context: dg.SensorEvaluationContext, ledger: Ledger, lake: Lake, notifier: Notifier
) -> None:
    """Settle or release this sensor's old claims whose run ended unseen or never started, and the
    claims of killed CLI runs."""
    if release_dead_claims(ledger):
        context.log.warning("released the files of a killed quality-movies run")
    for stale in ledger.release_stale(PIPELINE_OWNER_PREFIX):
        context.log.warning(
            f"released {stale.input_key}: claimed by {stale.owner} at {stale.updated_at}, whose "
            "job run ended without settling it"
        )
    for owed in announce_pending(context.instance, ledger, lake, notifier):
        context.log.info(f"{owed.subject} (sent late)" if owed.announced else owed.undelivered)
    now = datetime.now(UTC)
    for owner in {v.owner for v in ledger.claims_by("sensor:")}:
        claims = ledger.claims_by(owner)
        if all(now - datetime.fromisoformat(v.updated_at) < STALE_CLAIM_AFTER for v in claims):
            continue
        runs = context.instance.get_runs(filters=dg.RunsFilter(tags={CLAIM_TAG: owner}))
        if not runs:
            ledger.release([(v.input_key, v.etag) for v in claims], owner)
            context.log.warning(f"released {len(claims)} file(s) whose run never started")
        for run in runs:
            if run.status in FINISHED:
                settle_run(context.instance, run, ledger, lake, notifier, run_url(run.run_id))


def build_new_files_sensor(job_name: str) -> dg.SensorDefinition:
    """The sensor over the lake's input prefix, requesting ``job_name`` for the new or changed files."""

    @dg.sensor(
        name="new_movie_files",
        job_name=job_name,
        minimum_interval_seconds=2,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Claims new or changed CSVs under input_data/ and runs them in batches.",
    )
    def new_movie_files(
        context: dg.SensorEvaluationContext,
        lake: Lake,
        ledger: Ledger,
        notifier: Notifier,
        quality_job: QualityJobRunner,
    ) -> dg.SensorResult:
        reconcile_claims(context, ledger, lake, notifier)
        problem = quality_job.ruleset_problem()
        if problem:  # nothing is claimed: every file stays pending until the ruleset is fixed
            return dg.SensorResult(skip_reason=f"{problem}; fix it and the pending files run")
        # One run in flight at a time: the files that arrive meanwhile go together into the next
        # run (one batch, one warehouse load) instead of a run per tick queueing behind it.
        running = run_in_flight(context.instance, job_name)
        if running is not None:
            return dg.SensorResult(
                skip_reason=f"run {running.run_id[:8]} is in flight: new files wait for the next run"
            )
        latest = ledger.latest()
        plan = plan_input_files(lake.input_files(), ledger.settled_etags(latest))
        for key in plan.ignored:
            context.log.warning(
                f"ignored {lake.uri(key)}: only .csv and .csv.gz files are ingested"
            )
        attempts = {k: v.attempts for k, v in latest.items() if v.state == "retrying"}
        owner = "sensor:" + run_key(_attempt(o, attempts) for o in plan.to_process)
        claimed_versions = set(ledger.claim([(o.key, o.etag) for o in plan.to_process], owner))
        claimed = [o for o in plan.to_process if (o.key, o.etag) in claimed_versions]
        known = context.instance.get_dynamic_partitions(movie_files.name)
        new_partitions, requests = batch_run_requests(lake, known, claimed, owner, attempts)
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=(
                [movie_files.build_add_request(new_partitions)] if new_partitions else []
            ),
            skip_reason=None
            if requests
            else f"no new or changed CSV files ({len(plan.ignored)} other keys ignored)",
        )

    return new_movie_files
