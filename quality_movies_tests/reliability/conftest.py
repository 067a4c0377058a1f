"""The reliability suite: bad inputs and faults, driven through the real ``quality-movies`` command.

Each case runs the command line in subprocesses on its own QUALITY_MOVIES_HOME and looks at the
result from outside, as a user would: where every row went (warehouse rows + bad records = rows
read, nothing twice), what was published (a file's outputs together or not at all, nothing left in
``work/`` after the next start) and what the user was told (exit code, a short message naming the
user's file, no traceback, the same words in the notification). Expected counts come from the
hand-written inputs in ``inputs.py``, never from the code's output.
"""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

HOOKS = Path(__file__).resolve().parent / "hooks"
BUCKET = "quality-movie-bucket"
OUTPUT_PREFIXES = ("bad-records", "rule_outcome_from_etl", "validated_movies")
DAGSTER_WRAPPER = "Error occurred while executing op"


@dataclass
class Home:
    """One QUALITY_MOVIES_HOME and the ``quality-movies`` command run on it."""

    path: Path

    def environ(self, **extra: str) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "QUALITY_MOVIES_"))
        }
        env["QUALITY_MOVIES_HOME"] = str(self.path)
        env.update(extra)
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "quality_movies.cli", *args]

    def cli(self, *args: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(*args),
            env=self.environ(**extra),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str, **extra: str) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(*args),
            env=self.environ(**extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def cli_killed_before(
        self, target: str, *args: str
    ) -> tuple[subprocess.CompletedProcess, Path]:
        """Run the command with the test hook that SIGKILLs it when ``target`` is first called."""
        marker = self.path.parent / "killed.marker"
        marker.unlink(missing_ok=True)
        done = self.cli(
            *args,
            PYTHONPATH=os.pathsep.join(filter(None, [str(HOOKS), os.environ.get("PYTHONPATH")])),
            QUALITY_MOVIES_TEST_KILL_BEFORE=target,
            QUALITY_MOVIES_TEST_KILL_MARKER=str(marker),
        )
        return done, marker

    def cli_failing_in(
        self, target: str, exception: str, *args: str
    ) -> tuple[subprocess.CompletedProcess, Path]:
        """Run the command with the test hook making every call of ``target`` raise the built-in
        ``exception`` (e.g. ConnectionResetError, as a network fault)."""
        marker = self.path.parent / "failed.marker"
        marker.unlink(missing_ok=True)
        done = self.cli(
            *args,
            PYTHONPATH=os.pathsep.join(filter(None, [str(HOOKS), os.environ.get("PYTHONPATH")])),
            QUALITY_MOVIES_TEST_KILL_BEFORE=target,
            QUALITY_MOVIES_TEST_KILL_MARKER=str(marker),
            QUALITY_MOVIES_TEST_FAIL_WITH=exception,
        )
        return done, marker

    @property
    def bucket(self) -> Path:
        return self.path / "lake" / BUCKET

    @property
    def warehouse_path(self) -> Path:
        return self.path / "warehouse.duckdb"

    def drop(self, files: dict[str, bytes]) -> None:
        """Upload files into input_data/ with ``quality-movies ingest`` (name -> content)."""
        uploads = self.path.parent / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (uploads / name).write_bytes(content)
        done = self.cli("ingest", *(str(uploads / name) for name in files))
        assert done.returncode == 0, output_of(done)

    def published(self, source_file: str) -> set[str]:
        """The output prefixes holding a visible object for ``source_file``."""
        found = set()
        for prefix in OUTPUT_PREFIXES:
            folder = self.bucket / prefix / f"source_file={source_file}"
            if folder.is_dir() and any(
                p.is_file() and not p.name.startswith(".") for p in folder.rglob("*")
            ):
                found.add(prefix)
        return found

    def bad_records(self, source_file: str) -> list[dict]:
        folder = self.bucket / "bad-records" / f"source_file={source_file}"
        if not folder.is_dir():
            return []
        return [
            json.loads(line)
            for path in sorted(folder.rglob("*.json*"))
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]

    def warehouse_rows(self) -> dict[str, int]:
        """Rows of movies.imdb_movies_rating per source file (empty when there is no warehouse)."""
        if not self.warehouse_path.exists():
            return {}
        con = duckdb.connect(str(self.warehouse_path), read_only=True)
        try:
            exists = con.execute(
                "SELECT COUNT(*) FROM information_schema.tables "
                "WHERE table_schema = 'movies' AND table_name = 'imdb_movies_rating'"
            ).fetchone()[0]
            if not exists:
                return {}
            rows = con.execute(
                "SELECT source_file, COUNT(*) FROM movies.imdb_movies_rating GROUP BY source_file"
            ).fetchall()
            return {source: int(n) for source, n in rows}
        finally:
            con.close()

    def warehouse_titles(self, source_file: str) -> list[str]:
        con = duckdb.connect(str(self.warehouse_path), read_only=True)
        try:
            return sorted(
                r[0]
                for r in con.execute(
                    "SELECT series_title FROM movies.imdb_movies_rating WHERE source_file = ?",
                    [source_file],
                ).fetchall()
            )
        finally:
            con.close()

    def outbox(self) -> list[dict]:
        path = self.path / "outbox.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def notifications_for(self, source_file: str) -> list[dict]:
        return [m for m in self.outbox() if m["subject"].endswith(f": {source_file}")]

    def leftovers(self) -> list[Path]:
        """Temporary files a finished or killed run left behind (work/ and half-written lake objects)."""
        work = self.path / "work"
        left = [p for p in work.rglob("*") if p.is_file()] if work.is_dir() else []
        if self.bucket.is_dir():
            left += [
                p
                for p in self.bucket.rglob("*")
                if p.is_file() and (".tmp-" in p.name or "_staging" in p.parts)
            ]
        return left


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


def output_of(done: subprocess.CompletedProcess) -> str:
    return f"{done.stdout}\n{done.stderr}"


def brief(done: subprocess.CompletedProcess) -> str:
    """The command, its exit code and the end of its output, for assertion messages."""
    text = output_of(done)
    return f"$ {' '.join(done.args[2:])} -> exit {done.returncode}\n{text[-3000:]}"


def assert_no_traceback(done: subprocess.CompletedProcess) -> None:
    text = output_of(done)
    assert "Traceback" not in text, brief(done)
    assert DAGSTER_WRAPPER not in text, brief(done)


def assert_rows_accounted(home: Home, source_file: str, rows_read: int, good: int) -> None:
    """Every row of the file is in exactly one place: ``good`` in the warehouse, the rest bad records."""
    assert home.warehouse_rows().get(source_file, 0) == good
    assert len(home.bad_records(source_file)) == rows_read - good
    assert home.published(source_file) == set(OUTPUT_PREFIXES)


def assert_nothing_published(home: Home, source_file: str) -> None:
    assert home.published(source_file) == set()
    assert home.warehouse_rows().get(source_file, 0) == 0


def assert_failure_told(
    home: Home, done: subprocess.CompletedProcess, source_file: str, *words: str
) -> str:
    """The run failed, the user's file is named with ``words`` in the CLI output and in the one
    failure notification, in at most two lines and without a traceback; returns the message."""
    assert done.returncode != 0, brief(done)
    assert_no_traceback(done)
    [note] = home.notifications_for(source_file)
    assert "FAILED" in note["subject"], note
    error = note["message"].get("error", "")
    assert source_file in error, error
    assert len(error.strip().splitlines()) <= 2, error
    for word in words:
        assert word.lower() in error.lower(), (word, error)
    assert error.strip().splitlines()[0] in output_of(done), (error, brief(done))
    assert "quality-run-" not in error and "/work/" not in error, error
    return error
