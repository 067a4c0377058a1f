"""The exported per-file state machine executed by moto's Step Functions against the AWS deployment, its
Glue step answered by the Glue entrypoint script run on local Spark with the job run's arguments (moto's
job runs run nothing) and its Redshift Data API calls by the stand-in: each file ends as the pipeline
step started directly ends it (test_aws_pipeline.py compares that with the Dagster AWS path), a replayed
event changes nothing, and a failed crawl or job run ends the execution failed with one message naming
the cause."""

import importlib.util
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.config import default_user_config
from moto.glue import models as glue_models
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_glue,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
)

from quality_movies.glue_package import job_script_path
from quality_movies.infra.state_machine import state_machine_definition
from quality_movies.quality.glue_job import packaged_ruleset_text
from quality_movies_tests.aws_e2e.conftest import (
    COPY_ROLE_ARN,
    GLUE_ROLE_ARN,
    WORKGROUP,
    Deployment,
)
from quality_movies_tests.aws_e2e.redshift_data_api import RedshiftDataApi
from quality_movies_tests.aws_e2e.test_aws_deployment import output_keys, staged_keys
from quality_movies_tests.aws_e2e.test_aws_pipeline import (
    EXPECTED_COUNTS,
    FILES,
    RUN_FIELDS,
    by_file,
    etag,
    forget_outcomes,
    ledger,
    outcome_of,
    start_pipeline_job,
)
from quality_movies_tests.glue.conftest import REGION

pytestmark = [pytest.mark.server, pytest.mark.spark, pytest.mark.xdist_group("aws_e2e")]

EXECUTION_DEADLINE_SECONDS = 300  # a cold Spark evaluation on a busy two-core machine


class GlueJobRuns:
    """moto's job runs started with ``--pipeline true`` (the state machine's), each running the Glue
    entrypoint script in a thread of this process with the run's arguments (the job's default arguments and the state machine's), on local Spark: RUNNING
    until the script returns, then SUCCEEDED, or FAILED with its error message."""

    def __init__(self, spark: Any, endpoint: str) -> None:
        spec = importlib.util.spec_from_file_location("glue_entrypoint", job_script_path())
        self.script = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.script)
        self.script.start_session = lambda argv: (spark, self)  # Glue's session and Job
        self.endpoint = endpoint
        self.errors: dict[str, str] = {}
        self.lock = threading.Lock()  # one Spark job run at a time, as one worker would

    def commit(self) -> None:
        """Glue's Job.commit."""

    def start(self, job: glue_models.FakeJob, run_id: str) -> None:
        run = next(r for r in job.job_runs if r.job_run_id == run_id)
        if run.arguments.get("--pipeline") != "true":
            return  # the Dagster path's runs: its Glue client runs those itself
        run._transitions = []  # its status is the script's, never moto's own progression
        argv = [
            "quality_movies_job.py",
            *[x for name, value in run.arguments.items() for x in (name, value)],
        ]

        def run_script() -> None:
            with self.lock:
                try:
                    self.script.main(argv)
                except Exception as error:
                    self.errors[run_id] = str(error)
                    run.status = "FAILED"
                else:
                    run.status = "SUCCEEDED"

        run.status = "RUNNING"
        threading.Thread(target=run_script, daemon=True).start()


@pytest.fixture
def job_runs(deployment: Deployment, spark: Any, monkeypatch: pytest.MonkeyPatch) -> GlueJobRuns:
    runs = GlueJobRuns(spark, deployment.endpoint)
    start_job_run = glue_models.FakeJob.start_job_run
    as_dict = glue_models.FakeJobRun.as_dict

    def start_job_run_running_the_script(job: glue_models.FakeJob, *args: Any, **kwargs: Any):
        run_id = start_job_run(job, *args, **kwargs)
        runs.start(job, run_id)
        return run_id

    def as_dict_with_error(run: glue_models.FakeJobRun) -> dict[str, Any]:
        described = as_dict(run)
        if run.job_run_id in runs.errors:
            described["ErrorMessage"] = runs.errors[run.job_run_id]
        return described

    monkeypatch.setattr(glue_models.FakeJob, "start_job_run", start_job_run_running_the_script)
    monkeypatch.setattr(glue_models.FakeJobRun, "as_dict", as_dict_with_error)
    monkeypatch.setenv("AWS_ENDPOINT_URL", deployment.endpoint)  # the script's own S3 client
    return runs


def fake_job(deployment: Deployment) -> glue_models.FakeJob:
    backend = glue_models.glue_backends[DEFAULT_ACCOUNT_ID][REGION]
    return backend.get_job(deployment.settings.glue_job_name)


