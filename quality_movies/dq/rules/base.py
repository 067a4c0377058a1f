"""What every rule family shares: the compiled form of a rule, SQL helpers, and metric decisions.

A rule becomes a ``LeafPlan``: a per-row boolean (row-level rule types only), a ``where`` filter,
aggregate expressions over the input, optional scalar queries, and ``decide`` which turns their values
into the outcome. Both backends run the same SQL (Spark through sqlglot), so they share one semantics.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from quality_movies.dq import model
from quality_movies.dq.data_files import FileListing
from quality_movies.dq.errors import (
    InvalidRuleError,
    NeedsHistoryError,
    UnevaluableRuleError,
    UnknownColumnError,
)
from quality_movies.dq.history import MetricHistory

NUMBER_PATTERN = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
INTEGER_PATTERN = r"^\s*[+-]?[0-9]+\s*$"
TIMESTAMP_PATTERN = (
    r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?\s*$"
)
DATE_PATTERN = r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*$"
BOOLEAN_PATTERN = r"^\s*(?i:true|false)\s*$"
METRIC_DIGITS = 12


def unquote_column(name: str) -> str:
    """``"`a b`"`` names the column ``a b``, as in Spark SQL (Deequ reads DQDL columns so)."""
    return name[1:-1] if len(name) > 1 and name[0] == name[-1] == "`" else name


@dataclass(frozen=True)
class Reference:
    """Another dataset a rule reads: a relation of text columns, typed as the crawler types them."""

    name: str
    relation: str
    columns: Sequence[str]
    column_types: Mapping[str, str] = field(default_factory=dict)

    def column(self, name: str, rule: model.Rule) -> str:
        name = unquote_column(name)
        by_lower = {c.lower(): c for c in self.columns}
        if name.lower() not in by_lower:
            raise UnknownColumnError(
                f"Column '{name}' does not exist in the reference dataset {self.name}. "
                f"Available columns: {', '.join(self.columns)}"
            )
        return by_lower[name.lower()]


@dataclass
class RuleContext:
    """What compiling needs to know about the data: its columns and their crawler types, the clock."""

    columns: Sequence[str]
    relation: str
    now: datetime
    column_types: Mapping[str, str] = field(default_factory=dict)
    history: MetricHistory | None = None
    references: Mapping[str, Reference] = field(default_factory=dict)
    files: FileListing | None = None

    def column(self, name: str, rule: model.Rule, source: str = "") -> str:
        """The data's spelling of column ``name`` (Spark's `back quotes` allowed around it);
        UnknownColumnError (a Failed rule) when it lacks it."""
        name = unquote_column(name)
        by_lower = {c.lower(): c for c in self.columns}
        if name.lower() not in by_lower:
            raise UnknownColumnError(
                f"Column '{name}' does not exist in the data. "
                f"Available columns: {', '.join(self.columns)}"
            )
        return by_lower[name.lower()]

    def resolve(self, condition: model.Condition, metric: str) -> model.Condition:
        """``condition`` with each dynamic expression (``avg(last(3))``...) evaluated on the history
        of ``metric``; raises NeedsHistoryError when there is none or too little."""
        if all(value.kind != model.EXPRESSION for value in condition.values):
            return condition

        def previous(k: int | None) -> list[float]:
            if self.history is None:
                raise NeedsHistoryError(
                    f"needs history: `{condition}` reads earlier values of {metric}, and this "
                    "evaluation was given no metric history"
                )
            return self.history.previous(metric, k)

        values = tuple(
            model.Value(model.NUMBER, value.expression.evaluate(previous))
            if value.kind == model.EXPRESSION
            else value
            for value in condition.values
        )
        return model.Condition(condition.operator, values)

    def compare(self, metric_value: float, metric: str, condition: model.Condition) -> bool:
        """``compare_metric`` after resolving dynamic expressions on ``metric``'s history."""
        return compare_metric(metric_value, self.resolve(condition, metric))

    def typed(self, column: str) -> str:
        """SQL reading ``column`` as its crawler type (text when it was not typed)."""
        from quality_movies.dq.column_types import STRING, typed_column

        return typed_column(quote(column), self.column_types.get(column, STRING))

    def typed_relation(self, relation: str) -> str:
        """``relation``'s data columns, each read as its crawler type, as a subquery."""
        columns = ", ".join(f"{self.typed(c)} AS {quote(c)}" for c in self.columns)
        return f"(SELECT {columns} FROM {relation})"


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


@dataclass(frozen=True)
class Join:
    """A relation joined to each input row (at most one match per row): ``relation`` is SQL reading
    ``{relation}`` (the input), ``on`` the join condition against the input's columns."""

    relation: str
    on: str


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
    join: Join | None = None
    listed: bool = True
    # When this is the ruleset's only rule and has no where clause, the written outputs' row counts
    # give these aggregates: alias -> "rows" (every row) or "passed" (the good rows).
    counted: dict[str, str] = field(default_factory=dict)
    # Aggregates counting the rows that meet a condition (alias -> condition) which are known to be
    # zero when no written row meets it.
    zero_unless: dict[str, str] = field(default_factory=dict)
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
    others = {v.kind for v in condition.values} - {model.NUMBER, model.EXPRESSION}
    if condition.operator.endswith("matches") or others:
        # NULL is a number in AWS's grammar (`number: ... | NULL`): the rule loads, and fails
        # when it runs, since no metric equals or orders with NULL.
        error = UnevaluableRuleError if others == {model.NULL} else InvalidRuleError
        raise error(
            f"{where_in_source(rule, source)}`{rule.text}`: the condition on {what} must compare "
            "with numbers"
        )


