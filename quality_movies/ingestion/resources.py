"""The lake (where files land and outputs go) and the catalog (what the crawler infers over them)."""

import hashlib
import json
import os
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import dagster as dg
import duckdb
from pydantic import PrivateAttr


@dataclass(frozen=True)
class LakeObject:
    """One object of the bucket, as S3 lists it."""

    key: str
    size: int
    etag: str
    last_modified: datetime


class Lake(dg.ConfigurableResource, ABC):
    """A bucket laid out as the pipeline expects: input files, bad records, rule outcomes, validated rows."""

    bucket: str = "quality-movie-bucket"
    input_prefix: str = "input_data/"
    bad_records_prefix: str = "bad-records/"
    rule_outcomes_prefix: str = "rule_outcome_from_etl/"
    validated_prefix: str = "validated_movies/"

    @abstractmethod
    def list_objects(self, prefix: str) -> list[LakeObject]:
        """Every object under ``prefix``, sorted by key."""

    @abstractmethod
    def head(self, key: str) -> LakeObject:
        """The object's listing entry; ``FileNotFoundError`` naming the URI when it is missing."""

    @abstractmethod
    def read_head(self, key: str, n_bytes: int = 65536) -> bytes:
        """The first ``n_bytes`` of an object (for previews and headers)."""

    @abstractmethod
    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """The object's bytes as a stream (a context manager); ``FileNotFoundError`` when missing."""

    @abstractmethod
    def download(self, key: str, dest: Path) -> Path:
        """Stream an object to a local file."""

    @abstractmethod
    def upload(self, src: Path, key: str) -> LakeObject:
        """Store a local file as an object; readers see the whole object or nothing."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object if it exists."""

    @abstractmethod
    def move(self, src_key: str, dest_key: str) -> None:
        """Make ``src_key``'s content visible at ``dest_key`` (readers see the old or the new object,
        never part of one), then remove ``src_key``."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """Where an object lives, for humans and engines (``s3://...`` or a local path)."""

    def source_file(self, key: str) -> str:
        """The input file name of an ``input_data/`` key, used as the partition key."""
        if not key.startswith(self.input_prefix):
            raise ValueError(f"{key!r} is not under {self.input_prefix!r}")
        return key[len(self.input_prefix) :]

    def input_key(self, source_file: str) -> str:
        return f"{self.input_prefix}{source_file}"

    def bad_records_key(self, source_file: str) -> str:
        return f"{self.bad_records_prefix}source_file={source_file}/bad_records.jsonl"

    def rule_outcomes_key(self, source_file: str) -> str:
        return f"{self.rule_outcomes_prefix}source_file={source_file}/rule_outcomes.jsonl"

    def validated_key(self, source_file: str) -> str:
        return f"{self.validated_prefix}source_file={source_file}/validated_movies.parquet"

    def input_files(self) -> list[LakeObject]:
        """Objects under the input prefix, folders excluded."""
        return [o for o in self.list_objects(self.input_prefix) if not o.key.endswith("/")]

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """A local file with the object's content for the duration of the block."""
        with tempfile.TemporaryDirectory(prefix="quality_movies_") as tmp:
            yield self.download(key, Path(tmp) / Path(key).name)

    @contextmanager
    def local_file(self, key: str) -> Iterator[Path]:
        """A local file to read the object from (the object itself when it is local); not to modify."""
        with self.local_copy(key) as path:
            yield path


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_with_md5(src: Path, dest: Path) -> str:
    """Copy a file and return the MD5 of what was copied (one read of the source)."""
    digest = hashlib.md5()
    with src.open("rb") as fin, dest.open("wb") as fout:
        for chunk in iter(lambda: fin.read(1 << 20), b""):
            digest.update(chunk)
            fout.write(chunk)
    return digest.hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)


