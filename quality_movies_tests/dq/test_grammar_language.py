"""The DQDL language beyond single rules: sections, variables, expressions, composites, parameters, tags.

Expectations are read off the AWS Glue guide's "DQDL reference" / "DQDL rule type reference" pages and
awslabs/dqdl (DataQualityDefinitionLanguage.g4, DQDLParserListener, DQDLVariableResolver); each test
names its source. ``parse_dqdl`` checks the language only, so rule types the engine does not evaluate yet
(DataFreshness, FileSize...) still show how they parse.
"""

import pytest

from quality_movies.dq import model
from quality_movies.dq.errors import (
    DQDLSyntaxError,
    InvalidRuleError,
    InvalidVariableError,
    NeedsHistoryError,
    UnevaluableRuleError,
    UnsupportedRuleError,
)
from quality_movies.dq.parser import parse_dqdl, parse_ruleset
from quality_movies.dq.rules import validate_rule


def one_rule(rule: str) -> model.Rule:
    [parsed] = parse_dqdl(f"Rules = [ {rule} ]").rules
    return parsed


def history(*values: float):
    """A ``previous(k)`` over fixed earlier metric values, oldest first."""

    def previous(k: int | None) -> list[float]:
        return list(values) if k is None else list(values)[-k:]

    return previous


# --- Sections (g4: `document: metadata? dataSources? variableDeclarations? rulesOrAnalyzers`,
# `rulesOrAnalyzers: rules | analyzers | rules analyzers`) ---


def test_analyzers_alone_and_beside_rules() -> None:
    alone = parse_dqdl('Analyzers = [ RowCount, Completeness "colA", ColumnLength of colB ]')
    assert alone.rules == []
    assert [(a.rule_type, a.parameters) for a in alone.analyzers] == [
        ("RowCount", ()),
        ("Completeness", ("colA",)),
        ("ColumnLength", ("colB",)),
    ]
    assert [a.condition for a in alone.analyzers] == [None, None, None]
    both = parse_dqdl('Rules = [ RowCount > 0 ] Analyzers = [ Mean "x" ]')
    assert [r.text for r in both.rules] == ["RowCount > 0"]
    assert [a.text for a in both.analyzers] == ['Mean "x"']


def test_analyzers_take_no_condition() -> None:
    # g4: `dqAnalyzer: analyzerType parameterWithConnectorWord*` -- no condition.
    with pytest.raises(DQDLSyntaxError):
        parse_dqdl('Analyzers = [ Completeness "colA" > 0.5 ]')


def test_pass_fail_rule_types_are_not_analyzers() -> None:
    # DQDLParserListener: a BOOLEAN rule type "is not supported" as an analyzer.
    with pytest.raises(InvalidRuleError, match="IsComplete.*cannot be an analyzer"):
        parse_dqdl('Analyzers = [ IsComplete "colA" ]')


def test_all_statistics_only_as_analyzer() -> None:
    # Rule type reference: AllStatistics is "Supported as Rule? No / Supported as Analyzer? Yes".
    assert parse_dqdl('Analyzers = [ AllStatistics "id" ]').analyzers[0].parameters == ("id",)
    with pytest.raises(UnsupportedRuleError, match="AllStatistics.*Analyzers"):
        parse_dqdl('Rules = [ AllStatistics "id" ]')


@pytest.mark.parametrize(
    "text",
    [
        "Rules = [ ]",  # InvalidDQRulesetTest; listener: "No rules or analyzers provided."
        "Analyzers = [ ]",
        "Rules = [ ] Analyzers = [ ]",
    ],
)
def test_no_rules_and_no_analyzers_is_rejected(text: str) -> None:
    with pytest.raises(InvalidRuleError, match="no rules or analyzers"):
        parse_dqdl(text)


