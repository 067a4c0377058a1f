"""The AWS deployment on a moto server: bucket, crawler, Glue job, SNS topic and a Redshift stand-in.

Everything the pipeline talks to is what ``aws_resources`` builds, pointed at the moto server through
``QUALITY_MOVIES_AWS_ENDPOINT_URL``. Three things moto cannot do are supplied here: the crawler's table
(moto's crawler creates none), the Glue job's script run (the Glue client of the quality job is the one
from quality_movies_tests.glue, which runs the real script on local Spark), and Redshift statements (the
Data API calls of the warehouse's own boto3 client are answered by ``RedshiftDataApi``).
"""

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
import pytest
from moto.glue import models as glue_models
from moto.moto_api import state_manager

import quality_movies.environment
import quality_movies.lake
from quality_movies.definitions import build_definitions
from quality_movies.environment import Environment
from quality_movies.glue_package import SCRIPT_NAME, job_script_path
from quality_movies.jobs import INGEST_JOB, REFRESH_JOB
from quality_movies.partitions import movie_files
from quality_movies.quality.resources import GlueQualityJobRunner
from quality_movies.settings import ENV_PREFIX, PipelineSettings
from quality_movies_tests.aws_e2e.redshift_data_api import RedshiftDataApi
from quality_movies_tests.glue.conftest import (
    FAKE_CREDENTIALS,
    REGION,
    LocalGlueClient,
    moto_endpoint,  # noqa: F401 (a fixture)
)

WORKGROUP = "quality-movies"
COPY_ROLE_ARN = "arn:aws:iam::123456789012:role/quality-movies-redshift-copy"
GLUE_ROLE_ARN = "arn:aws:iam::123456789012:role/quality-movies-glue"
# The columns a Glue crawler infers for the seed file's header (CSV classifier: numbers typed, the rest
# string; Released_Year holds "PG" once, Gross has thousands separators, so both stay string).
CRAWLED_COLUMNS = [
    ("Poster_Link", "string"),
    ("Series_Title", "string"),
    ("Released_Year", "string"),
    ("Certificate", "string"),
    ("Runtime", "string"),
    ("Genre", "string"),
    ("IMDB_Rating", "double"),
    ("Overview", "string"),
    ("Meta_score", "bigint"),
    ("Director", "string"),
    ("Star1", "string"),
    ("Star2", "string"),
    ("Star3", "string"),
    ("Star4", "string"),
    ("No_of_Votes", "bigint"),
    ("Gross", "string"),
]


class LocalGlueQualityJobRunner(GlueQualityJobRunner):
    """The production runner with the one thing moto cannot do swapped: Glue's start_job_run runs the
    job script from S3 as a local Spark subprocess."""

    def glue_client(self) -> Any:
        return LocalGlueClient(
            boto3.client("glue", region_name=self.region_name, endpoint_url=self.endpoint_url),
            boto3.client("s3", region_name=self.region_name, endpoint_url=self.endpoint_url),
            self.endpoint_url,
        )


