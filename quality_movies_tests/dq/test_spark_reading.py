"""The Spark backend's reading (split between tasks unless a quoted field spans lines) and its
one-pass writing (aggregates observed during the write, good and bad rows split in one job)."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from quality_movies.dq import evaluate_file, parse_ruleset, read_csv_spark
from quality_movies.dq.spark_engine import (
    evaluate_spark,
    local_lines_are_records,
    needs_multiline,
    spark_lines_are_records,
)
from quality_movies_tests.dq.lines import sorted_lines

pytestmark = pytest.mark.spark

HEADER = "Id,Title,Rating\n"
ROWS = 3000
PADDING = "x" * 60


def _title(i: int) -> str:
    """A quoted title with a comma and a doubled quote, padded so the file spans several splits."""
    return f'"Film, ""{i}"" {PADDING}"'


def _rating(i: int) -> str:
    """Ratings 2-9 pass ``between 1 and 10`` (both ends excluded); every 10th is 0 or, at rows
    1500 and 2900, unreadable."""
    if i in (1500, 2900):
        return f"bad-{i}"
    return "0" if i % 10 == 0 else str(2 + i % 8)


@pytest.fixture(scope="module")
def one_line_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 250 KB, every record on one line."""
    path = tmp_path_factory.mktemp("reading") / "one_line.csv"
    lines = [f"{i},{_title(i)},{_rating(i)}\n" for i in range(1, ROWS + 1)]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


@contextmanager
def _small_splits(spark, size: str = "65536") -> Iterator[None]:
    """Spark splits files into ``size``-byte partitions inside the block, as it would a big file."""
    keys = ("spark.sql.files.maxPartitionBytes", "spark.sql.files.openCostInBytes")
    before = {key: spark.conf.get(key, None) for key in keys}
    for key in keys:
        spark.conf.set(key, size)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _check_agrees(spark, data: Path) -> bool:
    """The driver's check of a local file and Spark's (the one S3 files get) give one answer."""
    local = local_lines_are_records(data)
    assert spark_lines_are_records(spark, data) == local
    assert needs_multiline(spark, data) == (not local)
    return local


def test_file_without_multiline_fields_is_read_in_several_partitions(
    spark, one_line_csv: Path
) -> None:
    assert _check_agrees(spark, one_line_csv)
    with _small_splits(spark):
        frame = read_csv_spark(spark, one_line_csv)
        assert frame.rdd.getNumPartitions() >= 3
        rows = frame.collect()
    assert frame.columns == ["id", "title", "rating"]
    assert len(rows) == ROWS
    assert [row.id for row in rows] == [str(i) for i in range(1, ROWS + 1)]
    assert rows[41].title == f'Film, "42" {PADDING}'
    assert (rows[1499].rating, rows[-1].rating) == ("bad-1500", "0")


def test_quoted_newline_makes_the_file_read_as_multiline(spark, tmp_path: Path) -> None:
    data = tmp_path / "multiline.csv"
    lines = [f"{i},{_title(i)},{_rating(i)}\n" for i in range(1, ROWS + 1)]
    lines[2000] = '2001,"first line\nsecond, ""quoted"" line",5\n'
    data.write_text(HEADER + "".join(lines), encoding="utf-8")
    assert not _check_agrees(spark, data)
    with _small_splits(spark):
        rows = read_csv_spark(spark, data).collect()
    assert len(rows) == ROWS
    assert rows[2000].title == 'first line\nsecond, "quoted" line'
    assert (rows[2000].id, rows[2000].rating, rows[2001].id) == ("2001", "5", "2002")


@pytest.mark.parametrize(
    "line",
    ['1,ab"c,"d\n', '1,"open field\n', '1,"closed" trailing,2\n', " \t \n"],
    ids=["stray_quote", "unclosed_quote", "text_after_closing_quote", "blank_line"],
)
def test_lines_that_are_not_whole_records_need_multiline(spark, tmp_path: Path, line) -> None:
    data = tmp_path / "odd.csv"
    data.write_text(HEADER + "2,plain,5\n" + line + "3,plain,5\n", encoding="utf-8")
    assert not _check_agrees(spark, data)


