"""Each supported DQDL rule type compiled to SQL (DuckDB dialect) plus a Python decision on its metrics.

A rule becomes a ``LeafPlan``: a per-row boolean (row-level rule types only), a ``where`` filter, aggregate
expressions over the input, optional scalar queries, and ``decide`` which turns their values into the outcome.
Both backends run the same SQL (Spark through sqlglot), so they share one semantics.
"""

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from quality_movies.dq import model
from quality_movies.dq.errors import InvalidRuleError, UnknownColumnError, UnsupportedRuleError

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
                f"{_where(rule, source)}rule `{rule.text}` names column '{name}', which the data does "
                f"not have. Available columns: {', '.join(self.columns)}"
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


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _where(rule: model.Rule, source: str) -> str:
    return (
        f"{source}:{rule.line}:{rule.column}: "
        if source
        else f"line {rule.line}, column {rule.column}: "
    )


def round_metric(value: float) -> float:
    """Metrics are rounded to 12 significant digits so both engines report the same number."""
    return float(f"{value:.{METRIC_DIGITS}g}")


def _fmt(value: float) -> str:
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


def _require_numeric(
    rule: model.Rule, condition: model.Condition | None, source: str, what: str
) -> None:
    if condition is None:
        raise InvalidRuleError(
            f"{_where(rule, source)}`{rule.text}` needs a numeric condition on {what}"
        )
    if condition.operator.endswith("matches") or any(
        v.kind != model.NUMBER for v in condition.values
    ):
        raise InvalidRuleError(
            f"{_where(rule, source)}`{rule.text}`: the condition on {what} must compare with numbers"
        )


@dataclass(frozen=True)
class RuleTypeSpec:
    """Shape of a rule type: how many column parameters, whether a condition and threshold are allowed."""

    min_params: int
    max_params: int
    condition: str  # "none", "numeric", "values", "type"
    threshold: bool
    row_level: bool
    where: bool = True


RULE_TYPES: dict[str, RuleTypeSpec] = {
    "ColumnValues": RuleTypeSpec(1, 1, "values", threshold=True, row_level=True),
    "ColumnLength": RuleTypeSpec(1, 1, "numeric", threshold=True, row_level=True),
    "IsComplete": RuleTypeSpec(1, 1, "none", threshold=False, row_level=True),
    "Completeness": RuleTypeSpec(1, 1, "numeric", threshold=False, row_level=True),
    "IsUnique": RuleTypeSpec(1, 1, "none", threshold=False, row_level=True),
    "Uniqueness": RuleTypeSpec(1, 1, "numeric", threshold=False, row_level=True),
    "IsPrimaryKey": RuleTypeSpec(1, 16, "none", threshold=False, row_level=True),
    "ColumnExists": RuleTypeSpec(1, 1, "none", threshold=False, row_level=False, where=False),
    "ColumnCount": RuleTypeSpec(0, 0, "numeric", threshold=False, row_level=False, where=False),
    "RowCount": RuleTypeSpec(0, 0, "numeric", threshold=False, row_level=False),
    "ColumnDataType": RuleTypeSpec(1, 1, "type", threshold=True, row_level=False),
    "DistinctValuesCount": RuleTypeSpec(1, 1, "numeric", threshold=False, row_level=False),
    "UniqueValueRatio": RuleTypeSpec(1, 1, "numeric", threshold=False, row_level=False),
    "Mean": RuleTypeSpec(1, 1, "numeric", threshold=False, row_level=False),
    "Sum": RuleTypeSpec(1, 1, "numeric", threshold=False, row_level=False),
    "StandardDeviation": RuleTypeSpec(1, 1, "numeric", threshold=False, row_level=False),
    "Entropy": RuleTypeSpec(1, 1, "numeric", threshold=False, row_level=False),
    "ColumnCorrelation": RuleTypeSpec(2, 2, "numeric", threshold=False, row_level=False),
    "CustomSql": RuleTypeSpec(1, 1, "numeric", threshold=False, row_level=False, where=False),
}

DATA_TYPES = {
    "BOOLEAN",
    "DATE",
    "TIMESTAMP",
    "INTEGER",
    "INT",
    "LONG",
    "BIGINT",
    "SHORT",
    "SMALLINT",
    "BYTE",
    "TINYINT",
    "DOUBLE",
    "FLOAT",
    "DECIMAL",
    "STRING",
}


