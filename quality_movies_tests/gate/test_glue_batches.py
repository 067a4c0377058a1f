"""The Glue runner's batches against a stand-in Glue client: one job run per batch, runs started together
up to the concurrency, a run failing as a whole failing its files, and each run's cost from GetJobRun.

The stand-in answers StartJobRun/GetJobRun as Glue documents them and leaves a report as the job would;
the job itself (the real script on local Spark) is exercised in quality_movies_tests/glue/.
"""

import json
import math
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from quality_movies.dq.metric_history import COLUMN_NAMES
from quality_movies.lake import LocalLake
from quality_movies.quality.resources import (
    BatchInputs,
    FileToEvaluate,
    GlueQualityJobRunner,
    QualityJobFailed,
    QualityRunResult,
    job_run_cost,
    plan_batches,
    staged_outputs,
)

JOB = "quality-movies-dq-job"
COUNTS = {
    "rows_read": 3,
    "good_rows": 2,
    "bad_rows": 1,
    "validated_rows": 2,
    "contract_rejected": 0,
    "rule_outcomes": [],
    "analyzer_results": [],
}


class StandInGlue:
    """StartJobRun records the run; GetJobRun says RUNNING ``polls`` times, then ends the run: the
    job's report is left at ``--report_key`` (one entry per file of the manifest or ``--source_key``)."""

    def __init__(self, lake: LocalLake, facts: dict[str, Any], polls: int = 2) -> None:
        self.lake, self.facts, self.polls = lake, facts, polls
        self.started: list[dict[str, Any]] = []
        self.running: set[str] = set()
        self.most_running = 0
        self.polled: dict[str, int] = {}
        self.failing: dict[str, str] = {}  # a file whose run fails as a whole -> ErrorMessage
        self.file_errors: dict[str, str] = {}  # a file the job reports as failed -> its message

    def start_job_run(self, JobName: str, Arguments: dict[str, str], **kwargs: Any) -> dict:  # noqa: N803
        run_id = f"jr_{len(self.started)}"
        manifest = None  # read at the start, as the job does (the runner removes it afterwards)
        if "--manifest_uri" in Arguments:
            manifest = json.loads(Path(Arguments["--manifest_uri"]).read_text())
        self.started.append(
            {"JobName": JobName, "Arguments": Arguments, "manifest": manifest, **kwargs}
        )
        self.running.add(run_id)
        self.most_running = max(self.most_running, len(self.running))
        self.polled[run_id] = 0
        return {"JobRunId": run_id}

    def files_of(self, started: dict[str, Any]) -> list[str]:
        if started["manifest"]:
            keys = [entry["source_key"] for entry in started["manifest"]["files"]]
        else:
            keys = [started["Arguments"]["--source_key"]]
        return [key.removeprefix(self.lake.input_prefix) for key in keys]

    def get_job_run(self, JobName: str, RunId: str) -> dict:  # noqa: N803
        self.polled[RunId] += 1
        started = self.started[int(RunId[3:])]
        if self.polled[RunId] <= self.polls:
            return {"JobRun": {"Id": RunId, "JobRunState": "RUNNING"}}
        if RunId in self.running:
            self.running.discard(RunId)
            report = {
                "files": {
                    name: {"error": self.file_errors[name]} if name in self.file_errors else COUNTS
                    for name in self.files_of(started)
                }
            }
            path = Path(self.lake.root) / f"report-{RunId}.json"
            path.write_text(json.dumps(report))
            self.lake.upload(path, started["Arguments"]["--report_key"])
        failing = [self.failing[f] for f in self.files_of(started) if f in self.failing]
        state = {"JobRunState": "FAILED", "ErrorMessage": failing[0]} if failing else {}
        return {"JobRun": {"Id": RunId, "JobRunState": "SUCCEEDED", **self.facts, **state}}


GLUE: dict[str, StandInGlue] = {}


class StandInRunner(GlueQualityJobRunner):
    """The production runner with the stand-in as its Glue client."""

    def glue_client(self) -> Any:
        return GLUE["client"]


@pytest.fixture
def lake(tmp_path: Path) -> LocalLake:
    (tmp_path / "lake").mkdir()
    return LocalLake(root=str(tmp_path / "lake"))


def files_in(lake: LocalLake, sizes: dict[str, int]) -> list[FileToEvaluate]:
    files = []
    for name, size in sizes.items():
        path = Path(lake.root) / f"upload-{name}"
        path.write_bytes(b"x" * size)
        lake.upload(path, lake.input_key(name))
        files.append(FileToEvaluate(name, f"v-{name}", staged_outputs(lake, name, "t"), size))
    return files


