"""Rules from awslabs/dqdl's parser tests: DQRuleTest's ("parsing a rule and converting it back to a
string yields the original raw rule") parse here and keep their text; InvalidDQRulesetTest's are rejected.
"""

import pytest

from quality_movies.dq.errors import DataQualityError, UnevaluableRuleError
from quality_movies.dq.parser import parse_dqdl, parse_ruleset

RULES = [
    'IsPrimaryKey "colA" "colB"',
    'IsPrimaryKey colA "col B"',
    'IsPrimaryKey "colA" where "colA > 100"',
    "RowCount != 100",
    "RowCount = -100",
    'RowCount = 100 where "colA > 100"',
    'RowCountMatch "reference" between 0.8 and 0.98',
    "Completeness of col_1 not between 0.5 and 0.8",
    'Completeness "col_1" between -0.5 and -0.4',
    'Completeness "col_1" between (0.9 * avg(last(10))) and (1.1 * avg(last(10)))',
    'ColumnDataType "col_1" = "String" with threshold between 0.4 and 0.8',
    'ColumnDataType "col_1" in ["Date","String"] with threshold > 0.9',
    'ColumnNamesMatchPattern "aws_.*_[a-zA-Z0-9]+"',
    "ColumnCount > -100.123456",
    "ColumnCorrelation of col_1 col_2 between 0.4 and 0.8",
    'ColumnCorrelation of col_1 and "col abc" between 0.4 and 0.8',
    'Uniqueness "col_1" "col_2" "col_3" > 0.5',
    'IsUnique "col_1" "col_2" "col_3"',
    'Uniqueness "col_1" between -0.00000001 and 0.00000000000002',
    'ColumnValues "col_1" between "2022-06-01" and "2022-06-30" where "col-A > 100"',
    'ColumnValues "order-id" in [1,2,3,4,NULL]',
    'ColumnValues "order-id" not in ["1","2","3","4"]',
    'ColumnValues "col-A" < (now() + 4 minutes)',
    'ColumnValues "col-A" between "9:00 AM" and "21:50"',
    'Sum "col_A-B.C" > -100.0 where "col-A > 100"',
    'Variance "col_A-B.CD" between 0.1 and 0.5',
    'ColumnValues "col-A" not matches "[a-z]*" with threshold <= 0.4',
    'ColumnValues "col-A" in [now(),(now() - 3 hours),now(),(now() + 4 days)]',
    'ColumnValues "col-A" not between (now() - 3 hours) and (now() + 14 days)',
    'ColumnValues "col-A" != WHITESPACES_ONLY',
    'ColumnValues "col-A" in [NULL,EMPTY,WHITESPACES_ONLY]',
    '(ColumnValues "col-A" not in [NULL,EMPTY,WHITESPACES_ONLY]) OR '
    '(ColumnValues "col-B" != WHITESPACES_ONLY)',
    'ColumnValues "col-A" <= 0.4 with threshold not between 0.4 and 0.8',
    'ColumnValues "col-A" in ["2022-01-01",NULL] with threshold > 0.98',
    'DataFreshness "col-A" > 90 minutes',
    'DataFreshness "col-A" <= 3 days where "col-A > 100"',
    'ReferentialIntegrity "col-A,col-B" "reference.{col-A1,col-A2}" = 0.99',
    'DatasetMatch "reference" "ID1->ID11,ID2->ID22" "colA->colAA" between 0.4 and 0.8',
    'AggregateMatch "SUM(col-A)" "SUM(reference.colA)" >= 0.95',
    'CustomSql "select col-A from primary" with threshold > 0.5',
    'DetectAnomalies of Completeness of "colA"',
    'DetectAnomalies of ColumnCorrelation of "colA" and "colB"',
    'FileMatch in ["hashList","hashList"]',
    'FileMatch "S3://PATH1" in ["a"] with tag1 = "sampom" with tag2 = "pomsam"',
    "FileSize not between 50 GB and 1 TB",
    "FileSize not in [500 KB,150 GB]",
    "FileSize in [3,4,5,6]",
    '((RowCount > 0) AND (IsComplete "colB")) OR ((IsComplete "colA") AND (IsUnique "colA"))',
    'FileFreshness "S3://PATH" > "21:45" with timeZone = "America/New_York"',
    'FileFreshness "S3://PATH" between (now() - 2 hours) and "21:45"',
    'FileFreshness "S3://PATH" between "2024-01-01" and (now() + 10 minutes)',
    'FileFreshness > "9:30 AM" with recentFiles = "1"',
]


@pytest.mark.parametrize("rule", RULES)
def test_reference_rule_parses_and_keeps_its_text(rule: str) -> None:
    [parsed] = parse_dqdl(f"Rules = [ {rule} ]").rules
    assert parsed.text == rule


def test_parameters_of_reference_rules() -> None:
    # DQRuleTest: `DetectAnomalies of ColumnCorrelation of "colA" and "colB"`, `IsPrimaryKey colA "col B"`.
    [anomalies, key] = parse_dqdl(
        'Rules = [ DetectAnomalies of ColumnCorrelation of "colA" and "colB", '
        'IsPrimaryKey colA "col B" ]'
    ).rules
    assert anomalies.parameters == ("ColumnCorrelation", "colA", "colB")
    assert key.parameters == ("colA", "col B")


