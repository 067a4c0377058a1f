"""The warehouse contract: schema mapping of the seed's Glue job and the pandera type on validated_movies."""

import dagster as dg
import duckdb
import pandas as pd
import pytest

from quality_movies.quality.assets import ValidatedMovies
from quality_movies.warehouse.contract import (
    ContractViolation,
    mapping_select,
    write_validated_movies,
)


def good_movie(**overrides) -> dict:
    row = {name: None for name in [
        "poster_link", "series_title", "released_year", "certificate", "runtime", "genre",
        "imdb_rating", "overview", "meta_score", "director", "star1", "star2", "star3", "star4",
        "no_of_votes", "gross",
    ]}  # fmt: skip
    row.update(series_title="Film", imdb_rating=9.0, meta_score=80, no_of_votes=1000)
    row["source_file"] = "a.csv"
    row.update(overrides)
    frame = pd.DataFrame([row])
    for column in ("meta_score", "no_of_votes"):
        frame[column] = frame[column].astype("Int64")
    return frame


def test_mapping_types_follow_the_seeds_apply_mapping():
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE good AS SELECT '9.1' AS imdb_rating, ' 74 ' AS meta_score, "
        "'2343110' AS no_of_votes, '28,341,469' AS gross, 'Crime, Drama' AS genre"
    )
    present = ["imdb_rating", "meta_score", "no_of_votes", "gross", "genre"]
    row = con.execute(f"SELECT {', '.join(mapping_select(present))} FROM good").fetchone()
    names = [d[0] for d in con.description]
    mapped = dict(zip(names, row, strict=True))
    assert mapped["imdb_rating"] == 9.1
    assert mapped["meta_score"] == 74
    assert mapped["no_of_votes"] == 2343110
    assert mapped["gross"] == "28,341,469"  # a string in the seed's mapping, commas kept
    assert mapped["genre"] == "Crime, Drama"
    assert mapped["poster_link"] is None  # absent from the file: NULL, not an error


def test_contract_accepts_a_good_row_and_rejects_broken_ones():
    assert dg.check_dagster_type(ValidatedMovies, good_movie()).success
    assert not dg.check_dagster_type(ValidatedMovies, good_movie(series_title=None)).success
    assert not dg.check_dagster_type(ValidatedMovies, good_movie(imdb_rating=11.5)).success
    assert not dg.check_dagster_type(ValidatedMovies, good_movie(meta_score=140)).success
    extra = good_movie()
    extra["unexpected"] = "x"
    assert not dg.check_dagster_type(ValidatedMovies, extra).success


def test_unconvertible_value_names_file_line_and_column(tmp_path):
    raw = tmp_path / "raw.csv"
    raw.write_text('Series_Title,IMDB_Rating,No_of_Votes\nA,9.0,10\n"B, the film",9.2,lots\n')
    good = tmp_path / "good.parquet"
    duckdb.sql(
        f"COPY (SELECT * FROM read_csv('{raw}', all_varchar=true, normalize_names=true)) "
        f"TO '{good}' (FORMAT parquet)"
    )
    with pytest.raises(ContractViolation, match=r"raw.csv, line 3, column no_of_votes: 'lots'"):
        write_validated_movies(str(good), str(tmp_path / "out.parquet"), "raw.csv", str(raw))
    assert not (tmp_path / "out.parquet").exists()