@dataclass
class Deployment:
    """The stand-in AWS account and the Dagster instance the runs record to."""

    endpoint: str
    settings: PipelineSettings
    instance: dg.DagsterInstance
    topic_arn: str
    redshift: RedshiftDataApi
    resources: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)

    def upload_input(self, source_file: str, body: bytes) -> None:
        self.client("s3").put_object(
            Bucket=self.settings.bucket, Key=self.settings.input_key(source_file), Body=body
        )

    def object_bytes(self, key: str) -> bytes:
        s3 = self.client("s3")
        return s3.get_object(Bucket=self.settings.bucket, Key=key)["Body"].read()

    def object_text(self, key: str) -> str:
        s3 = self.client("s3")
        return s3.get_object(Bucket=self.settings.bucket, Key=key)["Body"].read().decode("utf-8")

    def definitions(self) -> dg.Definitions:
        """The code location as Dagster loads it with QUALITY_MOVIES_ENV=aws (resources built anew)."""
        return build_definitions(Environment.from_env())

    def run_ingest(
        self,
        defs: dg.Definitions,
        source_file: str,
        asset_selection: list[dg.AssetKey] | None = None,
    ) -> dg.ExecuteInProcessResult:
        if not self.instance.has_dynamic_partition(movie_files.name, source_file):
            self.instance.add_dynamic_partitions(movie_files.name, [source_file])
        return defs.resolve_job_def(INGEST_JOB).execute_in_process(
            partition_key=source_file,
            instance=self.instance,
            asset_selection=asset_selection,
            raise_on_error=False,
        )

    def run_refresh(self, defs: dg.Definitions) -> dg.ExecuteInProcessResult:
        return defs.resolve_job_def(REFRESH_JOB).execute_in_process(
            instance=self.instance, raise_on_error=False
        )

    def notify(self, defs: dg.Definitions, result: dg.ExecuteInProcessResult) -> None:
        """Evaluate the run-status sensor for the run's outcome, with the deployment's notifier."""
        succeeded = result.success
        event_type = (
            dg.DagsterEventType.RUN_SUCCESS if succeeded else dg.DagsterEventType.RUN_FAILURE
        )
        event = next(e for e in reversed(result.all_events) if e.event_type == event_type)
        name = "notify_on_success" if succeeded else "notify_on_failure"
        context = dg.build_run_status_sensor_context(
            sensor_name=name,
            dagster_instance=self.instance,
            dagster_run=result.dagster_run,
            dagster_event=event,
            resources={key: self.resources[key] for key in ("notifier", "lake", "ledger")},
        )
        defs.resolve_sensor_def(name)(context if succeeded else context.for_run_failure())

    def subscribe_queue(self, name: str) -> str:
        """URL of a new SQS queue subscribed to the topic."""
        sqs = self.client("sqs")
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.client("sns").subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn)
        return queue_url

    def notifications(self, queue_url: str) -> list[dict[str, Any]]:
        """The SNS envelopes delivered to the queue since the last call (subject and decoded
        message); they are deleted, so none comes back when SQS's visibility timeout ends."""
        sqs = self.client("sqs")
        response = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        received = response.get("Messages", [])
        for message in received:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        envelopes = [json.loads(m["Body"]) for m in received]
        return [{"subject": e["Subject"], "message": json.loads(e["Message"])} for e in envelopes]


def create_crawled_table(crawler: glue_models.FakeCrawler) -> None:
    """What a crawl over ``s3://<bucket>/<folder>/`` leaves: table ``<folder>`` in the crawler's database."""
    [target] = crawler.targets["S3Targets"]
    table_name = target["Path"].rstrip("/").rsplit("/", 1)[1]
    database = crawler.backend.get_database(crawler.database_name)
    if table_name in database.tables:
        return
    crawler.backend.create_table(
        crawler.database_name,
        table_name,
        {
            "Name": table_name,
            "StorageDescriptor": {
                "Columns": [{"Name": n, "Type": t} for n, t in CRAWLED_COLUMNS],
                "Location": target["Path"],
            },
            "Parameters": {"classification": "csv", "delimiter": ","},
        },
    )


def aws_variables(endpoint: str, topic_arn: str, home: Path) -> dict[str, str]:
    return {
        **FAKE_CREDENTIALS,
        "QUALITY_MOVIES_ENV": "aws",
        "QUALITY_MOVIES_HOME": str(home),
        "QUALITY_MOVIES_AWS_ENDPOINT_URL": endpoint,
        "QUALITY_MOVIES_REDSHIFT_WORKGROUP": WORKGROUP,
        "QUALITY_MOVIES_REDSHIFT_IAM_ROLE_ARN": COPY_ROLE_ARN,
        "QUALITY_MOVIES_SNS_TOPIC_ARN": topic_arn,
    }


