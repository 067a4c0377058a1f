"""A ruleset that does not load stops the run before any file (issue 11 point 5).

It says so once (the ruleset's file and line), lists the files left pending, notifies once, publishes
nothing, and the files are processed by the next run once the ruleset is fixed.
"""

import re

import pytest

from quality_movies_tests.reliability.conftest import (
    Home,
    assert_no_traceback,
    assert_rows_accounted,
    brief,
    output_of,
)
from quality_movies_tests.reliability.inputs import good_file

pytestmark = [pytest.mark.reliability, pytest.mark.xdist_group("reliability")]

BROKEN_RULESET = """Rules = [
    IsComplete "series_title",
    ColumnValues "imdb_rating" betwen 8.5 and 10.3
]
"""


def test_a_ruleset_that_does_not_load_stops_the_run_before_any_file(home: Home, tmp_path):
    files = [good_file(f"{name}.csv", tag=f" {name}") for name in ("one", "two", "three")]
    home.drop({f.name: f.content for f in files})
    ruleset = tmp_path / "broken.dqdl"
    ruleset.write_text(BROKEN_RULESET)

    done = home.cli("run", QUALITY_MOVIES_RULESET=str(ruleset))
    assert done.returncode != 0
    assert_no_traceback(done)
    text = output_of(done)
    mentions = [line for line in text.splitlines() if "broken.dqdl" in line]
    assert 1 <= len(mentions) <= 2, text
    assert re.search(r"broken\.dqdl:3\b|line 3\b", mentions[0]), text
    for movies in files:
        assert movies.name in text, text
        assert home.published(movies.name) == set()
    assert home.warehouse_rows() == {}
    [note] = home.outbox()
    assert "broken.dqdl" in note["subject"] + str(note["message"]), note

    fixed = home.cli("run")
    assert fixed.returncode == 0, brief(fixed)
    for movies in files:
        assert_rows_accounted(home, movies.name, movies.rows, movies.good)
        assert len(home.notifications_for(movies.name)) == 1
    assert home.leftovers() == []