class EtagCache:
    """ETags of local files remembered per (size, mtime, inode), so a listing reads no unchanged file.

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
        return [stat.st_size, stat.st_mtime_ns, stat.st_ino]

    def etag(self, key: str, path: Path, stat: os.stat_result) -> str:
        stamp = self._stamp(stat)
        entry = self.entries.get(key)
        if entry is not None and entry[:3] == stamp:
            return entry[3]
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
            _write_atomically(self.path, json.dumps(self.entries, sort_keys=True))
            self.changed = False


class LocalLake(Lake):
    """The bucket as a folder ``<root>/<bucket>/``; ETags are MD5 checksums, as S3's for single-part
    objects, computed once per file version (cached per size, mtime and inode)."""

    root: str

    def _path(self, key: str) -> Path:
        return Path(self.root) / self.bucket / key

    def etag_cache(self) -> EtagCache:
        return EtagCache(Path(self.root) / f".{self.bucket}.etags.json")

    def _object(self, key: str, path: Path, cache: EtagCache) -> LakeObject:
        stat = path.stat()
        return LakeObject(
            key=key,
            size=stat.st_size,
            etag=cache.etag(key, path, stat),
            last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
        )

    def list_objects(self, prefix: str) -> list[LakeObject]:
        base = Path(self.root) / self.bucket
        folder = base / prefix
        if not folder.exists():
            return []
        cache = self.etag_cache()
        found = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if path.name.startswith(".") or ".tmp-" in path.name:
                continue
            found.append(self._object(path.relative_to(base).as_posix(), path, cache))
        cache.keep_only(prefix, {o.key for o in found})
        cache.save()
        return found

    def head(self, key: str) -> LakeObject:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{self.uri(key)} does not exist")
        cache = self.etag_cache()
        obj = self._object(key, path, cache)
        cache.save()
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
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".tmp-{os.getpid()}-{dest.name}")
        etag = _copy_with_md5(src, tmp)
        os.replace(tmp, dest)
        cache = self.etag_cache()
        cache.remember(key, dest.stat(), etag)
        cache.save()
        return self._object(key, dest, cache)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def move(self, src_key: str, dest_key: str) -> None:
        src, dest = self._path(src_key), self._path(dest_key)
        if not src.is_file():
            raise FileNotFoundError(f"{self.uri(src_key)} does not exist")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)

    def uri(self, key: str) -> str:
        return str(self._path(key))


@dataclass
class CatalogTable:
    """A Data Catalog table as the crawler leaves it: location, classification, lower-cased columns and
    the files it was inferred from."""

    database: str
    name: str
    location: str
    columns: list[tuple[str, str]]
    classification: str = "csv"
    files: list[str] = field(default_factory=list)
    updated_at: str = ""
    unreadable: dict[str, str] = field(default_factory=dict)
    """Input files the crawler could not read, with the reason (the local crawler only)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "CatalogTable":
        data = json.loads(text)
        data["columns"] = [tuple(c) for c in data["columns"]]
        return cls(**data)


def glue_type(duckdb_type: str) -> str:
    """The Glue Data Catalog type a crawler would record for a sniffed CSV column type."""
    t = duckdb_type.upper()
    if t in {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER"}:
        return "bigint"
    if t in {"DOUBLE", "FLOAT", "REAL"} or t.startswith("DECIMAL"):
        return "double"
    if t == "BOOLEAN":
        return "boolean"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP"):
        return "timestamp"
    return "string"


def merge_columns(schemas: list[list[tuple[str, str]]]) -> list[tuple[str, str]]:
    """Union of per-file schemas in first-seen order; a column typed differently across files is string."""
    merged: dict[str, str] = {}
    for schema in schemas:
        for name, type_ in schema:
            if name not in merged:
                merged[name] = type_
            elif merged[name] != type_:
                widened = {merged[name], type_} == {"bigint", "double"}
                merged[name] = "double" if widened else "string"
    return list(merged.items())


def infer_csv_columns(path: Path) -> list[tuple[str, str]]:
    """Column names (trimmed, lower-cased) and Glue types of a CSV file, sniffed over the whole file."""
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_csv(?, header=true, "
            "sample_size=-1, quote='\"', escape='\"'))",
            [str(path)],
        ).fetchall()
    finally:
        con.close()
    return [(name.strip().lower(), glue_type(type_)) for name, type_ in rows]


class Catalog(dg.ConfigurableResource, ABC):
    """The Data Catalog table over the lake's input files, kept current by a crawler."""

    database: str = "imdb-movies"
    table: str = "input_data"

    @abstractmethod
    def crawl(self, lake: Lake) -> CatalogTable:
        """Run the crawler over the input prefix and return the table it leaves in the catalog."""

    @abstractmethod
    def get_table(self) -> CatalogTable | None:
        """The table as the catalog has it now, or None before the first crawl."""

    def remember_inspections(self, inspected: dict[str, tuple[str, str | None]]) -> None:
        """Keep what the input inspection found per file version (key -> ETag and problem or None),
        so that a crawl here does not read those files again; nothing to keep for a remote crawler."""


def crawl_file(path: Path, source_file: str, *, inspect: bool = True) -> dict[str, Any]:
    """What the crawler learns of one file version: ``{"columns": [[name, type], ...]}``, or
    ``{"problem": message}`` naming the file (never ``path``) when it cannot be read.

    ``inspect=False`` skips the input inspection when it already passed for this version.
    """
    from quality_movies.ingestion.inspect import inspect_file

    problem = inspect_file(path, source_file) if inspect else None
    if problem is not None:
        return {"problem": problem.message}
    try:
        columns = infer_csv_columns(path)
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0].replace(str(path), source_file)
        return {"problem": f"{source_file}: the crawler could not infer its columns ({reason})"}
    return {"columns": [list(c) for c in columns]}