def test_metadata_and_data_sources_keys() -> None:
    # DQDLParserListener: ALLOWED_METADATA_KEYS = {Version}; ALLOWED_SOURCES_KEYS = {Primary,
    # AdditionalDataSources}; "Additional sources must be an array of values."
    ruleset = parse_dqdl(
        'Metadata = { "Version": "1.0" }\n'
        'DataSources = { "Primary": "movies", "AdditionalDataSources": ["reference", "other"] }\n'
        "Rules = [ RowCount > 0 ]"
    )
    assert ruleset.metadata["Version"] == "1.0"
    assert ruleset.additional_sources == {"reference": "reference", "other": "other"}
    with pytest.raises(InvalidRuleError, match=r"<ruleset>:1:14: Metadata has no key 'Owner'"):
        parse_dqdl('Metadata = { "Owner": "me" } Rules = [ RowCount > 0 ]')
    with pytest.raises(InvalidRuleError, match="DataSources has no key 'Sources'"):
        parse_dqdl('DataSources = { "Sources": "x" } Rules = [ RowCount > 0 ]')
    with pytest.raises(InvalidRuleError, match="must be a list"):
        parse_dqdl('DataSources = { "AdditionalDataSources": "ref" } Rules = [ RowCount > 0 ]')


def test_text_after_the_final_bracket_is_rejected() -> None:
    with pytest.raises(DQDLSyntaxError) as caught:
        parse_dqdl("Rules = [ RowCount > 0 ]\nRowCount > 1")
    assert (caught.value.line, caught.value.column) == (2, 1)


# --- Variables (DQDLParserListener.enterVariableDeclaration, DQDLVariableResolver) ---


def test_variables_are_substituted_where_dqdl_allows_them() -> None:
    # g4: `parameter: ... | variableDereference`, `NOT? IN variableDereference`; AWS's parser fails on a
    # variable after `=` or inside `[ ... ]`, and `matches` and `where` take a quoted string only.
    ruleset = parse_dqdl(
        """
        sql = "select count(*) from primary where rating > 8"
        countries = ["US", "CA"]
        column = "country"
        Rules = [
            CustomSql $sql between 1 and 10,
            ColumnValues "country" in $countries,
            ColumnValues $column not in $countries where "year > 2000"
        ]
        """
    )
    sql, in_list, negated = ruleset.rules
    assert sql.parameters == ("select count(*) from primary where rating > 8",)
    assert sql.text == "CustomSql $sql between 1 and 10"  # the rule keeps the text as written
    assert [v.text for v in in_list.condition.values] == ["US", "CA"]
    assert in_list.condition.operator == "in"
    assert negated.parameters == ("country",) and negated.condition.operator == "not in"
    assert [v.text for v in negated.condition.values] == ["US", "CA"]
    assert negated.where == "year > 2000"


def test_undefined_variable_is_a_load_error_naming_it() -> None:
    text = 'sql = "select 1"\nRules = [\n  ColumnValues "c" in $colours\n]'
    with pytest.raises(InvalidVariableError, match=r"<ruleset>:3:23: variable '\$colours' is not"):
        parse_dqdl(text)


def test_list_variable_where_a_string_is_needed_is_a_load_error() -> None:
    # DQDLVariableResolver.resolveStringVariable: "expected STRING, but got STRING_ARRAY".
    with pytest.raises(InvalidVariableError, match=r"'\$cols' is a list"):
        parse_dqdl('cols = ["a", "b"]\nRules = [ IsComplete $cols ]')
    with pytest.raises(InvalidVariableError, match=r"inside \[ ... \] makes Glue's parser fail"):
        parse_dqdl('cols = ["a", "b"]\nRules = [ ColumnValues "x" in ["c", $cols] ]')


def test_a_variable_after_equals_is_refused_as_aws_parser_fails_on_it() -> None:
    # awslabs/dqdl d360214 throws a NullPointerException on `= $x` (its oracle answers the exception).
    with pytest.raises(InvalidVariableError, match="makes Glue's parser fail"):
        parse_dqdl('x = "a"\nRules = [ ColumnValues "c" = $x ]')


