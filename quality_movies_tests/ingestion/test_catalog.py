"""The local crawler: each file version read once, an unreadable file reported and never blocking."""

import gzip

import pytest

from quality_movies.lake import LocalCatalog, LocalLake
from quality_movies.lake import local as resources
from quality_movies.lake.inspect import InputProblem

GOOD = b"Series_Title,IMDB_Rating,Meta_score\nHeat,8.3,76\nUp,8.2,\n"
MORE = b'Series_Title,IMDB_Rating,Gross\nAlien,8.4,"78,900,000"\n'


@pytest.fixture
def lake(tmp_path) -> LocalLake:
    return LocalLake(root=str(tmp_path / "lake"), bucket="bucket")


@pytest.fixture
def catalog(tmp_path) -> LocalCatalog:
    return LocalCatalog(root=str(tmp_path / "catalog"), database="imdb-movies", table="input_data")


@pytest.fixture
def crawled(monkeypatch) -> list[str]:
    """The files the crawler reads, in order."""
    calls: list[str] = []
    crawl_file = resources.crawl_file

    def counting_crawl_file(path, source_file, **options):
        calls.append(source_file)
        return crawl_file(path, source_file, **options)

    monkeypatch.setattr(resources, "crawl_file", counting_crawl_file)
    return calls


def drop(lake: LocalLake, name: str, content: bytes) -> None:
    path = lake._path(lake.input_key(name))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def test_columns_are_merged_lower_cased_with_glue_types(lake, catalog):
    drop(lake, "a.csv", GOOD)
    drop(lake, "b.csv", MORE)
    table = catalog.crawl(lake)
    assert table.columns == [
        ("series_title", "string"),
        ("imdb_rating", "double"),
        ("meta_score", "bigint"),
        ("gross", "string"),
    ]
    assert table.files == ["input_data/a.csv", "input_data/b.csv"]
    assert table.unreadable == {}
    assert catalog.get_table() == table


def test_each_file_version_is_read_once(lake, catalog, crawled):
    for i in range(30):
        drop(lake, f"f{i:02}.csv", GOOD)
    catalog.crawl(lake)
    assert len(crawled) == 30
    crawled.clear()
    drop(lake, "new.csv", MORE)
    catalog.crawl(lake)
    assert crawled == ["new.csv"]
    crawled.clear()
    lake.upload(lake._path(lake.input_key("new.csv")), lake.input_key("f07.csv"))
    table = catalog.crawl(lake)
    assert crawled == ["f07.csv"]
    assert ("gross", "string") in table.columns
    crawled.clear()
    catalog.crawl(lake)
    assert crawled == []


def test_a_removed_file_leaves_the_table(lake, catalog):
    drop(lake, "a.csv", GOOD)
    drop(lake, "b.csv", MORE)
    catalog.crawl(lake)
    lake.delete(lake.input_key("b.csv"))
    table = catalog.crawl(lake)
    assert table.files == ["input_data/a.csv"]
    assert ("gross", "string") not in table.columns


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"Series_Title,IMDB_Rating\nAm\xe9lie,8.3\n", ["bad.csv, line 2:", "byte 0xE9", "UTF-8"]),
        (gzip.compress(GOOD), ["bad.csv: the file is gzip-compressed"]),
        (b"Series_Title,IMDB_Rating\nHeat,8.3,x\n", ["bad.csv, line 2:", "expected 2 fields"]),
        (b"a,b\n" + b"1," + b"x" * 5_000_000 + b"\n", ["bad.csv, line 2, column 2:", "2,000,000"]),
        (b"\x00\x01\x02binary", ["bad.csv, line 1:", "binary file"]),
    ],
    ids=["latin-1", "gzip", "ragged", "5-MB-field", "binary"],
)
def test_an_unreadable_file_is_reported_and_the_others_are_crawled(lake, catalog, content, words):
    drop(lake, "a.csv", GOOD)
    drop(lake, "bad.csv", content)
    drop(lake, "c.csv", MORE)
    table = catalog.crawl(lake)
    assert table.files == ["input_data/a.csv", "input_data/c.csv"]
    assert [c for c, _ in table.columns] == ["series_title", "imdb_rating", "meta_score", "gross"]
    assert list(table.unreadable) == ["input_data/bad.csv"]
    message = table.unreadable["input_data/bad.csv"]
    for word in words:
        assert word in message
    assert str(lake.root) not in message


