"""A real PostgreSQL 15 server (Debian's) for tests: started on 127.0.0.1, stopped by its process id.

initdb and postgres refuse to run as root, so as root they run as the ``postgres`` user on a folder it
owns (FACTS.md), started directly as that user (not through runuser, which would stand between the
signal and the server); the socket goes to that folder too.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
STARTUP_DEADLINE_SECONDS = 30
USER = "postgres"


def postgres_available() -> bool:
    return (PG_BIN / "initdb").is_file() and (PG_BIN / "postgres").is_file()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres() -> dict[str, str]:
    """Popen arguments running the child as the postgres user when we are root (the child is then
    postgres itself, so its process id is the server's)."""
    return {"user": USER, "group": USER} if os.geteuid() == 0 else {}


@contextmanager
def postgres_server() -> Iterator[str]:
    """A fresh cluster serving 127.0.0.1 on a free port; yields its libpq DSN."""
    import psycopg2

    root = Path(tempfile.mkdtemp(prefix="quality-movies-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, USER, USER)
    data = root / "data"
    subprocess.run(
        [str(PG_BIN / "initdb"), "-D", str(data), "-U", USER, "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
        cwd=root,
        **_as_postgres(),
    )
    port = _free_port()
    log = (root / "postgres.log").open("wb")
    server = subprocess.Popen(
        [
            str(PG_BIN / "postgres"),
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(root),
            "-c",
            "fsync=off",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
        start_new_session=True,
        **_as_postgres(),
    )
    dsn = f"host=127.0.0.1 port={port} user={USER} dbname=postgres"
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
        while True:
            try:
                psycopg2.connect(dsn).close()
                break
            except psycopg2.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL did not start: {(root / 'postgres.log').read_text()}"
                    ) from None
                time.sleep(0.1)
        yield dsn
    finally:
        # SIGINT is PostgreSQL's fast shutdown
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
