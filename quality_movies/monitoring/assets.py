"""The quality report as an asset, so the UI links to the latest one."""

import tempfile
from pathlib import Path

import dagster as dg

from quality_movies.lake import Lake
from quality_movies.monitoring.report import write_report
from quality_movies.monitoring.resources import MetricStore

REPORT_KEY = "reports/quality_report.html"


def report_link(uri: str) -> dg.MetadataValue:
    """A clickable link for a local file, the object's URI otherwise."""
    return (
        dg.MetadataValue.url(Path(uri).as_uri())
        if uri.startswith("/")
        else dg.MetadataValue.path(uri)
    )


@dg.asset(
    group_name="monitoring",
    deps=[dg.AssetKey("rule_outcomes")],
    description="The metric history of every file as one HTML page: per rule and metric, the values, "
    "pass/fail marks, expected band and anomalies; the latest files.",
)
def quality_report(lake: Lake, metric_store: MetricStore) -> dg.MaterializeResult:
    """Render the report from the metric history and store it in the lake under reports/."""
    frame = metric_store.frame()
    with tempfile.TemporaryDirectory(prefix="quality_movies_") as tmp:
        lake.upload(write_report(frame, Path(tmp) / "quality_report.html"), REPORT_KEY)
    files = frame.drop_duplicates(["source_file", "file_version"])
    latest = (
        frame[
            (frame["source_file"] == files["source_file"].iloc[-1])
            & (frame["file_version"] == files["file_version"].iloc[-1])
            & (frame["kind"] == "rule")
        ].drop_duplicates("rule")
        if len(files)
        else frame.iloc[0:0]
    )
    return dg.MaterializeResult(
        metadata={
            "report": report_link(lake.uri(REPORT_KEY)),
            "files": len(files),
            "latest_file": str(files["source_file"].iloc[-1]) if len(files) else "",
            "latest_rules_failed": int((latest["outcome"] != "Passed").sum()),
        }
    )
