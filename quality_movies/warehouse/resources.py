"""The warehouse the good rows load into: embedded DuckDB locally, Redshift on AWS."""

import json
import posixpath
import re
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
from pydantic import PrivateAttr

from quality_movies.contract import WAREHOUSE_COLUMNS, ValidatedTable
from quality_movies.faults import EnvironmentFailure, transient_message

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


def load_finding_culprits(
    tables: Sequence[ValidatedTable],
    load_batch: Callable[[list[ValidatedTable]], dict[str, int | Exception]],
    attributable: Callable[[Exception], bool],
) -> dict[str, int | Exception]:
    """Load ``tables`` with ``load_batch`` (one transaction for all of them). When that fails as a
    whole with an error a file can cause (``attributable``: an unreadable Parquet, say), each half is
    loaded on its own, down to the culprit, so one bad file keeps only itself out; any other error
    (the warehouse cannot be reached) is every file's. Nothing of a failed transaction stays."""
    batch = list({table.source_file: table for table in tables}.values())
    if not batch:
        return {}
    try:
        return load_batch(batch)
    except Exception as error:
        if len(batch) == 1 or not attributable(error):
            return {table.source_file: error for table in batch}
    half = len(batch) // 2
    return {
        **load_finding_culprits(batch[:half], load_batch, attributable),
        **load_finding_culprits(batch[half:], load_batch, attributable),
    }


def _mismatch(source_file: str, found: int, validated: int, where: str) -> LoadMismatch:
    return LoadMismatch(
        f"{source_file}: {found} rows {where} but {validated} were validated; nothing of it was "
        "loaded (its earlier rows stay), run it again"
    )


class _BatchMismatch(Exception):
    """Inside a batch load: these files' rows would not number their validated counts."""

    def __init__(self, source_files: set[str]) -> None:
        super().__init__(", ".join(sorted(source_files)))
        self.source_files = source_files


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

    def load_files(self, validated: Sequence[ValidatedTable]) -> dict[str, int | Exception]:
        """One INSERT over all the batch's Parquet files, in one transaction with the DELETE of their
        earlier rows; a file whose rows would not number its validated count stays out."""
        loaded = load_finding_culprits(
            validated, self._load_batch, lambda error: isinstance(error, duckdb.Error)
        )
        return {
            source_file: WarehouseUnavailable(
                f"{source_file}: loading into the warehouse {self.path} failed ({outcome}); "
                "nothing was loaded, fix the cause and run again"
            )
            if isinstance(outcome, duckdb.Error)
            else outcome
            for source_file, outcome in loaded.items()
        }

    def _load_batch(self, batch: list[ValidatedTable]) -> dict[str, int | Exception]:
        columns = ", ".join(name for name, _ in WAREHOUSE_COLUMNS)
        loaded_at = datetime.now(UTC).replace(tzinfo=None)
        files = pd.DataFrame(
            {
                "uri": [t.uri for t in batch],
                "source_file": [t.source_file for t in batch],
                "validated_rows": [t.row_count for t in batch],
            }
        )
        con = self._connect()
        try:
            con.register("batch_files", files)
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(
                    f"DELETE FROM {self.qualified_table} "
                    "WHERE source_file IN (SELECT source_file FROM batch_files)"
                )
                con.execute(
                    f"INSERT INTO {self.qualified_table} ({columns}, source_file, loaded_at) "
                    f"SELECT {columns}, batch_files.source_file, ? "
                    "FROM read_parquet(?, filename = true, union_by_name = true) AS validated "
                    "JOIN batch_files ON batch_files.uri = validated.filename",
                    [loaded_at, list(dict.fromkeys(files["uri"]))],
                )
                counts = dict(
                    con.execute(
                        f"SELECT b.source_file, COUNT(t.source_file) FROM batch_files AS b "
                        f"LEFT JOIN {self.qualified_table} AS t ON t.source_file = b.source_file "
                        "GROUP BY b.source_file"
                    ).fetchall()
                )
                wrong = {t.source_file for t in batch if counts[t.source_file] != t.row_count}
                if wrong:
                    raise _BatchMismatch(wrong)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        except _BatchMismatch as mismatch:
            rest = [t for t in batch if t.source_file not in mismatch.source_files]
            found = {
                t.source_file: _mismatch(
                    t.source_file, counts[t.source_file], t.row_count, "would be in the warehouse"
                )
                for t in batch
                if t.source_file in mismatch.source_files
            }
            return {**self._load_batch(rest), **found} if rest else found
        finally:
            con.close()
        return {t.source_file: int(counts[t.source_file]) for t in batch}

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
    """A Redshift Data API statement ended FAILED or ABORTED; carries Redshift's error text and the
    SQL of the (sub-)statement that failed."""

    def __init__(self, message: str, sql: str = "") -> None:
        super().__init__(message)
        self.sql = sql


class RedshiftStatementUnavailable(RedshiftStatementError, EnvironmentFailure):
    """A statement that failed for a reason outside the files (a serialization conflict, a lost
    connection, a cancelled statement): the batch's files are taken again at the next run."""


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


