"""The warehouse the good rows load into: embedded DuckDB locally, Redshift on AWS."""

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
from pydantic import PrivateAttr

from quality_movies.warehouse.contract import WAREHOUSE_COLUMNS, ValidatedTable

YEAR_AGGREGATED_SELECT = (
    "SELECT released_year, genre, COUNT(*) AS movie_count, AVG(imdb_rating) AS avg_imdb_rating "
    "FROM {table} GROUP BY released_year, genre"
)


def warehouse_ddl(dialect: str) -> str:
    """The packaged DDL file for ``duckdb`` or ``redshift``."""
    return files("quality_movies.warehouse").joinpath(f"{dialect}.sql").read_text()


class Warehouse(dg.ConfigurableResource, ABC):
    """Table ``<schema>.<table>`` of good movies, loaded per source file, and the yearly view."""

    schema_name: str = "movies"
    table: str = "imdb_movies_rating"
    view: str = "year_aggregated"

    @property
    def qualified_table(self) -> str:
        return f"{self.schema_name}.{self.table}"

    @property
    def qualified_view(self) -> str:
        return f"{self.schema_name}.{self.view}"

    @abstractmethod
    def load_file(self, validated: ValidatedTable) -> int:
        """Replace the rows of ``validated.source_file`` with the Parquet at ``validated.uri``, in one
        transaction that commits only when the table then holds ``validated.row_count`` rows of that
        file; returns the rows loaded. The rows go from the lake to the warehouse, never through here.
        """

    def load_files(self, validated: Sequence[ValidatedTable]) -> dict[str, int | Exception]:
        """Replace each file's rows with its validated Parquet, for a whole batch; returns the rows
        loaded per source file, or the error that kept that file out (nothing of it loaded)."""
        loaded: dict[str, int | Exception] = {}
        for table in validated:
            try:
                loaded[table.source_file] = self.load_file(table)
            except Exception as error:
                loaded[table.source_file] = error
        return loaded

    @abstractmethod
    def refresh_year_aggregated(self) -> pd.DataFrame:
        """Recompute the view of movies per released_year and genre and return it."""

    @abstractmethod
    def row_counts(self) -> dict[str, int]:
        """Rows in the table per source file."""

    @contextmanager
    def kept_open(self) -> Iterator[None]:
        """Keep the warehouse open for a block of many loads (a batch of files), when opening it
        costs something; by default nothing to keep."""
        yield


class WarehouseUnavailable(RuntimeError):
    """The warehouse cannot be opened or written (locked by another program, corrupt, full)."""


class LoadMismatch(RuntimeError):
    """The warehouse would hold a different number of a file's rows than were validated."""


