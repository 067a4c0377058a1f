"""The warehouse fails under a file: locked by another process, corrupt, or the run killed before it.

Issue 11 points 3 and 5: a file's outputs appear together or not at all, temporary files are gone
after the next start, the user reads one or two lines naming the file and the warehouse. Issue 22
point 1: such a failure is the environment's, so the file stays pending and the next run loads it
once the warehouse is usable again, without `retry`.
"""

import subprocess
import sys

import pytest

from quality_movies_tests.reliability.conftest import (
    Home,
    assert_no_traceback,
    assert_nothing_published,
    assert_rows_accounted,
    brief,
    output_of,
)
from quality_movies_tests.reliability.inputs import good_file

pytestmark = [pytest.mark.reliability, pytest.mark.xdist_group("reliability")]

HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE IF NOT EXISTS held_by_another_process (x INTEGER)")
print("holding", flush=True)
time.sleep(600)
"""


def loaded_first_file(home: Home):
    """A home whose warehouse already holds one file, as after a day of use."""
    first = good_file("first.csv", tag=" I")
    home.drop({first.name: first.content})
    done = home.cli("run")
    assert done.returncode == 0, brief(done)
    assert_rows_accounted(home, first.name, first.rows, first.good)
    return first


def hold_lock(home: Home) -> subprocess.Popen:
    """Another process holding the warehouse open (and so its lock) until killed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(home.warehouse_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "holding"
    return holder


def release(holder: subprocess.Popen) -> None:
    holder.kill()
    holder.wait()


def assert_left_pending(home: Home, done, source_file: str, attempt: int, *words: str) -> None:
    """The run says the file will be taken again, nothing of it is published or announced, and
    ``status`` shows it pending with its attempts and last error."""
    assert done.returncode == 1, brief(done)
    assert_no_traceback(done)
    assert f"== {source_file}: RETRYING" in done.stdout, brief(done)
    assert "the next run takes it again" in done.stdout, brief(done)
    assert home.published(source_file) == set()
    assert home.notifications_for(source_file) == []
    status = home.cli("status")
    assert_no_traceback(status)
    [line] = [x for x in status.stdout.splitlines() if f"input_data/{source_file} " in x]
    assert f"pending (retrying: attempt {attempt} of 5 failed" in line, line
    for word in words:
        assert word in line, (word, line)


def test_locked_warehouse_leaves_the_file_pending_and_the_next_run_loads_it(home: Home):
    """Issue 22 as a new user tried it: lock the warehouse during a run, unlock, `run` again."""
    first = loaded_first_file(home)
    second = good_file("second.csv", tag=" II")
    home.drop({second.name: second.content})
    holder = hold_lock(home)
    try:
        done = home.cli("run")
        assert "lock" in output_of(done).lower()
        assert_left_pending(home, done, second.name, 1, "warehouse.duckdb", "locked")
    finally:
        release(holder)

    assert_nothing_published(home, second.name)
    assert_rows_accounted(home, first.name, first.rows, first.good)
    again = home.cli("run")  # no `retry`
    assert again.returncode == 0, brief(again)
    assert_rows_accounted(home, second.name, second.rows, second.good)
    assert home.warehouse_titles(second.name) == sorted(second.good_titles)
    assert home.leftovers() == []
    assert [n["subject"] for n in home.notifications_for(second.name)] == [
        f"quality_movies succeeded: {second.name}"
    ]
    idle = home.cli("run")
    assert "nothing to do" in idle.stdout, brief(idle)


def test_corrupt_warehouse_leaves_the_file_pending_and_it_loads_into_a_new_one(home: Home):
    loaded_first_file(home)
    home.warehouse_path.write_bytes(b"this is not a DuckDB database\n" * 4096)
    second = good_file("second.csv", tag=" II")
    home.drop({second.name: second.content})

    done = home.cli("run")
    assert "warehouse.duckdb" in output_of(done)
    assert_left_pending(home, done, second.name, 1, "warehouse.duckdb")
    assert home.published(second.name) == set()

    home.warehouse_path.rename(home.path / "warehouse.corrupt")
    again = home.cli("run")
    assert again.returncode == 0, brief(again)
    assert_rows_accounted(home, second.name, second.rows, second.good)
    assert home.leftovers() == []


# The warehouse load of the gate: the process dies after the quality job has written its outputs
# (staged) and before the load commits.
WAREHOUSE_LOAD = "quality_movies.warehouse.resources:DuckDBWarehouse.load_files"  # the batch load


def test_kill_between_upload_and_load_publishes_nothing_and_the_next_run_loads_once(home: Home):
    movies = good_file("movies.csv")
    home.drop({movies.name: movies.content})

    killed, marker = home.cli_killed_before(WAREHOUSE_LOAD, "run")
    assert killed.returncode == -9, brief(killed)
    assert marker.exists()
    assert_nothing_published(home, movies.name)
    assert home.notifications_for(movies.name) == []
    assert home.leftovers() != []  # the outputs were uploaded (staged) when the process died

    again = home.cli("run")
    assert again.returncode == 0, brief(again)
    assert_no_traceback(again)
    assert_rows_accounted(home, movies.name, movies.rows, movies.good)
    assert home.warehouse_titles(movies.name) == sorted(movies.good_titles)
    assert home.leftovers() == []
    assert [n["subject"] for n in home.notifications_for(movies.name)] == [
        f"quality_movies succeeded: {movies.name}"
    ]


# Moving the staged outputs into place, after the warehouse load committed.
PUBLISH = "quality_movies.quality.assets:publish_outputs"


def test_kill_between_load_and_publish_is_repaired_by_the_next_run(home: Home):
    movies = good_file("movies.csv")
    home.drop({movies.name: movies.content})

    killed, marker = home.cli_killed_before(PUBLISH, "run")
    assert killed.returncode == -9, brief(killed)
    assert marker.exists()
    assert home.published(movies.name) == set()
    assert home.notifications_for(movies.name) == []

    again = home.cli("run")
    assert again.returncode == 0, brief(again)
    assert_no_traceback(again)
    assert_rows_accounted(home, movies.name, movies.rows, movies.good)
    assert home.warehouse_titles(movies.name) == sorted(movies.good_titles)
    assert home.leftovers() == []
    assert [n["subject"] for n in home.notifications_for(movies.name)] == [
        f"quality_movies succeeded: {movies.name}"
    ]
