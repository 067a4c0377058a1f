"""Rules against other datasets: RowCountMatch, ReferentialIntegrity, DatasetMatch, SchemaMatch and
AggregateMatch. A rule names a dataset by its ``DataSources`` alias (or its name); the engine loads it
as a relation of text columns (``RuleContext.references``) before planning.
"""

import re
from typing import Any

from quality_movies.dq import model
from quality_movies.dq.errors import UnevaluableRuleError
from quality_movies.dq.rules.base import (
    LeafPlan,
    LeafResult,
    Names,
    Reference,
    RuleContext,
    failed,
    metric_result,
    quote,
    typed,
    where_in_source,
)
from quality_movies.dq.rules.spec import RuleType

PRIMARY = "primary"
_AGGREGATE = re.compile(r"^\s*(sum|avg)\s*\(\s*(?:([\w$]+)\s*\.\s*)?([^()]+?)\s*\)\s*$", re.I)


def _columns(text: str) -> list[str]:
    """``"id"``, ``"id,name"``, ``"{id,name}"`` or ``"primary.{id,name}"`` as column names."""
    text = text.strip()
    if text.lower().startswith(f"{PRIMARY}."):
        text = text[len(PRIMARY) + 1 :]
    return [part.strip() for part in text.strip("{}").split(",") if part.strip()]


def _qualified(text: str) -> tuple[str, list[str]]:
    """``"ref.id"`` or ``"ref.{id,name}"`` as the dataset alias and its columns."""
    alias, _, columns = text.partition(".")
    return alias.strip(), _columns(columns)


def _mapping(text: str) -> list[tuple[str, str]]:
    """``"id"`` or ``"id1->ref_id1,id2"`` as (primary column, reference column) pairs."""
    pairs = []
    for part in _columns(text):
        primary, _, other = part.partition("->")
        pairs.append((primary.strip(), (other or primary).strip()))
    return pairs


def _aggregate(text: str) -> tuple[str, str, str]:
    """``"sum(ref.amount)"`` as (function, dataset alias, column)."""
    found = _AGGREGATE.match(text)
    if not found:
        raise ValueError(text)
    function, alias, column = found.groups()
    return function.lower(), alias or PRIMARY, column.strip()


HOW_TO_REFERENCE = (
    "name the dataset in DataSources and pass it as a reference (--ref NAME=FILE on the CLI, "
    "reference_data/<name>/ in the pipeline)"
)


def catalog_table_error(
    rule: model.Rule, source: str, name: str, instead: str
) -> UnevaluableRuleError:
    """A Glue Data Catalog table name (``database.table``), which only AWS Glue can resolve: the rule
    loads (Glue's parser accepts it) and is Failed naming the table when it runs."""
    return UnevaluableRuleError(
        f"{where_in_source(rule, source)}`{rule.text}`: '{name}' is a Glue Data Catalog table name; "
        f"Data Catalog tables exist only inside AWS Glue. Instead, {instead}"
    )


def references_of(rule: model.Rule) -> list[str]:
    """The datasets other than the primary one that ``rule`` reads."""
    params = [str(p) for p in rule.parameters]
    if rule.rule_type in ("RowCountMatch", "SchemaMatch", "DatasetMatch"):
        names = params[:1]
    elif rule.rule_type == "ReferentialIntegrity":
        names = [_qualified(params[1])[0]]
    else:  # a Data Catalog table (avg(db.table.col)) is no dataset given here: the rule is Failed
        sides = [_AGGREGATE.match(p) for p in params]
        names = [s.group(2) or PRIMARY for s in sides if s and "." not in s.group(3)]
    return [name for name in names if name.lower() != PRIMARY]