class DuckDBWarehouse(Warehouse):
    """An embedded DuckDB file holding schema ``movies``."""

    path: str
    memory_limit: str = "512MB"
    _kept_open: bool = PrivateAttr(default=False)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(self.path)
        except duckdb.IOException as error:
            if "lock" in str(error).lower():
                raise WarehouseUnavailable(
                    f"the warehouse {self.path} is locked by another program ({error}); close it "
                    "(e.g. a DuckDB shell or notebook) and run again"
                ) from None
            raise WarehouseUnavailable(
                f"the warehouse {self.path} cannot be opened ({error}); if it is corrupt, move it "
                "aside and run again to reload every file"
            ) from None
        except duckdb.Error as error:
            raise WarehouseUnavailable(
                f"the warehouse {self.path} cannot be opened ({error}); if it is corrupt, move it "
                "aside and run again to reload every file"
            ) from None
        if self._kept_open:  # the kept connection set up the shared database (settings, DDL)
            return con
        con.execute(f"SET memory_limit = '{self.memory_limit}'")
        # Rows of a file have no order in the table; keeping it would buffer the whole load.
        con.execute("SET preserve_insertion_order = false")
        con.execute(warehouse_ddl("duckdb"))
        return con

    @contextmanager
    def kept_open(self) -> Iterator[None]:
        """While one connection stays open, later connections in this process share its database
        (about 0.6 ms instead of 13 ms to open, and no checkpoint at each close) and its settings
        and tables (a further 1.2 ms per connection)."""
        con = self._connect()
        self._kept_open = True
        try:
            yield
        finally:
            self._kept_open = False
            con.close()

    def load_file(self, validated: ValidatedTable) -> int:
        columns = ", ".join(name for name, _ in WAREHOUSE_COLUMNS)
        loaded_at = datetime.now(UTC).replace(tzinfo=None)
        source_file = validated.source_file
        con = self._connect()
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(
                    f"DELETE FROM {self.qualified_table} WHERE source_file = ?", [source_file]
                )
                con.execute(
                    f"INSERT INTO {self.qualified_table} ({columns}, source_file, loaded_at) "
                    f"SELECT {columns}, ?, ? FROM read_parquet(?)",
                    [source_file, loaded_at, validated.uri],
                )
                (count,) = con.execute(
                    f"SELECT COUNT(*) FROM {self.qualified_table} WHERE source_file = ?",
                    [source_file],
                ).fetchone()
                if count != validated.row_count:
                    raise LoadMismatch(
                        f"{source_file}: {count} rows would be in the warehouse but "
                        f"{validated.row_count} were validated; nothing was loaded, run it again"
                    )
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            return int(count)
        except duckdb.Error as error:
            raise WarehouseUnavailable(
                f"{source_file}: loading into the warehouse {self.path} failed ({error}); nothing "
                "was loaded, fix the cause and run again"
            ) from None
        finally:
            con.close()

    def refresh_year_aggregated(self) -> pd.DataFrame:
        con = self._connect()
        try:
            select = YEAR_AGGREGATED_SELECT.format(table=self.qualified_table)
            con.execute(f"CREATE OR REPLACE TABLE {self.qualified_view} AS {select}")
            return con.execute(
                f"SELECT * FROM {self.qualified_view} ORDER BY released_year, genre"
            ).df()
        finally:
            con.close()

    def row_counts(self) -> dict[str, int]:
        con = self._connect()
        try:
            rows = con.execute(
                f"SELECT source_file, COUNT(*) FROM {self.qualified_table} "
                "GROUP BY source_file ORDER BY source_file"
            ).fetchall()
            return {source: int(n) for source, n in rows}
        finally:
            con.close()

    def fetch_movies(self, source_file: str | None = None) -> pd.DataFrame:
        """Rows of the table (all, or one source file's), for inspection and tests."""
        con = self._connect()
        try:
            where, params = ("WHERE source_file = ?", [source_file]) if source_file else ("", [])
            return con.execute(
                f"SELECT * FROM {self.qualified_table} {where} ORDER BY source_file, series_title",
                params,
            ).df()
        finally:
            con.close()


REDSHIFT_TYPES = {"string": "VARCHAR(MAX)", "double": "DOUBLE PRECISION", "long": "BIGINT"}
STAGING_TABLE = "staged_movies"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


class RedshiftStatementError(RuntimeError):
    """A Redshift Data API statement ended FAILED or ABORTED; carries Redshift's error text."""


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(
            f"{name!r} is not a plain Redshift identifier (lower-case letters, digits, _): rename it "
            "in the QUALITY_MOVIES_WAREHOUSE_* settings"
        )
    return name


def _literal(value: str, what: str) -> str:
    """A SQL string literal for a value COPY cannot take as a bound parameter."""
    if "'" in value or "\\" in value:
        raise ValueError(f"{what} {value!r} contains a quote or backslash: rename it")
    return f"'{value}'"


def redshift_ddl_statements(schema_name: str, table: str, view: str) -> tuple[list[str], str]:
    """The statements of ``redshift.sql`` for these names: (schema and table, materialized view).

    Redshift has no ``CREATE MATERIALIZED VIEW IF NOT EXISTS``, so the view comes apart to be run only
    when ``svv_mv_info`` does not list it.
    """
    schema_name, table, view = (_identifier(n) for n in (schema_name, table, view))
    text = "\n".join(
        line
        for line in warehouse_ddl("redshift").splitlines()
        if not line.lstrip().startswith("--")
    )
    text = re.sub(r"\bmovies\.imdb_movies_rating\b", f"{schema_name}.{table}", text)
    text = re.sub(r"\bmovies\.year_aggregated\b", f"{schema_name}.{view}", text)
    text = re.sub(r"\bSCHEMA IF NOT EXISTS movies\b", f"SCHEMA IF NOT EXISTS {schema_name}", text)
    statements = [s.strip() for s in text.split(";") if s.strip()]
    views = [s for s in statements if s.upper().startswith("CREATE MATERIALIZED VIEW")]
    if len(views) != 1:
        raise ValueError("redshift.sql must hold exactly one CREATE MATERIALIZED VIEW statement")
    return [s for s in statements if s not in views], views[0]


def materialized_view_exists_sql() -> str:
    """Query (parameters ``:schema_name``, ``:view``) returning a row when the view exists."""
    return "SELECT 1 FROM svv_mv_info WHERE schema_name = :schema_name AND name = :view"


