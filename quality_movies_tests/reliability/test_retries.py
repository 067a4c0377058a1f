"""Issue 22 point 1: a failure outside the file is retried by the next runs up to a cap; a failure of the
file's data is final for its version. What the user reads (``run``, ``status``, the one notification)
says which kind it was and what to do."""

import pytest

from quality_movies_tests.reliability.conftest import (
    Home,
    assert_failure_told,
    assert_no_traceback,
    assert_nothing_published,
    assert_rows_accounted,
    brief,
)
from quality_movies_tests.reliability.inputs import good_file, unreadable_files

pytestmark = [pytest.mark.reliability, pytest.mark.xdist_group("reliability")]


def status_line(home: Home, source_file: str, **extra: str) -> str:
    status = home.cli(
        "status", **extra
    )  # exits 1 after the lake's lines while the warehouse is corrupt
    assert_no_traceback(status)
    [line] = [x for x in status.stdout.splitlines() if f"input_data/{source_file} " in x]
    return line


def test_an_environment_failure_that_outlasts_the_attempts_is_failed_and_announced_once(home: Home):
    cap = {"QUALITY_MOVIES_RETRY_MAX_ATTEMPTS": "2"}
    first = good_file("first.csv", tag=" I")
    home.drop({first.name: first.content})
    assert home.cli("run").returncode == 0
    home.warehouse_path.write_bytes(b"this is not a DuckDB database\n" * 4096)
    second = good_file("second.csv", tag=" II")
    home.drop({second.name: second.content})

    attempt = home.cli("run", **cap)
    assert attempt.returncode == 1, brief(attempt)
    assert f"== {second.name}: RETRYING" in attempt.stdout, brief(attempt)
    assert home.notifications_for(second.name) == []
    assert "pending (retrying: attempt 1 of 2 failed" in status_line(home, second.name, **cap)

    last = home.cli("run", **cap)
    error = assert_failure_told(home, last, second.name, "warehouse.duckdb")
    [note] = home.notifications_for(second.name)
    assert note["message"]["failure_kind"] == "environment"
    assert note["message"]["attempts"] == 2
    assert "quality-movies retry" in note["message"]["what_to_do"]
    assert "outside the file" in note["message"]["what_to_do"]
    assert f"== {second.name}: FAILED" in last.stdout
    assert "environment failure" in last.stdout
    assert status_line(home, second.name, **cap).endswith(f"failed: {error}")
    assert home.published(second.name) == set()

    idle = home.cli("run", **cap)  # final: not taken again, not announced again
    assert "nothing to do" in idle.stdout, brief(idle)
    assert len(home.notifications_for(second.name)) == 1

    home.warehouse_path.rename(home.path / "warehouse.corrupt")
    assert home.cli("retry", second.name).returncode == 0
    loaded = home.cli("run", **cap)
    assert loaded.returncode == 0, brief(loaded)
    assert_rows_accounted(home, second.name, second.rows, second.good)
    assert [n["subject"] for n in home.notifications_for(second.name)] == [
        f"quality_movies FAILED: {second.name}",
        f"quality_movies succeeded: {second.name}",
    ]


def test_a_data_failure_is_final_for_its_version_and_says_so(home: Home):
    content, words = unreadable_files()["ragged.csv"]
    home.drop({"ragged.csv": content})

    done = home.cli("run")
    assert_failure_told(home, done, "ragged.csv", *words)
    [note] = home.notifications_for("ragged.csv")
    assert note["message"]["failure_kind"] == "data"
    assert "fix the file and ingest it again" in note["message"]["what_to_do"]
    assert "data failure" in done.stdout
    assert status_line(home, "ragged.csv").split("  ")[-1].startswith("failed: ")

    again = home.cli("run")
    assert "nothing to do" in again.stdout, brief(again)
    assert len(home.notifications_for("ragged.csv")) == 1
    assert_nothing_published(home, "ragged.csv")


# Staging the quality job's outputs in the lake: the place a network fault hits on S3.
LAKE_UPLOAD = "quality_movies.lake.local:LocalLake.upload"


def test_a_network_fault_leaves_the_file_pending_and_the_next_run_loads_it(home: Home):
    movies = good_file("movies.csv")
    home.drop({movies.name: movies.content})

    faulty, marker = home.cli_failing_in(LAKE_UPLOAD, "ConnectionResetError", "run")
    assert marker.exists(), brief(faulty)
    assert faulty.returncode == 1, brief(faulty)
    assert_no_traceback(faulty)
    assert f"== {movies.name}: RETRYING" in faulty.stdout, brief(faulty)
    assert "environment failure, attempt 1" in faulty.stdout, brief(faulty)
    assert_nothing_published(home, movies.name)
    assert home.notifications_for(movies.name) == []
    assert "injected by the reliability suite" in status_line(home, movies.name)

    again = home.cli("run")
    assert again.returncode == 0, brief(again)
    assert_rows_accounted(home, movies.name, movies.rows, movies.good)
    assert home.leftovers() == []
    assert [n["subject"] for n in home.notifications_for(movies.name)] == [
        f"quality_movies succeeded: {movies.name}"
    ]
