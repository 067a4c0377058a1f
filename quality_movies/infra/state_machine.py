"""The AWS-side trigger: the EventBridge pattern and the Step Functions state machine (ASL).

An S3 "Object Created" event under the input prefix starts the state machine, which runs the Glue crawler,
waits for it, runs the Glue job on the new file and publishes a success or failure message to SNS.
"""

from typing import Any

from quality_movies.settings import PipelineSettings

TOPIC_ARN_PLACEHOLDER = "${NotificationTopicArn}"
"""Where the ASL takes the SNS topic ARN: a CloudFormation ``DefinitionSubstitutions`` placeholder."""

DEFAULT_CRAWLER_POLL_SECONDS = 15
GLUE_JOB_TIMEOUT_SECONDS = 3 * 60 * 60

RECORD_SOURCE_FILE = "Record Source File"
START_CRAWLER = "Start Crawler"
GET_CRAWLER = "Get Crawler"
CHECK_CRAWLER = "Check Crawler State"
WAIT_FOR_CRAWLER = "Wait For Crawler"
RUN_GLUE_JOB = "Run Glue Job"
CHECK_GLUE_JOB = "Check Glue Job Run State"
NOTIFY_SUCCESS = "Notify Success"
NOTIFY_FAILURE = "Notify Failure"
PIPELINE_FAILED = "Pipeline Failed"

SUCCESS_SUBJECT = "quality_movies pipeline succeeded"
FAILURE_SUBJECT = "quality_movies pipeline failed"

GLUE_TRANSIENT_ERRORS = [
    "Glue.ThrottlingException",
    "Glue.OperationTimeoutException",
    "Glue.InternalServiceException",
]
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
    if crawler_poll_seconds < 1:
        raise ValueError(f"crawler_poll_seconds must be at least 1, got {crawler_poll_seconds}")
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
            "Default": RUN_GLUE_JOB,
        },
        WAIT_FOR_CRAWLER: {
            "Type": "Wait",
            "Seconds": crawler_poll_seconds,
            "Next": GET_CRAWLER,
        },
        RUN_GLUE_JOB: {
            "Type": "Task",
            "Comment": "Runs until the job ends; retried while other uploads hold every concurrent run.",
            "Resource": "arn:aws:states:::glue:startJobRun.sync",
            "Parameters": {
                "JobName": settings.glue_job_name,
                "Arguments": {
                    "--source_bucket.$": "$.source.bucket",
                    "--source_key.$": "$.source.key",
                },
            },
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
                    "Next": NOTIFY_SUCCESS,
                }
            ],
            "Default": failure_state_name(CHECK_GLUE_JOB),
        },
        NOTIFY_SUCCESS: {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": topic_arn,
                "Subject": SUCCESS_SUBJECT,
                "Message": {
                    "status": "SUCCEEDED",
                    "source": source,
                    "glue_job_run_id.$": "$.job_run.Id",
                    "execution.$": "$$.Execution.Id",
                },
            },
            "ResultPath": None,
            "OutputPath": "$.source",
            "Retry": _retry(SNS_TRANSIENT_ERRORS),
            "Catch": [_catch_all(NOTIFY_SUCCESS)],
            "End": True,
        },
        failure_state_name(START_CRAWLER): _record_failure(START_CRAWLER, "$.error"),
        failure_state_name(GET_CRAWLER): _record_failure(GET_CRAWLER, "$.error"),
        failure_state_name(CHECK_CRAWLER): _record_failure(
            CHECK_CRAWLER,
            {
                "Error": "Glue.CrawlFailed",
                "Cause": f"The last crawl of {settings.crawler_name} did not succeed.",
            },
        ),
        failure_state_name(RUN_GLUE_JOB): _record_failure(RUN_GLUE_JOB, "$.error"),
        failure_state_name(CHECK_GLUE_JOB): _record_failure(
            CHECK_GLUE_JOB,
            {
                "Error": "Glue.JobRunNotSucceeded",
                "Cause": f"The run of {settings.glue_job_name} ended without SUCCEEDED.",
            },
        ),
        failure_state_name(NOTIFY_SUCCESS): _record_failure(NOTIFY_SUCCESS, "$.error"),
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
    return {
        "Comment": (
            f"quality_movies: crawl s3://{settings.bucket}/{settings.input_prefix}, run Glue job "
            f"{settings.glue_job_name} on the new file, notify through SNS."
        ),
        "StartAt": RECORD_SOURCE_FILE,
        "States": states,
    }
