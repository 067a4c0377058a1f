"""Asset checks of the quality gate: one per DQDL rule, and the blocking row conservation check."""

import re
from typing import Any

import dagster as dg

CONSERVATION_CHECK = "rows_conserved"
VALIDATED_MOVIES = dg.AssetKey("validated_movies")


def rule_check_name(index: int, rule_text: str) -> str:
    """A stable check name for the ``index``-th rule (1-based), e.g. ``rule_1_columnvalues_imdb_rating``."""
    words = re.findall(r"[a-z0-9]+", rule_text.lower())
    slug = "_".join(words[:3])[:40].strip("_")
    return f"rule_{index}_{slug}" if slug else f"rule_{index}"


def rule_check_specs(rule_texts: list[str]) -> list[dg.AssetCheckSpec]:
    """One check per top-level rule of the ruleset, on ``validated_movies``."""
    return [
        dg.AssetCheckSpec(
            name=rule_check_name(i, text),
            asset=VALIDATED_MOVIES,
            description=f"DQDL rule: {text}",
        )
        for i, text in enumerate(rule_texts, start=1)
    ]


conservation_check_spec = dg.AssetCheckSpec(
    name=CONSERVATION_CHECK,
    asset=VALIDATED_MOVIES,
    blocking=True,
    description="Rows read = good rows + bad rows: no row is ever lost between the file and its outputs.",
)


def rule_check_results(
    rule_texts: list[str], rule_outcomes: list[dict[str, Any]]
) -> list[dg.AssetCheckResult]:
    """A check result per rule from Glue-shaped rule outcomes; a rule with no outcome fails loudly.

    A failing rule is a warning: its rows went to bad records, which is the gate working.
    """
    by_rule = {o["Rule"]: o for o in rule_outcomes}
    results = []
    for i, text in enumerate(rule_texts, start=1):
        outcome = by_rule.get(text)
        if outcome is None:
            results.append(
                dg.AssetCheckResult(
                    check_name=rule_check_name(i, text),
                    asset_key=VALIDATED_MOVIES,
                    passed=False,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "failure_reason": "the quality job reported no outcome for this rule"
                    },
                )
            )
            continue
        metrics = outcome.get("EvaluatedMetrics") or {}
        results.append(
            dg.AssetCheckResult(
                check_name=rule_check_name(i, text),
                asset_key=VALIDATED_MOVIES,
                passed=outcome["Outcome"] == "Passed",
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "rule": text,
                    "outcome": outcome["Outcome"],
                    "failure_reason": outcome.get("FailureReason") or "",
                    **{name: float(value) for name, value in metrics.items()},
                },
            )
        )
    return results


def conservation_check_result(rows_read: int, good_rows: int, bad_rows: int) -> dg.AssetCheckResult:
    """Blocking: the warehouse load does not run unless every row read is accounted for."""
    return dg.AssetCheckResult(
        check_name=CONSERVATION_CHECK,
        asset_key=VALIDATED_MOVIES,
        passed=rows_read == good_rows + bad_rows,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rows_read": rows_read, "good_rows": good_rows, "bad_rows": bad_rows},
    )
