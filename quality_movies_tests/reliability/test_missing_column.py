"""Issue 22 point 2 through `run`: a ruleset naming a column the file does not have.

The rule is Failed naming the column (as Glue's rule outcomes and Deequ report it) and, being a
row-level rule that was not evaluated, validates no row: every row goes to the bad records with the
rule in DataQualityRulesFail, none to the warehouse. Deequ would list it in DataQualityRulesSkip and
pass the rows; here a rule that could not look at a row never vouches for it.
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

RULES = """Rules = [
    IsComplete "Series_Title",
    ColumnValues "Budget" > 0
]
"""


def test_a_rule_on_a_missing_column_fails_naming_it_and_validates_no_row(home: Home, tmp_path):
    ruleset = tmp_path / "budget.dqdl"
    ruleset.write_text(RULES)
    movies = good_file("movies.csv")
    home.drop({movies.name: movies.content})

    done = home.cli("run", QUALITY_MOVIES_RULESET=str(ruleset))
    assert done.returncode == 0, brief(done)  # the file was processed: its rows are accounted for
    assert_no_traceback(done)
    assert '[Failed] ColumnValues "Budget" > 0' in done.stdout, brief(done)
    assert "Column 'Budget' does not exist" in done.stdout, brief(done)
    assert_rows_accounted(home, movies.name, movies.rows, good=0)
    bad = home.bad_records(movies.name)
    assert len(bad) == movies.rows == 6
    assert all('ColumnValues "Budget" > 0' in r["DataQualityRulesFail"] for r in bad)
    assert all(r["DataQualityEvaluationResult"] == "Failed" for r in bad)
    [note] = home.notifications_for(movies.name)
    outcome = {o["rule"]: o for o in note["message"]["rule_outcomes"]}
    assert outcome['ColumnValues "Budget" > 0']["outcome"] == "Failed"
    assert "Budget" in outcome['ColumnValues "Budget" > 0']["failure_reason"]
    assert note["message"]["rows_loaded"] == 0
