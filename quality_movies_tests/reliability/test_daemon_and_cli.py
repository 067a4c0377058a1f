"""The daemon and the command line on one home, in both orders (issue 11 point 1), with a live
``quality-movies ui`` (dagster dev on 127.0.0.1): each file version is processed and announced once
however it was driven."""

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from quality_movies.definitions import build_definitions
from quality_movies.environment import Environment
from quality_movies_tests.reliability.conftest import (
    Home,
    assert_no_traceback,
    assert_rows_accounted,
    brief,
)
from quality_movies_tests.reliability.inputs import good_file

pytestmark = [pytest.mark.reliability, pytest.mark.server, pytest.mark.xdist_group("reliability")]


def sensor_interval_s(home: Home) -> int:
    """How often the daemon evaluates the new-files sensor on this home."""
    env = Environment.from_env({"QUALITY_MOVIES_HOME": str(home.path)})
    sensor = build_definitions(env).get_sensor_def("new_movie_files")
    return sensor.minimum_interval_seconds or 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ui(home: Home, tmp_path):
    """``quality-movies ui`` on a free port, in its own process group, stopped by that group's id."""
    port = free_port()
    log = (tmp_path / "ui.log").open("wb")
    process = subprocess.Popen(
        home.command("ui", "--port", str(port)),
        env=home.environ(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2),
            ):
                break
            assert process.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
            time.sleep(1)
        else:
            pytest.fail(f"dagster dev did not answer: {(tmp_path / 'ui.log').read_text()[-3000:]}")
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def wait_for_notification(home: Home, source_file: str, timeout_s: float = 300) -> list[dict]:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        found = home.notifications_for(source_file)
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"no notification for {source_file} within {timeout_s} s")


def test_daemon_then_cli_and_cli_under_the_daemon_each_file_once(home: Home, ui):
    by_daemon = good_file("by_daemon.csv", tag=" D")
    home.drop({by_daemon.name: by_daemon.content})
    [note] = wait_for_notification(home, by_daemon.name)
    assert note["subject"] == f"quality_movies succeeded: {by_daemon.name}"

    by_cli = good_file("by_cli.csv", tag=" C")
    home.drop({by_cli.name: by_cli.content})
    done = home.cli("run")
    assert done.returncode == 0, brief(done)
    assert_no_traceback(done)
    assert by_daemon.name not in done.stdout, brief(done)
    time.sleep(sensor_interval_s(home) + 15)  # the daemon's sensor ticks over the same files

    for movies in (by_daemon, by_cli):
        assert_rows_accounted(home, movies.name, movies.rows, movies.good)
        assert len(home.notifications_for(movies.name)) == 1, home.outbox()
    again = home.cli("run")
    assert again.returncode == 0, brief(again)
    assert "nothing to do" in again.stdout
