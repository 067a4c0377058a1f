"""The Dagster UI (``dagster dev`` on 127.0.0.1) lists every asset with its lineage edges and checks."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
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


@contextmanager
def dagster_ui_at(home: Path):
    """``dagster dev`` (webserver and daemon) on a free port over ``home``; stopped by its PID."""
    port = free_port()
    env = {**os.environ, "QUALITY_MOVIES_HOME": str(home), "DAGSTER_HOME": str(home)}
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    log = (home / "dagster-dev.log").open("w")
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
                        "dagster dev did not start:\n" + (home / "dagster-dev.log").read_text()
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


@pytest.fixture
def dagster_ui(tmp_path):
    with dagster_ui_at(tmp_path) as base:
        yield base


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


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QUALITY_MOVIES_HOME": str(home), "DAGSTER_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "quality_movies.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def outbox_subjects(home: Path) -> list[str]:
    path = home / "outbox.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line)["subject"] for line in lines]


def test_daemon_after_the_cli_processes_only_the_new_file_once(tmp_path):
    """`run` then `ui`: the daemon's sensor leaves the CLI's file alone and runs the new one once."""
    for seed in (1, 2):
        made = cli(tmp_path, "sample", "--rows", "40", "--seed", str(seed), "--out", str(tmp_path / f"m{seed}.csv"))  # fmt: skip
        assert made.returncode == 0, made.stderr
    assert cli(tmp_path, "ingest", str(tmp_path / "m1.csv")).returncode == 0
    first = cli(tmp_path, "run")
    assert first.returncode == 0, first.stdout + first.stderr
    assert outbox_subjects(tmp_path) == ["quality_movies succeeded: m1.csv"]
    assert cli(tmp_path, "ingest", str(tmp_path / "m2.csv")).returncode == 0

    with dagster_ui_at(tmp_path):
        deadline = time.monotonic() + 240
        while len(outbox_subjects(tmp_path)) < 2 and time.monotonic() < deadline:
            time.sleep(2)
        time.sleep(35)  # one more sensor interval: nothing else may be announced
    assert outbox_subjects(tmp_path) == [
        "quality_movies succeeded: m1.csv",
        "quality_movies succeeded: m2.csv",
    ]
    status = cli(tmp_path, "status")
    assert "m1.csv: " in status.stdout and "m2.csv: " in status.stdout
    lines = [line for line in status.stdout.splitlines() if "input_data/m" in line]
    assert len(lines) == 2 and all(line.endswith("processed") for line in lines)
