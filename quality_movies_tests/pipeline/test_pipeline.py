"""The whole graph on the embedded defaults, with expected counts derived from the generated ratings."""

import csv
import json
from decimal import Decimal
from pathlib import Path

import dagster as dg

from quality_movies.pipeline_runs import file_outcomes
from quality_movies.sample import write_sample

SEED_HEADER_LOWER = [
    "poster_link", "series_title", "released_year", "certificate", "runtime", "genre",
    "imdb_rating", "overview", "meta_score", "director", "star1", "star2", "star3", "star4",
    "no_of_votes", "gross",
]  # fmt: skip


def jsonl(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_sample_file_travels_the_whole_lineage(platform, tmp_path):
    stats = write_sample(tmp_path / "movies.csv", rows=300, seed=11)
    source = platform.ingest(stats.path)

    result = platform.run_file(source)
    assert result.success

    lake = platform.lake
    bad = jsonl(lake.uri(lake.bad_records_key(source)))
    assert len(bad) == stats.expected_bad
    assert all(r["DataQualityEvaluationResult"] == "Failed" for r in bad)
    assert all(
        'ColumnValues "imdb_rating" between 8.5 and 10.3' in r["DataQualityRulesFail"] for r in bad
    )
    movies = platform.warehouse.fetch_movies(source)
    assert len(movies) == stats.expected_good
    assert all(8.5 < rating < 10.3 for rating in movies["imdb_rating"])
    assert set(movies["source_file"]) == {source}
    assert str(movies["imdb_rating"].dtype) == "float64"
    assert str(movies["meta_score"].dtype) in {"Int64", "float64"}

    outcomes = jsonl(lake.uri(lake.rule_outcomes_key(source)))
    seed_rule = next(o for o in outcomes if o["Rule"].startswith('ColumnValues "imdb_rating"'))
    assert seed_rule["Outcome"] == ("Passed" if stats.expected_bad == 0 else "Failed")
    assert set(seed_rule) == {
        "Rule",
        "Outcome",
        "FailureReason",
        "EvaluatedMetrics",
        "EvaluatedRule",
        "Labels",
    }

    checks = check_results(result)
    assert checks["rows_conserved"].passed
    assert (
        checks["columnvalues_imdb_rating_between_8_5_and_10_3"].passed is False
    )  # the sample has bad ratings

    table = platform.env.resources()["catalog"].get_table()
    assert (table.database, table.name) == ("imdb-movies", "input_data")
    assert [name for name, _ in table.columns] == SEED_HEADER_LOWER
    types = dict(table.columns)
    assert types["imdb_rating"] == "double"
    assert types["released_year"] == "string"  # one year is "PG", as in the seed data
    assert types["no_of_votes"] == "bigint"

    view = platform.refresh()
    assert view.success
    aggregated = platform.warehouse.refresh_year_aggregated()
    assert int(aggregated["movie_count"].sum()) == stats.expected_good


def test_rerunning_a_file_changes_nothing(platform, tmp_path):
    stats = write_sample(tmp_path / "movies.csv", rows=120, seed=3)
    source = platform.ingest(stats.path)
    assert platform.run_file(source).success
    first = platform.warehouse.fetch_movies(source).drop(columns=["loaded_at"])
    first_bad = Path(platform.lake.uri(platform.lake.bad_records_key(source))).read_text()

    assert platform.run_file(source).success
    again = platform.warehouse.fetch_movies(source).drop(columns=["loaded_at"])
    assert again.equals(first)
    assert Path(platform.lake.uri(platform.lake.bad_records_key(source))).read_text() == first_bad
    assert platform.warehouse.row_counts() == {source: stats.expected_good}


def test_a_changed_file_replaces_its_rows_and_leaves_other_files_alone(platform, tmp_path):
    big = write_sample(tmp_path / "a.csv", rows=200, seed=5)
    other = write_sample(tmp_path / "b.csv", rows=50, seed=6)
    platform.ingest(big.path, "movies.csv")
    platform.ingest(other.path, "other.csv")
    assert platform.run_file("movies.csv").success
    assert platform.run_file("other.csv").success

    small = write_sample(tmp_path / "c.csv", rows=40, seed=9)
    platform.ingest(small.path, "movies.csv")
    assert platform.run_file("movies.csv").success
    assert platform.warehouse.row_counts() == {
        "movies.csv": small.expected_good,
        "other.csv": other.expected_good,
    }
    bad = jsonl(platform.lake.uri(platform.lake.bad_records_key("movies.csv")))
    assert len(bad) == small.expected_bad


def test_seed_file_splits_exactly_as_glue_would(platform, seed_csv):
    with seed_csv.open(newline="", encoding="utf-8") as f:
        ratings = [Decimal(row["IMDB_Rating"]) for row in csv.DictReader(f)]
    # Glue's `between` is exclusive at both ends (AWS DQDL reference).
    expected_good = sum(Decimal("8.5") < r < Decimal("10.3") for r in ratings)
    expected_bad = len(ratings) - expected_good

    source = platform.ingest(seed_csv)
    result = platform.run_file(source)
    assert result.success
    assert platform.warehouse.row_counts() == {source: expected_good}
    bad = jsonl(platform.lake.uri(platform.lake.bad_records_key(source)))
    assert len(bad) == expected_bad
    good_titles = set(platform.warehouse.fetch_movies(source)["series_title"])
    assert not good_titles & {r["series_title"] for r in bad}
    assert all(Decimal(r["imdb_rating"]) <= Decimal("8.5") for r in bad)


def test_one_run_over_many_files_keeps_per_file_outcomes_and_a_bad_file_fails_alone(
    platform, tmp_path
):
    first = write_sample(tmp_path / "first.csv", rows=80, seed=21)
    last = write_sample(tmp_path / "last.csv", rows=60, seed=22)
    twice = tmp_path / "twice.csv"
    twice.write_text("Series_Title,IMDB_Rating,Series_Title\nFilm,9.1,Film\n")
    files = [platform.ingest(first.path), platform.ingest(twice), platform.ingest(last.path)]

    result = platform.run_files(files)
    assert not result.success  # the run says a file failed
    outcomes = {o.source_file: o for o in file_outcomes(platform.instance, result.dagster_run)}
    assert [outcomes[f].processed for f in files] == [True, False, True]
    assert outcomes["twice.csv"].reason.startswith("twice.csv, line 1, column 3")
    assert outcomes["first.csv"].summary["rows_loaded"] == first.expected_good
    assert outcomes["last.csv"].summary["bad_rows"] == last.expected_bad
    assert platform.warehouse.row_counts() == {
        "first.csv": first.expected_good,
        "last.csv": last.expected_good,
    }
    loaded = {
        e.materialization.partition
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key == dg.AssetKey("imdb_movies_rating")
    }
    assert loaded == {"first.csv", "last.csv"}
    conserved = {
        e.partition: e.passed
        for e in result.get_asset_check_evaluations()
        if e.check_name == "rows_conserved"
    }
    assert conserved == {"first.csv": True, "last.csv": True}