def validate_rule(rule: model.Rule, source: str = "") -> None:
    """Reject, at load time, a rule type the engine cannot evaluate or a rule of the wrong shape."""
    import sqlglot

    spec = RULE_TYPES.get(rule.rule_type)
    if spec is None:
        raise UnsupportedRuleError(
            f"{_where(rule, source)}rule type '{rule.rule_type}' in `{rule.text}` is not supported by "
            f"this engine. Supported: {', '.join(sorted(RULE_TYPES))}. Remove the rule or rewrite it."
        )
    params = rule.parameters
    if not spec.min_params <= len(params) <= spec.max_params or any(
        not isinstance(p, str) for p in params
    ):
        wanted = (
            f"{spec.min_params}"
            if spec.min_params == spec.max_params
            else f"{spec.min_params} to {spec.max_params}"
        )
        raise InvalidRuleError(
            f"{_where(rule, source)}`{rule.text}`: {rule.rule_type} takes {wanted} quoted "
            f"parameter(s), got {len(params)}"
        )
    if spec.condition == "none" and rule.condition is not None:
        raise InvalidRuleError(
            f"{_where(rule, source)}`{rule.text}`: {rule.rule_type} takes no condition"
        )
    if spec.condition == "numeric":
        _require_numeric(rule, rule.condition, source, rule.rule_type)
    if spec.condition == "values":
        _validate_values_condition(rule, source)
    if spec.condition == "type":
        cond = rule.condition
        if (
            cond is None
            or cond.operator not in ("=", "in")
            or any(v.kind != model.STRING or v.text.upper() not in DATA_TYPES for v in cond.values)
        ):
            raise InvalidRuleError(
                f'{_where(rule, source)}`{rule.text}`: write ColumnDataType "col" = "TYPE" with TYPE '
                f"one of {', '.join(sorted(DATA_TYPES))}"
            )
    if rule.threshold is not None:
        if not spec.threshold:
            raise InvalidRuleError(
                f"{_where(rule, source)}`{rule.text}`: {rule.rule_type} does not take 'with threshold'"
            )
        _require_numeric(rule, rule.threshold, source, "the threshold")
    if rule.where is not None:
        if not spec.where:
            raise InvalidRuleError(
                f"{_where(rule, source)}`{rule.text}`: {rule.rule_type} does not take a where clause"
            )
        try:
            sqlglot.parse_one(rule.where, read="spark")
        except sqlglot.errors.ParseError as error:
            raise InvalidRuleError(
                f"{_where(rule, source)}`{rule.text}`: the where clause is not valid SQL ({error})"
            ) from None
    if rule.rule_type == "CustomSql":
        try:
            sqlglot.parse_one(str(params[0]), read="spark")
        except sqlglot.errors.ParseError as error:
            raise InvalidRuleError(
                f"{_where(rule, source)}`{rule.text}`: the SQL is not valid ({error})"
            ) from None


def _validate_values_condition(rule: model.Rule, source: str) -> None:
    cond = rule.condition
    if cond is None:
        raise InvalidRuleError(
            f"{_where(rule, source)}`{rule.text}`: ColumnValues needs a condition"
        )
    kinds = {v.kind for v in cond.values}
    if model.DURATION in kinds:
        raise InvalidRuleError(
            f"{_where(rule, source)}`{rule.text}`: a duration needs now(), e.g. (now() - 3 days)"
        )
    if cond.operator.endswith("between") or cond.operator in (">", ">=", "<", "<="):
        if kinds & set(model.KEYWORDS):
            raise InvalidRuleError(
                f"{_where(rule, source)}`{rule.text}`: NULL, EMPTY and WHITESPACES_ONLY only go with "
                "=, !=, in and not in"
            )
        if model.STRING in kinds and not all(
            re.match(DATE_PATTERN, v.text) for v in cond.values if v.kind == model.STRING
        ):
            raise InvalidRuleError(
                f"{_where(rule, source)}`{rule.text}`: ordering compares numbers or dates "
                '("YYYY-MM-DD", now()); use =, in or matches for strings'
            )
        if model.NUMBER in kinds and len(kinds) > 1:
            raise InvalidRuleError(f"{_where(rule, source)}`{rule.text}`: mixes numbers and dates")