def _validate(rule: model.Rule, source: str) -> None:
    at = where_in_source(rule, source)
    params = [str(p) for p in rule.parameters]
    if rule.rule_type == "ReferentialIntegrity":
        alias, columns = _qualified(params[1])
        if not alias or len(columns) != len(_columns(params[0])):
            raise UnevaluableRuleError(
                f'{at}`{rule.text}`: write ReferentialIntegrity "col1,col2" "reference.{{col1,col2}}"'
                " with as many reference columns as primary ones"
            )
    if rule.rule_type == "AggregateMatch":
        try:
            sides = [_aggregate(param) for param in params]
        except ValueError as error:
            raise UnevaluableRuleError(
                f"{at}`{rule.text}`: '{error}' is not sum(col), avg(col) or sum(reference.col)"
            ) from None
        # AggregateMatch page: "avg(database_name.tablename.ratings)" reads a Data Catalog table.
        for function, alias, column in sides:
            if "." in column:
                table, _, column_name = column.rpartition(".")
                raise catalog_table_error(
                    rule,
                    source,
                    f"{alias}.{table}",
                    f"{HOW_TO_REFERENCE} and write {function}(NAME.{column_name}).",
                )


def _reference(ctx: RuleContext, name: str) -> Reference:
    found = ctx.references.get(name.lower())
    if found is None:
        raise UnevaluableRuleError(
            f"the rule reads a dataset named '{name}' that was not given; "
            f"{HOW_TO_REFERENCE.replace('NAME', name).replace('<name>', name)}"
        )
    return found


