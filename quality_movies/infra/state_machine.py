"""The AWS-side trigger: the EventBridge pattern and the Step Functions state machines (ASL).

Per file (the seed's shape): an S3 "Object Created" event under the input prefix starts the state
machine, which runs the Glue crawler, waits for it and runs the Glue job on the new file with
``--pipeline true``. Batched: the events queue up in SQS, an EventBridge Pipe hands the batched state
machine a list of them, and it crawls once and runs the Glue job once for the batch.

The job does the whole pipeline (quality_movies.aws_pipeline): it claims, evaluates, loads, records,
settles and announces each file itself, as the Dagster path does. The state machine announces only
what the job could not: a failure of the execution as a whole (a failed crawl, a job run that failed,
stopped or never started), once, with the step and the cause.
"""

from typing import Any

from quality_movies.settings import PipelineSettings

TOPIC_ARN_PLACEHOLDER = "${NotificationTopicArn}"
"""Where the ASL takes the SNS topic ARN: a CloudFormation ``DefinitionSubstitutions`` placeholder."""
RULESET_FILE = "ruleset.dqdl"
"""The ruleset in force, beside the job's script under the Glue assets prefix (``glue-package``)."""
REPORT_FOLDER = "reports/"
EXECUTION_URL = "https://console.aws.amazon.com/states/home#/v2/executions/details/{}"

DEFAULT_CRAWLER_POLL_SECONDS = 15
GLUE_JOB_TIMEOUT_SECONDS = 3 * 60 * 60

RECORD_SOURCE_FILE = "Record Source File"
START_CRAWLER = "Start Crawler"
GET_CRAWLER = "Get Crawler"
CHECK_CRAWLER = "Check Crawler State"
WAIT_FOR_CRAWLER = "Wait For Crawler"
RUN_GLUE_JOB = "Run Glue Job"
CHECK_GLUE_JOB = "Check Glue Job Run State"
PIPELINE_SUCCEEDED = "Pipeline Succeeded"
NOTIFY_FAILURE = "Notify Failure"
PIPELINE_FAILED = "Pipeline Failed"

FAILURE_SUBJECT = "quality_movies pipeline failed"

GLUE_TRANSIENT_ERRORS = [
    "Glue.ThrottlingException",
    "Glue.OperationTimeoutException",
    "Glue.InternalServiceException",
]
# S3 models no exception for its 503 SlowDown or 500 InternalError: they come as S3.S3Exception (a
# permanent error such as AccessDenied then is retried too, delaying its notification by minutes)
S3_TRANSIENT_ERRORS = ["S3.S3Exception"]
SNS_TRANSIENT_ERRORS = [
    "SNS.ThrottledException",
    "SNS.ThrottlingException",
    "SNS.InternalErrorException",
]


def failure_state_name(step: str) -> str:
    """Name of the Pass state that records ``step`` as the failed step before the failure message."""
    return f"{step} Failed"


def event_pattern(settings: PipelineSettings) -> dict[str, Any]:
    """EventBridge pattern: S3 "Object Created" in the bucket, keys under the input prefix only.

    Outputs go to other prefixes of the same bucket (bad records, rule outcomes, validated rows), so a
    prefix match on the key keeps the pipeline from re-triggering itself.
    """
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [settings.bucket]},
            "object": {"key": [{"prefix": settings.input_prefix}]},
        },
    }


def _retry(errors: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "ErrorEquals": errors,
            "IntervalSeconds": 2,
            "MaxAttempts": 6,
            "BackoffRate": 2.0,
            "JitterStrategy": "FULL",
        }
    ]


def _catch_all(step: str) -> dict[str, Any]:
    return {
        "ErrorEquals": ["States.ALL"],
        "ResultPath": "$.error",
        "Next": failure_state_name(step),
    }


def _record_failure(step: str, error: dict[str, Any] | str) -> dict[str, Any]:
    """Pass state that names the failed step; ``error`` is a static error or the path of a caught one."""
    parameters: dict[str, Any] = {"step": step}
    if isinstance(error, str):
        parameters["error.$"] = error
    else:
        parameters["error"] = error
    return {
        "Type": "Pass",
        "Parameters": parameters,
        "ResultPath": "$.failure",
        "Next": NOTIFY_FAILURE,
    }


