"""The dataset's shape and types: ColumnExists, ColumnNamesMatchPattern, ColumnCount, ColumnDataType."""

import re

from quality_movies.dq import model
from quality_movies.dq.errors import InvalidRuleError
from quality_movies.dq.rules.base import (
    ALL_PASS,
    BOOLEAN_PATTERN,
    DATE_PATTERN,
    INTEGER_PATTERN,
    LeafPlan,
    LeafResult,
    Names,
    RuleContext,
    metric_result,
    quote,
    ratio,
    round_metric,
    sql_string,
    typed,
    where_in_source,
)
from quality_movies.dq.rules.spec import RuleType

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


def _validate_data_type(rule: model.Rule, source: str) -> None:
    cond = rule.condition
    if (
        cond is None
        or cond.operator not in ("=", "in")
        or any(v.kind != model.STRING or v.text.upper() not in DATA_TYPES for v in cond.values)
    ):
        raise InvalidRuleError(
            f'{where_in_source(rule, source)}`{rule.text}`: write ColumnDataType "col" = "TYPE" '
            f"with TYPE one of {', '.join(sorted(DATA_TYPES))}"
        )


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


def _plan_exists(rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str) -> None:
    name = str(rule.parameters[0])
    exists = name.lower() in {c.lower() for c in ctx.columns}
    reason = None if exists else f"Column {name} does not exist"
    # AWS's reference names the metric Dataset.<column>.ColumnExists.
    metrics = {f"Dataset.{name}.ColumnExists": 1.0 if exists else 0.0}
    plan.decide = lambda values: LeafResult(exists, reason, metrics)


def _validate_pattern(rule: model.Rule, source: str) -> None:
    try:
        re.compile(str(rule.parameters[0]))
    except re.error as error:
        raise InvalidRuleError(
            f"{where_in_source(rule, source)}`{rule.text}`: the pattern is not a valid regular "
            f"expression ({error})"
        ) from None


def _plan_names_match(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    # AWS's reference: a column name matches when the pattern is found in it; the metric is the
    # share of names that match, and every name must.
    pattern = re.compile(str(rule.parameters[0]))
    unmatched = [column for column in ctx.columns if not pattern.search(column)]
    ratio_matched = round_metric((len(ctx.columns) - len(unmatched)) / len(ctx.columns))
    metrics = {"Dataset.*.ColumnNamesPatternMatchRatio": ratio_matched}
    reason = f"Columns that do not match the pattern: {', '.join(unmatched)}" if unmatched else None
    plan.decide = lambda values: LeafResult(not unmatched, reason, metrics)


def _plan_count(rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str) -> None:
    count = float(len(ctx.columns))
    plan.decide = lambda values: metric_result(count, "Dataset.*.ColumnCount", rule.condition, ctx)


def _plan_data_type(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    col = ctx.column(rule.parameters[0], rule, source)
    raw = quote(col)
    p, w = n.p, n.w
    checks = [_type_check(raw, v.text.upper()) for v in rule.condition.values]
    plan.aggregates[f"{p}considered"] = n.considered
    plan.aggregates[f"{p}compliant"] = (
        f"SUM(CASE WHEN {w} AND ({raw} IS NULL OR {' OR '.join(checks)}) THEN 1 ELSE 0 END)"
    )
    name = f"Column.{col}.ColumnDataType.Compliance"
    threshold = rule.threshold or ALL_PASS
    plan.decide = lambda values: metric_result(
        ratio(values[f"{p}compliant"], values[f"{p}considered"]), name, threshold, ctx
    )


RULE_TYPES = [
    RuleType(
        "ColumnExists",
        1,
        1,
        "none",
        threshold=False,
        row_level=False,
        where=False,
        plan=_plan_exists,
    ),
    RuleType(
        "ColumnNamesMatchPattern",
        1,
        1,
        "none",
        threshold=False,
        row_level=False,
        where=False,
        plan=_plan_names_match,
        validate=_validate_pattern,
    ),
    RuleType(
        "ColumnCount",
        0,
        0,
        "numeric",
        threshold=False,
        row_level=False,
        where=False,
        plan=_plan_count,
    ),
    RuleType(
        "ColumnDataType",
        1,
        1,
        "type",
        threshold=True,
        row_level=False,
        plan=_plan_data_type,
        validate=_validate_data_type,
    ),
]
