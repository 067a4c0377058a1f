"""The public API other parts of the platform call: evaluate_file options, evaluate_spark, errors."""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from quality_movies.dq import (
    ROW_LEVEL_COLUMNS,
    DataFile,
    evaluate_file,
    evaluate_spark,
    parse_ruleset,
    read_csv_spark,
)
from quality_movies_tests.dq.lines import sorted_lines

RULES = parse_ruleset('Rules = [ ColumnValues "imdb_rating" between 8.5 and 10.3, RowCount > 0 ]')
TRICKY_CSV = (
    "Series_Title , IMDB_Rating,Genre\n"
    '"Amélie",8.3,"Comedy, Romance"\n'
    '"Tab\tand \\ backslash ""quoted""",9.1,\n'
    '"Line\nbreak",8.9,Drama\n'
)
PROJECTION = ["series_title", "TRY_CAST(imdb_rating AS DOUBLE) AS imdb_rating"]


def _write(tmp_path: Path) -> Path:
    data = tmp_path / "tricky.csv"
    data.write_text(TRICKY_CSV, encoding="utf-8")
    return data


def test_evaluate_file_writes_parquet_with_projection(tmp_path: Path) -> None:
    summary = evaluate_file(
        RULES,
        _write(tmp_path),
        tmp_path / "out",
        good_parquet=True,
        good_projection=PROJECTION,
        source_name="input_data/tricky.csv",
    )
    assert (summary.source, summary.rows_read, summary.good_rows, summary.bad_rows) == (
        "input_data/tricky.csv",
        3,
        2,
        1,
    )
    assert not summary.all_passed
    assert set(summary.outputs) == {"rule_outcomes", "bad_records", "good_parquet"}
    rows = duckdb.sql(f"SELECT * FROM '{summary.outputs['good_parquet']}'").fetchall()
    assert sorted(rows) == [("Line\nbreak", 8.9), ('Tab\tand \\ backslash "quoted"', 9.1)]
    bad = json.loads(summary.outputs["bad_records"].read_text(encoding="utf-8"))
    assert bad["series_title"] == "Amélie" and bad["genre"] == "Comedy, Romance"
    assert list(bad)[-4:] == list(ROW_LEVEL_COLUMNS)


def test_unknown_column_in_where_clause_is_a_failed_rule(tmp_path: Path) -> None:
    rules = parse_ruleset('Rules = [ ColumnValues "imdb_rating" > 1 where "year > 2000" ]')
    summary = evaluate_file(rules, _write(tmp_path), tmp_path / "out")
    [outcome] = summary.rule_outcomes
    assert outcome.outcome == "Failed"
    assert "'year' does not exist" in outcome.failure_reason
    assert "series_title, imdb_rating, genre" in outcome.failure_reason
    assert (summary.good_rows, summary.bad_rows) == (0, 3)  # no row is validated by it


@pytest.mark.spark
def test_evaluate_spark_annotates_and_splits(spark, tmp_path: Path) -> None:
    frame = read_csv_spark(spark, _write(tmp_path))
    assert frame.columns == ["series_title", "imdb_rating", "genre"]
    evaluation = evaluate_spark(RULES, frame)
    assert evaluation.annotated.columns == [*frame.columns, *ROW_LEVEL_COLUMNS]
    assert (evaluation.rows_read, evaluation.good_rows, evaluation.bad_rows) == (3, 2, 1)
    bad = evaluation.bad.collect()
    assert [row.series_title for row in bad] == ["Amélie"]
    assert bad[0].DataQualityRulesFail == ['ColumnValues "imdb_rating" between 8.5 and 10.3']
    assert bad[0].DataQualityRulesSkip == ["RowCount > 0"]
    assert evaluation.good.count() == 2
    assert [o.outcome for o in evaluation.rule_outcomes] == ["Failed", "Passed"]


