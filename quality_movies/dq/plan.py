"""A whole ruleset compiled against one dataset's columns: the SQL both backends run, and the decisions."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from quality_movies.dq import model
from quality_movies.dq.data_files import FileListing
from quality_movies.dq.history import MetricHistory
from quality_movies.dq.outcomes import ROW_LEVEL_COLUMNS, AnalyzerResult, RuleOutcome
from quality_movies.dq.rules import (
    LeafPlan,
    LeafResult,
    Reference,
    RuleContext,
    as_metric_rule,
    failed_leaf,
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
    # what the rules were compiled with; its history is read only when they are decided, so a
    # batch can give each file the history its earlier files make (``decide_with``)
    context: RuleContext | None = field(default=None, compare=False)

    def stage_sql(self, relation: str) -> str:
        """Input rows plus, per leaf rule, its where flag ``__wN`` and row result ``__rN``."""
        where_cols = [f"{leaf.where_expr} AS __w{i}" for i, leaf in enumerate(self.leaves)]
        joined = [(i, leaf.join) for i, leaf in enumerate(self.leaves) if leaf.join]
        where_cols += [f"j{i}.__m{i}" for i, _ in joined]
        joins = "".join(
            f" LEFT JOIN ({join.relation.replace('{relation}', relation)}) AS j{i} ON {join.on}"
            for i, join in joined
        )
        inner = f"SELECT {relation}.*{''.join(', ' + c for c in where_cols)} FROM {relation}{joins}"
        row_cols = [
            f"{leaf.row_expr} AS __r{i}" for i, leaf in enumerate(self.leaves) if leaf.row_level
        ]
        return f"SELECT *{''.join(', ' + c for c in row_cols)} FROM ({inner}) AS filtered"

    def aggregate_sql(
        self, relation: str, first_values_by: str | None = None, group_by: str | None = None
    ) -> str:
        """One pass over the staged rows: every leaf's aggregates plus the row and bad-row counts.

        With ``first_values_by`` (a row-order column) the first values come from the same pass
        (``arg_min``); without it they are left to ``first_value_queries``. With ``group_by`` (a
        column naming each row's file) there is one row of aggregates per file, led by that column.
        """
        aggregates = [
            f"{sql} AS {alias}" for leaf in self.leaves for alias, sql in leaf.aggregates.items()
        ]
        if first_values_by:
            aggregates += [
                f"arg_min({first.value}, {first_values_by}) FILTER (WHERE {first.condition}) "
                f"AS {alias}"
                for leaf in self.leaves
                for alias, first in leaf.first_values.items()
            ]
        failing = self.failing_row_sql()
        aggregates.append("COUNT(*) AS __rows_read")
        aggregates.append(f"SUM(CASE WHEN {failing} THEN 1 ELSE 0 END) AS __bad_rows")
        if group_by:
            return f"SELECT {group_by}, {', '.join(aggregates)} FROM {relation} GROUP BY {group_by}"
        return f"SELECT {', '.join(aggregates)} FROM {relation}"

    def counted_leaf(self) -> LeafPlan | None:
        """The one rule whose aggregates all follow from the good and bad row counts, if this is one.

        That is a ruleset of a single row-level rule (no analyzers, no where clause, no joined or
        scalar query) whose aggregates are counts of its rows, of its passing rows, or of rows that
        meet a condition no row is seen to meet while the outputs are written (see ``count_guard``).
        """
        rules = self.ruleset.rules
        if len(self.leaves) != 1 or len(rules) != 1 or not isinstance(rules[0], model.Rule):
            return None
        leaf = self.leaves[0]
        derived = set(leaf.counted) | set(leaf.zero_unless)
        simple = leaf.row_level and leaf.listed and leaf.where_expr == "TRUE"
        if not simple or leaf.join or leaf.scalar_queries or set(leaf.aggregates) != derived:
            return None
        return leaf

    def count_guard(self, message: str) -> str | None:
        """A condition, TRUE on every row, that raises ``message`` on a row that makes one of the
        counted leaf's zero-unless aggregates non-zero (None when it has none)."""
        leaf = self.counted_leaf()
        if leaf is None or not leaf.zero_unless:
            return None
        met = " OR ".join(f"({condition})" for condition in leaf.zero_unless.values())
        return f"(CASE WHEN {met} THEN error({sql_string(message)}) ELSE TRUE END)"

    def counted_values(self, rows_read: int, bad_rows: int) -> dict[str, Any]:
        """The aggregate values of the counted leaf from the rows written to the outputs, when no
        row met a zero-unless condition (``count_guard`` held on every row)."""
        leaf = self.counted_leaf()
        assert leaf is not None, (
            "counted_values needs a ruleset whose counts follow from the outputs"
        )
        by_kind = {"rows": rows_read, "passed": rows_read - bad_rows}
        values: dict[str, Any] = {alias: by_kind[kind] for alias, kind in leaf.counted.items()}
        values.update(dict.fromkeys(leaf.zero_unless, 0))
        return {**values, "__rows_read": rows_read, "__bad_rows": bad_rows}

    def failing_row_sql(self) -> str:
        """TRUE for a row that fails at least one row-level rule (DataQualityEvaluationResult = Failed)."""
        failing = [f"NOT {expr}" for _, expr in self._row_rules() if expr is not None]
        return f"({' OR '.join(failing)})" if failing else "FALSE"

    def first_value_queries(
        self, relation: str, values: dict[str, Any], order_by: str | None = None
    ) -> dict[str, str]:
        """``LIMIT 1`` queries for the first values the aggregates show are needed.

        Without ``order_by`` the relation must yield rows in input order (DuckDB with
        ``preserve_insertion_order``); the scan stops at the first matching row.
        """
        order = f" ORDER BY {order_by}" if order_by else ""
        return {
            alias: f"SELECT {first.value} FROM {relation} WHERE {first.condition}{order} LIMIT 1"
            for leaf in self.leaves
            for alias, first in leaf.first_values.items()
            if first.needed(values)
        }

    def grouped_first_values_sql(
        self, relation: str, aliases: Sequence[str], group_by: str, order_by: str
    ) -> str:
        """Per value of ``group_by`` (a file), the first values named by ``aliases`` as
        ``first_value_queries`` would find them, in one pass (``order_by`` gives input order)."""
        firsts = {
            alias: first for leaf in self.leaves for alias, first in leaf.first_values.items()
        }
        selected = [
            f"first({firsts[alias].value} ORDER BY {order_by}) "
            f"FILTER (WHERE {firsts[alias].condition}) AS {alias}"
            for alias in aliases
        ]
        return f"SELECT {group_by}, {', '.join(selected)} FROM {relation} GROUP BY {group_by}"

    def _row_rules(self) -> list[tuple[str, str | None]]:
        """Per top-level rule: its text as a SQL literal and its row expression (None: Skipped)."""
        counter = [0]
        return [
            (sql_string(rule.text), self._rule_row_expr(rule, counter))
            for rule in self.ruleset.rules
        ]

    def _rule_row_expr(self, rule: model.AnyRule, counter: list[int]) -> str | None:
        """TRUE/FALSE per row for a row-level rule, None when the rule is Skipped at row level."""
        if isinstance(rule, model.Rule):
            index = counter[0]
            counter[0] += 1
            leaf = self.leaves[index]
            return f"(NOT __w{index} OR __r{index})" if leaf.row_level and leaf.listed else None
        parts = [self._rule_row_expr(child, counter) for child in rule.children]
        if any(part is None for part in parts):
            return None
        return "(" + f" {rule.operator.upper()} ".join(parts) + ")"

    def annotated_sql(
        self, relation: str, with_row_id: bool = False, list_masks: bool = False
    ) -> str:
        """Original columns plus Glue's four row-level columns.

        ``list_masks`` builds the rule lists with DuckDB's ``list_where`` (a boolean mask per rule),
        several times cheaper there than ``list_filter``'s lambda; Spark has no ``list_where``.
        """
        rules = self._row_rules()

        def listed(state: str) -> str:
            if state == "skip":
                return _list_literal([text for text, expr in rules if expr is None])
            tests = [
                (expr if state == "pass" else f"NOT {expr}", text)
                for text, expr in rules
                if expr is not None
            ]
            if not tests:
                return "CAST([] AS VARCHAR[])"
            if list_masks:
                values = ", ".join(text for _, text in tests)
                masks = ", ".join(f"COALESCE({test}, FALSE)" for test, _ in tests)
                return f"list_where([{values}], [{masks}])"
            items = ", ".join(f"CASE WHEN {test} THEN {text} END" for test, text in tests)
            return f"list_filter([{items}], lambda x: x IS NOT NULL)"

        result = f"CASE WHEN {self.failing_row_sql()} THEN 'Failed' ELSE 'Passed' END"
        return self._select(
            relation,
            with_row_id,
            [listed("pass"), listed("fail"), listed("skip"), result],
        )

    def good_rows_sql(self, relation: str, guard: str | None = None) -> str:
        """Like ``annotated_sql`` for the passing rows only, whose row-level lists are constants.

        ``guard`` (a condition such as ``count_guard``'s) is added to the filter.
        """
        rules = self._row_rules()
        passed = [text for text, expr in rules if expr is not None]
        skipped = [text for text, expr in rules if expr is None]
        lists = [_list_literal(passed), _list_literal([]), _list_literal(skipped), "'Passed'"]
        guarded = f" AND {guard}" if guard else ""
        return f"{self._select(relation, False, lists)} WHERE NOT {self.failing_row_sql()}{guarded}"

    def bad_rows_sql(
        self, relation: str, list_masks: bool = False, guard: str | None = None
    ) -> str:
        """Like ``annotated_sql`` for the failing rows only (``guard`` added to the filter).

        With a single row-level rule, every failing row failed that rule: its lists are constants.
        """
        failing = self.failing_row_sql()
        if guard:
            failing = f"{failing} AND {guard}"
        rules = self._row_rules()
        failed = [text for text, expr in rules if expr is not None]
        if len(failed) != 1:
            return f"{self.annotated_sql(relation, list_masks=list_masks)} WHERE {failing}"
        skipped = [text for text, expr in rules if expr is None]
        lists = [_list_literal([]), _list_literal(failed), _list_literal(skipped), "'Failed'"]
        return f"{self._select(relation, False, lists)} WHERE {failing}"

    def _select(self, relation: str, with_row_id: bool, row_level: list[str]) -> str:
        columns = [quote(c) for c in self.columns]
        if with_row_id:
            columns.insert(0, ROW_ID)
        columns += [
            f"{sql} AS {name}" for sql, name in zip(row_level, ROW_LEVEL_COLUMNS, strict=True)
        ]
        return f"SELECT {', '.join(columns)} FROM {relation}"

    def isolate_where_failures(self, relation: str, error_of: Callable[[str], str | None]) -> None:
        """Turn each rule whose where clause the database rejects over ``relation`` into a Failed rule.

        ``error_of(sql)`` prepares ``sql`` (no rows are read) and returns the database's message or None.
        """
        for i, leaf in enumerate(self.leaves):
            if leaf.where_expr != "TRUE":
                error = error_of(f"SELECT {leaf.where_expr} AS w FROM {relation} LIMIT 0")
                if error:
                    self.leaves[i] = failed_leaf(leaf.rule, f"The where clause failed: {error}")
                    continue
            if leaf.join:
                joined = leaf.join.relation.replace("{relation}", relation)
                error = error_of(
                    f"SELECT * FROM {relation} LEFT JOIN ({joined}) AS j{i} ON {leaf.join.on} LIMIT 0"
                )
                if error:
                    self.leaves[i] = failed_leaf(leaf.rule, f"The SQL statement failed: {error}")

    def isolate_runtime_failures(
        self, relation: str, error_of: Callable[[str], str | None]
    ) -> bool:
        """After a run failed: run each rule's where clause and joined query over all of
        ``relation`` and turn those that fail into Failed rules; True when one was found."""
        found = False
        for i, leaf in enumerate(self.leaves):
            checks = []
            if leaf.where_expr != "TRUE":
                checks.append(
                    (
                        "The where clause failed",
                        f"SELECT COUNT(*) FROM {relation} WHERE {leaf.where_expr}",
                    )
                )
            if leaf.join:
                joined = leaf.join.relation.replace("{relation}", relation)
                checks.append(("The SQL statement failed", f"SELECT COUNT(*) FROM ({joined}) AS j"))
            for what, sql in checks:
                error = error_of(sql)
                if error:
                    self.leaves[i] = failed_leaf(leaf.rule, f"{what}: {error}")
                    found = True
                    break
        return found

    def isolate_query_failures(self, relation: str, error_of: Callable[[str], str | None]) -> None:
        """Turn each rule whose own queries (CustomSql...) the database rejects into a Failed rule."""
        for i, leaf in enumerate(self.leaves):
            for query in leaf.scalar_queries.values():
                error = error_of(f"SELECT * FROM ({query.replace('{relation}', relation)}) LIMIT 0")
                if error:
                    self.leaves[i] = failed_leaf(leaf.rule, f"The SQL statement failed: {error}")
                    break

    def run_scalar_queries(
        self, relation: str, run: Callable[[str], Any], errors: type[Exception] | tuple
    ) -> dict[str, Any]:
        """Each scalar query's value through ``run``; a rule whose query fails while running
        becomes a Failed rule naming the error."""
        values: dict[str, Any] = {}
        for i, leaf in enumerate(self.leaves):
            try:
                for alias, sql in leaf.scalar_queries.items():
                    values[alias] = run(sql.replace("{relation}", relation))
            except errors as error:
                self.leaves[i] = failed_leaf(
                    leaf.rule, f"The SQL statement failed: {first_line(str(error))}"
                )
        return values

    def decide_with(
        self, history: MetricHistory | None, values: dict[str, Any]
    ) -> list[RuleOutcome]:
        """``decide`` with dynamic rules and DetectAnomalies reading ``history``."""
        assert self.context is not None, "the plan was built without its context"
        self.context.history = history
        return self.decide(values)

    def decide(self, values: dict[str, Any]) -> list[RuleOutcome]:
        """Rule outcomes from the aggregate and scalar values, in ruleset order."""
        results = iter([leaf.decide(values) for leaf in self.leaves[: len(self.ruleset.leaves)]])
        return [_outcome(rule, _combine(rule, results)) for rule in self.ruleset.rules]

    def analyzer_results(self, values: dict[str, Any]) -> list[AnalyzerResult]:
        """The metrics of each analyzer (planned after the rules), in ruleset order."""
        analyzers = self.leaves[len(self.ruleset.leaves) :]
        return [
            AnalyzerResult(leaf.rule.text, dict(sorted(leaf.decide(values).metrics.items())))
            for leaf in analyzers
        ]


def _list_literal(items: list[str]) -> str:
    """A VARCHAR list of SQL string literals (typed even when empty)."""
    return f"[{', '.join(items)}]" if items else "CAST([] AS VARCHAR[])"


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
        labels=dict(rule.labels),
    )


