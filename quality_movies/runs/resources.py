"""The ledger of file versions: one record per input key and ETag, claimed, processed, failed or
waiting to be retried (a failure outside the file: attempts so far, last error, when to try again).

Locally a SQLite file under the home; on AWS JSON objects in the bucket written with S3's
conditional writes.

The CLI, the new-files sensor and the run-status sensors all consult and update it, so each file
version is processed and announced once, however the pipeline is driven.
"""

import json
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import dagster as dg
from botocore.exceptions import ClientError
from pydantic import PrivateAttr

State = Literal["claimed", "processed", "failed", "retrying"]
MAX_BACKOFF = timedelta(hours=1)
# Owner prefix of the claims of the AWS-native trigger's job runs (quality_movies.aws_pipeline).
PIPELINE_OWNER_PREFIX = "stepfunctions:"
# A job run settles its claims within the Glue job's timeout (120 minutes in the stack): a claim left
# this long by one was left by a run that was killed.
STALE_CLAIM_SECONDS = 3 * 60 * 60


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
    attempts: int = 0
    next_attempt_at: str = ""


class Ledger(dg.ConfigurableResource, ABC):
    """Claims file versions for a run and records how each one ended.

    A version that failed for a reason outside the file is kept ``retrying`` with its attempts and
    last error; after ``max_attempts`` it is failed (and announced). The sensor waits
    ``retry_backoff_seconds``, doubling per attempt (at most an hour), before taking it again.
    """

    max_attempts: int = 5
    retry_backoff_seconds: float = 60.0
    stale_claim_seconds: float = STALE_CLAIM_SECONDS

    @abstractmethod
    def claim(self, versions: Iterable[tuple[str, str]], owner: str) -> list[tuple[str, str]]:
        """Claim for ``owner`` each (input key, ETag) that is not the key's latest record (unless that
        record waits to be retried) and whose key has no open claim; returns the versions claimed now
        (a file changed back to an older content is processed again, since the warehouse holds the
        newer one)."""

    @abstractmethod
    def finish(
        self, input_key: str, etag: str, state: State, run_id: str, reason: str = ""
    ) -> bool:
        """Record a version as processed or failed; True for the first caller, who announces it."""

    @abstractmethod
    def retry_later(
        self, input_key: str, etag: str, run_id: str, reason: str
    ) -> FileVersion | None:
        """Count a failed attempt outside the file: the version waits to be retried, or is failed once
        ``max_attempts`` are spent. Returns the record as it is now, or None when this run's attempt
        was already counted or the version was settled otherwise (nothing to announce)."""

    @abstractmethod
    def unannounce(self, input_key: str, etag: str) -> None:
        """Mark a settled version as not announced (its notification could not be delivered), so
        the next run or sensor tick announces it."""

    def unannounced(self) -> list[FileVersion]:
        """Settled versions whose notification is still owed."""
        return [
            v
            for v in self.latest().values()
            if v.state in ("processed", "failed") and not v.announced and v.run_id
        ]

    @abstractmethod
    def release(self, versions: Iterable[tuple[str, str]], owner: str) -> int:
        """Drop claims of ``owner`` that will not run (e.g. a batch stopped before them); a version
        waiting to be retried goes back to waiting, with its attempts."""

    @abstractmethod
    def forget(self, input_key: str, states: Iterable[State] = ("failed", "retrying")) -> int:
        """Remove the key's records in ``states`` so its current version is processed again."""

    @abstractmethod
    def reopen(
        self, versions: Iterable[tuple[str, str]], owner: str, evaluated_by: str = ""
    ) -> list[tuple[str, str]]:
        """Claim for ``owner`` each (input key, ETag) that is its key's latest record and settled
        (processed or failed), to evaluate that same version again: its record becomes a claim, not
        yet announced, which the run settles and announces once like any other (``reprocess``).
        A record already settled by the run ``evaluated_by`` is left alone (that run's evaluation
        is recorded: settling it twice reopens nothing)."""

    @abstractmethod
    def versions(self) -> list[FileVersion]:
        """Every record, by key and time."""

    def latest(self) -> dict[str, FileVersion]:
        """The most recent record of each input key."""
        return {v.input_key: v for v in self.versions()}

    def settled_etags(
        self, latest: dict[str, FileVersion] | None = None, ignore_backoff: bool = False
    ) -> dict[str, str]:
        """The latest ETag of each key that a run should not take again: all but the versions waiting
        to be retried whose backoff has passed (or all of them, with ``ignore_backoff``)."""
        now = _now()
        return {
            key: v.etag
            for key, v in (self.latest() if latest is None else latest).items()
            if not (v.state == "retrying" and (ignore_backoff or v.next_attempt_at <= now))
        }

    def next_attempt_at(self, attempts: int) -> str:
        """When a version that failed ``attempts`` times outside the file may be taken again."""
        delay = timedelta(seconds=self.retry_backoff_seconds) * 2 ** max(attempts - 1, 0)
        return _now(min(delay, MAX_BACKOFF))

    def get(self, input_key: str, etag: str) -> FileVersion | None:
        return next(
            (v for v in self.versions() if (v.input_key, v.etag) == (input_key, etag)), None
        )

    def claims_by(self, owner_prefix: str) -> list[FileVersion]:
        """Open claims whose owner starts with ``owner_prefix``."""
        return [
            v for v in self.versions() if v.state == "claimed" and v.owner.startswith(owner_prefix)
        ]

    def release_stale(
        self, owner_prefix: str, latest: dict[str, FileVersion] | None = None
    ) -> list[FileVersion]:
        """Release the claims of owners starting with ``owner_prefix`` untouched for
        ``stale_claim_seconds`` (their run was killed before it settled them), among ``latest``
        (default: the whole ledger); returns those released, which any run may then claim."""
        cutoff = _now(-timedelta(seconds=self.stale_claim_seconds))
        stale = [
            v
            for v in (self.latest() if latest is None else latest).values()
            if v.state == "claimed" and v.owner.startswith(owner_prefix) and v.updated_at <= cutoff
        ]
        return [v for v in stale if self.release([(v.input_key, v.etag)], v.owner)]


