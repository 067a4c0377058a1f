"""Missing values: IsComplete and Completeness."""

from typing import Any

from quality_movies.dq import model
from quality_movies.dq.rules.base import (
    ALL_PASS,
    LeafPlan,
    LeafResult,
    Names,
    RuleContext,
    metric_reason,
    quote,
    ratio,
    round_metric,
)
from quality_movies.dq.rules.spec import RuleType


def _plan(rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str) -> None:
    col = ctx.column(rule.parameters[0], rule, source)
    raw = quote(col)
    p, w = n.p, n.w
    plan.row_expr = f"({raw} IS NOT NULL)"
    plan.aggregates[f"{p}considered"] = n.considered
    plan.aggregates[f"{p}complete"] = f"SUM(CASE WHEN {w} AND {raw} IS NOT NULL THEN 1 ELSE 0 END)"
    plan.counted.update({f"{p}considered": "rows", f"{p}complete": "passed"})
    name = f"Column.{col}.Completeness"

    def decide(values: dict[str, Any]) -> LeafResult:
        completeness = round_metric(ratio(values[f"{p}complete"], values[f"{p}considered"]))
        condition = rule.condition or ALL_PASS
        passed = ctx.compare(completeness, name, condition)
        reason = None if passed else metric_reason(completeness, name, condition)
        return LeafResult(passed, reason, {name: completeness})

    plan.decide = decide


RULE_TYPES = [
    RuleType("IsComplete", 1, 1, "none", threshold=False, row_level=True, plan=_plan),
    RuleType("Completeness", 1, 1, "numeric", threshold=False, row_level=True, plan=_plan),
]