def _crawler_states(
    settings: PipelineSettings, crawler_poll_seconds: int, then: str
) -> dict[str, Any]:
    """Start the crawler (or wait for the one already running), poll it, go to ``then`` once it has
    crawled; a failed or cancelled crawl goes to its failure state."""
    if crawler_poll_seconds < 1:
        raise ValueError(f"crawler_poll_seconds must be at least 1, got {crawler_poll_seconds}")
    return {
        START_CRAWLER: {
            "Type": "Task",
            "Comment": "A crawler already running for another upload is waited for, not an error.",
            "Resource": "arn:aws:states:::aws-sdk:glue:startCrawler",
            "Parameters": {"Name": settings.crawler_name},
            "ResultPath": None,
            "Retry": _retry(GLUE_TRANSIENT_ERRORS),
            "Catch": [
                {
                    "ErrorEquals": ["Glue.CrawlerRunningException"],
                    "ResultPath": None,
                    "Next": WAIT_FOR_CRAWLER,
                },
                _catch_all(START_CRAWLER),
            ],
            "Next": GET_CRAWLER,
        },
        GET_CRAWLER: {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:glue:getCrawler",
            "Parameters": {"Name": settings.crawler_name},
            "ResultSelector": {"Crawler.$": "$.Crawler"},
            "ResultPath": "$.crawler",
            "Retry": _retry(GLUE_TRANSIENT_ERRORS),
            "Catch": [_catch_all(GET_CRAWLER)],
            "Next": CHECK_CRAWLER,
        },
        CHECK_CRAWLER: {
            "Type": "Choice",
            "Choices": [
                {
                    "Or": [
                        {"Variable": "$.crawler.Crawler.State", "StringEquals": "RUNNING"},
                        {"Variable": "$.crawler.Crawler.State", "StringEquals": "STOPPING"},
                    ],
                    "Next": WAIT_FOR_CRAWLER,
                },
                {
                    "And": [
                        {"Variable": "$.crawler.Crawler.LastCrawl.Status", "IsPresent": True},
                        {
                            "Or": [
                                {
                                    "Variable": "$.crawler.Crawler.LastCrawl.Status",
                                    "StringEquals": "FAILED",
                                },
                                {
                                    "Variable": "$.crawler.Crawler.LastCrawl.Status",
                                    "StringEquals": "CANCELLED",
                                },
                            ]
                        },
                    ],
                    "Next": failure_state_name(CHECK_CRAWLER),
                },
            ],
            "Default": then,
        },
        WAIT_FOR_CRAWLER: {
            "Type": "Wait",
            "Seconds": crawler_poll_seconds,
            "Next": GET_CRAWLER,
        },
    }


def ruleset_uri(settings: PipelineSettings) -> str:
    """Where the job reads the ruleset in force (``glue-package --upload`` puts it there)."""
    return f"s3://{settings.bucket}/{settings.glue_assets_prefix}{RULESET_FILE}"


def report_prefix(settings: PipelineSettings) -> str:
    """Where each job run started by the state machine leaves its report (one per execution)."""
    return f"{settings.glue_assets_prefix}{REPORT_FOLDER}"


def pipeline_arguments(settings: PipelineSettings, topic_arn: str) -> dict[str, str]:
    """The job arguments of the whole pipeline (quality_movies.aws_pipeline): the execution as the
    run (its ledger owner, the run of its messages, its report), the ruleset in force and the topic.
    The Redshift target and COPY role are the job's default arguments in the stack."""
    return {
        "--pipeline": "true",
        "--run_id.$": "$$.Execution.Name",
        "--run_url.$": f"States.Format('{EXECUTION_URL}', $$.Execution.Id)",
        "--report_key.$": f"States.Format('{report_prefix(settings)}{{}}.json', $$.Execution.Name)",
        "--ruleset_uri": ruleset_uri(settings),
        "--sns_topic_arn": topic_arn,
    }


def _glue_job_states(settings: PipelineSettings, arguments: dict[str, str], then: str) -> dict:
    """Run the Glue job with ``arguments`` until it ends; go to ``then`` when it SUCCEEDED."""
    return {
        RUN_GLUE_JOB: {
            "Type": "Task",
            "Comment": (
                "Runs until the job ends (it loads and announces each file itself); retried while "
                "other uploads hold every concurrent run."
            ),
            "Resource": "arn:aws:states:::glue:startJobRun.sync",
            "Parameters": {"JobName": settings.glue_job_name, "Arguments": arguments},
            "TimeoutSeconds": GLUE_JOB_TIMEOUT_SECONDS,
            "ResultSelector": {
                "Id.$": "$.Id",
                "JobName.$": "$.JobName",
                "JobRunState.$": "$.JobRunState",
            },
            "ResultPath": "$.job_run",
            "Retry": [
                *_retry(GLUE_TRANSIENT_ERRORS),
                {
                    "ErrorEquals": ["Glue.ConcurrentRunsExceededException"],
                    "IntervalSeconds": 60,
                    "MaxAttempts": 12,
                    "BackoffRate": 1.5,
                    "MaxDelaySeconds": 600,
                    "JitterStrategy": "FULL",
                },
            ],
            "Catch": [_catch_all(RUN_GLUE_JOB)],
            "Next": CHECK_GLUE_JOB,
        },
        CHECK_GLUE_JOB: {
            "Type": "Choice",
            "Choices": [
                {
                    "Variable": "$.job_run.JobRunState",
                    "StringEquals": "SUCCEEDED",
                    "Next": then,
                }
            ],
            "Default": failure_state_name(CHECK_GLUE_JOB),
        },
    }