@pytest.fixture(scope="module")
def deployment(
    moto_endpoint: str,  # noqa: F811 (the fixture imported above)
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    """The stack on moto (bucket, job script, Glue database/crawler/job, topic) and the AWS variables."""
    settings = PipelineSettings()
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_endpoint, **_keys())
    glue = boto3.client("glue", region_name=REGION, endpoint_url=moto_endpoint, **_keys())
    sns = boto3.client("sns", region_name=REGION, endpoint_url=moto_endpoint, **_keys())
    s3.create_bucket(Bucket=settings.bucket)
    script_key = f"{settings.glue_assets_prefix}{SCRIPT_NAME}"
    s3.upload_file(str(job_script_path()), settings.bucket, script_key)
    glue.create_database(DatabaseInput={"Name": settings.glue_database})
    glue.create_crawler(
        Name=settings.crawler_name,
        Role=GLUE_ROLE_ARN,
        DatabaseName=settings.glue_database,
        Targets={"S3Targets": [{"Path": f"s3://{settings.bucket}/{settings.input_prefix}"}]},
    )
    glue.create_job(
        Name=settings.glue_job_name,
        Role=GLUE_ROLE_ARN,
        Command={
            "Name": "glueetl",
            "ScriptLocation": f"s3://{settings.bucket}/{script_key}",
            "PythonVersion": "3",
        },
        GlueVersion="5.0",
    )
    topic_arn = sns.create_topic(Name=settings.sns_topic_name)["TopicArn"]

    with pytest.MonkeyPatch.context() as patch, dg.DagsterInstance.ephemeral() as instance:
        for name in list(os.environ):
            if name.startswith(ENV_PREFIX) or name in {"AWS_PROFILE", "AWS_ENDPOINT_URL"}:
                patch.delenv(name)
        home = tmp_path_factory.mktemp("quality-movies-home")
        for name, value in aws_variables(moto_endpoint, topic_arn, home).items():
            patch.setenv(name, value)
        deployment = Deployment(
            endpoint=moto_endpoint,
            settings=settings,
            instance=instance,
            topic_arn=topic_arn,
            redshift=RedshiftDataApi(s3),
        )
        _swap_glue_client(patch, deployment)
        _answer_redshift_data_api(patch, deployment)
        start_crawler = glue_models.FakeCrawler.start_crawler

        def crawl_writing_its_table(crawler: glue_models.FakeCrawler) -> None:
            start_crawler(crawler)
            create_crawled_table(crawler)

        patch.setattr(glue_models.FakeCrawler, "start_crawler", crawl_writing_its_table)
        state_manager.set_transition("glue::crawl", {"progression": "immediate"})
        try:
            yield deployment
        finally:
            state_manager.unset_transition("glue::crawl")


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


def _swap_glue_client(patch: pytest.MonkeyPatch, deployment: Deployment) -> None:
    """aws_resources as written, with only the quality job's Glue client running the script locally."""
    aws_resources = quality_movies.environment.aws_resources

    def aws_resources_with_local_glue(env: Environment) -> dict[str, Any]:
        built = aws_resources(env)
        built["quality_job"] = LocalGlueQualityJobRunner(**built["quality_job"].model_dump())
        deployment.resources = built
        return built

    patch.setattr(quality_movies.environment, "aws_resources", aws_resources_with_local_glue)


def _answer_redshift_data_api(patch: pytest.MonkeyPatch, deployment: Deployment) -> None:
    """Every redshift-data client the resources build is real; its calls go to the stand-in."""
    aws_client = quality_movies.lake.aws_client

    def aws_client_with_redshift_stand_in(service: str, *args: Any, **kwargs: Any) -> Any:
        client = aws_client(service, *args, **kwargs)
        if service == "redshift-data":
            events = client.meta.events
            events.register(
                "before-parameter-build.redshift-data.*",
                lambda **kw: deployment.redshift.record(**kw),
            )
            events.register(
                "before-call.redshift-data.*", lambda **kw: deployment.redshift.answer(**kw)
            )
        return client

    patch.setattr(quality_movies.lake, "aws_client", aws_client_with_redshift_stand_in)
