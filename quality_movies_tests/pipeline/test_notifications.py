"""Run-status sensors send success and failure messages naming the file, counts, rules and cause."""

import dagster as dg

from quality_movies.jobs import ingest_movie_file
from quality_movies.notifications.resources import LocalNotifier
from quality_movies.notifications.sensors import build_notification_sensors
from quality_movies.sample import write_sample


def sensor_named(name: str) -> dg.RunStatusSensorDefinition:
    return next(s for s in build_notification_sensors(ingest_movie_file) if s.name == name)


def last_event(result: dg.ExecuteInProcessResult, event_type: dg.DagsterEventType):
    return next(e for e in reversed(result.all_events) if e.event_type == event_type)


def test_success_message_carries_counts_and_rule_outcomes(platform, tmp_path):
    stats = write_sample(tmp_path / "movies.csv", rows=60, seed=8)
    source = platform.ingest(stats.path)
    result = platform.run_file(source)
    assert result.success
    notifier = LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl"))
    context = dg.build_run_status_sensor_context(
        sensor_name="notify_on_success",
        dagster_instance=platform.instance,
        dagster_run=result.dagster_run,
        dagster_event=last_event(result, dg.DagsterEventType.RUN_SUCCESS),
        resources={"notifier": notifier},
    )
    sensor_named("notify_on_success")(context)
    [sent] = notifier.messages()
    assert sent["subject"] == "quality_movies succeeded: movies.csv"
    body = sent["message"]
    assert (body["rows_read"], body["good_rows"], body["bad_rows"]) == (
        60,
        stats.expected_good,
        stats.expected_bad,
    )
    assert body["rows_loaded"] == stats.expected_good
    assert {o["rule"] for o in body["rule_outcomes"]} >= {
        'ColumnValues "imdb_rating" between 8.5 and 10.3'
    }
    assert body["run_id"] == result.run_id and body["run_url"].endswith(result.run_id)


def test_failure_message_names_the_file_and_the_cause(platform, tmp_path):
    broken = tmp_path / "broken.csv"
    broken.write_text("Series_Title,IMDB_Rating,No_of_Votes\nFilm,9.0,many\n")
    source = platform.ingest(broken)
    result = platform.run_file(source)
    assert not result.success
    notifier = LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl"))
    context = dg.build_run_status_sensor_context(
        sensor_name="notify_on_failure",
        dagster_instance=platform.instance,
        dagster_run=result.dagster_run,
        dagster_event=last_event(result, dg.DagsterEventType.RUN_FAILURE),
        resources={"notifier": notifier},
    ).for_run_failure()
    sensor_named("notify_on_failure")(context)
    [sent] = notifier.messages()
    assert sent["subject"] == "quality_movies FAILED: broken.csv"
    assert "no_of_votes" in sent["message"]["error"] and "many" in sent["message"]["error"]
