"""Files failed by their environment: attempts, backoff and the cap in the ledger (SQLite and S3), the
classification of failures, and the sensor taking a version again once its backoff has passed."""

import sqlite3
import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import dagster as dg
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from quality_movies.faults import failure_kind, failure_kind_of_record, transient_message
from quality_movies.jobs import INGEST_JOB
from quality_movies.lake import LocalLake
from quality_movies.notifications.resources import LocalNotifier
from quality_movies.quality.resources import (
    EmbeddedQualityJobRunner,
    GlueQualityJobRunner,
    QualityJobFailed,
    QualityJobUnavailable,
    final_outputs,
)
from quality_movies.runs.new_files_sensor import build_new_files_sensor
from quality_movies.runs.resources import S3Ledger, SqliteLedger
from quality_movies.warehouse.resources import LoadMismatch, WarehouseUnavailable
from quality_movies_tests.aws.conftest import seaweedfs  # noqa: F401  (a real S3 server)
from quality_movies_tests.pipeline.test_ledger import empty_bucket

KEY = "input_data/a.csv"


@pytest.fixture(params=["sqlite", pytest.param("s3", marks=pytest.mark.server)])
def make_ledger(request, tmp_path):
    """Handles on one ledger with a retry policy: SQLite under the home, or a SeaweedFS bucket."""
    if request.param == "sqlite":
        path = str(tmp_path / "ledger.sqlite3")
        return lambda **policy: SqliteLedger(path=path, **policy)
    server = request.getfixturevalue("seaweedfs")
    bucket = f"ledger-{uuid.uuid4().hex[:12]}"
    server.client().create_bucket(Bucket=bucket)
    request.addfinalizer(lambda: empty_bucket(server.client(), bucket))
    request.getfixturevalue("monkeypatch").setenv("AWS_ACCESS_KEY_ID", server.access_key)
    request.getfixturevalue("monkeypatch").setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    return lambda **policy: S3Ledger(bucket=bucket, endpoint_url=server.endpoint_url, **policy)


def seconds_from_now(stamp: str) -> float:
    return (datetime.fromisoformat(stamp) - datetime.now(UTC)).total_seconds()


def test_an_environment_failure_waits_with_backoff_and_fails_once_at_the_cap(make_ledger):
    book = make_ledger(max_attempts=3, retry_backoff_seconds=60)
    assert book.claim([(KEY, "e1")], "cli:1") == [(KEY, "e1")]

    first = book.retry_later(KEY, "e1", "run-1", "the warehouse is locked")
    assert (first.state, first.attempts, first.announced) == ("retrying", 1, False)
    assert first.reason == "the warehouse is locked"
    assert 58 <= seconds_from_now(first.next_attempt_at) <= 61  # 60 s after the first attempt
    assert book.retry_later(KEY, "e1", "run-1", "again") is None  # one run counts once
    assert book.latest()[KEY].attempts == 1
    assert book.settled_etags() == {KEY: "e1"}  # the sensor waits for the backoff
    assert book.settled_etags(ignore_backoff=True) == {}  # `run` takes it now

    assert book.claim([(KEY, "e1")], "cli:2") == [(KEY, "e1")]
    assert book.claim([(KEY, "e1")], "cli:3") == []  # claimed: nobody else takes it
    second = book.retry_later(KEY, "e1", "run-2", "still locked")
    assert (second.state, second.attempts) == ("retrying", 2)
    assert 118 <= seconds_from_now(second.next_attempt_at) <= 121  # doubled

    assert book.claim([(KEY, "e1")], "cli:4") == [(KEY, "e1")]
    third = book.retry_later(KEY, "e1", "run-3", "locked for good")
    assert (third.state, third.attempts, third.announced) == ("failed", 3, True)
    assert book.finish(KEY, "e1", "failed", "run-3", "locked for good") is False  # announced once
    assert book.claim([(KEY, "e1")], "cli:5") == []  # final until retry or a new version
    assert book.settled_etags(ignore_backoff=True) == {KEY: "e1"}

    assert book.forget(KEY) == 1
    assert book.claim([(KEY, "e1")], "cli:6") == [(KEY, "e1")]
    assert book.latest()[KEY].attempts == 0


def test_a_retried_version_that_loads_is_announced_once(make_ledger):
    book = make_ledger(retry_backoff_seconds=0)
    book.claim([(KEY, "e1")], "sensor:x")
    book.retry_later(KEY, "e1", "run-1", "Throttling")
    assert book.settled_etags() == {}  # no backoff: due at once
    assert book.claim([(KEY, "e1")], "sensor:y") == [(KEY, "e1")]
    assert book.finish(KEY, "e1", "processed", "run-2") is True
    assert book.finish(KEY, "e1", "processed", "run-2") is False
    assert book.retry_later(KEY, "e1", "run-2", "late") is None  # settled: nothing to count
    record = book.latest()[KEY]
    assert (record.state, record.attempts) == ("processed", 1)