@pytest.mark.parametrize(
    "rule",
    [
        # The reference grammar takes any function name; the dynamic rules section documents avg,
        # median, min, max, sum, std, abs, index and last. Others load, as in Glue, and the rule is
        # Failed when it runs, naming the function.
        "RowCount between (0.9 * average(last(10))) and 1.1 * average(last(10))",
        "ColumnCount = avg(std(last(10)))",
        "ColumnCount = avg(std(last(percentile(1,2,3))))",
    ],
)
def test_undocumented_functions_load_and_fail_when_run(rule: str) -> None:
    [parsed] = parse_dqdl(f"Rules = [ {rule} ]").rules
    value = parsed.condition.values[-1]
    with pytest.raises(UnevaluableRuleError, match="average|last"):
        value.expression.evaluate(lambda k: [1.0] * (k or 10))


INVALID_RULESETS = [
    # awslabs/dqdl InvalidDQRulesetTest: every one must be rejected (the grammar, the language checks or
    # the rule type's own shape).
    "Rules = {",
    "Rules = }",
    "Rules = { }",
    "Rules = [ ]",
    "Rules = [",
    "Rules = ]",
    "Rules = Abcdefg123",
    'Rules11 = [ ColumnValues "load_dt" > (now() - 1) ]',
    'Rules = [ 11ColumnValues "load_dt" > (now() - 1) ]',
    'Rules = [ ColumnValues "load_dt" "load_dt_2" > (now() - 1) ]',
    'Rules = [ Completeness "col-A" ]',
    'Rules = { Completeness "col-A" }',
    "Rules = [ ColumnNamesMatchPattern aws_* ]",
    'Rules = [ IsComplete "col-A" > 0.05 ]',
    'Rules = [ IsUnique "col-A" <= 1.5 ]',
    'Rules = [ IsPrimaryKey "col-A" between 1 and 2 ]',
    'Rules = [ ColumnDataType "col-A" ]',
    'Rules = [ ColumnDataType "col-A" with threshold > 0.7 ]',
    'Rules = [ ColumnDataType "col-A" "col-B" ]',
    'Rules = [ ColumnValues "col-A" matches ]',
    'Rules = [ ColumnValues "col-A" now() ]',
    'Rules = [ ColumnValues "col-A" > now() + 1 hours ]',
    'Rules = [ ColumnValues "col-A" = (now() - 3 weeks) ]',
    'Rules = [ Completeness "col-A" > 0.4 with threshold > 0.4]',
    'Rules = [ ColumnValues "col-A" > 0.4 with]',
    'Rules = [ ColumnValues "col-A" > 0.4 threshold]',
    'Rules = [ ColumnValues "col-A" > 0.4 with threshold]',
    'Rules = [ ColumnValues "col-A" in [1,"2"] ]',
    'Rules = [ DataFreshness "col-A" <= 3 ]',
    'Rules = [ DataFreshness "col-A" > 30 ]',
    'Rules = [ DataFreshness "col-A" between 2 and 4 days ]',
    'Rules = [ ReferentialIntegrity "col-A" "reference" "col-A1" ]',
    'Rules = [ ReferentialIntegrity "col-A" = 0.99 ]',
    'Rules = [ DatasetMatch "reference" = 0.99 ]',
    'Rules = [ DatasetMatch "reference" "ID" ]',
    'Rules = [ DatasetMatch "reference" "ID" "colA" ]',
    'Rules = [ DatasetMatch "reference" "ID" "colA" > 0.9 with threshold > 0.9]',
    "Rules = [ SchemaMatch with threshold between 0.2 and 0.4 ]",
    'Rules = [ SchemaMatch "ref-1" between 0.2 and 0.4 with threshold > 0.5 ]',
    'Rules = [ SchemaMatch "ref-1" "ref-2" ]',
    "Rules = [ RowCountMatch > 0.1 ]",
    'Rules = [ RowCountMatch "reference-1" "col-1" > 0.1 ]',
    'Rules = [ RowCountMatch "reference-1" > 0.1 with threshold > 0.1 ]',
    "Rules = [ AggregateMatch > 0.1 ]",
    'Rules = [ AggregateMatch "sum(col-A)" > 0.1 ]',
    'Rules = [ AggregateMatch "sum(col-A)" "sum(reference.colA)"]',
    "Rules = [ DetectAnomalies ]",
    'Rules = [ AllStatistics "id" > 0 ]',
    'Rules = [ AllStatistics "id" ]',
    # InvalidDQRulesetTest, with Monitors (a section DQDL no longer has).
    'Rules = [ IsPrimaryKey "col-A"] Monitors = [ Completeness "colA" ]',
]


@pytest.mark.parametrize("text", INVALID_RULESETS)
def test_reference_invalid_ruleset_is_rejected(text: str) -> None:
    with pytest.raises(DataQualityError):
        parse_ruleset(text)
