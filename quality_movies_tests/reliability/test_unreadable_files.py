"""Files that are not a usable CSV beside a good one, in one ``run`` (issue 11 points 2, 4, 5).

Each unreadable file fails alone with a message naming it (and the line or column where known),
publishes nothing and is announced once; the good file loads whole, and a file dropped later is
processed by the next run.
"""

from dataclasses import dataclass
from subprocess import CompletedProcess

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

UNREADABLE = unreadable_files()


@dataclass
class Outcome:
    home: Home
    first_run: CompletedProcess
    later_run: CompletedProcess


@pytest.fixture(scope="module")
def outcome(tmp_path_factory) -> Outcome:
    home = Home(tmp_path_factory.mktemp("unreadable") / "home")
    good = good_file()
    home.drop({good.name: good.content, **{n: c for n, (c, _) in UNREADABLE.items()}})
    first_run = home.cli("run")
    later = good_file("later.csv", tag=" L")
    home.drop({later.name: later.content})
    return Outcome(home, first_run, home.cli("run"))


def test_the_good_file_loads_whole_beside_unreadable_ones(outcome: Outcome):
    good = good_file()
    assert outcome.first_run.returncode == 1, brief(outcome.first_run)
    assert_no_traceback(outcome.first_run)
    assert_rows_accounted(outcome.home, good.name, good.rows, good.good)
    assert outcome.home.warehouse_titles(good.name) == sorted(good.good_titles)
    assert [n["subject"] for n in outcome.home.notifications_for(good.name)] == [
        f"quality_movies succeeded: {good.name}"
    ]


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_an_unreadable_file_fails_alone_naming_the_file(outcome: Outcome, name: str):
    _, words = UNREADABLE[name]
    assert_failure_told(outcome.home, outcome.first_run, name, *words)
    assert_nothing_published(outcome.home, name)


def test_later_runs_go_on_and_leave_no_temporary_files(outcome: Outcome):
    later = good_file("later.csv", tag=" L")
    assert outcome.later_run.returncode == 0, brief(outcome.later_run)
    assert_no_traceback(outcome.later_run)
    assert_rows_accounted(outcome.home, later.name, later.rows, later.good)
    for name in UNREADABLE:
        assert len(outcome.home.notifications_for(name)) == 1, name
    assert outcome.home.leftovers() == []
