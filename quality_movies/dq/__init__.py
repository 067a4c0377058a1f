"""Data quality with AWS Glue semantics: DQDL rulesets evaluated on DuckDB or PySpark."""

from quality_movies.dq.batch import BatchFile, BatchResult, evaluate_files
from quality_movies.dq.column_types import infer_type
from quality_movies.dq.data_files import DataFile, FileListing, LocalFiles
from quality_movies.dq.duckdb_engine import DuckDBEvaluation, evaluate_duckdb, read_csv_duckdb
from quality_movies.dq.errors import (
    DataQualityError,
    DQDLSyntaxError,
    InvalidRuleError,
    UnknownColumnError,
    UnreadableInputError,
    UnsupportedRuleError,
)
from quality_movies.dq.evaluate import evaluate_file, write_rule_outcomes
from quality_movies.dq.history import AnomalyVerdict, MetricHistory
from quality_movies.dq.loading import default_ruleset_path, load_ruleset, parse_ruleset
from quality_movies.dq.model import CompositeRule, Condition, Rule, Ruleset, Value
from quality_movies.dq.outcomes import (
    ROW_LEVEL_COLUMNS,
    AnalyzerResult,
    EvaluationSummary,
    RuleOutcome,
)
from quality_movies.dq.rules import RULE_TYPES

__all__ = [
    "RULE_TYPES",
    "ROW_LEVEL_COLUMNS",
    "AnalyzerResult",
    "AnomalyVerdict",
    "BatchFile",
    "BatchResult",
    "DataFile",
    "FileListing",
    "LocalFiles",
    "MetricHistory",
    "CompositeRule",
    "Condition",
    "DQDLSyntaxError",
    "DataQualityError",
    "DuckDBEvaluation",
    "EvaluationSummary",
    "InvalidRuleError",
    "Rule",
    "RuleOutcome",
    "Ruleset",
    "SparkEvaluation",
    "UnknownColumnError",
    "UnreadableInputError",
    "UnsupportedRuleError",
    "Value",
    "default_ruleset_path",
    "evaluate_duckdb",
    "evaluate_file",
    "evaluate_files",
    "evaluate_spark",
    "evaluate_spark_files",
    "infer_type",
    "load_ruleset",
    "parse_ruleset",
    "read_csv_duckdb",
    "read_csv_files_spark",
    "read_csv_spark",
    "write_rule_outcomes",
]


def __getattr__(name: str):
    """The Spark backend's names, imported when first asked for (DuckDB-only runs skip it)."""
    if name in ("SparkEvaluation", "evaluate_spark", "read_csv_spark"):
        from quality_movies.dq import spark_engine

        return getattr(spark_engine, name)
    if name in ("evaluate_spark_files", "read_csv_files_spark"):
        from quality_movies.dq import spark_batch

        return getattr(spark_batch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
