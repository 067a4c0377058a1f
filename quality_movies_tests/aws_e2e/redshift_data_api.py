"""A stand-in for the Redshift Data API behind a real boto3 ``redshift-data`` client.

moto's redshift-data has no BatchExecuteStatement and its statements never finish, so the calls of the
client the warehouse builds are answered here instead: botocore still validates every request (and this
module validates every answer) against the service model, and each call is recorded.

The SQL runs on a real engine: every statement is parsed with sqlglot's Redshift dialect and, but for
COPY, executed on PostgreSQL (given a DSN) or else on an in-memory DuckDB, after the translation the
Redshift-only parts need (DISTSTYLE/SORTKEY dropped, VARCHAR(MAX) as VARCHAR, ``:name`` parameters in the
engine's style). A batch is one transaction there. COPY reads what Redshift would read: the Parquet
object, or each object of a manifest (whose columnar entries must carry their exact
``meta.content_length``), from the lake, and inserts the rows by column position. Redshift's
``svv_mv_info`` is answered from the engine's catalog; DuckDB has no materialized views, so there the
view is a plain one and REFRESH does nothing.
"""

import io
import json
import numbers
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from botocore.awsrequest import AWSResponse
from botocore.validate import ParamValidator
from sqlglot import exp

COPY_SOURCE = re.compile(r"^COPY (\S+) FROM '(s3://[^']+)'")
MV_INFO = re.compile(r"\bsvv_mv_info\b")
TABLE = "movies.imdb_movies_rating"


class UnknownStatement(AssertionError):
    """The pipeline sent SQL this stand-in was not written for."""


class StatementFailed(Exception):
    """A statement failed in the engine (or as Redshift would fail it); the text is the error."""


def redshift_tree(sql: str) -> exp.Expression:
    """The statement parsed with sqlglot's Redshift dialect (raises on SQL Redshift would not parse)."""
    return sqlglot.parse_one(sql, read="redshift")


def translated(tree: exp.Expression, dialect: str) -> str:
    """The statement for ``dialect`` (postgres or duckdb) without what only Redshift has."""
    tree = tree.copy()
    for prop in list(
        tree.find_all(exp.DistStyleProperty, exp.SortKeyProperty, exp.DistKeyProperty)
    ):
        prop.pop()
    for data_type in tree.find_all(exp.DataType):
        if any(param.name.upper() == "MAX" for param in data_type.expressions):
            data_type.set("expressions", [])
    return tree.sql(dialect)


def placeholders(tree: exp.Expression) -> list[str]:
    return [p.name for p in tree.find_all(exp.Placeholder)]


