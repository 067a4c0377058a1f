"""The new-files sensor: new, changed, same-second and ignored keys, batches, and the ledger it shares."""

import os
import time
from datetime import UTC, datetime

import dagster as dg

from quality_movies.jobs import INGEST_JOB
from quality_movies.lake import LakeObject, LocalLake
from quality_movies.notifications.resources import LocalNotifier
from quality_movies.partitions import movie_files
from quality_movies.pipeline_runs import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from quality_movies.quality.resources import EmbeddedQualityJobRunner
from quality_movies.runs.new_files_sensor import CLAIM_TAG, build_new_files_sensor, plan_input_files
from quality_movies.runs.resources import SqliteLedger

NOON = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def obj(key: str, etag: str) -> LakeObject:
    return LakeObject(key=key, size=10, etag=etag, last_modified=NOON)


def test_plan_picks_new_and_changed_csvs_and_reports_the_rest():
    latest = {"input_data/a.csv": "e1", "input_data/b.csv": "e2"}
    objects = [
        obj("input_data/a.csv", "e1"),  # unchanged
        obj("input_data/b.csv", "e9"),  # changed
        obj("input_data/c.csv", "e3"),  # new, same second as d
        obj("input_data/d.CSV", "e4"),  # new, same second as c
        obj("input_data/notes.txt", "e5"),
    ]
    plan = plan_input_files(objects, latest)
    assert [o.key for o in plan.to_process] == [
        "input_data/b.csv",
        "input_data/c.csv",
        "input_data/d.CSV",
    ]
    assert plan.ignored == ["input_data/notes.txt"]


def write(lake_root, key: str, text: str, mtime: float) -> None:
    path = lake_root / "quality-movie-bucket" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def evaluate(sensor, resources, instance):
    return sensor(dg.build_sensor_context(instance=instance, resources=resources))


def test_sensor_claims_new_files_and_runs_them_as_one_batch(tmp_path):
    lake = LocalLake(root=str(tmp_path / "lake"))
    ledger = SqliteLedger(path=str(tmp_path / "ledger.sqlite3"))
    resources = {
        "lake": lake,
        "ledger": ledger,
        "notifier": LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl")),
        "quality_job": EmbeddedQualityJobRunner(work_dir=str(tmp_path / "work")),
    }
    sensor = build_new_files_sensor(INGEST_JOB)
    second = time.time() // 1
    write(tmp_path / "lake", "input_data/one.csv", "a,b\n1,2\n", second)
    write(tmp_path / "lake", "input_data/two.csv", "a,b\n3,4\n", second)  # same second
    write(tmp_path / "lake", "input_data/readme.md", "not data", second)

    with dg.instance_for_test() as instance:
        first = evaluate(sensor, resources, instance)
        [request] = first.run_requests
        assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == (
            "one.csv",
            "two.csv",
        )
        assert [list(r.partition_keys) for r in first.dynamic_partitions_requests] == [
            ["one.csv", "two.csv"]
        ]
        claims = ledger.claims_by("sensor:")
        assert {(c.input_key, c.owner) for c in claims} == {
            ("input_data/one.csv", request.tags[CLAIM_TAG]),
            ("input_data/two.csv", request.tags[CLAIM_TAG]),
        }
        instance.add_dynamic_partitions(movie_files.name, ["one.csv", "two.csv"])

        assert evaluate(sensor, resources, instance).run_requests == []  # claimed: in flight

        etag_two = ledger.latest()["input_data/two.csv"].etag
        ledger.finish("input_data/one.csv", claims[0].etag, "processed", "r1")
        ledger.finish("input_data/two.csv", etag_two, "processed", "r1")
        assert evaluate(sensor, resources, instance).run_requests == []  # processed

        write(tmp_path / "lake", "input_data/two.csv", "a,b\n3,5\n", second)  # new content
        changed = evaluate(sensor, resources, instance)
        [again] = changed.run_requests
        assert again.tags[PARTITION_TAG] == "two.csv"
        assert changed.dynamic_partitions_requests == []  # the partition exists already
        assert again.run_key != request.run_key
        ledger.finish(
            "input_data/two.csv", ledger.latest()["input_data/two.csv"].etag, "processed", "r2"
        )

        write(tmp_path / "lake", "input_data/two.csv", "a,b\n3,5\n", second + 5)  # touched only
        assert evaluate(sensor, resources, instance).run_requests == []


def test_sensor_leaves_files_the_cli_has_claimed(tmp_path):
    lake = LocalLake(root=str(tmp_path / "lake"))
    ledger = SqliteLedger(path=str(tmp_path / "ledger.sqlite3"))
    write(tmp_path / "lake", "input_data/one.csv", "a,b\n1,2\n", time.time())
    ledger.claim([("input_data/one.csv", lake.head("input_data/one.csv").etag)], "cli:123")
    resources = {
        "lake": lake,
        "ledger": ledger,
        "notifier": LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl")),
        "quality_job": EmbeddedQualityJobRunner(work_dir=str(tmp_path / "work")),
    }
    with dg.instance_for_test() as instance:
        result = evaluate(build_new_files_sensor(INGEST_JOB), resources, instance)
    assert result.run_requests == []
    assert result.dynamic_partitions_requests == []


