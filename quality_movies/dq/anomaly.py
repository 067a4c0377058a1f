"""Anomaly detection for one metric value against its history: the modified z-score of Iglewicz and Hoaglin.

A value x is judged against the median m and the median absolute deviation MAD of the earlier values:
its modified z-score is M = 0.6745 * (x - m) / MAD, and |M| > 3.5 makes it an anomaly (B. Iglewicz and
D. Hoaglin, "How to Detect and Handle Outliers", ASQC, 1993). Median and MAD ignore up to half of the history
being wild, so a few noisy files do not make every later file anomalous. The MAD is floored at 1 % of |m|
(and at a tiny absolute value), so a history of identical values still has a band around it instead of
calling every different value an anomaly. Nothing is judged before ``MIN_HISTORY`` earlier values exist:
AWS's anomaly detection, too, needs at least three published data points before it scores a run (Amazon
EMR Management Guide, "Data quality: troubleshooting"; Glue's DetectAnomalies page says only "when there
is enough data gathered").
"""

import statistics
from collections.abc import Sequence

from quality_movies.dq.history import AnomalyVerdict

MIN_HISTORY = 3
THRESHOLD = 3.5
CONSISTENCY = 0.6745
RELATIVE_SPREAD_FLOOR = 0.01
ABSOLUTE_SPREAD_FLOOR = 1e-9


def metric_label(metric: str) -> str:
    """A metric name for people: ``Dataset.*.RowCount`` -> ``RowCount``,
    ``Column.imdb_rating.Completeness`` -> ``Completeness of imdb_rating``."""
    parts = metric.split(".")
    if len(parts) >= 3 and parts[0] in {"Column", "Multicolumn"}:
        return f"{'.'.join(parts[2:])} of {parts[1]}"
    return parts[-1]


def format_number(value: float) -> str:
    """Thousands separators; whole numbers without decimals, small numbers to three significant digits."""
    if value == int(value) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.3g}"


def expected_range(history: Sequence[float], threshold: float = THRESHOLD) -> tuple[float, float]:
    """The band of values whose modified z-score is within ``threshold``, from a non-empty history."""
    median = statistics.median(history)
    mad = statistics.median(abs(v - median) for v in history)
    spread = max(mad, RELATIVE_SPREAD_FLOOR * abs(median), ABSOLUTE_SPREAD_FLOOR)
    half_width = threshold * spread / CONSISTENCY
    return median - half_width, median + half_width


def judge(
    metric: str,
    value: float,
    history: Sequence[float],
    min_history: int = MIN_HISTORY,
    threshold: float = THRESHOLD,
) -> AnomalyVerdict:
    """Whether ``value`` of ``metric`` is an anomaly given the earlier values, with an observation in words."""
    label, shown = metric_label(metric), format_number(value)
    n = len(history)
    files = "file" if n == 1 else "files"
    if n < min_history:
        return AnomalyVerdict(
            anomalous=False,
            observation=(
                f"{label} {shown} not judged: {n} earlier {files}, "
                f"anomaly detection needs at least {min_history}"
            ),
            history_size=n,
        )
    lower, upper = expected_range(history, threshold)
    band = f"{format_number(lower)}-{format_number(upper)} from the last {n} {files}"
    if value < lower:
        observation, anomalous = f"{label} {shown} is below the expected range {band}", True
    elif value > upper:
        observation, anomalous = f"{label} {shown} is above the expected range {band}", True
    else:
        observation, anomalous = f"{label} {shown} is within the expected range {band}", False
    return AnomalyVerdict(
        anomalous=anomalous, observation=observation, lower=lower, upper=upper, history_size=n
    )
