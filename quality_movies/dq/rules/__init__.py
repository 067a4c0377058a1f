"""Every DQDL rule type the engine evaluates, one module per family, named in one registry.

Adding a rule type: declare a ``RuleType`` (shape + planner) in its family module's ``RULE_TYPES``
(or a new family module listed in ``FAMILIES``), and add its cases to the shared case table.
"""

import dataclasses
from collections.abc import Sequence

from quality_movies.dq import model
from quality_movies.dq.errors import (
    InvalidRuleError,
    NeedsHistoryError,
    UnevaluableRuleError,
    UnknownColumnError,
    UnsupportedRuleError,
)
from quality_movies.dq.rules import (
    anomalies,
    completeness,
    custom_sql,
    files,
    freshness,
    references,
    schema,
    statistics,
    uniqueness,
    values,
)
from quality_movies.dq.rules.base import (
    ANY_VALUE,
    LeafPlan,
    LeafResult,
    Names,
    Reference,
    RuleContext,
    failed,
    quote,
    require_numeric,
    sql_string,
    where_in_source,
    where_sql,
)
from quality_movies.dq.rules.spec import RuleType

FAMILIES = (
    values,
    completeness,
    uniqueness,
    freshness,
    schema,
    statistics,
    custom_sql,
    references,
    files,
    anomalies,
)

RULE_TYPES: dict[str, RuleType] = {
    rule_type.name: rule_type for family in FAMILIES for rule_type in family.RULE_TYPES
}


VAR_ARGS = frozenset({"Uniqueness", "IsUnique", "IsPrimaryKey", "DetectAnomalies"})


