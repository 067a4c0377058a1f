"""A stand-in for the Redshift Data API behind a real boto3 ``redshift-data`` client.

moto's redshift-data has no BatchExecuteStatement and its statements never finish, so the calls of the
client the warehouse builds are answered here instead: botocore still validates every request (and this
module validates every answer) against the service model, and each call is recorded. COPY reads the
Parquet object from the lake (moto S3), so the rows loaded are those the quality job validated.
"""

import io
import numbers
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from botocore.awsrequest import AWSResponse
from botocore.validate import ParamValidator

COPY_SOURCE = re.compile(r"\bFROM '(s3://[^']+)'")
VIEW_NAME = re.compile(r"MATERIALIZED VIEW (\S+)")


class UnknownStatement(AssertionError):
    """The pipeline sent SQL this stand-in was not written for."""


class RedshiftDataApi:
    """Answers ExecuteStatement, BatchExecuteStatement, DescribeStatement, GetStatementResult and
    CancelStatement. A batch whose statement starts with ``fail_statement`` ends FAILED with ``error``
    and, being one transaction, changes nothing."""

    def __init__(self, s3: Any, fail_statement: str = "", error: str = "") -> None:
        self.s3 = s3
        self.fail_statement = fail_statement
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.statements: dict[str, dict[str, Any]] = {}
        self.results: dict[str, tuple[list[tuple[str, str]], list[list[Any]]]] = {}
        self.rows_by_file: dict[str, pd.DataFrame] = {}
        self.views: set[str] = set()
        self.year_aggregated = pd.DataFrame(
            columns=["released_year", "genre", "movie_count", "avg_imdb_rating"]
        )

    def batches(self) -> list[dict[str, Any]]:
        """The parameters of every BatchExecuteStatement call, in order."""
        return [params for name, params in self.calls if name == "BatchExecuteStatement"]

    def sql_statements(self) -> list[str]:
        """Every SQL text sent, single statements and batch members, in order."""
        found: list[str] = []
        for name, params in self.calls:
            if name == "ExecuteStatement":
                found.append(params["Sql"])
            elif name == "BatchExecuteStatement":
                found.extend(params["Sqls"])
        return found

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        """botocore ``before-parameter-build`` handler: keep the call's API parameters."""
        self.calls.append((model.name, dict(params)))

    def answer(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        """botocore ``before-call`` handler: the response, checked against the operation's output shape."""
        name, params = self.calls[-1]
        if name != model.name:
            raise AssertionError(f"{model.name} answered without its parameters recorded")
        handler = {
            "ExecuteStatement": self._execute,
            "BatchExecuteStatement": self._batch,
            "DescribeStatement": lambda p: self.statements[p["Id"]],
            "GetStatementResult": self._result,
            "CancelStatement": lambda p: {"Status": True},
        }.get(name)
        if handler is None:
            raise UnknownStatement(f"the Redshift stand-in does not answer {name}")
        response = handler(params)
        report = ParamValidator().validate(response, model.output_shape)
        if report.has_errors():
            raise AssertionError(
                f"stand-in answer to {name} breaks the model: {report.generate_report()}"
            )
        return AWSResponse(None, 200, {}, None), {
            **response,
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }

    def _target(self, params: dict[str, Any]) -> dict[str, Any]:
        keys = ("ClusterIdentifier", "WorkgroupName", "Database", "SecretArn", "DbUser")
        return {k: params[k] for k in keys if k in params}

    def _describe(self, params: dict[str, Any], **fields: Any) -> dict[str, Any]:
        now = datetime.now(UTC)
        statement = {
            "Id": str(uuid.uuid4()),
            "CreatedAt": now,
            "UpdatedAt": now,
            "Duration": 1000,
            "HasResultSet": False,
            "ResultRows": -1,
            **self._target(params),
            **fields,
        }
        self.statements[statement["Id"]] = statement
        return statement

    def _execute(self, params: dict[str, Any]) -> dict[str, Any]:
        sql = params["Sql"]
        bound = {p["name"]: p["value"] for p in params.get("Parameters", [])}
        outcome = self._run_single(sql, bound)
        statement = self._describe(
            params,
            QueryString=sql,
            Status="FINISHED",
            HasResultSet=outcome is not None,
            ResultRows=len(outcome[1]) if outcome else 0,
        )
        if outcome is not None:
            self.results[statement["Id"]] = outcome
        return {"Id": statement["Id"], "CreatedAt": statement["CreatedAt"], **self._target(params)}

    def _batch(self, params: dict[str, Any]) -> dict[str, Any]:
        bound = {p["name"]: p["value"] for p in params.get("Parameters", [])}
        working = dict(self.rows_by_file)
        staged: dict[str, pd.DataFrame] = {}
        status, subs = "FINISHED", []
        for sql in params["Sqls"]:
            sub: dict[str, Any] = {"QueryString": sql, "HasResultSet": False, "ResultRows": 0}
            if status != "FINISHED":
                sub["Status"] = "ABORTED"
            elif self.fail_statement and sql.startswith(self.fail_statement):
                sub.update(Status="FAILED", Error=self.error)
                status = "FAILED"
            else:
                sub.update(
                    Status="FINISHED", ResultRows=self._run_in_batch(sql, bound, working, staged)
                )
            subs.append(sub)
        statement = self._describe(
            params,
            QueryString="",
            Status=status,
            SubStatements=subs,
            **({"Error": self.error} if status == "FAILED" else {}),
        )
        for n, sub in enumerate(subs, start=1):
            sub["Id"] = f"{statement['Id']}:{n}"
        if status == "FINISHED":
            self.rows_by_file = working
        return {"Id": statement["Id"], "CreatedAt": statement["CreatedAt"], **self._target(params)}

    def _run_in_batch(
        self,
        sql: str,
        bound: dict[str, str],
        working: dict[str, pd.DataFrame],
        staged: dict[str, pd.DataFrame],
    ) -> int:
        verb = sql.split(None, 1)[0].upper()
        if verb in {"CREATE", "DROP"}:
            return 0
        if verb == "COPY":
            match = COPY_SOURCE.search(sql)
            if match is None:
                raise UnknownStatement(f"COPY without an s3:// source: {sql}")
            bucket, key = match.group(1).removeprefix("s3://").split("/", 1)
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            staged["rows"] = pq.read_table(io.BytesIO(body)).to_pandas()
            return len(staged["rows"])
        if verb == "DELETE":
            removed = working.pop(bound["source_file"], None)
            return 0 if removed is None else len(removed)
        if verb == "INSERT":
            rows = staged["rows"].assign(source_file=bound["source_file"])
            working[bound["source_file"]] = rows
            return len(rows)
        raise UnknownStatement(f"the Redshift stand-in does not run {sql!r} in a batch")

    def _run_single(
        self, sql: str, bound: dict[str, str]
    ) -> tuple[list[tuple[str, str]], list[list[Any]]] | None:
        if "svv_mv_info" in sql:
            name = f"{bound['schema_name']}.{bound['view']}"
            return [("?column?", "int4")], [[1]] if name in self.views else []
        if sql.startswith("CREATE MATERIALIZED VIEW"):
            self.views.add(VIEW_NAME.search(sql).group(1))
            return None
        if sql.startswith("REFRESH MATERIALIZED VIEW"):
            rows = pd.concat(self.rows_by_file.values()) if self.rows_by_file else None
            if rows is not None:
                self.year_aggregated = (
                    rows.groupby(["released_year", "genre"], dropna=False)
                    .agg(
                        movie_count=("imdb_rating", "size"), avg_imdb_rating=("imdb_rating", "mean")
                    )
                    .reset_index()
                )
            return None
        if "GROUP BY source_file" in sql:
            counts = [[f, len(rows)] for f, rows in sorted(self.rows_by_file.items())]
            return [("source_file", "varchar"), ("row_count", "int8")], counts
        if sql.startswith("SELECT * FROM") and "year_aggregated" in sql:
            columns = [
                ("released_year", "varchar"),
                ("genre", "varchar"),
                ("movie_count", "int8"),
                ("avg_imdb_rating", "float8"),
            ]
            return columns, self.year_aggregated.values.tolist()
        raise UnknownStatement(f"the Redshift stand-in does not run {sql!r}")

    def _result(self, params: dict[str, Any]) -> dict[str, Any]:
        columns, rows = self.results[params["Id"]]
        return {
            "ColumnMetadata": [{"name": name, "typeName": type_} for name, type_ in columns],
            "Records": [[_field(value) for value in row] for row in rows],
            "TotalNumRows": len(rows),
        }


def _field(value: Any) -> dict[str, Any]:
    if value is None or (isinstance(value, float) and value != value):
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, numbers.Integral):
        return {"longValue": int(value)}
    if isinstance(value, numbers.Real):
        return {"doubleValue": float(value)}
    return {"stringValue": str(value)}
