"""Under load (issue 22 point 5): while a run of the ingest job is queued or running, the new-files
sensor claims nothing, so the files that arrive meanwhile go together into the next run instead of a
run per tick queueing behind it (the embedded warehouse takes one writer at a time)."""

import time
import uuid

import dagster as dg

from quality_movies.jobs import INGEST_JOB
from quality_movies.lake import LocalLake
from quality_movies.notifications.resources import LocalNotifier
from quality_movies.pipeline_runs import RANGE_END_TAG, RANGE_START_TAG
from quality_movies.quality.resources import EmbeddedQualityJobRunner
from quality_movies.runs.new_files_sensor import build_new_files_sensor
from quality_movies.runs.resources import SqliteLedger
from quality_movies_tests.pipeline.test_sensors import evaluate, write


def test_files_arriving_during_a_run_wait_and_go_together_into_the_next(tmp_path):
    lake = LocalLake(root=str(tmp_path / "lake"))
    ledger = SqliteLedger(path=str(tmp_path / "ledger.sqlite3"))
    resources = {
        "lake": lake,
        "ledger": ledger,
        "notifier": LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl")),
        "quality_job": EmbeddedQualityJobRunner(work_dir=str(tmp_path / "work")),
    }
    sensor = build_new_files_sensor(INGEST_JOB)
    write(tmp_path / "lake", "input_data/first.csv", "a,b\n1,2\n", time.time())

    with dg.instance_for_test() as instance:
        [request] = evaluate(sensor, resources, instance).run_requests
        write(tmp_path / "lake", "input_data/second.csv", "a,b\n3,4\n", time.time())
        write(tmp_path / "lake", "input_data/third.csv", "a,b\n5,6\n", time.time())

        for status in (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTED):
            run = instance.add_run(
                dg.DagsterRun(
                    job_name=INGEST_JOB, run_id=str(uuid.uuid4()), tags=request.tags, status=status
                )
            )
            waiting = evaluate(sensor, resources, instance)
            assert waiting.run_requests == []
            assert f"run {run.run_id[:8]} is in flight" in waiting.skip_reason.skip_message
            assert {c.input_key for c in ledger.claims_by("sensor:")} == {"input_data/first.csv"}
            instance.report_run_canceled(run)

        [together] = evaluate(sensor, resources, instance).run_requests
        assert (together.tags[RANGE_START_TAG], together.tags[RANGE_END_TAG]) == (
            "second.csv",
            "third.csv",
        )
