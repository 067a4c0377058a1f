"""The local Dagster instance's SQLite files commit with the chosen ``synchronous`` level; other
SQLite files (the ledger, a user's own) keep SQLite's default (FULL = 2)."""

import sqlite3

import pytest
import sqlalchemy as sa

from quality_movies.runs.instance_storage import MAX_FILES, set_instance_sync, sync_mode

FULL, NORMAL, OFF = 2, 1, 0  # PRAGMA synchronous values, from the SQLite documentation


def synchronous(path) -> int:
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as con:
            return con.exec_driver_sql("PRAGMA synchronous").scalar()
    finally:
        engine.dispose()


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    home = tmp_path / "dagster"
    (home / "history" / "runs").mkdir(parents=True)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    yield home
    set_instance_sync("full")


@pytest.mark.parametrize(("mode", "expected"), [("normal", NORMAL), ("off", OFF), ("full", FULL)])
def test_files_under_the_dagster_home_get_the_mode(dagster_home, tmp_path, mode, expected):
    set_instance_sync(mode)
    assert synchronous(dagster_home / "history" / "runs" / "index.db") == expected
    assert synchronous(tmp_path / "ledger.sqlite3") == FULL


def test_the_default_is_normal_and_a_typo_is_named():
    assert sync_mode({}) == "normal"
    assert sync_mode({"QUALITY_MOVIES_DAGSTER_SYNC": " OFF "}) == "off"
    with pytest.raises(ValueError, match="QUALITY_MOVIES_DAGSTER_SYNC='fast'"):
        sync_mode({"QUALITY_MOVIES_DAGSTER_SYNC": "fast"})


def events(path) -> int:
    """Rows in ``commit_once``'s table, read through a connection of SQLAlchemy's own pool."""
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as con:
            return con.exec_driver_sql("SELECT count(*) FROM events").scalar()
    finally:
        engine.dispose()


def commit_once(path) -> None:
    """What Dagster's SQLite storage does per event: a new engine, one transaction, dispose."""
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as con, con.begin():
            con.exec_driver_sql("PRAGMA journal_mode = WAL")
            con.exec_driver_sql("CREATE TABLE IF NOT EXISTS events (x INTEGER)")
            con.exec_driver_sql("INSERT INTO events VALUES (1)")
    finally:
        engine.dispose()


@pytest.mark.parametrize(("mode", "wal_kept"), [("normal", True), ("full", False)])
def test_an_idle_connection_spares_a_checkpoint_at_every_close(dagster_home, mode, wal_kept):
    """SQLite checkpoints and deletes the WAL when the last connection to a file closes; with a
    connection kept open, the WAL stays between Dagster's per-event connections."""
    set_instance_sync(mode)
    path = dagster_home / "history" / "runs" / "index.db"
    for _ in range(3):
        commit_once(path)
    assert path.with_name("index.db-wal").exists() is wal_kept
    assert events(path) == 3


def dbapi_connection(con: sa.Connection) -> sqlite3.Connection:
    return con.connection.dbapi_connection


@pytest.mark.parametrize(("mode", "reused"), [("normal", True), ("full", False)])
def test_a_closed_connection_serves_the_next_engine_and_never_two_at_once(
    dagster_home, mode, reused
):
    """Dagster makes a new engine per event: the file's connection is kept and handed to the next
    one, but a connection still in use is never handed out a second time (Dagster's threads)."""
    set_instance_sync(mode)
    path = dagster_home / "history" / "runs" / "index.db"
    engines = [sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool) for _ in range(3)]
    try:
        with engines[0].connect() as first, engines[1].connect() as second:
            held = [dbapi_connection(first), dbapi_connection(second)]  # alive: ids stay theirs
            assert held[0] is not held[1]
        with engines[2].connect() as third:
            assert any(dbapi_connection(third) is c for c in held) is reused
    finally:
        for engine in engines:
            engine.dispose()


def test_a_kept_connection_comes_back_without_its_open_transaction(dagster_home):
    """Whatever a caller left uncommitted is rolled back when the connection is put back."""
    set_instance_sync("normal")
    path = dagster_home / "history" / "runs" / "index.db"
    commit_once(path)
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool)
    try:
        raw = engine.raw_connection()
        kept = raw.dbapi_connection
        kept.execute("INSERT INTO events VALUES (2)")
        assert kept.in_transaction
        kept.close()  # as SQLAlchemy's pool closes it, without a commit
        raw.invalidate()  # which closes it once more: it must not be put back twice
        with engine.connect() as con, engine.connect() as other:
            assert dbapi_connection(con) is kept
            assert dbapi_connection(other) is not kept
            assert not kept.in_transaction
            assert con.exec_driver_sql("SELECT count(*) FROM events").scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize("mode", ["normal", "full"])
def test_a_running_runs_events_reach_the_ui_watcher_while_it_runs(dagster_home, mode):
    """Dagster's UI follows a running run by watching its event log file (watchdog); with the WAL
    no longer checkpointed at every close, a write must still change the file."""
    import threading

    import dagster as dg

    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    set_instance_sync(mode)
    seen = threading.Event()

    def watched(entry, _cursor):
        if entry.user_message == "first event":
            seen.set()

    @dg.op
    def waits_to_be_seen(context: dg.OpExecutionContext) -> None:
        context.instance.watch_event_logs(context.run_id, None, watched)
        context.log.info("first event")
        assert seen.wait(10), "a watcher of the instance saw nothing while the run ran"

    @dg.job
    def followed():
        waits_to_be_seen()

    with dg.DagsterInstance.get() as instance:
        assert followed.execute_in_process(instance=instance).success


def test_a_forked_process_opens_its_own_connections(dagster_home):
    """A child process (a forking executor) never gets the parent's kept connections."""
    import os

    from quality_movies.runs import instance_storage

    set_instance_sync("normal")
    path = dagster_home / "history" / "runs" / "index.db"
    commit_once(path)
    assert instance_storage._idle[str(path)]
    pid = os.fork()
    if pid == 0:  # the child: nothing kept from the parent, and its own connection works
        ok = not instance_storage._idle
        try:
            commit_once(path)
        except Exception:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    commit_once(path)
    assert events(path) == 3


def test_a_deleted_file_is_opened_again_not_written_through_a_kept_connection(dagster_home):
    """Deleting the home (to start over) while a process keeps connections: the next event creates
    the file again instead of writing into the deleted one."""
    set_instance_sync("normal")
    path = dagster_home / "history" / "runs" / "index.db"
    commit_once(path)
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    commit_once(path)
    assert events(path) == 1


def test_only_the_most_recently_used_files_keep_connections(dagster_home):
    """A long-lived process (the UI's code server) touches a file per run: past MAX_FILES files, the
    least recently used one's idle connections are closed."""
    from quality_movies.runs import instance_storage

    set_instance_sync("normal")
    files = [dagster_home / "history" / "runs" / f"run_{i}.db" for i in range(MAX_FILES + 2)]
    for path in files:
        commit_once(path)
    assert list(instance_storage._idle) == [str(p) for p in files[-MAX_FILES:]]
