"""Row-level checks of each value: ColumnValues and ColumnLength."""

import re
from datetime import datetime
from typing import Any

from quality_movies.dq import model
from quality_movies.dq.errors import InvalidRuleError, UnevaluableRuleError
from quality_movies.dq.rules.base import (
    DATE_PATTERN,
    FirstValue,
    LeafPlan,
    LeafResult,
    Names,
    RuleContext,
    fmt,
    is_number,
    literal,
    number_cast,
    positive,
    quote,
    ratio,
    round_metric,
    sql_string,
    typed,
    where_in_source,
)
from quality_movies.dq.rules.spec import RuleType


def _validate_values_condition(rule: model.Rule, source: str) -> None:
    cond = rule.condition
    at = where_in_source(rule, source)
    if cond is None:
        raise InvalidRuleError(f"{at}`{rule.text}`: ColumnValues needs a condition")
    kinds = {v.kind for v in cond.values}
    if model.DURATION in kinds:
        raise InvalidRuleError(f"{at}`{rule.text}`: a duration needs now(), e.g. (now() - 3 days)")
    if cond.operator.endswith("between") or cond.operator in (">", ">=", "<", "<="):
        if kinds & set(model.KEYWORDS):
            raise UnevaluableRuleError(
                f"{at}`{rule.text}`: NULL, EMPTY and WHITESPACES_ONLY only go with "
                "=, !=, in and not in"
            )
        strings = [v for v in cond.values if v.kind == model.STRING]
        if any(v.clock is None and not re.match(DATE_PATTERN, v.text) for v in strings):
            raise InvalidRuleError(
                f'{at}`{rule.text}`: ordering compares numbers, dates ("YYYY-MM-DD", now()) or '
                'times of day ("9:30 PM", "21:30"); use =, in or matches for other strings'
            )
        if any(v.clock is not None for v in strings):
            raise UnevaluableRuleError(
                f"{at}`{rule.text}`: a column's values are not compared with times of day here "
                '(only FileFreshness reads them); compare with dates ("YYYY-MM-DD") or now()'
            )
        if model.NUMBER in kinds and len(kinds) > 1:
            raise UnevaluableRuleError(f"{at}`{rule.text}`: mixes numbers and dates")


def value_type(condition: model.Condition) -> str:
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


def _keyword_predicate(raw: str, keyword: str) -> str:
    if keyword == model.NULL:
        return f"({raw} IS NULL)"
    if keyword == model.EMPTY:
        return f"({raw} = '')"
    return f"COALESCE(regexp_matches({raw}, '^\\s+$'), FALSE)"


def column_values_expr(
    raw: str, cond: model.Condition, now: datetime, ignore_case: bool = False
) -> tuple[str, str]:
    """Per-row pass expression (never NULL) and the typed value expression for a ColumnValues condition.

    ``ignore_case`` (the ``ignoreCase`` tag) compares text and patterns without regard to case.
    """
    kind = value_type(cond)
    v = typed(raw, kind)
    op = cond.operator
    keywords = [val.kind for val in cond.values if val.kind in model.KEYWORDS]
    plain = [val for val in cond.values if val.kind not in model.KEYWORDS]
    lits = [literal(val, kind, now) for val in plain]
    if ignore_case and kind == "string":
        v = f"LOWER({raw})"
        lits = [f"LOWER({lit})" for lit in lits]
    if op in ("matches", "not matches"):
        flags = "(?i)" if ignore_case else ""
        pattern = sql_string(flags + "^(?:" + cond.values[0].text + ")$")
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
    if kind == "number":
        # TRUE when the cast meets the condition and the text is a number. The pattern costs about
        # three casts, so it runs only on the rows the cheap casts let through (a CASE evaluates
        # its THEN for those rows only, on both engines); ``v`` in each comparison would match
        # the pattern twice for ``between``.
        compared = positive(number_cast(raw), cond, lits)
        return f"CASE WHEN {compared} THEN {is_number(raw)} ELSE FALSE END", v
    return f"COALESCE({positive(v, cond, lits)}, FALSE)", v


def failed_rows_reason(values: dict[str, Any], p: str, type_word: str | None) -> str:
    considered, passed = int(values[f"{p}considered"] or 0), int(values[f"{p}passed"] or 0)
    example = values.get(f"{p}example")
    reason = f"Value: {example if example is not None else 'NULL'} does not meet the constraint requirement!"
    reason += f" {considered - passed} of {considered} rows failed."
    reason += _unreadable_note(values, p, type_word)
    return reason


def _unreadable_note(values: dict[str, Any], p: str, type_word: str | None) -> str:
    unreadable = int(values.get(f"{p}unreadable") or 0)
    if not (type_word and unreadable):
        return ""
    return (
        f" {unreadable} value(s) could not be read as a {type_word}"
        f" (e.g. '{values.get(f'{p}unreadable_example')}')."
    )


