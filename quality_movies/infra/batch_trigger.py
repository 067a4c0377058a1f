"""The batched trigger of the stack (parameter ``TriggerShape=batched``): S3 events queue up in SQS, an
EventBridge Pipe hands the batched state machine a list of them after its batching window, and the
state machine crawls once and runs the Glue job once per batch (the job loads and announces each file).

The per-file trigger (the seed's shape, an EventBridge rule starting one execution per upload) stays the
default; each shape's resources carry a Condition, so a stack has exactly one of them.
"""

import copy
from typing import Any

from quality_movies.infra.cfn import arn, bucket_arn, equals, if_, ref, role, sub
from quality_movies.infra.security import DATA_KEY, use_data_key
from quality_movies.infra.state_machine import (
    TOPIC_ARN_PLACEHOLDER,
    batch_manifest_prefix,
    batch_state_machine_definition,
    event_pattern,
)
from quality_movies.settings import PipelineSettings

TRIGGER_SHAPE = "TriggerShape"
PER_FILE = "per-file"
BATCHED = "batched"
BATCHED_TRIGGER = "BatchedTrigger"
PER_FILE_TRIGGER = "PerFileTrigger"
PER_FILE_RESOURCES = [
    "StateMachineRole",
    "PipelineStateMachine",
    "EventsRole",
    "InputObjectCreatedRule",
]
EVENTS_QUEUE = "InputEventsQueue"
DEAD_LETTER_QUEUE = "InputEventsDeadLetterQueue"
QUEUED_RULE = "InputObjectQueuedRule"
BATCH_STATE_MACHINE = "BatchPipelineStateMachine"
BATCH_STATE_MACHINE_ROLE = "BatchStateMachineRole"
PIPE = "InputBatchPipe"
PIPE_ROLE = "InputBatchPipeRole"
DEFAULT_BATCH_WINDOW_SECONDS = 60
DEFAULT_BATCH_MAX_FILES = 100


def queued_rule_name(settings: PipelineSettings) -> str:
    return f"{settings.state_machine_name}-input-object-queued"


def pipe_name(settings: PipelineSettings) -> str:
    return f"{settings.state_machine_name}-input-batches"


def batched_trigger_parameters() -> dict[str, Any]:
    return {
        TRIGGER_SHAPE: {
            "Type": "String",
            "Default": PER_FILE,
            "AllowedValues": [PER_FILE, BATCHED],
            "Description": (
                "per-file: each upload starts the state machine for its file (crawl, job run). "
                "batched: uploads queue up in SQS and an EventBridge Pipe starts the batched state "
                "machine for a batch of them (one crawl, one job run). The job announces each file."
            ),
        },
        "BatchWindowSeconds": {
            "Type": "Number",
            "Default": DEFAULT_BATCH_WINDOW_SECONDS,
            "MinValue": 1,
            "MaxValue": 300,
            "Description": "batched: seconds the pipe gathers uploads before it starts a batch.",
        },
        "BatchMaxFiles": {
            "Type": "Number",
            "Default": DEFAULT_BATCH_MAX_FILES,
            "MinValue": 1,
            "MaxValue": 10000,
            "Description": "batched: at most this many uploads per batch (a longer backlog: more batches).",
        },
    }


def batched_trigger_conditions() -> dict[str, Any]:
    return {
        BATCHED_TRIGGER: equals(TRIGGER_SHAPE, BATCHED),
        PER_FILE_TRIGGER: {"Fn::Not": [{"Condition": BATCHED_TRIGGER}]},
    }


def _queue(name: str, **properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::SQS::Queue",
        "Condition": BATCHED_TRIGGER,
        "Properties": {"QueueName": name, "KmsMasterKeyId": ref(DATA_KEY), **properties},
    }


