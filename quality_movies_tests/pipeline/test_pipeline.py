"""The whole graph on the embedded defaults, with expected counts derived from the generated ratings."""

import csv
import json
from decimal import Decimal
from pathlib import Path

import dagster as dg

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
    }

    checks = check_results(result)
    assert checks["rows_conserved"].passed
    assert checks["rule_1_columnvalues_imdb_rating"].passed is False  # the sample has bad ratings

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


def test_a_value_the_warehouse_cannot_type_fails_the_run_naming_line_and_column(platform, tmp_path):
    stats = write_sample(tmp_path / "movies.csv", rows=30, seed=2)
    rows = list(csv.reader(stats.path.open(newline="", encoding="utf-8")))
    header = rows[0]
    rating, meta = header.index("IMDB_Rating"), header.index("Meta_score")
    target = next(
        i
        for i, row in enumerate(rows[1:], start=1)
        if Decimal("8.5") < Decimal(row[rating]) < Decimal("10.3")
    )
    rows[target][meta] = "eighty"
    broken = tmp_path / "broken.csv"
    with broken.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    source = platform.ingest(broken)

    result = platform.run_file(source)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    message = error.message + (error.cause.message if error.cause else "")
    assert f"line {target + 1}" in message and "meta_score" in message and "eighty" in message
    assert platform.warehouse.row_counts() == {}
    lake = platform.lake
    assert lake.list_objects(lake.bad_records_prefix) == []
    assert lake.list_objects(lake.rule_outcomes_prefix) == []
