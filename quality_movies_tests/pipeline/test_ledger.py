"""The ledger of file versions: claims, exactly-once outcomes, changed files, retries, concurrent claims."""

import multiprocessing
import sys

from quality_movies.runs.resources import SqliteLedger


def ledger(tmp_path) -> SqliteLedger:
    return SqliteLedger(path=str(tmp_path / "ledger.sqlite3"))


def test_a_version_is_claimed_once_and_announced_once(tmp_path):
    book = ledger(tmp_path)
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


def test_a_changed_file_is_claimed_again_even_back_to_an_older_content(tmp_path):
    book = ledger(tmp_path)
    book.claim([("input_data/a.csv", "A")], "cli:1")
    book.finish("input_data/a.csv", "A", "processed", "r1")
    assert book.claim([("input_data/a.csv", "B")], "cli:1") == [("input_data/a.csv", "B")]
    assert book.claim([("input_data/a.csv", "A")], "cli:1") == []  # B is in flight for this key
    book.finish("input_data/a.csv", "B", "processed", "r2")
    # The warehouse now holds B's rows: content A again must be loaded again.
    assert book.claim([("input_data/a.csv", "A")], "cli:1") == [("input_data/a.csv", "A")]
    assert book.latest()["input_data/a.csv"].etag == "A"


def test_release_and_retry(tmp_path):
    book = ledger(tmp_path)
    book.claim([("input_data/a.csv", "e1"), ("input_data/b.csv", "e2")], "cli:1")
    assert book.release([("input_data/a.csv", "e1")], "cli:other") == 0
    assert book.release([("input_data/a.csv", "e1")], "cli:1") == 1
    assert "input_data/a.csv" not in book.latest()
    book.finish("input_data/b.csv", "e2", "failed", "r1", "locked")
    assert book.forget("input_data/b.csv") == 1
    assert book.claim([("input_data/b.csv", "e2")], "cli:2") == [("input_data/b.csv", "e2")]


def test_a_materialization_nobody_claimed_is_recorded_and_announced_once(tmp_path):
    book = ledger(tmp_path)
    assert book.finish("input_data/c.csv", "e3", "processed", "manual") is True
    assert book.finish("input_data/c.csv", "e3", "processed", "sensor") is False
    assert book.latest()["input_data/c.csv"].state == "processed"


def _claim_all(path: str, owner: str, queue) -> None:
    versions = [(f"input_data/f{i}.csv", f"e{i}") for i in range(40)]
    queue.put(SqliteLedger(path=path).claim(versions, owner))


def test_concurrent_claims_from_processes_never_share_a_version(tmp_path):
    path = str(tmp_path / "ledger.sqlite3")
    context = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "fork")
    queue = context.Queue()
    workers = [context.Process(target=_claim_all, args=(path, f"cli:{n}", queue)) for n in range(4)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=120)
    claimed = [v for result in results for v in result]
    assert sorted(claimed) == sorted((f"input_data/f{i}.csv", f"e{i}") for i in range(40))
