"""A Redshift statement that failed is judged where it failed: the data's fault (a value, a Parquet
schema) stays final; a conflict with another transaction or a cancelled statement is the environment's,
and the file is taken again by the next run (issue 22)."""

import pytest

from quality_movies.faults import DATA, ENVIRONMENT, failure_kind
from quality_movies.warehouse.resources import (
    RedshiftStatementError,
    RedshiftStatementUnavailable,
)
from quality_movies_tests.aws.test_redshift_warehouse import (  # noqa: F401 (data_api is a fixture)
    DataApi,
    data_api,
    make_warehouse,
    statement_id,
)

# Redshift's own texts: error 1023 (Amazon Redshift docs, "Serializable isolation") and a COPY of a
# value its column cannot take.
SERIALIZATION_CONFLICT = (
    "ERROR: 1023 DETAIL: Serializable isolation violation on table - 108734, transactions forming "
    "the cycle are: 6523, 6524 (pid:1234)"
)
BAD_VALUE = "Invalid digit, Value 'e', Pos 0, Type: Double"


@pytest.mark.parametrize(
    ("status", "error", "raised", "kind"),
    [
        ("FAILED", SERIALIZATION_CONFLICT, RedshiftStatementUnavailable, ENVIRONMENT),
        (
            "ABORTED",
            "Query (6525) cancelled on user's request",
            RedshiftStatementUnavailable,
            ENVIRONMENT,
        ),
        ("FAILED", BAD_VALUE, RedshiftStatementError, DATA),
    ],
)
def test_a_failed_statement_is_judged_by_redshifts_error(
    data_api: DataApi,  # noqa: F811 (the fixture imported above)
    status: str,
    error: str,
    raised: type,
    kind: str,  # noqa: F811
) -> None:
    statement = statement_id()
    data_api.stubber.add_response("execute_statement", {"Id": statement})
    data_api.stubber.add_response(
        "describe_statement",
        {"Id": statement, "Status": status, "Error": error, "QueryString": "INSERT INTO x"},
    )

    with pytest.raises(RedshiftStatementError) as failure:
        make_warehouse().execute("INSERT INTO x SELECT 1")

    assert type(failure.value) is raised
    assert failure_kind(failure.value) == kind
    assert error in str(failure.value)
