"""``quality-movies dq check`` (the installed console script) on inputs as Glue reads them: the
delimiter detected among Glue's (comma, tab, semicolon, pipe), ``.csv.gz`` read as is, Parquet,
``s3://`` URIs, and one line for anything else."""

import gzip
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest

from quality_movies_tests.aws.conftest import seaweedfs  # noqa: F401 - the S3 server fixture

SCRIPT = Path(sys.executable).with_name("quality-movies")
RULES = 'Rules = [ IsComplete "rating", ColumnValues "rating" > 8.5, RowCount = 3 ]\n'
# Heat fails `> 8.5`, Ran has no rating: 1 good row (Up), 2 bad; IsComplete (2 of 3) and
# ColumnValues fail, RowCount = 3 passes.
ROWS = [["title", "rating", "year"], ["Heat", "8.3", "1995"], ['"Up, again"', "9.1", "2009"],
        ["Ran", "", "1985"]]  # fmt: skip
EXPECTED_TAIL = ["Rules: 1 passed, 2 failed", "Rows: 1 good, 2 bad"]


def delimited(delimiter: str) -> bytes:
    return "".join(delimiter.join(row) + "\r\n" for row in ROWS).encode()


def check(tmp_path: Path, data: str, **env: str) -> subprocess.CompletedProcess:
    rules = tmp_path / "rules.dqdl"
    rules.write_text(RULES)
    environ = {**os.environ, "QUALITY_MOVIES_CACHE_DIR": "", **env}
    command = [str(SCRIPT), "dq", "check", "--rules", str(rules), "--data", data]
    return subprocess.run(
        [*command, "--out", str(tmp_path / "out")],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_checked(done: subprocess.CompletedProcess, source: str, read_as: str) -> None:
    assert done.returncode == 1, done.stderr  # a rule failed
    lines = done.stdout.splitlines()
    assert lines[0] == f"Data quality of {source} ({read_as}): 3 rows read"
    assert lines[-4:-2] == EXPECTED_TAIL


@pytest.mark.parametrize(
    ("delimiter", "name"),
    [(",", "comma"), ("\t", "tab"), (";", "semicolon"), ("|", "pipe")],
    ids=["comma", "tab", "semicolon", "pipe"],
)
def test_the_delimiter_is_detected_and_shown(tmp_path, delimiter, name):
    data = tmp_path / "movies.csv"
    data.write_bytes(delimited(delimiter))
    assert_checked(check(tmp_path, str(data)), "movies.csv", f"{name}-delimited CSV")


def test_a_csv_gz_file_is_read_as_is(tmp_path):
    data = tmp_path / "movies.csv.gz"
    data.write_bytes(gzip.compress(delimited(";")))
    done = check(tmp_path, str(data))
    assert_checked(done, "movies.csv.gz", "semicolon-delimited CSV, gzip-compressed")


def test_a_parquet_file(tmp_path):
    data = tmp_path / "movies.parquet"
    duckdb.sql(
        "COPY (SELECT * FROM (VALUES ('Heat', 8.3, 1995), ('Up, again', 9.1, 2009), "
        "('Ran', NULL, 1985)) AS t(title, rating, year)) "
        f"TO '{data}' (FORMAT parquet)"
    )
    assert_checked(check(tmp_path, str(data)), "movies.parquet", "Parquet")


def test_anything_else_gets_one_line_saying_what_it_is(tmp_path):
    workbook = tmp_path / "movies.xlsx"
    with zipfile.ZipFile(workbook, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    done = check(tmp_path, str(workbook))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {workbook}: the file is a ZIP archive (an Excel .xlsx workbook is one); "
        "supported: CSV (.csv, or gzip-compressed .csv.gz; comma, tab, semicolon, pipe or "
        "Ctrl-A delimited) and, for dq check, Parquet"
    ]
    misnamed = tmp_path / "movies.csv"
    misnamed.write_bytes(gzip.compress(delimited(",")))
    done = check(tmp_path, str(misnamed))
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"error: {misnamed}: the file is gzip-compressed but named movies.csv; rename it to .csv.gz"
    )
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.server
def test_an_s3_uri_is_read_with_the_usual_aws_configuration(tmp_path, seaweedfs):  # noqa: F811
    client = seaweedfs.client()
    client.create_bucket(Bucket="dq-inputs")
    client.put_object(Bucket="dq-inputs", Key="in/movies.csv", Body=delimited(";"))
    aws = {
        "AWS_ENDPOINT_URL": seaweedfs.endpoint_url,
        "AWS_ACCESS_KEY_ID": seaweedfs.access_key,
        "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    uri = "s3://dq-inputs/in/movies.csv"
    assert_checked(check(tmp_path, uri, **aws), uri, "semicolon-delimited CSV")
    missing = check(tmp_path, "s3://dq-inputs/in/nope.csv", **aws)
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: s3://dq-inputs/in/nope.csv: cannot be read from S3 (")
    assert len(missing.stderr.splitlines()) == 1


@pytest.mark.spark
@pytest.mark.parametrize(
    ("name", "content", "read_as"),
    [
        ("movies.csv", delimited("|"), "pipe-delimited CSV"),
        (
            "movies.csv.gz",
            gzip.compress(delimited(";")),
            "semicolon-delimited CSV, gzip-compressed",
        ),
    ],
    ids=["pipe", "gzip"],
)
def test_the_spark_engine_reads_them_alike(tmp_path, name, content, read_as):
    data = tmp_path / name
    data.write_bytes(content)
    rules = tmp_path / "rules.dqdl"
    rules.write_text(RULES)
    done = subprocess.run(
        [str(SCRIPT), "dq", "check", "--engine", "spark", "--rules", str(rules), "--data",
         str(data), "--out", str(tmp_path / "out")],
        env={**os.environ, "QUALITY_MOVIES_CACHE_DIR": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert_checked(done, name, read_as)
