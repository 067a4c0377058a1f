"""Inputs large enough to be read in many chunks and threads: every row once, first examples, JSON.

DuckDB splits a CSV of several MB between threads, and Spark may split the work, so rows lost or
doubled between chunks, and first examples taken out of file order (an IN list rewritten into a
join, windows), only show on a file of that size: 30,000 rows padded to about 12 MB.
"""

import json
from collections import Counter
from pathlib import Path

import pytest

from quality_movies.dq import evaluate_file, parse_ruleset
from quality_movies_tests.dq.lines import sorted_lines

ROWS = 30_000
PADDING = "p" * 400
CERTIFICATES = ["U", "A", "UA", "R", "PG-13", "PG", "G", "Passed", "Approved"]
RULES = parse_ruleset(
    "Rules = [ "
    'ColumnValues "certificate" in ["U", "A", "UA", "R", "PG-13", "PG", "G", "Passed", "Approved"], '
    'ColumnValues "rating" between 1 and 10, '
    'IsUnique "code" ]'
)
WITHOUT_WINDOWS = parse_ruleset(
    "Rules = [ "
    'ColumnValues "certificate" in ["U", "A", "UA", "R", "PG-13", "PG", "G", "Passed", "Approved"], '
    'ColumnValues "rating" between 1 and 10 ]'
)


def _row(i: int) -> tuple[str, str, str, str, str]:
    """Row ``i``: every 7th certificate is unknown ("X7"...), every 11th rating is 0, code 5 repeats."""
    certificate = f"X{i}" if i % 7 == 0 else CERTIFICATES[i % len(CERTIFICATES)]
    rating = "0" if i % 11 == 0 else str(1 + i % 9)
    if i == 20_001:
        rating = "first-unreadable"
    elif i > 20_001 and i % 1000 == 1:
        rating = f"later-unreadable-{i}"
    code = "5" if i % 5000 == 5 else str(i)
    return str(i), certificate, rating, code, PADDING


def _is_bad(i: int, with_unique: bool) -> bool:
    _, certificate, rating, code, _ = _row(i)
    rating_ok = rating.isdigit() and 1 < int(rating) < 10
    unique_ok = code != "5" or not with_unique
    return certificate not in CERTIFICATES or not rating_ok or not unique_ok


@pytest.fixture(scope="module")
def large_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("large") / "large.csv"
    lines = ["id,certificate,rating,code,padding"] + [",".join(_row(i)) for i in range(1, ROWS + 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _evaluate(rules, data: Path, out: Path, engine: str = "duckdb", spark=None):
    return evaluate_file(rules, data, out, engine=engine, spark=spark, write_good_jsonl=True)


@pytest.mark.parametrize("rules", [WITHOUT_WINDOWS, RULES], ids=["in_list", "with_window"])
def test_every_row_lands_once_across_chunks(rules, large_csv: Path, tmp_path: Path) -> None:
    with_unique = rules is RULES
    summary = _evaluate(rules, large_csv, tmp_path / "out")
    bad = Counter(json.loads(line)["id"] for line in summary.outputs["bad_records"].open())
    good = Counter(json.loads(line)["id"] for line in summary.outputs["good_records"].open())
    expected_bad = Counter(str(i) for i in range(1, ROWS + 1) if _is_bad(i, with_unique))
    expected_good = Counter(str(i) for i in range(1, ROWS + 1) if not _is_bad(i, with_unique))
    assert bad == expected_bad
    assert good == expected_good


def test_failure_reason_names_the_first_unreadable_value_in_file_order(
    large_csv: Path, tmp_path: Path
) -> None:
    summary = _evaluate(WITHOUT_WINDOWS, large_csv, tmp_path / "out")
    rating = summary.rule_outcomes[1]
    assert rating.outcome == "Failed"
    assert "(e.g. 'first-unreadable')" in rating.failure_reason
    certificate = summary.rule_outcomes[0]
    assert certificate.failure_reason.startswith("Value: X7 does not meet")


@pytest.mark.spark
@pytest.mark.parametrize("rules", [WITHOUT_WINDOWS, RULES], ids=["in_list", "with_window"])
def test_spark_writes_the_same_lines_as_duckdb_on_a_large_input(
    rules, large_csv: Path, tmp_path: Path, spark
) -> None:
    on_duckdb = _evaluate(rules, large_csv, tmp_path / "duckdb")
    on_spark = _evaluate(rules, large_csv, tmp_path / "spark", "spark", spark)
    assert (
        on_spark.outputs["rule_outcomes"].read_bytes()
        == on_duckdb.outputs["rule_outcomes"].read_bytes()
    )
    for key in ("bad_records", "good_records"):
        assert sorted_lines(on_spark.outputs[key]) == sorted_lines(on_duckdb.outputs[key]), key
    assert sorted(path.name for path in (tmp_path / "spark").iterdir()) == [
        "bad_records.jsonl",
        "good_records.jsonl",
        "rule_outcomes.jsonl",
    ]


@pytest.mark.spark
def test_spark_and_duckdb_escape_control_characters_alike(tmp_path: Path, spark) -> None:
    data = tmp_path / "control.csv"
    data.write_text(
        'id,title\n1,"bell\x07 and unit\x1f separator"\n2,"slash / é 😀"\n3,\n', encoding="utf-8"
    )
    rules = parse_ruleset('Rules = [ ColumnLength "title" > 0 ]')
    on_duckdb = _evaluate(rules, data, tmp_path / "duckdb")
    on_spark = _evaluate(rules, data, tmp_path / "spark", "spark", spark)
    for key in ("bad_records", "good_records"):
        assert sorted_lines(on_spark.outputs[key]) == sorted_lines(on_duckdb.outputs[key]), key
    good = on_duckdb.outputs["good_records"].read_text(encoding="utf-8").splitlines()
    titles = {row["id"]: row["title"] for row in map(json.loads, good)}
    assert titles == {"1": "bell\x07 and unit\x1f separator", "2": "slash / é 😀"}


@pytest.mark.spark
def test_spark_writes_empty_outputs_when_no_row_fails(tmp_path: Path, spark) -> None:
    data = tmp_path / "all_good.csv"
    data.write_text("id,rating\n1,9\n2,9.5\n", encoding="utf-8")
    rules = parse_ruleset('Rules = [ ColumnValues "rating" between 8.5 and 10.3 ]')
    summary = evaluate_file(
        rules,
        data,
        tmp_path / "out",
        engine="spark",
        spark=spark,
        good_parquet=True,
        good_projection=["id", "TRY_CAST(rating AS DOUBLE) AS rating"],
    )
    assert summary.outputs["bad_records"].read_bytes() == b""
    import duckdb

    rows = duckdb.sql(f"SELECT * FROM '{summary.outputs['good_parquet']}' ORDER BY id").fetchall()
    assert rows == [("1", 9.0), ("2", 9.5)]