def run(
    runner: GlueQualityJobRunner, lake: LocalLake, files: list[FileToEvaluate]
) -> list[list[QualityRunResult | Exception]]:
    inputs = BatchInputs(
        history=pd.DataFrame(columns=COLUMN_NAMES),
        engine_inputs=lambda source_file, earlier: nullcontext({"column_types": None}),
    )
    batches = plan_batches(files, runner.batch_max_files, runner.batch_max_bytes)
    context = dg.build_asset_context()
    return list(runner.run_batches(context, lake, batches, lambda: inputs, independent=True))


def runner_for(glue: StandInGlue, **fields: Any) -> StandInRunner:
    GLUE["client"] = glue
    return StandInRunner(**{"job_name": JOB, "poll_interval_seconds": 0.0, **fields})


G1X_RUN = {"ExecutionTime": 600, "WorkerType": "G.1X", "NumberOfWorkers": 2}


def test_a_backlog_is_one_job_run_per_batch_started_together_up_to_the_concurrency(lake):
    glue = StandInGlue(lake, G1X_RUN)
    runner = runner_for(glue, batch_max_files=2, max_concurrent_runs=2, execution_class="FLEX")
    names = [f"f{i}.csv" for i in range(5)]
    files = files_in(lake, dict.fromkeys(names, 10))

    batches = run(runner, lake, files)

    assert len(glue.started) == math.ceil(5 / 2) == 3
    assert glue.most_running == 2
    assert [len(b) for b in batches] == [2, 2, 1]
    assert all(isinstance(r, QualityRunResult) for b in batches for r in b)
    assert [r.source_file for b in batches for r in b] == names
    first, last = glue.started[0], glue.started[-1]
    assert (first["ExecutionClass"], first["JobRunQueuingEnabled"]) == ("FLEX", True)
    # two files: a manifest naming each file's staged output keys; one file: the single-file form
    assert first["manifest"]["files"][1] == {
        "source_key": "input_data/f1.csv",
        "file_version": "v-f1.csv",
        "bad_records_key": files[1].outputs.bad_records,
        "rule_outcomes_key": files[1].outputs.rule_outcomes,
        "validated_key": files[1].outputs.validated,
    }
    assert last["Arguments"]["--source_key"] == "input_data/f4.csv"
    assert "--manifest_uri" not in last["Arguments"]
    # what was exchanged with the job (ruleset, inputs, manifest, report) is gone
    assert lake.list_objects("validated_movies/_staging/") == []


def test_batches_are_capped_by_bytes_and_a_big_file_is_a_batch_of_its_own():
    def file(name: str, size: int) -> FileToEvaluate:
        return FileToEvaluate(name, "v", staged_outputs(LocalLake(root="/x"), name, "t"), size)

    files = [file("a", 40), file("b", 50), file("c", 200), file("d", 10), file("e", 10)]
    batches = plan_batches(files, max_files=10, max_bytes=100)
    assert [[f.source_file for f in b] for b in batches] == [["a", "b"], ["c"], ["d", "e"]]


def test_a_run_failing_as_a_whole_fails_its_files_with_the_jobs_message(lake):
    glue = StandInGlue(lake, G1X_RUN)
    glue.failing["b.csv"] = "Command failed with exit code 1: OutOfMemoryError"
    glue.file_errors["c.csv"] = "c.csv: required column imdb_rating is missing from the header"
    runner = runner_for(glue, batch_max_files=2)
    files = files_in(lake, {"a.csv": 10, "b.csv": 10, "c.csv": 10, "d.csv": 10})

    [first, second] = run(runner, lake, files)

    for failed, name in zip(first, ["a.csv", "b.csv"], strict=True):
        assert isinstance(failed, QualityJobFailed)
        message = str(failed)
        assert message.startswith(f"{name}: Glue job {JOB} failed on ")
        assert "(run jr_0 FAILED): Command failed with exit code 1: OutOfMemoryError" in message
    c, d = second
    assert str(c) == "c.csv: required column imdb_rating is missing from the header"
    assert isinstance(d, QualityRunResult) and d.rows_read == 3


def test_each_file_carries_its_share_of_the_runs_cost_and_the_runs_logs(lake):
    # By hand: 2 G.1X workers (1 DPU each) for 600 s = 1,200 DPU-seconds; Flex at $0.29 per
    # DPU-hour: 1200 / 3600 * 0.29 = $0.096667. By bytes, a.csv holds 100 of 400: a quarter.
    glue = StandInGlue(lake, {**G1X_RUN, "LogGroupName": "/aws-glue/jobs"})
    runner = runner_for(glue, execution_class="FLEX", region_name="eu-west-1")
    [[a, b]] = run(runner, lake, files_in(lake, {"a.csv": 100, "b.csv": 300}))

    assert a.job_cost == pytest.approx(
        {"DPUSeconds": 300.0, "EstimatedCostUSD": 1200 / 3600 * 0.29 / 4}
    )
    assert b.job_cost == pytest.approx(
        {"DPUSeconds": 900.0, "EstimatedCostUSD": 1200 / 3600 * 0.29 * 3 / 4}
    )
    run_facts = a.extra["glue_job_run"]
    assert run_facts["job_run_id"] == "jr_0" and a.extra["AWS Glue Job Run ID"] == "jr_0"
    assert (run_facts["worker_type"], run_facts["number_of_workers"]) == ("G.1X", 2)
    assert run_facts["dpu_seconds_source"] == "computed"
    assert (run_facts["log_group"], run_facts["log_stream"]) == ("/aws-glue/jobs/output", "jr_0")
    assert run_facts["logs_url"] == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:"
        "log-groups/log-group/$252Faws-glue$252Fjobs$252Foutput/log-events/jr_0"
    )
    assert a.extra["glue_cost_share"] == 0.25