def test_variable_defined_twice_or_with_underscore_is_rejected() -> None:
    # Listener: "Variable '%s' is already defined"; "cannot start with '.' or '_'".
    with pytest.raises(InvalidVariableError, match="'a' is already defined"):
        parse_dqdl('a = "x"\na = "y"\nRules = [ IsComplete $a ]')
    with pytest.raises(InvalidVariableError, match="'_a' cannot start with '_'"):
        parse_dqdl('_a = "x"\nRules = [ IsComplete $_a ]')


# --- Numeric expressions (g4: `number: number numberOp number | functionCall | LPAREN number RPAREN |
# atomicNumber`; rule type reference "Sample dynamic rules") ---


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("10", 10.0),
        ("-3", -3.0),
        ("(4 + 6) / 2", 5.0),
        # One precedence level, left to right, as `number numberOp number` parses in ANTLR.
        ("2 + 3 * 2", 10.0),
        ("2 + (3 * 2)", 8.0),
        ("10 - 2 - 3", 5.0),
        ("0.5 * 4", 2.0),
    ],
)
def test_constant_expressions_are_folded(expression: str, expected: float) -> None:
    rule = one_rule(f"RowCount > {expression}")
    [value] = rule.condition.values
    assert value.kind == model.NUMBER and value.number == expected


def test_dynamic_expressions_parse_into_the_model() -> None:
    # RowCount page: `RowCount > avg(last(10)) *0.8`; Mean page: `Mean "colA" > avg(last(10)) +
    # std(last(2))` and `Mean "colA" between min(last(5)) - 1 and max(last(5)) + 1`.
    rowcount = one_rule("RowCount > avg(last(10)) *0.8")
    [value] = rowcount.condition.values
    assert value.kind == model.EXPRESSION and value.expression.lookback == 10
    # Ten earlier row counts of 200: their average 200, times 0.8 = 160.
    assert value.expression.evaluate(history(*[200] * 10)) == pytest.approx(160.0)
    mean = one_rule('Mean "colA" > avg(last(10)) + std(last(2))')
    # last(10) of ten values 1..10 averages 5.5; last(2) = 9, 10 has population std 0.5.
    assert mean.condition.values[0].expression.evaluate(history(*range(1, 11))) == 6.0
    between = one_rule('Mean "colA" between min(last(5)) - 1 and max(last(5)) + 1')
    low, high = between.condition.values
    earlier = history(7, 3, 9, 4, 5, 6)  # the last five: 3, 9, 4, 5, 6
    assert (low.expression.evaluate(earlier), high.expression.evaluate(earlier)) == (2.0, 10.0)


def test_history_functions() -> None:
    earlier = history(1, 4, 7)  # oldest first: the latest value is 7
    cases = {
        "last(1)": 7.0,
        "index(last(3), 0)": 7.0,  # dynamic rules: index 0 is the most recent value
        "index(last(3), 2)": 1.0,
        "sum(last(3))": 12.0,
        "median(last(3))": 4.0,
        "abs(min(last(2)) - 10)": 6.0,
    }
    for text, expected in cases.items():
        [value] = one_rule(f"RowCount > {text}").condition.values
        assert value.expression.evaluate(earlier) == expected, text


def test_too_little_history_raises_needs_history() -> None:
    [value] = one_rule("RowCount > avg(last(3))").condition.values
    with pytest.raises(NeedsHistoryError, match="needs 3 earlier value"):
        value.expression.evaluate(history(5, 6))


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("mode(last(3))", "unknown function 'mode'"),
        ("avg(3)", r"write avg\(last\(k\)\)"),
        ("last(0)", "whole number k >= 1"),
        ("last(2.5)", "whole number k >= 1"),
        ("index(last(3), 3)", "outside last"),
        ("last(3)", r"3 values, not a number: reduce them, e.g. avg\(last\(3\)\)"),
        ("avg(last(3)) - last(2)", "2 values"),
        ("1 / 0", "divides by zero"),
    ],
)
def test_bad_expressions_load_and_fail_when_run(expression: str, problem: str) -> None:
    # AWS's grammar takes any function call (checked against its parser in test_aws_parser): the
    # ruleset loads, and the rule is Failed with the reason when it runs.
    [value] = one_rule(f"RowCount > {expression}").condition.values
    with pytest.raises(UnevaluableRuleError, match=problem):
        value.expression.evaluate(history(1.0, 2.0, 3.0))