def load_file_statements(qualified_table: str, staged_uri: str, iam_role_arn: str) -> list[str]:
    """One transaction replacing the rows of ``:source_file`` with the Parquet at ``staged_uri``.

    COPY maps Parquet columns by position, so the staging table has the columns of the validated
    Parquet (the warehouse columns, then source_file) in that order. source_file and loaded_at of the
    target rows are set here, source_file from the bound parameter.
    """
    if not staged_uri.startswith("s3://"):
        raise ValueError(
            f"COPY reads from S3: the staged file must be an s3:// URI, got {staged_uri!r}"
        )
    if not iam_role_arn.startswith("arn:"):
        raise ValueError(
            f"COPY needs the ARN of an IAM role Redshift may assume to read {staged_uri}: set "
            "QUALITY_MOVIES_REDSHIFT_IAM_ROLE_ARN"
        )
    schema_name, _, table = qualified_table.partition(".")
    target = f"{_identifier(schema_name)}.{_identifier(table)}"
    columns = [name for name, _ in WAREHOUSE_COLUMNS]
    staging_columns = [f"{name} {REDSHIFT_TYPES[t]}" for name, t in WAREHOUSE_COLUMNS]
    staging_columns.append("source_file VARCHAR(1024)")
    return [
        f"CREATE TEMP TABLE {STAGING_TABLE} ({', '.join(staging_columns)})",
        f"COPY {STAGING_TABLE} FROM {_literal(staged_uri, 'staged file')} "
        f"IAM_ROLE {_literal(iam_role_arn, 'IAM role')} FORMAT AS PARQUET",
        f"DELETE FROM {target} WHERE source_file = :source_file",
        f"INSERT INTO {target} ({', '.join(columns)}, source_file, loaded_at) "
        f"SELECT {', '.join(columns)}, :source_file, GETDATE() FROM {STAGING_TABLE}",
        f"DROP TABLE {STAGING_TABLE}",
    ]


def statement_result_frame(pages: list[dict[str, Any]]) -> pd.DataFrame:
    """Pages of ``get_statement_result`` as a DataFrame named by the result's column metadata."""
    if not pages:
        return pd.DataFrame()
    names = [c["name"] for c in pages[0]["ColumnMetadata"]]
    rows = []
    for page in pages:
        for record in page.get("Records", []):
            rows.append([_field_value(f) for f in record])
    return pd.DataFrame(rows, columns=names)


def _field_value(field: dict[str, Any]) -> Any:
    if field.get("isNull"):
        return None
    for kind in ("stringValue", "longValue", "doubleValue", "booleanValue", "blobValue"):
        if kind in field:
            return field[kind]
    raise ValueError(f"unknown Redshift Data API field {field!r}")