def _value_type(condition: model.Condition) -> str:
    """How ColumnValues reads the column for this condition: number, timestamp or string."""
    kinds = {v.kind for v in condition.values} - set(model.KEYWORDS)
    if condition.operator.endswith("matches"):
        return "string"
    if model.NOW in kinds:
        return "timestamp"
    if kinds == {model.NUMBER}:
        return "number"
    ordering = condition.operator.endswith("between") or condition.operator in (
        ">",
        ">=",
        "<",
        "<=",
    )
    if ordering:
        return "timestamp"
    return "string"


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


def _keyword_predicate(raw: str, keyword: str) -> str:
    if keyword == model.NULL:
        return f"({raw} IS NULL)"
    if keyword == model.EMPTY:
        return f"({raw} = '')"
    return f"COALESCE(regexp_matches({raw}, '^\\s+$'), FALSE)"


def _positive(v: str, cond: model.Condition, lits: list[str]) -> str:
    op = cond.operator
    if op in ("=", ">", ">=", "<", "<="):
        return f"({v} {op} {lits[0]})"
    if op == "between":
        return f"({v} > {lits[0]} AND {v} < {lits[1]})"
    if op == "not between":
        return f"({v} <= {lits[0]} OR {v} >= {lits[1]})"
    raise AssertionError(op)


def column_values_expr(raw: str, cond: model.Condition, now: datetime) -> tuple[str, str]:
    """Per-row pass expression (never NULL) and the typed value expression for a ColumnValues condition."""
    value_type = _value_type(cond)
    v = typed(raw, value_type)
    op = cond.operator
    keywords = [val.kind for val in cond.values if val.kind in model.KEYWORDS]
    plain = [val for val in cond.values if val.kind not in model.KEYWORDS]
    lits = [literal(val, value_type, now) for val in plain]
    if op in ("matches", "not matches"):
        pattern = sql_string("^(?:" + cond.values[0].text + ")$")
        hit = f"regexp_matches({raw}, {pattern})"
        body = hit if op == "matches" else f"NOT {hit}"
        return f"COALESCE({body}, FALSE)", v
    if op in ("=", "in"):
        checks = [_keyword_predicate(raw, k) for k in keywords]
        if lits:
            checks.append(f"COALESCE({v} IN ({', '.join(lits)}), FALSE)")
        return "(" + " OR ".join(checks) + ")", v
    if op in ("!=", "not in"):
        hits = [_keyword_predicate(raw, k) for k in keywords]
        value_ok = (
            f"({raw} IS NULL OR COALESCE({v} NOT IN ({', '.join(lits)}), FALSE))"
            if lits
            else "TRUE"
        )
        if hits:
            return f"(NOT ({' OR '.join(hits)}) AND {value_ok})", v
        return value_ok, v
    return f"COALESCE({_positive(v, cond, lits)}, FALSE)", v


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


def _ratio(numerator: Any, denominator: Any) -> float:
    return 1.0 if not denominator else float(numerator) / float(denominator)


def _failed_rows_reason(values: dict[str, Any], p: str, type_word: str | None) -> str:
    considered, passed = int(values[f"{p}considered"] or 0), int(values[f"{p}passed"] or 0)
    example = values.get(f"{p}example")
    reason = f"Value: {example if example is not None else 'NULL'} does not meet the constraint requirement!"
    reason += f" {considered - passed} of {considered} rows failed."
    unreadable = int(values.get(f"{p}unreadable") or 0)
    if type_word and unreadable:
        reason += (
            f" {unreadable} value(s) could not be read as a {type_word}"
            f" (e.g. '{values.get(f'{p}unreadable_example')}')."
        )
    return reason


