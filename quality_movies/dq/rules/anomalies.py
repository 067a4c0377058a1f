"""DetectAnomalies: a metric (RowCount, Completeness "col"...) judged against its own history."""

from typing import Any

from quality_movies.dq import model
from quality_movies.dq.errors import UnevaluableRuleError
from quality_movies.dq.rules.base import (
    ANY_VALUE,
    LeafPlan,
    LeafResult,
    Names,
    RuleContext,
    where_in_source,
)
from quality_movies.dq.rules.spec import RuleType


def _metric_rule(rule: model.Rule) -> model.Rule:
    """The rule computing the watched metric: ``DetectAnomalies "Completeness" "x"`` -> Completeness "x"."""
    return model.Rule(
        rule_type=_metric_types()[str(rule.parameters[0]).lower()].name,
        parameters=rule.parameters[1:],
        condition=ANY_VALUE,
        threshold=None,
        where=rule.where,
        text=rule.text,
        line=rule.line,
        column=rule.column,
    )


def _metric_types() -> dict[str, RuleType]:
    from quality_movies.dq.rules import RULE_TYPES

    return {
        name.lower(): spec
        for name, spec in RULE_TYPES.items()
        if spec.condition in ("numeric", "custom")
        and (spec.references is None or name == "CustomSql")
    }


def _validate(rule: model.Rule, source: str) -> None:
    at = where_in_source(rule, source)
    metric_types = _metric_types()
    name = str(rule.parameters[0]) if rule.parameters else ""
    spec = metric_types.get(name.lower())
    if spec is None:
        raise UnevaluableRuleError(
            f"{at}`{rule.text}`: DetectAnomalies watches a metric rule type, one of "
            f"{', '.join(sorted(s.name for s in metric_types.values()))}"
            + (
                " (ColumnValues' minimum and maximum are not tracked here)"
                if name.lower() == "columnvalues"
                else ""
            )
        )
    if not spec.min_params <= len(rule.parameters) - 1 <= spec.max_params:
        raise UnevaluableRuleError(
            f"{at}`{rule.text}`: {name} takes {spec.min_params} parameter(s) in DetectAnomalies"
        )


def _plan(rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str) -> None:
    inner = _metric_rule(rule)
    spec = _metric_types()[inner.rule_type.lower()]
    plan.row_level = spec.row_level
    spec.plan(inner, plan, ctx, n, source)
    plan.listed = False  # the watched metric's row checks feed the metric, never the row lists
    measure = plan.decide

    def decide(values: dict[str, Any]) -> LeafResult:
        measured = measure(values)
        if not measured.metrics:
            return measured
        watched = _watched(measured.metrics, inner.rule_type)
        if ctx.history is None:
            return LeafResult(
                False,
                f"needs history: DetectAnomalies judges {' and '.join(watched)} against the values "
                "of earlier files, and this evaluation was given no metric history",
                measured.metrics,
            )
        verdicts = [ctx.history.detect_anomaly(name, value) for name, value in watched.items()]
        observations = [verdict.observation for verdict in verdicts if verdict.anomalous]
        return LeafResult(not observations, " ".join(observations) or None, measured.metrics)

    plan.decide = decide


def _watched(metrics: dict[str, float], rule_type: str) -> dict[str, float]:
    """The metrics the rule type is named for. ColumnLength's are the shortest and longest length
    (the DQDL reference: its observations come "only by analyzing minimum and maximum length")."""
    if rule_type == "ColumnLength":
        lengths = {
            name: value
            for name, value in metrics.items()
            if name.endswith((".MinimumLength", ".MaximumLength"))
        }
        if lengths:
            return lengths
    for name, value in metrics.items():
        if name.split(".", 2)[-1] in (rule_type, f"{rule_type}.Compliance"):
            return {name: value}
    return dict([next(iter(metrics.items()))])


RULE_TYPES = [
    RuleType(
        "DetectAnomalies",
        1,
        3,
        "none",
        threshold=False,
        row_level=False,
        plan=_plan,
        validate=_validate,
    ),
]
