"""The input inspection over hand-made bad files: the user's file name, the line, the column."""

import gzip
import io
import random
import tracemalloc

import pytest

from quality_movies.lake.inspect import (
    InputProblem,
    UnreadableFile,
    inspect_csv,
    inspect_file,
)

HEADER = b"Series_Title,IMDB_Rating,Genre\r\n"
GODFATHER = b'The Godfather,9.2,"Crime, Drama"\r\n'
UP = b"Up,8.2,Animation\r\n"
REQUIRED = ("series_title", "imdb_rating")
CHUNK_SIZES = [7, 64, 256 * 1024]


def good_rows(n: int) -> bytes:
    return (GODFATHER + UP) * (n // 2)


def inspect(data: bytes, name: str = "movies.csv", **kwargs) -> InputProblem | None:
    kwargs.setdefault("required_columns", REQUIRED)
    return inspect_csv(io.BytesIO(data), name, **kwargs)


def inspect_all_chunkings(data: bytes, **kwargs) -> InputProblem | None:
    """The result, checked to be the same whatever the chunk size (fast and slow paths agree)."""
    results = {inspect(data, chunk_bytes=size, **kwargs) for size in CHUNK_SIZES}
    assert len(results) == 1, results
    return results.pop()


@pytest.mark.parametrize(
    "data",
    [
        HEADER + good_rows(10),
        HEADER.replace(b"\r\n", b"\n") + good_rows(10).replace(b"\r\n", b"\n"),
        b"\xef\xbb\xbf" + HEADER + good_rows(4),
        HEADER + GODFATHER + b"\r\n\r\n" + UP + b"\r\n",
        (HEADER + good_rows(4)).rstrip(b"\r\n"),
        HEADER + b'Heat,8.3,"Crime\r\nDrama ""noir"""\r\n' + UP,
        HEADER + b"Heat 5'11\",8.3,Crime\r\n" + good_rows(40),
        HEADER + b"Am\xc3\xa9lie,8.3,Com\xc3\xa9die \xe2\x80\x94 \xf0\x9f\x8e\xac\r\n" * 30,
        HEADER,
        HEADER + b',8.3,""\r\n',
        b"\r\n\r\n" + HEADER + good_rows(4),
    ],
    ids=[
        "crlf",
        "lf",
        "utf8-bom",
        "blank-lines",
        "no-final-newline",
        "quoted-newline-and-quotes",
        "literal-quote-in-unquoted-field",
        "multibyte-utf8",
        "header-only",
        "empty-values",
        "blank-lines-before-the-header",
    ],
)
def test_a_usable_csv_has_no_problem(data):
    assert inspect_all_chunkings(data) is None


def test_an_empty_file():
    problem = inspect(b"", "empty.csv")
    assert problem.kind == "empty"
    assert problem.message.startswith("empty.csv: the file is empty")


def test_blank_lines_only():
    assert inspect(b"\r\n\n\r\n").kind == "empty"


def test_lines_are_counted_from_the_first_line_even_above_the_header():
    problem = inspect_all_chunkings(b"\n\n" + HEADER + UP + b"Heat,8.3\r\n")
    assert (problem.kind, problem.line) == ("ragged_row", 5)


def test_a_csv_gz_file_is_read_decompressed():
    assert inspect_all_chunkings(gzip.compress(HEADER + good_rows(4)), name="movies.csv.gz") is None
    ragged = gzip.compress(HEADER + UP + b"Heat,8.3\r\n")
    problem = inspect_all_chunkings(ragged, name="movies.csv.gz")
    assert (problem.kind, problem.line) == ("ragged_row", 3)


def test_gzip_content_must_be_named_csv_gz():
    problem = inspect(gzip.compress(HEADER + good_rows(4)), "movies.csv")
    assert problem.kind == "unsupported"
    assert problem.message.startswith(
        "movies.csv: the file is gzip-compressed but named movies.csv; rename it to .csv.gz"
    )


def test_a_truncated_gzip_file():
    cut = gzip.compress(HEADER + good_rows(400))[:-40]
    problem = inspect(cut, "movies.csv.gz")
    assert problem.kind == "gzip"
    assert problem.message.startswith("movies.csv.gz: the gzip data cannot be decompressed")


def test_a_binary_file_names_the_first_nul_byte():
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    problem = inspect(data, "poster.csv")
    assert (problem.kind, problem.line) == ("binary", 3)  # two \n before the NUL
    assert "byte offset 8" in problem.message


@pytest.mark.parametrize(
    "data",
    [b"\xff\xd8\xff\xe0\x00\x10JFIF", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", b"\xd0\xcf\x11\xe0\xa1"],
    ids=["jpeg", "pdf", "xls"],
)
def test_a_file_that_does_not_start_as_text_is_binary(data):
    problem = inspect(data, "poster.csv")
    assert problem.kind == "binary"
    assert problem.message.startswith("poster.csv")
    assert "not CSV" in problem.message


def test_an_excel_workbook_is_a_zip_archive():
    problem = inspect(b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 20, "movies.xlsx")
    assert problem.kind == "binary"
    assert problem.message.startswith("movies.xlsx: the file is a ZIP archive")


def test_a_nul_byte_deep_in_the_file_gives_its_line():
    data = HEADER + good_rows(20) + b"Heat,8.3,Cri\x00me\r\n" + good_rows(4)
    offset = len(HEADER) + len(good_rows(20)) + len(b"Heat,8.3,Cri")
    problem = inspect_all_chunkings(data)
    assert (problem.kind, problem.line) == ("binary", 22)
    assert f"byte offset {offset}:" in problem.message


def test_utf16_is_not_utf8():
    problem = inspect((HEADER + UP).decode().encode("utf-16"), "movies.csv")
    assert problem.kind == "utf16"


def test_latin1_bytes_give_line_and_byte_offset():
    data = HEADER + GODFATHER + UP + "Amélie,8.3,Comedy\r\n".encode("latin-1") + good_rows(4)
    # header 32 bytes + Godfather 34 + Up 18 = 84, then "Am": 0xE9 is at offset 86 (from 0).
    problem = inspect_all_chunkings(data)
    assert (problem.kind, problem.line, problem.column) == ("encoding", 4, None)
    assert problem.message == (
        "movies.csv, line 4: byte 0xE9 at byte offset 86 is not UTF-8 (perhaps the file was "
        "saved as Latin-1 or Windows-1252); save the file as CSV UTF-8 and upload it again"
    )


def test_latin1_after_many_chunks():
    data = HEADER + good_rows(200) + "Amélie,8.3,Comedy\r\n".encode("latin-1")
    problem = inspect_all_chunkings(data)
    assert (problem.kind, problem.line) == ("encoding", 202)
    assert f"byte offset {len(HEADER) + len(good_rows(200)) + 2} " in problem.message


def test_a_truncated_utf8_character_at_the_end():
    data = HEADER + "Amélie,8.3,Comedy é".encode()[:-1]
    problem = inspect_all_chunkings(data)
    assert (problem.kind, problem.line) == ("encoding", 2)


def test_carriage_return_only_line_ends():
    data = (HEADER + good_rows(10)).replace(b"\r\n", b"\r")
    problem = inspect_all_chunkings(data)
    assert (problem.kind, problem.line) == ("cr_line_ends", 1)
    assert "carriage return only" in problem.message


def test_carriage_return_only_in_a_file_larger_than_the_record_limit():
    data = (HEADER + good_rows(400)).replace(b"\r\n", b"\r")
    problem = inspect(data, max_record_bytes=2000)
    assert (problem.kind, problem.line) == ("cr_line_ends", 1)


def test_one_carriage_return_only_line_end_in_the_middle():
    data = HEADER + good_rows(6) + b"Heat,8.3,Crime\rUp,8.2,Animation\r\n" + good_rows(4)
    problem = inspect_all_chunkings(data)
    assert (problem.kind, problem.line) == ("cr_line_ends", 8)


@pytest.mark.parametrize(("row", "found"), [(b"Heat,8.3,Crime,extra\r\n", 4), (b"Heat,8.3\r\n", 2)])
def test_a_ragged_row_says_expected_and_found(row, found):
    data = HEADER + good_rows(100) + row + good_rows(4)
    problem = inspect_all_chunkings(data)
    assert (problem.kind, problem.line) == ("ragged_row", 102)
    assert problem.message.startswith(
        f"movies.csv, line 102: expected 3 fields as in the header, found {found};"
    )


def test_an_unterminated_quote_at_the_end_of_the_file():
    data = HEADER + good_rows(4) + b'Heat,8.3,"Crime\r\n' + b"Up,8.2,Animation\r\n"
    problem = inspect_all_chunkings(data)
    assert (problem.kind, problem.line, problem.column) == ("unterminated_quote", 6, 3)


def test_an_unterminated_quote_in_the_middle_names_where_it_opened():
    data = HEADER + good_rows(4) + b'"Heat,8.3,Crime\r\n' + good_rows(10)
    problem = inspect_all_chunkings(data)
    assert (problem.kind, problem.line, problem.column) == ("unterminated_quote", 6, 1)
    assert "breaks on line 7" in problem.message


def test_text_after_a_closing_quote():
    data = HEADER + good_rows(2) + b'"Heat"x,8.3,Crime\r\n' + good_rows(2)
    problem = inspect_all_chunkings(data)
    assert (problem.kind, problem.line) == ("stray_quote", 4)


@pytest.mark.parametrize(
    ("header", "column", "detail"),
    [
        (b"Series_Title,IMDB_Rating,Genre,imdb_rating\r\n", 4, "repeats column 2"),
        (b"Series_Title,IMDB_Rating, series_title \r\n", 3, "repeats column 1"),
    ],
)
def test_a_duplicate_column_name(header, column, detail):
    problem = inspect_all_chunkings(header + b"Heat,8.3,Crime,x\r\n")
    assert (problem.kind, problem.line, problem.column) == ("duplicate_column", 1, column)
    assert detail in problem.message


def test_an_empty_column_name():
    problem = inspect(b"Series_Title,,IMDB_Rating\r\nHeat,x,8.3\r\n")
    assert (problem.kind, problem.line, problem.column) == ("empty_column_name", 1, 2)


def test_a_missing_required_column():
    problem = inspect(b"Title,IMDB_Rating,Genre\r\n" + good_rows(2), "movies.csv")
    assert (problem.kind, problem.line) == ("missing_column", 1)
    assert problem.message.startswith("movies.csv, line 1: the header has no series_title column")


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_semicolon_tab_and_pipe_files_are_read_with_their_delimiter(delimiter):
    rows = ["Series_Title,IMDB_Rating,Genre", "Heat,8.3,Crime", '"Up, again",8.2,"Family"']
    data = "".join(row.replace(",", delimiter) + "\r\n" for row in rows).encode()
    data = data.replace(f'"Up{delimiter} again"'.encode(), b'"Up, again"')
    assert inspect_all_chunkings(data) is None
    ragged = inspect_all_chunkings(data + f"Heat{delimiter}8.3\r\n".encode())
    assert (ragged.kind, ragged.line) == ("ragged_row", 4)


def test_a_semicolon_file_without_the_required_columns_names_its_delimiter():
    problem = inspect(b"Title;Rating\r\nHeat;8.3\r\n")
    assert problem.kind == "missing_column"
    assert problem.message.endswith("check the header line and the delimiter (a semicolon)")


def test_no_required_columns_by_default():
    assert inspect_csv(io.BytesIO(b"a,b\r\n1,2\r\n"), "other.csv") is None


def test_a_5_mb_unquoted_field():
    data = HEADER + GODFATHER + b"Heat,8.3," + b"x" * 5_000_000 + b"\r\n" + good_rows(4)
    problem = inspect(data, "huge.csv")
    assert (problem.kind, problem.line, problem.column) == ("record_too_large", 3, 3)
    assert problem.message.startswith(
        "huge.csv, line 3, column 3: a record longer than 2,000,000 bytes starts here"
    )


def test_a_5_mb_quoted_field_over_many_lines():
    data = HEADER + GODFATHER + b'Heat,"' + b"x\r\n" * 1_700_000 + b'",Crime\r\n'
    problem = inspect(data, "huge.csv")
    assert (problem.kind, problem.line, problem.column) == ("record_too_large", 3, 2)
    assert "opens a quote" in problem.message


def test_a_record_just_under_the_limit_is_fine():
    row = b"Heat,8.3," + b"x" * (1000 - len(b"Heat,8.3,\r\n")) + b"\r\n"
    assert len(row) == 1000
    assert inspect_all_chunkings(HEADER + row + UP, max_record_bytes=1000) is None
    assert inspect(HEADER + row[:-2] + b"x\r\n", max_record_bytes=1000).kind == "record_too_large"


def test_the_first_problem_in_the_file_wins():
    ragged = b"Heat,8.3\r\n"
    latin1 = "Amélie,8.3,Comedy\r\n".encode("latin-1")
    first_ragged = inspect_all_chunkings(HEADER + UP + ragged + UP + latin1)
    first_latin1 = inspect_all_chunkings(HEADER + UP + latin1 + UP + ragged)
    assert (first_ragged.kind, first_ragged.line) == ("ragged_row", 3)
    assert (first_latin1.kind, first_latin1.line) == ("encoding", 3)


def test_memory_stays_bounded_on_a_single_20_mb_line():
    data = b"x" * 20_000_000
    tracemalloc.start()
    try:
        problem = inspect(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problem.kind == "record_too_large"
    assert peak < 12_000_000


def test_inspect_file_names_the_user_file_not_the_path(tmp_path):
    path = tmp_path / "quality_movies_x1y2" / "tmpcopy.csv"
    path.parent.mkdir()
    path.write_bytes(HEADER + b"Heat,8.3\r\n")
    problem = inspect_file(path, "2026/movies.csv", required_columns=REQUIRED)
    assert problem.message.startswith("2026/movies.csv, line 2: expected 3 fields")
    assert str(tmp_path) not in problem.message
    assert str(UnreadableFile(problem)) == problem.message


def read_record_by_record(data: bytes) -> InputProblem | None:
    """The reference: the whole text through the csv-module reader, no block shortcut."""
    from quality_movies.lake.inspect import _not_text, _Scan

    problem = _not_text(data, "movies.csv")
    if problem:
        return problem
    scan = _Scan("movies.csv", REQUIRED, 2_000_000, ",")
    return scan.slow(iter([data.decode("utf-8")]))


@pytest.mark.parametrize("seed", range(40))
def test_the_block_shortcut_finds_what_the_record_reader_finds(seed):
    rng = random.Random(seed)
    pieces = ["Heat", "8.3", '"Crime, Drama"', '"say ""hi"""', '"two\r\nlines"', "", 'x"y', "Up"]
    rows = []
    for _ in range(rng.randint(1, 400)):
        fields = [rng.choice(pieces) for _ in range(rng.choice([3] * 300 + [2, 4]))]
        end = rng.choice(["\r\n"] * 200 + ["\n", "\r"])
        rows.append(",".join(fields) + end)
    if rng.random() < 0.2:
        rows.insert(rng.randrange(len(rows) + 1), 'Heat,"8.3,x\r\n')
    data = (HEADER.decode() + "".join(rows)).encode()
    expected = read_record_by_record(data)
    found = inspect_all_chunkings(data)
    assert (found and (found.kind, found.line)) == (expected and (expected.kind, expected.line))
