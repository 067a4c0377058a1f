"""``quality-movies report [--out FILE.html]``: the metric history as one self-contained HTML page.

Per rule and metric, the value of each file in processing order with its pass/fail mark, the expected band
the anomaly detection would have used for it (from the files before it) and the anomalies; then a table of
the latest files, and what quality cost (each file's share of its Glue job run, per day and per file).
Inline SVG and CSS only: the page opens without a network.
"""

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from quality_movies.dq.anomaly import (
    MIN_HISTORY,
    expected_range,
    format_number,
    metric_label,
)
from quality_movies.dq.metric_history import in_processing_order
from quality_movies.monitoring.resources import JOB_COST_PREFIX, metric_store_for

WIDTH, HEIGHT, PAD_X, PAD_Y = 720, 180, 56, 26
LABELLED_FILES = 8
LATEST_FILES = 20
PASSED, FAILED, ANOMALY = "#2e7d32", "#c62828", "#ef6c00"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1b1b1b;max-width:1100px}
h1{font-size:1.5rem}h2{font-size:1.1rem;margin-top:2rem}h3{font-size:.95rem;font-weight:500;margin:.8rem 0 .2rem}
code{background:#f3f3f3;padding:0 .25rem;border-radius:3px}
table{border-collapse:collapse;font-size:.85rem}td,th{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left}
.passed{color:#2e7d32}.failed{color:#c62828}.muted{color:#666;font-size:.85rem}
svg{background:#fafafa;border:1px solid #e5e5e5}
.legend span{margin-right:1rem;font-size:.8rem}
"""


def _points(values: Sequence[float]) -> list[tuple[float, float] | None]:
    """The expected band for each position, from the values before it (None before MIN_HISTORY)."""
    return [expected_range(values[:i]) if i >= MIN_HISTORY else None for i in range(len(values))]


def metric_chart(files: Sequence[str], values: Sequence[float], outcomes: Sequence[str]) -> str:
    """An SVG line of one metric over files, with pass/fail dots, the expected band and anomaly rings."""
    bands = _points(values)
    ys = list(values) + [b for band in bands if band for b in band]
    low, high = min(ys), max(ys)
    if high == low:
        low, high = low - 1, high + 1
    n = len(values)

    def x(i: int) -> float:
        return PAD_X + (WIDTH - 2 * PAD_X) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return HEIGHT - PAD_Y - (HEIGHT - 2 * PAD_Y) * (v - low) / (high - low)

    parts = [f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img">']
    for v in (low, high):
        parts.append(
            f'<text x="4" y="{y(v) + 4:.1f}" font-size="10" fill="#666">{escape(format_number(v))}</text>'
        )
    labelled = range(n) if n <= LABELLED_FILES else (0, n - 1)
    for i in labelled:
        parts.append(
            f'<text x="{x(i):.1f}" y="{HEIGHT - 6}" font-size="10" fill="#666" text-anchor="middle">'
            f"{escape(files[i][:24])}</text>"
        )
    with_band = [i for i, band in enumerate(bands) if band]
    if with_band:
        upper = [f"{x(i):.1f},{y(bands[i][1]):.1f}" for i in with_band]
        lower = [f"{x(i):.1f},{y(bands[i][0]):.1f}" for i in reversed(with_band)]
        parts.append(
            f'<polygon class="band" points="{" ".join(upper + lower)}" fill="#90caf9" fill-opacity="0.35"/>'
        )
    line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    parts.append(f'<polyline points="{line}" fill="none" stroke="#546e7a" stroke-width="1.5"/>')
    for i, (file, value, outcome) in enumerate(zip(files, values, outcomes, strict=True)):
        band = bands[i]
        anomalous = band is not None and not band[0] <= value <= band[1]
        color = PASSED if outcome == "Passed" else FAILED
        tip = f"{file}: {format_number(value)} ({outcome})"
        if band:
            tip += f", expected {format_number(band[0])}-{format_number(band[1])}"
        if anomalous:
            tip += ", anomaly"
            parts.append(
                f'<circle class="anomaly" cx="{x(i):.1f}" cy="{y(value):.1f}" r="8" fill="none"'
                f' stroke="{ANOMALY}" stroke-width="2"/>'
            )
        parts.append(
            f'<circle class="{"passed" if outcome == "Passed" else "failed"}" cx="{x(i):.1f}"'
            f' cy="{y(value):.1f}" r="4" fill="{color}"><title>{escape(tip)}</title></circle>'
        )
    parts.append("</svg>")
    return "".join(parts)


def outcome_strip(files: Sequence[str], outcomes: Sequence[str]) -> str:
    """Pass/fail marks of a rule without metrics, one square per file."""
    cells = "".join(
        f'<rect class="{"passed" if o == "Passed" else "failed"}" x="{4 + 14 * i}" y="4" width="10"'
        f' height="10" fill="{PASSED if o == "Passed" else FAILED}"><title>{escape(f)}: {escape(o)}'
        "</title></rect>"
        for i, (f, o) in enumerate(zip(files, outcomes, strict=True))
    )
    return f'<svg width="{8 + 14 * len(files)}" height="18">{cells}</svg>'


def _rule_sections(rows: pd.DataFrame) -> list[str]:
    sections = []
    rules = rows[rows["kind"] == "rule"]
    for rule, of_rule in rules.groupby("rule", sort=False):
        name = (
            of_rule["check_name"].dropna().iloc[-1] if of_rule["check_name"].notna().any() else ""
        )
        per_file = of_rule.drop_duplicates(["source_file", "file_version"])
        failed = int((per_file["outcome"] != "Passed").sum())
        html = [
            f"<h2><code>{escape(str(rule))}</code></h2>",
            f'<p class="muted">check <code>{escape(str(name))}</code> · {len(per_file)} files ·'
            f" {failed} failed</p>",
        ]
        metrics = of_rule[of_rule["metric"].notna()]
        if metrics.empty:
            html.append(
                outcome_strip(per_file["source_file"].tolist(), per_file["outcome"].tolist())
            )
        for metric, of_metric in metrics.groupby("metric", sort=False):
            of_metric = of_metric.drop_duplicates(["source_file", "file_version"])
            html.append(
                f"<h3>{escape(metric_label(str(metric)))} <code>{escape(str(metric))}</code></h3>"
            )
            html.append(
                metric_chart(
                    of_metric["source_file"].tolist(),
                    of_metric["value"].tolist(),
                    of_metric["outcome"].tolist(),
                )
            )
        sections.append("".join(html))
    return sections


def _is_cost(rows: pd.DataFrame) -> pd.Series:
    return rows["metric"].fillna("").str.startswith(JOB_COST_PREFIX)


def _cost_section(rows: pd.DataFrame) -> str:
    """Quality's cost on Glue: the files' shares of their job runs, summed per day (of recording) and
    listed for the latest files; empty when no file ran on Glue."""
    costs = rows[(rows["kind"] == "analyzer") & _is_cost(rows)]
    if costs.empty:
        return ""
    names = {f"{JOB_COST_PREFIX}EstimatedCostUSD": "usd", f"{JOB_COST_PREFIX}DPUSeconds": "dpu"}
    wide = (
        costs.assign(metric=costs["metric"].map(names))
        .pivot_table(
            index=["source_file", "file_version", "recorded_at"],
            columns="metric",
            values="value",
            aggfunc="first",
            sort=False,
        )
        .reindex(columns=["usd", "dpu"], fill_value=0.0)
        .reset_index()
    )
    wide["day"] = pd.to_datetime(wide["recorded_at"], utc=True).dt.strftime("%Y-%m-%d")
    days = wide.groupby("day").agg(
        files=("source_file", "size"), usd=("usd", "sum"), dpu=("dpu", "sum")
    )
    day_rows = "".join(
        f"<tr><td>{escape(str(day))}</td><td>{int(r.files)}</td><td>{r.dpu:,.0f}</td>"
        f"<td>${r.usd:.4f}</td></tr>"
        for day, r in days.iloc[::-1].iterrows()
    )
    file_rows = "".join(
        f"<tr><td>{escape(str(r.source_file))}</td><td>{r.dpu:,.1f}</td><td>${r.usd:.4f}</td></tr>"
        for r in wide.iloc[::-1].head(LATEST_FILES).itertuples()
    )
    return (
        '<h2>Cost</h2><p class="muted">Each file\'s share (by input bytes) of its Glue job run: '
        "DPU-seconds from GetJobRun and the estimated cost at the configured price per DPU-hour.</p>"
        "<h3>Per day</h3><table><tr><th>Day (UTC)</th><th>Files</th><th>DPU-seconds</th>"
        f"<th>Estimated cost</th></tr>{day_rows}</table>"
        "<h3>Latest files</h3><table><tr><th>File</th><th>DPU-seconds</th><th>Estimated cost</th>"
        f"</tr>{file_rows}</table>"
    )


def _analyzer_sections(rows: pd.DataFrame) -> list[str]:
    analyzers = rows[(rows["kind"] == "analyzer") & ~_is_cost(rows)]
    sections = []
    for metric, of_metric in analyzers.groupby("metric", sort=False):
        of_metric = of_metric.drop_duplicates(["source_file", "file_version"])
        sections.append(
            f"<h2>Analyzer: {escape(metric_label(str(metric)))} <code>{escape(str(metric))}</code></h2>"
            + metric_chart(
                of_metric["source_file"].tolist(),
                of_metric["value"].tolist(),
                ["Passed"] * len(of_metric),
            )
        )
    return sections


def _latest_files(rows: pd.DataFrame) -> str:
    rules = rows[rows["kind"] == "rule"].drop_duplicates(["source_file", "file_version", "rule"])
    lines = []
    files = rows.drop_duplicates(["source_file", "file_version"])
    for _, file in files.iloc[::-1].head(LATEST_FILES).iterrows():
        own = rules[
            (rules["source_file"] == file["source_file"])
            & (rules["file_version"] == file["file_version"])
        ]
        failed = own[own["outcome"] != "Passed"]
        reasons = "<br>".join(
            f"<code>{escape(str(r.check_name or r.rule))}</code>: {escape(str(r.failure_reason or ''))}"
            for r in failed.itertuples()
        )
        status = "failed" if len(failed) else "passed"
        lines.append(
            f"<tr><td>{escape(str(file['source_file']))}</td>"
            f"<td>{escape(str(file['processed_at'])[:19])}</td>"
            f'<td class="{status}">{len(own) - len(failed)} / {len(own)} passed</td>'
            f"<td>{reasons}</td></tr>"
        )
    return (
        "<h2>Latest files</h2><table><tr><th>File</th><th>First processed (UTC)</th>"
        "<th>Rules</th><th>Failed rules</th></tr>" + "".join(lines) + "</table>"
    )


def render_report(frame: pd.DataFrame, generated_at: datetime | None = None) -> str:
    """The whole page for the rows of a metric store."""
    generated_at = generated_at or datetime.now(UTC)
    rows = in_processing_order(frame).reset_index(drop=True)
    n_files = len(rows.drop_duplicates(["source_file", "file_version"]))
    head = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Quality report</title><style>{CSS}</style></head><body>"
        f'<h1>Quality report</h1><p class="muted">{n_files} files · generated '
        f"{generated_at:%Y-%m-%d %H:%M} UTC</p>"
    )
    if rows.empty:
        return head + "<p>No file has been processed yet.</p></body></html>"
    legend = (
        '<p class="legend"><span class="passed">● rule passed</span><span class="failed">● rule failed'
        '</span><span style="color:#ef6c00">○ anomaly (outside the band)</span><span style="color:'
        f'#1e88e5">▮ expected band from the earlier files (median ± 3.5 MAD/0.6745, after {MIN_HISTORY}'
        " files)</span></p>"
    )
    body = [
        legend,
        _latest_files(rows),
        _cost_section(rows),
        *_rule_sections(rows),
        *_analyzer_sections(rows),
    ]
    return head + "".join(body) + "</body></html>"


def write_report(frame: pd.DataFrame, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(frame), encoding="utf-8")
    return out


def write_deployment_report(env: Any, out: Path | None = None) -> int:
    """``quality-movies report``: write the report of ``env``'s metric history (by default to
    HOME/reports/quality_report.html); 2 with a one-line error when it cannot be written."""
    import duckdb

    try:
        out = out or env.home / "reports" / "quality_report.html"
        frame = metric_store_for(env).frame()
        write_report(frame, out)
    except (OSError, ValueError, RuntimeError, duckdb.Error) as exc:
        print(f"error: the quality report could not be written: {exc}", file=sys.stderr)
        return 2
    files = len(frame.drop_duplicates(["source_file", "file_version"]))
    print(f"wrote {out} ({files} files)")
    return 0