def test_quotes_that_close_on_their_line_need_no_multiline(spark, tmp_path: Path) -> None:
    data = tmp_path / "quotes.csv"
    data.write_text(
        HEADER + '1,"",""""\n2,"a ""b"", c",\n3,,"x"\r\n"4",plain,"7"\n', encoding="utf-8"
    )
    assert _check_agrees(spark, data)
    rows = [tuple(row) for row in read_csv_spark(spark, data).collect()]
    assert rows == [
        ("1", None, '"'),
        ("2", 'a "b", c', None),
        ("3", None, "x"),
        ("4", "plain", "7"),
    ]


def test_one_pass_over_split_input_matches_duckdb_and_keeps_input_order(
    spark, one_line_csv: Path, tmp_path: Path
) -> None:
    rules = parse_ruleset('Rules = [ ColumnValues "rating" between 1 and 10, RowCount > 0 ]')
    outputs = {}
    for engine in ("duckdb", "spark"):
        with _small_splits(spark):
            outputs[engine] = evaluate_file(
                rules,
                one_line_csv,
                tmp_path / engine,
                engine=engine,
                spark=spark,
                write_good_jsonl=True,
            )
    on_spark, on_duckdb = outputs["spark"], outputs["duckdb"]
    # Every 10th row fails (rating 0, or bad-1500 / bad-2900, both multiples of 10): 300 bad rows.
    assert (on_spark.rows_read, on_spark.good_rows, on_spark.bad_rows) == (3000, 2700, 300)
    rating = on_spark.rule_outcomes[0]
    assert rating.evaluated_metrics == {"Column.rating.ColumnValues.Compliance": 0.9}
    assert "(e.g. 'bad-1500')" in rating.failure_reason
    for key in ("rule_outcomes", "bad_records", "good_records"):
        assert sorted_lines(on_spark.outputs[key]) == sorted_lines(on_duckdb.outputs[key]), key
    bad_ids = [json.loads(line)["id"] for line in on_spark.outputs["bad_records"].open()]
    good_ids = [json.loads(line)["id"] for line in on_spark.outputs["good_records"].open()]
    assert bad_ids == [str(i) for i in range(10, ROWS + 1, 10)]
    assert good_ids == [str(i) for i in range(1, ROWS + 1) if i % 10]


def test_observed_aggregates_agree_with_separate_queries(spark, tmp_path: Path) -> None:
    data = tmp_path / "small.csv"
    data.write_text("id,certificate,rating\n1,U,9\n2,A,8\n3,U,x\n4,,3\n5,PG,7\n", encoding="utf-8")
    rules = parse_ruleset(
        "Rules = [ "
        'DistinctValuesCount "certificate" = 3, '
        'ColumnValues "rating" between 5 and 10, '
        'Mean "rating" between 6 and 7, '
        'Entropy "certificate" > 1 ]'
    )
    summary = evaluate_file(rules, data, tmp_path / "out", engine="spark", spark=spark)
    eager = evaluate_spark(rules, read_csv_spark(spark, data))
    assert summary.rule_outcomes == eager.rule_outcomes
    distinct, rating, mean, entropy = summary.rule_outcomes
    # certificate: U, A, U, NULL, PG -> 3 distinct values; ratings 9, 8, 7 pass, x and 3 fail.
    assert distinct.evaluated_metrics == {"Column.certificate.DistinctValuesCount": 3.0}
    assert distinct.outcome == "Passed"
    assert rating.outcome == "Failed"
    assert "(e.g. 'x')" in rating.failure_reason
    # Mean of the readable ratings 9, 8, 3, 7 = 6.75.
    assert mean.evaluated_metrics == {"Column.rating.Mean": 6.75}
    # Entropy of U, A, U, PG: -(0.5 ln 0.5 + 2 * 0.25 ln 0.25) = 1.0397.
    assert entropy.outcome == "Passed"
    assert [json.loads(line)["id"] for line in summary.outputs["bad_records"].open()] == ["3", "4"]


def test_header_only_file_gives_empty_outputs(spark, tmp_path: Path) -> None:
    data = tmp_path / "empty.csv"
    data.write_text(HEADER, encoding="utf-8")
    rules = parse_ruleset('Rules = [ ColumnValues "rating" between 1 and 10 ]')
    summary = evaluate_file(
        rules, data, tmp_path / "out", engine="spark", spark=spark, write_good_jsonl=True
    )
    assert (summary.rows_read, summary.good_rows, summary.bad_rows) == (0, 0, 0)
    assert summary.outputs["bad_records"].read_bytes() == b""
    assert summary.outputs["good_records"].read_bytes() == b""
