"""Every rule type of the AWS "DQDL rule type reference" parses with its parameters, condition and tags.

Each row is an example of that rule type's page (AWS Glue guide, dqdl-rule-types-<Type>), with what the
page says it means read off by hand: the parameters as the rule names them, the operator and operands, the
tags. ``parse_dqdl`` checks the language only; whether the engine evaluates the type is docs/dqdl.md's table.
"""

import pytest

from quality_movies.dq import model
from quality_movies.dq.parser import parse_dqdl

MB = 1024 * 1024

EXAMPLES = [
    # (rule as the page writes it, rule type, parameters, operator, operand texts, tags)
    ('AggregateMatch "sum(col1)" "sum(reference.col1)" >= 0.9', "AggregateMatch",
     ("sum(col1)", "sum(reference.col1)"), ">=", ["0.9"], {}),
    ('ColumnCorrelation "height" "weight" > 0.8', "ColumnCorrelation", ("height", "weight"), ">",
     ["0.8"], {}),
    ("ColumnCount between 10 and 20", "ColumnCount", (), "between", ["10", "20"], {}),
    ('ColumnDataType "colA" = "INTEGER" with threshold > 0.9', "ColumnDataType", ("colA",), "=",
     ['"INTEGER"'], {}),
    ('ColumnDataType "price" = "DECIMAL(10,2)"', "ColumnDataType", ("price",), "=",
     ['"DECIMAL(10,2)"'], {}),
    ('ColumnDataType "d" != "DATE" with format = "yyyy-MM-dd"', "ColumnDataType", ("d",), "!=",
     ['"DATE"'], {"format": "yyyy-MM-dd"}),
    ('ColumnExists "Middle_Name"', "ColumnExists", ("Middle_Name",), None, [], {}),
    ('ColumnLength "Postal_Code" = 5', "ColumnLength", ("Postal_Code",), "=", ["5"], {}),
    ('ColumnNamesMatchPattern "aws_.*"', "ColumnNamesMatchPattern", ("aws_.*",), None, [], {}),
    ('ColumnValues "Country" in [ "US", "CA", "UK" ]', "ColumnValues", ("Country",), "in",
     ['"US"', '"CA"', '"UK"'], {}),
    ('ColumnValues "First_Name" matches "[a-zA-Z]*"', "ColumnValues", ("First_Name",), "matches",
     ['"[a-zA-Z]*"'], {}),
    ('ColumnValues "Load_Date" > (now() - 3 days)', "ColumnValues", ("Load_Date",), ">",
     ["(now() - 3 days)"], {}),
    ('ColumnValues "Customer_ID" between 1 and 2000 with threshold > 0.95', "ColumnValues",
     ("Customer_ID",), "between", ["1", "2000"], {}),
    ('Completeness "First_Name" > 0.95 where "Customer_ID < 10"', "Completeness", ("First_Name",),
     ">", ["0.95"], {}),
    ('CustomSql "select count(*) from primary" between 10 and 20', "CustomSql",
     ("select count(*) from primary",), "between", ["10", "20"], {}),
    # CustomSql's row-level form: a query returning rows, no condition, optionally a threshold.
    ('CustomSql "select Order_Id from primary where Order_Total > 0" with threshold > 0.9',
     "CustomSql", ("select Order_Id from primary where Order_Total > 0",), None, [], {}),
    ('DataFreshness "Order_Date" <= 24 hours', "DataFreshness", ("Order_Date",), "<=",
     ["1 days"], {}),
    ('DataFreshness "Order_Date" between 2 days and 5 days', "DataFreshness", ("Order_Date",),
     "between", ["2 days", "5 days"], {}),
    ('DatasetMatch "reference" "ID1,ID2" "Name->RefName" >= 0.9', "DatasetMatch",
     ("reference", "ID1,ID2", "Name->RefName"), ">=", ["0.9"], {}),
    ('DetectAnomalies "RowCount"', "DetectAnomalies", ("RowCount",), None, [], {}),
    ('DetectAnomalies "ColumnLength" "id"', "DetectAnomalies", ("ColumnLength", "id"), None, [], {}),
    ('DistinctValuesCount "State" > 3', "DistinctValuesCount", ("State",), ">", ["3"], {}),
    ('Entropy "Star_Rating" > 1', "Entropy", ("Star_Rating",), ">", ["1"], {}),
    ('FileFreshness "s3://bucket/tickets/" between "9:30 AM" and "9:30 PM"', "FileFreshness",
     ("s3://bucket/tickets/",), "between", ['"9:30 AM"', '"9:30 PM"'], {}),
    ('FileFreshness "s3://bucket/" >= (now() -1 days)', "FileFreshness", ("s3://bucket/",), ">=",
     ["(now() - 1 days)"], {}),
    ('FileFreshness "s3://bucket/" < (now() - 10 days) with threshold > 0.1', "FileFreshness",
     ("s3://bucket/",), "<", ["(now() - 10 days)"], {}),
    ('FileFreshness "s3://bucket/" > (now() - 24 hours) with timeZone = "Asia/Tokyo"',
     "FileFreshness", ("s3://bucket/",), ">", ["(now() - 1 days)"], {"timeZone": "Asia/Tokyo"}),
    ('FileMatch "s3://bucket/file.json" in ["3ee0d8617ac041793154713e5ef8f319"] '
     'with hashAlgorithm = "MD5"', "FileMatch", ("s3://bucket/file.json",), "in",
     ['"3ee0d8617ac041793154713e5ef8f319"'], {"hashAlgorithm": "MD5"}),
    ('FileMatch "s3://bucket1/" "s3://bucket2/" with matchFileName = "true"', "FileMatch",
     ("s3://bucket1/", "s3://bucket2/"), None, [], {"matchFileName": "true"}),
    ('FileSize "s3://bucket/file.json" > 1 MB', "FileSize", ("s3://bucket/file.json",), ">",
     ["1 MB"], {}),
    ('FileSize "s3://bucket/" <= 5 GB with recentFiles = 1', "FileSize", ("s3://bucket/",), "<=",
     ["5 GB"], {"recentFiles": 1.0}),
    ('FileUniqueness "s3://bucket/" > 0.5 with recentFiles = 1', "FileUniqueness",
     ("s3://bucket/",), ">", ["0.5"], {"recentFiles": 1.0}),
    ("FileUniqueness > 0.5", "FileUniqueness", (), ">", ["0.5"], {}),
    ('IsComplete "email"', "IsComplete", ("email",), None, [], {}),
    ('IsPrimaryKey "Customer_ID" "Order_ID"', "IsPrimaryKey", ("Customer_ID", "Order_ID"), None,
     [], {}),
    ('IsUnique "email"', "IsUnique", ("email",), None, [], {}),
    ('Mean "Star_Rating" > 3', "Mean", ("Star_Rating",), ">", ["3"], {}),
    ('ReferentialIntegrity "zipcode" "reference.zipcode" >= 0.9', "ReferentialIntegrity",
     ("zipcode", "reference.zipcode"), ">=", ["0.9"], {}),
    ('ReferentialIntegrity "city,state" "reference.{ref_city,ref_state}" = 1.0',
     "ReferentialIntegrity", ("city,state", "reference.{ref_city,ref_state}"), "=", ["1"], {}),
    ('RowCount between 1 and 50 where "Customer_ID < 10"', "RowCount", (), "between",
     ["1", "50"], {}),
    ('RowCountMatch "reference" >= 0.9', "RowCountMatch", ("reference",), ">=", ["0.9"], {}),
    ('SchemaMatch "reference" = 1.0', "SchemaMatch", ("reference",), "=", ["1"], {}),
    ('StandardDeviation "Star_Rating" < 1.5', "StandardDeviation", ("Star_Rating",), "<",
     ["1.5"], {}),
    ('Sum "transaction_total" > 500000', "Sum", ("transaction_total",), ">", ["500000"], {}),
    ('UniqueValueRatio "test_score" between 0 and 0.5', "UniqueValueRatio", ("test_score",),
     "between", ["0", "0.5"], {}),
    ('Uniqueness "email" = 1.0', "Uniqueness", ("email",), "=", ["1"], {}),
    ('Variance "Star_Rating" < 10', "Variance", ("Star_Rating",), "<", ["10"], {}),
]  # fmt: skip


