"""Metric history kept in files, for ``dq check --history`` (dynamic rules and DetectAnomalies outside
the pipeline) and ``--record-history`` (a CI job keeping its history between runs).

Two shapes, told apart by the path:

* a ``.json`` file: ``{"series": {"<metric>": [<value>, ...], ...}}``, each metric's values oldest
  first (metric names as in ``EvaluatedMetrics``: ``Dataset.*.RowCount``,
  ``Column.imdb_rating.Completeness``...); recording appends this run's values;
* anything else, a folder or a ``.parquet`` file: the pipeline's metric history, one row per file
  version, rule and metric (the columns of ``dq.metric_history.HISTORY_COLUMNS``; the
  ``dq_metrics/`` folder of the bucket, copied with ``aws s3 sync``); recording writes one Parquet
  file per data file version into the folder, as the pipeline does.

The judging of values (how much history an anomaly needs, the threshold) is the pipeline's own
(``dq.anomaly``), so a ruleset passes or fails alike in both places.
"""

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from quality_movies.dq.errors import UnreadableInputError
from quality_movies.dq.outcomes import EvaluationSummary

if TYPE_CHECKING:
    from quality_movies.dq.metric_history import StoredMetricHistory


def file_version(path: Path) -> str:
    """The data file's version in the history: the MD5 of its bytes (S3's ETag of a single-part
    upload, as the pipeline records it)."""
    digest = hashlib.md5()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def load_history(
    location: Path, source_file: str, version: str, *, missing_ok: bool
) -> "StoredMetricHistory":
    """The history at ``location``, this data file version's own entries left out (checking the
    same file again does not judge it against itself). A missing ``location`` is an empty history
    when ``missing_ok`` (the first run that records one), else an error."""
    from quality_movies.dq.metric_history import StoredMetricHistory

    if not location.exists():
        if missing_ok:
            return StoredMetricHistory({})
        raise UnreadableInputError(
            f"{location}: no such history file or folder (add --record-history to start one)"
        )
    if _is_json(location):
        return StoredMetricHistory(_read_series(location))
    frame = _read_rows(location)
    return StoredMetricHistory.from_frame(frame, exclude=(source_file, version))


def record_history(
    location: Path, summary: EvaluationSummary, version: str, ruleset_text: str
) -> Path:
    """Add this run's metrics to the history at ``location``; returns the file written."""
    if _is_json(location):
        series = _read_series(location) if location.exists() else {}
        for name, value in _metrics(summary):
            series.setdefault(name, []).append(value)
        _write_atomically(location, json.dumps({"series": series}, indent=1, sort_keys=True))
        return location
    from quality_movies.dq.metric_history import (
        FileQuality,
        history_rows,
        now,
        ruleset_fingerprint,
    )

    entry = FileQuality(
        source_file=summary.source,
        file_version=version,
        run_id="dq-check",
        ruleset_fingerprint=ruleset_fingerprint(ruleset_text),
        rule_outcomes=[o.to_glue_dict() for o in summary.rule_outcomes],
        analyzer_metrics={
            name: value
            for result in summary.analyzer_results
            for name, value in result.evaluated_metrics.items()
            if value is not None
        },
    )
    location.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(f"{summary.source}\0{version}".encode()).hexdigest()[:16]
    path = location / f"dq_check_{name}.parquet"
    rows = history_rows(entry, now(), now())
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    rows.to_parquet(partial, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
    partial.replace(path)
    return path


def _is_json(location: Path) -> bool:
    return location.suffix.lower() == ".json"


def _metrics(summary: EvaluationSummary) -> list[tuple[str, float]]:
    """Each metric of the run once, in ruleset order, then the analyzers'."""
    found: dict[str, float] = {}
    for outcome in summary.rule_outcomes:
        for name, value in outcome.evaluated_metrics.items():
            if value is not None:
                found.setdefault(name, float(value))
    for result in summary.analyzer_results:
        for name, value in result.evaluated_metrics.items():
            if value is not None:
                found.setdefault(name, float(value))
    return list(found.items())


def _read_series(path: Path) -> dict[str, list[float]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        series = data["series"]
        return {str(k): [float(v) for v in values] for k, values in series.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UnreadableInputError(
            f"{path}: not a metric history ({type(error).__name__}: {error}); expected JSON like "
            '{"series": {"Dataset.*.RowCount": [120, 118, 125]}}'
        ) from None


def _read_rows(location: Path):
    """The history rows of a Parquet file, or of every Parquet file in a folder."""
    import pandas as pd

    from quality_movies.dq.metric_history import COLUMN_NAMES, typed

    files: Sequence[Path] = (
        sorted(p for p in location.glob("*.parquet") if not p.name.startswith("."))
        if location.is_dir()
        else [location]
    )
    frames = []
    for path in files:
        try:
            frame = pd.read_parquet(path)
        except Exception as error:  # noqa: BLE001 - pyarrow's errors name no common base
            raise UnreadableInputError(f"{path}: cannot read as Parquet ({error})") from None
        missing = [
            c
            for c in ("source_file", "file_version", "processed_at", "position", "metric", "value")
            if c not in frame.columns
        ]
        if missing:
            raise UnreadableInputError(
                f"{path}: not the pipeline's metric history (no {', '.join(missing)} column)"
            )
        frames.append(typed(frame))
    if not frames:
        return typed(pd.DataFrame(columns=COLUMN_NAMES))
    return pd.concat(frames, ignore_index=True)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
