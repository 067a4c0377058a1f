"""``quality-movies run`` (the installed console script) takes inputs as Glue reads them: a
semicolon- or tab-delimited CSV and a ``.csv.gz`` upload are processed like any CSV, and each
file's output and the catalog show the delimiter."""

import csv
import gzip
import io
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("cli")

SCRIPT = Path(sys.executable).with_name("quality-movies")


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QUALITY_MOVIES_")}
    environ.pop("DAGSTER_HOME", None)
    environ["QUALITY_MOVIES_HOME"] = str(home)
    return subprocess.run(
        [str(SCRIPT), *args], env=environ, capture_output=True, text=True, timeout=300
    )


def rewritten(sample: Path, delimiter: str) -> bytes:
    """The sample's rows written again with ``delimiter`` (the csv module quotes as needed)."""
    with sample.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter).writerows(rows)
    return text.getvalue().encode()


def file_block(stdout: str, name: str) -> list[str]:
    """The lines `run` printed about one file: from its ``== name`` line to the next file's."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"== {name}:"))
    end = next(
        (i for i in range(start + 1, len(lines)) if not lines[i].startswith("   ")), len(lines)
    )
    return lines[start:end]


def test_comma_delimited_files_print_no_format_line(tmp_path):
    home = tmp_path / "home"
    sample = tmp_path / "movies.csv"
    assert cli(home, "sample", "--rows", "10", "--seed", "2", "--out", str(sample)).returncode == 0
    assert cli(home, "ingest", str(sample)).returncode == 0
    run = cli(home, "run")
    assert run.returncode == 0, run.stdout + run.stderr
    block = file_block(run.stdout, "movies.csv")
    assert block[1].startswith("   rows read 10,")
    assert not any("read as" in line for line in block)


def test_delimited_and_gzip_uploads_are_processed(tmp_path):
    home = tmp_path / "home"
    sample = tmp_path / "movies.csv"
    assert cli(home, "sample", "--rows", "40", "--seed", "7", "--out", str(sample)).returncode == 0
    with sample.open(newline="", encoding="utf-8") as f:
        ratings = [Decimal(row["IMDB_Rating"]) for row in csv.DictReader(f)]
    good = sum(Decimal("8.5") < r < Decimal("10.3") for r in ratings)  # between is exclusive
    uploads = {
        "semicolons.csv": rewritten(sample, ";"),
        "tabs.csv": rewritten(sample, "\t"),
        "compressed.csv.gz": gzip.compress(sample.read_bytes()),
        "notes.txt": b"not data\n",
    }
    for name, content in uploads.items():
        (tmp_path / name).write_bytes(content)
    assert cli(home, "ingest", *(str(tmp_path / n) for n in uploads)).returncode == 0

    run = cli(home, "run")
    assert run.returncode == 0, run.stdout + run.stderr
    for name, read_as in (
        ("semicolons.csv", "semicolon-delimited CSV"),
        ("tabs.csv", "tab-delimited CSV"),
        ("compressed.csv.gz", "comma-delimited CSV, gzip-compressed"),
    ):
        block = file_block(run.stdout, name)
        assert block[0].startswith(f"== {name}: succeeded")
        assert block[1] == f"   read as {read_as}"
        assert f"   rows read 40, good {good}, bad {40 - good}, loaded {good}" in block
    assert "notes.txt: only .csv and .csv.gz files are ingested" in run.stdout
    assert f"warehouse movies.imdb_movies_rating: {3 * good} rows" in run.stdout

    status = cli(home, "status")
    lines = status.stdout.splitlines()
    for name in ("semicolons.csv", "tabs.csv", "compressed.csv.gz"):
        assert any(line.startswith(f"  input_data/{name} ") and line.endswith("processed")
                   for line in lines)  # fmt: skip
    assert any(line.endswith("ignored (not .csv or .csv.gz)") for line in lines)
    catalog = next(line for line in lines if line.startswith("catalog "))
    assert catalog.startswith("catalog imdb-movies.input_data (3 files, ")
    assert "imdb_rating double" in catalog
