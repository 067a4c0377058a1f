"""The project as the `dg` tool sees it, and Dagster's public API only."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from quality_movies_tests.pipeline.test_definitions import SNAPSHOT

REPO_ROOT = Path(__file__).resolve().parents[2]
DG = Path(sys.executable).parent / "dg"


def dg(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QUALITY_MOVIES_HOME": str(tmp_path), "NO_COLOR": "1"}
    env.pop("DAGSTER_HOME", None)
    return subprocess.run(
        [str(DG), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_dg_check_and_list_defs(tmp_path):
    check = dg(tmp_path, "check", "defs")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "All definitions loaded successfully" in check.stdout + check.stderr

    listed = dg(tmp_path, "list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    defs = json.loads(listed.stdout)
    assert {a["asset_key"] for a in defs["assets"]} == set(json.loads(SNAPSHOT.read_text()))
    assert {j["name"] for j in defs["jobs"]} == {"ingest_movie_file", "refresh_year_aggregated"}
    assert {s["name"] for s in defs["sensors"]} == {
        "new_movie_files",
        "notify_on_success",
        "notify_on_failure",
        "refresh_views",
    }


def test_no_private_dagster_imports_anywhere_in_the_project():
    private = re.compile(r"^\s*(from|import)\s+dagster\._", re.MULTILINE)
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in REPO_ROOT.rglob("*.py")
        if ".venv" not in path.parts and private.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
