"""A moto server on 127.0.0.1 (reachable from a job subprocess) and a Glue client that runs the job."""

import os
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server in this process, on a free loopback port, stopped after the module.

    moto's backends are shared by every server in the process, so each module starts from a reset:
    buckets and job runs left by another module never leak into its assertions.
    """
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    urllib.request.urlopen(
        urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=30
    )
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def aws_env(monkeypatch, moto_endpoint) -> str:
    """Fake credentials for every boto3 client of the test; never real AWS."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint


def client(service: str, endpoint: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


@dataclass
class LocalJobRun:
    returncode: int
    stdout: str
    stderr: str


class LocalGlueClient:
    """moto's Glue client whose ``start_job_run`` really runs the job's script from S3 as a subprocess.

    As in dagster-aws's own Pipes tests, moto records the run and the script runs locally; here it runs
    to completion inside ``start_job_run``, so ``get_job_run`` reports its final state at once.
    """

    def __init__(
        self,
        glue: Any,
        s3: Any,
        endpoint: str,
        timeout: float = 240,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
        credentials: dict[str, str] | None = None,
    ):
        self.glue = glue
        self.s3 = s3
        self.endpoint = endpoint
        self.timeout = timeout
        self.python = python
        self.env = env or {}
        self.credentials = credentials or {}  # in place of FAKE_CREDENTIALS' values
        self.runs: dict[str, LocalJobRun] = {}

    @property
    def meta(self) -> Any:
        return self.glue.meta

    def start_job_run(self, JobName: str, Arguments: dict[str, str] | None = None, **kwargs):  # noqa: N803
        script_uri = self.glue.get_job(JobName=JobName)["Job"]["Command"]["ScriptLocation"]
        bucket, key = script_uri.split("://", 1)[1].split("/", 1)
        response = self.glue.start_job_run(JobName=JobName, Arguments=Arguments or {}, **kwargs)
        args = [item for pair in (Arguments or {}).items() for item in pair]
        env = {
            **os.environ,
            **self.env,
            **FAKE_CREDENTIALS,
            **self.credentials,
            "AWS_ENDPOINT_URL": self.endpoint,
        }
        with tempfile.TemporaryDirectory(prefix="glue-script-") as tmp:
            script = Path(tmp) / Path(key).name
            self.s3.download_file(bucket, key, str(script))
            done = subprocess.run(
                [self.python, str(script), "--JOB_NAME", JobName, *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        self.runs[response["JobRunId"]] = LocalJobRun(done.returncode, done.stdout, done.stderr)
        return response

    def get_job_run(self, JobName: str, RunId: str, **kwargs):  # noqa: N803
        response = self.glue.get_job_run(JobName=JobName, RunId=RunId, **kwargs)
        run = self.runs[RunId]
        if run.returncode == 0:
            response["JobRun"]["JobRunState"] = "SUCCEEDED"
        else:
            response["JobRun"]["JobRunState"] = "FAILED"
            lines = run.stderr.strip().splitlines() or [f"exit status {run.returncode}"]
            response["JobRun"]["ErrorMessage"] = lines[-1]
        return response

    def batch_stop_job_run(self, JobName: str, JobRunIds: list[str]):  # noqa: N803
        return self.glue.batch_stop_job_run(JobName=JobName, JobRunIds=JobRunIds)


@pytest.fixture(scope="session")
def glue_assets(tmp_path_factory):
    """One build of the Glue assets (script and project wheel, no dependency wheels) for the session."""
    from quality_movies.glue_package import build_glue_assets

    return build_glue_assets(tmp_path_factory.mktemp("glue-assets"))
