"""The long tail of AWS's and Deequ's suites (issue 21, point 3): what AWS's parser accepts loads here too
(test_aws_parser checks each rule below against AWS's parser: the corpus gathers them), and what cannot
run as written is a Failed rule with its reason, never a load error.

The data: ``id`` 1-3 complete and unique, ``a b`` complete, ``t`` times of day, ``x`` one blank (row 3).
Each expected outcome is read off the rule and these three rows.
"""

from pathlib import Path

import pytest

from quality_movies.dq import evaluate_file, parse_ruleset

DATA = "id,a b,t,x\n1,p,9:30 AM,5\n2,q,1:15 PM,7\n3,r,11:00 PM,\n"
REFERENCE = "id,name\n1,one\n2,two\n"

# (rule, outcome, what the FailureReason says)
CASES = [
    # Any function name and nested history functions parse (g4 `functionCall: IDENTIFIER LPAREN ...`);
    # only the documented ones are computed.
    ("RowCount > average(last(3))", "Failed", "unknown function 'average'"),
    ("RowCount > multiply(2, 3)", "Failed", "unknown function 'multiply'"),
    ("RowCount > avg(std(last(10)))", "Failed", "avg reads history"),
    # Times of day are dates in the g4 (`timeExpression`); a column is not compared with them here.
    ('ColumnValues "t" between "9:00 AM" and "5:00 PM"', "Failed", "times of day"),
    # Tags are free in the g4 (`'with' tagValues ...`); one the rule type does not read fails it.
    ('IsComplete "id" with foo = "bar"', "Failed", "'foo' is not a tag of IsComplete"),
    # A date format, a type name or a where clause Deequ cannot use fails when run.
    ('ColumnDataType "t" = "DATE" with format = "not-a-format"', "Failed", "format is one of"),
    ('ColumnDataType "x" = "Whatever"', "Failed", "with TYPE one of"),
    ('IsComplete "x" where "x >>> ("', "Failed", "the where clause is not valid SQL"),
    # A dataset no one gave: Failed, saying how to give it.
    ('RowCountMatch "missing" = 1.0', "Failed", "'missing' that was not given"),
    # Spark's back quotes around a column name name that column; `a b` is complete.
    ('IsComplete "`a b`"', "Passed", None),
    # Character classes in ColumnNamesMatchPattern: every column is letters, spaces or underscores.
    ('ColumnNamesMatchPattern "[a-z_ ]+"', "Passed", None),
    (
        'ColumnNamesMatchPattern "^[a-z]\\\\w*$"',
        "Failed",
        "Columns that do not match the pattern: a b",
    ),
    # CustomSql's returned columns must be the primary's (AWS's reference implementation).
    (
        'CustomSql "select id, 1 as other from primary"',
        "Failed",
        "should only belong to the primary table. Columns not found: other",
    ),
    # CustomSql joining a dataset given as a reference: rows 1 and 2 have a name, so 2 of 3 pass.
    ('CustomSql "select p.id from primary p join reference r on p.id = r.id"', "Failed", "1 of 3"),
    # A Glue Data Catalog table: read from a reference of that name when given, else Failed naming it.
    ('CustomSql "select count(*) from db.names" = 2', "Passed", None),
    (
        'CustomSql "select count(*) from db.other" = 2',
        "Failed",
        "'db.other' is a Glue Data Catalog",
    ),
]


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_what_aws_accepts_loads_and_fails_only_when_run(
    engine: str, tmp_path: Path, request
) -> None:
    spark = request.getfixturevalue("spark") if engine == "spark" else None
    data = tmp_path / "data.csv"
    data.write_text(DATA, encoding="utf-8")
    reference = tmp_path / "reference.csv"
    reference.write_text(REFERENCE, encoding="utf-8")
    text = "Rules = [\n    " + ",\n    ".join(rule for rule, _, _ in CASES) + "\n]\n"
    summary = evaluate_file(
        parse_ruleset(text, source="residual.dqdl"),
        data,
        tmp_path / "out",
        engine=engine,
        spark=spark,
        references={"reference": reference, "db.names": reference},
    )
    got = [(o.rule, o.outcome, o.failure_reason) for o in summary.rule_outcomes]
    for (rule, outcome, reason), (written, actual, why) in zip(CASES, got, strict=True):
        assert (written, actual) == (rule, outcome), why
        if reason is not None:
            assert reason in (why or ""), (rule, why)


