"""The crawl reads a bounded head of each file, as Glue's crawler does, on a memory-bounded DuckDB.

AWS (knowledge center, "How does the AWS Glue crawler detect the schema?"): "For CSV files, the
crawler reads either the first 1000 records or the first 1 MB of data, whichever comes first", and
reads on up to 10 MB, 1 MB at a time, while it has no valid record.
"""

import csv
import io

import pytest

from quality_movies.lake import LocalCatalog, LocalLake, infer_csv_columns
from quality_movies.lake import local as resources
from quality_movies.lake.base import csv_sample

MIB = 1 << 20


def records(sample: bytes) -> list[list[str]]:
    limit = csv.field_size_limit(4 * MIB)
    try:
        return list(csv.reader(io.StringIO(sample.decode())))
    finally:
        csv.field_size_limit(limit)


def test_a_long_file_is_sampled_to_its_first_1000_records():
    text = "a,b\n" + "".join(f"{i},x{i}\n" for i in range(1500))
    sample = csv_sample(io.BytesIO(text.encode()))
    rows = records(sample)
    assert len(rows) == 1 + 1000
    assert rows[-1] == ["999", "x999"]


def test_wide_records_are_sampled_to_the_whole_records_of_the_first_mib():
    record = "1," + "x" * 1997 + "\n"  # 2,000 bytes
    data = ("a,b\n" + record * 1000).encode()  # 2,000,004 bytes
    sample = csv_sample(io.BytesIO(data))
    # (1,048,576 - 4) // 2,000 = 524 whole records fit in the first MiB after the 4-byte header.
    assert len(sample) == 4 + 524 * 2000
    assert len(records(sample)) == 1 + 524


def test_a_file_within_the_sample_is_read_whole():
    assert csv_sample(io.BytesIO(b"a,b\n1,2\n3,4\n")) is None
    assert csv_sample(io.BytesIO(b"a,b\n" + b"1,2\n" * 1000)) is None


def test_a_newline_inside_quotes_does_not_end_the_sample():
    record = '1,"two\nlines, and ""quotes"""\n'
    data = ("a,b\n" + record * 40_000).encode()
    sample = csv_sample(io.BytesIO(data))
    rows = records(sample)
    assert len(rows) == 1 + 1000
    assert all(row == ["1", 'two\nlines, and "quotes"'] for row in rows[1:])


def test_a_first_record_longer_than_a_mib_is_read_on_to_its_end():
    long_field = "x" * (MIB + MIB // 2)
    data = f"a,b\n1,{long_field}\n2,y\n".encode() + b"3,z\n" * 200_000
    sample = csv_sample(io.BytesIO(data))
    rows = records(sample)
    # The first MiB holds no whole record, the second does: header, the long record, "2,y" and
    # 998 records "3,z" make the first 1000 records.
    assert rows[:3] == [["a", "b"], ["1", long_field], ["2", "y"]]
    assert rows[3:] == [["3", "z"]] * 998
    assert len(sample) == 4 + (2 + len(long_field) + 1) + 4 + 998 * 4


@pytest.mark.parametrize(
    ("text_at", "year_type"),
    [(1000, "string"), (1001, "bigint")],
    ids=["in-the-1000th-record", "in-the-1001st-record"],
)
def test_types_come_from_the_first_1000_records(tmp_path, text_at, year_type):
    rows = [
        f"Movie {i},{'PG' if i == text_at else 1990 + i % 30},8.{i % 10}" for i in range(1, 1500)
    ]
    path = tmp_path / "movies.csv"
    path.write_text("Series_Title,Released_Year,IMDB_Rating\n" + "\n".join(rows) + "\n")
    assert infer_csv_columns(path) == [
        ("series_title", "string"),
        ("released_year", year_type),
        ("imdb_rating", "double"),
    ]


def test_the_crawl_runs_on_a_memory_bounded_duckdb_connection(tmp_path, monkeypatch):
    lake = LocalLake(root=str(tmp_path / "lake"), bucket="bucket")
    catalog = LocalCatalog(root=str(tmp_path / "catalog"))
    path = lake._path(lake.input_key("a.csv"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"Series_Title,IMDB_Rating\nHeat,8.3\n")
    settings: list[tuple] = []
    crawl_file = resources.crawl_file

    def crawl_file_reading_settings(path, source_file, *, con, **options):
        settings.append(
            con.execute(
                "SELECT current_setting('memory_limit'), "
                "current_setting('preserve_insertion_order')"
            ).fetchone()
        )
        return crawl_file(path, source_file, con=con, **options)

    monkeypatch.setattr(resources, "crawl_file", crawl_file_reading_settings)
    catalog.crawl(lake)
    # 256 MB = 256,000,000 bytes = 244.1 MiB, as DuckDB reports it (its default is 80% of RAM).
    assert settings == [("244.1 MiB", False)]
