"""``quality-movies reprocess`` (the installed console script): processed files evaluated again with
the ruleset in force, their outputs, warehouse rows and history entries replaced, announced once per
reprocessing; and the ledger's ``reopen`` it stands on."""

import csv
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from quality_movies.dq import default_ruleset_path
from quality_movies.runs.resources import Ledger, S3Ledger, SqliteLedger
from quality_movies_tests.aws.conftest import seaweedfs  # noqa: F401 - a real S3 server

pytestmark = pytest.mark.xdist_group("cli")

SCRIPT = Path(sys.executable).with_name("quality-movies")


def cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QUALITY_MOVIES_")}
    environ.pop("DAGSTER_HOME", None)
    environ.update(QUALITY_MOVIES_HOME=str(home), **env)
    return subprocess.run(
        [str(SCRIPT), *args], env=environ, capture_output=True, text=True, timeout=300
    )


def good_rows(sample: Path, low: str) -> int:
    """Rows with ``low`` < IMDB_Rating < 10.3 (DQDL's between is exclusive), counted by hand."""
    with sample.open(newline="", encoding="utf-8") as f:
        ratings = [Decimal(row["IMDB_Rating"]) for row in csv.DictReader(f)]
    return sum(Decimal(low) < r < Decimal("10.3") for r in ratings)


def test_reprocess_applies_the_ruleset_in_force(tmp_path):
    home = tmp_path / "home"
    sample = tmp_path / "movies.csv"
    assert cli(home, "sample", "--rows", "60", "--seed", "5", "--out", str(sample)).returncode == 0
    first, then = good_rows(sample, "8.5"), good_rows(sample, "8.0")
    assert first < then  # the sample has ratings between 8.0 and 8.5
    assert cli(home, "ingest", str(sample)).returncode == 0
    assert cli(home, "run").returncode == 0
    ledger = SqliteLedger(path=str(home / "ledger.sqlite3"))
    before = ledger.latest()["input_data/movies.csv"]

    wider = tmp_path / "wider.dqdl"
    wider.write_text(
        default_ruleset_path().read_text().replace("between 8.5 and 10.3", "between 8.0 and 10.3")
    )
    again = cli(home, "reprocess", "movies.csv", QUALITY_MOVIES_RULESET=str(wider))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "reprocessing 1 file(s) with the ruleset in force: movies.csv" in again.stdout
    assert f"rows read 60, good {then}, bad {60 - then}, loaded {then}" in again.stdout
    assert f"warehouse movies.imdb_movies_rating: {then} rows" in again.stdout

    bucket = home / "lake/quality-movie-bucket"
    bad = bucket / "bad-records/source_file=movies.csv/bad_records.jsonl"
    assert len(bad.read_text().splitlines()) == 60 - then
    outcomes = bucket / "rule_outcome_from_etl/source_file=movies.csv/rule_outcomes.jsonl"
    rules = [json.loads(line)["Rule"] for line in outcomes.read_text().splitlines()]
    assert 'ColumnValues "imdb_rating" between 8.0 and 10.3' in rules
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        history = {r[0] for r in con.execute("SELECT rule FROM dq_metrics.rule_metrics").fetchall()}
    assert 'ColumnValues "imdb_rating" between 8.0 and 10.3' in history
    assert 'ColumnValues "imdb_rating" between 8.5 and 10.3' not in history  # replaced

    after = ledger.latest()["input_data/movies.csv"]
    assert (after.etag, after.state, after.announced) == (before.etag, "processed", True)
    assert after.run_id != before.run_id  # a new evaluation of the same version
    subjects = [
        json.loads(line)["subject"] for line in (home / "outbox.jsonl").read_text().splitlines()
    ]
    assert subjects.count("quality_movies succeeded: movies.csv") == 2  # once per processing

    assert cli(home, "reprocess", "--all").returncode == 0  # the packaged ruleset again
    assert (
        SqliteLedger(path=str(home / "ledger.sqlite3")).latest()["input_data/movies.csv"].state
        == "processed"
    )
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT COUNT(*) FROM movies.imdb_movies_rating").fetchone()[0] == first
    assert cli(home, "reprocess", "--since", "2999-01-01").stdout == (
        "nothing to reprocess: no processed file matches\n"
    )


def test_reprocess_refuses_what_it_cannot_take(tmp_path):
    home = tmp_path / "home"
    (tmp_path / "new.csv").write_text("Series_Title,IMDB_Rating\nHeat,8.3\n")
    assert cli(home, "ingest", str(tmp_path / "new.csv")).returncode == 0
    pending = cli(home, "reprocess", "new.csv")
    assert pending.returncode == 2
    assert pending.stderr == "error: new.csv is not processed yet: `run` takes it\n"
    nothing = cli(home, "reprocess")
    assert nothing.returncode == 2
    assert nothing.stderr == "error: name the files to reprocess, or give --all or --since DATE\n"
    bad_date = cli(home, "reprocess", "--since", "yesterday")
    assert bad_date.stderr == "error: --since yesterday: not a date (YYYY-MM-DD)\n"


@pytest.fixture(params=["sqlite", pytest.param("s3", marks=pytest.mark.server)])
def ledger(request, tmp_path, monkeypatch) -> Ledger:
    if request.param == "sqlite":
        return SqliteLedger(path=str(tmp_path / "ledger.sqlite3"))
    server = request.getfixturevalue("seaweedfs")
    bucket = f"reopen-{tmp_path.name[-20:].lower().replace('_', '-')}"
    server.client().create_bucket(Bucket=bucket)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    return S3Ledger(bucket=bucket, endpoint_url=server.endpoint_url)


def test_the_ledger_reopens_only_a_settled_latest_version(ledger):
    ledger.claim([("input_data/a.csv", "e1"), ("input_data/b.csv", "e2")], "cli:h:1")
    ledger.finish("input_data/a.csv", "e1", "processed", "run-1")
    assert ledger.reopen([("input_data/a.csv", "e1"), ("input_data/b.csv", "e2")], "cli:h:2") == [
        ("input_data/a.csv", "e1")
    ]  # b is still claimed by its first run
    reopened = ledger.latest()["input_data/a.csv"]
    assert (reopened.state, reopened.owner, reopened.announced) == ("claimed", "cli:h:2", False)
    assert ledger.reopen([("input_data/a.csv", "e1")], "cli:h:3") == []  # claimed: not twice
    assert ledger.finish("input_data/a.csv", "e1", "processed", "run-2") is True  # announce once
    assert ledger.finish("input_data/a.csv", "e1", "processed", "run-2") is False
    assert ledger.reopen([("input_data/a.csv", "old-etag")], "cli:h:4") == []  # not its version


def test_the_ledger_does_not_reopen_what_the_same_run_settled(ledger):
    """Settling a reprocessing run twice (the CLI, then the UI's sensor) reopens nothing."""
    ledger.claim([("input_data/a.csv", "e1")], "cli:h:1")
    ledger.finish("input_data/a.csv", "e1", "processed", "run-1")
    assert ledger.reopen([("input_data/a.csv", "e1")], "run:run-1", evaluated_by="run-1") == []
    assert ledger.reopen([("input_data/a.csv", "e1")], "run:run-2", evaluated_by="run-2") == [
        ("input_data/a.csv", "e1")
    ]
