"""Harness for running the exported trigger on moto: Glue, SNS, SQS, EventBridge and Step Functions."""

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.glue import models as glue_models
from moto.moto_api import state_manager
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_glue,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
)

from quality_movies.infra.state_machine import state_machine_definition
from quality_movies.settings import PipelineSettings
from quality_movies_tests.aws_env import use_fake_aws_credentials

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
EXECUTION_DEADLINE_SECONDS = 45


@pytest.fixture
def settings() -> PipelineSettings:
    """Default names, as deployed."""
    return PipelineSettings()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, settings: PipelineSettings) -> Iterator[None]:
    """moto with the Step Functions interpreter on, fake credentials, nothing reaching AWS."""
    use_fake_aws_credentials(monkeypatch, REGION)
    # moto 5.2.5: glue:startJobRun.sync ends in States.Runtime ('NoneType' object has no attribute
    # 'interrupt_all') unless the Glue task also declares the WaitForTaskToken pattern (FACTS.md).
    monkeypatch.setattr(
        state_task_service_glue,
        "_SUPPORTED_INTEGRATION_PATTERNS",
        {ResourceCondition.Sync, ResourceCondition.WaitForTaskToken},
    )
    # AWS names aws-sdk errors with the PascalCase service name ("Glue.CrawlerRunningException", per
    # the Step Functions guide on AWS SDK integrations); moto 5.2.5 says "glue." unless told.
    monkeypatch.setitem(state_task_service_aws_sdk._SERVICE_ERROR_NAMES, "glue", "Glue")
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield
    for model in ("glue::crawl", "glue::job_run"):
        state_manager.unset_transition(model)


@pytest.fixture
def crawls_take(aws: None, monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Setter: every crawl answers RUNNING to exactly that many GetCrawler calls, then completes.

    moto's crawls never finish by themselves; its "manual" transition counts ticks that nothing in
    GetCrawler advances, so the harness advances the running crawl on each GetCrawler.
    """
    as_dict = glue_models.FakeCrawler.as_dict

    def as_dict_after_one_poll(crawler: glue_models.FakeCrawler) -> dict[str, Any]:
        if crawler.crawls:
            crawler.crawls[-1].advance()
        return as_dict(crawler)

    monkeypatch.setattr(glue_models.FakeCrawler, "as_dict", as_dict_after_one_poll)

    def set_running_polls(polls: int) -> None:
        if polls:
            transition = {"progression": "manual", "times": polls + 1}
        else:
            transition = {"progression": "immediate"}
        state_manager.set_transition("glue::crawl", transition)

    return set_running_polls


@pytest.fixture
def fail_crawls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every crawl started from now on ends FAILED (moto's crawls can only complete)."""
    start_crawler = glue_models.FakeCrawler.start_crawler

    def start_failing_crawl(crawler: glue_models.FakeCrawler) -> None:
        start_crawler(crawler)
        crawler.crawls[-1].status = "FAILED"

    monkeypatch.setattr(glue_models.FakeCrawler, "start_crawler", start_failing_crawl)


@pytest.fixture
def job_runs_end(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Setter: every job run started from then on ends in the given state (moto's only succeed)."""

    def set_final_state(final_state: str) -> None:
        start_job_run = glue_models.FakeJob.start_job_run

        def start_job_run_ending(job: glue_models.FakeJob, *args: Any, **kwargs: Any) -> str:
            run_id = start_job_run(job, *args, **kwargs)
            next(run for run in job.job_runs if run.job_run_id == run_id).status = final_state
            return run_id

        monkeypatch.setattr(glue_models.FakeJob, "start_job_run", start_job_run_ending)

    return set_final_state


@dataclass
class Pipeline:
    """The AWS side of the pipeline on moto, with an SQS queue subscribed to the notifications."""

    settings: PipelineSettings
    topic_arn: str
    notifications_queue_url: str
    state_machine_arn: str

    def start(self, key: str, bucket: str | None = None) -> str:
        """Start an execution with the EventBridge event S3 sends for a PutObject of ``key``."""
        sfn = boto3.client("stepfunctions")
        event = s3_object_created_event(bucket or self.settings.bucket, key)
        # AWS names an execution started without a name (a UUID); moto 5.2.5 leaves
        # $$.Execution.Name null then, so the harness names it as AWS would.
        return sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=str(uuid.uuid4()), input=json.dumps(event)
        )["executionArn"]

    def wait(self, execution_arn: str) -> dict[str, Any]:
        """Poll until the execution leaves RUNNING; return describe_execution."""
        sfn = boto3.client("stepfunctions")
        deadline = time.monotonic() + EXECUTION_DEADLINE_SECONDS
        while True:
            execution = sfn.describe_execution(executionArn=execution_arn)
            if execution["status"] != "RUNNING":
                return execution
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{execution_arn} still RUNNING: {self.history(execution_arn)}"
                )
            time.sleep(0.1)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = boto3.client("stepfunctions")
        return sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]

    def notifications(self) -> list[dict[str, Any]]:
        """SNS notifications delivered so far: each ``{"Subject": ..., "Message": <parsed JSON>}``."""
        sqs = boto3.client("sqs")
        delivered = []
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.notifications_queue_url, MaxNumberOfMessages=10
            ).get("Messages", [])
            if not batch:
                return delivered
            for message in batch:
                envelope = json.loads(message["Body"])
                delivered.append(
                    {"Subject": envelope.get("Subject"), "Message": json.loads(envelope["Message"])}
                )
                sqs.delete_message(
                    QueueUrl=self.notifications_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


def s3_object_created_event(bucket: str, key: str) -> dict[str, Any]:
    """An S3 "Object Created" event as EventBridge delivers it (shape from the Amazon S3 user guide)."""
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT_ID,
        "time": "2021-11-12T00:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {
                "key": key,
                "size": 5,
                "etag": "b1946ac92492d2347c6235b4d2611184",
                "sequencer": "00617F08299329D189",
            },
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": ACCOUNT_ID,
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        },
    }


@pytest.fixture
def pipeline_factory(aws: None, settings: PipelineSettings) -> Callable[..., Pipeline]:
    """Build the catalog, crawler, job, topic and the exported state machine on moto."""

    def build(*, create_job: bool = True, crawler_poll_seconds: int = 1) -> Pipeline:
        glue = boto3.client("glue")
        sns = boto3.client("sns")
        sqs = boto3.client("sqs")
        sfn = boto3.client("stepfunctions")
        role = f"arn:aws:iam::{ACCOUNT_ID}:role/quality-movies"
        glue.create_database(DatabaseInput={"Name": settings.glue_database})
        glue.create_crawler(
            Name=settings.crawler_name,
            Role=role,
            DatabaseName=settings.glue_database,
            Targets={"S3Targets": [{"Path": f"s3://{settings.bucket}/{settings.input_prefix}"}]},
        )
        if create_job:
            glue.create_job(
                Name=settings.glue_job_name,
                Role=role,
                Command={"Name": "glueetl", "ScriptLocation": f"s3://{settings.bucket}/job.py"},
            )
        topic_arn = sns.create_topic(Name=settings.sns_topic_name)["TopicArn"]
        queue_url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        definition = state_machine_definition(
            settings, topic_arn=topic_arn, crawler_poll_seconds=crawler_poll_seconds
        )
        state_machine_arn = sfn.create_state_machine(
            name=settings.state_machine_name,
            definition=json.dumps(definition),
            roleArn=role,
        )["stateMachineArn"]
        return Pipeline(settings, topic_arn, queue_url, state_machine_arn)

    return build