def first_line(message: str) -> str:
    """The first line of a database error (Spark appends a plan and a stack trace)."""
    return message.strip().splitlines()[0] if message.strip() else message


def build_plan(
    ruleset: model.Ruleset,
    columns: Sequence[str],
    now: datetime | None = None,
    relation: str = "",
    column_types: Mapping[str, str] | None = None,
    history: MetricHistory | None = None,
    references: Mapping[str, Reference] | None = None,
    files: FileListing | None = None,
) -> EvaluationPlan:
    """Compile every rule for these columns (typed as ``column_types`` says, else text).

    A rule naming a column the data lacks compiles to a Failed rule that says so.
    """
    moment = now or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    ctx = RuleContext(
        columns=list(columns),
        relation=relation,
        now=moment,
        column_types=column_types or {},
        history=history,
        references={name.lower(): ref for name, ref in (references or {}).items()},
        files=files,
    )
    leaves = [plan_leaf(leaf, i, ctx, ruleset.source) for i, leaf in enumerate(ruleset.leaves)]
    first = len(leaves)
    for i, analyzer in enumerate(ruleset.analyzers):
        # An analyzer's row results (ColumnLength's...) feed its metrics, never the row lists.
        leaves.append(plan_leaf(as_metric_rule(analyzer), first + i, ctx, ruleset.source))
    return EvaluationPlan(ruleset=ruleset, columns=list(columns), leaves=leaves, context=ctx)