BATCH_FILES_TABLE = "batch_files"
# Files per COPY: each binds a parameter, and the batch's SQL stays far below the Data API's 100 KB
MAX_FILES_PER_COPY = 1000
COMPLETE_FILES_TABLE = "complete_files"


def copy_manifest(staged: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """A COPY manifest of the staged Parquet files (URI, size in bytes): Redshift needs each columnar
    file's ``meta.content_length``; ``mandatory`` makes a missing file fail the COPY."""
    return {
        "entries": [
            {"url": uri, "mandatory": True, "meta": {"content_length": size}}
            for uri, size in staged
        ]
    }


def load_files_statements(
    qualified_table: str, manifest_uri: str, iam_role_arn: str, validated_rows: Sequence[int]
) -> list[str]:
    """One transaction replacing the rows of a batch of files with the Parquet its COPY manifest lists.

    File ``n`` (from 1) of the batch is bound as ``:file_n`` with ``validated_rows[n - 1]`` rows. The
    rows name their file in their source_file column; a file whose staged rows do not number its
    validated rows keeps its earlier rows (neither deleted nor inserted). The SELECT before the DROPs
    answers, per file: validated_rows, staged_rows, table_rows (after the replacement).
    """
    if not validated_rows:
        raise ValueError("a batch load needs at least one file")
    copy = load_file_statements(qualified_table, manifest_uri, iam_role_arn)
    create_staging = copy[0]
    schema_name, _, table = qualified_table.partition(".")
    target = f"{schema_name}.{table}"
    columns = ", ".join(name for name, _ in WAREHOUSE_COLUMNS)
    values = ", ".join(f"(:file_{n}, {int(rows)})" for n, rows in enumerate(validated_rows, 1))
    staged_counts = (
        f"(SELECT source_file, COUNT(*) AS staged_rows FROM {STAGING_TABLE} "
        "GROUP BY source_file) AS s ON s.source_file = b.source_file"
    )
    in_complete = f"source_file IN (SELECT source_file FROM {COMPLETE_FILES_TABLE})"
    return [
        f"CREATE TEMP TABLE {BATCH_FILES_TABLE} (source_file VARCHAR(1024), validated_rows BIGINT)",
        f"INSERT INTO {BATCH_FILES_TABLE} (source_file, validated_rows) VALUES {values}",
        create_staging,
        f"COPY {STAGING_TABLE} FROM {_literal(manifest_uri, 'manifest')} "
        f"IAM_ROLE {_literal(iam_role_arn, 'IAM role')} FORMAT AS PARQUET MANIFEST",
        f"CREATE TEMP TABLE {COMPLETE_FILES_TABLE} AS SELECT b.source_file "
        f"FROM {BATCH_FILES_TABLE} AS b LEFT JOIN {staged_counts} "
        "WHERE COALESCE(s.staged_rows, 0) = b.validated_rows",
        f"DELETE FROM {target} WHERE {in_complete}",
        f"INSERT INTO {target} ({columns}, source_file, loaded_at) "
        f"SELECT {columns}, source_file, GETDATE() FROM {STAGING_TABLE} WHERE {in_complete}",
        "SELECT b.source_file, b.validated_rows, COALESCE(s.staged_rows, 0) AS staged_rows, "
        "COALESCE(t.table_rows, 0) AS table_rows "
        f"FROM {BATCH_FILES_TABLE} AS b LEFT JOIN {staged_counts} "
        "LEFT JOIN (SELECT source_file, COUNT(*) AS table_rows FROM "
        f"{target} WHERE source_file IN (SELECT source_file FROM {BATCH_FILES_TABLE}) "
        "GROUP BY source_file) AS t ON t.source_file = b.source_file",
        f"DROP TABLE {COMPLETE_FILES_TABLE}",
        f"DROP TABLE {STAGING_TABLE}",
        f"DROP TABLE {BATCH_FILES_TABLE}",
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
    _s3: Any = PrivateAttr(default=None)
    _ready: bool = PrivateAttr(default=False)

    def client(self) -> Any:
        """The redshift-data client of this resource, built on first use."""
        if self._client is None:
            from quality_movies.lake import aws_client

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
                message, sql = _statement_failure(statement)
                outside = status == "ABORTED" or transient_message(message)
                raise (RedshiftStatementUnavailable if outside else RedshiftStatementError)(
                    message, sql
                )
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
        return self.statement_result(statement["Id"])

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

    def s3_client(self) -> Any:
        """The S3 client that writes COPY manifests beside the staged Parquet, built on first use."""
        if self._s3 is None:
            from quality_movies.lake import aws_client

            self._s3 = aws_client(
                "s3", self.region_name, self.endpoint_url, path_style=bool(self.endpoint_url)
            )
        return self._s3

    def load_files(self, validated: Sequence[ValidatedTable]) -> dict[str, int | Exception]:
        """ONE COPY (a manifest of the batch's staged Parquet) into a staging table and ONE transaction
        replacing the batch's files' rows; a COPY that fails as a whole is retried by halves down to
        the file that broke it."""
        try:
            self.ensure_tables()
        except Exception as error:
            return {table.source_file: error for table in validated}
        loaded: dict[str, int | Exception] = {}
        for start in range(0, len(validated), MAX_FILES_PER_COPY):
            chunk = validated[start : start + MAX_FILES_PER_COPY]
            loaded.update(load_finding_culprits(chunk, self._load_batch, _copy_failed))
        return loaded

    def _load_batch(self, batch: list[ValidatedTable]) -> dict[str, int | Exception]:
        sizes = self._staged_sizes([t.uri for t in batch])
        missing = {
            t.source_file: LoadMismatch(
                f"{t.source_file}: its staged Parquet {t.uri} is missing; nothing of it was "
                "loaded, run it again"
            )
            for t in batch
            if t.uri not in sizes
        }
        present = [t for t in batch if t.uri in sizes]
        if not present:
            return missing
        first_bucket, first_key = _bucket_and_key(present[0].uri)
        manifest_key = f"{posixpath.dirname(first_key)}/redshift-copy-{uuid.uuid4().hex}.manifest"
        manifest_uri = f"s3://{first_bucket}/{manifest_key}"
        s3 = self.s3_client()
        s3.put_object(
            Bucket=first_bucket,
            Key=manifest_key,
            Body=json.dumps(copy_manifest([(t.uri, sizes[t.uri]) for t in present])).encode(),
        )
        try:
            sqls = load_files_statements(
                self.qualified_table,
                manifest_uri,
                self.iam_role_arn,
                [t.row_count for t in present],
            )
            statement = self.execute_batch(
                sqls, {f"file_{n}": t.source_file for n, t in enumerate(present, 1)}
            )
        finally:
            s3.delete_object(Bucket=first_bucket, Key=manifest_key)
        position = next(n for n, sql in enumerate(sqls, 1) if sql.startswith("SELECT"))
        report = self.statement_result(f"{statement['Id']}:{position}")
        counts = {
            str(r.source_file): (int(r.staged_rows), int(r.table_rows)) for r in report.itertuples()
        }
        loaded: dict[str, int | Exception] = dict(missing)
        for table in present:
            staged_rows, table_rows = counts.get(table.source_file, (0, -1))
            if staged_rows != table.row_count:
                loaded[table.source_file] = _mismatch(
                    table.source_file, staged_rows, table.row_count, f"were staged from {table.uri}"
                )
            elif table_rows != table.row_count:
                loaded[table.source_file] = _mismatch(
                    table.source_file, table_rows, table.row_count, "are in the warehouse"
                )
            else:
                loaded[table.source_file] = table_rows
        return loaded

    def _staged_sizes(self, uris: list[str]) -> dict[str, int]:
        """Size in bytes of each staged object that exists, by URI: one listing per bucket under the
        keys' common prefix (not a request per file)."""
        by_bucket: dict[str, set[str]] = {}
        for uri in uris:
            bucket, key = _bucket_and_key(uri)
            by_bucket.setdefault(bucket, set()).add(key)
        sizes: dict[str, int] = {}
        paginator = self.s3_client().get_paginator("list_objects_v2")
        for bucket, keys in by_bucket.items():
            prefix = posixpath.commonprefix(sorted(keys))
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    if obj["Key"] in keys:
                        sizes[f"s3://{bucket}/{obj['Key']}"] = int(obj["Size"])
        return sizes

    def statement_result(self, statement_id: str) -> pd.DataFrame:
        """Every page of a finished statement's (or batch sub-statement's) result."""
        pages = []
        kwargs: dict[str, Any] = {"Id": statement_id}
        while True:
            page = self.client().get_statement_result(**kwargs)
            pages.append(page)
            if not page.get("NextToken"):
                return statement_result_frame(pages)
            kwargs["NextToken"] = page["NextToken"]

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


def _bucket_and_key(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"COPY reads from S3: the staged file must be an s3:// URI, got {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def _copy_failed(error: Exception) -> bool:
    """Whether a batch load failed in its COPY (a file of the batch can cause that)."""
    return isinstance(error, RedshiftStatementError) and error.sql.startswith("COPY")


def _abbreviated(sql: str, limit: int = 300) -> str:
    sql = " ".join(sql.split())
    return sql if len(sql) <= limit else sql[: limit - 3] + "..."


def _statement_failure(statement: dict[str, Any]) -> tuple[str, str]:
    """What failed: the failing sub-statement of a batch (or the statement) and Redshift's error;
    and the SQL of what failed."""
    failed = next(
        (s for s in statement.get("SubStatements", []) if s.get("Status") in {"FAILED", "ABORTED"}),
        statement,
    )
    error = failed.get("Error") or statement.get("Error") or "no error text"
    sql = failed.get("QueryString", "")
    return (
        f"Redshift statement {failed.get('Id', statement['Id'])} {statement['Status']}: {error} "
        f"(SQL: {_abbreviated(sql)})",
        sql,
    )
