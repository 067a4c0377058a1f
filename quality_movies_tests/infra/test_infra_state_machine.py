"""The exported state machine executed by moto's Step Functions interpreter against moto's Glue and SNS."""

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

Pipeline = Any
"""The ``Pipeline`` harness object of conftest.py (fixtures only, conftest is not importable)."""
CrawlsTake = Callable[[int], None]

SOURCE_KEY = "input_data/imdb_movies_rating.csv"


def entered_states(history: list[dict]) -> list[str]:
    return [
        event["stateEnteredEventDetails"]["name"]
        for event in history
        if "stateEnteredEventDetails" in event
    ]


def crawler_states_seen(history: list[dict]) -> list[str]:
    """Crawler State in each output of the Get Crawler task."""
    return [
        json.loads(event["stateExitedEventDetails"]["output"])["crawler"]["Crawler"]["State"]
        for event in history
        if event.get("stateExitedEventDetails", {}).get("name") == "Get Crawler"
    ]


def assert_one_failure_notification(pipeline: Pipeline, step: str, error: str) -> None:
    notifications = pipeline.notifications()
    assert [n["Subject"] for n in notifications] == ["quality_movies pipeline failed"]
    message = notifications[0]["Message"]
    assert message["status"] == "FAILED"
    assert message["source"] == {"bucket": "quality-movie-bucket", "key": SOURCE_KEY}
    assert message["failed_step"] == step
    assert message["error"]["Error"] == error


def test_success_path_runs_the_whole_pipeline_in_the_job_and_adds_no_message(
    pipeline_factory: Callable[..., Pipeline], crawls_take: CrawlsTake
) -> None:
    crawls_take(0)
    pipeline = pipeline_factory()

    execution_arn = pipeline.start(SOURCE_KEY)
    execution = pipeline.wait(execution_arn)

    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"bucket": "quality-movie-bucket", "key": SOURCE_KEY}
    # the job announces the file (moto's job run stands in for it and sends nothing)
    assert pipeline.notifications() == []
    [run] = boto3.client("glue").get_job_runs(JobName="quality-movies-dq-job")["JobRuns"]
    execution_name = execution_arn.rsplit(":", 1)[1]
    assert run["Arguments"] == {
        "--source_bucket": "quality-movie-bucket",
        "--source_key": SOURCE_KEY,
        "--pipeline": "true",
        "--run_id": execution_name,
        "--run_url": (
            f"https://console.aws.amazon.com/states/home#/v2/executions/details/{execution_arn}"
        ),
        "--report_key": f"glue-assets/reports/{execution_name}.json",
        "--ruleset_uri": "s3://quality-movie-bucket/glue-assets/ruleset.dqdl",
        "--sns_topic_arn": pipeline.topic_arn,
    }


def test_wait_loop_polls_while_the_crawler_runs(
    pipeline_factory: Callable[..., Pipeline], crawls_take: CrawlsTake
) -> None:
    crawls_take(3)
    pipeline = pipeline_factory(crawler_poll_seconds=1)

    execution_arn = pipeline.start(SOURCE_KEY)
    execution = pipeline.wait(execution_arn)

    assert execution["status"] == "SUCCEEDED"
    history = pipeline.history(execution_arn)
    assert crawler_states_seen(history) == ["RUNNING", "RUNNING", "RUNNING", "READY"]
    assert entered_states(history) == [
        "Record Source File",
        "Start Crawler",
        "Get Crawler",
        "Check Crawler State",
        *["Wait For Crawler", "Get Crawler", "Check Crawler State"] * 3,
        "Run Glue Job",
        "Check Glue Job Run State",
        "Pipeline Succeeded",
    ]
    assert pipeline.notifications() == []


def test_crawler_already_running_is_waited_for(
    pipeline_factory: Callable[..., Pipeline], crawls_take: CrawlsTake
) -> None:
    crawls_take(1)
    pipeline = pipeline_factory(crawler_poll_seconds=1)
    boto3.client("glue").start_crawler(Name="quality-movies-crawler")

    execution_arn = pipeline.start(SOURCE_KEY)
    execution = pipeline.wait(execution_arn)

    assert execution["status"] == "SUCCEEDED"
    history = pipeline.history(execution_arn)
    failures = [
        e["taskFailedEventDetails"]["error"] for e in history if "taskFailedEventDetails" in e
    ]
    assert failures == ["Glue.CrawlerRunningException"]
    assert entered_states(history)[:6] == [
        "Record Source File",
        "Start Crawler",
        "Wait For Crawler",
        "Get Crawler",
        "Check Crawler State",
        "Wait For Crawler",
    ]
    assert crawler_states_seen(history) == ["RUNNING", "READY"]
    assert pipeline.notifications() == []


@pytest.mark.usefixtures("fail_crawls")
def test_failed_crawl_publishes_failure(
    pipeline_factory: Callable[..., Pipeline], crawls_take: CrawlsTake
) -> None:
    crawls_take(0)
    pipeline = pipeline_factory()

    execution = pipeline.wait(pipeline.start(SOURCE_KEY))

    assert execution["status"] == "FAILED"
    assert_one_failure_notification(pipeline, "Check Crawler State", "Glue.CrawlFailed")
    assert boto3.client("glue").get_job_runs(JobName="quality-movies-dq-job")["JobRuns"] == []


@pytest.mark.parametrize(
    ("final_state", "step", "error"),
    [
        ("FAILED", "Run Glue Job", "States.TaskFailed"),
        ("STOPPED", "Check Glue Job Run State", "Glue.JobRunNotSucceeded"),
    ],
)
def test_job_run_that_does_not_succeed_publishes_failure(
    pipeline_factory: Callable[..., Pipeline],
    crawls_take: CrawlsTake,
    job_runs_end: Callable[[str], None],
    final_state: str,
    step: str,
    error: str,
) -> None:
    crawls_take(0)
    job_runs_end(final_state)
    pipeline = pipeline_factory()

    execution = pipeline.wait(pipeline.start(SOURCE_KEY))

    assert execution["status"] == "FAILED"
    assert_one_failure_notification(pipeline, step, error)


def test_missing_job_publishes_failure(
    pipeline_factory: Callable[..., Pipeline], crawls_take: CrawlsTake
) -> None:
    crawls_take(0)
    pipeline = pipeline_factory(create_job=False)

    execution = pipeline.wait(pipeline.start(SOURCE_KEY))

    assert execution["status"] == "FAILED"
    assert_one_failure_notification(pipeline, "Run Glue Job", "Glue.EntityNotFoundException")
