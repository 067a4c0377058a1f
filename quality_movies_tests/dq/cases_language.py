"""Semantic cases for DQDL language features, derived by hand from the AWS Glue guide and awslabs/dqdl.

Same ``Case`` shape as cases.py; test_semantics runs them on DuckDB and Spark. Each comment names the
documented behaviour its expectation follows. ``OUTCOME_LABELS`` gives, for the cases that use labels, the
``Labels`` each rule outcome carries (the rule's labels over ``DefaultLabels``), in rule order.
"""

from quality_movies_tests.dq.cases import Case

CASES = [
    # Variables (DQDLVariableResolver): a list variable is the `in` list, a string variable the where
    # clause. Row 3 (year 1999) is outside the where clause: Passed and left out of the metric, so
    # compliance is 2 of rows 1, 2, 4 (UK is not in the list).
    Case(
        "variables_in_list_and_where_clause",
        """countries = ["US", "CA"]
        Rules = [ ColumnValues "country" in $countries where "year > 2000" ]""",
        "id,country,year\n1,US,2001\n2,UK,2005\n3,FR,1999\n4,CA,2010\n",
        ["Failed"],
        ["Passed", "Failed", "Passed", "Passed"],
        {"Column.country.ColumnValues.Compliance": 0.666666666667},
    ),
    # A string variable as CustomSql's statement: two scores above 5, so the count is 2.
    Case(
        "variable_as_custom_sql_statement",
        """high = "select count(*) from primary where score > 5"
        Rules = [ CustomSql $high = 2 ]""",
        "id,score\n1,9\n2,6\n3,1\n",
        ["Passed"],
        ["Passed", "Passed", "Passed"],
        {"Dataset.*.CustomSQL": 2.0},
        skipped_rules_per_row=1,
    ),
    # Composite rules without parentheses, `and` binding tighter than `or` (g4: `topLevelRule AND
    # topLevelRule` is listed before `topLevelRule OR topLevelRule`): a or (b and c). Column a is complete,
    # so the rule passes and every row passes; read as (a or b) and c, rows 1 and 2 (c missing) would fail.
    Case(
        "composite_and_binds_tighter_than_or",
        'Rules = [ (IsComplete "a") or (IsComplete "b") and (IsComplete "c") ]',
        "id,a,b,c\n1,x,,\n2,x,y,\n3,x,,z\n",
        ["Passed"],
        ["Passed", "Passed", "Passed"],
    ),
    # Upper-case AND / OR, same precedence: (a AND b) OR c. Column c is complete, so the rule and every
    # row pass; read as a AND (b OR c), row 1 (a missing) and the rule would fail.
    Case(
        "composite_upper_case_operators",
        'Rules = [ (IsComplete "a") AND (IsComplete "b") OR (IsComplete "c") ]',
        "id,a,b,c\n1,,y,z\n2,x,y,z\n",
        ["Passed"],
        ["Passed", "Passed"],
    ),
    # A composite's outcome carries the metrics of every rule in it (AWS's reference implementation,
    # awslabs/deequ EvaluateDataQualitySpec: "collect metrics from all nested rules in composite").
    # (Mean > 10 and Sum > 7) or RowCount = 2: (False and True) or True passes; read as
    # Mean > 10 and (Sum > 7 or RowCount = 2) it would fail. Mean of 2, 4 is 3; sum of 3, 5 is 8.
    Case(
        "composite_metrics_from_every_nested_rule",
        'Rules = [ Mean "att2" > 10 and Sum "att3" > 7 or RowCount = 2 ]',
        "id,att2,att3\n1,2,3\n2,4,5\n",
        ["Passed"],
        ["Passed", "Passed"],
        {"Column.att2.Mean": 3.0, "Column.att3.Sum": 8.0, "Dataset.*.RowCount": 2.0},
        skipped_rules_per_row=1,
    ),
    # Constant expressions are computed when loading, left to right at one precedence level (the g4's
    # `number: number numberOp number`): 2 + 1 * 2 = 6, (2 + 1) * 2 = 6, 2 + (1 * 2) = 4. Six rows.
    Case(
        "constant_expressions_left_to_right",
        """Rules = [
            RowCount = 2 + 1 * 2,
            RowCount = (2 + 1) * 2,
            RowCount != 2 + (1 * 2),
            RowCount between 10 / 2 and 14 / 2
        ]""",
        "id\n1\n2\n3\n4\n5\n6\n",
        ["Passed", "Passed", "Passed", "Passed"],
        ["Passed"] * 6,
        {"Dataset.*.RowCount": 6.0},
        skipped_rules_per_row=4,
    ),
    # Expressions in a row-level rule: `> 10 / 4` is `> 2.5`, `<= 1 + 1 * 2` is `<= 4`.
    Case(
        "expressions_in_column_values",
        'Rules = [ ColumnValues "x" > 10 / 4, ColumnValues "x" <= 1 + 1 * 2 ]',
        "id,x\n1,2\n2,3\n3,5\n",
        ["Failed", "Failed"],
        ["Failed", "Passed", "Failed"],
    ),
    # Lower-case keywords mean the same as upper-case ones (reference: NULL, EMPTY, WHITESPACES_ONLY).
    Case(
        "lower_case_keywords",
        'Rules = [ ColumnValues "c" in ["a", null, whitespaces_only] ]',
        'id,c\n1,a\n2,\n3,"   "\n4,b\n',
        ["Failed"],
        ["Passed", "Passed", "Passed", "Failed"],
    ),
    # Unquoted names and the `of` form are the quoted parameter: Completeness of title is 2 of 3 > 0.5;
    # IsComplete title fails on row 2 (NULL), and so does Completeness at row level.
    Case(
        "unquoted_and_of_parameters",
        "Rules = [ Completeness of title > 0.5, IsComplete title ]",
        "id,title\n1,A\n2,\n3,C\n",
        ["Passed", "Failed"],
        ["Passed", "Failed", "Passed"],
        {"Column.title.Completeness": 0.666666666667},
    ),
    # Labels change no outcome; the threshold after them still applies (2 of 3 rows > 2, above 0.5).
    Case(
        "labels_with_default_labels",
        """DefaultLabels = ["team" = "data", "frequency" = "monthly"]
        Rules = [
            ColumnValues "x" > 2 labels = ["frequency" = "daily"] with threshold > 0.5,
            ((RowCount > 0) and (IsComplete "x")) labels = ["check" = "basic"]
        ]""",
        "id,x\n1,3\n2,4\n3,1\n",
        ["Passed", "Passed"],
        ["Passed", "Passed", "Failed"],
        {"Column.x.ColumnValues.Compliance": 0.666666666667},
        skipped_rules_per_row=1,
    ),
    # NULL in a `not in` list (reference: `not in [..., NULL]` makes NULL fail): US is in the list and the
    # empty value is NULL, so rows 1 and 3 fail; UK passes. (A variable inside a list makes AWS's parser
    # fail, so it is refused here.)
    Case(
        "not_in_a_list_with_null",
        """Rules = [ ColumnValues "c" not in ["US", "CA", NULL] ]""",
        "id,c\n1,US\n2,UK\n3,\n",
        ["Failed"],
        ["Failed", "Passed", "Failed"],
    ),
    # Analyzers compute metrics and never pass or fail (reference: "Analyzers"): beside one rule they add
    # no rule outcome and no row result.
    Case(
        "analyzers_beside_rules_add_no_outcome",
        """Rules = [ RowCount > 0 ]
        Analyzers = [ Completeness "x", RowCount ]""",
        "id,x\n1,a\n2,\n",
        ["Passed"],
        ["Passed", "Passed"],
        skipped_rules_per_row=1,
    ),
    # Analyzers alone: no rule outcomes at all, and every row is Passed.
    Case(
        "analyzers_alone",
        'Analyzers = [ Completeness "x" ]',
        "id,x\n1,a\n2,\n",
        [],
        ["Passed", "Passed"],
    ),
    # Dynamic rules (DQDL reference, "Dynamic rules"; RowCount page: `RowCount > avg(last(10)) *0.8`).
    # Earlier row counts 10, 2, 4, 6 (oldest first): last(3) = 2, 4, 6, average 4, times 0.8 = 3.2, so
    # 6 rows pass `> avg(last(3)) * 0.8` and fail `< min(last(3))` (2). index(last(2), 1) is the second
    # most recent value, 4: 4 + 2 = 6 rows. The expression is computed left to right like any other.
    Case(
        "dynamic_expressions_over_history",
        """Rules = [
            RowCount > avg(last(3)) * 0.8,
            RowCount < min(last(3)),
            RowCount = index(last(2), 1) + 2,
            RowCount between max(last(4)) - 5 and sum(last(2)) * 1
        ]""",
        "id\n1\n2\n3\n4\n5\n6\n",
        ["Passed", "Failed", "Passed", "Passed"],
        ["Passed"] * 6,
        {"Dataset.*.RowCount": 6.0},
        skipped_rules_per_row=4,
        history={"Dataset.*.RowCount": [10.0, 2.0, 4.0, 6.0]},
    ),
    # Mean page: `Mean "colA" between min(last(5)) - 1 and max(last(5)) + 1`. Earlier means 1, 3, 5:
    # last(2) = 3, 5, so the range is (2, 6); the mean of 2, 4, 6 is 4: Passed.
    Case(
        "dynamic_column_metric_range",
        'Rules = [ Mean "x" between min(last(2)) - 1 and max(last(2)) + 1 ]',
        "id,x\n1,2\n2,4\n3,6\n",
        ["Passed"],
        ["Passed", "Passed", "Passed"],
        {"Column.x.Mean": 4.0},
        skipped_rules_per_row=1,
        history={"Column.x.Mean": [1.0, 3.0, 5.0]},
    ),
    # Too little history: last(3) of one earlier value cannot be computed, so the rule is Failed with the
    # reason, never Passed (issue 9: "until it exists they fail with a clear needs-history reason").
    Case(
        "dynamic_rule_with_too_little_history_fails",
        "Rules = [ RowCount > avg(last(3)) ]",
        "id\n1\n2\n",
        ["Failed"],
        ["Passed", "Passed"],
        reason_contains="history",
        skipped_rules_per_row=1,
        history={"Dataset.*.RowCount": [1.0]},
    ),
]

OUTCOME_LABELS = {
    "labels_with_default_labels": [
        {"team": "data", "frequency": "daily"},
        {"team": "data", "frequency": "monthly", "check": "basic"},
    ],
}
