"""How the local Dagster instance's SQLite files are connected to and how often they wait for the disk.

Dagster's SQLite storage opens a new connection per event, commits it with SQLite's default
``synchronous = FULL`` and closes it; as the last connection to the file, the close checkpoints the
WAL and deletes it. Every event waited for about a dozen fsyncs (4,865 for a 20-file batch on the
benchmark machine) and paid for opening the file and reading its schema again. Here every SQLite
connection SQLAlchemy asks for on a file under ``DAGSTER_HOME`` comes from a few connections the
process keeps per file (SQLAlchemy's ``do_connect`` event): closing one puts it back, idle, so closes
do not checkpoint and the next event skips opening the file. Kept connections commit with
``PRAGMA synchronous`` from ``QUALITY_MOVIES_DAGSTER_SYNC``, and a write touches its file, so that
Dagster's UI, which watches the file, shows a running run's events as they come:

- ``normal`` (default): in WAL mode the files stay consistent through a crash or a power loss, which
  may lose only the last events before it;
- ``off``: no fsync at all (an OS crash or power loss can corrupt the run history);
- ``full``: Dagster's own behaviour (a new connection per event).

The ledger (what was processed and announced) and the warehouse keep their own, durable settings.
"""

import contextlib
import os
import sqlite3
import threading
from collections import OrderedDict
from functools import lru_cache

from sqlalchemy import event
from sqlalchemy.engine import Dialect
from sqlalchemy.pool import Pool

SYNC_MODES = ("normal", "off", "full")
MAX_FILES = 8  # files with idle connections kept; the least recently used are closed past it
MAX_IDLE = 4  # idle connections kept per file
_installed: dict[str, str] = {}
_idle: "OrderedDict[str, list[KeptConnection]]" = OrderedDict()  # most recently used file last
_lock = threading.Lock()
_SEEN = "quality_movies_changes"  # connection record info: total changes at checkout


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
    if not path or path.startswith(":") or path.startswith("file:"):
        return False
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


class KeptConnection(sqlite3.Connection):
    """A connection to one file of the instance; ``close`` puts it back with the file's idle ones."""

    path = ""
    identity: tuple[int, int] | None = None  # the file it opened (device, inode)
    resting = False  # with the file's idle ones: a second close must not put it back twice

    def close(self) -> None:
        if self.resting:
            return
        try:
            if self.in_transaction:
                self.rollback()
        except sqlite3.Error:
            super().close()
            return
        with _lock:
            idle = _idle.get(self.path) if "mode" in _installed else None
            if idle is not None and len(idle) < MAX_IDLE:
                self.resting = True
                idle.append(self)
                return
        super().close()


def _on_do_connect(dialect, _record, cargs, cparams):
    """Hand SQLAlchemy an idle connection to the file, or a new kept one (None: its own)."""
    mode, home = _installed.get("mode"), os.environ.get("DAGSTER_HOME")
    if mode is None or not home or dialect.name != "sqlite" or cparams.get("uri"):
        return None
    path = cargs[0] if cargs else cparams.get("database", "")
    if not isinstance(path, str) or not _inside(path, home):
        return None
    identity = _identity(path)
    with _lock:
        idle = _idle.pop(path, None) or []
        stale = [c for c in idle if c.identity != identity]  # the file was deleted or replaced
        idle = [c for c in idle if c.identity == identity]
        _idle[path] = idle
        if idle:
            connection = idle.pop()
            connection.resting = False
        else:
            connection = None
            while len(_idle) > MAX_FILES:  # the least recently used file's idle connections
                stale += _idle.popitem(last=False)[1]
    _close_for_good(stale)
    if connection is not None:
        return connection
    options = {k: v for k, v in cparams.items() if k != "database"}
    connection = sqlite3.connect(
        path, **{**options, "check_same_thread": False, "factory": KeptConnection}
    )
    connection.path, connection.identity = path, _identity(path)
    connection.execute(f"PRAGMA synchronous = {mode.upper()}")
    return connection


def _identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _on_checkout(dbapi_connection, record, _proxy) -> None:
    if isinstance(dbapi_connection, KeptConnection):
        record.info[_SEEN] = dbapi_connection.total_changes


def _on_checkin(dbapi_connection, record) -> None:
    """After a write to a kept file, touch the file. Its WAL is no longer checkpointed when Dagster's
    connection closes, so the file itself would not change until the process ends, and Dagster's UI,
    which watches it (watchdog) for a running run's new events, would show them only then."""
    if not isinstance(dbapi_connection, KeptConnection) or record is None:
        return
    seen = record.info.pop(_SEEN, None)
    with contextlib.suppress(sqlite3.Error, OSError):  # never fail Dagster's own write
        if seen is not None and dbapi_connection.total_changes != seen:
            os.utime(dbapi_connection.path)


def _close_for_good(connections) -> None:
    for connection in connections:
        sqlite3.Connection.close(connection)


def _close_idle() -> None:
    with _lock:
        groups = list(_idle.values())
        _idle.clear()
    _close_for_good(c for group in groups for c in group)


_inherited: list = []  # a forked process's copies of its parent's connections, never used or closed


def _forget_in_child() -> None:
    """A forked process must not use its parent's SQLite connections, nor close them (SQLite's
    advice): they are set aside, and the child opens its own."""
    _inherited.extend(_idle.values())
    _idle.clear()
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


def set_instance_sync(mode: str) -> None:
    """Make every SQLite connection that SQLAlchemy opens in this process on a file under
    ``DAGSTER_HOME`` a kept one that commits with ``PRAGMA synchronous = <mode>`` (``full`` leaves
    them alone: Dagster's own connections)."""
    if mode == "full":
        _installed.pop("mode", None)
        _close_idle()
        return
    if not event.contains(Dialect, "do_connect", _on_do_connect):
        event.listen(Dialect, "do_connect", _on_do_connect)
    if not event.contains(Pool, "checkout", _on_checkout):
        event.listen(Pool, "checkout", _on_checkout)
    if not event.contains(Pool, "checkin", _on_checkin):
        event.listen(Pool, "checkin", _on_checkin)
    if _installed.get("mode") != mode:
        _close_idle()  # kept ones commit with the mode they were opened with
    _installed["mode"] = mode
