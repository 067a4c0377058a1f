"""Rule metrics to CloudWatch (moto) and to the local JSON lines file."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from moto import mock_aws

from quality_movies.monitoring.resources import (
    CloudWatchQualityMetrics,
    LocalQualityMetrics,
    run_metric_data,
)

SOURCE = "movies_13.csv"
OUTCOMES = [
    {"Rule": "RowCount > 0", "Outcome": "Passed", "EvaluatedMetrics": {"Dataset.*.RowCount": 300}},
    {
        "Rule": "RowCount > avg(last(3)) * 0.5",
        "Outcome": "Failed",
        "EvaluatedMetrics": {"Dataset.*.RowCount": 300},
    },
    {
        "Rule": 'DetectAnomalies "RowCount"',
        "Outcome": "Failed",
        "FailureReason": "RowCount 300 is below the expected range 948-1,052 from the last 12 files",
        "EvaluatedMetrics": {"Dataset.*.RowCount": 300},
    },
]


def test_two_failed_rules_one_of_them_an_anomaly():
    data = run_metric_data(SOURCE, OUTCOMES)
    summary = {d["MetricName"]: d for d in data if "Dimensions" not in d}
    assert summary["RulesFailed"]["Value"] == 2.0
    assert summary["AnomaliesDetected"]["Value"] == 1.0
    per_rule = [d for d in data if "Dimensions" in d]
    assert len(per_rule) == 6  # RulePassed + RowCount for each of the 3 rules
    assert {"Name": "SourceFile", "Value": SOURCE} in per_rule[0]["Dimensions"]


@pytest.fixture
def cloudwatch(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield


def test_cloudwatch_gets_undimensioned_alarm_metrics_and_per_rule_metrics(cloudwatch):
    metrics = CloudWatchQualityMetrics(namespace="QualityMovies", region_name="us-east-1")
    assert metrics.publish(SOURCE, OUTCOMES) == 8
    client = metrics.client()
    listed = client.list_metrics(Namespace="QualityMovies")["Metrics"]
    alarm_metrics = {m["MetricName"] for m in listed if not m.get("Dimensions")}
    assert alarm_metrics == {"RulesFailed", "AnomaliesDetected"}
    per_rule = [m for m in listed if m.get("Dimensions")]
    assert {d["Name"] for m in per_rule for d in m["Dimensions"]} == {"Rule", "SourceFile"}
    now = datetime.now(UTC)
    stats = client.get_metric_statistics(
        Namespace="QualityMovies",
        MetricName="RulesFailed",
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["Sum"],
    )["Datapoints"]
    assert sum(p["Sum"] for p in stats) == 2.0


def test_locally_the_datums_go_to_a_file(tmp_path):
    path = tmp_path / "quality_metrics.jsonl"
    LocalQualityMetrics(path=str(path)).publish(SOURCE, OUTCOMES)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["MetricName"] for line in lines[:2]] == ["RulesFailed", "AnomaliesDetected"]
    assert lines[0]["Value"] == 2.0
