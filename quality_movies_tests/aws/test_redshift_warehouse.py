"""RedshiftDataWarehouse: the SQL it sends, and the Data API statement life cycle.

moto's redshift-data has no BatchExecuteStatement and its statements stay STARTED (it has no state
transitions for them), so FINISHED/FAILED/ABORTED come from botocore's Stubber; moto is used for the
statement that never finishes, which must time out and be cancelled.

The batch load runs for real: its statements are parsed with sqlglot's Redshift dialect, and the Data API
stand-in executes them (all but COPY, which it emulates from the staged Parquet on a SeaweedFS server) on
a PostgreSQL 15 server and on DuckDB.
"""

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlglot
from botocore.stub import Stubber

from quality_movies.contract import ValidatedTable, split_by_contract
from quality_movies.warehouse import resources
from quality_movies.warehouse.resources import (
    LoadMismatch,
    RedshiftDataWarehouse,
    RedshiftStatementError,
    copy_manifest,
    load_file_statements,
    load_files_statements,
    redshift_ddl_statements,
    statement_result_frame,
)
from quality_movies_tests.aws_e2e.redshift_data_api import RedshiftDataApi
from quality_movies_tests.gate.test_contract import validated_parquet
from quality_movies_tests.postgres import postgres_available, postgres_server

WORKGROUP = "quality-movies"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:redshift-admin-AbCdEf"
ROLE_ARN = "arn:aws:iam::123456789012:role/quality-movies-redshift-copy"
STAGED_URI = (
    "s3://quality-movie-bucket/validated_movies/source_file=imdb_movies_rating.csv/"
    "validated_movies.parquet"
)
PARQUET_COLUMNS = [
    "poster_link",
    "series_title",
    "released_year",
    "certificate",
    "runtime",
    "genre",
    "imdb_rating",
    "overview",
    "meta_score",
    "director",
    "star1",
    "star2",
    "star3",
    "star4",
    "no_of_votes",
    "gross",
    "source_file",
]


def statement_id() -> str:
    return str(uuid.uuid4())