SCHEMA = """
CREATE TABLE IF NOT EXISTS file_versions (
    input_key TEXT NOT NULL,
    etag TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('claimed', 'processed', 'failed', 'retrying')),
    owner TEXT NOT NULL DEFAULT '',
    run_id TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL,
    announced INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL DEFAULT '',
    UNIQUE (input_key, etag)
)
"""
SCHEMA_VERSION = 1
COLUMNS = "input_key, etag, state, owner, run_id, reason, updated_at, announced"


def _now(later: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + later).isoformat(timespec="seconds")


def _row_version(row: tuple) -> FileVersion:
    return FileVersion(*row[:7], announced=bool(row[7]), attempts=row[8], next_attempt_at=row[9])


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a ledger written by an earlier version to this schema (attempts, ``retrying``)."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    old = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'file_versions'"
    ).fetchone()
    if (
        old
        and "retrying"
        not in db.execute("SELECT sql FROM sqlite_master WHERE name = 'file_versions'").fetchone()[
            0
        ]
    ):
        db.execute("ALTER TABLE file_versions RENAME TO file_versions_v0")
        db.execute(SCHEMA)
        db.execute(
            f"INSERT INTO file_versions ({COLUMNS}) SELECT {COLUMNS} FROM file_versions_v0"
            " ORDER BY rowid"
        )
        db.execute("DROP TABLE file_versions_v0")
    db.execute(SCHEMA)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


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
            _migrate(connection)
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
                if latest is not None and (latest[0], latest[1]) == (etag, "retrying"):
                    db.execute(
                        "UPDATE file_versions SET state = 'claimed', owner = ?, updated_at = ?"
                        " WHERE input_key = ? AND etag = ?",
                        (owner, _now(), input_key, etag),
                    )
                    claimed.append((input_key, etag))
                    continue
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

    def retry_later(
        self, input_key: str, etag: str, run_id: str, reason: str
    ) -> FileVersion | None:
        with self._transaction() as db:
            row = db.execute(
                "SELECT state, run_id, announced, attempts FROM file_versions"
                " WHERE input_key = ? AND etag = ?",
                (input_key, etag),
            ).fetchone()
            if row is not None and (row[2] or (row[0] == "retrying" and row[1] == run_id)):
                return None
            attempts = (row[3] if row is not None else 0) + 1
            final = attempts >= self.max_attempts
            db.execute(
                "INSERT INTO file_versions (input_key, etag, state, owner, run_id, reason,"
                " updated_at, announced, attempts, next_attempt_at)"
                " VALUES (?, ?, ?, '', ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (input_key, etag) DO UPDATE SET state = excluded.state, owner = '',"
                " run_id = excluded.run_id, reason = excluded.reason,"
                " updated_at = excluded.updated_at, announced = excluded.announced,"
                " attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at",
                (
                    input_key,
                    etag,
                    "failed" if final else "retrying",
                    run_id,
                    reason,
                    _now(),
                    int(final),
                    attempts,
                    "" if final else self.next_attempt_at(attempts),
                ),
            )
        return self.get(input_key, etag)

    def unannounce(self, input_key: str, etag: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE file_versions SET announced = 0 WHERE input_key = ? AND etag = ?"
                " AND state IN ('processed', 'failed')",
                (input_key, etag),
            )

    def release(self, versions: Iterable[tuple[str, str]], owner: str) -> int:
        released = 0
        with self._transaction() as db:
            for input_key, etag in versions:
                mine = "input_key = ? AND etag = ? AND state = 'claimed' AND owner = ?"
                released += db.execute(
                    f"UPDATE file_versions SET state = 'retrying', owner = '' WHERE {mine}"
                    " AND attempts > 0",
                    (input_key, etag, owner),
                ).rowcount
                released += db.execute(
                    f"DELETE FROM file_versions WHERE {mine}", (input_key, etag, owner)
                ).rowcount
        return released

    def forget(self, input_key: str, states: Iterable[State] = ("failed", "retrying")) -> int:
        states = list(states)
        marks = ", ".join("?" for _ in states)
        with self._transaction() as db:
            return db.execute(
                f"DELETE FROM file_versions WHERE input_key = ? AND state IN ({marks})",
                (input_key, *states),
            ).rowcount

    def reopen(
        self, versions: Iterable[tuple[str, str]], owner: str, evaluated_by: str = ""
    ) -> list[tuple[str, str]]:
        reopened = []
        with self._transaction() as db:
            for input_key, etag in versions:
                updated = db.execute(
                    "UPDATE file_versions SET state = 'claimed', owner = ?, run_id = '', reason = '',"
                    " updated_at = ?, announced = 0, attempts = 0, next_attempt_at = '' WHERE input_key = ? AND etag = ?"
                    " AND state IN ('processed', 'failed') AND (? = '' OR run_id != ?)"
                    " AND rowid = (SELECT MAX(rowid) FROM file_versions WHERE input_key = ?)",
                    (owner, _now(), input_key, etag, evaluated_by, evaluated_by, input_key),
                ).rowcount
                if updated:
                    reopened.append((input_key, etag))
        return reopened

    def get(self, input_key: str, etag: str) -> FileVersion | None:
        with self._transaction() as db:
            row = db.execute(
                f"SELECT {COLUMNS}, attempts, next_attempt_at FROM file_versions"
                " WHERE input_key = ? AND etag = ?",
                (input_key, etag),
            ).fetchone()
        return None if row is None else _row_version(row)

    def versions(self) -> list[FileVersion]:
        with self._transaction() as db:
            rows = db.execute(
                f"SELECT {COLUMNS}, attempts, next_attempt_at"
                " FROM file_versions ORDER BY input_key, rowid"
            ).fetchall()
        return [_row_version(row) for row in rows]