def _plan_row_count_match(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    # RowCountMatch "reference" >= 0.9: rows of the primary dataset over rows of the reference.
    alias = str(rule.parameters[0])
    ref = _reference(ctx, alias)
    plan.aggregates[f"{n.p}rows"] = n.considered
    plan.scalar_queries[f"{n.p}reference_rows"] = f"SELECT COUNT(*) FROM {ref.relation}"
    name = f"Dataset.{alias}.RowCountMatch"

    def decide(values: dict[str, Any]) -> LeafResult:
        rows, reference_rows = values[f"{n.p}rows"] or 0, values[f"{n.p}reference_rows"] or 0
        return metric_result(_ratio(rows, reference_rows), name, rule.condition, ctx)

    plan.decide = decide


def _ratio(first: float, second: float) -> float:
    """AWS's reference: 1 when both are 0, 0 when only the second is."""
    if first == 0 and second == 0:
        return 1.0
    return 0.0 if second == 0 else float(first) / float(second)


def _plan_referential_integrity(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    # The share of primary rows whose values are found among the reference's (a NULL is not found).
    alias, ref_columns = _qualified(str(rule.parameters[1]))
    ref = _reference(ctx, alias)
    primary = [ctx.column(c, rule, source) for c in _columns(str(rule.parameters[0]))]
    others = [ref.column(c, rule) for c in ref_columns]
    conditions = [f"r.{quote(o)} = p.{quote(c)}" for c, o in zip(primary, others, strict=True)]
    _plan_share_matched(rule, plan, ctx, n, ref, conditions, f"Column.{alias}.ReferentialIntegrity")


def _plan_share_matched(
    rule: model.Rule,
    plan: LeafPlan,
    ctx: RuleContext,
    n: Names,
    ref: Reference,
    conditions: list[str],
    metric: str,
) -> None:
    """The rule's metric is the share of primary rows with a reference row meeting ``conditions``."""
    plan.scalar_queries[f"{n.p}matched"] = (
        f"SELECT COUNT(*) FROM {{relation}} AS p WHERE EXISTS "
        f"(SELECT 1 FROM {ref.relation} AS r WHERE {' AND '.join(conditions)})"
    )
    plan.aggregates[f"{n.p}rows"] = n.considered

    def decide(values: dict[str, Any]) -> LeafResult:
        rows = values[f"{n.p}rows"] or 0
        if not rows:
            return failed("Cannot evaluate: the primary dataset is empty")
        return metric_result((values[f"{n.p}matched"] or 0) / rows, metric, rule.condition, ctx)

    plan.decide = decide


def _plan_dataset_match(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    # AWS's reference: the share of primary rows with a reference row of the same keys whose match
    # columns (all the other primary columns when none are given) hold the same values.
    alias = str(rule.parameters[0])
    ref = _reference(ctx, alias)
    keys = [
        (ctx.column(c, rule, source), ref.column(o, rule))
        for c, o in _mapping(str(rule.parameters[1]))
    ]
    if len(rule.parameters) > 2:
        compared = [
            (ctx.column(c, rule, source), ref.column(o, rule))
            for c, o in _mapping(str(rule.parameters[2]))
        ]
    else:
        key_names = {c for c, _ in keys}
        compared = [(c, ref.column(c, rule)) for c in ctx.columns if c not in key_names]
    conditions = [f"r.{quote(o)} = p.{quote(c)}" for c, o in keys]
    conditions += [f"r.{quote(o)} IS NOT DISTINCT FROM p.{quote(c)}" for c, o in compared]
    _plan_share_matched(rule, plan, ctx, n, ref, conditions, f"Dataset.{alias}.DatasetMatch")


def _plan_schema_match(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    # The share of primary columns the reference has with the same name and crawler type.
    alias = str(rule.parameters[0])
    ref = _reference(ctx, alias)
    theirs = {c.lower(): ref.column_types.get(c, "string") for c in ref.columns}
    same = [c for c in ctx.columns if theirs.get(c.lower()) == ctx.column_types.get(c, "string")]
    different = [c for c in ctx.columns if c not in same]
    extra = [c for c in ref.columns if c.lower() not in {p.lower() for p in ctx.columns}]
    value = len(same) / len(ctx.columns) if ctx.columns else 1.0
    name = f"Dataset.{alias}.SchemaMatch"

    def decide(values: dict[str, Any]) -> LeafResult:
        result = metric_result(value, name, rule.condition, ctx)
        if not result.passed and (different or extra):
            result.failure_reason = (
                f"{result.failure_reason} Columns that differ: {', '.join(different) or 'none'};"
                f" only in {alias}: {', '.join(extra) or 'none'}."
            )
        return result

    plan.decide = decide


def _plan_aggregate_match(
    rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str
) -> None:
    # AWS's reference: the first aggregate over the second (1 when both are 0, 0 when the second is).
    sides = [_aggregate(str(p)) for p in rule.parameters]
    names = []
    for i, (function, alias, column) in enumerate(sides):
        if alias.lower() == PRIMARY:
            resolved = ctx.column(column, rule, source)
            relation = "(SELECT * FROM {relation})"
        else:
            ref = _reference(ctx, alias)
            resolved = ref.column(column, rule)
            relation = f"(SELECT * FROM {ref.relation})"
        number = typed(quote(resolved), "number")
        plan.scalar_queries[f"{n.p}side{i}"] = (
            f"SELECT CAST({function.upper()}({number}) AS DOUBLE) FROM {relation} AS data"
        )
        names.append(resolved)
    instance = names[0] if names[0] == names[1] else f"{names[0]},{names[1]}"
    name = f"Column.{instance}.AggregateMatch"

    def decide(values: dict[str, Any]) -> LeafResult:
        first, second = values[f"{n.p}side0"] or 0.0, values[f"{n.p}side1"] or 0.0
        return metric_result(_ratio(first, second), name, rule.condition, ctx)

    plan.decide = decide


def _match(name: str, params: int, planner, max_params: int | None = None) -> RuleType:
    return RuleType(
        name,
        params,
        max_params or params,
        "numeric",
        threshold=False,
        row_level=False,
        where=False,
        plan=planner,
        validate=_validate,
        references=references_of,
    )


RULE_TYPES = [
    _match("RowCountMatch", 1, _plan_row_count_match),
    _match("ReferentialIntegrity", 2, _plan_referential_integrity),
    _match("DatasetMatch", 2, _plan_dataset_match, max_params=3),
    _match("SchemaMatch", 1, _plan_schema_match),
    _match("AggregateMatch", 2, _plan_aggregate_match),
]