def _succeeded(output_path: str = "$.source") -> dict[str, Any]:
    """The end of a run that succeeded: the job announced each file, nothing more to send."""
    return {
        PIPELINE_SUCCEEDED: {
            "Type": "Pass",
            "Comment": "The job run announced each file of the run itself (one SNS message per file).",
            "OutputPath": output_path,
            "End": True,
        }
    }


def _failure_states(
    settings: PipelineSettings, topic_arn: str, source: dict[str, Any], caught: list[str]
) -> dict[str, Any]:
    """The failure record of each step in ``caught`` (and of the crawl and job checks), the failure
    notification (the execution's only message: the job announces the files it settled), and the
    Fail state."""
    checks = {
        CHECK_CRAWLER: {
            "Error": "Glue.CrawlFailed",
            "Cause": f"The last crawl of {settings.crawler_name} did not succeed.",
        },
        CHECK_GLUE_JOB: {
            "Error": "Glue.JobRunNotSucceeded",
            "Cause": f"The run of {settings.glue_job_name} ended without SUCCEEDED.",
        },
    }
    return {
        **{
            failure_state_name(step): _record_failure(step, checks.get(step, "$.error"))
            for step in caught
        },
        NOTIFY_FAILURE: {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": topic_arn,
                "Subject": FAILURE_SUBJECT,
                "Message": {
                    "status": "FAILED",
                    "source": source,
                    "failed_step.$": "$.failure.step",
                    "error.$": "$.failure.error",
                    "execution.$": "$$.Execution.Id",
                },
            },
            "ResultPath": None,
            "Retry": _retry(SNS_TRANSIENT_ERRORS),
            "Catch": [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": PIPELINE_FAILED}
            ],
            "Next": PIPELINE_FAILED,
        },
        PIPELINE_FAILED: {
            "Type": "Fail",
            "Error": "QualityMovies.PipelineFailed",
            "Cause": "A step of the pipeline failed; the failure notification names it.",
        },
    }


PIPELINE_STEPS = [START_CRAWLER, GET_CRAWLER, CHECK_CRAWLER, RUN_GLUE_JOB, CHECK_GLUE_JOB]


def state_machine_definition(
    settings: PipelineSettings,
    *,
    topic_arn: str = TOPIC_ARN_PLACEHOLDER,
    crawler_poll_seconds: int = DEFAULT_CRAWLER_POLL_SECONDS,
) -> dict[str, Any]:
    """The ASL of the pipeline for the names in ``settings``.

    Input is the EventBridge S3 event; its bucket and key are kept under ``$.source`` for the job
    arguments and both notifications. Every failure lands in ``Notify Failure`` with ``$.failure.step``
    naming the step that failed and ``$.failure.error`` what went wrong.
    """
    source = {
        "bucket.$": "$.source.bucket",
        "key.$": "$.source.key",
    }
    states: dict[str, Any] = {
        RECORD_SOURCE_FILE: {
            "Type": "Pass",
            "Comment": "Keep the uploaded object's bucket and key for the job and the notifications.",
            "Parameters": {
                "bucket.$": "$.detail.bucket.name",
                "key.$": "$.detail.object.key",
            },
            "ResultPath": "$.source",
            "Next": START_CRAWLER,
        },
        **_crawler_states(settings, crawler_poll_seconds, then=RUN_GLUE_JOB),
        **_glue_job_states(
            settings,
            {
                "--source_bucket.$": "$.source.bucket",
                "--source_key.$": "$.source.key",
                **pipeline_arguments(settings, topic_arn),
            },
            then=PIPELINE_SUCCEEDED,
        ),
        **_succeeded(),
        **_failure_states(settings, topic_arn, source, PIPELINE_STEPS),
    }
    return {
        "Comment": (
            f"quality_movies: crawl s3://{settings.bucket}/{settings.input_prefix}, run Glue job "
            f"{settings.glue_job_name} on the new file (it loads and announces it); a failed "
            "execution is announced through SNS."
        ),
        "StartAt": RECORD_SOURCE_FILE,
        "States": states,
    }


KEEP_BATCH_RECORDS = "Keep Batch Records"
LIST_BATCH_KEYS = "List Batch Keys"
LIST_BATCH_FILES = "List Batch Files"
NAME_BATCH_MANIFEST = "Name Batch Manifest"
WRITE_BATCH_MANIFEST = "Write Batch Manifest"
BATCH_MANIFEST_FOLDER = "batches/"