# --- Parameters: unquoted names, `of`, `and` (g4: `parameter: QUOTED_STRING | IDENTIFIER`,
# `connectorWord: OF | AND`) ---


@pytest.mark.parametrize(
    ("written", "rule_type", "parameters"),
    [
        ("Completeness of col_1 > 0.5", "Completeness", ("col_1",)),
        ('Completeness "col_1" > 0.5', "Completeness", ("col_1",)),
        ("Completeness col_1 > 0.5", "Completeness", ("col_1",)),
        ('ColumnCorrelation "a" and "b" > 0.8', "ColumnCorrelation", ("a", "b")),
        ("ColumnCorrelation of a and b > 0.8", "ColumnCorrelation", ("a", "b")),
        ('IsUnique "a" "b"', "IsUnique", ("a", "b")),
        ('Uniqueness "a" "b" > 0.9', "Uniqueness", ("a", "b")),
        ('IsPrimaryKey "a" "b" "c"', "IsPrimaryKey", ("a", "b", "c")),
        # DetectAnomalies page: `DetectAnomalies "RowCount"`, `DetectAnomalies "ColumnLength" "id"`.
        ('DetectAnomalies "RowCount"', "DetectAnomalies", ("RowCount",)),
        ("DetectAnomalies of RowCount", "DetectAnomalies", ("RowCount",)),
        ('DetectAnomalies "ColumnLength" "id"', "DetectAnomalies", ("ColumnLength", "id")),
        ('DetectAnomalies of Completeness of "id"', "DetectAnomalies", ("Completeness", "id")),
    ],
)
def test_parameter_forms(written: str, rule_type: str, parameters: tuple) -> None:
    rule = one_rule(written)
    assert (rule.rule_type, rule.parameters) == (rule_type, parameters)


def test_and_between_parameters_is_not_a_composite() -> None:
    # g4: after a rule's parameters, `and` and a word is one more parameter (`parameterWithConnectorWord`),
    # so AWS's parser reads `IsComplete "a" and IsComplete "b"` as one rule with three parameters and
    # refuses it; after a condition, or before a parenthesis, `and` joins two rules.
    with pytest.raises(InvalidRuleError, match="got 3.*in parentheses"):
        parse_ruleset('Rules = [ IsComplete "a" and IsComplete "b" ]')
    for text in ('RowCount > 0 and IsComplete "b"', '(IsComplete "a") and (IsComplete "b")'):
        [composite] = parse_dqdl(f"Rules = [ {text} ]").rules
        assert isinstance(composite, model.CompositeRule) and composite.operator == "and"


# --- Conditions, values and tags ---


