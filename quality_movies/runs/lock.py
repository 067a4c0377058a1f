"""One ``quality-movies run`` (or Dagster instance creation) at a time per home: an fcntl file lock."""

import fcntl
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".lock"


@contextmanager
def home_lock(home: Path, purpose: str = "run") -> Iterator[None]:
    """Hold the home's lock; when another process holds it, say so once on stderr and wait.

    The kernel releases the lock when its holder exits, even after ``kill -9``.
    """
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_NAME
    with path.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            print(
                f"waiting for another quality-movies {holder} on {home} to finish...",
                file=sys.stderr,
                flush=True,
            )
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(f"{purpose} (pid {os.getpid()})")
        lock.flush()
        try:
            yield
        finally:
            lock.seek(0)
            lock.truncate()
            lock.flush()
            fcntl.flock(lock, fcntl.LOCK_UN)
