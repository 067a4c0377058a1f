"""What every rule family shares: the compiled form of a rule, SQL helpers, and metric decisions.

A rule becomes a ``LeafPlan``: a per-row boolean (row-level rule types only), a ``where`` filter,
aggregate expressions over the input, optional scalar queries, and ``decide`` which turns their values
into the outcome. Both backends run the same SQL (Spark through sqlglot), so they share one semantics.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from quality_movies.dq import model
from quality_movies.dq.errors import InvalidRuleError, UnknownColumnError

NUMBER_PATTERN = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
INTEGER_PATTERN = r"^\s*[+-]?[0-9]+\s*$"
TIMESTAMP_PATTERN = (
    r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?\s*$"
)
DATE_PATTERN = r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*$"
BOOLEAN_PATTERN = r"^\s*(?i:true|false)\s*$"
METRIC_DIGITS = 12


@dataclass
class RuleContext:
    """What compiling needs to know about the data: its columns, the relation name and the clock."""

    columns: Sequence[str]
    relation: str
    now: datetime

    def column(self, name: str, rule: model.Rule, source: str = "") -> str:
        by_lower = {c.lower(): c for c in self.columns}
        if name.lower() not in by_lower:
            raise UnknownColumnError(
                f"{where_in_source(rule, source)}rule `{rule.text}` names column '{name}', which the "
                f"data does not have. Available columns: {', '.join(self.columns)}"
            )
        return by_lower[name.lower()]


@dataclass
class LeafResult:
    passed: bool
    failure_reason: str | None
    metrics: dict[str, float]


@dataclass(frozen=True)
class FirstValue:
    """``value`` on the first row, in input order, where ``condition`` holds (e.g. a failing example).

    Fetched only when ``needed`` says so from the aggregate values (some row does fail), so a passing
    rule costs no extra scan.
    """

    value: str
    condition: str
    needed: Callable[[dict[str, Any]], bool]


@dataclass
class LeafPlan:
    """SQL and decision for one leaf rule; SQL names are prefixed so plans can share one query."""

    rule: model.Rule
    row_level: bool
    row_expr: str | None = None
    where_expr: str = "TRUE"
    aggregates: dict[str, str] = field(default_factory=dict)
    scalar_queries: dict[str, str] = field(default_factory=dict)
    first_values: dict[str, FirstValue] = field(default_factory=dict)
    decide: Callable[[dict[str, Any]], LeafResult] = lambda values: LeafResult(True, None, {})


@dataclass(frozen=True)
class Names:
    """The per-leaf SQL names: ``p`` prefixes aggregate aliases, ``w`` / ``r`` are the row flags."""

    p: str
    w: str
    r: str

    @property
    def considered(self) -> str:
        return f"SUM(CASE WHEN {self.w} THEN 1 ELSE 0 END)"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def where_in_source(rule: model.Rule, source: str) -> str:
    return (
        f"{source}:{rule.line}:{rule.column}: "
        if source
        else f"line {rule.line}, column {rule.column}: "
    )


def round_metric(value: float) -> float:
    """Metrics are rounded to 12 significant digits so both engines report the same number."""
    return float(f"{value:.{METRIC_DIGITS}g}")


def fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.6g}"


def compare_metric(metric: float, condition: model.Condition) -> bool:
    """Glue's comparison of a number with a condition: ``between`` exclusive, ``not between`` inclusive."""
    numbers = [v.number for v in condition.values]
    op = condition.operator
    if op == "=":
        return metric == numbers[0]
    if op == "!=":
        return metric != numbers[0]
    if op == ">":
        return metric > numbers[0]
    if op == ">=":
        return metric >= numbers[0]
    if op == "<":
        return metric < numbers[0]
    if op == "<=":
        return metric <= numbers[0]
    if op == "between":
        return numbers[0] < metric < numbers[1]
    if op == "not between":
        return metric <= numbers[0] or metric >= numbers[1]
    if op == "in":
        return metric in numbers
    if op == "not in":
        return metric not in numbers
    raise AssertionError(op)


def require_numeric(
    rule: model.Rule, condition: model.Condition | None, source: str, what: str
) -> None:
    if condition is None:
        raise InvalidRuleError(
            f"{where_in_source(rule, source)}`{rule.text}` needs a numeric condition on {what}"
        )
    if condition.operator.endswith("matches") or any(
        v.kind != model.NUMBER for v in condition.values
    ):
        raise InvalidRuleError(
            f"{where_in_source(rule, source)}`{rule.text}`: the condition on {what} must compare "
            "with numbers"
        )


def typed(raw: str, value_type: str) -> str:
    """SQL reading a string column as ``value_type``; NULL when it cannot (same on DuckDB and Spark)."""
    if value_type == "number":
        return f"CASE WHEN regexp_matches({raw}, {sql_string(NUMBER_PATTERN)}) THEN TRY_CAST(TRIM({raw}) AS DOUBLE) END"
    if value_type == "timestamp":
        return f"CASE WHEN regexp_matches({raw}, {sql_string(TIMESTAMP_PATTERN)}) THEN TRY_CAST(TRIM({raw}) AS TIMESTAMP) END"
    return raw


def literal(value: model.Value, value_type: str, now: datetime) -> str:
    if value.kind == model.NOW:
        moment = now + value.offset
        return f"TIMESTAMP '{moment.strftime('%Y-%m-%d %H:%M:%S')}'"
    if value_type == "timestamp":
        return f"TIMESTAMP '{value.text.strip()} 00:00:00'"
    if value.kind == model.NUMBER:
        return repr(float(value.number))
    return sql_string(value.text)


def positive(v: str, cond: model.Condition, lits: list[str]) -> str:
    """``v`` compared with ``lits`` by an ordering operator (may be NULL)."""
    op = cond.operator
    if op in ("=", ">", ">=", "<", "<="):
        return f"({v} {op} {lits[0]})"
    if op == "between":
        return f"({v} > {lits[0]} AND {v} < {lits[1]})"
    if op == "not between":
        return f"({v} <= {lits[0]} OR {v} >= {lits[1]})"
    raise AssertionError(op)


def where_sql(rule: model.Rule, ctx: RuleContext, source: str) -> str:
    """The rule's Spark-SQL where clause as a DuckDB boolean that is never NULL; checks its columns."""
    import sqlglot
    from sqlglot import exp

    if rule.where is None:
        return "TRUE"
    tree = sqlglot.parse_one(rule.where, read="spark")
    for column in tree.find_all(exp.Column):
        resolved = ctx.column(column.name, rule, source)
        column.set("this", exp.to_identifier(resolved, quoted=True))
    return f"COALESCE(({tree.sql(dialect='duckdb')}), FALSE)"


def ratio(numerator: Any, denominator: Any) -> float:
    return 1.0 if not denominator else float(numerator) / float(denominator)


ALL_PASS = model.Condition("=", (model.Value(model.NUMBER, 1.0),))


def metric_reason(metric: float, name: str, condition: model.Condition) -> str:
    return f"Value: {fmt(metric)} does not meet the constraint requirement! {name} must be {condition}."


def metric_result(value: Any, name: str, condition: model.Condition) -> LeafResult:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return LeafResult(
            False, f"{name} could not be computed: the column has no usable values.", {}
        )
    metric = round_metric(float(value))
    passed = compare_metric(metric, condition)
    return LeafResult(
        passed, None if passed else metric_reason(metric, name, condition), {name: metric}
    )
