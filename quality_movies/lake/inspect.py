"""Why an input file is not a usable CSV, said with the user's file name, the line and what to do.

``inspect_csv`` streams a file once in fixed-size chunks (memory bounded by the largest record it
accepts), with the delimiter and compression ``dq.input_format`` detects as Glue does (a
``.csv.gz`` file is read decompressed). Blocks of whole records are checked with string operations
that run in C (quoted sections cut out, delimiters counted per line); a block that does not pass,
and everything after it, is read again record by record with the ``csv`` module, which finds the
first problem and its line.
"""

import csv
import dataclasses
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO

from quality_movies.dq.input_format import (
    DELIMITERS,
    HEAD_BYTES,
    UnsupportedInputError,
    detect_input_format,
    text_stream,
)

CHUNK_BYTES = 256 * 1024
MAX_RECORD_BYTES = 2_000_000
"""The longest record accepted: DuckDB's CSV reader stops at lines longer than 2,000,000 bytes."""

_GZIP = b"\x1f\x8b"
CLOSE_QUOTE = 'close the quote, and write a quote inside a quoted field as two quotes ("")'
_UTF8_BOM = b"\xef\xbb\xbf"
_TEXT_START_BYTES = 16
"""A byte that is not UTF-8 this early is a binary file's signature rather than a Latin-1 letter."""
_last_char = itemgetter(slice(-1, None))
_first_char = itemgetter(slice(0, 1))


@dataclass(frozen=True)
class InputProblem:
    """The first reason a file cannot be read as the pipeline's CSV, and where it is."""

    kind: str
    source_file: str
    detail: str
    action: str
    line: int | None = None
    column: int | None = None

    @property
    def message(self) -> str:
        """One line a person can act on: file, line, column, what is wrong, what to do."""
        where = self.source_file
        if self.line is not None:
            where += f", line {self.line}"
        if self.column is not None:
            where += f", column {self.column}"
        return f"{where}: {self.detail}; {self.action}"