class DataApi:
    """A stubbed redshift-data client that records the parameters of every call."""

    def __init__(self) -> None:
        self.client = boto3.client(
            "redshift-data",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.stubber = Stubber(self.client)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.client.meta.events.register(
            "before-parameter-build.redshift-data.*",
            lambda params, model, **_: self.calls.append((model.name, dict(params))),
        )

    def finished(
        self,
        operation: str,
        *,
        result: list[list[dict]] | None = None,
        columns: tuple[str, ...] = ("?column?",),
    ) -> None:
        """``operation`` is accepted and FINISHED; ``result`` rows come back when given."""
        sid = statement_id()
        self.stubber.add_response(operation, {"Id": sid})
        self.stubber.add_response(
            "describe_statement",
            {"Id": sid, "Status": "FINISHED", "HasResultSet": result is not None},
        )
        if result is not None:
            self.stubber.add_response(
                "get_statement_result",
                {
                    "Records": result,
                    "ColumnMetadata": [{"name": c} for c in columns],
                    "TotalNumRows": len(result),
                },
            )

    def tables_ready(self, *, view_exists: bool = True) -> None:
        """Responses for ensure_tables: the DDL batch, then the svv_mv_info lookup."""
        self.finished("batch_execute_statement")
        self.finished("execute_statement", result=[[{"longValue": 1}]] if view_exists else [])

    def sql(self, operation: str) -> list[str]:
        return [p.get("Sql") or p.get("Sqls") for name, p in self.calls if name == operation]

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [p for name, p in self.calls if name == operation]


@pytest.fixture
def data_api(monkeypatch: pytest.MonkeyPatch) -> Any:
    api = DataApi()
    monkeypatch.setattr(RedshiftDataWarehouse, "client", lambda self: api.client)
    with api.stubber:
        yield api
        api.stubber.assert_no_pending_responses()


def make_warehouse(**fields: Any) -> RedshiftDataWarehouse:
    return RedshiftDataWarehouse(
        **{
            "workgroup_name": WORKGROUP,
            "database": "dev",
            "secret_arn": SECRET_ARN,
            "iam_role_arn": ROLE_ARN,
            "poll_interval_seconds": 0,
            "max_poll_interval_seconds": 0,
            **fields,
        }
    )


def staged_table(source_file: str, rows: int) -> ValidatedTable:
    """The reference the gate passes: the staged Parquet in the lake and its row count."""
    return ValidatedTable(source_file=source_file, uri=STAGED_URI, row_count=rows)


def test_load_statements_replace_one_files_rows_in_one_transaction() -> None:
    sqls = load_file_statements("movies.imdb_movies_rating", STAGED_URI, ROLE_ARN)

    kinds = [s.split()[0] + (" " + s.split()[1] if s.startswith("CREATE") else "") for s in sqls]
    assert kinds == ["CREATE TEMP", "COPY", "DELETE", "INSERT", "DROP"]
    create, copy, delete, insert, _ = sqls
    assert create.startswith("CREATE TEMP TABLE staged_movies (")
    assert copy == (
        f"COPY staged_movies FROM '{STAGED_URI}' IAM_ROLE '{ROLE_ARN}' FORMAT AS PARQUET"
    )
    assert delete == "DELETE FROM movies.imdb_movies_rating WHERE source_file = :source_file"
    assert insert.startswith("INSERT INTO movies.imdb_movies_rating (poster_link, ")
    assert insert.endswith(", :source_file, GETDATE() FROM staged_movies")
    assert "source_file, loaded_at) SELECT" in insert
    # The batch is the transaction: nothing inside may end it early.
    assert not any(re.search(r"\b(BEGIN|COMMIT|ROLLBACK|END)\b", s) for s in sqls)


def test_staging_table_has_the_validated_parquet_columns_in_order(tmp_path: Path) -> None:
    header = [c for c in PARQUET_COLUMNS if c != "source_file"]
    raw_csv = tmp_path / "raw.csv"
    raw_csv.write_text(
        ",".join(header)
        + "\n"
        + ",".join(["x"] * 6 + ["9.2"] + ["x", "100"] + ["x"] * 5 + ["5", "x"])
    )
    good = tmp_path / "good.parquet"
    pd.read_csv(raw_csv, dtype=str).to_parquet(good)
    validated = tmp_path / "validated.parquet"
    split = split_by_contract(
        str(good), str(validated), str(tmp_path / "rejected.jsonl"), "raw.csv"
    )
    assert (split.validated_rows, split.rejected_rows) == (1, 0)

    create = load_file_statements("movies.imdb_movies_rating", STAGED_URI, ROLE_ARN)[0]
    staging = re.findall(r"(\w+) (?:VARCHAR|DOUBLE|BIGINT)", create)

    # COPY from Parquet maps columns by position and needs as many table columns as file columns.
    assert pq.read_schema(validated).names == PARQUET_COLUMNS
    assert staging == PARQUET_COLUMNS


def test_staging_columns_have_the_target_tables_types() -> None:
    setup, _ = redshift_ddl_statements("movies", "imdb_movies_rating", "year_aggregated")
    target = dict(re.findall(r"^\s+(\w+)\s+(.+?),?$", setup[1], re.M))
    create = load_file_statements("movies.imdb_movies_rating", STAGED_URI, ROLE_ARN)[0]
    body = create[create.index("(") + 1 : -1]
    staging = dict(d.split(" ", 1) for d in body.split(", "))

    assert {c: staging[c] for c in PARQUET_COLUMNS[:-1]} == {
        c: target[c] for c in PARQUET_COLUMNS[:-1]
    }
    assert target["source_file"] == "VARCHAR(1024) NOT NULL"
    assert staging["source_file"] == "VARCHAR(1024)"


@pytest.mark.parametrize(
    ("staged_uri", "role", "error"),
    [
        ("/tmp/validated_movies.parquet", ROLE_ARN, "must be an s3:// URI"),
        ("s3://bucket/o'brien.parquet", ROLE_ARN, "contains a quote"),
        (STAGED_URI, "", "QUALITY_MOVIES_REDSHIFT_IAM_ROLE_ARN"),
    ],
)
def test_load_statements_refuse_what_copy_cannot_take(
    staged_uri: str, role: str, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        load_file_statements("movies.imdb_movies_rating", staged_uri, role)


def test_ddl_follows_the_configured_names() -> None:
    setup, view = redshift_ddl_statements("film", "ratings", "by_year")

    assert setup[0] == "CREATE SCHEMA IF NOT EXISTS film"
    assert setup[1].startswith("CREATE TABLE IF NOT EXISTS film.ratings (")
    assert view.startswith("CREATE MATERIALIZED VIEW film.by_year AS")
    assert "FROM film.ratings" in view
    assert "movies." not in " ".join([*setup, view])


def test_ddl_refuses_names_that_are_not_identifiers() -> None:
    with pytest.raises(ValueError, match="not a plain Redshift identifier"):
        redshift_ddl_statements("movies", "imdb; DROP TABLE x", "year_aggregated")


def test_statement_result_frame_reads_every_page_and_nulls() -> None:
    pages = [
        {
            "ColumnMetadata": [{"name": "released_year"}, {"name": "movie_count"}],
            "Records": [[{"stringValue": "1972"}, {"longValue": 1}]],
            "NextToken": "t",
        },
        {"Records": [[{"isNull": True}, {"longValue": 4}]]},
    ]

    frame = statement_result_frame(pages)

    assert frame.to_dict("records") == [
        {"released_year": "1972", "movie_count": 1},
        {"released_year": None, "movie_count": 4},
    ]


def test_load_file_is_one_batch_with_the_source_file_bound(data_api: DataApi) -> None:
    data_api.tables_ready(view_exists=True)
    batch = statement_id()
    data_api.stubber.add_response("batch_execute_statement", {"Id": batch})
    data_api.stubber.add_response("describe_statement", {"Id": batch, "Status": "STARTED"})
    data_api.stubber.add_response(
        "describe_statement",
        {
            "Id": batch,
            "Status": "FINISHED",
            "SubStatements": [
                {"Id": f"{batch}:1", "Status": "FINISHED", "QueryString": "CREATE TEMP TABLE ..."},
                {"Id": f"{batch}:2", "Status": "FINISHED", "QueryString": "COPY staged_movies ..."},
                {
                    "Id": f"{batch}:3",
                    "Status": "FINISHED",
                    "QueryString": "DELETE FROM ...",
                    "ResultRows": 7,
                },
                {
                    "Id": f"{batch}:4",
                    "Status": "FINISHED",
                    "QueryString": "INSERT INTO ...",
                    "ResultRows": 3,
                },
                {
                    "Id": f"{batch}:5",
                    "Status": "FINISHED",
                    "QueryString": "DROP TABLE staged_movies",
                },
            ],
        },
    )

    loaded = make_warehouse().load_file(staged_table("o'brien.csv", 3))

    assert loaded == 3
    ddl_batch, load_batch = data_api.params("BatchExecuteStatement")
    assert ddl_batch["Sqls"][0] == "CREATE SCHEMA IF NOT EXISTS movies"
    assert not any("MATERIALIZED VIEW" in s for s in data_api.sql("ExecuteStatement"))
    assert load_batch["WorkgroupName"] == WORKGROUP
    assert load_batch["Database"] == "dev"
    assert load_batch["SecretArn"] == SECRET_ARN
    assert load_batch["Parameters"] == [{"name": "source_file", "value": "o'brien.csv"}]
    assert not any("o'brien" in s for s in load_batch["Sqls"])
    starts = [s.split()[0] for s in load_batch["Sqls"]]
    assert starts.index("DELETE") < starts.index("INSERT")
    assert any(s.startswith(f"COPY staged_movies FROM '{STAGED_URI}'") for s in load_batch["Sqls"])


def test_a_failed_copy_raises_redshifts_error(data_api: DataApi) -> None:
    data_api.tables_ready()
    batch = statement_id()
    error = (
        "Spectrum Scan Error. File has an incompatible Parquet schema for column "
        "'imdb_rating'. Column type: DOUBLE PRECISION, Parquet schema: optional byte_array"
    )
    data_api.stubber.add_response("batch_execute_statement", {"Id": batch})
    data_api.stubber.add_response(
        "describe_statement",
        {
            "Id": batch,
            "Status": "FAILED",
            "Error": error,
            "SubStatements": [
                {"Id": f"{batch}:1", "Status": "FINISHED", "QueryString": "CREATE TEMP TABLE x"},
                {
                    "Id": f"{batch}:2",
                    "Status": "FAILED",
                    "Error": error,
                    "QueryString": f"COPY staged_movies FROM '{STAGED_URI}'",
                },
                {"Id": f"{batch}:3", "Status": "ABORTED", "QueryString": "DELETE FROM x"},
            ],
        },
    )

    with pytest.raises(RedshiftStatementError) as failure:
        make_warehouse().load_file(staged_table("imdb_movies_rating.csv", 3))

    assert error in str(failure.value)
    assert f"{batch}:2" in str(failure.value)
    assert "COPY staged_movies" in str(failure.value)


def test_an_aborted_statement_raises(data_api: DataApi) -> None:
    sid = statement_id()
    data_api.stubber.add_response("execute_statement", {"Id": sid})
    data_api.stubber.add_response(
        "describe_statement",
        {"Id": sid, "Status": "ABORTED", "QueryString": "REFRESH MATERIALIZED VIEW x"},
    )

    with pytest.raises(RedshiftStatementError, match=f"{sid} ABORTED"):
        make_warehouse().execute("REFRESH MATERIALIZED VIEW x")


def test_row_counts_creates_the_missing_view_first(data_api: DataApi) -> None:
    data_api.tables_ready(view_exists=False)
    data_api.finished("execute_statement")
    data_api.finished(
        "execute_statement",
        result=[
            [{"stringValue": "a.csv"}, {"longValue": 3}],
            [{"stringValue": "b.csv"}, {"longValue": 9}],
        ],
        columns=("source_file", "row_count"),
    )

    counts = make_warehouse().row_counts()

    assert counts == {"a.csv": 3, "b.csv": 9}
    lookup, create, count = data_api.params("ExecuteStatement")
    assert "svv_mv_info" in lookup["Sql"]
    assert lookup["Parameters"] == [
        {"name": "schema_name", "value": "movies"},
        {"name": "view", "value": "year_aggregated"},
    ]
    assert create["Sql"].startswith("CREATE MATERIALIZED VIEW movies.year_aggregated AS")
    assert count["Sql"].startswith("SELECT source_file, COUNT(*)")


def test_refresh_year_aggregated_refreshes_then_reads_every_page(data_api: DataApi) -> None:
    data_api.tables_ready()
    data_api.finished("execute_statement")
    select = statement_id()
    data_api.stubber.add_response("execute_statement", {"Id": select})
    data_api.stubber.add_response(
        "describe_statement", {"Id": select, "Status": "FINISHED", "HasResultSet": True}
    )
    columns = [
        {"name": "released_year"},
        {"name": "genre"},
        {"name": "movie_count"},
        {"name": "avg_imdb_rating"},
    ]
    data_api.stubber.add_response(
        "get_statement_result",
        {
            "ColumnMetadata": columns,
            "Records": [
                [
                    {"stringValue": "1972"},
                    {"stringValue": "Crime, Drama"},
                    {"longValue": 1},
                    {"doubleValue": 9.2},
                ]
            ],
            "NextToken": "page-2",
        },
    )
    data_api.stubber.add_response(
        "get_statement_result",
        {
            "ColumnMetadata": columns,
            "Records": [
                [
                    {"stringValue": "1994"},
                    {"stringValue": "Drama"},
                    {"longValue": 2},
                    {"doubleValue": 9.05},
                ]
            ],
        },
        {"Id": select, "NextToken": "page-2"},
    )

    year_aggregated = make_warehouse().refresh_year_aggregated()

    assert year_aggregated.to_dict("records") == [
        {
            "released_year": "1972",
            "genre": "Crime, Drama",
            "movie_count": 1,
            "avg_imdb_rating": 9.2,
        },
        {"released_year": "1994", "genre": "Drama", "movie_count": 2, "avg_imdb_rating": 9.05},
    ]
    refresh, _ = data_api.sql("ExecuteStatement")[-2:]
    assert refresh == "REFRESH MATERIALIZED VIEW movies.year_aggregated"


def test_a_statement_that_never_finishes_is_cancelled(moto_aws: None) -> None:
    warehouse = make_warehouse(
        workgroup_name="",
        cluster_identifier="quality-movies",
        poll_interval_seconds=0.05,
        timeout_seconds=0.3,
    )

    with pytest.raises(TimeoutError, match="still STARTED") as timeout:
        warehouse.execute("SELECT 1")

    sid = re.search(r"statement (\S+) still", str(timeout.value)).group(1)
    assert boto3.client("redshift-data").describe_statement(Id=sid)["Status"] == "ABORTED"


@pytest.mark.parametrize(
    ("workgroup", "cluster"), [("", ""), ("quality-movies", "quality-movies-cluster")]
)
def test_exactly_one_redshift_target_is_required(workgroup: str, cluster: str) -> None:
    warehouse = make_warehouse(workgroup_name=workgroup, cluster_identifier=cluster)

    with pytest.raises(ValueError, match="exactly one"):
        warehouse.target()


def test_a_cluster_target_without_secret_uses_the_database_user() -> None:
    warehouse = make_warehouse(
        workgroup_name="", cluster_identifier="quality-movies", secret_arn="", db_user="loader"
    )

    assert warehouse.target() == {
        "Database": "dev",
        "ClusterIdentifier": "quality-movies",
        "DbUser": "loader",
    }


# One warehouse load per batch: the statements, parsed as Redshift SQL, then run on real engines.

MANIFEST_URI = "s3://quality-movie-bucket/validated_movies/_staging/t/batch.manifest"


def test_batch_statements_are_one_copy_and_one_replacement_guarded_per_file() -> None:
    sqls = load_files_statements("movies.imdb_movies_rating", MANIFEST_URI, ROLE_ARN, [3, 0, 12])

    assert len(sqls) <= 40  # the Data API's limit of statements per batch
    [copy] = [s for s in sqls if s.startswith("COPY")]
    assert copy == (
        f"COPY staged_movies FROM '{MANIFEST_URI}' IAM_ROLE '{ROLE_ARN}' FORMAT AS PARQUET MANIFEST"
    )
    assert sqls[1] == (
        "INSERT INTO batch_files (source_file, validated_rows) "
        "VALUES (:file_1, 3), (:file_2, 0), (:file_3, 12)"
    )
    [delete] = [s for s in sqls if s.startswith("DELETE")]
    assert delete == (
        "DELETE FROM movies.imdb_movies_rating "
        "WHERE source_file IN (SELECT source_file FROM complete_files)"
    )
    verbs = [s.split()[0] for s in sqls]
    assert verbs.index("COPY") < verbs.index("DELETE") < verbs.index("INSERT", 2)
    assert verbs[-3:] == ["DROP"] * 3
    assert not any(re.search(r"\b(BEGIN|COMMIT|ROLLBACK|END)\b", s) for s in sqls)


def test_every_statement_sent_parses_as_redshift_sql() -> None:
    setup, view = redshift_ddl_statements("movies", "imdb_movies_rating", "year_aggregated")
    sent = [
        *setup,
        view,
        *load_file_statements("movies.imdb_movies_rating", STAGED_URI, ROLE_ARN),
        *load_files_statements("movies.imdb_movies_rating", MANIFEST_URI, ROLE_ARN, [1, 2]),
        "REFRESH MATERIALIZED VIEW movies.year_aggregated",
    ]
    kinds = {
        sqlglot.exp.Create,
        sqlglot.exp.Copy,
        sqlglot.exp.Delete,
        sqlglot.exp.Insert,
        sqlglot.exp.Select,
        sqlglot.exp.Drop,
        sqlglot.exp.Command,  # REFRESH MATERIALIZED VIEW, which sqlglot keeps as a command
    }
    for sql in sent:
        tree = sqlglot.parse_one(sql, read="redshift", error_level=sqlglot.ErrorLevel.RAISE)
        assert type(tree) in kinds, sql


def test_copy_manifest_gives_each_columnar_file_its_length() -> None:
    manifest = copy_manifest([("s3://b/v/a.parquet", 2048), ("s3://b/v/b.parquet", 17)])

    # Amazon Redshift Database Developer Guide, "Using a manifest to specify data files": for ORC and
    # Parquet each entry needs meta.content_length, the object's size in bytes.
    assert manifest == {
        "entries": [
            {"url": "s3://b/v/a.parquet", "mandatory": True, "meta": {"content_length": 2048}},
            {"url": "s3://b/v/b.parquet", "mandatory": True, "meta": {"content_length": 17}},
        ]
    }


@dataclass
class RedshiftOnEngine:
    """RedshiftDataWarehouse whose Data API calls the stand-in answers on a real SQL engine, reading
    the staged Parquet from a real S3 server."""

    warehouse: RedshiftDataWarehouse
    api: RedshiftDataApi
    s3: Any
    bucket: str
    tmp_path: Path

    def stage(self, source_file: str, rows: int = 1, **overrides: str) -> ValidatedTable:
        """Upload ``rows`` validated rows of ``source_file`` where the gate stages them."""
        local = self.tmp_path / f"{uuid.uuid4().hex}.parquet"
        quoted = source_file.replace("'", "''")
        values = {"source_file": f"'{quoted}'", **overrides}
        one = validated_parquet(local, **values)
        if rows != 1:
            duckdb.sql(
                f"COPY (SELECT v.* FROM read_parquet('{one}') AS v, range({rows})) "
                f"TO '{local}.n' (FORMAT PARQUET)"
            )
            local = Path(f"{local}.n")
        key = f"validated_movies/_staging/tok/source_file={source_file}/validated_movies.parquet"
        self.s3.upload_file(str(local), self.bucket, key)
        return ValidatedTable(source_file, f"s3://{self.bucket}/{key}", rows)

    def table(self) -> dict[str, list[str]]:
        """series_title of each source file's rows in the table, sorted."""
        return {f: sorted(rows["series_title"]) for f, rows in self.api.rows_by_file.items()}

    def copy_batches(self) -> list[dict[str, Any]]:
        return [b for b in self.api.batches() if any(s.startswith("COPY") for s in b["Sqls"])]


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    if not postgres_available():
        pytest.skip(
            "PostgreSQL 15 is missing (/usr/lib/postgresql/15/bin): apt-get install postgresql"
        )
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture(params=["postgres", "duckdb"])
def redshift(
    request: pytest.FixtureRequest,
    seaweedfs: Any,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[RedshiftOnEngine]:
    dsn = request.getfixturevalue("postgres") if request.param == "postgres" else ""
    s3 = seaweedfs.client()
    api = RedshiftDataApi(s3, postgres_dsn=dsn)
    client = boto3.client("redshift-data", region_name="us-east-1")
    client.meta.events.register("before-parameter-build.redshift-data.*", api.record)
    client.meta.events.register("before-call.redshift-data.*", api.answer)
    monkeypatch.setattr(RedshiftDataWarehouse, "client", lambda self: client)
    warehouse = make_warehouse(endpoint_url=seaweedfs.endpoint_url)
    yield RedshiftOnEngine(warehouse, api, s3, s3_bucket, tmp_path)
    if dsn:
        api.engine.con.rollback()
        with api.engine.con.cursor() as cur:
            cur.execute("DROP SCHEMA IF EXISTS movies CASCADE")
        api.engine.con.commit()
        api.engine.con.close()


@pytest.mark.server
def test_a_batch_is_one_copy_and_one_transaction(redshift: RedshiftOnEngine) -> None:
    a = redshift.stage("a.csv", rows=3, series_title="'A'")
    b = redshift.stage("b.csv", rows=0)
    c = redshift.stage("o'brien.csv", rows=2, series_title="'C'")

    loaded = redshift.warehouse.load_files([a, b, c])

    assert loaded == {"a.csv": 3, "b.csv": 0, "o'brien.csv": 2}
    assert redshift.table() == {"a.csv": ["A"] * 3, "o'brien.csv": ["C"] * 2}
    [load] = redshift.copy_batches()
    assert [s for s in load["Sqls"] if s.startswith("COPY")] != []
    assert sum(s.startswith("COPY") for s in load["Sqls"]) == 1
    assert {"name": "file_3", "value": "o'brien.csv"} in load["Parameters"]
    assert redshift.api.copies == [[a.uri, b.uri, c.uri]]
    # the manifest was written beside the staged Parquet and removed after the load
    listed = redshift.s3.list_objects_v2(Bucket=redshift.bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(t.uri.split("/", 3)[3] for t in (a, b, c))


@pytest.mark.server
def test_loading_a_batch_again_replaces_its_files_rows(redshift: RedshiftOnEngine) -> None:
    first = [redshift.stage("a.csv", rows=2, series_title="'Old'"), redshift.stage("b.csv")]
    assert redshift.warehouse.load_files(first) == {"a.csv": 2, "b.csv": 1}

    again = redshift.stage("a.csv", rows=1, series_title="'New'")
    assert redshift.warehouse.load_files([again]) == {"a.csv": 1}
    emptied = redshift.stage("b.csv", rows=0)
    assert redshift.warehouse.load_files([emptied]) == {"b.csv": 0}

    assert redshift.table() == {"a.csv": ["New"]}
    assert redshift.warehouse.row_counts() == {"a.csv": 1}


@pytest.mark.server
def test_a_file_whose_rows_do_not_match_keeps_its_old_rows_alone(
    redshift: RedshiftOnEngine,
) -> None:
    redshift.warehouse.load_files([redshift.stage("a.csv", series_title="'Old'")])
    short = redshift.stage("a.csv", rows=2, series_title="'New'")
    claims_three = ValidatedTable("a.csv", short.uri, 3)
    b = redshift.stage("b.csv", rows=2)

    loaded = redshift.warehouse.load_files([claims_three, b])

    assert loaded["b.csv"] == 2
    assert isinstance(loaded["a.csv"], LoadMismatch)
    assert str(loaded["a.csv"]).startswith("a.csv: 2 rows were staged from s3://")
    assert "3 were validated" in str(loaded["a.csv"])
    assert redshift.table() == {"a.csv": ["Old"], "b.csv": ["Film", "Film"]}
    assert len(redshift.copy_batches()) == 2  # the first load, then one for the batch


@pytest.mark.server
def test_an_unreadable_file_fails_alone_found_by_halves(redshift: RedshiftOnEngine) -> None:
    tables = [redshift.stage(f"f{n}.csv", series_title=f"'T{n}'") for n in range(4)]
    broken_key = tables[2].uri.split("/", 3)[3]
    redshift.s3.put_object(Bucket=redshift.bucket, Key=broken_key, Body=b"not parquet")

    loaded = redshift.warehouse.load_files(tables)

    assert {f: v for f, v in loaded.items() if f != "f2.csv"} == {
        "f0.csv": 1,
        "f1.csv": 1,
        "f3.csv": 1,
    }
    assert isinstance(loaded["f2.csv"], RedshiftStatementError)
    assert "COPY staged_movies" in str(loaded["f2.csv"])
    assert sorted(redshift.table()) == ["f0.csv", "f1.csv", "f3.csv"]
    # the whole batch, then [f0 f1] and [f2 f3], then [f2] and [f3]
    assert [len(urls) for urls in redshift.api.copies] == [4, 2, 2, 1, 1]


@pytest.mark.server
def test_a_missing_staged_file_fails_alone_before_the_copy(redshift: RedshiftOnEngine) -> None:
    a = redshift.stage("a.csv")
    gone = ValidatedTable("gone.csv", a.uri.replace("a.csv", "gone.csv"), 1)

    loaded = redshift.warehouse.load_files([a, gone])

    assert loaded["a.csv"] == 1
    assert isinstance(loaded["gone.csv"], LoadMismatch)
    assert "gone.csv" in str(loaded["gone.csv"]) and "missing" in str(loaded["gone.csv"])
    assert redshift.api.copies == [[a.uri]]


@pytest.mark.server
def test_the_view_aggregates_what_was_loaded(redshift: RedshiftOnEngine) -> None:
    redshift.warehouse.load_files(
        [
            redshift.stage("a.csv", rows=2, imdb_rating="9.0::DOUBLE"),
            redshift.stage("b.csv", rows=1, imdb_rating="8.1::DOUBLE", genre="'Crime'"),
            redshift.stage("c.csv", rows=1, imdb_rating="8.0::DOUBLE"),
        ]
    )

    view = redshift.warehouse.refresh_year_aggregated()

    # 1994 Crime: one movie at 8.1; 1994 Drama: three at 9.0, 9.0, 8.0 (mean 26 / 3)
    assert view[["released_year", "genre", "movie_count"]].values.tolist() == [
        ["1994", "Crime", 1],
        ["1994", "Drama", 3],
    ]
    assert view["avg_imdb_rating"].tolist() == pytest.approx([8.1, 26 / 3])


@pytest.mark.server
def test_a_batch_beyond_the_files_per_copy_is_split(
    redshift: RedshiftOnEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resources, "MAX_FILES_PER_COPY", 2)
    tables = [redshift.stage(f"f{n}.csv") for n in range(3)]

    assert redshift.warehouse.load_files(tables) == {"f0.csv": 1, "f1.csv": 1, "f2.csv": 1}
    assert redshift.api.copies == [[tables[0].uri, tables[1].uri], [tables[2].uri]]


@pytest.mark.server
def test_a_parquet_column_of_another_type_fails_its_copy(redshift: RedshiftOnEngine) -> None:
    good = redshift.stage("good.csv")
    text_rating = redshift.stage("text.csv", imdb_rating="'9.0'")

    loaded = redshift.warehouse.load_files([good, text_rating])

    assert loaded["good.csv"] == 1
    assert "incompatible Parquet schema for column 'imdb_rating'" in str(loaded["text.csv"])
    assert sorted(redshift.table()) == ["good.csv"]
