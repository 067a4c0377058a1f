"""The ``quality-movies`` command end to end, as a new user runs it, in a temporary home."""

import csv
import json
import os
import socket
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("cli")


def quality_movies(
    home: Path, *args: str, extra_env: dict | None = None
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["QUALITY_MOVIES_HOME"] = str(home)
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "quality_movies.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def expected_split(path: Path) -> tuple[int, int]:
    with path.open(newline="", encoding="utf-8") as f:
        ratings = [Decimal(row["IMDB_Rating"]) for row in csv.DictReader(f)]
    good = sum(Decimal("8.5") < r < Decimal("10.3") for r in ratings)
    return good, len(ratings) - good


def outbox(home: Path) -> list[dict]:
    path = home / "outbox.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_sample_ingest_run_status_and_rerun(tmp_path):
    home = tmp_path / "home"
    sample = tmp_path / "movies.csv"
    made = quality_movies(home, "sample", "--rows", "250", "--seed", "4", "--out", str(sample))
    assert made.returncode == 0, made.stderr
    good, bad = expected_split(sample)

    assert quality_movies(home, "ingest", str(sample)).returncode == 0
    run = quality_movies(home, "run")
    assert run.returncode == 0, run.stderr
    assert f"rows read 250, good {good}, bad {bad}, loaded {good}" in run.stdout
    assert '[Failed] ColumnValues "imdb_rating" between 8.5 and 10.3' in run.stdout
    assert '[Passed] IsComplete "series_title"' in run.stdout
    assert f"warehouse movies.imdb_movies_rating: {good} rows" in run.stdout
    bad_records = home / "lake/quality-movie-bucket/bad-records/source_file=movies.csv"
    assert str(bad_records / "bad_records.jsonl") in run.stdout
    assert len((bad_records / "bad_records.jsonl").read_text().splitlines()) == bad

    [message] = outbox(home)
    assert message["subject"] == "quality_movies succeeded: movies.csv"
    assert message["message"]["good_rows"] == good and message["message"]["bad_rows"] == bad
    assert message["message"]["run_url"].endswith(message["message"]["run_id"])

    again = quality_movies(home, "run")
    assert again.returncode == 0
    assert "nothing to do" in again.stdout
    assert len(outbox(home)) == 1

    status = quality_movies(home, "status")
    assert status.returncode == 0
    assert f"movies.csv: {good} rows" in status.stdout
    assert (
        "catalog imdb-movies.input_data (1 files, comma-delimited): poster_link string"
        in status.stdout
    )
    assert "input_data/movies.csv" in status.stdout and "processed" in status.stdout


def ledger_states(home: Path) -> dict[str, str]:
    with sqlite3.connect(home / "ledger.sqlite3") as db:
        rows = db.execute("SELECT input_key, state FROM file_versions").fetchall()
    return dict(rows)


def test_a_bad_file_fails_alone_is_announced_once_and_can_be_retried(tmp_path):
    home = tmp_path / "home"
    good = tmp_path / "good.csv"
    assert (
        quality_movies(home, "sample", "--rows", "40", "--seed", "2", "--out", str(good)).returncode
        == 0
    )
    twice = tmp_path / "twice.csv"
    twice.write_text("Series_Title,IMDB_Rating,Series_Title\nFilm,9.1,Film\n")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a CSV")
    assert quality_movies(home, "ingest", str(good), str(twice), str(notes)).returncode == 0

    run = quality_movies(home, "run")
    assert run.returncode == 1
    assert "Traceback" not in run.stdout + run.stderr
    assert "ignored" in run.stdout and "notes.txt" in run.stdout
    assert "== good.csv: succeeded" in run.stdout
    assert "== twice.csv: FAILED" in run.stdout
    assert "twice.csv, line 1, column 3" in run.stdout
    assert "quality-movies retry FILE" in run.stderr
    messages = {m["subject"]: m["message"] for m in outbox(home)}
    assert set(messages) == {
        "quality_movies succeeded: good.csv",
        "quality_movies FAILED: twice.csv",
    }
    assert "twice.csv, line 1, column 3" in messages["quality_movies FAILED: twice.csv"]["error"]
    assert ledger_states(home) == {
        "input_data/good.csv": "processed",
        "input_data/twice.csv": "failed",
    }

    again = quality_movies(home, "run")  # a failed version waits for a fix or a retry
    assert again.returncode == 0 and "nothing to do" in again.stdout
    status = quality_movies(home, "status")
    assert "input_data/twice.csv" in status.stdout and "failed: twice.csv, line 1" in status.stdout

    retry = quality_movies(home, "retry", "twice.csv")
    assert retry.returncode == 0 and "twice.csv will be processed again" in retry.stdout
    assert quality_movies(home, "run").returncode == 1  # still broken: failed and announced again
    assert len(outbox(home)) == 3

    twice.write_text("Series_Title,IMDB_Rating\nFilm,9.1\n")  # fixed: a new version
    assert quality_movies(home, "ingest", str(twice)).returncode == 0
    fixed = quality_movies(home, "run")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "== twice.csv: succeeded" in fixed.stdout
    assert [m["subject"] for m in outbox(home)][-1] == "quality_movies succeeded: twice.csv"


def test_a_ruleset_that_does_not_load_stops_the_run_before_any_file(tmp_path):
    home = tmp_path / "home"
    sample = tmp_path / "movies.csv"
    quality_movies(home, "sample", "--rows", "20", "--seed", "1", "--out", str(sample))
    quality_movies(home, "ingest", str(sample))
    ruleset = tmp_path / "rules.dqdl"
    ruleset.write_text(
        'Rules = [\n    IsComplete "series_title",\n    ColumnValues "imdb_rating" >\n]\n'
    )
    run = quality_movies(home, "run", extra_env={"QUALITY_MOVIES_RULESET": str(ruleset)})
    assert run.returncode == 1
    assert "Traceback" not in run.stdout + run.stderr
    [problem] = [line for line in run.stderr.splitlines() if "does not load" in line]
    assert f"{ruleset}:4:1:" in problem  # the "]" where a value was due
    assert "1 file(s) left pending: movies.csv" in run.stderr
    [message] = outbox(home)
    assert message["message"]["pending_files"] == ["movies.csv"]
    assert not (home / "ledger.sqlite3").exists() or ledger_states(home) == {}
    assert quality_movies(home, "run").returncode == 0  # the default ruleset loads


def test_concurrent_runs_on_a_new_home_process_each_file_once(tmp_path):
    home = tmp_path / "home"
    for seed in (1, 2):
        path = tmp_path / f"m{seed}.csv"
        quality_movies(home, "sample", "--rows", "30", "--seed", str(seed), "--out", str(path))
        quality_movies(home, "ingest", str(path))
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["QUALITY_MOVIES_HOME"] = str(home)
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "quality_movies.cli", "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    outputs = [r.communicate(timeout=300) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    assert all("alembic" not in out + err and "Traceback" not in err for out, err in outputs)
    assert sorted(m["subject"] for m in outbox(home)) == [
        "quality_movies succeeded: m1.csv",
        "quality_movies succeeded: m2.csv",
    ]
    status = quality_movies(home, "status")
    assert status.returncode == 0 and "m1.csv: " in status.stdout and "m2.csv: " in status.stdout


def test_errors_are_one_line_without_traceback_unless_debug(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "warehouse.duckdb").write_bytes(b"this is not a DuckDB database" * 100)
    status = quality_movies(home, "status")
    assert status.returncode == 2
    assert "Traceback" not in status.stderr
    # a damaged file is the environment's problem, not a bug: no --debug hint
    assert status.stderr.startswith(f"error: the warehouse {home / 'warehouse.duckdb'} ")
    assert len(status.stderr.splitlines()) == 1
    debug = quality_movies(home, "--debug", "status")
    assert "Traceback" in debug.stderr


def test_usage_errors(tmp_path):
    missing = quality_movies(tmp_path, "ingest", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2
    assert "nope.csv: no such file" in missing.stderr
    wrong_env = subprocess.run(
        [sys.executable, "-m", "quality_movies.cli", "status"],
        env={**os.environ, "QUALITY_MOVIES_ENV": "prod", "QUALITY_MOVIES_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert wrong_env.returncode == 2
    assert "QUALITY_MOVIES_ENV='prod'" in wrong_env.stderr


def test_a_run_with_nothing_to_do_removes_what_killed_runs_left(tmp_path):
    home = tmp_path / "home"
    host = socket.gethostname()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead, alive = int(gone.stdout), os.getpid()  # a finished process; this test's own process
    staging = home / "lake/quality-movie-bucket/validated_movies/_staging"
    leftovers = {}
    for owner, pid in (("dead", dead), ("alive", alive)):
        work = home / "work" / f"quality-run-{pid}-{host}-x1y2z3"
        staged = staging / f"0123456789ab-{pid}-{host}/source_file=m.csv/validated_movies.parquet"
        for path in (work / "validated.parquet", staged):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"partial")
        leftovers[owner] = (work, staged)

    run = quality_movies(home, "run")
    assert run.returncode == 0, run.stderr
    assert "nothing to do" in run.stdout
    assert "removed 2 leftover(s) of interrupted runs" in run.stdout
    work, staged = leftovers["dead"]
    assert not work.exists() and not staged.exists()
    assert [p.name for p in staging.iterdir()] == [
        f"0123456789ab-{alive}-{host}"
    ]  # no empty folder
    work, staged = leftovers["alive"]  # a live process may still publish them
    assert work.is_dir() and staged.is_file()
