"""The embedded lake and catalog: a folder as the bucket, JSON files as the Data Catalog."""

import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import duckdb
from pydantic import PrivateAttr

from quality_movies.bucket_folder import EtagCache, list_folder, write_atomically
from quality_movies.dq.input_format import (
    UnsupportedInputError,
    detect_file_format,
    is_input_file,
)
from quality_movies.lake.base import (
    Catalog,
    CatalogTable,
    Lake,
    LakeObject,
    crawl_connection,
    infer_csv_columns,
    merge_columns,
)
from quality_movies.lake.inspect import InputProblem

T = TypeVar("T")


def _copy_with_md5(src: Path, dest: Path) -> str:
    """Copy a file and return the MD5 of what was copied (one read of the source)."""
    digest = hashlib.md5()
    with src.open("rb") as fin, dest.open("wb") as fout:
        for chunk in iter(lambda: fin.read(1 << 20), b""):
            digest.update(chunk)
            fout.write(chunk)
    return digest.hexdigest()


def _link_or_copy(src: Path, dest: Path) -> None:
    """``dest`` with ``src``'s content: a hard link on the same file system, else a copy."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def _version_tag(stat: os.stat_result) -> str:
    """An opaque ETag for a file that is not an input (S3's ETags are opaque too, e.g. for multipart
    uploads): it changes whenever the file is replaced or rewritten, and costs no read."""
    return f"{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}"


@lru_cache(maxsize=4)
def _parsed_json(path: str, _mtime_ns: int, _size: int, _inode: int) -> Any:
    """A JSON file's content, parsed once per version of the file (never to be modified)."""
    return json.loads(Path(path).read_text())


def _in_folder(dest: Path, write: Callable[[], T]) -> T:
    """Make ``dest``'s folder and ``write`` into it; again if another process removed the folder,
    left empty, in between (``LocalLake`` removes emptied folders)."""
    for _ in range(2):
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            return write()
        except FileNotFoundError:
            if dest.parent.is_dir():
                raise
    dest.parent.mkdir(parents=True, exist_ok=True)
    return write()


class LocalLake(Lake):
    """The bucket as a folder ``<root>/<bucket>/``. Input files' ETags are MD5 checksums, as S3's for
    single-part objects (they name file versions in the ledger), computed once per file version (cached
    per size, mtime, ctime, inode), so the sensor's listing reads no unchanged file; other objects' ETags
    are opaque version tags that cost no read."""

    root: str
    _etags: Any = PrivateAttr(default=None)

    def _path(self, key: str) -> Path:
        return Path(self.root) / self.bucket / key

    def etag_cache(self) -> EtagCache:
        """The input files' ETag cache, loaded once per resource instance."""
        if self._etags is None:
            self._etags = EtagCache(Path(self.root) / f".{self.bucket}.etags.json")
        return self._etags

    def _object(self, key: str, path: Path) -> LakeObject:
        stat = path.stat()
        if key.startswith(self.input_prefix):
            etag = self.etag_cache().etag(key, path, stat)
        else:
            etag = _version_tag(stat)
        return LakeObject(
            key=key,
            size=stat.st_size,
            etag=etag,
            last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
        )

    def list_objects(self, prefix: str) -> list[LakeObject]:
        found = [
            self._object(key, path)
            for key, path in list_folder(Path(self.root) / self.bucket, prefix)
        ]
        cache = self.etag_cache()
        cache.keep_only(prefix, {o.key for o in found})
        cache.save()
        return found

    def head(self, key: str) -> LakeObject:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{self.uri(key)} does not exist")
        obj = self._object(key, path)
        self.etag_cache().save()
        return obj

    def read_head(self, key: str, n_bytes: int = 65536) -> bytes:
        with self._path(key).open("rb") as f:
            return f.read(n_bytes)

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{self.uri(key)} does not exist")
        with path.open("rb") as stream:
            yield stream

    @contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{self.uri(key)} does not exist")
        yield path

    def download(self, key: str, dest: Path) -> Path:
        src = self._path(key)
        if not src.is_file():
            raise FileNotFoundError(f"{self.uri(key)} does not exist")
        shutil.copyfile(src, dest)
        return dest

    def upload(self, src: Path, key: str) -> LakeObject:
        """The pipeline's outputs (bad records, rule outcomes, validated rows: written once) are
        hard-linked when they can be, so a gigabyte of bad records is not copied and read again (do
        not write to ``src`` afterwards); anything else is copied (a user's file stays theirs), an
        input file with its MD5 taken on the way."""
        dest = self._path(key)
        tmp = dest.with_name(f".tmp-{os.getpid()}-{dest.name}")
        is_input = key.startswith(self.input_prefix)
        outputs = (self.bad_records_prefix, self.rule_outcomes_prefix, self.validated_prefix)
        if is_input:
            etag = _in_folder(dest, lambda: _copy_with_md5(src, tmp))
        elif key.startswith(outputs):
            _in_folder(dest, lambda: _link_or_copy(src, tmp))
        else:
            _in_folder(dest, lambda: shutil.copyfile(src, tmp))
        os.replace(tmp, dest)
        if is_input:  # remembered, so the object below is not read again for its ETag
            self.etag_cache().remember(key, dest.stat(), etag)
            self.etag_cache().save()
        return self._object(key, dest)

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        self._remove_empty_folders(path)

    def move(self, src_key: str, dest_key: str) -> None:
        src, dest = self._path(src_key), self._path(dest_key)
        if not src.is_file():
            raise FileNotFoundError(f"{self.uri(src_key)} does not exist")
        _in_folder(dest, lambda: os.replace(src, dest))
        self._remove_empty_folders(src)

    def _remove_empty_folders(self, path: Path) -> None:
        """Remove the folders above ``path`` that are left empty, up to the bucket folder (S3 has
        no folders: a prefix without objects is gone)."""
        bucket = Path(self.root) / self.bucket
        folder = path.parent
        while bucket in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty, or already gone
                return
            folder = folder.parent

    def uri(self, key: str) -> str:
        return str(self._path(key))


