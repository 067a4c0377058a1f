"""The ledger of file versions: claims, exactly-once outcomes, changed files, retries, concurrent claims."""

import multiprocessing
import uuid

import pytest

from quality_movies.runs.resources import Ledger, S3Ledger, SqliteLedger
from quality_movies_tests.aws.conftest import seaweedfs  # noqa: F401  (a real S3 server)


@pytest.fixture(params=["sqlite", pytest.param("s3", marks=pytest.mark.server)])
def make_ledger(request, tmp_path):
    """A factory of handles on one ledger: SQLite under the home, or objects in a SeaweedFS bucket."""
    if request.param == "sqlite":
        path = str(tmp_path / "ledger.sqlite3")
        return lambda: SqliteLedger(path=path)
    server = request.getfixturevalue("seaweedfs")
    bucket = f"ledger-{uuid.uuid4().hex[:12]}"
    server.client().create_bucket(Bucket=bucket)
    request.addfinalizer(lambda: empty_bucket(server.client(), bucket))
    request.getfixturevalue("monkeypatch").setenv("AWS_ACCESS_KEY_ID", server.access_key)
    request.getfixturevalue("monkeypatch").setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    return lambda: S3Ledger(bucket=bucket, endpoint_url=server.endpoint_url)


def empty_bucket(client, bucket: str) -> None:
    for entry in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        client.delete_object(Bucket=bucket, Key=entry["Key"])
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def book(make_ledger) -> Ledger:
    return make_ledger()


def test_a_version_is_claimed_once_and_announced_once(book):
    assert book.claim([("input_data/a.csv", "e1"), ("input_data/b.csv", "e2")], "cli:1") == [
        ("input_data/a.csv", "e1"),
        ("input_data/b.csv", "e2"),
    ]
    assert book.claim([("input_data/a.csv", "e1")], "sensor:x") == []
    assert book.finish("input_data/a.csv", "e1", "processed", "run-1") is True
    assert book.finish("input_data/a.csv", "e1", "processed", "run-2") is False
    assert book.finish("input_data/b.csv", "e2", "failed", "run-1", "b.csv, line 3: ...") is True
    latest = book.latest()
    assert (latest["input_data/a.csv"].state, latest["input_data/a.csv"].run_id) == (
        "processed",
        "run-1",
    )
    assert latest["input_data/b.csv"].reason == "b.csv, line 3: ..."
    assert book.claim([("input_data/a.csv", "e1"), ("input_data/b.csv", "e2")], "cli:2") == []


def test_a_changed_file_is_claimed_again_even_back_to_an_older_content(book):
    book.claim([("input_data/a.csv", "A")], "cli:1")
    book.finish("input_data/a.csv", "A", "processed", "r1")
    assert book.claim([("input_data/a.csv", "B")], "cli:1") == [("input_data/a.csv", "B")]
    assert book.claim([("input_data/a.csv", "A")], "cli:1") == []  # B is in flight for this key
    book.finish("input_data/a.csv", "B", "processed", "r2")
    # The warehouse now holds B's rows: content A again must be loaded again.
    assert book.claim([("input_data/a.csv", "A")], "cli:1") == [("input_data/a.csv", "A")]
    assert book.latest()["input_data/a.csv"].etag == "A"


def test_release_and_retry(book):
    book.claim([("input_data/a.csv", "e1"), ("input_data/b.csv", "e2")], "cli:1")
    assert book.release([("input_data/a.csv", "e1")], "cli:other") == 0
    assert book.release([("input_data/a.csv", "e1")], "cli:1") == 1
    assert "input_data/a.csv" not in book.latest()
    book.finish("input_data/b.csv", "e2", "failed", "r1", "locked")
    assert book.forget("input_data/b.csv") == 1
    assert book.claim([("input_data/b.csv", "e2")], "cli:2") == [("input_data/b.csv", "e2")]


def test_a_materialization_nobody_claimed_is_recorded_and_announced_once(book):
    assert book.finish("input_data/c.csv", "e3", "processed", "manual") is True
    assert book.finish("input_data/c.csv", "e3", "processed", "sensor") is False
    assert book.latest()["input_data/c.csv"].state == "processed"


def _claim_all(make_ledger, owner: str, queue) -> None:
    versions = [(f"input_data/f{i}.csv", f"e{i}") for i in range(40)]
    queue.put(make_ledger().claim(versions, owner))


def test_concurrent_claims_from_processes_never_share_a_version(make_ledger):
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [
        context.Process(target=_claim_all, args=(make_ledger, f"cli:{n}", queue)) for n in range(4)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=120)
    claimed = [v for result in results for v in result]
    assert sorted(claimed) == sorted((f"input_data/f{i}.csv", f"e{i}") for i in range(40))
