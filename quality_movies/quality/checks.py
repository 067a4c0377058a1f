"""Asset checks of the quality gate, per file: one per DQDL rule, and the blocking row conservation check.

A rule's check name comes from the label ``check`` when the rule sets one
(``IsComplete "series_title" labels = ["check" = "title_present"]``), else from the rule's own text
(``RowCount > avg(last(3)) * 0.5`` -> ``rowcount_gt_avg_last_3_times_0_5``), never from its position, so a
check keeps its name and its history when rules are added, removed or reordered.
"""

import hashlib
import keyword
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import dagster as dg

from quality_movies.ingestion.assets import markdown_code
from quality_movies.partitions import movie_files

CONSERVATION_CHECK = "rows_conserved"
CHECK_LABEL = "check"
MAX_CHECK_NAME_LENGTH = 63
VALIDATED_MOVIES = dg.AssetKey("validated_movies")

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


def _text(rule: RuleLike) -> str:
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
    text = _text(rule)
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
        texts_by_base[base].add(_text(rule))
    names, seen = [], Counter()
    for base, rule in zip(bases, rules, strict=True):
        text = _text(rule)
        name = _with_digest(base, text) if len(texts_by_base[base]) > 1 else base
        seen[name] += 1
        names.append(
            name if seen[name] == 1 else f"{name[: MAX_CHECK_NAME_LENGTH - 4]}_{seen[name]}"
        )
    return names


def rule_check_specs(rules: Sequence[RuleLike]) -> list[dg.AssetCheckSpec]:
    """One check per top-level rule of the ruleset, on ``validated_movies``, with a result per file."""
    return [
        dg.AssetCheckSpec(
            name=name,
            asset=VALIDATED_MOVIES,
            description=f"DQDL rule: {markdown_code(_text(rule))}",
            partitions_def=movie_files,
        )
        for name, rule in zip(rule_check_names(rules), rules, strict=True)
    ]


conservation_check_spec = dg.AssetCheckSpec(
    name=CONSERVATION_CHECK,
    asset=VALIDATED_MOVIES,
    blocking=True,
    description="Rows read = good rows + bad rows: no row is ever lost between the file and its outputs.",
    partitions_def=movie_files,
)


def _check_event(
    name: str,
    passed: bool,
    severity: dg.AssetCheckSeverity,
    metadata: Mapping[str, Any],
    partition: str | None,
    blocking: bool = False,
) -> dg.AssetCheckResult | dg.AssetCheckEvaluation:
    if partition is None:
        return dg.AssetCheckResult(
            check_name=name,
            asset_key=VALIDATED_MOVIES,
            passed=passed,
            severity=severity,
            metadata=dict(metadata),
        )
    return dg.AssetCheckEvaluation(
        asset_key=VALIDATED_MOVIES,
        check_name=name,
        passed=passed,
        severity=severity,
        metadata=dict(metadata),
        blocking=blocking,
        partition=partition,
    )


def rule_check_results(
    rules: Sequence[RuleLike],
    rule_outcomes: list[dict[str, Any]],
    partition: str | None = None,
) -> list[dg.AssetCheckResult | dg.AssetCheckEvaluation]:
    """A check result per rule from Glue-shaped rule outcomes; a rule with no outcome fails loudly.

    Each metric of ``EvaluatedMetrics`` becomes float metadata, which the UI plots across the file's
    evaluations. With ``partition`` (the source file) the results are evaluations of that partition,
    which a run over several files needs. A failing rule is a warning: its rows went to bad records,
    which is the gate working.
    """
    outcomes_by_rule: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for outcome in rule_outcomes:
        outcomes_by_rule[outcome["Rule"]].append(outcome)
    results = []
    for name, rule in zip(rule_check_names(rules), rules, strict=True):
        text = _text(rule)
        outcome = outcomes_by_rule[text].pop(0) if outcomes_by_rule[text] else None
        if outcome is None:
            metadata = {
                "rule": text,
                "failure_reason": "the quality job reported no outcome for this rule",
            }
            results.append(
                _check_event(name, False, dg.AssetCheckSeverity.ERROR, metadata, partition)
            )
            continue
        metrics = outcome.get("EvaluatedMetrics") or {}
        metadata = {
            "rule": text,
            "outcome": outcome["Outcome"],
            "failure_reason": outcome.get("FailureReason") or "",
            **{metric: float(value) for metric, value in metrics.items() if value is not None},
        }
        results.append(
            _check_event(
                name,
                outcome["Outcome"] == "Passed",
                dg.AssetCheckSeverity.WARN,
                metadata,
                partition,
            )
        )
    return results


def conservation_check_result(
    rows_read: int, good_rows: int, bad_rows: int, partition: str | None = None
) -> dg.AssetCheckResult | dg.AssetCheckEvaluation:
    """Blocking: the warehouse load does not run unless every row read is accounted for."""
    return _check_event(
        CONSERVATION_CHECK,
        rows_read == good_rows + bad_rows,
        dg.AssetCheckSeverity.ERROR,
        {"rows_read": rows_read, "good_rows": good_rows, "bad_rows": bad_rows},
        partition,
        blocking=True,
    )


def rule_metrics_metadata(rule_outcomes: list[dict[str, Any]]) -> dict[str, float]:
    """Each evaluated metric of a file once, as float metadata for the file's materialization (plotted
    per partition in the UI); a metric several rules report keeps the first rule's value."""
    metadata: dict[str, float] = {}
    for outcome in rule_outcomes:
        for metric, value in (outcome.get("EvaluatedMetrics") or {}).items():
            if value is not None:
                metadata.setdefault(metric, float(value))
    return metadata