class RedshiftDataWarehouse(Warehouse):
    """Amazon Redshift (Serverless workgroup or provisioned cluster) through the Redshift Data API.

    Rows load with COPY from the validated Parquet the quality job left in the lake.
    """

    workgroup_name: str = ""
    cluster_identifier: str = ""
    database: str = "dev"
    secret_arn: str = ""
    db_user: str = ""
    iam_role_arn: str = ""
    region_name: str = "us-east-1"
    endpoint_url: str = ""
    poll_interval_seconds: float = 1.0
    max_poll_interval_seconds: float = 10.0
    timeout_seconds: float = 1800.0
    _client: Any = PrivateAttr(default=None)
    _ready: bool = PrivateAttr(default=False)

    def client(self) -> Any:
        """The redshift-data client of this resource, built on first use."""
        if self._client is None:
            from quality_movies.ingestion.resources import aws_client

            self._client = aws_client("redshift-data", self.region_name, self.endpoint_url)
        return self._client

    def target(self) -> dict[str, str]:
        """The Data API arguments naming where and as whom statements run."""
        if bool(self.workgroup_name) == bool(self.cluster_identifier):
            raise ValueError(
                "Redshift target: set QUALITY_MOVIES_REDSHIFT_WORKGROUP (Serverless) or "
                "QUALITY_MOVIES_REDSHIFT_CLUSTER (provisioned), exactly one of them"
            )
        found = {"Database": self.database}
        if self.workgroup_name:
            found["WorkgroupName"] = self.workgroup_name
        else:
            found["ClusterIdentifier"] = self.cluster_identifier
        if self.secret_arn:
            found["SecretArn"] = self.secret_arn
        elif self.db_user:
            found["DbUser"] = self.db_user
        return found

    def execute(self, sql: str, parameters: dict[str, str] | None = None) -> dict[str, Any]:
        """Run one statement and wait for it; returns its final describe_statement."""
        kwargs: dict[str, Any] = {**self.target(), "Sql": sql}
        if parameters:
            kwargs["Parameters"] = [{"name": k, "value": v} for k, v in parameters.items()]
        return self.wait(self.client().execute_statement(**kwargs)["Id"])

    def execute_batch(
        self, sqls: list[str], parameters: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Run statements as one transaction and wait for it; returns its final describe_statement."""
        kwargs: dict[str, Any] = {**self.target(), "Sqls": sqls}
        if parameters:
            kwargs["Parameters"] = [{"name": k, "value": v} for k, v in parameters.items()]
        return self.wait(self.client().batch_execute_statement(**kwargs)["Id"])

    def wait(self, statement_id: str) -> dict[str, Any]:
        """Poll describe_statement, backing off, until FINISHED; raise on FAILED, ABORTED or timeout."""
        client = self.client()
        delay = self.poll_interval_seconds
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            statement = client.describe_statement(Id=statement_id)
            status = statement["Status"]
            if status == "FINISHED":
                return statement
            if status in {"FAILED", "ABORTED"}:
                raise RedshiftStatementError(_statement_failure(statement))
            if time.monotonic() + delay > deadline:
                client.cancel_statement(Id=statement_id)
                raise TimeoutError(
                    f"Redshift statement {statement_id} still {status} after "
                    f"{self.timeout_seconds:g} s and was cancelled: check the workgroup or cluster "
                    f"(SQL: {_abbreviated(statement.get('QueryString', ''))})"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, self.max_poll_interval_seconds)

    def query(self, sql: str, parameters: dict[str, str] | None = None) -> pd.DataFrame:
        """Run a SELECT and return all its rows."""
        statement = self.execute(sql, parameters)
        if not statement.get("HasResultSet", True):
            return pd.DataFrame()
        pages = []
        kwargs: dict[str, Any] = {"Id": statement["Id"]}
        while True:
            page = self.client().get_statement_result(**kwargs)
            pages.append(page)
            if not page.get("NextToken"):
                return statement_result_frame(pages)
            kwargs["NextToken"] = page["NextToken"]

    def ensure_tables(self) -> None:
        """Create the schema, table and materialized view of ``redshift.sql`` when missing."""
        if self._ready:
            return
        setup, create_view = redshift_ddl_statements(self.schema_name, self.table, self.view)
        self.execute_batch(setup)
        exists = self.query(
            materialized_view_exists_sql(), {"schema_name": self.schema_name, "view": self.view}
        )
        if exists.empty:
            try:
                self.execute(create_view)
            except RedshiftStatementError as exc:
                if "already exists" not in str(exc):
                    raise
        self._ready = True

    def load_file(self, validated: ValidatedTable) -> int:
        self.ensure_tables()
        source_file, staged_uri = validated.source_file, validated.uri
        sqls = load_file_statements(self.qualified_table, staged_uri, self.iam_role_arn)
        statement = self.execute_batch(sqls, {"source_file": source_file})
        insert = next(
            (
                s
                for s in statement.get("SubStatements", [])
                if s.get("QueryString", "").startswith("INSERT")
            ),
            {},
        )
        loaded = int(insert.get("ResultRows", -1))
        if loaded < 0:
            loaded = self.row_counts().get(source_file, 0)
        if loaded != validated.row_count:
            dg.get_dagster_logger().warning(
                "%s: %d rows loaded from %s but %d rows were validated",
                source_file,
                loaded,
                staged_uri,
                validated.row_count,
            )
        return loaded

    def refresh_year_aggregated(self) -> pd.DataFrame:
        self.ensure_tables()
        self.execute(f"REFRESH MATERIALIZED VIEW {self.qualified_view}")
        return self.query(f"SELECT * FROM {self.qualified_view} ORDER BY released_year, genre")

    def row_counts(self) -> dict[str, int]:
        self.ensure_tables()
        counts = self.query(
            f"SELECT source_file, COUNT(*) AS row_count FROM {self.qualified_table} "
            "GROUP BY source_file ORDER BY source_file"
        )
        return {str(r.source_file): int(r.row_count) for r in counts.itertuples()}


def _abbreviated(sql: str, limit: int = 300) -> str:
    sql = " ".join(sql.split())
    return sql if len(sql) <= limit else sql[: limit - 3] + "..."


def _statement_failure(statement: dict[str, Any]) -> str:
    """What failed: the failing sub-statement of a batch (or the statement) and Redshift's error."""
    failed = next(
        (s for s in statement.get("SubStatements", []) if s.get("Status") in {"FAILED", "ABORTED"}),
        statement,
    )
    error = failed.get("Error") or statement.get("Error") or "no error text"
    return (
        f"Redshift statement {failed.get('Id', statement['Id'])} {statement['Status']}: {error} "
        f"(SQL: {_abbreviated(failed.get('QueryString', ''))})"
    )
