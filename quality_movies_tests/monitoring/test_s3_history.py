"""The AWS path's metric history: Parquet under dq_metrics/ on a real S3 server, readable by Spark."""

from datetime import UTC, datetime, timedelta

import pytest

from quality_movies.dq.metric_history import FileQuality, StoredMetricHistory
from quality_movies.lake import LocalLake, S3Lake
from quality_movies.monitoring.resources import ParquetMetricStore
from quality_movies_tests.aws.conftest import S3Server, s3_bucket, seaweedfs  # noqa: F401

ROW_COUNT = "Dataset.*.RowCount"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def run_of(source_file: str, rows: int, minute: int) -> FileQuality:
    return FileQuality(
        source_file=source_file,
        file_version='"0123abcd"',
        run_id=f"run-{minute}",
        ruleset_fingerprint="f" * 64,
        rule_outcomes=[
            {"Rule": "RowCount > 0", "Outcome": "Passed", "EvaluatedMetrics": {ROW_COUNT: rows}}
        ],
        processed_at=T0 + timedelta(minutes=minute),
    )


@pytest.mark.server
def test_history_on_s3_is_one_parquet_object_per_file_version(
    seaweedfs: S3Server,  # noqa: F811
    s3_bucket: str,  # noqa: F811
) -> None:
    lake = S3Lake(bucket=s3_bucket, endpoint_url=seaweedfs.endpoint_url, region_name="us-east-1")
    store = ParquetMetricStore(lake=lake)
    for name, rows, minute in [("b.csv", 1000, 1), ("a b.csv", 1010, 2), ("c.csv", 990, 3)]:
        store.record(run_of(name, rows, minute))
    store.record(run_of("b.csv", 700, 4))  # a re-run replaces b.csv's object, keeps its place

    keys = [o.key for o in lake.list_objects("dq_metrics/")]
    assert keys == [
        "dq_metrics/a%20b.csv=%220123abcd%22.parquet",
        "dq_metrics/b.csv=%220123abcd%22.parquet",
        "dq_metrics/c.csv=%220123abcd%22.parquet",
    ]
    assert store.history("d.csv", '"0123abcd"').previous(ROW_COUNT) == [700, 1010, 990]
    assert store.history("c.csv", '"0123abcd"').previous(ROW_COUNT, 10) == [700, 1010]
    store.forget("a b.csv", '"0123abcd"')
    assert store.history("d.csv", '"0123abcd"').previous(ROW_COUNT) == [700, 990]


@pytest.mark.spark
def test_spark_reads_the_same_history(spark, tmp_path) -> None:
    lake = LocalLake(root=str(tmp_path / "lake"))
    store = ParquetMetricStore(lake=lake)
    for name, rows, minute in [("b.csv", 1000, 1), ("a.csv", 1010, 2), ("c.csv", 990, 3)]:
        store.record(run_of(name, rows, minute))
    folder = lake.uri("dq_metrics/")
    rows = spark.read.parquet(folder).toPandas()
    history = StoredMetricHistory.from_frame(rows, exclude=("c.csv", '"0123abcd"'))
    assert history.previous(ROW_COUNT) == [1000, 1010]
    assert history.previous(ROW_COUNT) == store.history("c.csv", '"0123abcd"').previous(ROW_COUNT)


def test_the_folder_is_one_external_table_for_athena() -> None:
    import sqlglot
    from sqlglot import exp

    from quality_movies.dq.metric_history import COLUMN_NAMES, external_table_ddl

    ddl = external_table_ddl("s3://quality-movie-bucket/dq_metrics/")
    create = sqlglot.parse_one(ddl, read="athena")
    assert isinstance(create, exp.Create)
    assert [c.name for c in create.find_all(exp.ColumnDef)] == COLUMN_NAMES
    assert "LOCATION 's3://quality-movie-bucket/dq_metrics/'" in create.sql(dialect="athena")