def test_an_empty_variable_loads() -> None:
    # awslabs/dqdl accepts `x = ""` (checked in test_aws_parser through the corpus).
    ruleset = parse_ruleset('nothing = ""\nRules = [ ColumnValues "x" in $nothing ]')
    assert [v.text for v in ruleset.rules[0].condition.values] == [""]


# Deequ's ColumnLength specs (awslabs/deequ EvaluateDataQualitySpec, "support ColumnLength rule ..."),
# on their two data frames: its EvaluatedMetrics name the compliance of `in`, `not in` and
# `not between` Column.<c>.LengthCompliance (ColumnLengthRule's metric mapping) and report the
# shortest and longest length for the comparisons. Metric values are read off the data by hand.
DEEQU_FULL = "item,att1,att2\n1,a,c\n2,a,c\n3,a,c\n4,b,d\n"
DEEQU_VAR_LENGTHS = (
    "item,att1,att2,val1,val2\n1,a,f,1,1\n22,b,d,2,\n333,a,,3,3\n"
    "4444,a,f,4,4\n55555,b,,5,\n666666,a,f,6,6\n"
)
DEEQU_COLUMN_LENGTH = [
    (DEEQU_FULL, 'ColumnLength "item" > 0', "Passed", {"Column.item.MinimumLength": 1.0}),
    (DEEQU_FULL, 'ColumnLength "item" > 5', "Failed", {"Column.item.MinimumLength": 1.0}),
    (DEEQU_FULL, 'ColumnLength "item" < 10', "Passed", {"Column.item.MaximumLength": 1.0}),
    (
        DEEQU_FULL,
        'ColumnLength "item" = 1',
        "Passed",
        {"Column.item.MinimumLength": 1.0, "Column.item.MaximumLength": 1.0},
    ),
    (DEEQU_FULL, 'ColumnLength "item" in [1]', "Passed", {"Column.item.LengthCompliance": 1.0}),
    (
        DEEQU_VAR_LENGTHS,
        'ColumnLength "item" not in [7]',
        "Passed",
        {"Column.item.LengthCompliance": 1.0},
    ),
    # lengths 1 to 6: 2 of the 6 are 2 or 3 long
    (
        DEEQU_VAR_LENGTHS,
        'ColumnLength "item" in [2, 3]',
        "Failed",
        {"Column.item.LengthCompliance": round(2 / 6, 12)},
    ),
    # not between is inclusive: lengths 1, 2, 5, 6 are <= 2 or >= 5
    (
        DEEQU_VAR_LENGTHS,
        'ColumnLength "item" not between 2 and 5',
        "Failed",
        {"Column.item.LengthCompliance": round(4 / 6, 12)},
    ),
    # the rows with val1 < 4 have items 1, 22, 333
    (
        DEEQU_VAR_LENGTHS,
        'ColumnLength "item" < 4 where "val1 < 4"',
        "Passed",
        {"Column.item.MaximumLength": 3.0},
    ),
    (
        DEEQU_VAR_LENGTHS,
        'ColumnLength "item" between 1 and 4 where "val1 > 1 and val1 < 4"',
        "Passed",
        {"Column.item.MaximumLength": 3.0},
    ),
]


@pytest.mark.parametrize(("data", "rule", "outcome", "metrics"), DEEQU_COLUMN_LENGTH)
def test_column_length_reports_deequs_metric_names(
    data: str, rule: str, outcome: str, metrics: dict[str, float], tmp_path: Path
) -> None:
    path = tmp_path / "data.csv"
    path.write_text(data, encoding="utf-8")
    summary = evaluate_file(parse_ruleset(f"Rules = [ {rule} ]"), path, tmp_path / "out")
    [result] = summary.rule_outcomes
    assert result.outcome == outcome, result.failure_reason
    for name, value in metrics.items():
        assert result.evaluated_metrics[name] == pytest.approx(value), result.evaluated_metrics
    assert "Column.item.ColumnLength.Compliance" not in result.evaluated_metrics