def test_tags_with_threshold_and_keys_as_written() -> None:
    # Rule type reference examples: ColumnDataType ... with format; FileMatch ... with hashAlgorithm;
    # FileUniqueness ... with recentFiles = 1; ColumnValues ... with threshold.
    rule = one_rule('ColumnValues "x" > 10 with threshold > 0.8 with ignoreCase = "true"')
    assert rule.threshold.operator == ">" and rule.threshold.values[0].number == 0.8
    assert rule.tags == {"ignoreCase": model.Value(model.STRING, text="true")}
    assert rule.tag("IGNORECASE").text == "true"
    files = one_rule(
        'FileMatch "s3://bucket/file.json" in ["3ee0d8617ac041793154713e5ef8f319"] '
        'with hashAlgorithm = "MD5"'
    )
    assert files.tag("hashAlgorithm").text == "MD5"
    assert files.condition.operator == "in"
    recent = one_rule('FileUniqueness "s3://bucket/" > 0.5 with recentFiles = 1')
    assert recent.tag("recentFiles").number == 1.0
    typed = one_rule('ColumnDataType "d" = "DATE" with format = "yyyy-MM-dd"')
    assert typed.tag("format").text == "yyyy-MM-dd" and typed.threshold is None
    # FileUniqueness page, "filterOrder": the page's example verbatim; the value is a list of tag names.
    ordered = one_rule(
        'FileUniqueness "s3://bucket/" > 0.5 with recentFiles = 5 with uriRegex = "\\.csv$" '
        'with filterOrder = ["uriRegex","recentFiles"]'
    )
    assert ordered.tag("filterOrder") == model.Value(model.LIST, items=("uriRegex", "recentFiles"))
    assert ordered.tag("uriRegex").text == "\\.csv$"


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        # Listener: "String tags only support the equality operator."
        ('ColumnValues "x" = "a" with ignoreCase != "true"', "takes '='"),
        # Listener: "Only one threshold condition at a time is supported."
        ('ColumnValues "x" > 1 with threshold > 0.5 with threshold > 0.6', "given twice"),
        # Listener: "Empty where condition provided for rule type".
        ('ColumnValues "x" > 1 where ""', "where clause is empty"),
        # InvalidDQRulesetTest: `ColumnValues "col-A" in [1,"2"]`.
        ('ColumnValues "col-A" in [1, "2"]', "mixes types"),
        ('ColumnValues "x" between 1 and "5"', "mixes types"),
    ],
)
def test_rules_the_reference_rejects(rule: str, problem: str) -> None:
    with pytest.raises(InvalidRuleError, match=problem):
        one_rule(rule)


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        # filterOrder orders the two filter tags (FileUniqueness page); only it takes a list. Glue's
        # parser has no list tags at all; a misused filterOrder loads and is Failed when it runs.
        ('FileSize "s3://b/" > 5 B with filterOrder = ["uriRegex", "uriRegex"]', "each once"),
        ('FileSize "s3://b/" > 5 B with filterOrder = ["recentFile"]', "each once"),
        ('FileSize "s3://b/" > 5 B with filterOrder = "uriRegex"', "takes a list"),
    ],
)
def test_filter_order_misuse_fails_the_rule_when_run(rule: str, problem: str) -> None:
    [leaf] = parse_ruleset(f"Rules = [ {rule} ]").leaves
    with pytest.raises(UnevaluableRuleError, match=problem):
        validate_rule(leaf)


def test_a_list_for_another_tag_is_refused() -> None:
    with pytest.raises(InvalidRuleError, match="not a list"):
        parse_ruleset('Rules = [ FileSize "s3://b/" > 5 B with uriRegex = ["a"] ]')


@pytest.mark.parametrize(
    "rule",
    [
        # InvalidDQRulesetTest rows the grammar itself refuses.
        'ColumnValues "col-A" matches',
        'ColumnValues "col-A" now()',
        'ColumnValues "col-A" > now() + 1 hours',
        'ColumnValues "col-A" = (now() - 3 weeks)',
        'ColumnValues "col-A" > 0.4 with',
        'ColumnValues "col-A" > 0.4 threshold',
        'ColumnValues "col-A" > 0.4 with threshold',
        "ColumnNamesMatchPattern aws_*",
        '11ColumnValues "load_dt" > 1',
    ],
)
def test_grammar_rejects(rule: str) -> None:
    with pytest.raises(DQDLSyntaxError):
        one_rule(rule)


