"""CustomSql over the data (``primary``, its columns typed as the crawler types them).

With a condition, the query's single value is compared (``CustomSql "select count(*) from primary" >
10``). Without one, the query selects rows (``CustomSql "select id from primary where age > 18"``):
those rows pass and the others fail, all rows pass unless ``with threshold`` sets the share needed.
"""

from typing import Any

from quality_movies.dq import model
from quality_movies.dq.errors import UnevaluableRuleError
from quality_movies.dq.rules.base import (
    ALL_PASS,
    FirstValue,
    Join,
    LeafPlan,
    LeafResult,
    Names,
    RuleContext,
    failed,
    fmt,
    metric_result,
    quote,
    ratio,
    require_numeric,
    round_metric,
    spark_text_arguments,
    where_in_source,
)
from quality_movies.dq.rules.references import HOW_TO_REFERENCE, catalog_table_error
from quality_movies.dq.rules.spec import RuleType

COMPLIANCE = "Dataset.*.CustomSQL.Compliance"


def _validate(rule: model.Rule, source: str) -> None:
    import sqlglot

    if rule.condition is not None:
        require_numeric(rule, rule.condition, source, "CustomSql")
    try:
        sqlglot.parse_one(str(rule.parameters[0]), read="spark")
    except sqlglot.errors.SqlglotError as error:
        raise UnevaluableRuleError(
            f"{where_in_source(rule, source)}`{rule.text}`: the SQL is not valid ({error})"
        ) from None


def _table_name(table: Any) -> str:
    return ".".join(part for part in (table.catalog, table.db, table.name) if part)


def _other_tables(rule: model.Rule) -> list[str]:
    """The tables the statement reads besides ``primary`` and its own CTEs: reference datasets, or Glue
    Data Catalog tables (``database.table``) given as references of that name."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(str(rule.parameters[0]), read="spark")
    except sqlglot.errors.SqlglotError:
        return []
    ctes = {cte.alias.lower() for cte in tree.find_all(exp.CTE)}
    names: list[str] = []
    for table in tree.find_all(exp.Table):
        name = _table_name(table)
        if name.lower() not in ("primary", *ctes, *(n.lower() for n in names)):
            names.append(name)
    return names


def _query(rule: model.Rule, ctx: RuleContext) -> Any:
    """The rule's statement as a sqlglot tree reading ``__dq_relation__`` for ``primary``."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(str(rule.parameters[0]), read="spark")
    ctes = {cte.alias.lower() for cte in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        name = _table_name(table)
        if name.lower() == "primary":
            alias = table.alias or "primary"
            table.replace(exp.alias_(exp.to_table("__dq_relation__"), alias, table=True))
        elif name.lower() not in ctes:
            reference = ctx.references.get(name.lower())
            if reference is None:
                raise _not_given(rule, name, ctx)
            alias = table.alias or table.name
            table.replace(exp.alias_(exp.to_table(reference.relation), alias, table=True))
    return tree


def _not_given(rule: model.Rule, name: str, ctx: RuleContext) -> UnevaluableRuleError:
    if "." in name:  # CustomSql page: "select count(*) from database.table", a Data Catalog table
        return catalog_table_error(
            rule,
            "",
            name,
            f"give a dataset of that name as a reference (--ref {name}=FILE on the CLI, "
            f"reference_data/{name}/ in the pipeline), or read the data being checked as `primary`.",
        )
    given = ", ".join(sorted(ctx.references)) or "none"
    return UnevaluableRuleError(
        f"`{rule.text}`: CustomSql reads a table named '{name}' that is neither `primary` nor a "
        f"dataset given (given: {given}); {HOW_TO_REFERENCE.replace('NAME', name)}"
    )


def _sql(tree: Any, ctx: RuleContext) -> str:
    by_lower = {c.lower(): c for c in ctx.columns}

    def type_of(name: str) -> str | None:
        column = by_lower.get(name.lower())
        return ctx.column_types.get(column, "string") if column else None

    tree = spark_text_arguments(tree, type_of)
    return tree.sql(dialect="duckdb").replace("__dq_relation__", ctx.typed_relation("{relation}"))


def _plan(rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str) -> None:
    tree = _query(rule, ctx)
    if rule.condition is None:
        _plan_rows(rule, plan, ctx, n, tree)
        return
    plan.scalar_queries[f"{n.p}metric"] = _sql(tree, ctx)
    plan.decide = lambda values: metric_result(
        values[f"{n.p}metric"], "Dataset.*.CustomSQL", rule.condition, ctx
    )


def _plan_rows(rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, tree: Any) -> None:
    # AWS's reference: the returned columns must all be the primary's; a row passes when a returned
    # row holds the same values (NULL matching NULL); compliance is over all rows.
    from sqlglot import exp

    names = [] if not isinstance(tree, exp.Select) else tree.named_selects
    if isinstance(tree, exp.Select) and any(isinstance(e, exp.Star) for e in tree.expressions):
        names = list(ctx.columns)
    by_lower = {c.lower(): c for c in ctx.columns}
    missing = [name for name in names if name.lower() not in by_lower]
    if not names or missing:
        reason = (
            "The columns returned from the SQL statement should only belong to the primary "
            f"table. Columns not found: {', '.join(missing)}"
            if missing
            else "The output from CustomSQL must contain at least one column that matches the input "
            "dataset. Ensure that matching columns are returned from the SQL."
        )
        plan.row_level = False
        plan.decide = lambda values: failed(reason)
        return
    columns = [by_lower[name.lower()] for name in names]
    keys = ", ".join(f"m.{quote(name)} AS __k{n.p}{j}" for j, name in enumerate(names))
    mark = n.w.replace("__w", "__m")
    plan.join = Join(
        relation=f"SELECT DISTINCT {keys}, TRUE AS {mark} FROM ({_sql(tree, ctx)}) AS m",
        on=" AND ".join(
            f"__k{n.p}{j} IS NOT DISTINCT FROM {ctx.typed(c)}" for j, c in enumerate(columns)
        ),
    )
    plan.row_level = True
    plan.row_expr = f"COALESCE({mark}, FALSE)"
    p, r = n.p, n.r
    plan.aggregates[f"{p}rows"] = "COUNT(*)"
    plan.aggregates[f"{p}passed"] = f"SUM(CASE WHEN {r} THEN 1 ELSE 0 END)"
    plan.first_values[f"{p}example"] = FirstValue(
        f"CAST({quote(columns[0])} AS VARCHAR)",
        f"NOT {r}",
        lambda values: (values[f"{p}rows"] or 0) > (values[f"{p}passed"] or 0),
    )

    def decide(values: dict[str, Any]) -> LeafResult:
        rows = values[f"{p}rows"] or 0
        if not rows:
            return failed("Custom SQL rule could not be evaluated due to data frame being empty")
        compliance = round_metric(ratio(values[f"{p}passed"] or 0, rows))
        threshold = rule.threshold or ALL_PASS
        result = metric_result(compliance, COMPLIANCE, threshold, ctx)
        if not result.passed:
            result.failure_reason = (
                f"Value: {fmt(compliance)} does not meet the constraint requirement! "
                f"{rows - (values[f'{p}passed'] or 0)} of {rows} rows are not returned by the SQL"
                f" (e.g. {columns[0]} = {values.get(f'{p}example')})."
            )
        return result

    plan.decide = decide


RULE_TYPES = [
    RuleType(
        "CustomSql",
        1,
        1,
        "custom",
        threshold=True,
        row_level=False,
        where=False,
        plan=_plan,
        validate=_validate,
        references=_other_tables,
    ),
]
