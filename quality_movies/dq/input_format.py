"""What an input file is, decided once and the same way for every reader (``dq check``, the crawler
and catalog, the input inspection, the DuckDB and Spark engines, the Glue job).

As AWS Glue reads it: a CSV's delimiter is detected among those Glue's built-in CSV classifier checks
(comma, pipe, tab, semicolon, Ctrl-A, in that order; "Built-in classifiers" in the AWS Glue developer
guide); a gzip-compressed CSV is named ``.csv.gz`` and read as is (Spark and Glue's job pick the codec
by that extension); Parquet is recognised by its ``PAR1`` signature. Anything else is an
``UnsupportedInputError`` saying what was found and what is supported.
"""

import csv
import gzip
import io
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from quality_movies.dq.errors import UnreadableInputError

DELIMITERS = {",": "comma", "|": "pipe", "\t": "tab", ";": "semicolon", "\x01": "Ctrl-A"}
"""The delimiters Glue's built-in CSV classifier checks, in the order it lists them."""
INPUT_SUFFIXES = (".csv", ".csv.gz")
"""The files the pipeline ingests from ``input_data/``."""
SUPPORTED = (
    "supported: CSV (.csv, or gzip-compressed .csv.gz; comma, tab, semicolon, pipe or Ctrl-A "
    "delimited) and, for dq check, Parquet"
)
HEAD_BYTES = 1 << 16
SAMPLE_RECORDS = 50

_GZIP = b"\x1f\x8b"
_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook is one)",
    b"%PDF-": "a PDF document",
    b"BZh": "a bzip2-compressed file",
    b"\x28\xb5\x2f\xfd": "a zstd-compressed file",
    b"\x04\x22\x4d\x18": "an LZ4-compressed file",
    b"Obj\x01": "an Avro file",
    b"ORC": "an ORC file",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
}


class UnsupportedInputError(UnreadableInputError):
    """A file of a kind the engine does not read: what was ``found`` and what to do (``action``)."""

    def __init__(self, name: str, found: str, action: str) -> None:
        super().__init__(f"{name}: {found}; {action}")
        self.found = found
        self.action = action


@dataclass(frozen=True)
class InputFormat:
    """How to read a file: CSV (its delimiter, gzip or not) or Parquet."""

    kind: Literal["csv", "parquet"] = "csv"
    delimiter: str = ","
    gzip: bool = False

    @property
    def description(self) -> str:
        """``semicolon-delimited CSV``, ``comma-delimited CSV, gzip-compressed``, ``Parquet``."""
        if self.kind == "parquet":
            return "Parquet"
        return f"{DELIMITERS[self.delimiter]}-delimited CSV" + (
            ", gzip-compressed" if self.gzip else ""
        )


def is_input_file(key: str) -> bool:
    """Whether the pipeline ingests this ``input_data/`` object (``.csv`` or ``.csv.gz``)."""
    return key.lower().endswith(INPUT_SUFFIXES)


def detect_input_format(name: str, head: bytes) -> InputFormat:
    """The format of the file called ``name`` (a path, URI or key) whose first bytes, as stored,
    are ``head``; ``UnsupportedInputError`` naming ``name`` when it is none the engine reads.

    Empty or malformed CSV text is still CSV here: the readers say what is wrong with it and where.
    """
    if head.startswith(b"PAR1"):
        return InputFormat("parquet")
    compressed = head.startswith(_GZIP)
    if compressed != name.lower().endswith(".gz"):
        found = "gzip-compressed" if compressed else "not gzip-compressed"
        rename = "rename it to .csv.gz" if compressed else "remove the .gz from its name"
        raise UnsupportedInputError(
            name, f"the file is {found} but named {Path(name).name}", f"{rename} ({SUPPORTED})"
        )
    head = text_head(head, InputFormat(gzip=compressed))
    for signature, what in _SIGNATURES.items():
        if head.startswith(signature):
            raise UnsupportedInputError(name, f"the file is {what}", SUPPORTED)
    return InputFormat("csv", sniff_delimiter(head), compressed)