def test_an_unreadable_file_is_read_once_and_forgotten_when_fixed(lake, catalog, crawled):
    drop(lake, "bad.csv", b"Series_Title,IMDB_Rating\nHeat,8.3,x\n")
    assert "input_data/bad.csv" in catalog.crawl(lake).unreadable
    assert "input_data/bad.csv" in catalog.crawl(lake).unreadable
    assert crawled == ["bad.csv"]
    lake.delete(lake.input_key("bad.csv"))
    drop(lake, "bad.csv", GOOD)
    table = catalog.crawl(lake)
    assert table.unreadable == {}
    assert table.files == ["input_data/bad.csv"]


def test_a_table_written_before_unreadable_existed_still_loads(catalog):
    path = catalog._path()
    path.parent.mkdir(parents=True)
    path.write_text(
        '{"classification": "csv", "columns": [["a", "string"]], "database": "d", '
        '"files": [], "location": "/x", "name": "t", "updated_at": ""}'
    )
    assert catalog.get_table().unreadable == {}


def test_what_the_inspection_found_is_not_read_again(lake, catalog, crawled, monkeypatch):
    drop(lake, "a.csv", GOOD)
    drop(lake, "bad.csv", b"Series_Title,IMDB_Rating\nHeat,8.3,x\n")
    a, bad = lake.head("input_data/a.csv"), lake.head("input_data/bad.csv")
    told = InputProblem("ragged_row", "bad.csv", "told by the inspection", "fix it", line=2)
    catalog.remember_inspections({a.key: (a.etag, None), bad.key: (bad.etag, told)})
    inspections: list[str] = []
    monkeypatch.setattr(
        "quality_movies.lake.inspect.inspect_file",
        lambda path, source_file, **_: inspections.append(source_file),
    )
    table = catalog.crawl(lake)
    assert crawled == ["a.csv"]
    assert inspections == []
    assert table.files == ["input_data/a.csv"]
    assert table.unreadable == {"input_data/bad.csv": told.message}
    assert catalog.inspection(a.key, a.etag) == (True, None)
    assert catalog.inspection(bad.key, bad.etag) == (True, told.message)
    assert catalog.inspection(a.key, "another-etag") == (False, None)


def test_an_inspection_of_an_older_version_is_not_trusted(lake, catalog, crawled):
    drop(lake, "a.csv", GOOD)
    catalog.remember_inspections({"input_data/a.csv": ("etag-of-an-older-version", None)})
    drop(lake, "a.csv", b"Series_Title,IMDB_Rating\nHeat,8.3,x\n")
    table = catalog.crawl(lake)
    assert crawled == ["a.csv"]
    assert list(table.unreadable) == ["input_data/a.csv"]


def test_a_file_missing_a_required_column_is_unusable_but_crawled(lake, catalog, crawled):
    drop(lake, "a.csv", b"Title,IMDB_Rating\nHeat,8.3\n")
    a = lake.head("input_data/a.csv")
    missing = InputProblem("missing_column", "a.csv", "the header has no series_title", "add it")
    catalog.remember_inspections({a.key: (a.etag, missing)})
    table = catalog.crawl(lake)
    assert table.columns == [("title", "string"), ("imdb_rating", "double")]
    assert table.unreadable == {}
    assert catalog.inspection(a.key, a.etag) == (True, missing.message)


def test_the_crawl_does_not_tell_the_gate_what_only_the_inspection_knows(lake, catalog):
    drop(lake, "a.csv", GOOD)
    catalog.crawl(lake)
    a = lake.head("input_data/a.csv")
    assert catalog.inspection(a.key, a.etag) == (False, None)


def test_the_gate_reads_each_new_inspection_not_a_remembered_one(lake, catalog):
    """The gate asks once per file of a batch and the file is parsed once per version of it; a
    later inspection (a new version of the input) is what the next question sees."""
    drop(lake, "a.csv", GOOD)
    a = lake.head("input_data/a.csv")
    assert catalog.inspection(a.key, a.etag) == (False, None)
    catalog.remember_inspections({a.key: (a.etag, None)})
    assert catalog.inspection(a.key, a.etag) == (True, None)
    told = InputProblem("ragged_row", "a.csv", "told by the inspection", "fix it", line=2)
    catalog.remember_inspections({a.key: ("etag-2", told)})
    assert catalog.inspection(a.key, a.etag) == (False, None)
    assert catalog.inspection(a.key, "etag-2") == (True, told.message)
    catalog._file_versions_path().write_text("{not json")
    assert catalog.inspection(a.key, "etag-2") == (False, None)
