"""The warehouse contract: the seed's mapping, the split of rule-passing rows, pandera where the rows are.

Expected values come from the contract as written (types of the seed's ApplyMapping, bounds of the
pandera schema), worked out by hand for each row.
"""

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from quality_movies.contract import (
    REQUIRED_COLUMNS,
    ContractViolation,
    check_contract_in_duckdb,
    mapping_select,
    split_by_contract,
    validated_movies_schema,
)


def test_mapping_types_follow_the_seeds_apply_mapping():
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE good AS SELECT '9.1' AS imdb_rating, ' 74 ' AS meta_score, "
        "'2343110' AS no_of_votes, '28,341,469' AS gross, 'Crime, Drama' AS genre"
    )
    present = ["imdb_rating", "meta_score", "no_of_votes", "gross", "genre"]
    row = con.execute(f"SELECT {', '.join(mapping_select(present))} FROM good").fetchone()
    mapped = dict(zip([d[0] for d in con.description], row, strict=True))
    assert mapped["imdb_rating"] == 9.1
    assert mapped["meta_score"] == 74
    assert mapped["no_of_votes"] == 2343110
    assert mapped["gross"] == "28,341,469"  # a string in the seed's mapping, commas kept
    assert mapped["genre"] == "Crime, Drama"
    assert mapped["poster_link"] is None  # absent from the file: NULL, not an error


def test_required_columns_are_the_non_nullable_ones():
    assert REQUIRED_COLUMNS == ("series_title", "imdb_rating")


def write_good_rows(path: Path, rows: list[tuple]) -> None:
    """Rule-passing rows as the engine leaves them: text columns plus the row-level lists."""
    values = ", ".join(
        "(" + ", ".join("NULL" if v is None else "'" + v + "'" for v in row) + ", ['r1'], ['s1'])"
        for row in rows
    )
    duckdb.sql(
        f"COPY (SELECT * FROM (VALUES {values}) AS t(series_title, imdb_rating, meta_score, "
        f'no_of_votes, "DataQualityRulesPass", "DataQualityRulesSkip")) TO \'{path}\' '
        "(FORMAT PARQUET)"
    )


def test_rows_breaking_the_contract_become_bad_records_with_reasons(tmp_path):
    good = tmp_path / "good.parquet"
    write_good_rows(
        good,
        [
            ("Kept", "9.0", "80", "10"),
            ("Words", "9.1", "eighty", "5"),
            ("Too high", "9.2", "150", "7"),
            ("Blank score", "8.9", " ", "3"),
            (None, "11", "-1", "x"),
        ],
    )
    split = split_by_contract(
        str(good), str(tmp_path / "v.parquet"), str(tmp_path / "r.jsonl"), "movies.csv"
    )
    assert (split.validated_rows, split.rejected_rows) == (2, 3)
    validated = duckdb.sql(
        f"SELECT series_title, imdb_rating, meta_score, no_of_votes, source_file "
        f"FROM '{tmp_path / 'v.parquet'}' ORDER BY series_title"
    ).fetchall()
    assert validated == [
        ("Blank score", 8.9, None, 3, "movies.csv"),
        ("Kept", 9.0, 80, 10, "movies.csv"),
    ]
    rejected = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    by_title = {r["series_title"]: r for r in rejected}
    assert by_title["Words"]["DataQualityRulesFail"] == [
        "Contract: meta_score 'eighty' is not a BIGINT"
    ]
    assert by_title["Words"]["meta_score"] == "eighty"  # the row as it was read
    assert by_title["Words"]["DataQualityRulesPass"] == ["r1"]
    assert by_title["Words"]["DataQualityRulesSkip"] == ["s1"]
    assert by_title["Words"]["DataQualityEvaluationResult"] == "Failed"
    assert by_title["Too high"]["DataQualityRulesFail"] == ["Contract: meta_score 150 is above 100"]
    assert by_title[None]["DataQualityRulesFail"] == [
        "Contract: series_title is empty",
        "Contract: imdb_rating 11 is above 10.3",
        "Contract: meta_score -1 is below 0",
        "Contract: no_of_votes 'x' is not a BIGINT",
    ]


def test_when_every_row_keeps_the_contract_the_rejected_file_is_empty(tmp_path):
    good = tmp_path / "good.parquet"
    write_good_rows(good, [("Kept", "9.0", "80", "10"), ("Blank score", "8.9", " ", "3")])
    rejected = tmp_path / "r.jsonl"
    rejected.write_text("left by an earlier attempt\n")
    split = split_by_contract(str(good), str(tmp_path / "v.parquet"), str(rejected), "movies.csv")
    assert (split.validated_rows, split.rejected_rows) == (2, 0)
    assert rejected.read_bytes() == b""
    assert duckdb.sql(f"SELECT count(*) FROM '{tmp_path / 'v.parquet'}'").fetchall() == [(2,)]


