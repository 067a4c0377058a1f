"""The batched trigger executed by moto's Step Functions interpreter: S3 events queue up in SQS (the
EventBridge rule's target), the harness hands the state machine a batch of those messages as an
EventBridge Pipe does, and the state machine writes the batch's manifest, crawls once, runs the Glue job
once with ``--manifest_uri`` and notifies once.

moto has no EventBridge Pipes runtime, so the harness plays the pipe: it receives the queued messages and
starts the execution with them in the Pipes shape for an SQS source (a JSON array of records with
``messageId``, ``body`` and the rest, as in the EventBridge Pipes user guide).
"""

import hashlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from quality_movies.infra.export import export_infra
from quality_movies.infra.state_machine import (
    batch_manifest_prefix,
    batch_state_machine_definition,
    event_pattern,
)
from quality_movies.settings import PipelineSettings

ACCOUNT_ID = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/quality-movies"
DEADLINE_SECONDS = 45
STATELINT = Path(sys.executable).parent / "statelint"


@dataclass
class BatchedPipeline:
    settings: PipelineSettings
    events_queue_url: str
    notifications_queue_url: str
    state_machine_arn: str
    topic_arn: str

    def upload(self, *keys: str) -> None:
        """S3 "Object Created" events for ``keys``, sent to EventBridge's default bus."""
        entries = [
            {
                "Source": "aws.s3",
                "DetailType": "Object Created",
                "Resources": [f"arn:aws:s3:::{self.settings.bucket}"],
                "Detail": json.dumps(
                    {
                        "version": "0",
                        "bucket": {"name": self.settings.bucket},
                        "object": {"key": key, "size": 5, "etag": "b1946ac9"},
                        "reason": "PutObject",
                    }
                ),
            }
            for key in keys
        ]
        assert boto3.client("events").put_events(Entries=entries)["FailedEntryCount"] == 0

    def pipe_batch(self) -> list[dict[str, Any]]:
        """What the pipe hands the state machine after its batching window: the queued messages."""
        sqs = boto3.client("sqs")
        queue_arn = sqs.get_queue_attributes(
            QueueUrl=self.events_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        messages = sqs.receive_message(
            QueueUrl=self.events_queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        return [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(m["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": self.settings.region,
            }
            for m in messages
        ]

    def start(self, records: list[dict[str, Any]]) -> str:
        """Start an execution as the pipe does (a generated name: moto would name every one None)."""
        sfn = boto3.client("stepfunctions")
        return sfn.start_execution(
            stateMachineArn=self.state_machine_arn,
            name=str(uuid.uuid4()),
            input=json.dumps(records),
        )["executionArn"]

    def wait(self, execution_arn: str) -> dict[str, Any]:
        sfn = boto3.client("stepfunctions")
        deadline = time.monotonic() + DEADLINE_SECONDS
        while (execution := sfn.describe_execution(executionArn=execution_arn))[
            "status"
        ] == "RUNNING":
            assert time.monotonic() < deadline, f"{execution_arn} still RUNNING"
            time.sleep(0.1)
        return execution

    def entered_states(self, execution_arn: str) -> list[str]:
        events = boto3.client("stepfunctions").get_execution_history(
            executionArn=execution_arn, maxResults=1000
        )["events"]
        return [
            e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
        ]

    def notifications(self) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        found = sqs.receive_message(
            QueueUrl=self.notifications_queue_url, MaxNumberOfMessages=10
        ).get("Messages", [])
        envelopes = [json.loads(m["Body"]) for m in found]
        return [{"Subject": e["Subject"], "Message": json.loads(e["Message"])} for e in envelopes]


@pytest.fixture
def batched(aws: None, settings: PipelineSettings) -> Iterator[BatchedPipeline]:
    """The batched stack's pieces on moto: bucket, crawler, job, topic, the events queue the rule
    feeds, and the batched state machine."""
    glue, sns, sqs = boto3.client("glue"), boto3.client("sns"), boto3.client("sqs")
    boto3.client("s3").create_bucket(Bucket=settings.bucket)
    glue.create_database(DatabaseInput={"Name": settings.glue_database})
    glue.create_crawler(
        Name=settings.crawler_name,
        Role=ROLE,
        DatabaseName=settings.glue_database,
        Targets={"S3Targets": [{"Path": f"s3://{settings.bucket}/{settings.input_prefix}"}]},
    )
    glue.create_job(
        Name=settings.glue_job_name,
        Role=ROLE,
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{settings.bucket}/job.py"},
    )
    topic_arn = sns.create_topic(Name=settings.sns_topic_name)["TopicArn"]

    def queue(name: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return url, arn

    events_url, events_arn = queue("input-events")
    notifications_url, notifications_arn = queue("notifications")
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=notifications_arn)
    events = boto3.client("events")
    rule = "input-object-queued"
    events.put_rule(Name=rule, EventPattern=json.dumps(event_pattern(settings)))
    events.put_targets(Rule=rule, Targets=[{"Id": "InputEventsQueue", "Arn": events_arn}])
    definition = batch_state_machine_definition(
        settings, topic_arn=topic_arn, crawler_poll_seconds=1
    )
    state_machine_arn = boto3.client("stepfunctions").create_state_machine(
        name=settings.state_machine_name, definition=json.dumps(definition), roleArn=ROLE
    )["stateMachineArn"]
    yield BatchedPipeline(settings, events_url, notifications_url, state_machine_arn, topic_arn)


def manifest(settings: PipelineSettings, manifest_uri: str) -> dict[str, Any]:
    bucket, key = manifest_uri.removeprefix("s3://").split("/", 1)
    assert bucket == settings.bucket
    assert key.startswith(batch_manifest_prefix(settings))
    return json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_a_batch_is_crawled_once_and_run_once_with_its_manifest(
    batched: BatchedPipeline, crawls_take: Callable[[int], None]
) -> None:
    crawls_take(1)
    batched.upload("input_data/a.csv", "input_data/b.csv", "input_data/a.csv")
    batched.upload("bad-records/a.csv/bad_records.jsonl")  # an output: not an input event
    records = batched.pipe_batch()
    assert len(records) == 3

    execution_arn = batched.start(records)
    execution = batched.wait(execution_arn)

    assert execution["status"] == "SUCCEEDED"
    states = batched.entered_states(execution_arn)
    assert states.count("Start Crawler") == 1
    assert states.count("Run Glue Job") == 1
    [run] = boto3.client("glue").get_job_runs(JobName=batched.settings.glue_job_name)["JobRuns"]
    manifest_uri = run["Arguments"]["--manifest_uri"]
    assert "--source_key" not in run["Arguments"]
    # each file once, in the order of its first event (a.csv was uploaded twice in the window)
    assert manifest(batched.settings, manifest_uri) == {
        "files": [{"source_key": "input_data/a.csv"}, {"source_key": "input_data/b.csv"}]
    }
    # the job announces each file (moto's job run stands in for it and sends nothing); the state
    # machine adds no message of its own to a run that succeeded
    assert batched.notifications() == []
    arguments = run["Arguments"]
    execution_name = execution_arn.rsplit(":", 1)[1]
    assert (arguments["--pipeline"], arguments["--run_id"]) == ("true", execution_name)
    assert arguments["--sns_topic_arn"] == batched.topic_arn
    assert arguments["--report_key"] == f"glue-assets/reports/{execution_name}.json"
    assert arguments["--ruleset_uri"] == "s3://quality-movie-bucket/glue-assets/ruleset.dqdl"
    assert json.loads(execution["output"]) == {
        "files": [{"source_key": "input_data/a.csv"}, {"source_key": "input_data/b.csv"}]
    }


def test_two_batches_write_two_manifests(
    batched: BatchedPipeline, crawls_take: Callable[[int], None]
) -> None:
    crawls_take(0)
    batched.upload("input_data/a.csv")
    first = batched.start(batched.pipe_batch())
    assert batched.wait(first)["status"] == "SUCCEEDED"
    batched.upload("input_data/b.csv", "input_data/c.csv")
    second = batched.start(batched.pipe_batch())
    assert batched.wait(second)["status"] == "SUCCEEDED"

    runs = boto3.client("glue").get_job_runs(JobName=batched.settings.glue_job_name)["JobRuns"]
    manifests = sorted(
        (manifest(batched.settings, r["Arguments"]["--manifest_uri"]) for r in runs),
        key=lambda m: len(m["files"]),
    )
    assert manifests == [
        {"files": [{"source_key": "input_data/a.csv"}]},
        {"files": [{"source_key": "input_data/b.csv"}, {"source_key": "input_data/c.csv"}]},
    ]


@pytest.mark.parametrize(
    ("final_state", "step", "error"),
    [
        ("FAILED", "Run Glue Job", "States.TaskFailed"),
        ("STOPPED", "Check Glue Job Run State", "Glue.JobRunNotSucceeded"),
    ],
)
def test_a_batch_whose_job_run_fails_is_announced_once_with_its_files(
    batched: BatchedPipeline,
    crawls_take: Callable[[int], None],
    job_runs_end: Callable[[str], None],
    final_state: str,
    step: str,
    error: str,
) -> None:
    crawls_take(0)
    job_runs_end(final_state)
    batched.upload("input_data/a.csv", "input_data/b.csv")

    execution = batched.wait(batched.start(batched.pipe_batch()))

    assert execution["status"] == "FAILED"
    [sent] = batched.notifications()
    assert sent["Subject"] == "quality_movies pipeline failed"
    message = sent["Message"]
    assert (message["status"], message["failed_step"]) == ("FAILED", step)
    assert message["error"]["Error"] == error
    assert message["source"]["files"] == [
        {"source_key": "input_data/a.csv"},
        {"source_key": "input_data/b.csv"},
    ]


def test_a_message_that_is_not_an_event_fails_the_batch_with_its_step(
    batched: BatchedPipeline, crawls_take: Callable[[int], None]
) -> None:
    crawls_take(0)
    records = [{"messageId": "1", "body": "not json", "eventSource": "aws:sqs"}]

    execution = batched.wait(batched.start(records))

    assert execution["status"] == "FAILED"
    [sent] = batched.notifications()
    assert sent["Message"]["failed_step"] == "List Batch Keys"
    assert sent["Message"]["source"]["files"] == []
    assert (
        boto3.client("glue").get_job_runs(JobName=batched.settings.glue_job_name)["JobRuns"] == []
    )


def test_the_exported_batched_asl_passes_statelint(tmp_path: Path) -> None:
    export_infra(tmp_path, PipelineSettings())

    result = subprocess.run(
        [str(STATELINT), str(tmp_path / "step_function_batched.json")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("infra")
    export_infra(out, PipelineSettings())
    return yaml.safe_load((out / "template.yaml").read_text())


def test_per_file_stays_the_default_and_each_shape_has_its_own_resources(
    template: dict[str, Any],
) -> None:
    shape = template["Parameters"]["TriggerShape"]
    assert (shape["Default"], shape["AllowedValues"]) == ("per-file", ["per-file", "batched"])
    resources = template["Resources"]
    conditions = {name: r.get("Condition") for name, r in resources.items()}
    assert {n for n, c in conditions.items() if c == "PerFileTrigger"} == {
        "StateMachineRole",
        "PipelineStateMachine",
        "EventsRole",
        "InputObjectCreatedRule",
    }
    assert {n for n, c in conditions.items() if c == "BatchedTrigger"} == {
        "InputEventsDeadLetterQueue",
        "InputEventsQueue",
        "InputEventsQueuePolicy",
        "InputObjectQueuedRule",
        "BatchStateMachineRole",
        "BatchPipelineStateMachine",
        "InputBatchPipeRole",
        "InputBatchPipe",
    }
    assert template["Outputs"]["StateMachineArn"]["Value"] == {
        "Fn::If": [
            "BatchedTrigger",
            {"Ref": "BatchPipelineStateMachine"},
            {"Ref": "PipelineStateMachine"},
        ]
    }


def test_uploads_queue_up_and_the_pipe_hands_batches_to_the_batched_state_machine(
    template: dict[str, Any], tmp_path: Path
) -> None:
    resources = template["Resources"]
    queued = resources["InputObjectQueuedRule"]["Properties"]
    created = resources["InputObjectCreatedRule"]["Properties"]
    assert queued["EventPattern"] == created["EventPattern"]  # same uploads, other target
    assert queued["Targets"][0]["Arn"] == {"Fn::GetAtt": ["InputEventsQueue", "Arn"]}
    pipe = resources["InputBatchPipe"]["Properties"]
    assert pipe["Source"] == {"Fn::GetAtt": ["InputEventsQueue", "Arn"]}
    assert pipe["Target"] == {"Ref": "BatchPipelineStateMachine"}
    assert pipe["SourceParameters"]["SqsQueueParameters"] == {
        "BatchSize": {"Ref": "BatchMaxFiles"},
        "MaximumBatchingWindowInSeconds": {"Ref": "BatchWindowSeconds"},
    }
    # Pipes starts a STANDARD workflow only asynchronously (EventBridge Pipes user guide, targets)
    assert pipe["TargetParameters"]["StepFunctionStateMachineParameters"] == {
        "InvocationType": "FIRE_AND_FORGET"
    }
    assert resources["BatchPipelineStateMachine"]["Properties"]["StateMachineType"] == "STANDARD"
    export_infra(tmp_path, PipelineSettings())
    assert resources["BatchPipelineStateMachine"]["Properties"]["Definition"] == json.loads(
        (tmp_path / "step_function_batched.json").read_text()
    )


def test_the_batched_state_machine_may_write_manifests_only(template: dict[str, Any]) -> None:
    per_file = template["Resources"]["StateMachineRole"]["Properties"]["Policies"][0]
    batched = template["Resources"]["BatchStateMachineRole"]["Properties"]["Policies"][0]
    added = [
        s
        for s in batched["PolicyDocument"]["Statement"]
        if s not in per_file["PolicyDocument"]["Statement"]
    ]

    assert added == [
        {
            "Sid": "WriteBatchManifests",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": {
                "Fn::Sub": "arn:${AWS::Partition}:s3:::quality-movie-bucket/glue-assets/batches/*"
            },
        }
    ]
    pipe = template["Resources"]["InputBatchPipeRole"]["Properties"]["Policies"][0]
    actions = {s["Sid"]: s["Action"] for s in pipe["PolicyDocument"]["Statement"]}
    assert actions == {
        "ReadInputEvents": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
        "StartBatch": "states:StartExecution",
        "UseDataKey": ["kms:Decrypt"],
    }
