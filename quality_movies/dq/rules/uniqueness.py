"""Repeated values: IsUnique, Uniqueness and IsPrimaryKey (one or several columns)."""

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
    rt = rule.rule_type
    p, w, r = n.p, n.w, n.r
    cols = [ctx.column(c, rule, source) for c in rule.parameters]
    raws = [quote(c) for c in cols]
    not_null = " AND ".join(f"{raw} IS NOT NULL" for raw in raws)
    partition = ", ".join([w, *raws])
    unique = f"(COUNT(*) OVER (PARTITION BY {partition}) = 1)"
    if rt == "IsPrimaryKey":
        plan.row_expr = f"({not_null} AND {unique})"
        plan.aggregates[f"{p}considered"] = n.considered
    else:
        # NULLs are left out of uniqueness, as Deequ's frequency analyzers do.
        plan.row_expr = f"(NOT ({not_null}) OR {unique})"
        plan.aggregates[f"{p}considered"] = f"SUM(CASE WHEN {w} AND {not_null} THEN 1 ELSE 0 END)"
    plan.aggregates[f"{p}unique"] = f"SUM(CASE WHEN {w} AND {not_null} AND {r} THEN 1 ELSE 0 END)"
    plan.aggregates[f"{p}rows"] = n.considered
    for i, raw in enumerate(raws):
        plan.aggregates[f"{p}complete{i}"] = (
            f"SUM(CASE WHEN {w} AND {raw} IS NOT NULL THEN 1 ELSE 0 END)"
        )
    uniqueness_name = (
        f"Column.{cols[0]}.Uniqueness"
        if len(cols) == 1
        else f"Multicolumn.{','.join(cols)}.Uniqueness"
    )

    def decide(values: dict[str, Any]) -> LeafResult:
        uniqueness = round_metric(ratio(values[f"{p}unique"], values[f"{p}considered"]))
        metrics = {uniqueness_name: uniqueness}
        complete = True
        if rt == "IsPrimaryKey":
            for i, col in enumerate(cols):
                completeness = round_metric(ratio(values[f"{p}complete{i}"], values[f"{p}rows"]))
                metrics[f"Column.{col}.Completeness"] = completeness
                complete = complete and completeness == 1.0
        condition = rule.condition or ALL_PASS
        passed = complete and ctx.compare(uniqueness, uniqueness_name, condition)
        reason = None
        if not passed:
            reason = (
                metric_reason(uniqueness, uniqueness_name, condition)
                if complete
                else "Value: NULL does not meet the constraint requirement! A primary key column has NULLs."
            )
        return LeafResult(passed, reason, metrics)

    plan.decide = decide


RULE_TYPES = [
    RuleType("IsUnique", 1, 16, "none", threshold=False, row_level=True, plan=_plan),
    RuleType("Uniqueness", 1, 16, "numeric", threshold=False, row_level=True, plan=_plan),
    RuleType("IsPrimaryKey", 1, 16, "none", threshold=False, row_level=True, plan=_plan),
]