def validate_rule(rule: model.Rule, source: str = "") -> None:
    """Reject, at load time, a rule type the engine cannot evaluate or a rule of the wrong shape."""
    at = where_in_source(rule, source)
    spec = RULE_TYPES.get(rule.rule_type)
    if spec is None:
        raise UnsupportedRuleError(
            f"{at}rule type '{rule.rule_type}' in `{rule.text}` is not supported by "
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
        composite = len(params) > spec.max_params and any(p in RULE_TYPES for p in params)
        # rules-config.json's is_var_arg: AWS's parser takes any number of these (Failed when run).
        error = UnevaluableRuleError if rule.rule_type in VAR_ARGS and params else InvalidRuleError
        raise error(
            f"{at}`{rule.text}`: {rule.rule_type} takes {wanted} quoted "
            f"parameter(s), got {len(params)}"
            + (
                " (is a comma missing before a rule? After parameters, `and` and a word is one "
                "more parameter: put each rule of a composite in parentheses, as in "
                '(IsComplete "a") and (IsComplete "b"))'
                if composite
                else ""
            )
        )
    known = {tag.lower(): tag for tag in spec.tags}
    for tag in rule.tags:
        if tag.lower() not in known:
            import difflib  # only for this message

            close = difflib.get_close_matches(tag.lower(), list(known), n=1)
            hint = f"; did you mean {known[close[0]]}?" if close else ""
            takes = ", ".join(spec.tags) if spec.tags else "none"
            raise UnevaluableRuleError(
                f"{at}`{rule.text}`: '{tag}' is not a tag of {rule.rule_type} (its tags: {takes})"
                f"{hint}"
            )
        if rule.tags[tag].kind == model.LIST and tag.lower() != "filterorder":
            raise InvalidRuleError(f"{at}`{rule.text}`: tag '{tag}' takes one value, not a list")
    if spec.condition == "none" and rule.condition is not None:
        raise InvalidRuleError(f"{at}`{rule.text}`: {rule.rule_type} takes no condition")
    if spec.condition == "numeric":
        require_numeric(rule, rule.condition, source, rule.rule_type)
    if spec.validate is not None:
        spec.validate(rule, source)
    if rule.threshold is not None:
        if not spec.threshold:
            raise InvalidRuleError(
                f"{at}`{rule.text}`: {rule.rule_type} does not take 'with threshold'"
            )
        require_numeric(rule, rule.threshold, source, "the threshold")
    if rule.where is not None:
        if not spec.where:
            raise InvalidRuleError(
                f"{at}`{rule.text}`: {rule.rule_type} does not take a where clause"
            )
        import sqlglot

        try:
            sqlglot.parse_one(rule.where, read="spark")
        except sqlglot.errors.SqlglotError as error:
            raise UnevaluableRuleError(
                f"{at}`{rule.text}`: the where clause is not valid SQL ({error})"
            ) from None


def plan_leaf(rule: model.Rule, index: int, ctx: RuleContext, source: str = "") -> LeafPlan:
    """Compile one leaf rule; a rule naming a column the data lacks becomes a Failed rule."""
    spec = RULE_TYPES.get(rule.rule_type)
    if spec is None:
        raise UnsupportedRuleError(
            f"{where_in_source(rule, source)}rule type '{rule.rule_type}' is not supported"
        )
    try:
        validate_rule(rule, source)
    except UnevaluableRuleError as error:
        return failed_leaf(rule, str(error))
    try:
        where = where_sql(rule, ctx, source) if spec.where else "TRUE"
        plan = LeafPlan(rule=rule, row_level=spec.row_level, where_expr=where)
        spec.plan(rule, plan, ctx, Names(f"l{index}_", f"__w{index}", f"__r{index}"), source)
    except UnknownColumnError as error:
        return failed_leaf(rule, str(error), judges_rows=spec.row_level)
    except UnevaluableRuleError as error:
        return failed_leaf(rule, str(error))
    decide = plan.decide

    def decide_with_history(values: dict) -> LeafResult:
        try:
            return decide(values)
        except (NeedsHistoryError, UnevaluableRuleError, ZeroDivisionError) as error:
            return failed(str(error))

    plan.decide = decide_with_history
    return plan


def as_metric_rule(analyzer: model.Rule) -> model.Rule:
    """An analyzer (a rule without condition) as a rule whose condition any metric meets."""
    spec = RULE_TYPES.get(analyzer.rule_type)
    if spec is None or spec.condition not in ("numeric", "custom") or analyzer.condition:
        return analyzer
    return dataclasses.replace(analyzer, condition=ANY_VALUE)


def referenced_names(ruleset: model.Ruleset) -> list[str]:
    """The other datasets the ruleset's rules read, by the names the rules give them, in order."""
    names: list[str] = []
    for rule in [*ruleset.leaves, *ruleset.analyzers]:
        spec = RULE_TYPES.get(rule.rule_type)
        if spec is not None and spec.references is not None:
            names += [name for name in spec.references(rule) if name not in names]
    return names


def failed_leaf(rule: model.Rule, reason: str, judges_rows: bool = False) -> LeafPlan:
    """A rule that cannot be evaluated: Failed with ``reason``. A row-level rule (``judges_rows``)
    then fails every row, since no row is validated by a rule that was not evaluated; any other
    is Skipped at row level."""
    return LeafPlan(
        rule=rule,
        row_level=judges_rows,
        row_expr="FALSE" if judges_rows else None,
        decide=lambda values: failed(reason),
    )


def columns_to_type(ruleset: model.Ruleset, columns: Sequence[str]) -> list[str]:
    """The data columns that SQL written by the user reads (where clauses, CustomSql), in order.

    Only these need their crawler type, which costs a scan of the data.
    """
    statements = [
        text
        for rule in [*ruleset.leaves, *ruleset.analyzers]
        for text in (
            rule.where,
            str(rule.parameters[0]) if rule.rule_type == "CustomSql" and rule.parameters else None,
        )
        if text
    ]
    if not statements:
        return []
    import sqlglot  # only when there is user SQL: DuckDB-only runs of plain rules never load it
    from sqlglot import exp

    named: set[str] = set()
    for text in statements:
        try:
            tree = sqlglot.parse_one(text, read="spark")
        except sqlglot.errors.SqlglotError:
            continue
        if any(isinstance(star.parent, exp.Select) for star in tree.find_all(exp.Star)):
            return list(columns)
        named.update(column.name.lower() for column in tree.find_all(exp.Column))
    return [column for column in columns if column.lower() in named]


__all__ = [
    "FAMILIES",
    "RULE_TYPES",
    "LeafPlan",
    "LeafResult",
    "Reference",
    "RuleContext",
    "RuleType",
    "as_metric_rule",
    "columns_to_type",
    "failed_leaf",
    "plan_leaf",
    "referenced_names",
    "quote",
    "sql_string",
    "validate_rule",
]
