"""The Dagster UI (``dagster dev`` on 127.0.0.1) lists every asset with its lineage edges and checks."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from quality_movies_tests.pipeline.test_definitions import SNAPSHOT

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("ui")]

REPO_ROOT = Path(__file__).resolve().parents[2]
QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
    dependencyKeys { path }
    assetChecksOrError { ... on AssetChecks { checks { name } } }
  }
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, query: str) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def dagster_ui(tmp_path):
    port = free_port()
    env = {**os.environ, "QUALITY_MOVIES_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    log = (tmp_path / "dagster-dev.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "dagster dev did not start:\n" + (tmp_path / "dagster-dev.log").read_text()
                    ) from None
                time.sleep(1)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_ui_lists_every_asset_with_its_lineage(dagster_ui):
    deadline = time.monotonic() + 60
    while True:
        answer = post(f"{dagster_ui}/graphql", QUERY)
        nodes = answer.get("data", {}).get("assetNodes") or []
        if nodes or time.monotonic() > deadline:
            break
        time.sleep(1)
    graph = {
        "/".join(n["assetKey"]["path"]): {
            "group": n["groupName"],
            "deps": sorted("/".join(d["path"]) for d in n["dependencyKeys"]),
            "checks": sorted(c["name"] for c in n["assetChecksOrError"].get("checks", [])),
        }
        for n in nodes
    }
    expected = {
        key: {"group": node["group"], "deps": node["deps"], "checks": node["checks"]}
        for key, node in json.loads(SNAPSHOT.read_text()).items()
    }
    assert graph == expected
