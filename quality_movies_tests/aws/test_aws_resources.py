"""aws_resources: every resource key built from the settings and the QUALITY_MOVIES_* variables."""

from pathlib import Path

import dagster as dg
import pytest
from dagster_aws.s3 import S3PickleIOManager

from quality_movies.environment import Environment
from quality_movies.lake import GlueCrawlerCatalog, S3Lake
from quality_movies.notifications.resources import SnsNotifier
from quality_movies.warehouse.resources import RedshiftDataWarehouse

TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:films-notifications"
ROLE_ARN = "arn:aws:iam::123456789012:role/quality-movies-redshift-copy"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:redshift-AbCdEf"

AWS_VARIABLES = {
    "QUALITY_MOVIES_ENV": "aws",
    "QUALITY_MOVIES_BUCKET": "films-bucket",
    "QUALITY_MOVIES_REGION": "eu-west-1",
    "QUALITY_MOVIES_AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
    "QUALITY_MOVIES_REDSHIFT_WORKGROUP": "films",
    "QUALITY_MOVIES_REDSHIFT_DATABASE": "analytics",
    "QUALITY_MOVIES_REDSHIFT_SECRET_ARN": SECRET_ARN,
    "QUALITY_MOVIES_REDSHIFT_IAM_ROLE_ARN": ROLE_ARN,
    "QUALITY_MOVIES_SNS_TOPIC_ARN": TOPIC_ARN,
}


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Environment:
    for name in (
        "QUALITY_MOVIES_REDSHIFT_CLUSTER",
        "QUALITY_MOVIES_REDSHIFT_DB_USER",
        "QUALITY_MOVIES_QUALITY_ENGINE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**AWS_VARIABLES, "QUALITY_MOVIES_HOME": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    return Environment.from_env()


def test_aws_resources_follow_settings_and_variables(aws_environment: Environment) -> None:
    from quality_movies.quality.resources import GlueQualityJobRunner

    resources = Environment.from_env().resources()

    assert set(resources) == {
        "lake",
        "catalog",
        "quality_job",
        "warehouse",
        "notifier",
        "io_manager",
        "ledger",
        "metric_store",
        "quality_metrics",
    }
    lake = resources["lake"]
    assert isinstance(lake, S3Lake)
    assert (lake.bucket, lake.region_name, lake.endpoint_url) == (
        "films-bucket",
        "eu-west-1",
        "http://127.0.0.1:4566",
    )
    assert lake.input_prefix == "input_data/"
    catalog = resources["catalog"]
    assert isinstance(catalog, GlueCrawlerCatalog)
    assert (catalog.database, catalog.table, catalog.crawler_name) == (
        "imdb-movies",
        "input_data",
        "quality-movies-crawler",
    )
    job = resources["quality_job"]
    assert isinstance(job, GlueQualityJobRunner)
    assert (job.job_name, job.region_name, job.endpoint_url) == (
        "quality-movies-dq-job",
        "eu-west-1",
        "http://127.0.0.1:4566",
    )
    warehouse = resources["warehouse"]
    assert isinstance(warehouse, RedshiftDataWarehouse)
    assert (warehouse.workgroup_name, warehouse.cluster_identifier, warehouse.database) == (
        "films",
        "",
        "analytics",
    )
    assert warehouse.iam_role_arn == ROLE_ARN
    assert warehouse.secret_arn == dg.EnvVar("QUALITY_MOVIES_REDSHIFT_SECRET_ARN")
    assert warehouse.qualified_table == "movies.imdb_movies_rating"
    notifier = resources["notifier"]
    assert isinstance(notifier, SnsNotifier)
    assert (notifier.topic_arn, notifier.region_name) == (TOPIC_ARN, "eu-west-1")
    io_manager = resources["io_manager"]
    assert isinstance(io_manager, S3PickleIOManager)
    assert (io_manager.s3_bucket, io_manager.s3_prefix) == ("films-bucket", "dagster-io")
    assert io_manager.s3_resource.endpoint_url == "http://127.0.0.1:4566"


def test_the_secret_arn_resolves_when_dagster_builds_the_warehouse(
    aws_environment: Environment,
) -> None:
    warehouse = Environment.from_env().resources()["warehouse"]

    with dg.build_resources({"warehouse": warehouse}) as built:
        assert built.warehouse.secret_arn == SECRET_ARN


def test_the_spark_engine_is_selectable(
    aws_environment: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quality_movies.quality.resources import SparkQualityJobRunner

    monkeypatch.setenv("QUALITY_MOVIES_QUALITY_ENGINE", "spark")

    assert isinstance(Environment.from_env().resources()["quality_job"], SparkQualityJobRunner)


def test_an_unknown_engine_is_refused(
    aws_environment: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUALITY_MOVIES_QUALITY_ENGINE", "emr")

    with pytest.raises(ValueError, match="'glue' or 'spark'"):
        Environment.from_env().resources()


def test_missing_variables_are_all_named(
    aws_environment: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUALITY_MOVIES_REDSHIFT_WORKGROUP")
    monkeypatch.delenv("QUALITY_MOVIES_SNS_TOPIC_ARN")

    with pytest.raises(ValueError) as missing:
        Environment.from_env().resources()

    assert "QUALITY_MOVIES_REDSHIFT_WORKGROUP or QUALITY_MOVIES_REDSHIFT_CLUSTER" in str(
        missing.value
    )
    assert "QUALITY_MOVIES_SNS_TOPIC_ARN" in str(missing.value)
    assert "IAM_ROLE_ARN" not in str(missing.value)


def test_a_provisioned_cluster_and_no_endpoint(
    aws_environment: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUALITY_MOVIES_REDSHIFT_WORKGROUP")
    monkeypatch.delenv("QUALITY_MOVIES_REDSHIFT_SECRET_ARN")
    monkeypatch.delenv("QUALITY_MOVIES_AWS_ENDPOINT_URL")
    monkeypatch.setenv("QUALITY_MOVIES_REDSHIFT_CLUSTER", "films-cluster")
    monkeypatch.setenv("QUALITY_MOVIES_REDSHIFT_DB_USER", "loader")

    resources = Environment.from_env().resources()

    assert resources["warehouse"].target() == {
        "Database": "analytics",
        "ClusterIdentifier": "films-cluster",
        "DbUser": "loader",
    }
    assert resources["lake"].endpoint_url == ""
    assert resources["io_manager"].s3_resource.endpoint_url is None