def is_number(raw: str) -> str:
    """TRUE when the text reads as a number on both engines (NULL for NULL)."""
    return f"regexp_matches({raw}, {sql_string(NUMBER_PATTERN)})"


def number_cast(raw: str) -> str:
    """The number a text that ``is_number`` reads as. Both engines' casts skip the whitespace the
    pattern allows around it (DuckDB's as RE2's ``\\s``; Spark's as Java's ``trim``), so no TRIM."""
    return f"TRY_CAST({raw} AS DOUBLE)"


def typed(raw: str, value_type: str) -> str:
    """SQL reading a string column as ``value_type``; NULL when it cannot (same on DuckDB and Spark)."""
    if value_type == "number":
        return f"CASE WHEN {is_number(raw)} THEN {number_cast(raw)} END"
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
    """The rule's Spark-SQL where clause as a DuckDB boolean that is never NULL.

    Each column reads as its crawler type, so ``id > 1`` compares numbers as Glue does.
    """
    if rule.where is None:
        return "TRUE"
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(rule.where, read="spark")

    comparisons = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)

    def typed(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table:
            resolved = ctx.column(node.name, rule, source)
            sql = ctx.typed(resolved)
            if ctx.column_types.get(resolved, "string") == "string" and _compared_with_number(
                node, comparisons
            ):
                # Spark compares text with a number as numbers; text that is none reads as NULL.
                sql = f"TRY_CAST({sql} AS DOUBLE)"
            elif _read_as_text(node, ctx.column_types.get(resolved, "string")):
                sql = f"CAST({sql} AS VARCHAR)"
            return exp.paren(sqlglot.parse_one(sql, read="duckdb"), copy=False)
        return node

    return f"COALESCE(({tree.transform(typed).sql(dialect='duckdb')}), FALSE)"


def _string_functions() -> tuple[type, ...]:
    from sqlglot import exp

    return (
        exp.Length,
        exp.Lower,
        exp.Upper,
        exp.Trim,
        exp.Substring,
        exp.Like,
        exp.ILike,
        exp.RegexpLike,
        exp.Concat,
        exp.Reverse,
        exp.Left,
        exp.Right,
    )


def _read_as_text(column: Any, column_type: str) -> bool:
    """Whether Spark reads this typed ``column`` as text: an argument of a string function
    (``length(x)``, ``x LIKE '1%'``) takes a number or boolean as its text (1500.0 as "1500.0"),
    where DuckDB asks for an explicit cast."""
    return column_type != "string" and isinstance(column.parent, _string_functions())


def spark_text_arguments(tree: Any, type_of: Callable[[str], str | None]) -> Any:
    """User SQL (a sqlglot tree) with each typed column that a string function reads cast to
    text, as Spark casts it; ``type_of`` gives a column's crawler type (None: not the data's)."""
    from sqlglot import exp

    def cast(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table:
            column_type = type_of(node.name)
            if column_type and _read_as_text(node, column_type):
                return exp.cast(node.copy(), "VARCHAR")
            if column_type == "string" and isinstance(node.parent, (exp.Sum, exp.Avg)):
                # Spark sums text as doubles (text that is no number reads as NULL)
                return exp.TryCast(this=node.copy(), to=exp.DataType.build("DOUBLE"))
        return node

    return tree.transform(cast)


def _compared_with_number(column: Any, comparisons: tuple) -> bool:
    """Whether ``column`` is compared with a number literal (``x > 1``, ``x BETWEEN 0 AND 9``:
    Spark's parser makes BETWEEN two comparisons, each casting text to a number)."""
    from sqlglot import exp

    parent = column.parent
    if isinstance(parent, exp.Between) and parent.this is column:
        others = [parent.args["low"], parent.args["high"]]
    elif isinstance(parent, comparisons):
        others = [parent.expression if parent.this is column else parent.this]
    else:
        return False
    for other in others:
        while isinstance(other, exp.Neg):
            other = other.this
        if isinstance(other, exp.Literal) and not other.is_string:
            return True
    return False


def ratio(numerator: Any, denominator: Any) -> float:
    return 1.0 if not denominator else float(numerator) / float(denominator)


ALL_PASS = model.Condition("=", (model.Value(model.NUMBER, 1.0),))
# A condition every metric meets: the metric rule inside DetectAnomalies, and analyzers.
ANY_VALUE = model.Condition(">=", (model.Value(model.NUMBER, -1e308),))


def metric_reason(metric: float, name: str, condition: model.Condition) -> str:
    return f"Value: {fmt(metric)} does not meet the constraint requirement! {name} must be {condition}."


def failed(reason: str) -> LeafResult:
    return LeafResult(False, reason, {})


def metric_result(
    value: Any, name: str, condition: model.Condition, ctx: RuleContext | None = None
) -> LeafResult:
    """Compare a metric with ``condition`` (dynamic expressions read ``ctx``'s history)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return failed(f"{name} could not be computed: the column has no usable values.")
    try:
        metric = round_metric(float(value))
    except (TypeError, ValueError):
        return failed(f"{name} could not be computed: '{value}' is not a number.")
    try:
        resolved = ctx.resolve(condition, name) if ctx else condition
    except (NeedsHistoryError, ZeroDivisionError) as error:
        return LeafResult(False, str(error), {name: metric})
    passed = compare_metric(metric, resolved)
    return LeafResult(
        passed, None if passed else metric_reason(metric, name, condition), {name: metric}
    )
