"""Run-status sensors settle each file in the ledger and announce it once, naming counts, rules, cause."""

import dagster as dg

from quality_movies.ingestion.assets import raw_movies
from quality_movies.notifications.resources import LocalNotifier
from quality_movies.runs.run_status_sensors import build_notification_sensors
from quality_movies.sample import write_sample


def sensor_named(name: str) -> dg.RunStatusSensorDefinition:
    return next(s for s in build_notification_sensors() if s.name == name)


def last_event(result: dg.ExecuteInProcessResult, event_type: dg.DagsterEventType):
    return next(e for e in reversed(result.all_events) if e.event_type == event_type)


def settle(platform, result, notifier, status: str):
    event_type = (
        dg.DagsterEventType.RUN_SUCCESS if status == "success" else dg.DagsterEventType.RUN_FAILURE
    )
    context = dg.build_run_status_sensor_context(
        sensor_name=f"notify_on_{status}",
        dagster_instance=platform.instance,
        dagster_run=result.dagster_run,
        dagster_event=last_event(result, event_type),
        resources={"notifier": notifier, "ledger": platform.ledger, "lake": platform.lake},
    )
    if status == "failure":
        context = context.for_run_failure()
    sensor_named(f"notify_on_{status}")(context)


def test_success_is_recorded_and_announced_once_with_counts_and_rules(platform, tmp_path):
    stats = write_sample(tmp_path / "movies.csv", rows=60, seed=8)
    source = platform.ingest(stats.path)
    result = platform.run_file(source)  # as a materialization started by hand in the UI
    assert result.success
    notifier = LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl"))
    settle(platform, result, notifier, "success")
    settle(platform, result, notifier, "success")  # a second evaluation announces nothing
    [sent] = notifier.messages()
    assert sent["subject"] == "quality_movies succeeded: movies.csv"
    body = sent["message"]
    assert (body["rows_read"], body["good_rows"], body["bad_rows"]) == (
        60,
        stats.expected_good,
        stats.expected_bad,
    )
    assert body["rows_loaded"] == stats.expected_good
    assert 'ColumnValues "imdb_rating" between 8.5 and 10.3' in {
        o["rule"] for o in body["rule_outcomes"]
    }
    assert body["run_id"] == result.run_id and body["run_url"].endswith(result.run_id)
    record = platform.ledger.latest()[platform.lake.input_key(source)]
    assert (record.state, record.etag, record.run_id) == (
        "processed",
        platform.lake.head(platform.lake.input_key(source)).etag,
        result.run_id,
    )


def test_failure_names_the_file_and_the_cause_without_dagsters_wrapper(platform, tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text("Series_Title,IMDB_Rating,Series_Title\nFilm,9.1,Film\n")
    source = platform.ingest(broken)
    result = platform.run_file(source)
    assert not result.success
    notifier = LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl"))
    settle(platform, result, notifier, "failure")
    [sent] = notifier.messages()
    assert sent["subject"] == "quality_movies FAILED: broken.csv"
    error = sent["message"]["error"]
    assert "broken.csv" in error and "line 1" in error
    assert "Error occurred while executing" not in error and "Traceback" not in error
    assert platform.ledger.latest()[platform.lake.input_key(source)].state == "failed"


def test_a_run_of_upstream_assets_only_decides_nothing(platform, tmp_path):
    stats = write_sample(tmp_path / "movies.csv", rows=20, seed=4)
    source = platform.ingest(stats.path)
    platform.instance.add_dynamic_partitions("movie_files", [source])
    result = dg.materialize(
        [raw_movies],
        partition_key=source,
        instance=platform.instance,
        resources=platform.env.resources(),
    )
    assert result.success
    notifier = LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl"))
    settle(platform, result, notifier, "success")
    assert notifier.messages() == []
    assert platform.lake.input_key(source) not in platform.ledger.latest()