def plan_checked_rows(
    rule: model.Rule,
    ctx: RuleContext,
    plan: LeafPlan,
    n: Names,
    raw: str,
    value: str,
    kind: str,
    metric: str,
    extra_metrics: Any = None,
) -> None:
    """Aggregates and decision shared by rules whose rows pass or fail one by one (``plan.row_expr``).

    Without a threshold every considered row must pass; with one, the compliance is compared.
    """
    p, w, r = n.p, n.w, n.r
    plan.aggregates[f"{p}considered"] = n.considered
    plan.aggregates[f"{p}passed"] = f"SUM(CASE WHEN {w} AND {r} THEN 1 ELSE 0 END)"
    plan.counted.update({f"{p}considered": "rows", f"{p}passed": "passed"})
    plan.first_values[f"{p}example"] = FirstValue(
        f"COALESCE({raw}, 'NULL')",
        f"{w} AND NOT {r}",
        lambda values: (values[f"{p}considered"] or 0) > (values[f"{p}passed"] or 0),
    )
    type_word = {"number": "number", "timestamp": "date or timestamp"}.get(kind)
    if type_word:
        bad = f"{w} AND {raw} IS NOT NULL AND ({value}) IS NULL"
        plan.aggregates[f"{p}unreadable"] = f"SUM(CASE WHEN {bad} THEN 1 ELSE 0 END)"
        plan.zero_unless[f"{p}unreadable"] = bad
        plan.first_values[f"{p}unreadable_example"] = FirstValue(
            raw, bad, lambda values: (values[f"{p}unreadable"] or 0) > 0
        )

    def decide(values: dict[str, Any]) -> LeafResult:
        compliance = ratio(values[f"{p}passed"] or 0, values[f"{p}considered"] or 0)
        metrics = {metric: round_metric(compliance)}
        if extra_metrics:
            metrics.update(extra_metrics(values))
        if rule.threshold is None:
            passed = compliance == 1.0
            reason = None if passed else failed_rows_reason(values, p, type_word)
        else:
            passed = ctx.compare(compliance, metric, rule.threshold)
            reason = None
            if not passed:
                reason = (
                    f"Value: {fmt(round_metric(compliance))} does not meet the constraint "
                    f"requirement! Compliance must be {rule.threshold}."
                ) + _unreadable_note(values, p, type_word)
        return LeafResult(passed, reason, metrics)

    plan.decide = decide


def _plan_column_values(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    col = ctx.column(rule.parameters[0], rule, source)
    raw = quote(col)
    tag = rule.tag("ignoreCase")
    ignore_case = tag is not None and str(tag.text).strip().lower() == "true"
    plan.row_expr, value = column_values_expr(raw, rule.condition, ctx.now, ignore_case)
    metric = f"Column.{col}.ColumnValues.Compliance"
    plan_checked_rows(rule, ctx, plan, n, raw, value, value_type(rule.condition), metric)


def _plan_column_length(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    col = ctx.column(rule.parameters[0], rule, source)
    raw = quote(col)
    p, w = n.p, n.w
    length = f"LENGTH(COALESCE({raw}, ''))"
    lits = [literal(v, "number", ctx.now) for v in rule.condition.values]
    op = rule.condition.operator
    if op in ("in", "not in"):
        body = f"{length} {'NOT ' if op == 'not in' else ''}IN ({', '.join(lits)})"
    elif op == "!=":
        body = f"{length} <> {lits[0]}"
    else:
        body = positive(length, rule.condition, lits)
    plan.row_expr = f"COALESCE({body}, FALSE)"
    plan.aggregates[f"{p}max_length"] = f"MAX(CASE WHEN {w} THEN {length} END)"
    plan.aggregates[f"{p}min_length"] = f"MIN(CASE WHEN {w} THEN {length} END)"

    def lengths(values: dict[str, Any]) -> dict[str, float]:
        if values[f"{p}max_length"] is None:
            return {}
        return {
            f"Column.{col}.MaximumLength": float(values[f"{p}max_length"]),
            f"Column.{col}.MinimumLength": float(values[f"{p}min_length"]),
        }

    metric = f"Column.{col}.LengthCompliance"  # Deequ's name (ColumnLengthRule)
    plan_checked_rows(rule, ctx, plan, n, raw, length, "string", metric, lengths)


RULE_TYPES = [
    RuleType(
        "ColumnValues",
        1,
        1,
        "values",
        threshold=True,
        row_level=True,
        plan=_plan_column_values,
        validate=_validate_values_condition,
        tags=("ignoreCase",),
    ),
    RuleType(
        "ColumnLength", 1, 1, "numeric", threshold=True, row_level=True, plan=_plan_column_length
    ),
]