@pytest.fixture
def state_machine(
    deployment: Deployment, job_runs: GlueJobRuns, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], dict[str, Any]]:
    """The exported per-file ASL on moto's interpreter (server mode), the job's default arguments as
    the stack sets them; returns a function that starts an execution for an input key and waits."""
    monkeypatch.setitem(default_user_config["stepfunctions"], "execute_state_machine", True)
    monkeypatch.setenv("MOTO_PORT", deployment.endpoint.rsplit(":", 1)[1])
    # moto 5.2.5 quirks, as in quality_movies_tests/infra/conftest.py (FACTS.md)
    monkeypatch.setattr(
        state_task_service_glue,
        "_SUPPORTED_INTEGRATION_PATTERNS",
        {ResourceCondition.Sync, ResourceCondition.WaitForTaskToken},
    )
    monkeypatch.setitem(state_task_service_aws_sdk._SERVICE_ERROR_NAMES, "glue", "Glue")
    s = deployment.settings
    # the template's DefaultArguments the pipeline reads, and the stand-in endpoint (moto has no
    # UpdateJob: set on its job)
    monkeypatch.setattr(
        fake_job(deployment),
        "default_arguments",
        {
            "--bucket": s.bucket,
            "--input_prefix": s.input_prefix,
            "--redshift_workgroup": WORKGROUP,
            "--redshift_database": "dev",
            "--redshift_iam_role_arn": COPY_ROLE_ARN,
            "--endpoint_url": deployment.endpoint,
        },
    )
    deployment.client("s3").put_object(
        Bucket=s.bucket,
        Key=f"{s.glue_assets_prefix}ruleset.dqdl",
        Body=packaged_ruleset_text().encode(),  # glue-package's ruleset.dqdl
    )
    sfn = deployment.client("stepfunctions")
    definition = state_machine_definition(s, topic_arn=deployment.topic_arn, crawler_poll_seconds=1)
    arn = sfn.create_state_machine(
        name=f"{s.state_machine_name}-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn=GLUE_ROLE_ARN,
    )["stateMachineArn"]

    def execute(input_key: str) -> dict[str, Any]:
        event = {"detail": {"bucket": {"name": s.bucket}, "object": {"key": input_key}}}
        execution_arn = sfn.start_execution(
            stateMachineArn=arn, name=str(uuid.uuid4()), input=json.dumps(event)
        )["executionArn"]
        deadline = time.monotonic() + EXECUTION_DEADLINE_SECONDS
        while (execution := sfn.describe_execution(executionArn=execution_arn))[
            "status"
        ] == "RUNNING":
            assert time.monotonic() < deadline, f"{execution_arn} still RUNNING"
            time.sleep(0.5)
        return execution

    return execute


