"""A folder as a bucket, without Dagster: its listing and the input files' ETags (MD5, as S3's for
single-part objects), for ``LocalLake`` and for the CLI's quick read of the local state."""

import hashlib
import json
import os
from pathlib import Path


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)


def list_folder(base: Path, prefix: str) -> list[tuple[str, Path]]:
    """(key, path) of every object under ``prefix`` of the bucket folder ``base``, sorted by key;
    hidden and temporary files (a write in progress) are not objects."""
    found = []
    for path in sorted(p for p in (base / prefix).rglob("*") if p.is_file()):
        if path.name.startswith(".") or ".tmp-" in path.name:
            continue
        found.append((path.relative_to(base).as_posix(), path))
    return found


class EtagCache:
    """ETags of local files remembered per (size, mtime, ctime, inode), so a listing reads no unchanged
    file.

    Stored as JSON beside the bucket folder; a lost update (two writers) only costs a re-hash.
    """

    def __init__(self, path: Path):
        self.path = path
        try:
            self.entries: dict[str, list] = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            self.entries = {}
        self.changed = False

    @staticmethod
    def _stamp(stat: os.stat_result) -> list[int]:
        """What changes when the file does: ctime too, which a write moves and utime cannot set."""
        return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]

    def etag(self, key: str, path: Path, stat: os.stat_result) -> str:
        stamp = self._stamp(stat)
        entry = self.entries.get(key)
        if entry is not None and entry[:-1] == stamp:
            return entry[-1]
        etag = _md5(path)
        self.remember(key, stat, etag)
        return etag

    def remember(self, key: str, stat: os.stat_result, etag: str) -> None:
        self.entries[key] = [*self._stamp(stat), etag]
        self.changed = True

    def keep_only(self, prefix: str, keys: set[str]) -> None:
        """Forget entries under ``prefix`` whose object is gone."""
        for key in [k for k in self.entries if k.startswith(prefix) and k not in keys]:
            del self.entries[key]
            self.changed = True

    def save(self) -> None:
        if self.changed:
            write_atomically(self.path, json.dumps(self.entries, sort_keys=True))
            self.changed = False
