"""What S3 and the network answer when they fail, as botocore and s3transfer raise it, is an
environment failure (the file is taken again by the next run); a refusal about the object is not."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, HTTPClientError
from s3transfer.exceptions import RetriesExceededError

from quality_movies.runs.faults import DATA, ENVIRONMENT, failure_kind


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
