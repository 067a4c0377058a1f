"""The ``recommended_ruleset`` asset: a ruleset recommended from the newest input files of the lake, stored
under reports/, with its diff against the ruleset in force."""

import os
from pathlib import Path

import dagster as dg

from quality_movies.dq import parse_ruleset
from quality_movies.lake import LocalLake
from quality_movies.quality.assets import (
    RECOMMENDED_RULESET_KEY,
    recommended_ruleset,
    ruleset_diff,
)
from quality_movies.quality.resources import EmbeddedQualityJobRunner

HEADER = "Series_Title,IMDB_Rating,Certificate\n"


def _put(lake_root: Path, name: str, rows: str, modified: float) -> None:
    path = lake_root / "quality-movie-bucket" / "input_data" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(rows, encoding="utf-8")
    os.utime(path, (modified, modified))


def test_the_asset_recommends_from_the_newest_files_and_shows_the_diff(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    # Six files: the oldest (a rating of 1.0) is left out, the newest five give 2 rows each.
    _put(root, "old.csv", HEADER + "Z,1.0,A\nY,1.1,A\n", 1_000)
    for i in range(5):
        _put(root, f"f{i}.csv", HEADER + f"T{i}a,8.{i},A\nT{i}b,9.{i},U\n", 2_000 + i)
    rules = tmp_path / "rules.dqdl"
    rules.write_text('Rules = [ ColumnValues "imdb_rating" between 8.5 and 10.3 ]\n')
    result = dg.materialize(
        [recommended_ruleset],
        resources={
            "lake": LocalLake(root=str(root)),
            "quality_job": EmbeddedQualityJobRunner(
                work_dir=str(tmp_path / "work"), ruleset_path=str(rules)
            ),
        },
    )
    assert result.success
    [materialization] = result.asset_materializations_for_node("recommended_ruleset")
    metadata = materialization.metadata
    assert metadata["rows"].value == 10
    assert sorted(metadata["files"].value) == [f"input_data/f{i}.csv" for i in range(5)]
    stored = (root / "quality-movie-bucket" / RECOMMENDED_RULESET_KEY).read_text()
    # 10 ratings from 8.0 to 9.4 (one decimal): one step of 0.1 beyond each end.
    assert 'ColumnValues "imdb_rating" between 7.9 and 9.5' in stored
    assert 'ColumnValues "certificate" in ["A", "U"]' in stored
    assert len(parse_ruleset(stored).rules) > 5
    diff = metadata["diff_against_ruleset_in_force"].value
    assert '-Rules = [ ColumnValues "imdb_rating" between 8.5 and 10.3 ]' in diff
    assert '+    ColumnValues "imdb_rating" between 7.9 and 9.5,' in diff


def test_ruleset_diff_is_empty_for_the_same_text() -> None:
    assert ruleset_diff("Rules = [ RowCount > 0 ]\n", "Rules = [ RowCount > 0 ]\n") == ""
