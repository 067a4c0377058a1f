"""The ``quality-movies`` command end to end, as a new user runs it, in a temporary home."""

import csv
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("cli")


def quality_movies(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["QUALITY_MOVIES_HOME"] = str(home)
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
    assert "catalog imdb-movies.input_data (1 files): poster_link string" in status.stdout


def test_failed_run_exits_non_zero_with_the_reason_and_notifies(tmp_path):
    home = tmp_path / "home"
    broken = tmp_path / "broken.csv"
    broken.write_text(
        'Series_Title,IMDB_Rating,Meta_score\n"Good, Film",9.1,eighty\nWeak Film,7.0,50\n'
    )
    notes = tmp_path / "notes.txt"
    notes.write_text("not a CSV")
    assert quality_movies(home, "ingest", str(broken), str(notes)).returncode == 0

    run = quality_movies(home, "run")
    assert run.returncode == 1
    assert "ignored" in run.stdout and "notes.txt" in run.stdout
    assert "run FAILED" in run.stdout
    assert "broken.csv, line 2, column meta_score: 'eighty' is not a BIGINT" in run.stdout
    [message] = outbox(home)
    assert message["subject"] == "quality_movies FAILED: broken.csv"
    assert "meta_score" in message["message"]["error"]


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
