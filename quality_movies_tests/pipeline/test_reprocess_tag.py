"""Reprocessing from the UI: a run (or a backfill's run) of processed partitions tagged
``quality_movies/reprocess=true`` evaluates those versions again with the ruleset in force and is
settled as ``quality-movies reprocess`` settles its runs: outputs, warehouse rows and history
replaced, a new evaluation of the same version in the ledger, one announcement per reprocessing.
Without the tag, a materialization of a processed version replaces its outputs but the ledger keeps
the earlier evaluation and nothing is announced again (the behaviour before the tag existed)."""

import csv
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb

from quality_movies.definitions import build_definitions
from quality_movies.dq import default_ruleset_path
from quality_movies.environment import Environment
from quality_movies.jobs import INGEST_JOB
from quality_movies.notifications.resources import LocalNotifier
from quality_movies.pipeline_runs import REPROCESS_TAG, range_tags
from quality_movies.runs.run_status_sensors import build_notification_sensors
from quality_movies.sample import write_sample
from quality_movies_tests.pipeline.conftest import Platform


def good_rows(sample: Path, low: str) -> int:
    """Rows with ``low`` < IMDB_Rating < 10.3 (DQDL's between is exclusive), counted by hand."""
    with sample.open(newline="", encoding="utf-8") as f:
        ratings = [Decimal(row["IMDB_Rating"]) for row in csv.DictReader(f)]
    return sum(Decimal(low) < r < Decimal("10.3") for r in ratings)


def with_ruleset(platform: Platform, tmp_path: Path, low: str) -> Platform:
    """The same home and instance, with the seed rule's lower bound changed to ``low``."""
    ruleset = tmp_path / f"rules_{low}.dqdl"
    ruleset.write_text(
        default_ruleset_path().read_text().replace("between 8.5 and", f"between {low} and")
    )
    env = Environment.from_env(
        {"QUALITY_MOVIES_HOME": str(platform.env.home), "QUALITY_MOVIES_RULESET": str(ruleset)}
    )
    return Platform(env=env, defs=build_definitions(env), instance=platform.instance)


def settle(platform: Platform, result: dg.ExecuteInProcessResult, notifier: LocalNotifier):
    """What the ``notify_on_success`` sensor does when it sees the run end."""
    event = next(
        e for e in reversed(result.all_events) if e.event_type == dg.DagsterEventType.RUN_SUCCESS
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="notify_on_success",
        dagster_instance=platform.instance,
        dagster_run=result.dagster_run,
        dagster_event=event,
        resources={"notifier": notifier, "ledger": platform.ledger, "lake": platform.lake},
    )
    sensor = next(s for s in build_notification_sensors() if s.name == "notify_on_success")
    sensor(context)


def run_range(platform: Platform, files: list[str], tags: dict) -> dg.ExecuteInProcessResult:
    """One run over the partitions ``files`` (a backfill with a single-run policy launches one)."""
    return platform.defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=platform.instance,
        tags={**range_tags(files[0], files[-1]), **tags},
        raise_on_error=False,
    )


def history_rules(platform: Platform) -> set[str]:
    with duckdb.connect(str(platform.env.home / "warehouse.duckdb"), read_only=True) as con:
        return {r[0] for r in con.execute("SELECT rule FROM dq_metrics.rule_metrics").fetchall()}


def processed_two_files(platform: Platform, tmp_path: Path, notifier: LocalNotifier):
    samples = [write_sample(tmp_path / f"m{i}.csv", rows=60, seed=5 + i).path for i in (1, 2)]
    files = [platform.ingest(path) for path in samples]
    platform.instance.add_dynamic_partitions("movie_files", files)
    first = run_range(platform, files, {})
    assert first.success
    settle(platform, first, notifier)
    return samples, files, first


def test_a_tagged_run_of_processed_partitions_is_a_reprocessing(platform, tmp_path):
    notifier = LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl"))
    samples, files, first = processed_two_files(platform, tmp_path, notifier)
    before = {f: platform.ledger.latest()[platform.lake.input_key(f)] for f in files}
    assert [r.run_id for r in before.values()] == [first.run_id] * 2
    wider = [good_rows(path, "8.0") for path in samples]
    assert wider != [good_rows(path, "8.5") for path in samples]  # the new bound changes counts

    wide = with_ruleset(platform, tmp_path, "8.0")
    again = run_range(wide, files, {REPROCESS_TAG: "true"})
    assert again.success
    settle(wide, again, notifier)
    settle(wide, again, notifier)  # a second look at the same run reprocesses nothing

    for source_file, record in before.items():
        after = wide.ledger.latest()[wide.lake.input_key(source_file)]
        assert (after.etag, after.state, after.announced) == (record.etag, "processed", True)
        assert after.run_id == again.run_id  # a new evaluation of the same version
    messages = notifier.messages()
    assert [m["subject"] for m in messages] == [
        "quality_movies succeeded: m1.csv",
        "quality_movies succeeded: m2.csv",
    ] * 2  # once per processing, once per reprocessing
    assert [m["message"]["good_rows"] for m in messages[2:]] == wider
    assert {m["message"]["run_id"] for m in messages[2:]} == {again.run_id}
    assert wide.warehouse.row_counts() == dict(zip(files, wider, strict=True))
    rules = history_rules(wide)
    assert 'ColumnValues "imdb_rating" between 8.0 and 10.3' in rules
    assert 'ColumnValues "imdb_rating" between 8.5 and 10.3' not in rules  # replaced
    bad = wide.lake.uri("bad-records/source_file=m1.csv/bad_records.jsonl")
    assert len(Path(bad).read_text().splitlines()) == 60 - wider[0]


def test_an_untagged_run_of_a_processed_partition_keeps_the_recorded_evaluation(platform, tmp_path):
    notifier = LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl"))
    samples, files, first = processed_two_files(platform, tmp_path, notifier)
    wide = with_ruleset(platform, tmp_path, "8.0")
    again = wide.run_file(files[0])  # a materialization started by hand, without the tag
    assert again.success
    settle(wide, again, notifier)
    record = wide.ledger.latest()[wide.lake.input_key(files[0])]
    assert (record.state, record.run_id) == ("processed", first.run_id)
    assert len(notifier.messages()) == 2  # the first processing's two, nothing more
    assert wide.warehouse.row_counts()[files[0]] == good_rows(samples[0], "8.0")


def test_the_reprocess_tag_leaves_new_files_to_the_usual_path(platform, tmp_path):
    """A tagged run over a file never processed records it as any run does."""
    notifier = LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl"))
    source = platform.ingest(write_sample(tmp_path / "new.csv", rows=20, seed=3).path)
    result = platform.run_file(source, tags={REPROCESS_TAG: "true"})
    assert result.success
    settle(platform, result, notifier)
    record = platform.ledger.latest()[platform.lake.input_key(source)]
    assert (record.state, record.run_id, record.announced) == ("processed", result.run_id, True)
    assert [m["subject"] for m in notifier.messages()] == ["quality_movies succeeded: new.csv"]
