"""The header row is read by the engine itself (DuckDB reads the rows with it, sniffing nothing):
names as a CSV reader sees them, and a line a person can act on when there is no usable header."""

from pathlib import Path

import pytest

from quality_movies.dq import UnreadableInputError, evaluate_file, parse_ruleset
from quality_movies.dq.duckdb_engine import CsvHeader, read_header


@pytest.mark.parametrize(
    ("content", "names"),
    [
        (b"id,title\n1,a\n", ["id", "title"]),
        (b"\xef\xbb\xbfid,title\r\n1,a\r\n", ["id", "title"]),  # BOM and CRLF
        (b'"id","title, full"\n1,a\n', ["id", "title, full"]),  # a quoted comma
        (b'"id\nnumber",title\n1,a\n', ["id\nnumber", "title"]),  # a quoted line break
        (b"id,title", ["id", "title"]),  # the header alone, no line break
        (b"id,title\r1,a\r", ["id", "title"]),  # carriage returns only (old Mac line ends)
        (b'"id\r\nnumber",title\r\n1,a\r\n', ["id\r\nnumber", "title"]),  # a quoted CRLF
    ],
)
def test_header_names(tmp_path: Path, content: bytes, names: list[str]) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(content)
    assert read_header(path) == CsvHeader(names)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"\r\nid,title\n1,a\n",
            "the blank lines above the header end differently from it; remove them and run again.",
        ),
        (b"\xef\xbb\xbf", "the file has no header row; expected column names"),
        (b"id,t\xe9\n1,2\n", "line 1 is not UTF-8 text; save the file as UTF-8 and run again."),
        (b"x" * (1 << 20) + b"\n", "the first line is longer than 1 MB; expected a CSV header row"),
    ],
)
def test_no_usable_header(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(content)
    with pytest.raises(UnreadableInputError) as raised:
        read_header(path)
    assert str(raised.value) == f"{path}: {message}"


def test_an_unterminated_quote_names_its_line(tmp_path: Path) -> None:
    # Line 3 opens a quote that no later character closes.
    data = tmp_path / "movies.csv"
    data.write_text('series_title,imdb_rating\nA,9.0\n"B,8.0\nC,9.1\n', encoding="utf-8")
    seed = parse_ruleset('Rules = [ ColumnValues "imdb_rating" between 8.5 and 10.3 ]')
    with pytest.raises(UnreadableInputError) as raised:
        evaluate_file(seed, data, tmp_path / "out")
    assert str(raised.value) == (
        f"{data}: line 3 cannot be read as CSV (Value with unterminated quote found); "
        "fix it and run again."
    )


def test_carriage_return_line_ends_are_read_as_duckdb_reads_them(tmp_path: Path) -> None:
    # Two rows: 9.0 lies between 8.5 and 10.3, 7.0 does not.
    data = tmp_path / "mac.csv"
    data.write_bytes(b"Series_Title,IMDB_Rating\rA,9.0\rB,7.0\r")
    seed = parse_ruleset('Rules = [ ColumnValues "imdb_rating" between 8.5 and 10.3 ]')
    summary = evaluate_file(seed, data, tmp_path / "out")
    assert (summary.rows_read, summary.good_rows, summary.bad_rows) == (2, 1, 1)


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"])
def test_blank_lines_above_the_header_are_skipped(tmp_path: Path, line_end: bytes) -> None:
    # Lines 1-2 blank, the header on line 3, rows on lines 4-5 (9.0 passes, 7.0 fails).
    data = tmp_path / "spaced.csv"
    lines = [b"", b"", b"Series_Title,IMDB_Rating", b"A,9.0", b"B,7.0"]
    data.write_bytes(line_end.join(lines) + line_end)
    assert read_header(data) == CsvHeader(["Series_Title", "IMDB_Rating"], blank_lines=2)
    seed = parse_ruleset('Rules = [ ColumnValues "imdb_rating" between 8.5 and 10.3 ]')
    summary = evaluate_file(seed, data, tmp_path / "out")
    assert (summary.rows_read, summary.good_rows, summary.bad_rows) == (2, 1, 1)
    # line 6 has one field of two
    data.write_bytes(line_end.join([*lines, b"C"]) + line_end)
    with pytest.raises(UnreadableInputError) as raised:
        evaluate_file(seed, data, tmp_path / "out")
    assert str(raised.value).startswith(f"{data}: line 6 has 1 fields where the header has 2;")