class LocalCatalog(Catalog):
    """An embedded catalog: one JSON file per table under ``<root>/<database>/<table>.json``.

    Like Glue's crawler set to crawl new folders only, it reads each file version (key and ETag) once:
    what it learnt of each is kept beside the table (``<table>.files.json``), with what raw_movies'
    inspection found, so that an inspected file is not inspected again. A file it cannot read is left
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
        for obj in lake.input_files():
            if not obj.key.lower().endswith(".csv"):
                continue
            entry = known.get(obj.key) or {}
            if entry.get("etag") != obj.etag or not ("columns" in entry or "problem" in entry):
                inspected = entry.get("etag") == obj.etag and entry.get("inspected", False)
                learnt = self._crawl_object(lake, obj.key, inspect=not inspected)
                if learnt is None:
                    continue
                entry = {"etag": obj.etag, **learnt}
            current[obj.key] = entry
        _write_atomically(self._file_versions_path(), json.dumps(current, indent=1, sort_keys=True))
        readable = [key for key, entry in current.items() if "columns" in entry]
        table = CatalogTable(
            database=self.database,
            name=self.table,
            location=lake.uri(lake.input_prefix),
            columns=merge_columns([[tuple(c) for c in current[k]["columns"]] for k in readable]),
            files=readable,
            updated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            unreadable={k: e["problem"] for k, e in current.items() if "problem" in e},
        )
        _write_atomically(self._path(), table.to_json())
        return table

    def remember_inspections(self, inspected: dict[str, tuple[str, str | None]]) -> None:
        versions = self.file_versions()
        for key, (etag, problem) in inspected.items():
            entry = versions.get(key, {})
            if entry.get("etag") == etag and ("columns" in entry or "problem" in entry):
                continue
            versions[key] = {"etag": etag, "problem": problem} if problem else {"etag": etag}
            versions[key]["inspected"] = True
        _write_atomically(
            self._file_versions_path(), json.dumps(versions, indent=1, sort_keys=True)
        )

    @staticmethod
    def _crawl_object(lake: Lake, key: str, *, inspect: bool = True) -> dict[str, Any] | None:
        """``crawl_file`` of an object; None when it was removed since the listing."""
        source_file = lake.source_file(key)
        try:
            with lake.local_file(key) as path:
                return crawl_file(path, source_file, inspect=inspect)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return {
                "problem": f"{source_file}: the crawler could not read it ({exc.strerror or exc})"
            }

    def get_table(self) -> CatalogTable | None:
        path = self._path()
        return CatalogTable.from_json(path.read_text()) if path.exists() else None


def aws_client(
    service: str,
    region_name: str,
    endpoint_url: str = "",
    *,
    retry_mode: str = "standard",
    max_attempts: int = 10,
    path_style: bool = False,
) -> Any:
    """A boto3 client with backoff on throttling and 5xx; credentials come from the default chain.

    ``endpoint_url`` points at a local stand-in (SeaweedFS, moto) when set; empty means AWS itself.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": retry_mode, "max_attempts": max_attempts},
        s3={"addressing_style": "path"} if path_style else None,
    )
    return boto3.session.Session().client(
        service, region_name=region_name, endpoint_url=endpoint_url or None, config=config
    )


def _is_missing(exc: Exception) -> bool:
    """Whether a botocore ClientError says the object (or range of it) does not exist."""
    error = getattr(exc, "response", {}).get("Error", {})
    return str(error.get("Code")) in {"404", "NoSuchKey", "NotFound"}


