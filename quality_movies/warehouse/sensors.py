"""Refresh the yearly view after each file lands in the warehouse."""

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def build_refresh_sensor(
    ingest_job: UnresolvedAssetJobDefinition, refresh_job: UnresolvedAssetJobDefinition
) -> dg.SensorDefinition:
    """Requests ``refresh_job`` once per successful ``ingest_job`` run."""

    @dg.run_status_sensor(
        name="refresh_after_load",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[ingest_job],
        request_job=refresh_job,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def refresh_after_load(context: dg.RunStatusSensorContext) -> dg.RunRequest:
        return dg.RunRequest(run_key=f"refresh-after-{context.dagster_run.run_id}")

    return refresh_after_load
