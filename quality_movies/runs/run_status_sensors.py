"""Run-status sensors that settle each file of a finished run in the ledger and announce it once.

They watch every run of the code location that touches the per-file assets: the ingest job started
by the new-files sensor and materializations started by hand in the UI. A file the CLI (or another
sensor tick) already announced is not announced again: the ledger lets one caller record it.
"""

import dagster as dg

from quality_movies.lake import Lake
from quality_movies.notifications.resources import Notifier
from quality_movies.pipeline_runs import run_url, settle_run, touches_files
from quality_movies.runs.resources import Ledger

LAUNCHED_BY_TAG = "quality_movies/launched_by"


def settle(
    context: dg.RunStatusSensorContext, ledger: Ledger, lake: Lake, notifier: Notifier
) -> None:
    run = context.dagster_run
    if not touches_files(run):
        return
    for settled in settle_run(context.instance, run, ledger, lake, notifier, run_url(run.run_id)):
        if settled.announced:
            context.log.info(settled.subject)
        elif settled.undelivered:
            context.log.warning(f"{settled.subject} not sent ({settled.undelivered}); sent later")


def build_notification_sensors() -> list[dg.SensorDefinition]:
    """Success and failure sensors over every run of this code location."""

    @dg.run_status_sensor(
        name="notify_on_success",
        run_status=dg.DagsterRunStatus.SUCCESS,
        minimum_interval_seconds=5,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Records each file of a successful run in the ledger and announces it once.",
    )
    def notify_on_success(
        context: dg.RunStatusSensorContext, ledger: Ledger, lake: Lake, notifier: Notifier
    ) -> None:
        settle(context, ledger, lake, notifier)

    @dg.run_failure_sensor(
        name="notify_on_failure",
        minimum_interval_seconds=5,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Records each file of a failed run (processed or failed) and announces it once.",
    )
    def notify_on_failure(
        context: dg.RunFailureSensorContext, ledger: Ledger, lake: Lake, notifier: Notifier
    ) -> None:
        settle(context, ledger, lake, notifier)

    return [notify_on_success, notify_on_failure]