def test_a_missing_required_column_is_named(tmp_path):
    good = tmp_path / "good.parquet"
    duckdb.sql(f"COPY (SELECT 'A' AS series_title, '1' AS meta_score) TO '{good}' (FORMAT PARQUET)")
    with pytest.raises(
        ContractViolation, match="movies.csv: required column imdb_rating is missing"
    ):
        split_by_contract(
            str(good), str(tmp_path / "v.parquet"), str(tmp_path / "r.jsonl"), "movies.csv"
        )


def validated_parquet(path: Path, **overrides) -> str:
    row = {
        "poster_link": "'p'", "series_title": "'Film'", "released_year": "'1994'",
        "certificate": "'A'", "runtime": "'142 min'", "genre": "'Drama'",
        "imdb_rating": "9.0::DOUBLE", "overview": "'o'", "meta_score": "80::BIGINT",
        "director": "'d'", "star1": "'a'", "star2": "'b'", "star3": "'c'", "star4": "'d'",
        "no_of_votes": "1000::BIGINT", "gross": "'1'", "source_file": "'a.csv'",
    }  # fmt: skip
    row.update(overrides)
    select = ", ".join(f"{value} AS {name}" for name, value in row.items())
    duckdb.sql(f"COPY (SELECT {select}) TO '{path}' (FORMAT PARQUET)")
    return str(path)


def test_pandera_ibis_checks_the_validated_tables_in_duckdb(tmp_path):
    ok = validated_parquet(tmp_path / "ok.parquet")
    also_ok = validated_parquet(tmp_path / "also_ok.parquet", meta_score="NULL::BIGINT")
    assert check_contract_in_duckdb({"a.csv": ok, "b.csv": also_ok}) == {}
    too_high = validated_parquet(tmp_path / "high.parquet", meta_score="140::BIGINT")
    no_title = validated_parquet(tmp_path / "title.parquet", series_title="NULL::VARCHAR")
    broken = check_contract_in_duckdb({"a.csv": ok, "high.csv": too_high, "title.csv": no_title})
    assert sorted(broken) == ["high.csv", "title.csv"]
    assert broken["high.csv"].startswith("high.csv: ") and "meta_score" in broken["high.csv"]
    assert "series_title" in broken["title.csv"]


def test_a_file_without_validated_rows_keeps_the_contract(tmp_path):
    """Every row of such a file is a bad record: an empty table breaks no column check, alone or
    beside a file that does break one."""
    empty = validated_parquet(tmp_path / "empty.parquet")
    duckdb.sql(f"COPY (FROM '{empty}' LIMIT 0) TO '{tmp_path / 'none.parquet'}' (FORMAT PARQUET)")
    none = str(tmp_path / "none.parquet")
    assert check_contract_in_duckdb({"none.csv": none}) == {}
    too_high = validated_parquet(tmp_path / "high.parquet", meta_score="140::BIGINT")
    assert sorted(check_contract_in_duckdb({"none.csv": none, "high.csv": too_high})) == [
        "high.csv"
    ]


def test_pandas_schema_states_the_same_contract():
    schema = validated_movies_schema()
    frame = pd.DataFrame(
        [{"series_title": "Film", "imdb_rating": 9.0, "meta_score": 80, "no_of_votes": 10}]
    )
    for name in schema.columns:
        if name not in frame:
            frame[name] = None if name != "source_file" else "a.csv"
    for column in ("meta_score", "no_of_votes"):
        frame[column] = frame[column].astype("Int64")
    schema.validate(frame)
    broken = frame.assign(meta_score=pd.array([140], dtype="Int64"))
    with pytest.raises(Exception, match="meta_score"):
        schema.validate(broken)


def test_splits_after_one_that_spilled_still_spill_into_their_own_folder(tmp_path):
    """Splits share the process's in-memory DuckDB; DuckDB cannot move a database's spill folder once it
    has spilled, so a split after a spill must still run (and spill where it is told)."""
    from quality_movies.dq.duckdb_engine import shared_connection

    first = tmp_path / "spill-a"
    con = shared_connection(str(first))
    con.execute("SET memory_limit = '50MB'")
    con.execute("CREATE TEMP TABLE big AS SELECT md5(i::VARCHAR) AS h FROM range(3000000) t(i)")
    assert any(first.iterdir())  # the table did not fit: DuckDB spilled it
    con.close()
    good = tmp_path / "good.parquet"
    write_good_rows(good, [("Kept", "9.0", "80", "10"), ("Too high", "9.2", "150", "7")])
    split = split_by_contract(
        str(good),
        str(tmp_path / "v.parquet"),
        str(tmp_path / "r.jsonl"),
        "movies.csv",
        temp_directory=str(tmp_path / "spill-b"),
    )
    assert (split.validated_rows, split.rejected_rows) == (1, 1)
    con = shared_connection(None)
    try:
        (folder,) = con.execute("SELECT current_setting('temp_directory')").fetchone()
    finally:
        con.close()
    assert folder == str(tmp_path / "spill-b")