def batched_trigger_resources(
    settings: PipelineSettings, per_file: dict[str, Any], crawler_poll_seconds: int
) -> dict[str, Any]:
    """The queue, its rule, the pipe and the batched state machine; the state machine and its role are
    the per-file ones (``per_file``: the stack's resources) with the batched definition and one more
    permission, writing the batch manifests."""
    state_machine = copy.deepcopy(per_file["PipelineStateMachine"])
    state_machine["Condition"] = BATCHED_TRIGGER
    state_machine["Properties"]["Definition"] = batch_state_machine_definition(
        settings, topic_arn=TOPIC_ARN_PLACEHOLDER, crawler_poll_seconds=crawler_poll_seconds
    )
    state_machine["Properties"]["RoleArn"] = arn(BATCH_STATE_MACHINE_ROLE)
    state_machine_role = copy.deepcopy(per_file["StateMachineRole"])
    state_machine_role["Condition"] = BATCHED_TRIGGER
    state_machine_role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {
            "Sid": "WriteBatchManifests",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": bucket_arn(settings, batch_manifest_prefix(settings), objects=True),
        }
    )
    pipe_role = role(
        "pipes.amazonaws.com",
        "hand-batches-to-the-state-machine",
        [
            {
                "Sid": "ReadInputEvents",
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                "Resource": arn(EVENTS_QUEUE),
            },
            {
                "Sid": "StartBatch",
                "Effect": "Allow",
                "Action": "states:StartExecution",
                "Resource": ref(BATCH_STATE_MACHINE),
            },
            use_data_key("kms:Decrypt"),
        ],
    )
    pipe_role["Condition"] = BATCHED_TRIGGER
    return {
        DEAD_LETTER_QUEUE: _queue(
            f"{settings.state_machine_name}-input-events-dlq", MessageRetentionPeriod=1209600
        ),
        EVENTS_QUEUE: _queue(
            f"{settings.state_machine_name}-input-events",
            MessageRetentionPeriod=345600,
            VisibilityTimeout=60,
            RedrivePolicy={"deadLetterTargetArn": arn(DEAD_LETTER_QUEUE), "maxReceiveCount": 5},
        ),
        "InputEventsQueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Condition": BATCHED_TRIGGER,
            "Properties": {
                "Queues": [ref(EVENTS_QUEUE)],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "TheRuleQueuesInputEvents",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": arn(EVENTS_QUEUE),
                            "Condition": {"ArnEquals": {"aws:SourceArn": arn(QUEUED_RULE)}},
                        }
                    ],
                },
            },
        },
        QUEUED_RULE: {
            "Type": "AWS::Events::Rule",
            "Condition": BATCHED_TRIGGER,
            "Properties": {
                "Name": queued_rule_name(settings),
                "Description": (
                    f"Queue objects created under s3://{settings.bucket}/{settings.input_prefix} "
                    "for the batched state machine"
                ),
                "State": "ENABLED",
                "EventPattern": event_pattern(settings),
                "Targets": [
                    {
                        "Id": EVENTS_QUEUE,
                        "Arn": arn(EVENTS_QUEUE),
                        "RetryPolicy": {
                            "MaximumEventAgeInSeconds": 3600,
                            "MaximumRetryAttempts": 10,
                        },
                    }
                ],
            },
        },
        BATCH_STATE_MACHINE_ROLE: state_machine_role,
        BATCH_STATE_MACHINE: state_machine,
        PIPE_ROLE: pipe_role,
        PIPE: {
            "Type": "AWS::Pipes::Pipe",
            "Condition": BATCHED_TRIGGER,
            "Properties": {
                "Name": pipe_name(settings),
                "Description": "Hands the batched state machine the uploads of each batching window.",
                "DesiredState": "RUNNING",
                "RoleArn": arn(PIPE_ROLE),
                "Source": arn(EVENTS_QUEUE),
                "SourceParameters": {
                    "SqsQueueParameters": {
                        "BatchSize": ref("BatchMaxFiles"),
                        "MaximumBatchingWindowInSeconds": ref("BatchWindowSeconds"),
                    }
                },
                "Target": ref(BATCH_STATE_MACHINE),
                "TargetParameters": {
                    # a STANDARD workflow is started asynchronously (Pipes' only choice for it)
                    "StepFunctionStateMachineParameters": {"InvocationType": "FIRE_AND_FORGET"}
                },
            },
        },
    }


def _queued_rule_arn(settings: PipelineSettings) -> dict[str, str]:
    """The rule's ARN from its name (a GetAtt would make the key depend on the rule, and the rule
    on the key through the queue)."""
    return sub(
        "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
        f"{queued_rule_name(settings)}"
    )


def _rule_queues_with_the_key(settings: PipelineSettings) -> dict[str, Any]:
    """Key policy statement: the queue is encrypted with the stack's key, so EventBridge needs it to
    send the rule's events there (the rule exists only in the batched shape; the statement names it
    only, so it grants nothing in the per-file shape)."""
    return {
        "Sid": "EventBridgeQueuesInputEvents",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": "*",
        "Condition": {"ArnEquals": {"aws:SourceArn": _queued_rule_arn(settings)}},
    }


def with_trigger_shapes(
    template: dict[str, Any], settings: PipelineSettings, crawler_poll_seconds: int
) -> dict[str, Any]:
    """``template`` (the per-file stack) with the trigger shape as a parameter: the per-file
    resources get the PerFileTrigger condition, the batched ones are added under BatchedTrigger, and
    the StateMachineArn output names whichever exists."""
    resources = copy.deepcopy(template["Resources"])
    batched = batched_trigger_resources(settings, resources, crawler_poll_seconds)
    for name in PER_FILE_RESOURCES:
        resources[name] = {**resources[name], "Condition": PER_FILE_TRIGGER}
    resources[DATA_KEY]["Properties"]["KeyPolicy"]["Statement"].append(
        _rule_queues_with_the_key(settings)
    )
    return {
        **template,
        "Parameters": {**template["Parameters"], **batched_trigger_parameters()},
        "Conditions": {**template["Conditions"], **batched_trigger_conditions()},
        "Resources": {**resources, **batched},
        "Outputs": {
            **template["Outputs"],
            "StateMachineArn": {
                "Value": if_(BATCHED_TRIGGER, ref(BATCH_STATE_MACHINE), ref("PipelineStateMachine"))
            },
            "InputEventsQueueUrl": {"Condition": BATCHED_TRIGGER, "Value": ref(EVENTS_QUEUE)},
            "InputBatchPipeName": {"Condition": BATCHED_TRIGGER, "Value": ref(PIPE)},
        },
    }
