"""How often the local Dagster instance's SQLite files wait for the disk.

Dagster's SQLite storage opens a connection per event, commits it with SQLite's default
``synchronous = FULL`` and closes it; as the last connection to the file, the close checkpoints the
WAL and deletes it. Every event waited for about a dozen fsyncs (4,865 for a 20-file batch on the
benchmark machine; a 100-file `run` took 23 s instead of 20 s). Here every such connection on a file
under ``DAGSTER_HOME`` gets ``PRAGMA synchronous`` from ``QUALITY_MOVIES_DAGSTER_SYNC``, and the
process keeps one idle connection per file so that closes do not checkpoint (506 fsyncs for the
same batch), and touches a file after each write to it, so that Dagster's UI, which watches the file,
shows a running run's events as they come:

- ``normal`` (default): in WAL mode the files stay consistent through a crash or a power loss, which
  may lose only the last events before it;
- ``off``: no fsync at all (an OS crash or power loss can corrupt the run history);
- ``full``: Dagster's own behaviour.

The ledger (what was processed and announced) and the warehouse keep their own, durable settings.
"""

import contextlib
import os
import sqlite3
from functools import lru_cache

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

SYNC_MODES = ("normal", "off", "full")
MAX_KEPT = 8
_installed: dict[str, str] = {}
_kept: dict[str, sqlite3.Connection] = {}
_on_wal: set[str] = set()  # kept files whose keeper is attached to their WAL
_PATH = "quality_movies_instance_file"  # connection record info: (path, total changes when seen)


def sync_mode(environ: dict[str, str] | None = None) -> str:
    """The mode ``QUALITY_MOVIES_DAGSTER_SYNC`` asks for (``normal`` when unset)."""
    environ = os.environ if environ is None else environ
    mode = environ.get("QUALITY_MOVIES_DAGSTER_SYNC", "normal").strip().lower()
    if mode not in SYNC_MODES:
        raise ValueError(
            f"QUALITY_MOVIES_DAGSTER_SYNC={mode!r} is not a mode: use one of {', '.join(SYNC_MODES)}"
        )
    return mode


@lru_cache(maxsize=256)
def _inside(path: str, folder: str) -> bool:
    """Whether file ``path`` is under ``folder`` (both as given: resolved once per pair)."""
    if not path:
        return False
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def _on_connect(dbapi_connection, record) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection) or "mode" not in _installed:
        return
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return
    (_, _, path) = dbapi_connection.execute("PRAGMA database_list").fetchone()
    if _inside(path, home):
        dbapi_connection.execute(f"PRAGMA synchronous = {_installed['mode'].upper()}")
        try:
            _keep_open(path)
        except sqlite3.Error:  # only a saving: never let it fail Dagster's own write
            _forget(path)
        if record is not None:
            record.info[_PATH] = (path, dbapi_connection.total_changes)


def _on_checkin(dbapi_connection, record) -> None:
    """After a write to a kept file, touch the file. Its WAL is no longer checkpointed when Dagster's
    connection closes, so the file itself would not change until the process ends, and Dagster's UI,
    which watches it (watchdog) for a running run's new events, would show them only then."""
    known = record.info.get(_PATH) if record is not None else None
    if known is None or known[0] not in _kept:
        return
    path, changes = known
    with contextlib.suppress(sqlite3.Error, OSError):  # never fail Dagster's own write
        now = dbapi_connection.total_changes
        if now != changes:
            record.info[_PATH] = (path, now)
            os.utime(path)


def _forget(path: str) -> None:
    keeper = _kept.pop(path, None)
    _on_wal.discard(path)
    if keeper is not None:
        keeper.close()


def _keep_open(path: str) -> None:
    """Hold one idle connection on ``path``: SQLite checkpoints a WAL file and deletes it (fsyncs of
    the file, the WAL and the folder) when the *last* connection closes, which Dagster's
    connection-per-event would otherwise do at every event. An idle connection holds no lock that
    stops writers or checkpoints in other processes; the oldest are closed past ``MAX_KEPT``."""
    keeper = _kept.pop(path, None) or sqlite3.connect(path, check_same_thread=False)
    _kept[path] = keeper  # most recently used last
    if path not in _on_wal:
        # a read attaches it to the WAL; a new file becomes WAL only after its first connection
        keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()
        if keeper.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            _on_wal.add(path)
    while len(_kept) > MAX_KEPT:
        _forget(next(iter(_kept)))


def set_instance_sync(mode: str) -> None:
    """Make every SQLite connection that SQLAlchemy opens in this process on a file under
    ``DAGSTER_HOME`` commit with ``PRAGMA synchronous = <mode>`` (``full`` leaves them alone)."""
    if mode == "full":
        _installed.pop("mode", None)
        for path in list(_kept):
            _forget(path)
        return
    if not event.contains(Engine, "connect", _on_connect):
        event.listen(Engine, "connect", _on_connect)
    if not event.contains(Pool, "checkin", _on_checkin):
        event.listen(Pool, "checkin", _on_checkin)
    _installed["mode"] = mode