class S3Lake(Lake):
    """The bucket on Amazon S3 (or an S3-compatible endpoint): paginated listing, streamed transfers.

    Uploads larger than ``multipart_threshold_mb`` go up in ``multipart_chunk_mb`` parts, so the
    object's ETag is then ``<md5 of part md5s>-<parts>`` rather than the file's MD5.
    """

    region_name: str = "us-east-1"
    endpoint_url: str = ""
    multipart_threshold_mb: float = 64
    multipart_chunk_mb: float = 16
    retry_mode: str = "adaptive"
    max_attempts: int = 10
    _client: Any = PrivateAttr(default=None)

    def client(self) -> Any:
        """The S3 client of this resource, built on first use."""
        if self._client is None:
            self._client = aws_client(
                "s3",
                self.region_name,
                self.endpoint_url,
                retry_mode=self.retry_mode,
                max_attempts=self.max_attempts,
                path_style=bool(self.endpoint_url),
            )
        return self._client

    def transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        mib = 1024 * 1024
        return TransferConfig(
            multipart_threshold=int(self.multipart_threshold_mb * mib),
            multipart_chunksize=int(self.multipart_chunk_mb * mib),
        )

    def _lake_object(self, key: str, entry: dict[str, Any]) -> LakeObject:
        return LakeObject(
            key=key,
            size=int(entry.get("Size", entry.get("ContentLength", 0))),
            etag=str(entry["ETag"]).strip('"'),
            last_modified=entry["LastModified"],
        )

    def list_objects(self, prefix: str) -> list[LakeObject]:
        paginator = self.client().get_paginator("list_objects_v2")
        found = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(self._lake_object(e["Key"], e) for e in page.get("Contents", []))
        return sorted(found, key=lambda o: o.key)

    def head(self, key: str) -> LakeObject:
        from botocore.exceptions import ClientError

        try:
            response = self.client().head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(f"{self.uri(key)} does not exist") from exc
            raise
        return self._lake_object(key, response)

    def read_head(self, key: str, n_bytes: int = 65536) -> bytes:
        from botocore.exceptions import ClientError

        if n_bytes <= 0:
            return b""
        try:
            response = self.client().get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes=0-{n_bytes - 1}"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""
            if _is_missing(exc):
                raise FileNotFoundError(f"{self.uri(key)} does not exist") from exc
            raise
        with response["Body"] as body:
            return body.read(n_bytes)

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        from botocore.exceptions import ClientError

        try:
            response = self.client().get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(f"{self.uri(key)} does not exist") from exc
            raise
        with closing(response["Body"]) as body:
            yield body

    def download(self, key: str, dest: Path) -> Path:
        from botocore.exceptions import ClientError

        try:
            self.client().download_file(self.bucket, key, str(dest), Config=self.transfer_config())
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(f"{self.uri(key)} does not exist") from exc
            raise
        return dest

    def upload(self, src: Path, key: str) -> LakeObject:
        self.client().upload_file(str(src), self.bucket, key, Config=self.transfer_config())
        return self.head(key)

    def delete(self, key: str) -> None:
        self.client().delete_object(Bucket=self.bucket, Key=key)

    def move(self, src_key: str, dest_key: str) -> None:
        """Server-side copy (multipart beyond the threshold), then delete of the source."""
        from botocore.exceptions import ClientError

        try:
            self.client().copy(
                {"Bucket": self.bucket, "Key": src_key},
                self.bucket,
                dest_key,
                Config=self.transfer_config(),
            )
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(f"{self.uri(src_key)} does not exist") from exc
            raise
        self.delete(src_key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


class CrawlerFailed(RuntimeError):
    """The Glue crawler's last crawl ended FAILED or CANCELLED; carries the crawler's own message."""


def catalog_table_from_glue(table: dict[str, Any]) -> CatalogTable:
    """A ``glue.get_table()["Table"]`` as a CatalogTable: lower-cased columns, location, classification."""
    storage = table.get("StorageDescriptor", {})
    columns = [
        (c["Name"].strip().lower(), c.get("Type", "string"))
        for c in [*storage.get("Columns", []), *table.get("PartitionKeys", [])]
    ]
    parameters = {**storage.get("Parameters", {}), **table.get("Parameters", {})}
    updated = table.get("UpdateTime") or table.get("CreateTime")
    return CatalogTable(
        database=table["DatabaseName"],
        name=table["Name"],
        location=storage.get("Location", ""),
        columns=columns,
        classification=parameters.get("classification", ""),
        updated_at=updated.isoformat(timespec="seconds") if updated else "",
    )


ANY_CRAWL = object()
"""For ``wait_until_ready``: a crawl already running was joined, so any READY ends the wait."""


def _crawl_marker(crawler: dict[str, Any]) -> tuple[str, str] | None:
    """What tells one crawl of a crawler from the next: its start time and log message prefix."""
    last_crawl = crawler.get("LastCrawl")
    if not last_crawl:
        return None
    return str(last_crawl.get("StartTime")), str(last_crawl.get("MessagePrefix"))


class GlueCrawlerCatalog(Catalog):
    """The AWS Glue Data Catalog table kept current by a Glue crawler over the input prefix."""

    crawler_name: str = "quality-movies-crawler"
    region_name: str = "us-east-1"
    endpoint_url: str = ""
    poll_interval_seconds: float = 15.0
    max_poll_interval_seconds: float = 60.0
    timeout_seconds: float = 3600.0
    _client: Any = PrivateAttr(default=None)

    def client(self) -> Any:
        """The Glue client of this resource, built on first use."""
        if self._client is None:
            self._client = aws_client("glue", self.region_name, self.endpoint_url)
        return self._client

    def crawl(self, lake: Lake) -> CatalogTable:
        glue = self.client()
        before = glue.get_crawler(Name=self.crawler_name)["Crawler"]
        new_crawl = before["State"] == "READY"
        try:
            glue.start_crawler(Name=self.crawler_name)
        except glue.exceptions.CrawlerRunningException:
            dg.get_dagster_logger().info(
                "Glue crawler %s is already running: waiting for that crawl", self.crawler_name
            )
            new_crawl = False
        crawler = self.wait_until_ready(after=_crawl_marker(before) if new_crawl else ANY_CRAWL)
        last_crawl = crawler.get("LastCrawl", {})
        if last_crawl.get("Status") in {"FAILED", "CANCELLED"}:
            reason = last_crawl.get("ErrorMessage") or "no error message"
            logs = f"{last_crawl.get('LogGroup', '/aws-glue/crawlers')}/{last_crawl.get('LogStream', '')}"
            raise CrawlerFailed(
                f"Glue crawler {self.crawler_name} {last_crawl['Status']}: {reason} "
                f"(CloudWatch logs {logs}); fix the crawler or its S3 target "
                f"{lake.uri(lake.input_prefix)} and run again"
            )
        table = self.get_table()
        if table is None:
            raise LookupError(
                f"Glue crawler {self.crawler_name} finished but table {self.database}.{self.table} is "
                f"not in the Data Catalog: check that the crawler writes to database {self.database} "
                f"and that {lake.uri(lake.input_prefix)} holds CSV files"
            )
        table.files = [o.key for o in lake.input_files() if o.key.lower().endswith(".csv")]
        return table

    def wait_until_ready(
        self, after: tuple[str, str] | None | object = ANY_CRAWL
    ) -> dict[str, Any]:
        """Poll get_crawler, backing off, until the crawler is READY with a crawl newer than ``after``.

        ``after`` marks the last crawl before the one started (None: never crawled), so a crawler that
        has not left READY yet is not taken for finished; ``ANY_CRAWL`` accepts any READY.
        """
        glue = self.client()
        delay = self.poll_interval_seconds
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            crawler = glue.get_crawler(Name=self.crawler_name)["Crawler"]
            if crawler["State"] == "READY" and (
                after is ANY_CRAWL or _crawl_marker(crawler) != after
            ):
                return crawler
            if time.monotonic() + delay > deadline:
                state = crawler["State"]
                if state == "READY":
                    state = "READY without recording a new crawl"
                raise TimeoutError(
                    f"Glue crawler {self.crawler_name} still {state} after "
                    f"{self.timeout_seconds:g} s; see its runs in the Glue console or raise "
                    "timeout_seconds"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, self.max_poll_interval_seconds)

    def get_table(self) -> CatalogTable | None:
        glue = self.client()
        try:
            response = glue.get_table(DatabaseName=self.database, Name=self.table)
        except glue.exceptions.EntityNotFoundException:
            return None
        return catalog_table_from_glue(response["Table"])
