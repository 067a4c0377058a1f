"""Why a file was not loaded: its data (the file, its rows, the ruleset) or the environment (a lock, the
network, a throttled or failing service, a job run that died for a reason outside the file).

A data failure is final for the file version until the file changes or ``retry``; an environment failure
leaves the version pending, and the next run (or the sensor, after a backoff) takes it again. A ruleset
that does not load judges no file: every file stays pending until it is fixed.

Raise ``EnvironmentFailure`` (or a subclass) for a fault outside the file; ``failure_kind`` also knows
the library errors that mean one (botocore's throttling, 5xx and connection errors, DuckDB's lock).
"""

import errno
import re
from typing import Any, Literal

Kind = Literal["data", "environment", "ruleset"]
DATA: Kind = "data"
ENVIRONMENT: Kind = "environment"
# The ruleset in force does not load: no file is judged, every file stays pending until it is fixed.
RULESET: Kind = "ruleset"


class EnvironmentFailure(RuntimeError):
    """A failure outside the file (a lock, a service, the network): the file is taken again later."""


# Error codes AWS services answer for throttling, capacity and their own faults (botocore ClientError).
TRANSIENT_AWS_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServiceException",
        "InternalServiceError",
        "OperationTimeoutException",
        "ConcurrentRunsExceededException",
        "ResourceNumberLimitExceededException",
        "ConcurrentModificationException",
        "ActiveStatementsExceededException",
        "ConditionalRequestConflict",
    }
)
# Class names of exceptions that say the network, a lock or a service got in the way (a finished
# Dagster run keeps only the names, in its error records).
TRANSIENT_CLASS_NAMES = frozenset(
    {
        "EnvironmentFailure",
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ConnectTimeoutError",
        "HTTPClientError",  # botocore: a connection dropped mid-request (an endpoint going away)
        "RetriesExceededError",  # s3transfer: a download that kept failing on the network
        "ReadTimeoutError",
        "ProxyConnectionError",
        "ResponseStreamingError",
        "IncompleteReadError",
        "ConnectionError",
        "ConnectionResetError",
        "ConnectionRefusedError",
        "ConnectionAbortedError",
        "BrokenPipeError",
        "TimeoutError",
        "IOException",  # DuckDB: a lock held by another process, a disk error
        "DagsterExecutionInterruptedError",
        "WarehouseUnavailable",
        "LoadMismatch",
        "QualityJobUnavailable",
        "RedshiftStatementUnavailable",
    }
)
TRANSIENT_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EIO,
        errno.EAGAIN,
        errno.EBUSY,
        errno.ETIMEDOUT,
        errno.ECONNRESET,
        errno.ECONNREFUSED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EDQUOT,
    }
)
# Words of a job's own error message (a Glue job run, a Redshift statement) that point outside the file.
TRANSIENT_WORDS = re.compile(
    "|".join(
        (
            r"throttl",
            r"slow ?down",
            r"rate exceeded",
            r"too many requests",
            r"capacity",
            r"resource demands",
            r"resourcenumberlimitexceeded",
            r"concurrentrunsexceeded",
            r"service ?unavailable",
            r"internal ?(server|service) ?error",
            r"timed? ?out",
            r"connection (reset|refused|closed)",
            r"could not connect",
            r"deadlock",
            r"lock (wait )?timeout",
            r"could not obtain lock",
            r"could not serialize",
            r"serializable isolation violation",  # Redshift's error 1023: a conflicting transaction
            r"max(imum)? concurrent runs exceeded",  # a Glue job run FAILED for lack of a run slot
        )
    ),
    re.IGNORECASE,
)
AWS_CODE = re.compile(r"An error occurred \(([\w.]+)\)")
RETRIES_SPENT = re.compile(r"\(reached max retries: \d+\)")


def aws_error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def _transient(error: BaseException) -> bool:
    if isinstance(error, EnvironmentFailure):
        return True
    if any(cls.__name__ in TRANSIENT_CLASS_NAMES for cls in type(error).__mro__):
        return True
    code = aws_error_code(error)
    if code:
        status = getattr(error, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in TRANSIENT_AWS_CODES or (isinstance(status, int) and status >= 500)
    return isinstance(error, OSError) and error.errno in TRANSIENT_ERRNOS


def failure_kind(error: BaseException) -> Kind:
    """``environment`` when the error, or one it was raised from, is a fault outside the file;
    ``data`` otherwise (the failure stays until the file or the ruleset changes)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if _transient(current):
            return ENVIRONMENT
        seen.add(id(current))
        suppressed = current.__suppress_context__  # ``raise ... from None``: the cause was judged
        current = current.__cause__ or (None if suppressed else current.__context__)
    return DATA


def _transient_aws_message(message: str) -> bool:
    """Whether botocore's text of a ClientError names a fault outside the file: a transient code, a
    5xx status standing for the code (a HEAD answer has no body), or retries spent (botocore retries
    only throttling, 5xx and connection errors)."""
    match = AWS_CODE.search(message)
    if match is None:
        return False
    code = match.group(1)
    return (
        code in TRANSIENT_AWS_CODES
        or (code.isdigit() and int(code) >= 500)
        or RETRIES_SPENT.search(message) is not None
    )


def failure_kind_of_record(error: Any) -> Kind:
    """The kind of a failure known only from its record (Dagster's SerializableErrorInfo: class name,
    message, cause), as a finished run keeps it."""
    while error is not None:
        names = {error.cls_name or ""}
        if names & TRANSIENT_CLASS_NAMES or _transient_aws_message(error.message or ""):
            return ENVIRONMENT
        error = error.cause or getattr(error, "context", None)
    return DATA


def transient_message(message: str) -> bool:
    """Whether a service's own error text (a job run, a statement) names a fault outside the file."""
    return bool(TRANSIENT_WORDS.search(message))


WHAT_TO_DO = {
    DATA: (
        "the file (or the ruleset) must change: fix the file and ingest it again, or fix the "
        "ruleset and run `quality-movies retry FILE`"
    ),
    ENVIRONMENT: (
        "the cause was outside the file and did not clear in {attempts} attempt(s): fix it (the "
        "error names it) and run `quality-movies retry FILE`"
    ),
    RULESET: (
        "fix the ruleset at the line and column named; the file stays pending and the next run "
        "takes it"
    ),
}


def what_to_do(kind: Kind, attempts: int = 0) -> str:
    """The advice a final failure of ``kind`` carries in its notification."""
    return WHAT_TO_DO[kind].format(attempts=attempts)
