"""Glue-shaped results: one outcome per rule (and per analyzer), and the summary of one evaluated file."""

from dataclasses import dataclass, field
from pathlib import Path

ROW_LEVEL_COLUMNS = (
    "DataQualityRulesPass",
    "DataQualityRulesFail",
    "DataQualityRulesSkip",
    "DataQualityEvaluationResult",
)


@dataclass
class RuleOutcome:
    """A rule's result with Glue's fields: Rule, Outcome, FailureReason, EvaluatedMetrics, EvaluatedRule."""

    rule: str
    outcome: str
    failure_reason: str | None
    evaluated_metrics: dict[str, float]
    evaluated_rule: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.outcome == "Passed"

    def to_glue_dict(self) -> dict[str, object]:
        return {
            "Rule": self.rule,
            "Outcome": self.outcome,
            "FailureReason": self.failure_reason,
            "EvaluatedMetrics": dict(self.evaluated_metrics),
            "EvaluatedRule": self.evaluated_rule,
            "Labels": dict(self.labels),
        }


@dataclass
class AnalyzerResult:
    """The metrics of one entry of ``Analyzers = [...]`` (computed, never passed or failed)."""

    analyzer: str
    evaluated_metrics: dict[str, float]

    def to_dict(self) -> dict[str, object]:
        return {"Analyzer": self.analyzer, "EvaluatedMetrics": dict(self.evaluated_metrics)}


@dataclass
class EvaluationSummary:
    """What one evaluation of a data file produced, and where its outputs were written."""

    source: str
    rows_read: int
    good_rows: int
    bad_rows: int
    rule_outcomes: list[RuleOutcome]
    outputs: dict[str, Path] = field(default_factory=dict)
    analyzer_results: list[AnalyzerResult] = field(default_factory=list)

    @property
    def all_passed(self) -> bool:
        return all(outcome.passed for outcome in self.rule_outcomes)