@pytest.mark.parametrize(
    ("job_run", "dpu_seconds", "cost"),
    [
        # Glue's own DPUSeconds (auto-scaling, Flex) wins over workers x time: 450 / 3600 * 0.44
        ({**G1X_RUN, "DPUSeconds": 450.0}, 450.0, 0.055),
        # 20 s on 2 G.2X workers (2 DPU each): 80 DPU-s used, 1 minute of 4 DPUs billed: 240 DPU-s
        (
            {"ExecutionTime": 20, "WorkerType": "G.2X", "NumberOfWorkers": 2},
            80.0,
            240 / 3600 * 0.44,
        ),
        # Standard worker type: MaxCapacity DPUs; 120 s x 10 DPU = 1,200 DPU-s
        (
            {"ExecutionTime": 120, "WorkerType": "Standard", "MaxCapacity": 10.0},
            1200.0,
            1200 / 3600 * 0.44,
        ),
        # The run's own execution class decides the price: Flex at 0.29
        ({**G1X_RUN, "ExecutionClass": "FLEX"}, 1200.0, 1200 / 3600 * 0.29),
    ],
    ids=["dpu_seconds_given", "one_minute_minimum", "max_capacity", "flex_run"],
)
def test_job_run_cost_follows_glues_billing(job_run, dpu_seconds, cost):
    facts = job_run_cost({"Id": "jr_1", **job_run}, "STANDARD", 0.44, 0.29)
    assert facts["dpu_seconds"] == pytest.approx(dpu_seconds)
    assert facts["estimated_cost_usd"] == pytest.approx(cost)


def test_cost_reaches_the_report_per_day_and_per_file_and_cloudwatch():
    from datetime import UTC, datetime

    from quality_movies.dq.metric_history import FileQuality, history_rows
    from quality_movies.monitoring.report import render_report
    from quality_movies.monitoring.resources import job_cost_metrics, run_metric_data

    def rows(name: str, day: int, usd: float, dpu: float) -> pd.DataFrame:
        at = datetime(2026, 12, day, 12, 0, tzinfo=UTC)
        entry = FileQuality(
            name,
            "v1",
            "run",
            "f",
            [{"Rule": "RowCount > 0", "Outcome": "Passed", "EvaluatedMetrics": {}}],
            analyzer_metrics=job_cost_metrics({"DPUSeconds": dpu, "EstimatedCostUSD": usd}),
        )
        return history_rows(entry, at, at)

    frame = pd.concat(
        [rows("a.csv", 1, 0.01, 90), rows("b.csv", 1, 0.02, 180), rows("c.csv", 2, 0.04, 360)],
        ignore_index=True,
    )
    page = render_report(frame)

    # by hand: day 1 holds a.csv and b.csv (0.01 + 0.02, 90 + 180), day 2 holds c.csv
    assert "<tr><td>2026-12-02</td><td>1</td><td>360</td><td>$0.0400</td></tr>" in page
    assert "<tr><td>2026-12-01</td><td>2</td><td>270</td><td>$0.0300</td></tr>" in page
    assert "<tr><td>b.csv</td><td>180.0</td><td>$0.0200</td></tr>" in page
    assert "Analyzer: " not in page  # cost is not charted as a data metric

    data = run_metric_data("a.csv", [], {"DPUSeconds": 90.0, "EstimatedCostUSD": 0.01})
    costs = [d for d in data if d["MetricName"] in ("DPUSeconds", "EstimatedCostUSD")]
    assert costs == [
        {"MetricName": "DPUSeconds", "Value": 90.0, "Unit": "None"},
        {
            "MetricName": "DPUSeconds",
            "Value": 90.0,
            "Unit": "None",
            "Dimensions": [{"Name": "SourceFile", "Value": "a.csv"}],
        },
        {"MetricName": "EstimatedCostUSD", "Value": 0.01, "Unit": "None"},
        {
            "MetricName": "EstimatedCostUSD",
            "Value": 0.01,
            "Unit": "None",
            "Dimensions": [{"Name": "SourceFile", "Value": "a.csv"}],
        },
    ]