@pytest.mark.spark
def test_spark_and_duckdb_write_identical_files_for_tricky_text(spark, tmp_path: Path) -> None:
    data = _write(tmp_path)
    outputs = {}
    for engine in ("duckdb", "spark"):
        summary = evaluate_file(
            RULES,
            data,
            tmp_path / engine,
            engine=engine,
            spark=spark,
            write_good_jsonl=True,
            good_parquet=True,
            good_projection=PROJECTION,
        )
        outputs[engine] = summary.outputs
    assert (
        outputs["spark"]["rule_outcomes"].read_bytes()
        == outputs["duckdb"]["rule_outcomes"].read_bytes()
    )
    for key in ("bad_records", "good_records"):
        assert sorted_lines(outputs["spark"][key]) == sorted_lines(outputs["duckdb"][key]), key
    read = [
        sorted(duckdb.sql(f"SELECT * FROM '{outputs[e]['good_parquet']}'").fetchall())
        for e in outputs
    ]
    assert read[0] == read[1]


def test_reference_as_parquet_for_a_warehouse_table(tmp_path: Path) -> None:
    # The pipeline passes the warehouse table as a Parquet export: "no movie already loaded".
    # Titles A and B are loaded already: 1 of 3 incoming titles is new, so the rule fails.
    warehouse = tmp_path / "imdb_movies_rating.parquet"
    duckdb.sql(
        "SELECT * FROM (VALUES ('A', 8.5), ('B', 9.0)) AS t(Series_Title, imdb_rating)"
    ).write_parquet(str(warehouse))
    data = tmp_path / "new.csv"
    data.write_text("series_title\nA\nB\nC\n", encoding="utf-8")
    rules = parse_ruleset(
        'DataSources = { "AdditionalDataSources": ["loaded"] }\n'
        'Rules = [ ReferentialIntegrity "series_title" "loaded.series_title" = 0 ]'
    )
    summary = evaluate_file(rules, data, tmp_path / "out", references={"loaded": warehouse})
    [outcome] = summary.rule_outcomes
    assert outcome.outcome == "Failed"
    assert outcome.evaluated_metrics == {"Column.loaded.ReferentialIntegrity": pytest.approx(2 / 3)}


@dataclass
class _Listing:
    """A FileListing as the pipeline gives one: files named by their lake URI."""

    files: dict[str, DataFile]
    current_uri: str

    def current(self) -> DataFile:
        return self.files[self.current_uri]

    def list(self, uri: str) -> list[DataFile]:
        return [f for name, f in self.files.items() if name == uri or name.startswith(uri)]


def test_file_rules_read_the_listing_the_caller_gives(tmp_path: Path) -> None:
    # FileSize "s3://lake/input_data/" > 5 B: 1 of the 2 files under the prefix is larger.
    data = tmp_path / "a.csv"
    data.write_text("id\n1\n", encoding="utf-8")

    def file(uri: str, size: int) -> DataFile:
        return DataFile(uri, size, datetime(2024, 6, 10, 11), lambda: iter([b"x" * size]))

    listing = _Listing(
        {
            "s3://lake/input_data/a.csv": file("s3://lake/input_data/a.csv", 5),
            "s3://lake/input_data/b.csv": file("s3://lake/input_data/b.csv", 50),
            "s3://lake/other/c.csv": file("s3://lake/other/c.csv", 500),
        },
        "s3://lake/input_data/a.csv",
    )
    rules = parse_ruleset('Rules = [ FileSize "s3://lake/input_data/" > 5 B, FileSize <= 5 B ]')
    summary = evaluate_file(rules, data, tmp_path / "out", files=listing)
    folder, current = summary.rule_outcomes
    assert (folder.outcome, current.outcome) == ("Failed", "Passed")
    assert folder.evaluated_metrics["Dataset.*.FileSize.Compliance"] == 0.5
    assert folder.evaluated_metrics["Dataset.*.FileCount"] == 2


