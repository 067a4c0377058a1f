"""The home lock: a second holder waits (saying so once) until the first has let go."""

import subprocess
import sys
import time

from quality_movies.runs.lock import home_lock

HOLDER = """
import sys, time
from pathlib import Path
from quality_movies.runs.lock import home_lock
home = Path(sys.argv[1])
with home_lock(home, "run"):
    (home / "held").write_text("yes")
    time.sleep(2)
    (home / "released").write_text("yes")
"""


def test_second_holder_waits_for_the_first(tmp_path, capsys):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)])
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "held").exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        with home_lock(tmp_path, "run"):
            assert (tmp_path / "released").exists()
            assert (tmp_path / ".lock").read_text().startswith("run (pid ")
    finally:
        holder.wait(timeout=60)
    waiting = capsys.readouterr().err
    assert f"waiting for another quality-movies run (pid {holder.pid}) on {tmp_path}" in waiting


def test_a_free_lock_is_taken_silently(tmp_path, capsys):
    with home_lock(tmp_path, "ui"):
        pass
    assert capsys.readouterr().err == ""