def plan_leaf(rule: model.Rule, index: int, ctx: RuleContext, source: str = "") -> LeafPlan:
    """Compile one leaf rule; raises UnknownColumnError for a column the data lacks."""
    import sqlglot
    from sqlglot import exp

    p = f"l{index}_"
    spec = RULE_TYPES[rule.rule_type]
    where = where_sql(rule, ctx, source) if spec.where else "TRUE"
    w = f"__w{index}"
    r = f"__r{index}"
    rt = rule.rule_type
    plan = LeafPlan(rule=rule, row_level=spec.row_level, where_expr=where)
    considered = f"SUM(CASE WHEN {w} THEN 1 ELSE 0 END)"

    if rt in ("ColumnValues", "ColumnLength"):
        col = ctx.column(rule.parameters[0], rule, source)
        raw = quote(col)
        if rt == "ColumnValues":
            plan.row_expr, value = column_values_expr(raw, rule.condition, ctx.now)
            value_type = _value_type(rule.condition)
            metric = f"Column.{col}.ColumnValues.Compliance"
        else:
            length = f"LENGTH(COALESCE({raw}, ''))"
            lits = [literal(v, "number", ctx.now) for v in rule.condition.values]
            op = rule.condition.operator
            if op in ("in", "not in"):
                body = f"{length} {'NOT ' if op == 'not in' else ''}IN ({', '.join(lits)})"
            elif op == "!=":
                body = f"{length} <> {lits[0]}"
            else:
                body = _positive(length, rule.condition, lits)
            plan.row_expr, value, value_type = f"COALESCE({body}, FALSE)", length, "string"
            metric = f"Column.{col}.ColumnLength.Compliance"
            plan.aggregates[f"{p}max_length"] = f"MAX(CASE WHEN {w} THEN {length} END)"
            plan.aggregates[f"{p}min_length"] = f"MIN(CASE WHEN {w} THEN {length} END)"
        plan.aggregates[f"{p}considered"] = considered
        plan.aggregates[f"{p}passed"] = f"SUM(CASE WHEN {w} AND {r} THEN 1 ELSE 0 END)"
        plan.first_values[f"{p}example"] = FirstValue(
            f"COALESCE({raw}, 'NULL')",
            f"{w} AND NOT {r}",
            lambda values: (values[f"{p}considered"] or 0) > (values[f"{p}passed"] or 0),
        )
        type_word = {"number": "number", "timestamp": "date or timestamp"}.get(value_type)
        if type_word:
            bad = f"{w} AND {raw} IS NOT NULL AND ({value}) IS NULL"
            plan.aggregates[f"{p}unreadable"] = f"SUM(CASE WHEN {bad} THEN 1 ELSE 0 END)"
            plan.first_values[f"{p}unreadable_example"] = FirstValue(
                raw, bad, lambda values: (values[f"{p}unreadable"] or 0) > 0
            )

        def decide(values: dict[str, Any]) -> LeafResult:
            compliance = _ratio(values[f"{p}passed"] or 0, values[f"{p}considered"] or 0)
            metrics = {metric: round_metric(compliance)}
            if rt == "ColumnLength" and values[f"{p}max_length"] is not None:
                metrics[f"Column.{col}.MaximumLength"] = float(values[f"{p}max_length"])
                metrics[f"Column.{col}.MinimumLength"] = float(values[f"{p}min_length"])
            if rule.threshold is None:
                passed = compliance == 1.0
                reason = None if passed else _failed_rows_reason(values, p, type_word)
            else:
                passed = compare_metric(compliance, rule.threshold)
                reason = None
                if not passed:
                    reason = (
                        f"Value: {_fmt(round_metric(compliance))} does not meet the constraint requirement! "
                        f"Compliance must be {rule.threshold}."
                    )
                    unreadable = int(values.get(f"{p}unreadable") or 0)
                    if type_word and unreadable:
                        reason += (
                            f" {unreadable} value(s) could not be read as a {type_word}"
                            f" (e.g. '{values.get(f'{p}unreadable_example')}')."
                        )
            return LeafResult(passed, reason, metrics)

        plan.decide = decide
        return plan

    if rt in ("IsComplete", "Completeness"):
        col = ctx.column(rule.parameters[0], rule, source)
        raw = quote(col)
        plan.row_expr = f"({raw} IS NOT NULL)"
        plan.aggregates[f"{p}considered"] = considered
        plan.aggregates[f"{p}complete"] = (
            f"SUM(CASE WHEN {w} AND {raw} IS NOT NULL THEN 1 ELSE 0 END)"
        )
        name = f"Column.{col}.Completeness"

        def decide(values: dict[str, Any]) -> LeafResult:
            completeness = round_metric(_ratio(values[f"{p}complete"], values[f"{p}considered"]))
            condition = rule.condition or model.Condition("=", (model.Value(model.NUMBER, 1.0),))
            passed = compare_metric(completeness, condition)
            reason = None if passed else _metric_reason(completeness, name, condition)
            return LeafResult(passed, reason, {name: completeness})

        plan.decide = decide
        return plan

    if rt in ("IsUnique", "Uniqueness", "IsPrimaryKey"):
        cols = [ctx.column(c, rule, source) for c in rule.parameters]
        raws = [quote(c) for c in cols]
        not_null = " AND ".join(f"{raw} IS NOT NULL" for raw in raws)
        partition = ", ".join([w, *raws])
        unique = f"(COUNT(*) OVER (PARTITION BY {partition}) = 1)"
        if rt == "IsPrimaryKey":
            plan.row_expr = f"({not_null} AND {unique})"
            plan.aggregates[f"{p}considered"] = considered
        else:
            # NULLs are left out of uniqueness, as Deequ's frequency analyzers do.
            plan.row_expr = f"(NOT ({not_null}) OR {unique})"
            plan.aggregates[f"{p}considered"] = (
                f"SUM(CASE WHEN {w} AND {not_null} THEN 1 ELSE 0 END)"
            )
        plan.aggregates[f"{p}unique"] = (
            f"SUM(CASE WHEN {w} AND {not_null} AND {r} THEN 1 ELSE 0 END)"
        )
        plan.aggregates[f"{p}rows"] = considered
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
            uniqueness = round_metric(_ratio(values[f"{p}unique"], values[f"{p}considered"]))
            metrics = {uniqueness_name: uniqueness}
            complete = True
            if rt == "IsPrimaryKey":
                for i, col in enumerate(cols):
                    completeness = round_metric(
                        _ratio(values[f"{p}complete{i}"], values[f"{p}rows"])
                    )
                    metrics[f"Column.{col}.Completeness"] = completeness
                    complete = complete and completeness == 1.0
            condition = rule.condition or model.Condition("=", (model.Value(model.NUMBER, 1.0),))
            passed = complete and compare_metric(uniqueness, condition)
            reason = None
            if not passed:
                reason = (
                    _metric_reason(uniqueness, uniqueness_name, condition)
                    if complete
                    else "Value: NULL does not meet the constraint requirement! A primary key column has NULLs."
                )
            return LeafResult(passed, reason, metrics)

        plan.decide = decide
        return plan

    if rt == "ColumnExists":
        name = str(rule.parameters[0])
        exists = name.lower() in {c.lower() for c in ctx.columns}
        reason = None if exists else f"Column {name} does not exist"
        plan.decide = lambda values: LeafResult(exists, reason, {})
        return plan

    if rt == "ColumnCount":
        count = float(len(ctx.columns))
        plan.decide = lambda values: _metric_result(count, "Dataset.*.ColumnCount", rule.condition)
        return plan

    if rt == "RowCount":
        plan.aggregates[f"{p}rows"] = considered
        plan.decide = lambda values: _metric_result(
            values[f"{p}rows"] or 0, "Dataset.*.RowCount", rule.condition
        )
        return plan

    if rt == "ColumnDataType":
        col = ctx.column(rule.parameters[0], rule, source)
        raw = quote(col)
        checks = [_type_check(raw, v.text.upper()) for v in rule.condition.values]
        plan.aggregates[f"{p}considered"] = considered
        plan.aggregates[f"{p}compliant"] = (
            f"SUM(CASE WHEN {w} AND ({raw} IS NULL OR {' OR '.join(checks)}) THEN 1 ELSE 0 END)"
        )
        name = f"Column.{col}.ColumnDataType.Compliance"
        threshold = rule.threshold or model.Condition("=", (model.Value(model.NUMBER, 1.0),))
        plan.decide = lambda values: _metric_result(
            _ratio(values[f"{p}compliant"], values[f"{p}considered"]), name, threshold
        )
        return plan

    if rt in ("Mean", "Sum", "StandardDeviation", "DistinctValuesCount"):
        col = ctx.column(rule.parameters[0], rule, source)
        raw = quote(col)
        number = typed(raw, "number")
        aggregate = {
            "Mean": f"AVG(CASE WHEN {w} THEN {number} END)",
            "Sum": f"SUM(CASE WHEN {w} THEN {number} END)",
            "StandardDeviation": f"STDDEV_POP(CASE WHEN {w} THEN {number} END)",
            "DistinctValuesCount": f"COUNT(DISTINCT CASE WHEN {w} THEN {raw} END)",
        }[rt]
        plan.aggregates[f"{p}metric"] = aggregate
        name = f"Column.{col}.{rt}"
        plan.decide = lambda values: _metric_result(values[f"{p}metric"], name, rule.condition)
        return plan

    if rt in ("Entropy", "UniqueValueRatio"):
        col = ctx.column(rule.parameters[0], rule, source)
        raw = quote(col)
        counts = (
            f"SELECT COUNT(*) AS n, SUM(COUNT(*)) OVER () AS total FROM {{relation}} "
            f"WHERE {w} AND {raw} IS NOT NULL GROUP BY {raw}"
        )
        if rt == "Entropy":
            query = (
                f"SELECT -SUM((n / total) * LN(n / total)) AS value FROM ({counts}) AS frequencies"
            )
        else:
            query = (
                "SELECT SUM(CASE WHEN n = 1 THEN 1 ELSE 0 END) / COUNT(*) AS value "
                f"FROM ({counts}) AS frequencies"
            )
        plan.scalar_queries[f"{p}metric"] = query
        name = f"Column.{col}.{rt}"
        plan.decide = lambda values: _metric_result(values[f"{p}metric"], name, rule.condition)
        return plan

    if rt == "ColumnCorrelation":
        cols = [ctx.column(c, rule, source) for c in rule.parameters]
        a, b = (typed(quote(c), "number") for c in cols)
        plan.aggregates[f"{p}metric"] = (
            f"CORR(CASE WHEN {w} THEN {a} END, CASE WHEN {w} THEN {b} END)"
        )
        name = f"Multicolumn.{cols[0]},{cols[1]}.ColumnCorrelation"
        plan.decide = lambda values: _metric_result(values[f"{p}metric"], name, rule.condition)
        return plan

    if rt == "CustomSql":
        tree = sqlglot.parse_one(str(rule.parameters[0]), read="spark")
        for table in tree.find_all(exp.Table):
            if table.name.lower() == "primary":
                table.replace(exp.to_table("__dq_relation__"))
        for column in tree.find_all(exp.Column):
            if column.name.lower() in {c.lower() for c in ctx.columns}:
                column.set(
                    "this", exp.to_identifier(ctx.column(column.name, rule, source), quoted=True)
                )
        query = tree.sql(dialect="duckdb").replace("__dq_relation__", "{relation}")
        plan.scalar_queries[f"{p}metric"] = query
        plan.decide = lambda values: _metric_result(
            values[f"{p}metric"], "Dataset.*.CustomSQL", rule.condition
        )
        return plan

    raise UnsupportedRuleError(f"{_where(rule, source)}rule type '{rt}' is not supported")


