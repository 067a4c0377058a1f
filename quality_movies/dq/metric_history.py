"""The metric history's rows and the ``MetricHistory`` the DQDL engine reads for dynamic rules and anomalies.

One row per file version, rule (or analyzer) and evaluated metric; a rule without metrics still has a row
(``metric`` empty) so its outcome is remembered. Files are ordered by when their version was first
processed; re-running a file version replaces its rows and keeps its place.
"""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from quality_movies.dq.anomaly import MIN_HISTORY, THRESHOLD, judge
from quality_movies.dq.check_names import rule_check_names
from quality_movies.dq.history import AnomalyVerdict

HISTORY_COLUMNS = [
    ("source_file", "string"),
    ("file_version", "string"),
    ("processed_at", "timestamp"),
    ("recorded_at", "timestamp"),
    ("run_id", "string"),
    ("ruleset_fingerprint", "string"),
    ("position", "int"),
    ("kind", "string"),
    ("rule", "string"),
    ("check_name", "string"),
    ("outcome", "string"),
    ("failure_reason", "string"),
    ("metric", "string"),
    ("value", "double"),
]
COLUMN_NAMES = [name for name, _ in HISTORY_COLUMNS]


def ruleset_fingerprint(ruleset_text: str) -> str:
    """SHA-256 of the ruleset's text: which rules a file was judged by."""
    return hashlib.sha256(ruleset_text.encode()).hexdigest()


@dataclass(frozen=True)
class FileQuality:
    """What one run learned about one file version: rule outcomes (Glue-shaped) and analyzer metrics."""

    source_file: str
    file_version: str
    run_id: str
    ruleset_fingerprint: str
    rule_outcomes: Sequence[Mapping[str, Any]]
    analyzer_metrics: Mapping[str, float] = field(default_factory=dict)
    rules: Sequence[Any] | None = (
        None  # the ruleset's rule objects (or texts): labels name the checks
    )
    processed_at: datetime | None = None


def history_records(
    entry: FileQuality, processed_at: datetime, recorded_at: datetime
) -> list[tuple]:
    """The rows of one file version as tuples in ``COLUMN_NAMES`` order (timestamps in UTC), in
    ruleset order, then its analyzer metrics."""
    texts = [o["Rule"] for o in entry.rule_outcomes]
    names_by_text: dict[str, str] = {}
    if entry.rules is not None:
        for rule, name in zip(entry.rules, rule_check_names(entry.rules), strict=True):
            names_by_text.setdefault(rule if isinstance(rule, str) else rule.text, name)
    else:
        names_by_text = dict(zip(texts, rule_check_names(texts), strict=True))
    common = (
        entry.source_file,
        entry.file_version,
        _utc(processed_at),
        _utc(recorded_at),
        entry.run_id,
        entry.ruleset_fingerprint,
    )
    # (kind, rule, check_name, outcome, failure_reason, metric, value) of each row
    rows: list[tuple] = []
    for outcome in entry.rule_outcomes:
        base = (
            "rule",
            outcome["Rule"],
            names_by_text.get(outcome["Rule"]),
            outcome["Outcome"],
            outcome.get("FailureReason") or "",
        )
        metrics = {
            k: v for k, v in (outcome.get("EvaluatedMetrics") or {}).items() if v is not None
        }
        if not metrics:
            rows.append((*base, None, None))
        rows.extend((*base, m, float(v)) for m, v in sorted(metrics.items()))
    for metric, value in sorted(entry.analyzer_metrics.items()):
        rows.append(("analyzer", None, None, None, "", metric, float(value)))
    return [(*common, position, *row) for position, row in enumerate(rows)]


def history_rows(entry: FileQuality, processed_at: datetime, recorded_at: datetime) -> pd.DataFrame:
    """The rows of one file version (``history_records``) as a typed frame."""
    records = history_records(entry, processed_at, recorded_at)
    return typed(pd.DataFrame(records, columns=COLUMN_NAMES))


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive one is taken as UTC (as ``pd.to_datetime(utc=True)`` does)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The history's columns with one dtype each, whatever store they came from."""
    frame = frame.reindex(columns=COLUMN_NAMES)
    for name, kind in HISTORY_COLUMNS:
        if kind == "timestamp":
            frame[name] = pd.to_datetime(frame[name], utc=True)
        elif kind == "int":
            frame[name] = frame[name].astype("int64")
        elif kind == "double":
            frame[name] = frame[name].astype("float64")
        else:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def now() -> datetime:
    return datetime.now(UTC)


def in_processing_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by when their file version was first processed, then by position."""
    return frame.sort_values(
        ["processed_at", "source_file", "file_version", "position"], kind="stable"
    )


def metric_series(
    frame: pd.DataFrame, exclude: tuple[str, str] | None = None
) -> dict[str, list[float]]:
    """Each metric's values, one per file version (its first row), oldest first; ``exclude`` is skipped."""
    rows = in_processing_order(frame[frame["metric"].notna()])
    if exclude is not None:
        same = (rows["source_file"] == exclude[0]) & (rows["file_version"] == exclude[1])
        rows = rows[~same]
    rows = rows.drop_duplicates(["source_file", "file_version", "metric"], keep="first")
    return {m: group["value"].tolist() for m, group in rows.groupby("metric", sort=False)}


class StoredMetricHistory:
    """``dq.history.MetricHistory`` over values read from the store (the current file excluded).

    ``previous(metric, k)`` gives at most ``k`` values: when fewer earlier files exist it gives those
    there are (``last(10)`` after three files is those three), and none before the first file.
    """

    def __init__(
        self,
        series: Mapping[str, Sequence[float]],
        min_history: int = MIN_HISTORY,
        threshold: float = THRESHOLD,
    ) -> None:
        self._series = {metric: list(values) for metric, values in series.items()}
        self.min_history = min_history
        self.threshold = threshold

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, exclude: tuple[str, str] | None = None, **judging: Any
    ) -> "StoredMetricHistory":
        """From the store's rows (a DuckDB table, Parquet read by pandas or Spark's ``toPandas()``)."""
        return cls(metric_series(typed(frame), exclude), **judging)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form, for handing the history to a job running elsewhere (Glue)."""
        return {
            "series": self._series,
            "min_history": self.min_history,
            "threshold": self.threshold,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "StoredMetricHistory":
        return cls(data["series"], data["min_history"], data["threshold"])

    def previous(self, metric: str, k: int | None = None) -> list[float]:
        values = self._series.get(metric, [])
        if k is None:
            return list(values)
        return list(values[-k:]) if k > 0 else []

    def detect_anomaly(self, metric: str, value: float) -> AnomalyVerdict:
        return judge(metric, value, self.previous(metric), self.min_history, self.threshold)


_EXTERNAL_TYPES = {
    "string": "string",
    "timestamp": "timestamp",
    "int": "bigint",
    "double": "double",
}


def external_table_ddl(location: str, table: str = "dq_metrics.rule_metrics") -> str:
    """Athena / Redshift Spectrum ``CREATE EXTERNAL TABLE`` over the store's Parquet folder
    (``location`` like ``s3://bucket/dq_metrics/``)."""
    columns = ",\n  ".join(f"{name} {_EXTERNAL_TYPES[kind]}" for name, kind in HISTORY_COLUMNS)
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS {table} (\n  {columns}\n)\n"
        f"STORED AS PARQUET\nLOCATION '{location}'"
    )
