"""Labels: where DQDL allows them, how they merge with DefaultLabels, and AWS's limits.

Source: the DQDL reference's "Labels" section and awslabs/dqdl Labels.java (MAX_LABELS_PER_RULE = 10,
counted as the default labels plus the rule's own; MAX_LABEL_KEY_LENGTH = 128; MAX_LABEL_VALUE_LENGTH = 256;
"Label key or value cannot be empty"; "Duplicate label key"; "Labels must have at least one label"; the
rule's labels are put over the defaults).
"""

import pytest

from quality_movies.dq import model
from quality_movies.dq.errors import InvalidRuleError
from quality_movies.dq.parser import parse_dqdl


def labels_list(count: int, prefix: str = "k") -> str:
    return "[" + ", ".join(f'"{prefix}{i}" = "v{i}"' for i in range(count)) + "]"


def test_rule_labels_merge_over_default_labels() -> None:
    ruleset = parse_dqdl(
        """
        DefaultLabels = ["frequency" = "monthly", "team" = "data"]
        Rules = [
            RowCount > 10000 labels = ["frequency" = "daily"],
            IsComplete "id"
        ]
        """
    )
    daily, plain = ruleset.rules
    assert daily.labels == {"frequency": "daily", "team": "data"}
    assert plain.labels == {"frequency": "monthly", "team": "data"}
    assert ruleset.default_labels == {"frequency": "monthly", "team": "data"}


def test_labels_stay_out_of_the_rule_text() -> None:
    rule = parse_dqdl('Rules = [ RowCount > 10 labels = ["a" = "b"] ]').rules[0]
    assert rule.text == "RowCount > 10"


def test_labels_before_with_tags_and_after_where() -> None:
    [rule] = parse_dqdl(
        'Rules = [ ColumnValues "x" > 1 where "y > 2" labels = ["a" = "b"] with threshold > 0.5 ]'
    ).rules
    assert rule.labels == {"a": "b"}
    assert rule.threshold.values[0].number == 0.5 and rule.where == "y > 2"
    assert rule.text == 'ColumnValues "x" > 1 where "y > 2" with threshold > 0.5'


def test_labels_on_nested_rules_and_on_composites() -> None:
    [rule] = parse_dqdl(
        """
        DefaultLabels = ["team" = "data"]
        Rules = [
            (ColumnValues "A" > 10 labels = ["side" = "low"]) AND (ColumnValues "B" < 10)
                labels = ["checkType" = "boundaries"]
        ]
        """
    ).rules
    # g4: `LPAREN topLevelRule RPAREN labels?`: the labels after `(ColumnValues "B" < 10)` are that
    # rule's (AWS's DQDLParserListener sets them on the rule in parentheses), not the composite's.
    assert isinstance(rule, model.CompositeRule)
    assert rule.labels == {"team": "data"}
    assert rule.text == '(ColumnValues "A" > 10) AND (ColumnValues "B" < 10)'
    low, other = rule.children
    assert low.labels == {"team": "data", "side": "low"}
    assert other.labels == {"team": "data", "checkType": "boundaries"}


def test_labels_after_a_composite_in_parentheses_label_the_composite() -> None:
    text = 'Rules = [ ((IsComplete "a") and (IsComplete "b")) labels = ["k" = "v"] ]'
    [rule] = parse_dqdl(text).rules
    assert isinstance(rule, model.CompositeRule) and rule.labels == {"k": "v"}
    assert [leaf.labels for leaf in rule.leaves] == [{}, {}]


def test_ten_labels_are_allowed() -> None:
    rule = parse_dqdl(f"Rules = [ RowCount > 0 labels = {labels_list(10)} ]").rules[0]
    assert len(rule.labels) == 10


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"Rules = [ RowCount > 0 labels = {labels_list(11)} ]", "too many labels"),
        # Labels.java counts the defaults plus the rule's own labels: 5 + 6 > 10.
        (
            f"DefaultLabels = {labels_list(5, 'd')}\n"
            f"Rules = [ RowCount > 0 labels = {labels_list(6)} ]",
            "too many labels: 5 default and 6 own",
        ),
        (f"DefaultLabels = {labels_list(11)}\nRules = [ RowCount > 0 ]", "too many labels"),
        ('Rules = [ RowCount > 0 labels = ["' + "k" * 129 + '" = "v"] ]', "129 characters"),
        ('Rules = [ RowCount > 0 labels = ["k" = "' + "v" * 257 + '"] ]', "257 characters"),
        ('Rules = [ RowCount > 0 labels = ["k" = "a", "k" = "b"] ]', "given twice"),
        ('Rules = [ RowCount > 0 labels = ["k" = ""] ]', "cannot be empty"),
        ('Rules = [ RowCount > 0 labels = ["" = "v"] ]', "cannot be empty"),
        ("Rules = [ RowCount > 0 labels = [] ]", "cannot be empty"),
        ("DefaultLabels = []\nRules = [ RowCount > 0 ]", "cannot be empty"),
    ],
)
def test_label_limits_are_enforced_at_load(text: str, problem: str) -> None:
    with pytest.raises(InvalidRuleError, match=problem):
        parse_dqdl(text)


def test_label_at_the_length_limits_is_allowed() -> None:
    key, value = "k" * 128, "v" * 256
    rule = parse_dqdl(f'Rules = [ RowCount > 0 labels = ["{key}" = "{value}"] ]').rules[0]
    assert rule.labels == {key: value}


def test_label_error_names_line_and_column() -> None:
    # The second "k" starts in column 39 of line 2 (4 spaces, then `RowCount > 0 labels = ["k" = "a", `).
    with pytest.raises(InvalidRuleError, match=r"^rules\.dqdl:2:39: label key 'k' is given twice"):
        parse_dqdl(
            'Rules = [\n    RowCount > 0 labels = ["k" = "a", "k" = "b"]\n]', source="rules.dqdl"
        )
