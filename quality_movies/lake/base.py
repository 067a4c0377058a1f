"""The lake (where files land and outputs go) and the catalog (what the crawler infers over them):
the interfaces the assets call, and the crawler's column inference."""

import json
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import dagster as dg
import duckdb

from quality_movies.dq.input_format import InputFormat, detect_file_format, open_text
from quality_movies.lake.inspect import InputProblem


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


@dataclass
class CatalogTable:
    """A Data Catalog table as the crawler leaves it: location, classification, lower-cased columns and
    the files it was inferred from."""

    database: str
    name: str
    location: str
    columns: list[tuple[str, str]]
    classification: str = "csv"
    delimiter: str = ","
    """The delimiter of the files, detected as Glue's CSV classifier does."""
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


SAMPLE_RECORDS = 1000
SAMPLE_STEP_BYTES = 1 << 20
SAMPLE_MAX_BYTES = 10 << 20
CRAWL_MEMORY_LIMIT = "256MB"
"""DuckDB's memory limit on a crawl's connection (its default is 80% of the machine's memory)."""


def crawl_connection() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for one crawl, its memory bounded whatever the size of the files."""
    return duckdb.connect(
        config={"memory_limit": CRAWL_MEMORY_LIMIT, "preserve_insertion_order": False}
    )


def _record_ends(head: bytes, limit: int) -> list[int]:
    """Offsets just after each of the first ``limit`` complete, non-blank records of ``head``
    (a newline inside a quoted field does not end a record; ``""`` inside one toggles twice)."""
    ends: list[int] = []
    inside = False
    offset = 0
    for line in head.split(b"\n")[:-1]:
        offset += len(line) + 1
        if line.count(b'"') % 2:
            inside = not inside
        if not inside and line.strip():
            ends.append(offset)
            if len(ends) == limit:
                break
    return ends


def csv_sample(
    stream: BinaryIO,
    *,
    records: int = SAMPLE_RECORDS,
    step_bytes: int = SAMPLE_STEP_BYTES,
    max_bytes: int = SAMPLE_MAX_BYTES,
) -> bytes | None:
    """The head of a CSV file that Glue's crawler infers the schema from: the header and the first
    ``records`` records or the whole records within the first MiB, whichever is less (one more MiB
    at a time, up to ``max_bytes``, while no record follows the header). None when that is the
    whole file."""
    head = b""
    while True:
        chunk = stream.read(step_bytes)
        head += chunk
        ends = _record_ends(head, records + 1)
        if len(chunk) < step_bytes:
            cut = len(ends) > records and head[ends[-1] :].strip()
            return head[: ends[-1]] if cut else None
        if len(ends) >= 2 or len(head) >= max_bytes:
            return head[: ends[-1]] if ends else head


def infer_csv_columns(
    path: Path, con: duckdb.DuckDBPyConnection | None = None
) -> list[tuple[str, str]]:
    """Column names (trimmed, lower-cased) and Glue types of a CSV file, inferred as Glue's crawler
    does from the head of the file (``csv_sample``), so time and memory do not grow with the file.

    ``con`` is a DuckDB connection to reuse across files (opening one costs tens of milliseconds).
    """
    fmt = detect_file_format(path)
    with open_text(path, fmt) as stream:
        sample = csv_sample(stream)
    own = con is None
    con = crawl_connection() if own else con
    try:
        if sample is None:
            rows = _describe_csv(con, path, fmt)
        else:
            with tempfile.TemporaryDirectory(prefix="quality_movies_crawl_") as tmp:
                head = Path(tmp) / "head.csv"
                head.write_bytes(sample)
                try:
                    rows = _describe_csv(con, head, replace(fmt, gzip=False))
                except duckdb.Error as exc:
                    raise type(exc)(str(exc).replace(str(head), str(path))) from None
    finally:
        if own:
            con.close()
    return [(name.strip().lower(), glue_type(type_)) for name, type_ in rows]


def _describe_csv(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: InputFormat
) -> list[tuple[str, str]]:
    """DuckDB's column names and types of a whole CSV file."""
    return con.execute(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_csv(?, header=true, "
        "sample_size=-1, quote='\"', escape='\"', delim=?, compression=?))",
        [str(path), fmt.delimiter, "gzip" if fmt.gzip else "none"],
    ).fetchall()


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

    def remember_inspections(self, inspected: dict[str, tuple[str, InputProblem | None]]) -> None:
        """Keep what the input inspection found per file version (key -> ETag and problem or None),
        so that a crawl here does not read those files again; nothing to keep for a remote crawler.

        A file missing a required column is still a readable CSV: the crawl takes its columns.
        """

    def inspection(self, key: str, etag: str) -> tuple[bool, str | None]:
        """Whether the input inspection of this file version is known here, and its message if the
        file is unusable (None when usable); ``(False, None)`` when it must be inspected again."""
        return False, None