class UnreadableFile(ValueError):
    """An input file that cannot be read as CSV; ``problem`` says why and where."""

    def __init__(self, problem: InputProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def inspect_file(
    path: str | Path,
    source_file: str,
    *,
    required_columns: Collection[str] = (),
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> InputProblem | None:
    """``inspect_csv`` over a local file; ``source_file`` is the name the user knows it by."""
    with open(path, "rb") as stream:
        return inspect_csv(
            stream,
            source_file,
            required_columns=required_columns,
            max_record_bytes=max_record_bytes,
        )


def inspect_csv(
    stream: BinaryIO,
    source_file: str,
    *,
    required_columns: Collection[str] = (),
    max_record_bytes: int = MAX_RECORD_BYTES,
    chunk_bytes: int = CHUNK_BYTES,
) -> InputProblem | None:
    """The first problem of a delimited, double-quoted UTF-8 file with a header, or None.

    Column names are compared as the Glue crawler records them (trimmed, lower-cased);
    ``required_columns`` must all be in the header. Blank lines are allowed (readers skip them).
    """
    head = stream.read(HEAD_BYTES)
    if not head.startswith(_GZIP):
        problem = _not_text(head, source_file)
        if problem:
            return problem
    try:
        fmt = detect_input_format(source_file, head)
    except UnsupportedInputError as error:
        return _problem("unsupported", source_file, error.found, error.action)
    if fmt.kind != "csv":
        return _problem(
            "binary",
            source_file,
            f"the file is {fmt.description}, not CSV text",
            "upload the data as CSV (.csv or .csv.gz)",
        )
    scan = _Scan(source_file, tuple(required_columns), max_record_bytes, fmt.delimiter)
    text = text_stream(head, stream, fmt)
    try:
        first = text.read(chunk_bytes)
        problem = _not_text(first, source_file) if fmt.gzip else None
        return problem or scan.run(_decoded(text, first, source_file, chunk_bytes))
    except (EOFError, OSError, zlib.error) as error:
        if not fmt.gzip:
            raise
        return _problem(
            "gzip",
            source_file,
            f"the gzip data cannot be decompressed after line {scan.line} ({error})",
            "compress the CSV file again (gzip) and upload it",
        )


def _problem(kind: str, source_file: str, detail: str, action: str, **where) -> InputProblem:
    return InputProblem(kind=kind, source_file=source_file, detail=detail, action=action, **where)


def _not_text(head: bytes, source_file: str) -> InputProblem | None:
    """Files that are recognisably not CSV text, from their first bytes."""
    if not head:
        return _problem(
            "empty",
            source_file,
            "the file is empty",
            "upload a CSV file whose first line is the header",
        )
    if head.startswith(b"PK\x03\x04"):
        return _problem(
            "binary",
            source_file,
            "the file is a ZIP archive (an Excel .xlsx workbook is one), not CSV text",
            "export the sheet as CSV (UTF-8) and upload that file",
        )
    if head.startswith(b"%PDF-"):
        return _problem(
            "binary",
            source_file,
            "the file is a PDF document, not CSV text",
            "upload the CSV export of the data, not this file",
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _problem(
            "utf16",
            source_file,
            "the file is UTF-16 text, not UTF-8",
            "save it again as CSV UTF-8 and upload that file",
        )
    nul = head.find(b"\x00")
    if nul >= 0:
        return _binary(source_file, nul, head.count(b"\n", 0, nul) + 1)
    return None


def _binary(source_file: str, offset: int, line: int) -> InputProblem:
    return _problem(
        "binary",
        source_file,
        f"a NUL byte at byte offset {offset}: this is a binary file, not CSV text",
        "upload the CSV export of the data, not this file",
        line=line,
    )


def _decoded(
    stream: BinaryIO, head: bytes, source_file: str, chunk_bytes: int
) -> Iterator[str | InputProblem]:
    """The file's text chunk by chunk; a NUL byte or bytes that are not UTF-8 end it with a problem
    (after the valid text before them, so a problem earlier in the file is still found first)."""
    offset = len(_UTF8_BOM) if head.startswith(_UTF8_BOM) else 0
    data = head[offset:]
    lines_before = 0
    carry = b""
    while data or carry:
        raw = carry + data
        start = offset - len(carry)
        nul = raw.find(b"\x00")
        valid = raw if nul < 0 else raw[:nul]
        final = not data
        try:
            text = valid.decode("utf-8")
            carry = b""
        except UnicodeDecodeError as exc:
            truncated = exc.reason == "unexpected end of data" and nul < 0 and not final
            if truncated and len(valid) - exc.start < 4:
                text, carry = valid[: exc.start].decode("utf-8"), valid[exc.start :]
            else:
                yield valid[: exc.start].decode("utf-8")
                position = start + exc.start
                line = lines_before + raw.count(b"\n", 0, exc.start) + 1
                if position < _TEXT_START_BYTES:
                    yield _problem(
                        "binary",
                        source_file,
                        f"byte 0x{raw[exc.start]:02X} at byte offset {position}: the file does not "
                        "start as text; this is a binary file (an image, PDF or workbook?), not CSV",
                        "upload the CSV export of the data, not this file",
                        line=line,
                    )
                    return
                yield _problem(
                    "encoding",
                    source_file,
                    f"byte 0x{raw[exc.start]:02X} at byte offset {position} is not UTF-8 "
                    "(perhaps the file was saved as Latin-1 or Windows-1252)",
                    "save the file as CSV UTF-8 and upload it again",
                    line=line,
                )
                return
        if nul >= 0:
            yield text
            yield _binary(source_file, start + nul, lines_before + raw.count(b"\n", 0, nul) + 1)
            return
        lines_before += raw.count(b"\n") - carry.count(b"\n")
        offset += len(data)
        yield text
        data = stream.read(chunk_bytes)


class _Scan:
    """The state of one pass: the header once read, and the line the next record starts on."""

    def __init__(
        self, source_file: str, required: tuple[str, ...], max_record_bytes: int, delimiter: str
    ):
        self.source_file = source_file
        self.required = required
        self.max_record_bytes = max_record_bytes
        self.delimiter = delimiter
        self.field_start = {"", delimiter, "\n"}
        self.field_end = {"", delimiter, "\n", "\r"}
        self.header: list[str] | None = None
        self.line = 1

    def problem(self, kind: str, detail: str, action: str, **where) -> InputProblem:
        return _problem(kind, self.source_file, detail, action, **where)

    def run(self, chunks: Iterator[str | InputProblem]) -> InputProblem | None:
        pending = ""
        for chunk in chunks:
            if isinstance(chunk, InputProblem):
                return self.slow(_chain(pending, iter([chunk])))
            pending += chunk
            if self.header is None:
                blank = len(pending) - len(pending.lstrip("\r\n"))
                self.line += pending.count("\n", 0, blank)
                pending = pending[blank:]
                end = _first_record_end(pending)
                if end < 0:
                    if len(pending) > self.max_record_bytes:
                        return self.slow(_chain(pending, chunks))
                    continue
                header, pending = pending[: end + 1], pending[end + 1 :]
                problem = self.slow(iter([header]))
                if problem or self.header is None:
                    return problem
                self.line += header.count("\n")
            end = _last_record_end(pending)
            if end < 0:
                if len(pending) > self.max_record_bytes:
                    return self.slow(_chain(pending, chunks))
                continue
            block, pending = pending[: end + 1], pending[end + 1 :]
            if not self.fast(block):
                return self.slow(_chain(block + pending, chunks))
            self.line += block.count("\n")
        if self.header is None or pending.strip("\r\n"):
            return self.slow(iter([pending]))
        return None

    def fast(self, block: str) -> bool:
        """Whether a block of whole records is surely fine (True) or must be read record by record."""
        n_fields = len(self.header)
        if 4 * len(block) > self.max_record_bytes and (
            len(block.encode("utf-8")) > self.max_record_bytes
        ):
            return False
        parts = block.split('"')
        outside = parts[0::2]
        if not set(map(_last_char, outside[:-1])) <= self.field_start:
            return False
        if not set(map(_first_char, outside[1:])) <= self.field_end:
            return False
        unquoted = "\x00".join(outside)
        if "\r" in unquoted and unquoted.count("\r") != unquoted.count("\r\n"):
            return False
        lines = unquoted.split("\n")
        lines.pop()
        counts = list(map(str.count, lines, repeat(self.delimiter)))
        wrong = len(counts) - counts.count(n_fields - 1)
        if n_fields > 1:
            wrong -= lines.count("") + lines.count("\r")
        return wrong == 0

    def slow(self, chunks: Iterator[str | InputProblem]) -> InputProblem | None:
        """Read records with the csv module from ``self.line`` on; the first problem found.

        The csv module's field size limit (process-wide) is raised to the record limit if lower.
        """
        source = _Lines(chunks, self.max_record_bytes)
        csv.field_size_limit(max(csv.field_size_limit(), self.max_record_bytes + 1))
        reader = csv.reader(source, delimiter=self.delimiter, strict=True)
        while True:
            start = self.line + reader.line_num
            source.record_start()
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                return self.csv_error(exc, source, start, self.line + reader.line_num - 1)
            if not row:
                continue
            problem = self.header_problem(row) if self.header is None else self.row_problem(row)
            if problem:
                return dataclasses.replace(problem, line=start)
        if source.too_long:
            return self.too_long(source, self.line + reader.line_num)
        if source.problem:
            return source.problem
        if self.header is None:
            return self.problem(
                "empty",
                "the file has no header line",
                "upload a CSV file whose first line is the header",
            )
        return None

    def header_problem(self, row: list[str]) -> InputProblem | None:
        names = [name.strip().lower() for name in row]
        seen: dict[str, int] = {}
        for number, (original, name) in enumerate(zip(row, names, strict=True), start=1):
            if not name:
                return self.problem(
                    "empty_column_name",
                    f"header column {number} has no name",
                    "give every column a name in the header line",
                    column=number,
                )
            if name in seen:
                return self.problem(
                    "duplicate_column",
                    f"header column {number} {original!r} repeats column {seen[name]} "
                    f"({name!r} once names are trimmed and lower-cased)",
                    "rename or remove one of the two columns",
                    column=number,
                )
            seen[name] = number
        missing = [name for name in self.required if name not in seen]
        if missing:
            return self.problem(
                "missing_column",
                f"the header has no {', '.join(missing)} column (the warehouse needs "
                f"{', '.join(self.required)})",
                "add the column, or check the header line and the delimiter "
                f"(a {DELIMITERS[self.delimiter]})",
            )
        self.header = row
        return None

    def row_problem(self, row: list[str]) -> InputProblem | None:
        if not row or len(row) == len(self.header):
            return None
        name = f"{DELIMITERS[self.delimiter]}s"
        return self.problem(
            "ragged_row",
            f"expected {len(self.header)} fields as in the header, found {len(row)}",
            f'quote fields that contain {name} ("a{self.delimiter} b") and check for missing or '
            f"extra {name} on that line",
        )

    def csv_error(self, exc: csv.Error, source: "_Lines", start: int, current: int) -> InputProblem:
        text = str(exc)
        if source.problem:
            return source.problem
        if source.too_long:
            return self.too_long(source, start)
        if "unexpected end of data" in text:
            return self.problem(
                "unterminated_quote",
                "a quoted field opens here and is never closed",
                CLOSE_QUOTE,
                line=start,
                column=_field_at_end(source.first_line, self.delimiter)[0],
            )
        if "new-line character" in text:
            return self.problem(
                "cr_line_ends",
                "lines end with a carriage return only (\\r, old Mac line ends)",
                "save the file with LF or CRLF line ends",
                line=current,
            )
        if "expected after" in text:
            field, quoted = _field_at_end(source.first_line, self.delimiter)
            if current > start and quoted:
                return self.problem(
                    "unterminated_quote",
                    f"the quote that opens field {field} is not closed on this line (the record "
                    f"runs on and breaks on line {current})",
                    CLOSE_QUOTE,
                    line=start,
                    column=field,
                )
            return self.problem(
                "stray_quote",
                "text follows the closing quote of a quoted field",
                'quote the whole field and write a quote inside it as two quotes ("")',
                line=current,
            )
        return self.problem(
            "unreadable", f"not readable as CSV ({text})", "fix the line", line=current
        )

    def too_long(self, source: "_Lines", start: int) -> InputProblem:
        if source.bare_cr:
            return self.problem(
                "cr_line_ends",
                "lines end with a carriage return only (\\r, old Mac line ends)",
                "save the file with LF or CRLF line ends",
                line=start,
            )
        field, quoted = _field_at_end(source.first_line, self.delimiter)
        reason = ", which opens a quote: is it ever closed?" if quoted else ""
        return self.problem(
            "record_too_large",
            f"a record longer than {self.max_record_bytes:,} bytes starts here "
            f"(the limit is passed in field {field}{reason})",
            "shorten or split that field, or close the quote",
            line=start,
            column=field,
        )


def _last_record_end(text: str) -> int:
    """Index of the last newline of ``text`` outside double quotes (-1 if none), where quotes are
    counted from the start of ``text`` (a record boundary)."""
    end = text.rfind("\n")
    if end < 0:
        return -1
    quotes = text.count('"', 0, end)
    for _ in range(64):
        if quotes % 2 == 0:
            return end
        previous = text.rfind("\n", 0, end)
        if previous < 0:
            return -1
        quotes -= text.count('"', previous, end)
        end = previous
    return _outside_newline(text, last=True)


def _first_record_end(text: str) -> int:
    """Index of the first newline of ``text`` outside double quotes (-1 if none)."""
    return _outside_newline(text, last=False)


def _outside_newline(text: str, *, last: bool) -> int:
    """The first or last newline outside double quotes (-1 if none), in one pass over the quoted
    sections, however many newlines they hold."""
    offset, found = 0, -1
    for number, part in enumerate(text.split('"')):
        if number % 2 == 0 and "\n" in part:
            if not last:
                return offset + part.find("\n")
            found = offset + part.rfind("\n")
        offset += len(part) + 1
    return found


def _chain(text: str, chunks: Iterator[str | InputProblem]) -> Iterator[str | InputProblem]:
    yield text
    yield from chunks


def _field_at_end(line: str, delimiter: str) -> tuple[int, bool]:
    """The 1-based field the end of ``line`` is in, and whether a quote is open there."""
    field, i, n = 1, 0, len(line)
    while i < n:
        if line[i] == '"':
            i += 1
            while True:
                close = line.find('"', i)
                if close < 0:
                    return field, True
                if line.startswith('""', close):
                    i = close + 2
                    continue
                i = close + 1
                break
        comma = line.find(delimiter, i)
        if comma < 0:
            return field, False
        field, i = field + 1, comma + 1
    return field, False


class _Lines:
    """Physical lines (split on ``\\n`` only) for the csv reader, stopping at a record longer than
    the limit or at a problem of the byte stream (kept in ``problem``)."""

    def __init__(self, chunks: Iterator[str | InputProblem], max_record_bytes: int):
        self.chunks = chunks
        self.max_record_bytes = max_record_bytes
        self.buffer = ""
        self.position = 0
        self.record_bytes = 0
        self.first_line = ""
        self.too_long = False
        self.bare_cr = False
        self.problem: InputProblem | None = None

    def record_start(self) -> None:
        self.record_bytes = 0
        self.first_line = ""

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        if self.too_long:
            raise StopIteration
        cut = self.buffer.find("\n", self.position)
        while cut < 0:
            rest = self.buffer[self.position :]
            if len(rest) > self.max_record_bytes:
                return self.stop(rest)
            chunk = next(self.chunks, None)
            if isinstance(chunk, InputProblem):
                self.problem, self.buffer, self.position = chunk, "", 0
                raise StopIteration
            if chunk is None:
                self.buffer, self.position = "", 0
                if not rest:
                    raise StopIteration
                return self.take(rest)
            self.buffer, self.position = rest + chunk, 0
            cut = self.buffer.find("\n", len(rest))
        line = self.buffer[self.position : cut + 1]
        self.position = cut + 1
        return self.take(line)

    def take(self, line: str) -> str:
        if not self.first_line:
            self.first_line = line[: self.max_record_bytes]
        self.record_bytes += len(line.encode("utf-8"))
        if self.record_bytes > self.max_record_bytes:
            return self.stop(line)
        return line

    def stop(self, line: str) -> str:
        """End the lines here: the record is too long (its last line is not passed on)."""
        if not self.first_line:
            self.first_line = line[: self.max_record_bytes]
        self.bare_cr = "\r" in line.replace("\r\n", "")
        self.too_long = True
        self.buffer, self.position = "", 0
        raise StopIteration
