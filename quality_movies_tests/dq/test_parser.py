"""DQDL parsing: the documented syntax, rule text kept as written, and load-time errors."""

import re

import pytest

from quality_movies.dq import (
    CompositeRule,
    DQDLSyntaxError,
    InvalidRuleError,
    Rule,
    UnsupportedRuleError,
    default_ruleset_path,
    load_ruleset,
    parse_ruleset,
)


def test_packaged_ruleset_holds_the_seed_rule() -> None:
    ruleset = load_ruleset(default_ruleset_path())
    texts = [rule.text for rule in ruleset.rules]
    assert 'ColumnValues "imdb_rating" between 8.5 and 10.3' in texts
    seed = ruleset.rules[texts.index('ColumnValues "imdb_rating" between 8.5 and 10.3')]
    assert seed.rule_type == seed.name == "ColumnValues"
    assert seed.parameters == ("imdb_rating",)
    assert seed.condition.operator == "between"
    assert [v.number for v in seed.condition.values] == [8.5, 10.3]


def test_documented_syntax_parses() -> None:
    text = """
    # comments start with a hash
    Metadata = { "Version": "1.0" }
    Rules = [
        IsComplete "order-id",  # trailing comment
        (Mean "Star_Rating" > 3) and ((Mean "Order_Total" > 500) or (IsComplete "Order_Id")),
        ColumnValues "gender" in ["F", "M"] where "weightinkgs < 10",
        ColumnValues "Country" in [ "US", "CA", "UK", NULL, EMPTY, WHITESPACES_ONLY ],
        ColumnValues "colA" > 10 with threshold > 0.8,
        ColumnValues "Load_Date" > (now() - 3 days),
        ColumnValues "temp" between -10.5 and 40 labels = ["team" = "data"],
        ColumnValues "Age" not in [21, 22, 23, NULL],
        ColumnValues "x" not between 1 AND 5,
        ColumnValues "First_Name" matches "[a-zA-Z]*",
        RowCount > 0
    ]
    """
    ruleset = parse_ruleset(text)
    assert ruleset.metadata == {"Version": "1.0"}
    assert len(ruleset.rules) == 11
    composite = ruleset.rules[1]
    assert isinstance(composite, CompositeRule) and composite.operator == "and"
    assert composite.text == (
        '(Mean "Star_Rating" > 3) and ((Mean "Order_Total" > 500) or (IsComplete "Order_Id"))'
    )
    inner = composite.children[1]
    assert isinstance(inner, CompositeRule) and inner.operator == "or"
    assert [leaf.rule_type for leaf in composite.leaves] == ["Mean", "Mean", "IsComplete"]
    where_rule = ruleset.rules[2]
    assert where_rule.where == "weightinkgs < 10"
    keywords = ruleset.rules[3].condition.values
    assert [v.kind for v in keywords[3:]] == ["NULL", "EMPTY", "WHITESPACES_ONLY"]
    threshold_rule = ruleset.rules[4]
    assert (
        threshold_rule.threshold.operator == ">"
        and threshold_rule.threshold.values[0].number == 0.8
    )
    now_value = ruleset.rules[5].condition.values[0]
    assert now_value.kind == "now" and now_value.offset.days == -3
    labelled = ruleset.rules[6]
    assert labelled.labels == {"team": "data"}
    assert labelled.text == 'ColumnValues "temp" between -10.5 and 40'
    assert [v.number for v in labelled.condition.values] == [-10.5, 40]
    assert ruleset.rules[7].condition.operator == "not in"
    assert ruleset.rules[8].condition.operator == "not between"
    assert ruleset.rules[9].condition.operator == "matches"


def test_empty_rules_block_is_rejected_and_quotes_escape() -> None:
    # awslabs/dqdl DQDLParserListener: "No rules or analyzers provided." for `Rules = []`.
    with pytest.raises(InvalidRuleError, match="no rules or analyzers"):
        parse_ruleset("Rules = [ ]")
    rule = parse_ruleset(r'Rules = [ ColumnValues "t" = "say \"hi\"" ]').rules[0]
    assert isinstance(rule, Rule) and rule.condition.values[0].text == 'say "hi"'