def test_each_file_ends_through_the_state_machine_as_through_the_pipeline_step(
    deployment: Deployment, state_machine: Callable[[str], dict[str, Any]]
) -> None:
    """Compared with the pipeline step started directly (``start_pipeline_job``), which
    test_aws_pipeline.py compares field by field with the Dagster AWS path (this test leaves the
    Dagster run out: its Glue subprocess doubles the Spark time)."""
    names = list(FILES)
    for name, body in FILES.items():
        deployment.upload_input(name, body.encode())
    deployment.redshift = RedshiftDataApi(deployment.client("s3"))
    queue_url = deployment.subscribe_queue("state-machine-parity")
    start_pipeline_job(deployment, names, "direct-run")
    direct_sent = by_file(deployment.notifications(queue_url))
    direct = {name: outcome_of(deployment, name) for name in names}
    for name in names:
        forget_outcomes(deployment, name)
    deployment.redshift = RedshiftDataApi(deployment.client("s3"))

    # a queue per phase: the deployment's reads leave the messages they read in their queue
    queue_url = deployment.subscribe_queue("state-machine-parity-executions")
    executions = {name: state_machine(deployment.settings.input_key(name)) for name in names}

    pipeline_sent = deployment.notifications(queue_url)
    # one message per file, the job's; none of the state machine's own
    assert sorted(m["subject"] for m in pipeline_sent) == sorted(
        f"quality_movies succeeded: {name}" for name in names
    )
    pipeline_sent = by_file(pipeline_sent)
    for name in names:
        execution = executions[name]
        assert execution["status"] == "SUCCEEDED", execution
        ours, theirs = outcome_of(deployment, name), direct[name]
        assert ours["keys"] == theirs["keys"] and len(ours["keys"]) == 3
        assert ours["bad_records"] == theirs["bad_records"]
        assert ours["rule_outcomes"] == theirs["rule_outcomes"]
        pd.testing.assert_frame_equal(ours["validated"], theirs["validated"])
        pd.testing.assert_frame_equal(ours["warehouse"], theirs["warehouse"])
        assert len(ours["warehouse"]) == EXPECTED_COUNTS[name]["rows_loaded"]
        pd.testing.assert_frame_equal(ours["history"], theirs["history"])
        assert ours["ledger"] == theirs["ledger"] == (etag(deployment, name), "processed", "", True)
        execution_name = execution["executionArn"].rsplit(":", 1)[1]
        record = ledger(deployment).get(deployment.settings.input_key(name), etag(deployment, name))
        assert record.owner == f"stepfunctions:{execution_name}"
        mine, theirs_sent = pipeline_sent[name]["message"], direct_sent[name]["message"]
        assert mine["run_id"] == execution_name
        assert mine["run_url"].endswith(execution["executionArn"])
        assert {k: mine[k] for k in EXPECTED_COUNTS[name]} == EXPECTED_COUNTS[name]
        for field in RUN_FIELDS:
            mine.pop(field), theirs_sent.pop(field)
        assert mine == theirs_sent
        report_key = f"{deployment.settings.glue_assets_prefix}reports/{execution_name}.json"
        assert json.loads(deployment.object_text(report_key))["files"][name]["status"] == (
            "succeeded"
        )
    assert staged_keys(deployment) == []

    # A replayed event: the execution succeeds, and nothing is loaded or announced again.
    copies = len(deployment.redshift.copies)
    queue_url = deployment.subscribe_queue("state-machine-parity-replay")
    replay = state_machine(deployment.settings.input_key(names[0]))
    assert replay["status"] == "SUCCEEDED"
    assert deployment.notifications(queue_url) == []
    assert len(deployment.redshift.copies) == copies
    assert outcome_of(deployment, names[0])["ledger"] == direct[names[0]]["ledger"]


def test_a_failed_crawl_or_job_run_fails_the_execution_announced_once(
    deployment: Deployment,
    state_machine: Callable[[str], dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = "state_machine_failure.csv"
    deployment.upload_input(name, (FILES["parity_mixed.csv"]).encode())
    deployment.redshift = RedshiftDataApi(deployment.client("s3"))
    queue_url = deployment.subscribe_queue("state-machine-failures")
    key = deployment.settings.input_key(name)
    glue = deployment.client("glue")

    # The job run fails as a whole (a stack without a Redshift target): one message, its cause.
    job = fake_job(deployment)
    monkeypatch.setitem(job.default_arguments, "--redshift_iam_role_arn", "")
    execution = state_machine(key)

    assert execution["status"] == "FAILED"
    [sent] = deployment.notifications(queue_url)
    assert sent["subject"] == "quality_movies pipeline failed"
    assert sent["message"]["failed_step"] == "Run Glue Job"
    cause = json.loads(sent["message"]["error"]["Cause"])
    assert cause["JobRunState"] == "FAILED"
    assert "job argument --redshift_iam_role_arn is empty" in cause["ErrorMessage"]
    assert sent["message"]["source"] == {"bucket": deployment.settings.bucket, "key": key}
    assert output_keys(deployment, name) == [] and deployment.redshift.rows_by_file == {}
    assert ledger(deployment).latest().get(key) is None  # nothing claimed: the next run takes it

    # The crawl fails: one message naming the crawl, and no job run.
    queue_url = deployment.subscribe_queue("state-machine-failed-crawl")
    start_crawler = glue_models.FakeCrawler.start_crawler

    def start_failing_crawl(crawler: glue_models.FakeCrawler) -> None:
        start_crawler(crawler)
        crawler.crawls[-1].status = "FAILED"

    monkeypatch.setattr(glue_models.FakeCrawler, "start_crawler", start_failing_crawl)
    runs_before = len(glue.get_job_runs(JobName=deployment.settings.glue_job_name)["JobRuns"])
    execution = state_machine(key)

    assert execution["status"] == "FAILED"
    [sent] = deployment.notifications(queue_url)
    assert (sent["message"]["failed_step"], sent["message"]["error"]["Error"]) == (
        "Check Crawler State",
        "Glue.CrawlFailed",
    )
    runs_after = len(glue.get_job_runs(JobName=deployment.settings.glue_job_name)["JobRuns"])
    assert runs_after == runs_before
