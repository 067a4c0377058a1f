"""Two ``quality-movies run`` at once on one home (issue 11 point 1).

They are serialized or one is refused with a clear message, never corrupting the Dagster instance
or the ledger: each file is processed and announced once, and later commands still work.
"""

import pytest

from quality_movies_tests.reliability.conftest import (
    Home,
    assert_no_traceback,
    assert_rows_accounted,
    brief,
)
from quality_movies_tests.reliability.inputs import good_file

pytestmark = [pytest.mark.reliability, pytest.mark.xdist_group("reliability")]


def run_twice_at_once(home: Home) -> list:
    first, second = home.start("run"), home.start("run")
    finished = []
    for process in (first, second):
        stdout, stderr = process.communicate(timeout=300)
        finished.append((process.returncode, stdout, stderr))
    return finished


def assert_serialized_or_refused(finished: list) -> None:
    for code, stdout, stderr in finished:
        text = stdout + stderr
        assert "Traceback" not in text and "alembic" not in text.lower(), text
        if code != 0:
            assert "another quality-movies run" in text, text
    assert any(code == 0 for code, _, _ in finished), finished


@pytest.mark.parametrize("existing_home", [False, True], ids=["new-home", "existing-home"])
def test_two_runs_at_once_process_and_announce_each_file_once(home: Home, existing_home: bool):
    files = [good_file("a.csv", tag=" A"), good_file("b.csv", tag=" B")]
    earlier = good_file("earlier.csv", tag=" E")
    if existing_home:
        home.drop({earlier.name: earlier.content})
        assert home.cli("run").returncode == 0
    home.drop({f.name: f.content for f in files})

    assert_serialized_or_refused(run_twice_at_once(home))

    for movies in files:
        assert_rows_accounted(home, movies.name, movies.rows, movies.good)
        assert [n["subject"] for n in home.notifications_for(movies.name)] == [
            f"quality_movies succeeded: {movies.name}"
        ]
    if existing_home:
        assert_rows_accounted(home, earlier.name, earlier.rows, earlier.good)
        assert len(home.notifications_for(earlier.name)) == 1

    later = home.cli("run")
    assert later.returncode == 0, brief(later)
    assert "nothing to do" in later.stdout
    status = home.cli("status")
    assert status.returncode == 0, brief(status)
    assert_no_traceback(status)
    assert home.leftovers() == []
