"""raw_movies and movies_catalog_table over runs of one or many files: a bad file fails alone."""

import dagster as dg
import pytest

from quality_movies.ingestion.assets import inspect_input, movies_catalog_table, raw_movies
from quality_movies.lake import LocalCatalog, LocalLake
from quality_movies.lake import local as resources
from quality_movies.partitions import movie_files

GOOD = b"Series_Title,IMDB_Rating,Meta_score\r\nHeat,8.3,76\r\nUp,8.2,\r\n"
LATIN1 = b"Series_Title,IMDB_Rating,Meta_score\r\nHeat,8.3,76\r\nAm\xe9lie,8.3,69\r\n"
NO_TITLE = b"Title,IMDB_Rating\r\nHeat,8.3\r\n"
# header 37 bytes + "Heat,8.3,76\r\n" 13 = 50, then "Am": 0xE9 at offset 52 (from 0).
LATIN1_MESSAGE = (
    "b.csv, line 3: byte 0xE9 at byte offset 52 is not UTF-8 (perhaps the file was saved as "
    "Latin-1 or Windows-1252); save the file as CSV UTF-8 and upload it again"
)


@pytest.fixture
def lake(tmp_path) -> LocalLake:
    return LocalLake(root=str(tmp_path / "lake"), bucket="bucket")


@pytest.fixture
def inspected_by_crawl(monkeypatch) -> list[str]:
    """The files the crawl inspects itself (instead of taking raw_movies' inspection)."""
    calls: list[str] = []
    crawl_file = resources.crawl_file

    def recording_crawl_file(path, source_file, *, inspect=True, **options):
        if inspect:
            calls.append(source_file)
        return crawl_file(path, source_file, inspect=inspect, **options)

    monkeypatch.setattr(resources, "crawl_file", recording_crawl_file)
    return calls


@pytest.fixture
def crawls(tmp_path, monkeypatch) -> list[int]:
    """The number of crawls each run made (one entry per crawl)."""
    calls: list[int] = []
    crawl = LocalCatalog.crawl

    def counting_crawl(self, lake):
        calls.append(1)
        return crawl(self, lake)

    monkeypatch.setattr(LocalCatalog, "crawl", counting_crawl)
    return calls


def run(lake: LocalLake, tmp_path, files: dict[str, bytes]) -> dg.ExecuteInProcessResult:
    """One run of both assets over the contiguous range of ``files``."""
    for name, content in files.items():
        path = lake._path(lake.input_key(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    names = list(files)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(movie_files.name, names)
    return dg.materialize(
        [raw_movies, movies_catalog_table],
        instance=instance,
        resources={"lake": lake, "catalog": LocalCatalog(root=str(tmp_path / "catalog"))},
        tags={
            "dagster/asset_partition_range_start": names[0],
            "dagster/asset_partition_range_end": names[-1],
        },
        raise_on_error=False,
    )


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    [event] = [e for e in result.get_step_success_events() if e.step_key == asset] or [None]
    assert event is not None, f"{asset} did not succeed"
    [materialization] = [m for m in result.asset_materializations_for_node(asset)][:1]
    return {k: v.value for k, v in materialization.metadata.items()}


def test_a_bad_file_in_a_batch_is_reported_and_the_others_go_on(
    lake, tmp_path, crawls, inspected_by_crawl
):
    result = run(lake, tmp_path, {"a.csv": GOOD, "b.csv": LATIN1, "c.csv": NO_TITLE, "d.csv": GOOD})
    assert result.success
    raw = metadata(result, "raw_movies")
    assert raw["unreadable_files"] == {
        "b.csv": LATIN1_MESSAGE,
        "c.csv": raw["unreadable_files"]["c.csv"],
    }
    assert raw["unreadable_files"]["c.csv"].startswith(
        "c.csv, line 1: the header has no series_title column"
    )
    assert (raw["files"], raw["unreadable_count"]) == (4, 2)
    assert raw["size_bytes"] == 2 * len(GOOD)
    catalog = metadata(result, "movies_catalog_table")
    # c.csv is a readable CSV: only the warehouse needs the column it misses.
    assert catalog["unreadable_files"] == {"b.csv": LATIN1_MESSAGE}
    assert catalog["files_crawled"] == 3
    assert len(crawls) == 1
    assert inspected_by_crawl == []
    assert sorted(
        m.partition for m in result.asset_materializations_for_node("movies_catalog_table")
    ) == ["a.csv", "b.csv", "c.csv", "d.csv"]


def test_a_run_of_one_bad_file_fails_at_the_first_step_with_its_message(lake, tmp_path, crawls):
    result = run(lake, tmp_path, {"b.csv": LATIN1})
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "raw_movies"
    error = failure.step_failure_data.user_failure_data
    assert error.description == LATIN1_MESSAGE
    assert error.metadata["failed_files"].value == {"b.csv": LATIN1_MESSAGE}
    assert crawls == []


def test_a_later_run_goes_on_beside_a_bad_file_left_in_the_folder(lake, tmp_path, crawls):
    assert not run(lake, tmp_path, {"b.csv": LATIN1}).success
    result = run(lake, tmp_path, {"e.csv": GOOD})
    assert result.success
    assert crawls == [1]
    assert metadata(result, "raw_movies")["unreadable_files"] == {}
    catalog = metadata(result, "movies_catalog_table")
    assert catalog["files_crawled"] == 1
    assert catalog["unreadable_files"] == {"b.csv": LATIN1_MESSAGE}


def test_a_run_of_one_good_file_shows_its_header_and_preview(lake, tmp_path):
    result = run(lake, tmp_path, {"a.csv": GOOD})
    raw = metadata(result, "raw_movies")
    assert [c.name for c in raw["dagster/column_schema"].columns] == [
        "Series_Title",
        "IMDB_Rating",
        "Meta_score",
    ]
    assert raw["size_bytes"] == len(GOOD)
    assert "| Heat | 8.3 | 76 |" in raw["preview"]
    catalog = metadata(result, "movies_catalog_table")
    assert [c.name for c in catalog["dagster/column_schema"].columns] == [
        "series_title",
        "imdb_rating",
        "meta_score",
    ]


def test_the_verdict_is_that_of_the_version_it_names(lake):
    path = lake._path(lake.input_key("a.csv"))
    path.parent.mkdir(parents=True)
    path.write_bytes(LATIN1)
    opened = []
    open_object = LocalLake.open

    def open_then_replace(self, key):
        opened.append(key)
        if len(opened) == 1:
            path.write_bytes(GOOD + b"Alien,8.4,89\r\n")  # an upload lands during the read
        return open_object(self, key)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LocalLake, "open", open_then_replace)
        raw = inspect_input(lake, "a.csv")
    assert len(opened) == 2
    assert raw.inspection is None
    assert raw.obj.etag == lake.head("input_data/a.csv").etag


def test_a_file_removed_before_its_run_is_told_so(lake):
    raw = inspect_input(lake, "gone.csv")
    assert raw.problem.startswith("gone.csv: the file is no longer in ")
    assert raw.problem.endswith("upload it again to process it")
