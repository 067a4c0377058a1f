"""A whole ruleset compiled against one dataset's columns: the SQL both backends run, and the decisions."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from quality_movies.dq import model
from quality_movies.dq.outcomes import RuleOutcome
from quality_movies.dq.rule_types import (
    LeafPlan,
    LeafResult,
    RuleContext,
    plan_leaf,
    quote,
    sql_string,
)

ROW_ID = "__row_id"


@dataclass
class EvaluationPlan:
    """SQL (DuckDB dialect) for the row-level stage, the aggregates and the annotated rows."""

    ruleset: model.Ruleset
    columns: list[str]
    leaves: list[LeafPlan]

    def stage_sql(self, relation: str) -> str:
        """Input rows plus, per leaf rule, its where flag ``__wN`` and row result ``__rN``."""
        where_cols = [f"{leaf.where_expr} AS __w{i}" for i, leaf in enumerate(self.leaves)]
        inner = f"SELECT *{''.join(', ' + c for c in where_cols)} FROM {relation}"
        row_cols = [
            f"{leaf.row_expr} AS __r{i}" for i, leaf in enumerate(self.leaves) if leaf.row_level
        ]
        return f"SELECT *{''.join(', ' + c for c in row_cols)} FROM ({inner}) AS filtered"

    def aggregate_sql(self, relation: str) -> str:
        """One pass over the staged rows: every leaf's aggregates plus the row and bad-row counts."""
        aggregates = [
            f"{sql} AS {alias}" for leaf in self.leaves for alias, sql in leaf.aggregates.items()
        ]
        failing = self.failing_row_sql()
        aggregates.append("COUNT(*) AS __rows_read")
        aggregates.append(f"SUM(CASE WHEN {failing} THEN 1 ELSE 0 END) AS __bad_rows")
        return f"SELECT {', '.join(aggregates)} FROM {relation}"

    def failing_row_sql(self) -> str:
        """TRUE for a row that fails at least one row-level rule (DataQualityEvaluationResult = Failed)."""
        counter = [0]
        exprs = [self._rule_row_expr(rule, counter) for rule in self.ruleset.rules]
        failing = [f"NOT {expr}" for expr in exprs if expr is not None]
        return f"({' OR '.join(failing)})" if failing else "FALSE"

    def scalar_queries(self, relation: str) -> dict[str, str]:
        return {
            alias: sql.replace("{relation}", relation)
            for leaf in self.leaves
            for alias, sql in leaf.scalar_queries.items()
        }

    @property
    def uses_windows(self) -> bool:
        return any(
            leaf.rule.rule_type in ("IsUnique", "Uniqueness", "IsPrimaryKey")
            for leaf in self.leaves
        )

    def _rule_row_expr(self, rule: model.AnyRule, counter: list[int]) -> str | None:
        """TRUE/FALSE per row for a row-level rule, None when the rule is Skipped at row level."""
        if isinstance(rule, model.Rule):
            index = counter[0]
            counter[0] += 1
            return f"(NOT __w{index} OR __r{index})" if self.leaves[index].row_level else None
        parts = [self._rule_row_expr(child, counter) for child in rule.children]
        if any(part is None for part in parts):
            return None
        return "(" + f" {rule.operator.upper()} ".join(parts) + ")"

    def annotated_sql(self, relation: str, with_row_id: bool = False) -> str:
        """Original columns plus Glue's four row-level columns."""
        counter = [0]
        rule_exprs = [self._rule_row_expr(rule, counter) for rule in self.ruleset.rules]
        texts = [sql_string(rule.text) for rule in self.ruleset.rules]

        def listed(state: str) -> str:
            items = []
            for expr, text in zip(rule_exprs, texts, strict=True):
                if state == "skip":
                    if expr is None:
                        items.append(text)
                elif expr is not None:
                    test = expr if state == "pass" else f"NOT {expr}"
                    items.append(f"CASE WHEN {test} THEN {text} END")
            if not items:
                return "CAST([] AS VARCHAR[])"
            if all(not item.startswith("CASE") for item in items):
                return f"[{', '.join(items)}]"
            return f"list_filter([{', '.join(items)}], lambda x: x IS NOT NULL)"

        result = f"CASE WHEN {self.failing_row_sql()} THEN 'Failed' ELSE 'Passed' END"
        columns = [quote(c) for c in self.columns]
        if with_row_id:
            columns.insert(0, ROW_ID)
        return (
            f"SELECT {', '.join(columns)}, {listed('pass')} AS DataQualityRulesPass, "
            f"{listed('fail')} AS DataQualityRulesFail, {listed('skip')} AS DataQualityRulesSkip, "
            f"{result} AS DataQualityEvaluationResult FROM {relation}"
        )

    def decide(self, values: dict[str, Any]) -> list[RuleOutcome]:
        """Rule outcomes from the aggregate and scalar values, in ruleset order."""
        results = iter([leaf.decide(values) for leaf in self.leaves])
        return [_outcome(rule, _combine(rule, results)) for rule in self.ruleset.rules]


def _combine(rule: model.AnyRule, results) -> LeafResult:
    if isinstance(rule, model.Rule):
        return next(results)
    children = [_combine(child, results) for child in rule.children]
    metrics: dict[str, float] = {}
    for child in children:
        metrics.update(child.metrics)
    if rule.operator == "and":
        passed = all(child.passed for child in children)
    else:
        passed = any(child.passed for child in children)
    reasons = [
        child.failure_reason for child in children if not child.passed and child.failure_reason
    ]
    return LeafResult(
        passed, None if passed else " ".join(reasons) or "Composite rule failed.", metrics
    )


def _outcome(rule: model.AnyRule, result: LeafResult) -> RuleOutcome:
    return RuleOutcome(
        rule=rule.text,
        outcome="Passed" if result.passed else "Failed",
        failure_reason=result.failure_reason,
        evaluated_metrics=dict(sorted(result.metrics.items())),
        evaluated_rule=rule.text,
    )


def build_plan(
    ruleset: model.Ruleset, columns: Sequence[str], now: datetime | None = None, relation: str = ""
) -> EvaluationPlan:
    """Compile every rule for these columns; raises UnknownColumnError naming the rule and the columns."""
    moment = now or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    ctx = RuleContext(columns=list(columns), relation=relation, now=moment)
    leaves = [plan_leaf(leaf, i, ctx, ruleset.source) for i, leaf in enumerate(ruleset.leaves)]
    return EvaluationPlan(ruleset=ruleset, columns=list(columns), leaves=leaves)