def _type_check(raw: str, data_type: str) -> str:
    if data_type == "STRING":
        return "TRUE"
    if data_type == "BOOLEAN":
        return f"regexp_matches({raw}, {sql_string(BOOLEAN_PATTERN)})"
    if data_type == "DATE":
        return f"(regexp_matches({raw}, {sql_string(DATE_PATTERN)}) AND TRY_CAST(TRIM({raw}) AS DATE) IS NOT NULL)"
    if data_type == "TIMESTAMP":
        return f"({typed(raw, 'timestamp')}) IS NOT NULL"
    if data_type in ("DOUBLE", "FLOAT", "DECIMAL"):
        return f"({typed(raw, 'number')}) IS NOT NULL"
    sql_type = {
        "INTEGER": "INTEGER",
        "INT": "INTEGER",
        "SHORT": "SMALLINT",
        "SMALLINT": "SMALLINT",
    }.get(data_type, "TINYINT" if data_type in ("BYTE", "TINYINT") else "BIGINT")
    return (
        f"(regexp_matches({raw}, {sql_string(INTEGER_PATTERN)}) "
        f"AND TRY_CAST(TRIM({raw}) AS {sql_type}) IS NOT NULL)"
    )


def _metric_reason(metric: float, name: str, condition: model.Condition) -> str:
    return f"Value: {_fmt(metric)} does not meet the constraint requirement! {name} must be {condition}."


def _metric_result(value: Any, name: str, condition: model.Condition) -> LeafResult:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return LeafResult(
            False, f"{name} could not be computed: the column has no usable values.", {}
        )
    metric = round_metric(float(value))
    passed = compare_metric(metric, condition)
    return LeafResult(
        passed, None if passed else _metric_reason(metric, name, condition), {name: metric}
    )