def test_a_released_retry_keeps_its_attempts_and_a_new_version_starts_afresh(make_ledger):
    book = make_ledger()
    book.claim([(KEY, "e1")], "cli:1")
    book.retry_later(KEY, "e1", "run-1", "network")
    book.claim([(KEY, "e1")], "cli:2")
    assert book.release([(KEY, "e1")], "cli:2") == 1  # e.g. the batch stopped before it
    record = book.latest()[KEY]
    assert (record.state, record.attempts, record.owner) == ("retrying", 1, "")
    assert book.claim([(KEY, "e2")], "cli:3") == [(KEY, "e2")]  # the file changed meanwhile
    assert book.latest()[KEY].attempts == 0


def test_backoff_doubles_up_to_an_hour():
    book = SqliteLedger(path="unused", retry_backoff_seconds=30)
    assert 29 <= seconds_from_now(book.next_attempt_at(1)) <= 31
    assert 239 <= seconds_from_now(book.next_attempt_at(4)) <= 241  # 30 * 2**3
    assert 3598 <= seconds_from_now(book.next_attempt_at(12)) <= 3601


def test_a_ledger_written_before_retries_is_read_and_kept(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(path) as db:  # the schema of the previous release
        db.execute(
            "CREATE TABLE file_versions (input_key TEXT NOT NULL, etag TEXT NOT NULL,"
            " state TEXT NOT NULL CHECK (state IN ('claimed', 'processed', 'failed')),"
            " owner TEXT NOT NULL DEFAULT '', run_id TEXT NOT NULL DEFAULT '',"
            " reason TEXT NOT NULL DEFAULT '', updated_at TEXT NOT NULL,"
            " announced INTEGER NOT NULL DEFAULT 0, UNIQUE (input_key, etag))"
        )
        db.execute(
            "INSERT INTO file_versions VALUES"
            " ('input_data/old.csv', 'e0', 'processed', 'run', 'r0', '', '2026-01-01T00:00:00', 1)"
        )
    book = SqliteLedger(path=str(path))
    [old] = book.versions()
    assert (old.input_key, old.state, old.attempts, old.announced) == (
        "input_data/old.csv",
        "processed",
        0,
        True,
    )
    book.claim([(KEY, "e1")], "cli:1")
    assert book.retry_later(KEY, "e1", "r1", "locked").state == "retrying"


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            WarehouseUnavailable("the warehouse x.duckdb is locked by another program"),
            "environment",
        ),
        (
            LoadMismatch("a.csv: 3 rows would be in the warehouse but 2 were validated"),
            "environment",
        ),
        (QualityJobUnavailable("a.csv: Glue job run TIMEOUT"), "environment"),
        (client_error("SlowDown", 503), "environment"),
        (client_error("ThrottlingException", 400), "environment"),
        (client_error("ConcurrentRunsExceededException", 400), "environment"),
        (client_error("WeirdNewFault", 502), "environment"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "environment"),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), "environment"),
        (ConnectionResetError(104, "Connection reset by peer"), "environment"),
        (OSError(28, "No space left on device"), "environment"),
        (client_error("AccessDenied", 403), "data"),
        (client_error("NoSuchKey", 404), "data"),
        (QualityJobFailed("a.csv, line 3, column 2: unterminated quote"), "data"),
        (FileNotFoundError(2, "No such file or directory"), "data"),
        (ValueError("could not convert 'eighty'"), "data"),
    ],
)
def test_failures_are_classified_where_they_are_raised(error, kind):
    assert failure_kind(error) == kind


def test_the_root_cause_decides_a_wrapped_failure():
    try:
        try:
            raise client_error("RequestTimeout", 400)
        except ClientError as cause:
            raise RuntimeError("uploading the bad records failed") from cause
    except RuntimeError as wrapped:
        assert failure_kind(wrapped) == "environment"


def record(cls_name: str, message: str, cause=None) -> SimpleNamespace:
    """An error as a finished run keeps it (the fields of Dagster's SerializableErrorInfo)."""
    return SimpleNamespace(cls_name=cls_name, message=message, cause=cause, context=None)


def test_a_finished_runs_error_record_is_classified_by_its_classes():
    throttled = "An error occurred (Throttling) when calling the PutObject operation: Rate exceeded"
    assert failure_kind_of_record(record("ClientError", throttled)) == "environment"
    assert failure_kind_of_record(record("WarehouseUnavailable", "locked")) == "environment"
    wrapped = record(
        "DagsterExecutionStepExecutionError", "op failed", record("ReadTimeoutError", "x")
    )
    assert failure_kind_of_record(wrapped) == "environment"
    assert failure_kind_of_record(record("QualityJobFailed", "a.csv: bad csv")) == "data"


