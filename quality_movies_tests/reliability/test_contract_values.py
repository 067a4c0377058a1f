"""A value the warehouse contract rejects, in a row that passes the rules (issue 11 point 4).

The row goes to bad records with a ``Contract:`` reason in DataQualityRulesFail; the file's other
rows load and every row is counted once.
"""

import pytest

from quality_movies_tests.reliability.conftest import (
    Home,
    assert_no_traceback,
    assert_rows_accounted,
    brief,
)
from quality_movies_tests.reliability.inputs import contract_breaking_file

pytestmark = [pytest.mark.reliability, pytest.mark.xdist_group("reliability")]


def bad_record_of(records: list[dict], title: str) -> dict:
    [record] = [r for r in records if title in r.values()]
    return record


def test_contract_breaking_rows_become_bad_records_and_the_rest_loads(home: Home):
    movies = contract_breaking_file()
    home.drop({movies.name: movies.content})

    done = home.cli("run")
    assert done.returncode == 0, brief(done)
    assert_no_traceback(done)
    assert_rows_accounted(home, movies.name, movies.rows, movies.good)
    assert home.warehouse_titles(movies.name) == ["Kept Film"]

    records = home.bad_records(movies.name)
    for title, value in (("Wordy Score", "eighty"), ("Too High Score", "150")):
        record = bad_record_of(records, title)
        assert record["DataQualityEvaluationResult"] == "Failed"
        reasons = [r for r in record["DataQualityRulesFail"] if r.startswith("Contract")]
        assert len(reasons) == 1, record
        assert "meta_score" in reasons[0] and value in reasons[0], reasons
    low = bad_record_of(records, "Low Rated")
    assert low["DataQualityRulesFail"] == ['ColumnValues "imdb_rating" between 8.5 and 10.3']

    [note] = home.notifications_for(movies.name)
    assert note["subject"] == f"quality_movies succeeded: {movies.name}"
    assert (note["message"]["good_rows"], note["message"]["bad_rows"]) == (1, 3)
    assert home.leftovers() == []