class S3Ledger(Ledger):
    """The ledger in the bucket: one JSON object per input key under ``prefix`` (its latest version).

    Every change is a conditional write (``If-None-Match: *`` to create, ``If-Match: <ETag>`` to
    replace), so two writers racing for a version never both win; the loser re-reads and decides
    again. Reachable from every host that can reach the bucket (the CLI, a Dagster deployment).
    """

    bucket: str
    prefix: str = "_ledger/"
    region_name: str = "us-east-1"
    endpoint_url: str = ""
    _client: Any = PrivateAttr(default=None)

    def client(self) -> Any:
        if self._client is None:
            from quality_movies.lake import aws_client

            self._client = aws_client(
                "s3", self.region_name, self.endpoint_url, path_style=bool(self.endpoint_url)
            )
        return self._client

    def _key(self, input_key: str) -> str:
        return f"{self.prefix}{input_key}.json"

    def _read(self, input_key: str) -> tuple[dict | None, str | None]:
        """The record and its object's ETag, or (None, None) when the key has none."""
        try:
            response = self.client().get_object(Bucket=self.bucket, Key=self._key(input_key))
        except self.client().exceptions.NoSuchKey:
            return None, None
        return json.loads(response["Body"].read()), response["ETag"]

    def _write(self, input_key: str, record: dict, expected_etag: str | None) -> bool:
        """Create (when ``expected_etag`` is None) or replace the record; False when raced."""
        condition = {"IfMatch": expected_etag} if expected_etag else {"IfNoneMatch": "*"}
        try:
            self.client().put_object(
                Bucket=self.bucket,
                Key=self._key(input_key),
                Body=json.dumps(record, sort_keys=True).encode(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                return False
            raise
        return True

    def claim(self, versions: Iterable[tuple[str, str]], owner: str) -> list[tuple[str, str]]:
        claimed = []
        for input_key, etag in versions:
            record, object_etag = self._read(input_key)
            waiting = record is not None and (record["etag"], record["state"]) == (etag, "retrying")
            if (
                not waiting
                and record is not None
                and (record["etag"] == etag or record["state"] == "claimed")
            ):
                continue
            fresh = _record(etag, "claimed", owner)
            if waiting:
                fresh = {**record, "state": "claimed", "owner": owner, "updated_at": _now()}
            if self._write(input_key, fresh, object_etag):
                claimed.append((input_key, etag))
        return claimed

    def finish(
        self, input_key: str, etag: str, state: State, run_id: str, reason: str = ""
    ) -> bool:
        for _ in range(5):
            record, object_etag = self._read(input_key)
            if record is not None and record["etag"] == etag and record["announced"]:
                return False
            mine = record is not None and record["etag"] == etag
            done = {
                **_record(etag, state, record["owner"] if mine else "run", run_id, reason),
                "announced": True,
                "attempts": record.get("attempts", 0) if mine else 0,
            }
            if self._write(input_key, done, object_etag):
                return True
        raise RuntimeError(f"ledger entry of {input_key} keeps changing: try again")

    def retry_later(
        self, input_key: str, etag: str, run_id: str, reason: str
    ) -> FileVersion | None:
        for _ in range(5):
            record, object_etag = self._read(input_key)
            mine = record is not None and record["etag"] == etag
            if mine and (
                record["announced"] or (record["state"], record["run_id"]) == ("retrying", run_id)
            ):
                return None
            attempts = (record.get("attempts", 0) if mine else 0) + 1
            final = attempts >= self.max_attempts
            fresh = {
                **_record(etag, "failed" if final else "retrying", "", run_id, reason),
                "announced": final,
                "attempts": attempts,
                "next_attempt_at": "" if final else self.next_attempt_at(attempts),
            }
            if self._write(input_key, fresh, object_etag):
                return _version(input_key, fresh)
        raise RuntimeError(f"ledger entry of {input_key} keeps changing: try again")

    def unannounce(self, input_key: str, etag: str) -> None:
        for _ in range(5):
            record, object_etag = self._read(input_key)
            if record is None or record["etag"] != etag or not record["announced"]:
                return
            if record["state"] not in ("processed", "failed"):
                return
            if self._write(input_key, {**record, "announced": False}, object_etag):
                return
        raise RuntimeError(f"ledger entry of {input_key} keeps changing: try again")

    def release(self, versions: Iterable[tuple[str, str]], owner: str) -> int:
        released = 0
        for input_key, etag in versions:
            record, object_etag = self._read(input_key)
            if record and (record["etag"], record["state"], record["owner"]) == (
                etag,
                "claimed",
                owner,
            ):
                if record.get("attempts", 0):
                    waiting = {**record, "state": "retrying", "owner": ""}
                    released += self._write(input_key, waiting, object_etag)
                    continue
                self.client().delete_object(Bucket=self.bucket, Key=self._key(input_key))
                released += 1
        return released

    def forget(self, input_key: str, states: Iterable[State] = ("failed", "retrying")) -> int:
        record, _ = self._read(input_key)
        if record is None or record["state"] not in set(states):
            return 0
        self.client().delete_object(Bucket=self.bucket, Key=self._key(input_key))
        return 1

    def reopen(
        self, versions: Iterable[tuple[str, str]], owner: str, evaluated_by: str = ""
    ) -> list[tuple[str, str]]:
        reopened = []
        for input_key, etag in versions:
            record, object_etag = self._read(input_key)
            settled = record is not None and record["state"] in ("processed", "failed")
            settled = settled and not (evaluated_by and record["run_id"] == evaluated_by)
            claim = _record(etag, "claimed", owner)
            if settled and record["etag"] == etag and self._write(input_key, claim, object_etag):
                reopened.append((input_key, etag))
        return reopened

    def get(self, input_key: str, etag: str) -> FileVersion | None:
        record, _ = self._read(input_key)
        if record is None or record["etag"] != etag:
            return None
        return _version(input_key, record)

    def versions(self) -> list[FileVersion]:
        found = []
        paginator = self.client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for entry in page.get("Contents", []):
                input_key = entry["Key"][len(self.prefix) : -len(".json")]
                record, _ = self._read(input_key)
                if record is not None:
                    found.append(_version(input_key, record))
        return sorted(found, key=lambda v: v.input_key)


def _record(etag: str, state: State, owner: str, run_id: str = "", reason: str = "") -> dict:
    return {
        "etag": etag,
        "state": state,
        "owner": owner,
        "run_id": run_id,
        "reason": reason,
        "updated_at": _now(),
        "announced": False,
    }


def _version(input_key: str, record: dict) -> FileVersion:
    return FileVersion(
        input_key=input_key,
        etag=record["etag"],
        state=record["state"],
        owner=record["owner"],
        run_id=record["run_id"],
        reason=record["reason"],
        updated_at=record["updated_at"],
        announced=bool(record["announced"]),
        attempts=int(record.get("attempts", 0)),
        next_attempt_at=record.get("next_attempt_at", ""),
    )