@pytest.mark.parametrize("example", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_documented_example_parses(example) -> None:
    text, rule_type, parameters, operator, operands, tags = example
    [rule] = parse_dqdl(f"Rules = [ {text} ]").rules
    assert isinstance(rule, model.Rule)
    assert (rule.rule_type, rule.parameters) == (rule_type, parameters)
    if operator is None:
        assert rule.condition is None
    else:
        assert rule.condition.operator == operator
        assert [str(v) for v in rule.condition.values] == operands
    assert {k: v.text if v.kind == model.STRING else v.number for k, v in rule.tags.items()} == tags
    assert rule.text == text


def test_sizes_are_bytes() -> None:
    [rule] = parse_dqdl('Rules = [ FileSize "s3://bucket/file.json" > 1 MB ]').rules
    assert rule.condition.values[0].number == MB


def test_every_documented_example_in_one_ruleset() -> None:
    """A ruleset made of the documentation's examples loads as one document, in order."""
    text = "Rules = [\n    " + ",\n    ".join(e[0] for e in EXAMPLES) + "\n]"
    ruleset = parse_dqdl(text)
    assert [rule.rule_type for rule in ruleset.rules] == [e[1] for e in EXAMPLES]
    assert [rule.line for rule in ruleset.rules] == list(range(2, len(EXAMPLES) + 2))
