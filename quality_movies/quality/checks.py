"""Asset checks of the quality gate, per file: one per DQDL rule, named by ``dq.check_names`` (the rule's
``check`` label or its text, never its position), and the blocking row conservation check.
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from quality_movies.dq.check_names import (
    CONSERVATION_CHECK,
    RuleLike,
    rule_check_names,
    rule_text,
)
from quality_movies.markdown import markdown_code
from quality_movies.partitions import movie_files

VALIDATED_MOVIES = dg.AssetKey("validated_movies")


def rule_check_specs(rules: Sequence[RuleLike]) -> list[dg.AssetCheckSpec]:
    """One check per top-level rule of the ruleset, on ``validated_movies``, with a result per file."""
    return [
        dg.AssetCheckSpec(
            name=name,
            asset=VALIDATED_MOVIES,
            description=f"DQDL rule: {markdown_code(rule_text(rule))}",
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
        text = rule_text(rule)
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