def test_stale_claims_are_released_or_settled_from_their_run(tmp_path, monkeypatch):
    import quality_movies.runs.new_files_sensor as sensors

    lake = LocalLake(root=str(tmp_path / "lake"))
    ledger = SqliteLedger(path=str(tmp_path / "ledger.sqlite3"))
    notifier = LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl"))
    write(tmp_path / "lake", "input_data/lost.csv", "a,b\n1,2\n", time.time())
    etag = lake.head("input_data/lost.csv").etag
    ledger.claim([("input_data/lost.csv", etag)], "sensor:never-launched")
    resources = {
        "lake": lake,
        "ledger": ledger,
        "notifier": notifier,
        "quality_job": EmbeddedQualityJobRunner(work_dir=str(tmp_path / "work")),
    }
    sensor = build_new_files_sensor(INGEST_JOB)
    with dg.instance_for_test() as instance:
        assert evaluate(sensor, resources, instance).run_requests == []  # a fresh claim waits
        monkeypatch.setattr(sensors, "STALE_CLAIM_AFTER", sensors.timedelta(0))
        # No run carries that claim: it is released and the file is requested again.
        [request] = evaluate(sensor, resources, instance).run_requests
        assert request.tags[PARTITION_TAG] == "lost.csv"
        assert ledger.latest()["input_data/lost.csv"].owner == request.tags[CLAIM_TAG]
    assert notifier.messages() == []


def test_claims_of_a_killed_cli_run_are_given_back_and_a_live_ones_kept(tmp_path):
    import socket
    import subprocess
    import sys

    lake = LocalLake(root=str(tmp_path / "lake"))
    ledger = SqliteLedger(path=str(tmp_path / "ledger.sqlite3"))
    write(tmp_path / "lake", "input_data/killed.csv", "a,b\n1,2\n", time.time())
    write(tmp_path / "lake", "input_data/running.csv", "a,b\n3,4\n", time.time())
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)  # fmt: skip
    host = socket.gethostname()
    ledger.claim([("input_data/killed.csv", lake.head("input_data/killed.csv").etag)], f"cli:{host}:{finished.stdout.strip()}")  # fmt: skip
    ledger.claim([("input_data/running.csv", lake.head("input_data/running.csv").etag)], f"cli:{host}:{os.getpid()}")  # fmt: skip
    resources = {
        "lake": lake,
        "ledger": ledger,
        "notifier": LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl")),
        "quality_job": EmbeddedQualityJobRunner(work_dir=str(tmp_path / "work")),
    }
    with dg.instance_for_test() as instance:
        [request] = evaluate(build_new_files_sensor(INGEST_JOB), resources, instance).run_requests
    assert request.tags[PARTITION_TAG] == "killed.csv"
    assert ledger.latest()["input_data/running.csv"].owner == f"cli:{host}:{os.getpid()}"


def test_a_claim_a_killed_pipeline_job_left_is_given_back_after_the_timeout(tmp_path):
    """A job run of the state machine claimed the file and was killed before settling it: once the
    claim is older than the ledger's stale_claim_seconds the sensor releases it and takes the file;
    before that it leaves it to the job run."""
    lake = LocalLake(root=str(tmp_path / "lake"))
    write(tmp_path / "lake", "input_data/orphan.csv", "a,b\n1,2\n", time.time())
    etag = lake.head("input_data/orphan.csv").etag
    path = str(tmp_path / "ledger.sqlite3")
    SqliteLedger(path=path).claim([("input_data/orphan.csv", etag)], "stepfunctions:killed")

    def resources(ledger: SqliteLedger) -> dict:
        return {
            "lake": lake,
            "ledger": ledger,
            "notifier": LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl")),
            "quality_job": EmbeddedQualityJobRunner(work_dir=str(tmp_path / "work")),
        }

    sensor = build_new_files_sensor(INGEST_JOB)
    with dg.instance_for_test() as instance:
        waiting = SqliteLedger(path=path)  # default: 3 hours
        assert evaluate(sensor, resources(waiting), instance).run_requests == []
        assert waiting.latest()["input_data/orphan.csv"].owner == "stepfunctions:killed"
        expired = SqliteLedger(path=path, stale_claim_seconds=0)
        [request] = evaluate(sensor, resources(expired), instance).run_requests
    assert request.tags[PARTITION_TAG] == "orphan.csv"
    record = expired.latest()["input_data/orphan.csv"]
    assert (record.etag, record.state, record.owner) == (etag, "claimed", request.tags[CLAIM_TAG])
