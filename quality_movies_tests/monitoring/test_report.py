"""The quality report: one self-contained page with history, band, anomalies and the latest files."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from quality_movies.cli import main
from quality_movies.dq.metric_history import FileQuality
from quality_movies.lake import LocalLake
from quality_movies.monitoring.assets import REPORT_KEY, quality_report
from quality_movies.monitoring.report import render_report
from quality_movies.monitoring.resources import DuckDBMetricStore

ROW_COUNT = "Dataset.*.RowCount"
OBSERVATION = "RowCount 300 is below the expected range 948-1,052 from the last 4 files"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def record_five_files(store: DuckDBMetricStore) -> None:
    """Four files of 1,000 rows, then one of 300 that the anomaly rule fails."""
    for i, rows in enumerate([1000, 1000, 1000, 1000, 300]):
        last = rows == 300
        store.record(
            FileQuality(
                source_file=f"movies_{i + 1}.csv",
                file_version="v1",
                run_id=f"run-{i}",
                ruleset_fingerprint="f" * 64,
                rule_outcomes=[
                    {
                        "Rule": "RowCount > 0",
                        "Outcome": "Passed",
                        "EvaluatedMetrics": {ROW_COUNT: rows},
                    },
                    {
                        "Rule": 'DetectAnomalies "RowCount"',
                        "Outcome": "Failed" if last else "Passed",
                        "FailureReason": OBSERVATION if last else "",
                        "EvaluatedMetrics": {ROW_COUNT: rows},
                    },
                    {
                        "Rule": 'ColumnExists "imdb_rating"',
                        "Outcome": "Passed",
                        "EvaluatedMetrics": {},
                    },
                ],
                processed_at=T0 + timedelta(minutes=i),
            )
        )


def test_the_page_marks_the_short_file_as_an_anomaly(tmp_path):
    store = DuckDBMetricStore(path=str(tmp_path / "warehouse.duckdb"))
    record_five_files(store)
    page = render_report(store.frame(), generated_at=T0)
    # bands exist from the 4th file on (3 earlier files): 948-1,052; the 5th file's 300 is outside,
    # once in each of the two RowCount charts
    assert page.count('class="anomaly"') == 2
    assert page.count('class="band"') == 2
    assert page.count('<circle class="failed"') == 1
    assert "movies_5.csv: 300 (Failed), expected 948-1,052, anomaly" in page
    assert OBSERVATION in page
    latest = re.findall(r"<tr><td>(movies_\d\.csv)</td>", page)
    assert latest == [
        "movies_5.csv",
        "movies_4.csv",
        "movies_3.csv",
        "movies_2.csv",
        "movies_1.csv",
    ]
    assert page.count('<rect class="passed"') == 5  # ColumnExists has no metric: a strip of marks


def test_the_page_needs_no_network(tmp_path):
    store = DuckDBMetricStore(path=str(tmp_path / "warehouse.duckdb"))
    record_five_files(store)
    page = render_report(store.frame())
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>")
    for outside in ("http://", "https://", "<script", "<link", "src=", "@import", "url("):
        assert outside not in page


def test_an_empty_history_says_so(tmp_path):
    page = render_report(DuckDBMetricStore(path=str(tmp_path / "w.duckdb")).frame())
    assert "No file has been processed yet." in page


def test_cli_writes_the_report_of_the_home(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QUALITY_MOVIES_HOME", str(tmp_path))
    monkeypatch.delenv("QUALITY_MOVIES_ENV", raising=False)
    record_five_files(DuckDBMetricStore(path=str(tmp_path / "warehouse.duckdb")))
    out = tmp_path / "out" / "report.html"
    assert main(["report", "--out", str(out)]) == 0
    assert OBSERVATION in out.read_text()
    assert capsys.readouterr().out.strip() == f"wrote {out} (5 files)"


def test_the_asset_links_to_the_latest_report(tmp_path):
    store = DuckDBMetricStore(path=str(tmp_path / "warehouse.duckdb"))
    record_five_files(store)
    lake = LocalLake(root=str(tmp_path / "lake"))
    result = dg.materialize([quality_report], resources={"lake": lake, "metric_store": store})
    metadata = result.asset_materializations_for_node("quality_report")[0].metadata
    assert metadata["report"] == dg.MetadataValue.url(Path(lake.uri(REPORT_KEY)).as_uri())
    assert metadata["latest_file"] == dg.MetadataValue.text("movies_5.csv")
    assert metadata["latest_rules_failed"] == dg.MetadataValue.int(1)
    assert OBSERVATION in Path(lake.uri(REPORT_KEY)).read_text()
