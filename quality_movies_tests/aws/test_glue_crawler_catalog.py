"""GlueCrawlerCatalog against moto's Glue: waiting for the crawl, reading the table, failures."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from quality_movies.lake import (
    CatalogTable,
    CrawlerFailed,
    GlueCrawlerCatalog,
    S3Lake,
    catalog_table_from_glue,
)
from quality_movies_tests.aws.moto_glue import fail_crawls

BUCKET = "quality-movie-bucket"
DATABASE = "imdb-movies"
CRAWLER = "quality-movies-crawler"
ROLE = "arn:aws:iam::123456789012:role/quality-movies-crawler"


@pytest.fixture
def lake(moto_aws: None) -> S3Lake:
    """The bucket on moto's S3 with two input files and one output beside them."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for key in ("input_data/a.csv", "input_data/b.csv", "input_data/notes.txt", "bad-records/x"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"Series_Title,IMDB_Rating\nX,9.0\n")
    return S3Lake(bucket=BUCKET)


@pytest.fixture
def glue(moto_aws: None) -> Any:
    """moto's Glue with the database and the crawler over the input prefix."""
    client = boto3.client("glue")
    client.create_database(DatabaseInput={"Name": DATABASE})
    client.create_crawler(
        Name=CRAWLER,
        Role=ROLE,
        DatabaseName=DATABASE,
        Targets={"S3Targets": [{"Path": f"s3://{BUCKET}/input_data/"}]},
    )
    return client


def create_crawled_table(glue: Any) -> None:
    """The table a crawler leaves for the seed CSV (moto's crawler creates none)."""
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": "input_data",
            "StorageDescriptor": {
                "Columns": [
                    {"Name": "Series_Title", "Type": "string"},
                    {"Name": "IMDB_Rating", "Type": "double"},
                    {"Name": "No_of_Votes", "Type": "bigint"},
                ],
                "Location": f"s3://{BUCKET}/input_data/",
            },
            "Parameters": {"classification": "csv", "delimiter": ","},
        },
    )


def make_catalog() -> GlueCrawlerCatalog:
    return GlueCrawlerCatalog(
        database=DATABASE,
        table="input_data",
        crawler_name=CRAWLER,
        poll_interval_seconds=0.05,
        max_poll_interval_seconds=0.2,
        timeout_seconds=30,
    )


def test_crawl_waits_for_the_crawler_and_reads_the_table(
    glue: Any, lake: S3Lake, crawls_take: Callable[[int], None]
) -> None:
    crawls_take(3)
    create_crawled_table(glue)

    table = make_catalog().crawl(lake)

    assert glue.get_crawler(Name=CRAWLER)["Crawler"]["State"] == "READY"
    assert glue.get_crawler(Name=CRAWLER)["Crawler"]["LastCrawl"]["Status"] == "COMPLETED"
    assert table.database == DATABASE
    assert table.name == "input_data"
    assert table.columns == [
        ("series_title", "string"),
        ("imdb_rating", "double"),
        ("no_of_votes", "bigint"),
    ]
    assert table.location == f"s3://{BUCKET}/input_data/"
    assert table.classification == "csv"
    assert table.files == ["input_data/a.csv", "input_data/b.csv"]


def test_a_crawl_already_running_is_waited_for(
    glue: Any, lake: S3Lake, crawls_take: Callable[[int], None]
) -> None:
    crawls_take(3)
    create_crawled_table(glue)
    glue.start_crawler(Name=CRAWLER)

    table = make_catalog().crawl(lake)

    assert table.columns[0] == ("series_title", "string")
    assert glue.get_crawler(Name=CRAWLER)["Crawler"]["State"] == "READY"
    assert len(glue.list_crawls(CrawlerName=CRAWLER)["Crawls"]) == 1


def test_a_failed_crawl_raises_the_crawlers_error_message(
    glue: Any, lake: S3Lake, crawls_take: Callable[[int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    crawls_take(0)
    create_crawled_table(glue)
    message = "Insufficient Lake Formation permission(s) on imdb-movies"
    fail_crawls(monkeypatch, message)

    with pytest.raises(CrawlerFailed) as failure:
        make_catalog().crawl(lake)

    assert message in str(failure.value)
    assert CRAWLER in str(failure.value)
    assert f"/aws-glue/crawlers/{CRAWLER}" in str(failure.value)


def test_a_table_missing_after_the_crawl_names_database_table_and_crawler(
    glue: Any, lake: S3Lake, crawls_take: Callable[[int], None]
) -> None:
    crawls_take(0)

    with pytest.raises(LookupError) as missing:
        make_catalog().crawl(lake)

    assert f"{DATABASE}.input_data" in str(missing.value)
    assert CRAWLER in str(missing.value)


def test_a_crawler_that_never_finishes_times_out(
    glue: Any, lake: S3Lake, crawls_take: Callable[[int], None]
) -> None:
    crawls_take(10**6)
    catalog = make_catalog().model_copy(update={"timeout_seconds": 0.3})

    with pytest.raises(TimeoutError, match=f"{CRAWLER} still RUNNING"):
        catalog.crawl(lake)


def test_get_table_before_any_crawl_is_none(glue: Any) -> None:
    assert make_catalog().get_table() is None


def test_catalog_table_from_glue_keeps_partition_keys_and_storage_classification() -> None:
    table = catalog_table_from_glue(
        {
            "Name": "input_data",
            "DatabaseName": DATABASE,
            "StorageDescriptor": {
                "Columns": [{"Name": " Genre ", "Type": "string"}],
                "Location": "s3://b/input_data/",
                "Parameters": {"classification": "csv"},
            },
            "PartitionKeys": [{"Name": "Partition_0", "Type": "string"}],
            "UpdateTime": datetime(2024, 5, 1, 12, 0, 0),
        }
    )

    assert table == CatalogTable(
        database=DATABASE,
        name="input_data",
        location="s3://b/input_data/",
        columns=[("genre", "string"), ("partition_0", "string")],
        classification="csv",
        updated_at="2024-05-01T12:00:00",
    )


def test_ready_before_the_new_crawl_is_recorded_is_not_taken_for_finished(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    glue = boto3.client(
        "glue", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    monkeypatch.setattr(GlueCrawlerCatalog, "client", lambda self: glue)
    earlier = {"Status": "SUCCEEDED", "StartTime": datetime(2024, 5, 1), "MessagePrefix": "crawl-1"}
    ours = {"Status": "SUCCEEDED", "StartTime": datetime(2024, 5, 2), "MessagePrefix": "crawl-2"}
    table = {
        "Name": "input_data",
        "DatabaseName": DATABASE,
        "StorageDescriptor": {"Columns": [{"Name": "Genre", "Type": "string"}]},
        "Parameters": {"classification": "csv"},
    }
    lake = S3Lake(bucket=BUCKET)
    monkeypatch.setattr(S3Lake, "list_objects", lambda self, prefix: [])
    with Stubber(glue) as stubber:
        stubber.add_response("get_crawler", {"Crawler": {"State": "READY", "LastCrawl": earlier}})
        stubber.add_response("start_crawler", {}, {"Name": CRAWLER})
        stubber.add_response("get_crawler", {"Crawler": {"State": "READY", "LastCrawl": earlier}})
        stubber.add_response("get_crawler", {"Crawler": {"State": "RUNNING", "LastCrawl": earlier}})
        stubber.add_response("get_crawler", {"Crawler": {"State": "READY", "LastCrawl": ours}})
        stubber.add_response("get_table", {"Table": table})

        crawled = make_catalog().crawl(lake)

        stubber.assert_no_pending_responses()
    assert crawled.columns == [("genre", "string")]