@pytest.mark.spark
def test_parquet_reference_gives_the_same_outcome_on_spark(spark, tmp_path: Path) -> None:
    # DatasetMatch on the key, comparing the rating read back from Parquet as text: "8.5" matches,
    # "9.0" (written from 9.0) does not match "9", so 1 of the 2 rows matches.
    warehouse = tmp_path / "loaded.parquet"
    duckdb.sql("SELECT * FROM (VALUES ('A', 8.5), ('B', 9.0)) AS t(title, rating)").write_parquet(
        str(warehouse)
    )
    data = tmp_path / "new.csv"
    data.write_text("title,rating\nA,8.5\nB,9\n", encoding="utf-8")
    rules = parse_ruleset('Rules = [ DatasetMatch "loaded" "title" = 0.5 ]')
    for engine in ("duckdb", "spark"):
        summary = evaluate_file(
            rules,
            data,
            tmp_path / engine,
            engine=engine,
            spark=spark,
            references={"loaded": warehouse},
        )
        [outcome] = summary.rule_outcomes
        assert outcome.outcome == "Passed", (engine, outcome.failure_reason)
        assert outcome.evaluated_metrics == {"Dataset.loaded.DatasetMatch": 0.5}


def test_where_clause_failing_on_a_value_is_a_failed_rule(tmp_path: Path) -> None:
    # The clause binds, then raises on row 2 while running: that rule is Failed with the database's
    # message; the others are evaluated as if it were not there (id > 2 fails rows 1 and 2).
    data = tmp_path / "a.csv"
    data.write_text("id,x\n1,5\n2,abc\n3,7\n", encoding="utf-8")
    rules = parse_ruleset(
        "Rules = [ IsComplete \"x\" where \"CASE WHEN x = 'abc' THEN error('bad value') "
        'ELSE TRUE END", ColumnValues "id" > 2 ]'
    )
    summary = evaluate_file(rules, data, tmp_path / "out")
    broken, other = summary.rule_outcomes
    assert broken.outcome == "Failed" and "bad value" in broken.failure_reason
    assert broken.failure_reason.startswith("The where clause failed: ")
    assert other.outcome == "Failed" and (summary.good_rows, summary.bad_rows) == (1, 2)


def test_a_tag_the_rule_type_does_not_read_fails_the_rule_naming_its_tags(tmp_path: Path) -> None:
    # AWS's parser accepts any tag on any rule type: the ruleset loads, the rule is Failed saying why.
    data = tmp_path / "a.csv"
    data.write_text("id\n1\n", encoding="utf-8")
    rules = parse_ruleset(
        'Rules = [ FileSize < 5 MB with recentFile = 1, IsComplete "id" with bogus = "x", RowCount = 1 ]'
    )
    typo, bogus, count = evaluate_file(rules, data, tmp_path / "out").rule_outcomes
    assert typo.outcome == "Failed" and "did you mean recentFiles?" in typo.failure_reason
    assert "'recentFile' is not a tag of FileSize" in typo.failure_reason
    assert bogus.outcome == "Failed"
    assert "'bogus' is not a tag of IsComplete (its tags: none)" in bogus.failure_reason
    assert count.outcome == "Passed"


def test_the_embedded_engine_draws_no_progress_bar() -> None:
    # DuckDB's default draws one on the terminal for any statement over 2 s (a large file).
    from quality_movies.dq import duckdb_engine

    con = duckdb_engine.connect()
    try:
        assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone() == (False,)
    finally:
        con.close()


def test_a_connection_after_one_that_spilled_spills_into_its_own_folder(tmp_path):
    """Evaluations share one in-memory DuckDB per process; DuckDB cannot move a database's spill
    folder once it has spilled, so the next evaluation must still get the folder it asks for."""
    from quality_movies.dq.duckdb_engine import connect

    first = tmp_path / "spill-a"
    con = connect(str(first), memory_limit="50MB")
    con.execute("CREATE TEMP TABLE big AS SELECT md5(i::VARCHAR) AS h FROM range(3000000) t(i)")
    assert any(first.iterdir())  # the table did not fit: DuckDB spilled it
    con.close()
    con = connect(str(tmp_path / "spill-b"))
    try:
        (folder,) = con.execute("SELECT current_setting('temp_directory')").fetchone()
        (tables,) = con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone()
    finally:
        con.close()
    assert folder == str(tmp_path / "spill-b")
    assert tables == 0  # nothing of the earlier connection is left