def text_head(head: bytes, fmt: InputFormat) -> bytes:
    """The first bytes of a file as text: decompressed as far as they go when it is gzip."""
    return zlib.decompressobj(wbits=31).decompress(head) if fmt.gzip else head


def sniff_delimiter(head: bytes) -> str:
    """The CSV delimiter of a file starting with ``head`` (text, not compressed).

    The first of Glue's delimiters that splits the header into two columns or more and every
    sampled record into as many; failing that, the one giving the header the most columns (so
    that a ragged line is reported by the reader, with its line); comma when none gives two.
    """
    text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="replace").lstrip("\r\n")
    complete = text[: text.rfind("\n") + 1] if len(head) >= HEAD_BYTES else text
    widest, columns = ",", 1
    for delimiter in DELIMITERS:
        try:
            reader = csv.reader(io.StringIO(complete or text), delimiter=delimiter)
            records = [
                row for _, row in zip(range(SAMPLE_RECORDS + 1), reader, strict=False) if row
            ]
        except csv.Error:
            continue
        if not records or len(records[0]) < 2:
            continue
        if all(len(row) == len(records[0]) for row in records):
            return delimiter
        if len(records[0]) > columns:
            widest, columns = delimiter, len(records[0])
    return widest


def read_head(location: str | Path, n_bytes: int = HEAD_BYTES) -> bytes:
    """The first ``n_bytes`` of a local file or an ``s3://`` object (credentials and region from
    the usual AWS configuration)."""
    text = str(location)
    if text.startswith(("s3://", "s3a://")):
        bucket, key = split_s3_uri(text)
        response = s3_client().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{n_bytes - 1}")
        return response["Body"].read()
    with open(location, "rb") as stream:
        return stream.read(n_bytes)


def detect_file_format(location: str | Path) -> InputFormat:
    """``detect_input_format`` of a local file or ``s3://`` object, from its first bytes."""
    return detect_input_format(str(location), read_head(location))


def open_text(path: str | Path, fmt: InputFormat) -> BinaryIO:
    """A local CSV file's bytes as text bytes (decompressed when it is gzip)."""
    return gzip.open(path, "rb") if fmt.gzip else open(path, "rb")  # noqa: SIM115


def text_stream(head: bytes, rest: BinaryIO, fmt: InputFormat) -> BinaryIO:
    """The bytes of a stream whose first bytes ``head`` were already read (``rest`` is the
    remainder), as text bytes: decompressed when it is gzip."""
    stream = io.BufferedReader(_Replayed(head, rest))
    return gzip.GzipFile(fileobj=stream) if fmt.gzip else stream


class _Replayed(io.RawIOBase):
    """``head``, then the rest of the stream it was read from."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head = head
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.head:
            data, self.head = self.head[: len(buffer)], self.head[len(buffer) :]
        else:
            data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    if not bucket or not key:
        raise UnreadableInputError(f"{uri}: not an S3 object URI (s3://bucket/key)")
    return bucket, key


def download_s3(uri: str, folder: Path) -> Path:
    """Copy the ``s3://`` object into ``folder`` under its own name, its modification time kept (file
    rules read it); an ``UnreadableInputError`` when it cannot be read."""
    bucket, key = split_s3_uri(uri)
    path = folder / Path(key).name
    client = s3_client()
    try:
        modified = client.head_object(Bucket=bucket, Key=key)["LastModified"].timestamp()
        client.download_file(bucket, key, str(path))
    except Exception as error:  # botocore's: no credentials, no such bucket or key, access denied
        if not type(error).__module__.startswith(("botocore", "boto3")):
            raise
        raise UnreadableInputError(
            f"{uri}: cannot be read from S3 ({error}); check the URI and the AWS credentials "
            "and region (environment, ~/.aws/config or AWS_PROFILE)"
        ) from None
    os.utime(path, (modified, modified))
    return path


def s3_client():
    """An S3 client from the usual AWS configuration (environment, profile, instance role)."""
    import boto3

    return boto3.client("s3")
