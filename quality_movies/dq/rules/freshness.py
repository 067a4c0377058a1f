"""DataFreshness: each row's age (now minus a date or timestamp column) compared with durations."""

from datetime import timedelta

from quality_movies.dq import model
from quality_movies.dq.errors import InvalidRuleError
from quality_movies.dq.rules.base import (
    LeafPlan,
    Names,
    RuleContext,
    positive,
    quote,
    typed,
    where_in_source,
)
from quality_movies.dq.rules.spec import RuleType
from quality_movies.dq.rules.values import plan_checked_rows


def _validate(rule: model.Rule, source: str) -> None:
    cond = rule.condition
    if (
        cond is None
        or any(v.kind != model.DURATION for v in cond.values)
        or cond.operator
        in (
            "matches",
            "not matches",
        )
    ):
        raise InvalidRuleError(
            f'{where_in_source(rule, source)}`{rule.text}`: write DataFreshness "col" <= 24 hours '
            "(a duration in days, hours or minutes)"
        )


def _hours(duration: timedelta) -> float:
    """A duration in hours, as AWS's reference converts it (minutes rounded to 4 places)."""
    return round(duration.total_seconds() / 3600, 4)


def _plan(rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str) -> None:
    # AWS's reference: age in hours, rounded to 2 places, compared with each duration in hours;
    # a value that is not a date or timestamp (or NULL) fails its row.
    col = ctx.column(rule.parameters[0], rule, source)
    raw = quote(col)
    moment = f"TIMESTAMP '{ctx.now.strftime('%Y-%m-%d %H:%M:%S')}'"
    stamp = typed(raw, "timestamp")
    age = f"ROUND((EPOCH({moment}) - EPOCH({stamp})) / 3600.0, 2)"
    cond = rule.condition
    hours = [repr(_hours(v.offset)) for v in cond.values]
    if cond.operator in ("in", "not in"):
        body = f"{age} {'NOT ' if cond.operator == 'not in' else ''}IN ({', '.join(hours)})"
    elif cond.operator == "!=":
        body = f"{age} <> {hours[0]}"
    else:
        body = positive(age, cond, hours)
    plan.row_expr = f"COALESCE({body}, FALSE)"
    metric = f"Column.{col}.DataFreshness.Compliance"
    plan_checked_rows(rule, ctx, plan, n, raw, stamp, "timestamp", metric)


RULE_TYPES = [
    RuleType(
        "DataFreshness",
        1,
        1,
        "duration",
        threshold=True,
        row_level=True,
        plan=_plan,
        validate=_validate,
    ),
]
