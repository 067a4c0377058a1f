"""Dataset-level statistics compared with a number: RowCount, Mean, Sum, StandardDeviation, Variance,
DistinctValuesCount, Entropy, UniqueValueRatio and ColumnCorrelation."""

from typing import Any

from quality_movies.dq import model
from quality_movies.dq.rules.base import (
    LeafPlan,
    LeafResult,
    Names,
    RuleContext,
    metric_result,
    quote,
    ratio,
    round_metric,
    typed,
)
from quality_movies.dq.rules.spec import RuleType


def _plan_row_count(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    plan.aggregates[f"{n.p}rows"] = n.considered
    plan.decide = lambda values: metric_result(
        values[f"{n.p}rows"] or 0, "Dataset.*.RowCount", rule.condition, ctx
    )


def _plan_aggregate(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    col = ctx.column(rule.parameters[0], rule, source)
    raw = quote(col)
    number = typed(raw, "number")
    w, rt = n.w, rule.rule_type
    aggregate = {
        "Mean": f"AVG(CASE WHEN {w} THEN {number} END)",
        "Sum": f"SUM(CASE WHEN {w} THEN {number} END)",
        "StandardDeviation": f"STDDEV_POP(CASE WHEN {w} THEN {number} END)",
        "Variance": f"VAR_POP(CASE WHEN {w} THEN {number} END)",
        "DistinctValuesCount": f"COUNT(DISTINCT CASE WHEN {w} THEN {raw} END)",
    }[rt]
    plan.aggregates[f"{n.p}metric"] = aggregate
    name = f"Column.{col}.{rt}"
    plan.decide = lambda values: metric_result(values[f"{n.p}metric"], name, rule.condition, ctx)


def _plan_frequencies(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    col = ctx.column(rule.parameters[0], rule, source)
    raw = quote(col)
    counts = (
        f"SELECT COUNT(*) AS n, SUM(COUNT(*)) OVER () AS total FROM {{relation}} "
        f"WHERE {n.w} AND {raw} IS NOT NULL GROUP BY {raw}"
    )
    if rule.rule_type == "Entropy":
        query = f"SELECT -SUM((n / total) * LN(n / total)) AS value FROM ({counts}) AS frequencies"
    else:
        query = (
            "SELECT SUM(CASE WHEN n = 1 THEN 1 ELSE 0 END) / COUNT(*) AS value "
            f"FROM ({counts}) AS frequencies"
        )
    plan.scalar_queries[f"{n.p}metric"] = query
    name = f"Column.{col}.{rule.rule_type}"
    plan.decide = lambda values: metric_result(values[f"{n.p}metric"], name, rule.condition, ctx)


def _plan_correlation(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    cols = [ctx.column(c, rule, source) for c in rule.parameters]
    a, b = (typed(quote(c), "number") for c in cols)
    plan.aggregates[f"{n.p}metric"] = (
        f"CORR(CASE WHEN {n.w} THEN {a} END, CASE WHEN {n.w} THEN {b} END)"
    )
    name = f"Multicolumn.{cols[0]},{cols[1]}.ColumnCorrelation"
    plan.decide = lambda values: metric_result(values[f"{n.p}metric"], name, rule.condition, ctx)


def _plan_all_statistics(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    # Rule type reference, AllStatistics (an analyzer): RowCount, Completeness and Uniqueness for
    # every column; lengths for text columns, minimum and maximum for numeric ones.
    col = ctx.column(rule.parameters[0], rule, source)
    raw, p = quote(col), n.p
    number = typed(raw, "number")
    plan.aggregates.update(
        {
            f"{p}rows": "COUNT(*)",
            f"{p}complete": f"COUNT({raw})",
            f"{p}numbers": f"COUNT({number})",
            f"{p}min_length": f"MIN(LENGTH({raw}))",
            f"{p}max_length": f"MAX(LENGTH({raw}))",
            f"{p}minimum": f"MIN({number})",
            f"{p}maximum": f"MAX({number})",
        }
    )
    plan.scalar_queries[f"{p}unique"] = (
        f"SELECT COUNT(*) FROM (SELECT {raw} FROM {{relation}} WHERE {raw} IS NOT NULL "
        f"GROUP BY {raw} HAVING COUNT(*) = 1) AS once"
    )

    def decide(values: dict[str, Any]) -> LeafResult:
        rows, complete = values[f"{p}rows"] or 0, values[f"{p}complete"] or 0
        metrics = {
            "Dataset.*.RowCount": float(rows),
            f"Column.{col}.Completeness": round_metric(ratio(complete, rows)),
            f"Column.{col}.Uniqueness": round_metric(ratio(values[f"{p}unique"] or 0, complete)),
        }
        if complete and values[f"{p}numbers"] == complete:
            metrics[f"Column.{col}.Minimum"] = float(values[f"{p}minimum"])
            metrics[f"Column.{col}.Maximum"] = float(values[f"{p}maximum"])
        elif complete:
            metrics[f"Column.{col}.MinimumLength"] = float(values[f"{p}min_length"])
            metrics[f"Column.{col}.MaximumLength"] = float(values[f"{p}max_length"])
        return LeafResult(True, None, metrics)

    plan.decide = decide


def _numeric(name: str, planner, params: int = 1) -> RuleType:
    return RuleType(name, params, params, "numeric", threshold=False, row_level=False, plan=planner)


RULE_TYPES = [
    _numeric("RowCount", _plan_row_count, params=0),
    _numeric("Mean", _plan_aggregate),
    _numeric("Sum", _plan_aggregate),
    _numeric("StandardDeviation", _plan_aggregate),
    _numeric("Variance", _plan_aggregate),
    _numeric("DistinctValuesCount", _plan_aggregate),
    _numeric("Entropy", _plan_frequencies),
    _numeric("UniqueValueRatio", _plan_frequencies),
    _numeric("ColumnCorrelation", _plan_correlation, params=2),
    RuleType(
        "AllStatistics", 1, 1, "none", threshold=False, row_level=False, plan=_plan_all_statistics
    ),
]
