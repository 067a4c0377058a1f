"""CustomSql: a Spark SQL query over the data (``primary``, its columns typed as the crawler types
them) whose single value is compared."""

from quality_movies.dq import model
from quality_movies.dq.errors import InvalidRuleError
from quality_movies.dq.rules.base import (
    LeafPlan,
    Names,
    RuleContext,
    metric_result,
    where_in_source,
)
from quality_movies.dq.rules.spec import RuleType


def _validate(rule: model.Rule, source: str) -> None:
    import sqlglot

    try:
        sqlglot.parse_one(str(rule.parameters[0]), read="spark")
    except sqlglot.errors.ParseError as error:
        raise InvalidRuleError(
            f"{where_in_source(rule, source)}`{rule.text}`: the SQL is not valid ({error})"
        ) from None


def _plan(rule: model.Rule, plan: LeafPlan, ctx: RuleContext, n: Names, source: str) -> None:
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(str(rule.parameters[0]), read="spark")
    for table in list(tree.find_all(exp.Table)):
        if table.name.lower() == "primary" and not table.db:
            alias = table.alias or "primary"
            table.replace(exp.alias_(exp.to_table("__dq_relation__"), alias, table=True))
    typed = ctx.typed_relation("{relation}")
    query = tree.sql(dialect="duckdb").replace("__dq_relation__", typed)
    plan.scalar_queries[f"{n.p}metric"] = query
    plan.decide = lambda values: metric_result(
        values[f"{n.p}metric"], "Dataset.*.CustomSQL", rule.condition, ctx
    )


RULE_TYPES = [
    RuleType(
        "CustomSql",
        1,
        1,
        "numeric",
        threshold=False,
        row_level=False,
        where=False,
        plan=_plan,
        validate=_validate,
    ),
]
