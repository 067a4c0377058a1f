"""What dynamic rules and ``DetectAnomalies`` read: the metric values of files processed earlier.

The engine asks; the pipeline's metric history answers. Metric names are the keys of a rule's
``EvaluatedMetrics`` (``Dataset.*.RowCount``, ``Column.imdb_rating.Completeness``...), so a metric keeps
its history when the rule's text or position changes.
"""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class AnomalyVerdict:
    """The judgement of one metric value against its history, with an observation in words."""

    anomalous: bool
    observation: str
    lower: float | None = None
    upper: float | None = None
    history_size: int = 0


class MetricHistory(Protocol):
    """The metric values of earlier files, in the order the files were processed."""

    def previous(self, metric: str, k: int | None = None) -> list[float]:
        """Values of ``metric`` from earlier files, oldest first; only the last ``k`` when given."""
        ...

    def detect_anomaly(self, metric: str, value: float) -> AnomalyVerdict:
        """Judge ``value`` of ``metric`` against its history."""
        ...