def test_values_keywords_sizes_times_durations() -> None:
    lower = one_rule('ColumnValues "c" in ["a", null, empty, whitespaces_only]')
    assert [v.kind for v in lower.condition.values[1:]] == [
        model.NULL,
        model.EMPTY,
        model.WHITESPACES_ONLY,
    ]
    # FileSize page: `FileSize "s3://..." > 2 MB`; sizes in B, KB, MB, GB, TB.
    size = one_rule('FileSize "s3://bucket/file.csv" between 1 KB and 2 MB')
    assert [(v.kind, v.number, str(v)) for v in size.condition.values] == [
        (model.SIZE, 1024.0, "1 KB"),
        (model.SIZE, 2 * 1024 * 1024.0, "2 MB"),
    ]
    # FileFreshness page: times of day such as "9:30 PM" and 24-hour "21:30".
    evening = one_rule('FileFreshness "s3://bucket/" > "9:30 PM"').condition.values[0]
    assert evening.clock.hour == 21 and evening.clock.minute == 30
    assert one_rule('FileFreshness "s3://bucket/" > "21:30"').condition.values[0].clock.hour == 21
    assert one_rule('ColumnValues "c" = "nine"').condition.values[0].clock is None
    # DataFreshness page: `DataFreshness "Order_Date" <= 24 hours`.
    fresh = one_rule('DataFreshness "Order_Date" <= 24 hours').condition.values[0]
    assert fresh.kind == model.DURATION and fresh.offset.total_seconds() == 24 * 3600


# --- Composite rules (reference: "Composite rules"; g4 `topLevelRule AND topLevelRule` before OR) ---


@pytest.mark.parametrize(
    ("written", "shape"),
    [
        ('(IsComplete "a") and (IsComplete "b")', ("and", ["a", "b"])),
        ('(IsComplete "a") AND (IsComplete "b") AND (IsComplete "c")', ("and", ["a", "b", "c"])),
        ('IsComplete "a" OR IsComplete "b"', ("or", ["a", "b"])),
        (
            '(IsComplete "a") or (IsComplete "b") and (IsComplete "c")',
            ("or", ["a", ("and", ["b", "c"])]),
        ),
        (
            '(IsComplete "a") and (IsComplete "b") or (IsComplete "c")',
            ("or", [("and", ["a", "b"]), "c"]),
        ),
        (
            '(IsComplete "a" or IsComplete "b") and IsComplete "c"',
            ("and", [("or", ["a", "b"]), "c"]),
        ),
        (
            '(RowCount > 0) or ((IsComplete "a") and (IsUnique "a"))',
            ("or", [None, ("and", ["a", "a"])]),
        ),
    ],
)
def test_composite_precedence(written: str, shape) -> None:
    [rule] = parse_dqdl(f"Rules = [ {written} ]").rules
    assert _shape_with_rowcount(rule) == shape


def _shape_with_rowcount(rule: model.AnyRule):
    if isinstance(rule, model.CompositeRule):
        return (rule.operator, [_shape_with_rowcount(child) for child in rule.children])
    return rule.parameters[0] if rule.parameters else None


def test_a_missing_comma_between_rules_is_reported() -> None:
    # Unquoted parameters (g4 `parameter: QUOTED_STRING | IDENTIFIER`) would swallow the next rule's type.
    with pytest.raises(InvalidRuleError, match=r"1:11: .*got 3 .is a comma missing"):
        parse_ruleset('Rules = [ ColumnExists "a" IsComplete "b" ]')
    assert one_rule('IsPrimaryKey "a" "IsComplete"').parameters == ("a", "IsComplete")


def test_a_parenthesised_single_rule_is_that_rule() -> None:
    # awslabs/dqdl DQRulesetTest: `Rules = [ (Completeness "col_1" between 0.5 and 0.8) ]` is one
    # Completeness rule.
    [rule, nested] = parse_dqdl(
        'Rules = [ (Completeness "col_1" between 0.5 and 0.8), ((IsComplete "a")) ]'
    ).rules
    assert isinstance(rule, model.Rule) and rule.rule_type == "Completeness"
    assert rule.text == 'Completeness "col_1" between 0.5 and 0.8'
    assert isinstance(nested, model.Rule) and nested.parameters == ("a",)
