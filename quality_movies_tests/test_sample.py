"""The synthetic movie CSV: determinism, the seed file's header and quirks, honest expected counts."""

import csv
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from quality_movies.sample import CHUNK_ROWS, main, write_sample

# Typed from the seed file's first line, not imported from the module under test.
SEED_HEADER_LINE = (
    "Poster_Link,Series_Title,Released_Year,Certificate,Runtime,Genre,IMDB_Rating,Overview,"
    "Meta_score,Director,Star1,Star2,Star3,Star4,No_of_Votes,Gross"
)
SEED_HEADER = SEED_HEADER_LINE.split(",")
SEED_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb_movies_rating.csv"


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, [dict(zip(header, row, strict=True)) for row in reader]


def split_by_seed_rule(ratings: list[str]) -> tuple[int, int]:
    """Good/bad counts for `ColumnValues "imdb_rating" between 8.5 and 10.3` (exclusive bounds)."""
    good = sum(1 for rating in ratings if Decimal("8.5") < Decimal(rating) < Decimal("10.3"))
    return good, len(ratings) - good


@pytest.fixture(scope="module")
def sample_200(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("sample") / "movies.csv"
    stats = write_sample(path)
    header, rows = read_rows(path)
    return path, stats, header, rows


def test_same_rows_and_seed_give_identical_bytes(tmp_path: Path) -> None:
    first, second, other_seed = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    write_sample(first, rows=300, seed=11)
    write_sample(second, rows=300, seed=11)
    write_sample(other_seed, rows=300, seed=12)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other_seed.read_bytes()


def test_header_is_the_seed_files_header(sample_200) -> None:
    path, _, header, rows = sample_200
    assert header == SEED_HEADER
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(SEED_HEADER)
    assert len(rows) == 200


def test_header_matches_the_real_seed_file(sample_200) -> None:
    if not SEED_FILE.exists():
        pytest.skip(f"seed file {SEED_FILE} not present")
    _, _, header, _ = sample_200
    assert read_rows(SEED_FILE)[0] == header


def test_quoted_commas_in_genre_gross_and_poster(sample_200) -> None:
    path, _, _, rows = sample_200
    assert any(", " in row["Genre"] for row in rows)
    assert re.search(r',"[A-Za-z-]+, [A-Za-z-]+(, [A-Za-z-]+)?",', path.read_text())
    gross = [row["Gross"] for row in rows if row["Gross"]]
    assert gross and all(re.fullmatch(r"\d{1,3}(,\d{3})*", value) for value in gross)
    assert any("," in value for value in gross)
    assert all("CR0,0,67,98" in row["Poster_Link"] for row in rows)


def test_runtimes_are_minutes_text(sample_200) -> None:
    _, _, _, rows = sample_200
    assert all(re.fullmatch(r"\d+ min", row["Runtime"]) for row in rows)


def test_blank_optional_cells_present(sample_200) -> None:
    _, _, _, rows = sample_200
    for column in ("Meta_score", "Gross", "Certificate"):
        assert any(row[column] == "" for row in rows), column
    for column in ("Series_Title", "IMDB_Rating", "Runtime", "Director", "No_of_Votes"):
        assert all(row[column] for row in rows), column


def test_exactly_one_non_numeric_year(sample_200) -> None:
    _, stats, _, rows = sample_200
    non_numeric = [index for index, row in enumerate(rows) if not row["Released_Year"].isdigit()]
    assert len(non_numeric) == 1
    assert rows[non_numeric[0]]["Released_Year"] == "PG"
    assert stats.non_numeric_year_row == non_numeric[0]


@pytest.mark.parametrize(("rows", "expected_non_numeric"), [(0, 0), (1, 0), (2, 1), (7, 1)])
def test_non_numeric_year_only_from_two_rows(
    tmp_path: Path, rows: int, expected_non_numeric: int
) -> None:
    path = tmp_path / "tiny.csv"
    stats = write_sample(path, rows=rows)
    header, parsed = read_rows(path)
    assert header == SEED_HEADER
    assert len(parsed) == rows == stats.rows
    assert sum(1 for row in parsed if not row["Released_Year"].isdigit()) == expected_non_numeric


def test_ratings_cover_both_exclusive_bounds(sample_200) -> None:
    _, _, _, rows = sample_200
    ratings = [row["IMDB_Rating"] for row in rows]
    for boundary_or_near in ("8.5", "10.3", "8.6", "10.2"):
        assert boundary_or_near in ratings
    assert any(rating.startswith("7.") for rating in ratings)
    assert any(rating.startswith("9") for rating in ratings)
    assert all(re.fullmatch(r"\d+(\.[1-9])?", rating) for rating in ratings)


def test_boundaries_present_in_two_row_file(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    stats = write_sample(path, rows=2, seed=99)
    _, rows = read_rows(path)
    assert sorted(row["IMDB_Rating"] for row in rows) == ["10.3", "8.5"]
    assert (stats.expected_good, stats.expected_bad) == (0, 2)


def test_expected_good_and_bad_match_a_hand_count(sample_200) -> None:
    _, stats, _, rows = sample_200
    ratings = [row["IMDB_Rating"] for row in rows]
    good, bad = split_by_seed_rule(ratings)
    assert (stats.expected_good, stats.expected_bad) == (good, bad)
    assert good > 0 and bad > 0
    assert stats.rating_counts == dict(Counter(ratings))


def test_counts_across_chunk_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "chunks.csv"
    rows = CHUNK_ROWS + 1_234
    stats = write_sample(path, rows=rows, seed=3)
    _, parsed = read_rows(path)
    assert len(parsed) == rows
    assert (stats.expected_good, stats.expected_bad) == split_by_seed_rule(
        [row["IMDB_Rating"] for row in parsed]
    )
    assert [row["Released_Year"] for row in parsed].count("PG") == 1
    assert sum(stats.rating_counts.values()) == rows


def test_title_suffix_and_unique_titles(tmp_path: Path) -> None:
    path = tmp_path / "part.csv"
    write_sample(path, rows=500, title_suffix=' (part 3, "east")', unique_titles=True)
    _, rows = read_rows(path)
    titles = [row["Series_Title"] for row in rows]
    assert len(set(titles)) == 500
    assert titles[0].endswith(' (part 3, "east") #1')
    assert titles[-1].endswith(" #500")

    plain = tmp_path / "plain.csv"
    write_sample(plain, rows=500, title_suffix=" [p7]")
    _, plain_rows = read_rows(plain)
    assert all(row["Series_Title"].endswith(" [p7]") for row in plain_rows)
    assert len({row["Series_Title"] for row in plain_rows}) < 500


def test_cli_writes_the_same_file_as_the_function(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli.csv"
    assert main(["--rows", "120", "--seed", "5", "--out", str(out)]) == 0
    reference = tmp_path / "reference.csv"
    write_sample(reference, rows=120, seed=5)
    assert out.read_bytes() == reference.read_bytes()
    _, rows = read_rows(out)
    good, bad = split_by_seed_rule([row["IMDB_Rating"] for row in rows])
    printed = capsys.readouterr().out
    assert f"{good} good" in printed and f"{bad} bad" in printed


def test_cli_default_output_in_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    _, rows = read_rows(tmp_path / "imdb_movies_sample.csv")
    assert len(rows) == 200


def test_cli_rejects_negative_rows(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--rows", "-1", "--out", str(tmp_path / "x.csv")])
    assert exit_info.value.code == 2
    assert not (tmp_path / "x.csv").exists()