def test_syntax_error_names_line_column_and_expected() -> None:
    text = 'Rules = [\n    IsComplete "a",\n    ColumnValues "b" between 1 5\n]'
    with pytest.raises(DQDLSyntaxError) as caught:
        parse_ruleset(text, source="movies.dqdl")
    error = caught.value
    assert (error.line, error.column) == (3, 32)
    assert "'and'" in error.expected
    assert str(error).startswith("movies.dqdl:3:32:")


def test_missing_closing_bracket_is_reported_at_end() -> None:
    with pytest.raises(DQDLSyntaxError) as caught:
        parse_ruleset('Rules = [ IsComplete "a"')
    assert caught.value.found == "end of input"
    assert "']'" in caught.value.expected


def test_unknown_rule_type_is_rejected_by_name_with_a_suggestion() -> None:
    with pytest.raises(
        UnsupportedRuleError, match=r"1:27: 'IsCompleted' is not a DQDL rule type; did"
    ):
        parse_ruleset('Rules = [ IsComplete "a", IsCompleted "b" ]')


def test_unknown_rule_type_inside_composite_is_rejected() -> None:
    with pytest.raises(UnsupportedRuleError, match="'JobStatus' is not a DQDL rule type"):
        parse_ruleset('Rules = [ (IsComplete "a") or (JobStatus = "SUCCEEDED") ]')


@pytest.mark.parametrize(
    "rule",
    [
        'IsComplete "a" > 1',
        'RowCount "a" > 1',
        'Mean "a"',
        "RowCount > 1 with threshold > 0.5",
        'ColumnValues "a" > "abc"',
        'ColumnExists "a" where "b = 1"',
    ],
)
def test_rules_of_the_wrong_shape_are_rejected(rule: str) -> None:
    with pytest.raises(InvalidRuleError):
        parse_ruleset(f"Rules = [ {rule} ]")


def test_public_api_names() -> None:
    # Issue 9, point 7: these names are the stable Python API.
    import quality_movies.dq as dq

    for name in (
        "parse_ruleset",
        "load_ruleset",
        "evaluate_file",
        "DataQualityError",
        "DQDLSyntaxError",
        "InvalidRuleError",
        "UnsupportedRuleError",
    ):
        assert name in dq.__all__ and hasattr(dq, name), name
    assert issubclass(dq.DQDLSyntaxError, dq.DataQualityError)
    assert issubclass(dq.InvalidRuleError, dq.DataQualityError)
    assert issubclass(dq.UnsupportedRuleError, dq.DataQualityError)


def test_analyzers_are_checked_against_the_engine_at_load() -> None:
    ruleset = parse_ruleset('Analyzers = [ RowCount, Completeness "x", ColumnCorrelation a and b ]')
    assert [a.parameters for a in ruleset.analyzers] == [(), ("x",), ("a", "b")]
    # Completeness takes one column (rule type reference: "Exactly one column name"). The analyzer
    # starts in column 40: 25 characters of `Rules = [ RowCount > 0 ] `, 14 of `Analyzers = [ `.
    with pytest.raises(
        InvalidRuleError, match=r"^<ruleset>:1:40: analyzer `Completeness \"x\" \"y\"`"
    ):
        parse_ruleset('Rules = [ RowCount > 0 ] Analyzers = [ Completeness "x" "y" ]')


def test_ruleset_file_with_byte_order_mark_and_windows_line_ends(tmp_path) -> None:
    # Editors on Windows write a UTF-8 BOM and CRLF line ends; the ruleset is the same.
    path = tmp_path / "rules.dqdl"
    path.write_bytes(b'\xef\xbb\xbfRules = [\r\n    IsComplete "a",\r\n    RowCount > 0\r\n]\r\n')
    ruleset = load_ruleset(path)
    assert [rule.text for rule in ruleset.rules] == ['IsComplete "a"', "RowCount > 0"]
    assert [rule.line for rule in ruleset.rules] == [2, 3]


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("Rules = [ IsComplete 'a' ]", 'DQDL strings are in double quotes: "..."'),
        ('Rules = [ ColumnValues "a" in (1, 2) ]', "a list is written in square brackets"),
    ],
)
def test_common_slips_get_a_hint(text: str, hint: str) -> None:
    with pytest.raises(DQDLSyntaxError, match=re.escape(hint)):
        parse_ruleset(text)
