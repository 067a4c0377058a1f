"""Run-status sensors that announce each file's success or failure through the notifier."""

import os
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from quality_movies.notifications.resources import Notifier

NOTIFIED_TAG = "quality_movies/notified_by"
PARTITION_TAG = "dagster/partition"


def _value(metadata: dict, name: str) -> Any:
    entry = metadata.get(name)
    return getattr(entry, "value", entry)


def run_summary(instance: dg.DagsterInstance, run_id: str) -> dict[str, Any]:
    """Counts and rule outcomes a run recorded on its materializations."""
    summary: dict[str, Any] = {}
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.asset_materialization
        if materialization is None:
            continue
        name = materialization.asset_key.to_user_string()
        metadata = dict(materialization.metadata)
        if name == "validated_movies":
            for field in ("rows_read", "good_rows", "bad_rows"):
                summary[field] = _value(metadata, field)
            summary["validated_uri"] = str(_value(metadata, "uri"))
        elif name == "bad_records":
            summary["bad_records_uri"] = str(_value(metadata, "uri"))
        elif name == "rule_outcomes":
            summary["rule_outcomes_uri"] = str(_value(metadata, "uri"))
            summary["rule_outcomes"] = [
                {
                    "rule": o["Rule"],
                    "outcome": o["Outcome"],
                    "failure_reason": o.get("FailureReason"),
                }
                for o in _value(metadata, "rule_outcomes_json") or []
            ]
        elif name == "imdb_movies_rating":
            summary["rows_loaded"] = _value(metadata, "rows_loaded")
    return summary


def describe_error(error) -> str:
    """An error's message followed by its causes, innermost last (Dagster wraps user errors)."""
    parts = []
    while error is not None:
        parts.append(error.message.strip())
        error = error.cause
    return " caused by: ".join(parts) if parts else "unknown error"


def run_url(run_id: str) -> str:
    base = os.environ.get("QUALITY_MOVIES_DAGSTER_URL", "http://127.0.0.1:3000").rstrip("/")
    return f"{base}/runs/{run_id}"


def run_message(
    instance: dg.DagsterInstance, run: dg.DagsterRun, succeeded: bool, error: str | None = None
) -> tuple[str, dict[str, Any]]:
    """Subject and body of the notification for a finished run."""
    source_file = run.tags.get(PARTITION_TAG, "")
    status = "succeeded" if succeeded else "FAILED"
    message: dict[str, Any] = {
        "status": status,
        "run_id": run.run_id,
        "job": run.job_name,
        "file": source_file,
        "run_url": run_url(run.run_id),
        **run_summary(instance, run.run_id),
    }
    if error:
        message["error"] = error
    subject = f"quality_movies {status}: {source_file or run.job_name}"
    return subject[:100], message


def build_notification_sensors(job: UnresolvedAssetJobDefinition) -> list[dg.SensorDefinition]:
    """Success and failure sensors over ``job``; runs already announced by the CLI are skipped."""

    @dg.run_status_sensor(
        name="notify_on_success",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[job],
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def notify_on_success(context: dg.RunStatusSensorContext, notifier: Notifier) -> None:
        if context.dagster_run.tags.get(NOTIFIED_TAG):
            return
        subject, message = run_message(context.instance, context.dagster_run, succeeded=True)
        notifier.notify(subject, message)

    @dg.run_failure_sensor(
        name="notify_on_failure",
        monitored_jobs=[job],
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def notify_on_failure(context: dg.RunFailureSensorContext, notifier: Notifier) -> None:
        if context.dagster_run.tags.get(NOTIFIED_TAG):
            return
        error = context.failure_event.message if context.failure_event else None
        for step_event in context.get_step_failure_events():
            if step_event.event_specific_data and step_event.event_specific_data.error:
                error = (
                    f"{step_event.step_key}: {describe_error(step_event.event_specific_data.error)}"
                )
                break
        subject, message = run_message(context.instance, context.dagster_run, False, error)
        notifier.notify(subject, message)

    return [notify_on_success, notify_on_failure]
