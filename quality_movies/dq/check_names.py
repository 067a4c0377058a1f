"""Each rule's check name, stable across edits of the ruleset: the label ``check`` when the rule sets one
(``IsComplete "series_title" labels = ["check" = "title_present"]``), else the rule's own text
(``RowCount > avg(last(3)) * 0.5`` -> ``rowcount_gt_avg_last_3_times_0_5``), never its position.

The pipeline names its asset checks so, and the metric history (``dq.metric_history``) records the
names beside each rule's metrics.
"""

import hashlib
import keyword
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Protocol

CONSERVATION_CHECK = "rows_conserved"
CHECK_LABEL = "check"
MAX_CHECK_NAME_LENGTH = 63

_OPERATOR_WORDS = {
    ">=": "ge",
    "<=": "le",
    "!=": "ne",
    ">": "gt",
    "<": "lt",
    "=": "eq",
    "*": "times",
    "/": "div",
    "+": "plus",
    "-": "minus",
}
_TOKEN = re.compile(r">=|<=|!=|[<>=*/+-]|[A-Za-z0-9_]+(?:\.[0-9]+)?")
_INVALID = re.compile(r"[^A-Za-z0-9_]+")
# Names Dagster refuses for a check (its reserved words and Python's keywords).
_RESERVED = {
    "context",
    "conf",
    "config",
    "meta",
    "arg_dict",
    "dict",
    "input_arg_dict",
    "output_arg_dict",
}
_RESERVED |= {"int", "str", "float", "bool", "input", "output", "type", *keyword.kwlist}


class LabelledRule(Protocol):
    """What check names need from a parsed rule (``dq.model.Rule`` or ``CompositeRule``)."""

    text: str
    labels: dict[str, str]


RuleLike = LabelledRule | str


def rule_text(rule: RuleLike) -> str:
    """The rule's DQDL text."""
    return rule if isinstance(rule, str) else rule.text


def _label(rule: RuleLike) -> str | None:
    return None if isinstance(rule, str) else (rule.labels or {}).get(CHECK_LABEL)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def _with_digest(stem: str, text: str) -> str:
    keep = MAX_CHECK_NAME_LENGTH - 7
    return f"{stem[:keep].rstrip('_')}_{_digest(text)}"


def text_slug(rule_text: str) -> str:
    """The words, numbers and operators of a rule's text joined by ``_`` (``8.5`` -> ``8_5``, ``>`` -> ``gt``)."""
    words = [_OPERATOR_WORDS.get(token, token) for token in _TOKEN.findall(rule_text)]
    return _INVALID.sub("_", "_".join(words).replace(".", "_")).strip("_").lower()


def base_check_name(rule: RuleLike) -> str:
    """The check name of one rule before collisions are resolved: its ``check`` label, else its text."""
    text = rule_text(rule)
    label = _label(rule)
    stem = _INVALID.sub("_", label).strip("_") if label else text_slug(text)
    if not stem:
        return f"rule_{_digest(text)}"
    if stem in _RESERVED or stem == CONSERVATION_CHECK:
        stem = f"{stem}_rule"
    if len(stem) > MAX_CHECK_NAME_LENGTH:
        return _with_digest(stem, text)
    return stem


def rule_check_names(rules: Sequence[RuleLike]) -> list[str]:
    """A unique check name per rule, in ruleset order, independent of the rules' order.

    When different rules share a base name, each gets ``_`` and six hex digits of its text's SHA-256;
    a rule written twice word for word gets ``_2``, ``_3``... on its later copies.
    """
    bases = [base_check_name(rule) for rule in rules]
    texts_by_base: dict[str, set[str]] = defaultdict(set)
    for base, rule in zip(bases, rules, strict=True):
        texts_by_base[base].add(rule_text(rule))
    names, seen = [], Counter()
    for base, rule in zip(bases, rules, strict=True):
        text = rule_text(rule)
        name = _with_digest(base, text) if len(texts_by_base[base]) > 1 else base
        seen[name] += 1
        names.append(
            name if seen[name] == 1 else f"{name[: MAX_CHECK_NAME_LENGTH - 4]}_{seen[name]}"
        )
    return names
