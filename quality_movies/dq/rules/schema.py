"""The dataset's shape and types: ColumnExists, ColumnNamesMatchPattern, ColumnCount, ColumnDataType."""

import re

from quality_movies.dq import model
from quality_movies.dq.errors import InvalidRuleError, UnevaluableRuleError
from quality_movies.dq.rules.base import (
    ALL_PASS,
    BOOLEAN_PATTERN,
    DATE_PATTERN,
    INTEGER_PATTERN,
    NUMBER_PATTERN,
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


DECIMAL_TYPE = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
# AWS's reference: the date formats ColumnDataType "col" = "DATE" accepts with `with format`; a
# partial one is completed with day 01 or year 2000.
DATE_FORMATS = {
    "dd-MM-yyyy": ("-", "dmy"),
    "MM-dd-yyyy": ("-", "mdy"),
    "yyyy-MM-dd": ("-", "ymd"),
    "dd/MM/yyyy": ("/", "dmy"),
    "MM/dd/yyyy": ("/", "mdy"),
    "yyyy/MM/dd": ("/", "ymd"),
    "MM-yyyy": ("-", "my"),
    "dd-MM": ("-", "dm"),
    "MM-dd": ("-", "md"),
    "yyyy-MM": ("-", "ym"),
    "MM/yyyy": ("/", "my"),
    "dd/MM": ("/", "dm"),
    "MM/dd": ("/", "md"),
    "yyyy/MM": ("/", "ym"),
}
_DIGITS = {"d": r"([0-9]{2})", "m": r"([0-9]{2})", "y": r"([0-9]{4})"}


def _known_type(text: str) -> bool:
    upper = text.strip().upper()
    if upper in DATA_TYPES:
        return True
    found = DECIMAL_TYPE.match(upper)
    return (
        bool(found) and 0 < int(found.group(1)) <= 38 and int(found.group(2)) <= int(found.group(1))
    )


def _validate_data_type(rule: model.Rule, source: str) -> None:
    cond = rule.condition
    at = where_in_source(rule, source)
    if cond is None:
        raise InvalidRuleError(f'{at}`{rule.text}`: write ColumnDataType "col" = "TYPE"')
    if cond.operator not in ("=", "!=", "in", "not in") or any(
        v.kind != model.STRING or not _known_type(v.text) for v in cond.values
    ):
        raise UnevaluableRuleError(
            f'{at}`{rule.text}`: write ColumnDataType "col" = "TYPE" (or !=) with TYPE one of '
            f"{', '.join(sorted(DATA_TYPES))} or DECIMAL(precision,scale)"
        )
    date_format = rule.tag("format")
    if date_format is not None:
        if str(date_format.text) not in DATE_FORMATS:
            raise UnevaluableRuleError(
                f"{at}`{rule.text}`: format is one of {', '.join(DATE_FORMATS)}"
            )
        if any(v.text.strip().upper() != "DATE" for v in cond.values):
            raise InvalidRuleError(f"{at}`{rule.text}`: `with format` goes with the DATE type")


def _formatted_date(raw: str, date_format: str) -> str:
    """TRUE when ``raw`` is a valid date written in ``date_format`` (same SQL on both engines)."""
    separator, order = DATE_FORMATS[date_format]
    pattern = "^" + re.escape(separator).join(_DIGITS[part] for part in order) + "$"
    group = {
        part: f"regexp_extract({raw}, {sql_string(pattern)}, {i + 1})"
        for i, part in enumerate(order)
    }
    year, month, day = group.get("y", "'2000'"), group["m"], group.get("d", "'01'")
    iso = f"CONCAT({year}, '-', {month}, '-', {day})"
    return f"(regexp_matches({raw}, {sql_string(pattern)}) AND TRY_CAST({iso} AS DATE) IS NOT NULL)"


def _type_check(raw: str, data_type: str, date_format: str | None = None) -> str:
    decimal = DECIMAL_TYPE.match(data_type)
    if decimal:
        precision, scale = decimal.groups()
        return (
            f"(regexp_matches({raw}, {sql_string(NUMBER_PATTERN)}) "
            f"AND TRY_CAST(TRIM({raw}) AS DECIMAL({precision}, {scale})) IS NOT NULL)"
        )
    if data_type == "DATE" and date_format:
        return _formatted_date(raw, date_format)
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
        raise UnevaluableRuleError(
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
    date_format = rule.tag("format")
    checks = [
        _type_check(raw, v.text.strip().upper(), date_format and str(date_format.text))
        for v in rule.condition.values
    ]
    of_type = " OR ".join(checks)
    if rule.condition.operator in ("!=", "not in"):
        of_type = f"NOT COALESCE({of_type}, FALSE)"
    plan.aggregates[f"{p}considered"] = n.considered
    plan.aggregates[f"{p}compliant"] = (
        f"SUM(CASE WHEN {w} AND ({raw} IS NULL OR {of_type}) THEN 1 ELSE 0 END)"
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
        tags=("format",),
    ),
]