def _inline(name: str, state: dict[str, Any]) -> dict[str, Any]:
    """The item processor of an inline Map: one state (its name unique in the whole machine)."""
    return {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": name, "States": {name: state}}


def batch_manifest_prefix(settings: PipelineSettings) -> str:
    """Where the batched state machine writes each batch's manifest (one object per execution), under
    the Glue assets the job already reads."""
    return f"{settings.glue_assets_prefix}{BATCH_MANIFEST_FOLDER}"


def batch_state_machine_definition(
    settings: PipelineSettings,
    *,
    topic_arn: str = TOPIC_ARN_PLACEHOLDER,
    crawler_poll_seconds: int = DEFAULT_CRAWLER_POLL_SECONDS,
) -> dict[str, Any]:
    """The ASL of the batched trigger: the input is the list of SQS messages an EventBridge Pipe
    hands over after its batching window, each message the EventBridge S3 event of one upload.

    The state machine lists the batch's input keys (each once), writes the Glue job's manifest
    (``{"files": [{"source_key": ...}, ...]}``) to S3, crawls once, runs the Glue job once with
    ``--manifest_uri`` and the pipeline's arguments; the job announces each file, the state machine
    only a failure of the execution.
    """
    manifest_prefix = batch_manifest_prefix(settings)
    source = {"bucket": settings.bucket, "files.$": "$.batch.files"}
    states: dict[str, Any] = {
        KEEP_BATCH_RECORDS: {
            "Type": "Pass",
            "Comment": "The pipe's input is a list of SQS messages; keep it beside the batch's state.",
            "Parameters": {"records.$": "$", "batch": {"files": []}},
            "Next": LIST_BATCH_KEYS,
        },
        LIST_BATCH_KEYS: {
            "Type": "Map",
            "Comment": "Each message body is the EventBridge S3 event of one upload.",
            "ItemsPath": "$.records",
            "ItemSelector": {"event.$": "States.StringToJson($$.Map.Item.Value.body)"},
            "ItemProcessor": _inline(
                "Batch Key",
                {"Type": "Pass", "OutputPath": "$.event.detail.object.key", "End": True},
            ),
            "ResultSelector": {"keys.$": "States.ArrayUnique($)", "files": []},
            "ResultPath": "$.batch",
            "Catch": [_catch_all(LIST_BATCH_KEYS)],
            "Next": LIST_BATCH_FILES,
        },
        LIST_BATCH_FILES: {
            "Type": "Map",
            "Comment": "Each input key once, as the Glue job's manifest lists a file.",
            "ItemsPath": "$.batch.keys",
            "ItemSelector": {"source_key.$": "$$.Map.Item.Value"},
            "ItemProcessor": _inline("Batch File", {"Type": "Pass", "End": True}),
            "ResultSelector": {"files.$": "$"},
            "ResultPath": "$.batch",
            "Catch": [_catch_all(LIST_BATCH_FILES)],
            "Next": NAME_BATCH_MANIFEST,
        },
        NAME_BATCH_MANIFEST: {
            "Type": "Pass",
            "Comment": "One manifest per execution, named after it.",
            "Parameters": {
                "bucket": settings.bucket,
                "key.$": f"States.Format('{manifest_prefix}{{}}.json', $$.Execution.Name)",
                "uri.$": (
                    f"States.Format('s3://{settings.bucket}/{manifest_prefix}{{}}.json', "
                    "$$.Execution.Name)"
                ),
            },
            "ResultPath": "$.manifest",
            "Next": WRITE_BATCH_MANIFEST,
        },
        WRITE_BATCH_MANIFEST: {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:s3:putObject",
            "Parameters": {
                "Bucket.$": "$.manifest.bucket",
                "Key.$": "$.manifest.key",
                "Body.$": "States.JsonToString($.batch)",
                "ContentType": "application/json",
            },
            "ResultPath": None,
            "Retry": _retry(S3_TRANSIENT_ERRORS),
            "Catch": [_catch_all(WRITE_BATCH_MANIFEST)],
            "Next": START_CRAWLER,
        },
        **_crawler_states(settings, crawler_poll_seconds, then=RUN_GLUE_JOB),
        **_glue_job_states(
            settings,
            {"--manifest_uri.$": "$.manifest.uri", **pipeline_arguments(settings, topic_arn)},
            then=PIPELINE_SUCCEEDED,
        ),
        **_succeeded(output_path="$.batch"),
        **_failure_states(
            settings,
            topic_arn,
            source,
            [LIST_BATCH_KEYS, LIST_BATCH_FILES, WRITE_BATCH_MANIFEST, *PIPELINE_STEPS],
        ),
    }
    return {
        "Comment": (
            f"quality_movies, batched: crawl s3://{settings.bucket}/{settings.input_prefix} once, "
            f"run Glue job {settings.glue_job_name} once on the batch's files (it loads and "
            "announces each); a failed execution is announced through SNS."
        ),
        "StartAt": KEEP_BATCH_RECORDS,
        "States": states,
    }
