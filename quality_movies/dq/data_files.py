"""The files file rules (FileFreshness, FileMatch, FileSize, FileUniqueness) look at: the file being
evaluated and its neighbours, each with its name, size, last-modified time and bytes.

The engine asks a ``FileListing``; on a laptop ``LocalFiles`` answers from the data file's folder, and
the pipeline can answer from the lake (a folder, or an S3 listing) with its own implementation.
"""

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

HASH_ALGORITHMS = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256"}


@dataclass(frozen=True)
class DataFile:
    """One file: ``uri`` as rules name it (``s3://bucket/input_data/a.csv`` or a local path), its size
    in bytes, when it was last modified (UTC, naive) and a way to read its bytes in chunks."""

    uri: str
    size: int
    last_modified: datetime
    chunks: Callable[[], Iterator[bytes]]

    def digest(self, algorithm: str) -> str:
        """The hex digest of the file's bytes with ``MD5``, ``SHA-1`` or ``SHA-256``."""
        hasher = hashlib.new(HASH_ALGORITHMS[algorithm.upper()])
        for chunk in self.chunks():
            hasher.update(chunk)
        return hasher.hexdigest()


class FileListing(Protocol):
    """The file being evaluated and the files a rule's path names."""

    def current(self) -> DataFile:
        """The file whose rows are being evaluated (a file rule without a path looks at it)."""
        ...

    def list(self, uri: str) -> list[DataFile]:
        """The file at ``uri``, or the files under it when it is a folder (ends with ``/``)."""
        ...


def _chunks(path: Path) -> Callable[[], Iterator[bytes]]:
    def read() -> Iterator[bytes]:
        with path.open("rb") as source:
            while chunk := source.read(1 << 20):
                yield chunk

    return read


def local_file(path: Path) -> DataFile:
    stat = path.stat()
    modified = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
    return DataFile(str(path.resolve()), stat.st_size, modified, _chunks(path))


@dataclass(frozen=True)
class LocalFiles:
    """Files on the local disk: ``data_path`` is the evaluated file; a rule's path is a local file or
    folder (its direct files)."""

    data_path: Path

    def current(self) -> DataFile:
        return local_file(self.data_path)

    def list(self, uri: str) -> list[DataFile]:
        path = Path(uri.removeprefix("file://"))
        if path.is_file():
            return [local_file(path)]
        if path.is_dir():
            return [local_file(p) for p in sorted(path.iterdir()) if p.is_file()]
        return []
