"""The installed ``quality-movies`` console script as a daily tool: errors in a line or two with exit
2, a closed pipe ends quietly, every command in ``--help``, and the quick commands without Dagster."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from quality_movies.dq import default_ruleset_path

pytestmark = pytest.mark.xdist_group("cli")

SCRIPT = Path(sys.executable).with_name("quality-movies")


def cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QUALITY_MOVIES_")}
    environ.update(QUALITY_MOVIES_HOME=str(home), QUALITY_MOVIES_CACHE_DIR="", **env)
    return subprocess.run(
        [str(SCRIPT), *args], env=environ, capture_output=True, text=True, timeout=300
    )


def test_help_names_every_command(tmp_path):
    shown = cli(tmp_path, "--help")
    assert shown.returncode == 0
    commands = shown.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert sorted(commands) == sorted(
        ["sample", "ingest", "run", "retry", "status", "reprocess", "ui", "dq", "export-infra",
         "glue-package", "report"]
    )  # fmt: skip
    for command in commands:
        assert f"\n    {command} " in shown.stdout  # each with its line of help


@pytest.mark.parametrize(
    "args", [["status"], ["dq", "check", "--help"]], ids=["status", "dq-check-help"]
)
def test_quick_commands_do_not_import_dagster(tmp_path, args):
    program = (
        "import sys\n"
        "from quality_movies.cli import main\n"
        "try:\n"
        f"    code = main({args!r})\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        "assert code == 0, code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'dagster'))\n"
    )
    environ = {**os.environ, "QUALITY_MOVIES_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", program], env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_a_closed_pipe_ends_quietly(tmp_path):
    """``quality-movies status | head -1``: the reader is gone before the status is written."""
    environ = {**os.environ, "QUALITY_MOVIES_HOME": str(tmp_path)}
    status = subprocess.Popen(
        [str(SCRIPT), "status"], env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    status.stdout.close()
    stderr = status.stderr.read()
    assert status.wait(timeout=60) == 141  # as a shell reports a program SIGPIPE ended
    assert stderr == b""


def test_status_shows_the_files_and_their_states(tmp_path):
    home = tmp_path / "home"
    (tmp_path / "a.csv").write_text("Series_Title,IMDB_Rating\nX,9.0\n")
    (tmp_path / "notes.txt").write_text("hello\n")
    assert cli(home, "ingest", str(tmp_path / "a.csv"), str(tmp_path / "notes.txt")).returncode == 0
    status = cli(home, "status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    # MD5 of the 31 bytes written above, from `md5sum`
    assert "  input_data/a.csv  31 bytes  etag 1bbd111e800c4147441bb87c1736b1e7  pending" in lines
    assert any(line.startswith("  input_data/notes.txt  6 bytes") for line in lines)
    assert "catalog imdb-movies.input_data: not crawled yet" in lines
    assert "warehouse movies.imdb_movies_rating: 0 rows" in lines


def test_configuration_errors_are_one_line_without_the_debug_hint(tmp_path):
    status = cli(tmp_path, "status", QUALITY_MOVIES_ENV="aws")
    assert status.returncode == 2
    assert status.stderr.startswith("error: QUALITY_MOVIES_ENV=aws needs ")
    assert len(status.stderr.splitlines()) == 1 and "--debug" not in status.stderr


def test_dq_check_out_onto_a_file_or_an_unwritable_path(tmp_path):
    data = tmp_path / "movies.csv"
    data.write_text("Series_Title,IMDB_Rating\nX,9.0\n")
    taken = tmp_path / "taken"
    taken.write_text("mine\n")
    rules = str(default_ruleset_path())
    onto_file = cli(
        tmp_path, "dq", "check", "--rules", rules, "--data", str(data), "--out", str(taken)
    )
    assert onto_file.returncode == 2
    assert (
        onto_file.stderr
        == f"error: --out {taken} is a file; give a folder for the outputs (rule_outcomes.jsonl, bad_records.jsonl)\n"
    )
    assert taken.read_text() == "mine\n"
    below_file = cli(
        tmp_path, "dq", "check", "--rules", rules, "--data", str(data), "--out", str(taken / "out")
    )
    assert below_file.returncode == 2
    assert (
        below_file.stderr
        == f"error: cannot write the outputs to {taken / 'out'} (Not a directory); give --out a folder you can write\n"
    )


@pytest.mark.parametrize(("written", "meant"), [("rules", "Rules"), ("analyzers", "Analyzers")])
def test_a_lower_case_block_gets_a_hint(tmp_path, written, meant):
    data = tmp_path / "movies.csv"
    data.write_text("Series_Title,IMDB_Rating\nX,9.0\n")
    ruleset = tmp_path / "r.dqdl"
    ruleset.write_text(f'{written} = [\n    IsComplete "series_title"\n]\n')
    checked = cli(
        tmp_path,
        "dq",
        "check",
        "--rules",
        str(ruleset),
        "--data",
        str(data),
        "--out",
        str(tmp_path / "o"),
    )
    assert checked.returncode == 2
    assert len(checked.stderr.splitlines()) == 1
    assert checked.stderr.startswith(f"error: {ruleset}:2:5: DQDL syntax error at 'IsComplete'")
    assert f"(did you mean {meant}? the block is written {meant} = [ ... ])" in checked.stderr