def crawl_file(
    path: Path,
    source_file: str,
    *,
    inspect: bool = True,
    con: duckdb.DuckDBPyConnection | None = None,
) -> dict[str, Any]:
    """What the crawler learns of one file version: ``{"columns": [[name, type], ...], "delimiter":
    ","}``, or ``{"problem": message}`` naming the file (never ``path``) when it cannot be read.

    ``inspect=False`` skips the input inspection when it already passed for this version; ``con``
    is the DuckDB connection of the crawl.
    """
    from quality_movies.lake.inspect import inspect_file

    problem = inspect_file(path, source_file) if inspect else None
    if problem is not None:
        return {"problem": problem.message}
    try:
        fmt = detect_file_format(path)
        columns = infer_csv_columns(path, con)
    except UnsupportedInputError as exc:
        return {"problem": f"{source_file}: {exc.found}; {exc.action}"}
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0].replace(str(path), source_file)
        return {"problem": f"{source_file}: the crawler could not infer its columns ({reason})"}
    return {"columns": [list(c) for c in columns], "delimiter": fmt.delimiter}


class LocalCatalog(Catalog):
    """An embedded catalog: one JSON file per table under ``<root>/<database>/<table>.json``.

    Like Glue's crawler set to crawl new folders only, it reads each file version (key and ETag) once:
    what it learnt of each is kept beside the table (``<table>.files.json``), with what raw_movies'
    inspection found (``inspection``), so that an inspected file is not inspected again. A file it cannot read is left
    out of the table and listed in ``unreadable``; it never stops the crawl of the others.
    """

    root: str

    def _path(self) -> Path:
        return Path(self.root) / self.database / f"{self.table}.json"

    def _file_versions_path(self) -> Path:
        return Path(self.root) / self.database / f"{self.table}.files.json"

    def file_versions(self) -> dict[str, dict[str, Any]]:
        """Per input key, the ETag last crawled and its columns or problem."""
        try:
            return json.loads(self._file_versions_path().read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def crawl(self, lake: Lake) -> CatalogTable:
        known = self.file_versions()
        current: dict[str, dict[str, Any]] = {}
        con = crawl_connection()
        try:
            for obj in lake.input_files():
                if not is_input_file(obj.key):
                    continue
                entry = known.get(obj.key, {})
                if entry.get("etag") != obj.etag:
                    entry = {"etag": obj.etag}
                if not ("columns" in entry or "problem" in entry):
                    inspect = "inspection" not in entry
                    learnt = self._crawl_object(lake, obj.key, inspect=inspect, con=con)
                    if learnt is None:
                        continue
                    entry = {**entry, **learnt}
                current[obj.key] = entry
        finally:
            con.close()
        write_atomically(self._file_versions_path(), json.dumps(current, indent=1, sort_keys=True))
        readable = [key for key, entry in current.items() if "columns" in entry]
        delimiters = Counter(current[k].get("delimiter", ",") for k in readable)
        table = CatalogTable(
            database=self.database,
            name=self.table,
            location=lake.uri(lake.input_prefix),
            columns=merge_columns([[tuple(c) for c in current[k]["columns"]] for k in readable]),
            files=readable,
            delimiter=delimiters.most_common(1)[0][0] if delimiters else ",",
            updated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            unreadable={k: e["problem"] for k, e in current.items() if "problem" in e},
        )
        write_atomically(self._path(), table.to_json())
        return table

    def remember_inspections(self, inspected: dict[str, tuple[str, InputProblem | None]]) -> None:
        versions = self.file_versions()
        for key, (etag, problem) in inspected.items():
            entry = versions.get(key, {})
            if entry.get("etag") != etag:
                entry = {"etag": etag}
            entry["inspection"] = problem.message if problem else None
            if problem is not None and problem.kind != "missing_column":
                entry.pop("columns", None)
                entry["problem"] = problem.message
            versions[key] = entry
        write_atomically(self._file_versions_path(), json.dumps(versions, indent=1, sort_keys=True))

    def inspection(self, key: str, etag: str) -> tuple[bool, str | None]:
        # asked once per file of a batch: the file (every file version ever crawled) is parsed once
        path = self._file_versions_path()
        try:
            stat = path.stat()
            versions = _parsed_json(str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except (FileNotFoundError, ValueError):
            versions = {}
        entry = versions.get(key, {})
        if entry.get("etag") == etag and "inspection" in entry:
            return True, entry["inspection"]
        return False, None

    @staticmethod
    def _crawl_object(
        lake: Lake, key: str, *, inspect: bool, con: duckdb.DuckDBPyConnection
    ) -> dict[str, Any] | None:
        """``crawl_file`` of an object; None when it was removed since the listing."""
        source_file = lake.source_file(key)
        try:
            with lake.local_file(key) as path:
                return crawl_file(path, source_file, inspect=inspect, con=con)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return {
                "problem": f"{source_file}: the crawler could not read it ({exc.strerror or exc})"
            }

    def get_table(self) -> CatalogTable | None:
        path = self._path()
        return CatalogTable.from_json(path.read_text()) if path.exists() else None
