"""What S3 and the network answer when they fail, as botocore and s3transfer raise it, is an
environment failure (the file is taken again by the next run); a refusal about the object is not."""

from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, HTTPClientError
from s3transfer.exceptions import RetriesExceededError

from quality_movies.faults import DATA, ENVIRONMENT, failure_kind, failure_kind_of_record


def s3_error(code: str, status: int, operation: str = "GetObject") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": ""}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (s3_error("SlowDown", 503), ENVIRONMENT),
        (s3_error("InternalError", 500), ENVIRONMENT),
        (s3_error("503", 503, "HeadObject"), ENVIRONMENT),  # a HEAD answer has no body, no code
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1/bucket/key"), ENVIRONMENT),
        (HTTPClientError(error="('Connection aborted.', RemoteDisconnected())"), ENVIRONMENT),
        (
            RetriesExceededError(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")),
            ENVIRONMENT,
        ),
        (s3_error("NoSuchKey", 404), DATA),
    ],
    ids=[
        "slow-down",
        "internal-error",
        "head-503",
        "refused",
        "dropped",
        "retries-spent",
        "no-such-key",
    ],
)
def test_s3_and_network_failures_are_judged_by_what_failed(error: Exception, kind: str) -> None:
    assert failure_kind(error) == kind


def record(cls_name: str, message: str) -> SimpleNamespace:
    """What a finished run keeps of an error: class name, message, no cause."""
    return SimpleNamespace(cls_name=cls_name, message=message, cause=None, context=None)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        # botocore's own texts: a HEAD answer has no body, its code is the status
        (
            "An error occurred (500) when calling the HeadObject operation (reached max retries: "
            "4): Internal Server Error",
            ENVIRONMENT,
        ),
        (
            "An error occurred (503) when calling the HeadObject operation: Service Unavailable",
            ENVIRONMENT,
        ),
        (
            "An error occurred (NoSuchKey) when calling the GetObject operation: The specified key "
            "does not exist.",
            DATA,
        ),
        ("An error occurred (404) when calling the HeadObject operation: Not Found", DATA),
    ],
    ids=["head-500-retries-spent", "head-503", "no-such-key", "head-404"],
)
def test_a_finished_runs_s3_error_is_judged_by_its_status(message: str, kind: str) -> None:
    assert failure_kind_of_record(record("ClientError", message)) == kind