class Engine:
    """A SQL engine the stand-in runs statements on, one connection, explicit transactions."""

    dialect = ""

    def begin(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def run(self, sql: str, params: dict[str, str]) -> tuple[list[str], list[list[Any]], int]:
        """Column names, rows (a SELECT) and the rows affected."""
        raise NotImplementedError

    def insert_rows(self, table: str, frame: pd.DataFrame) -> None:
        raise NotImplementedError

    def view_exists(self, schema_name: str, view: str) -> bool:
        raise NotImplementedError

    def refresh(self, sql: str) -> None:
        raise NotImplementedError


class DuckDBEngine(Engine):
    dialect = "duckdb"

    def __init__(self) -> None:
        self.con = duckdb.connect()

    def begin(self) -> None:
        self.con.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.con.execute("COMMIT")

    def rollback(self) -> None:
        self.con.execute("ROLLBACK")

    def run(self, sql: str, params: dict[str, str]) -> tuple[list[str], list[list[Any]], int]:
        try:
            result = self.con.execute(sql, params or None)
            rows = result.fetchall() if result.description else []
        except duckdb.Error as error:
            raise StatementFailed(str(error)) from None
        names = [d[0] for d in result.description or []]
        if names != ["Count"] or sql.lstrip().upper().startswith("SELECT"):
            return names, [list(r) for r in rows], len(rows)
        return [], [], int(rows[0][0]) if rows else 0  # DuckDB answers DDL and DML with a count

    def insert_rows(self, table: str, frame: pd.DataFrame) -> None:
        self.con.register("copied_rows", frame)
        try:
            self.con.execute(f"INSERT INTO {table} SELECT * FROM copied_rows")
        except duckdb.Error as error:
            raise StatementFailed(str(error)) from None
        finally:
            self.con.unregister("copied_rows")

    def view_exists(self, schema_name: str, view: str) -> bool:
        found = self.con.execute(
            "SELECT 1 FROM duckdb_views() WHERE schema_name = ? AND view_name = ?",
            [schema_name, view],
        ).fetchall()
        return bool(found)

    def refresh(self, sql: str) -> None:
        """A plain view is always current."""


class PostgresEngine(Engine):
    dialect = "postgres"

    def __init__(self, dsn: str) -> None:
        import psycopg2

        self.psycopg2 = psycopg2
        self.con = psycopg2.connect(dsn)

    def begin(self) -> None:
        """psycopg2 opens the transaction with the first statement."""

    def commit(self) -> None:
        self.con.commit()

    def rollback(self) -> None:
        self.con.rollback()

    def run(self, sql: str, params: dict[str, str]) -> tuple[list[str], list[list[Any]], int]:
        with self.con.cursor() as cur:
            try:
                cur.execute(sql, params or None)
            except self.psycopg2.Error as error:
                raise StatementFailed(str(error).strip()) from None
            if cur.description is None:
                return [], [], cur.rowcount
            names = [d.name for d in cur.description]
            return names, [list(r) for r in cur.fetchall()], cur.rowcount

    def insert_rows(self, table: str, frame: pd.DataFrame) -> None:
        from psycopg2.extras import execute_values

        rows = [
            [None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in row]
            for row in frame.itertuples(index=False)
        ]
        with self.con.cursor() as cur:
            try:
                execute_values(cur, f"INSERT INTO {table} VALUES %s", rows)
            except self.psycopg2.Error as error:
                raise StatementFailed(str(error).strip()) from None

    def view_exists(self, schema_name: str, view: str) -> bool:
        _, rows, _ = self.run(
            "SELECT 1 FROM pg_matviews WHERE schemaname = %(s)s AND matviewname = %(v)s",
            {"s": schema_name, "v": view},
        )
        return bool(rows)

    def refresh(self, sql: str) -> None:
        self.run(sql, {})


class RedshiftDataApi:
    """Answers ExecuteStatement, BatchExecuteStatement, DescribeStatement, GetStatementResult and
    CancelStatement, running the SQL on PostgreSQL (``postgres_dsn``) or an in-memory DuckDB. A batch
    whose statement starts with ``fail_statement`` ends FAILED with ``error`` and, being one
    transaction, changes nothing."""

    def __init__(
        self, s3: Any, fail_statement: str = "", error: str = "", postgres_dsn: str = ""
    ) -> None:
        self.s3 = s3
        self.fail_statement = fail_statement
        self.error = error
        self.engine: Engine = PostgresEngine(postgres_dsn) if postgres_dsn else DuckDBEngine()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.statements: dict[str, dict[str, Any]] = {}
        self.results: dict[str, tuple[list[str], list[list[Any]]]] = {}
        self.copies: list[list[str]] = []

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

    @property
    def rows_by_file(self) -> dict[str, pd.DataFrame]:
        """The rows of movies.imdb_movies_rating per source file, as committed."""
        self.engine.begin()
        try:
            names, rows, _ = self.engine.run(f"SELECT * FROM {TABLE}", {})
        except StatementFailed:
            return {}
        finally:
            self.engine.rollback()
        frame = pd.DataFrame(rows, columns=names)
        return {str(f): group.reset_index(drop=True) for f, group in frame.groupby("source_file")}

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
        self.engine.begin()
        try:
            names, rows, affected = self._run(sql, bound)
        except StatementFailed as failure:
            self.engine.rollback()
            statement = self._describe(params, QueryString=sql, Status="FAILED", Error=str(failure))
        else:
            self.engine.commit()
            statement = self._describe(
                params,
                QueryString=sql,
                Status="FINISHED",
                HasResultSet=bool(names),
                ResultRows=len(rows) if names else affected,
            )
            if names:
                self.results[statement["Id"]] = (names, rows)
        return {"Id": statement["Id"], "CreatedAt": statement["CreatedAt"], **self._target(params)}

    def _batch(self, params: dict[str, Any]) -> dict[str, Any]:
        bound = {p["name"]: p["value"] for p in params.get("Parameters", [])}
        statement_id = str(uuid.uuid4())
        status, error, subs = "FINISHED", "", []
        self.engine.begin()
        for n, sql in enumerate(params["Sqls"], start=1):
            sub: dict[str, Any] = {
                "Id": f"{statement_id}:{n}",
                "QueryString": sql,
                "HasResultSet": False,
                "ResultRows": 0,
            }
            if status != "FINISHED":
                sub["Status"] = "ABORTED"
            elif self.fail_statement and sql.startswith(self.fail_statement):
                status, error = "FAILED", self.error
                sub.update(Status="FAILED", Error=error)
            else:
                try:
                    names, rows, affected = self._run(sql, bound)
                except StatementFailed as failure:
                    status, error = "FAILED", str(failure)
                    sub.update(Status="FAILED", Error=error)
                else:
                    sub.update(
                        Status="FINISHED",
                        HasResultSet=bool(names),
                        ResultRows=len(rows) if names else affected,
                    )
                    if names:
                        self.results[sub["Id"]] = (names, rows)
            subs.append(sub)
        if status == "FINISHED":
            self.engine.commit()
        else:
            self.engine.rollback()
            for sub in subs:
                self.results.pop(sub["Id"], None)
        statement = self._describe(
            params,
            QueryString="",
            Status=status,
            SubStatements=subs,
            **({"Error": error} if error else {}),
        )
        del self.statements[statement["Id"]]
        statement["Id"] = statement_id
        self.statements[statement_id] = statement
        return {"Id": statement_id, "CreatedAt": statement["CreatedAt"], **self._target(params)}

    def _run(self, sql: str, bound: dict[str, str]) -> tuple[list[str], list[list[Any]], int]:
        """One statement on the engine: ([columns], [rows], rows affected)."""
        try:
            tree = redshift_tree(sql)
        except sqlglot.errors.ParseError as error:
            raise UnknownStatement(f"Redshift would not parse {sql!r}: {error}") from None
        if isinstance(tree, exp.Copy):
            return [], [], self._copy(sql)
        if MV_INFO.search(sql):
            exists = self.engine.view_exists(bound["schema_name"], bound["view"])
            return ["?column?"], [[1]] if exists else [], 1 if exists else 0
        if sql.startswith("REFRESH MATERIALIZED VIEW"):
            self.engine.refresh(sql)
            return [], [], 0
        used = placeholders(tree)
        missing = sorted(set(used) - set(bound))
        if missing:
            raise StatementFailed(f"parameter {', '.join(missing)} is not bound")
        engine_params = {name: bound[name] for name in used}
        return self.engine.run(translated(tree, self.engine.dialect), engine_params)

    def _copy(self, sql: str) -> int:
        """COPY ... FORMAT AS PARQUET [MANIFEST]: the rows of each Parquet object, by position."""
        match = COPY_SOURCE.search(sql)
        if match is None or "FORMAT AS PARQUET" not in sql:
            raise UnknownStatement(f"the stand-in runs COPY of Parquet from s3:// only: {sql}")
        table, source = match.groups()
        manifest = sql.rstrip().endswith(" MANIFEST")
        urls = self._manifest_entries(source) if manifest else [source]
        self.copies.append(urls)
        _, columns, _ = self.engine.run(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_name = '{table}' ORDER BY ordinal_position",
            {},
        )
        copied = 0
        for url in urls:
            try:
                parquet = pq.read_table(io.BytesIO(self._object(url)))
            except pa.ArrowException as error:
                raise StatementFailed(f"Spectrum Scan Error: {url}: {error}") from None
            if len(parquet.schema) != len(columns):
                raise StatementFailed(
                    f"Spectrum Scan Error: {url} has {len(parquet.schema)} columns, the table "
                    f"{table} {len(columns)}"
                )
            for field, (name, sql_type) in zip(parquet.schema, columns, strict=True):
                if not _parquet_fits(field.type, sql_type):
                    raise StatementFailed(
                        f"Spectrum Scan Error. File '{url}' has an incompatible Parquet schema for "
                        f"column '{name}'. Column type: {sql_type}, Parquet type: {field.type}"
                    )
            self.engine.insert_rows(table, parquet.to_pandas())
            copied += parquet.num_rows
        return copied

    def _manifest_entries(self, manifest_url: str) -> list[str]:
        """The URLs of a COPY manifest, checked as Redshift checks a columnar load's manifest."""
        try:
            entries = json.loads(self._object(manifest_url))["entries"]
        except (ValueError, KeyError) as error:
            raise StatementFailed(f"Manifest file is not in correct json format: {error}") from None
        urls = []
        for entry in entries:
            url, length = entry.get("url"), entry.get("meta", {}).get("content_length")
            if length is None:
                raise StatementFailed(
                    "content_length is required in the meta of each manifest entry for columnar "
                    f"files: {url}"
                )
            if entry.get("mandatory") is not True:
                raise UnknownStatement(f"the pipeline's manifest entries are mandatory: {entry}")
            if len(self._object(url)) != length:
                raise StatementFailed(f"content_length {length} is not the size of {url}")
            urls.append(url)
        return urls

    def _object(self, url: str) -> bytes:
        bucket, key = url.removeprefix("s3://").split("/", 1)
        try:
            return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            raise StatementFailed(f"The specified S3 prefix '{key}' does not exist") from None

    def _result(self, params: dict[str, Any]) -> dict[str, Any]:
        names, rows = self.results[params["Id"]]
        return {
            "ColumnMetadata": [
                {"name": name, "typeName": _type_name(rows, n)} for n, name in enumerate(names)
            ],
            "Records": [[_field(value) for value in row] for row in rows],
            "TotalNumRows": len(rows),
        }


def _parquet_fits(parquet_type: pa.DataType, sql_type: str) -> bool:
    """Whether COPY loads a Parquet column of this type into a column of ``sql_type`` (Redshift
    Database Developer Guide, "COPY from columnar data formats": strings into character types, 64-bit
    floats into DOUBLE PRECISION, integers into BIGINT)."""
    sql_type = sql_type.lower()
    if pa.types.is_null(parquet_type):
        return True
    if "char" in sql_type or sql_type == "text":
        return pa.types.is_string(parquet_type) or pa.types.is_large_string(parquet_type)
    if sql_type in {"double", "double precision"}:
        return pa.types.is_float64(parquet_type)
    if sql_type == "bigint":
        return pa.types.is_integer(parquet_type)
    raise UnknownStatement(f"the stand-in does not know COPY into {sql_type}")


def _type_name(rows: list[list[Any]], column: int) -> str:
    values = [row[column] for row in rows if row[column] is not None]
    if values and all(isinstance(v, numbers.Integral) for v in values):
        return "int8"
    if values and all(isinstance(v, numbers.Real) for v in values):
        return "float8"
    return "varchar"


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