def test_a_glue_job_message_about_capacity_is_not_the_files_fault():
    assert transient_message("Failed to meet resource demands; capacity not available")
    assert transient_message("ResourceNumberLimitExceededException: maximum DPUs")
    assert not transient_message("cannot read s3://b/input_data/lockdown.csv: ragged row 3")


def test_the_sensor_takes_a_waiting_version_again_once_its_backoff_has_passed(tmp_path):
    lake = LocalLake(root=str(tmp_path / "lake"))
    ledger = SqliteLedger(path=str(tmp_path / "ledger.sqlite3"), retry_backoff_seconds=2)
    resources = {
        "lake": lake,
        "ledger": ledger,
        "notifier": LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl")),
        "quality_job": EmbeddedQualityJobRunner(work_dir=str(tmp_path / "work")),
    }
    path = tmp_path / "lake" / "quality-movie-bucket" / "input_data" / "one.csv"
    path.parent.mkdir(parents=True)
    path.write_text("a,b\n1,2\n")
    sensor = build_new_files_sensor(INGEST_JOB)

    with dg.instance_for_test() as instance:
        first = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        [request] = first.run_requests
        etag = lake.head("input_data/one.csv").etag
        ledger.retry_later("input_data/one.csv", etag, "run-1", "the warehouse is locked")

        waiting = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert waiting.run_requests == []
        time.sleep(2.5)
        again = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        [retry] = again.run_requests
        assert retry.run_key != request.run_key  # a new run, not one Dagster already started
        assert ledger.latest()["input_data/one.csv"].state == "claimed"
        assert ledger.latest()["input_data/one.csv"].attempts == 1


def test_a_failure_raised_from_none_is_judged_by_itself():
    try:
        try:
            raise OSError(5, "Input/output error")
        except OSError:
            raise QualityJobFailed("a.csv, line 2: not UTF-8") from None
    except QualityJobFailed as error:
        assert failure_kind(error) == "data"


class EndedGlueRun:
    """A Glue client whose every job run ends in ``state`` with ``message`` (no job runs here)."""

    def __init__(self, state: str, message: str):
        self.state, self.message = state, message

    def start_job_run(self, **_):
        return {"JobRunId": "jr_1"}

    def get_job_run(self, **_):
        return {"JobRun": {"JobRunState": self.state, "ErrorMessage": self.message}}


@pytest.mark.parametrize(
    ("state", "message", "kind"),
    [
        ("TIMEOUT", "Job run timed out", "environment"),
        ("ERROR", "Glue encountered an internal error", "environment"),
        ("STOPPED", "", "environment"),
        ("FAILED", "Failed to meet resource demands; capacity is not available", "environment"),
        ("FAILED", "ConcurrentRunsExceededException: too many runs", "environment"),
        ("FAILED", "s3://b/input_data/lockdown.csv, line 3: ragged row", "data"),
    ],
)
def test_a_glue_job_run_that_ends_outside_the_file_is_an_environment_failure(
    tmp_path, state, message, kind
):
    class Runner(GlueQualityJobRunner):
        def glue_client(self):
            return EndedGlueRun(state, message)

    lake = LocalLake(root=str(tmp_path / "lake"))
    source = tmp_path / "movies.csv"
    source.write_text("a\n1\n")
    lake.upload(source, lake.input_key("movies.csv"))
    runner = Runner(job_name="quality-movies-dq-job", poll_interval_seconds=0)
    with pytest.raises(QualityJobFailed) as raised:
        runner.run(dg.build_asset_context(), lake, "movies.csv", final_outputs(lake, "movies.csv"))
    assert state in str(raised.value) and "movies.csv" in str(raised.value)
    assert failure_kind(raised.value) == kind


def test_an_undelivered_announcement_is_owed_until_sent(make_ledger):
    book = make_ledger()
    book.claim([(KEY, "e1")], "cli:1")
    assert book.finish(KEY, "e1", "processed", "run-1") is True
    assert book.unannounced() == []
    book.unannounce(KEY, "e1")  # the notifier was down
    [owed] = book.unannounced()
    assert (owed.input_key, owed.state, owed.run_id) == (KEY, "processed", "run-1")
    assert book.claim([(KEY, "e1")], "cli:2") == []  # not processed again, only announced
    assert book.finish(KEY, "e1", "processed", "run-1") is True  # one caller sends it
    assert book.finish(KEY, "e1", "processed", "run-1") is False
    assert book.unannounced() == []
