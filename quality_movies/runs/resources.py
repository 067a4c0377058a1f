"""The ledger of file versions: one record per input key and ETag, claimed, processed or failed.

The CLI, the new-files sensor and the run-status sensors all consult and update it, so each file
version is processed and announced once, however the pipeline is driven.
"""

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import dagster as dg

State = Literal["claimed", "processed", "failed"]


@dataclass(frozen=True)
class FileVersion:
    """One input file version as the ledger knows it."""

    input_key: str
    etag: str
    state: State
    owner: str
    run_id: str
    reason: str
    updated_at: str
    announced: bool


class Ledger(dg.ConfigurableResource, ABC):
    """Claims file versions for a run and records how each one ended."""

    @abstractmethod
    def claim(self, versions: Iterable[tuple[str, str]], owner: str) -> list[tuple[str, str]]:
        """Claim for ``owner`` each (input key, ETag) that is not the key's latest record and whose key
        has no open claim; returns the versions claimed now (a file changed back to an older content
        is processed again, since the warehouse holds the newer one)."""

    @abstractmethod
    def finish(
        self, input_key: str, etag: str, state: State, run_id: str, reason: str = ""
    ) -> bool:
        """Record a version as processed or failed; True for the first caller, who announces it."""

    @abstractmethod
    def release(self, versions: Iterable[tuple[str, str]], owner: str) -> int:
        """Drop claims of ``owner`` that will not run (e.g. a batch stopped before them)."""

    @abstractmethod
    def forget(self, input_key: str, states: Iterable[State] = ("failed",)) -> int:
        """Remove the key's records in ``states`` so its current version is processed again."""

    @abstractmethod
    def versions(self) -> list[FileVersion]:
        """Every record, by key and time."""

    def latest(self) -> dict[str, FileVersion]:
        """The most recent record of each input key."""
        return {v.input_key: v for v in self.versions()}

    def get(self, input_key: str, etag: str) -> FileVersion | None:
        return next(
            (v for v in self.versions() if (v.input_key, v.etag) == (input_key, etag)), None
        )

    def claims_by(self, owner_prefix: str) -> list[FileVersion]:
        """Open claims whose owner starts with ``owner_prefix``."""
        return [
            v for v in self.versions() if v.state == "claimed" and v.owner.startswith(owner_prefix)
        ]


SCHEMA = """
CREATE TABLE IF NOT EXISTS file_versions (
    input_key TEXT NOT NULL,
    etag TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('claimed', 'processed', 'failed')),
    owner TEXT NOT NULL DEFAULT '',
    run_id TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    announced INTEGER NOT NULL DEFAULT 0,
    UNIQUE (input_key, etag)
)
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SqliteLedger(Ledger):
    """The ledger as a SQLite file under the home (one writer at a time, a unique key per version)."""

    path: str

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            connection.execute("PRAGMA busy_timeout = 60000")
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(SCHEMA)
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()

    def claim(self, versions: Iterable[tuple[str, str]], owner: str) -> list[tuple[str, str]]:
        claimed = []
        with self._transaction() as db:
            for input_key, etag in versions:
                latest = db.execute(
                    "SELECT etag, state FROM file_versions WHERE input_key = ?"
                    " ORDER BY rowid DESC LIMIT 1",
                    (input_key,),
                ).fetchone()
                if latest is not None and (latest[0] == etag or latest[1] == "claimed"):
                    continue
                db.execute(
                    "DELETE FROM file_versions WHERE input_key = ? AND etag = ?", (input_key, etag)
                )
                db.execute(
                    "INSERT INTO file_versions (input_key, etag, state, owner, updated_at)"
                    " VALUES (?, ?, 'claimed', ?, ?)",
                    (input_key, etag, owner, _now()),
                )
                claimed.append((input_key, etag))
        return claimed

    def finish(
        self, input_key: str, etag: str, state: State, run_id: str, reason: str = ""
    ) -> bool:
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE file_versions SET state = ?, run_id = ?, reason = ?, updated_at = ?,"
                " announced = 1 WHERE input_key = ? AND etag = ? AND announced = 0",
                (state, run_id, reason, _now(), input_key, etag),
            ).rowcount
            if updated:
                return True
            inserted = db.execute(
                "INSERT OR IGNORE INTO file_versions"
                " (input_key, etag, state, owner, run_id, reason, updated_at, announced)"
                " VALUES (?, ?, ?, 'run', ?, ?, ?, 1)",
                (input_key, etag, state, run_id, reason, _now()),
            ).rowcount
            return inserted == 1

    def release(self, versions: Iterable[tuple[str, str]], owner: str) -> int:
        released = 0
        with self._transaction() as db:
            for input_key, etag in versions:
                released += db.execute(
                    "DELETE FROM file_versions WHERE input_key = ? AND etag = ?"
                    " AND state = 'claimed' AND owner = ?",
                    (input_key, etag, owner),
                ).rowcount
        return released

    def forget(self, input_key: str, states: Iterable[State] = ("failed",)) -> int:
        states = list(states)
        marks = ", ".join("?" for _ in states)
        with self._transaction() as db:
            return db.execute(
                f"DELETE FROM file_versions WHERE input_key = ? AND state IN ({marks})",
                (input_key, *states),
            ).rowcount

    def versions(self) -> list[FileVersion]:
        with self._transaction() as db:
            rows = db.execute(
                "SELECT input_key, etag, state, owner, run_id, reason, updated_at, announced"
                " FROM file_versions ORDER BY input_key, rowid"
            ).fetchall()
        return [FileVersion(*row[:7], announced=bool(row[7])) for row in rows]
