"""The Glue job's logic on local Spark matches the embedded (DuckDB) backend row by row."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from quality_movies.contract import split_by_contract
from quality_movies.dq import default_ruleset_path, evaluate_file, load_ruleset
from quality_movies.dq.model import Ruleset
from quality_movies.dq.parser import parse_ruleset
from quality_movies.quality.glue_job import (
    QualityJobError,
    parse_cli_options,
    resolve_job_arguments,
    run_quality_job,
)

SAMPLE_CSV = Path(__file__).with_name("movies_sample.csv")
SOURCE_FILE = "movies_sample.csv"

# By hand from movies.dqdl: `between 8.5 and 10.3` is exclusive and fails NULL; IsComplete fails a
# missing title. So 8.5, 10.3, an empty rating, 7.9 and the row without a title are bad.
EXPECTED_BAD_TITLES = ["Edge Low", "Edge High", "No Rating", None, "Low Rated"]
EXPECTED_GOOD = [
    ("The Shawshank Redemption", 9.3, 80, 2343110),
    ('Amélie, "Le Fabuleux"', 8.6, None, 703000),
    ("The Godfather", 9.2, 100, 1620367),
]
EXPECTED_OUTCOMES = {
    'ColumnValues "imdb_rating" between 8.5 and 10.3': "Failed",
    'IsComplete "series_title"': "Failed",
    'ColumnExists "imdb_rating"': "Passed",
    "RowCount > 0": "Passed",
}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def run_embedded(ruleset: Ruleset, csv: Path, source_file: str, out: Path) -> dict:
    """What the embedded runner does: the DuckDB engine, then the contract's split."""
    summary = evaluate_file(
        ruleset,
        csv,
        out / "dq",
        engine="duckdb",
        good_parquet=True,
        good_projection=["*"],
        source_name=source_file,
    )
    validated = out / "validated_movies.parquet"
    rejected = out / "contract_rejected.jsonl"
    split_by_contract(
        str(summary.outputs["good_parquet"]), str(validated), str(rejected), source_file
    )
    return {
        "summary": summary,
        "bad_records": read_jsonl(summary.outputs["bad_records"]) + read_jsonl(rejected),
        "rule_outcomes": read_jsonl(summary.outputs["rule_outcomes"]),
        "validated": pq.read_table(validated),
    }


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> dict:
    """The embedded backend's outputs on the sample file."""
    out = tmp_path_factory.mktemp("embedded")
    return run_embedded(load_ruleset(default_ruleset_path()), SAMPLE_CSV, SOURCE_FILE, out)


@pytest.fixture(scope="module")
def spark_run(spark, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("spark_job")
    uris = {
        "bad_records_uri": str(out / "bad-records" / "bad_records.jsonl"),
        "rule_outcomes_uri": str(out / "rule_outcome_from_etl" / "rule_outcomes.jsonl"),
        "validated_uri": str(out / "validated_movies" / "validated_movies.parquet"),
    }
    report = run_quality_job(
        spark,
        input_uri=str(SAMPLE_CSV),
        source_file=SOURCE_FILE,
        ruleset_text=default_ruleset_path().read_text(),
        **uris,
    )
    return {"report": report, "out": out, **{k: Path(v) for k, v in uris.items()}}


@pytest.mark.spark
def test_counts_and_outcomes_follow_the_rules(spark_run):
    report = spark_run["report"]
    assert (report["rows_read"], report["good_rows"], report["bad_rows"]) == (8, 3, 5)
    assert report["validated_rows"] == 3
    assert {o["Rule"]: o["Outcome"] for o in report["rule_outcomes"]} == EXPECTED_OUTCOMES
    for outcome in read_jsonl(spark_run["rule_outcomes_uri"]):
        assert set(outcome) == {
            "Rule",
            "Outcome",
            "FailureReason",
            "EvaluatedMetrics",
            "EvaluatedRule",
            "Labels",
        }


@pytest.mark.spark
def test_bad_records_match_the_embedded_backend(spark_run, embedded):
    bad = read_jsonl(spark_run["bad_records_uri"])
    assert [row["series_title"] for row in bad] == EXPECTED_BAD_TITLES
    assert all(row["DataQualityEvaluationResult"] == "Failed" for row in bad)
    assert bad == embedded["bad_records"]


@pytest.mark.spark
def test_rule_outcomes_match_the_embedded_backend(spark_run, embedded):
    assert read_jsonl(spark_run["rule_outcomes_uri"]) == embedded["rule_outcomes"]
    assert spark_run["report"]["rule_outcomes"] == embedded["rule_outcomes"]


@pytest.mark.spark
def test_validated_rows_match_the_embedded_backend(spark_run, embedded):
    table = pq.read_table(spark_run["validated_uri"])
    rows = table.to_pylist()
    assert [
        (r["series_title"], r["imdb_rating"], r["meta_score"], r["no_of_votes"]) for r in rows
    ] == EXPECTED_GOOD
    assert {r["source_file"] for r in rows} == {SOURCE_FILE}
    assert rows == embedded["validated"].to_pylist()
    expected_schema = embedded["validated"].schema
    assert [(f.name, str(f.type)) for f in table.schema] == [
        (f.name, str(f.type)) for f in expected_schema
    ]


@pytest.mark.spark
def test_outputs_are_single_objects_and_no_staging_is_left(spark_run):
    out = spark_run["out"]
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "bad-records/bad_records.jsonl",
        "rule_outcome_from_etl/rule_outcomes.jsonl",
        "validated_movies/validated_movies.parquet",
    ]


@pytest.mark.spark
def test_contract_rejects_become_bad_records_as_on_the_embedded_backend(spark, tmp_path):
    csv = tmp_path / "votes.csv"
    csv.write_text(
        "Series_Title,IMDB_Rating,No_of_Votes\nGood,9.1,12\nOdd,9.2,many\nLow,8.0,3\nNeg,9.3,-5\n"
    )
    rule = 'ColumnValues "imdb_rating" > 9'
    out = tmp_path / "out"
    finals = {
        "bad_records_uri": str(out / "bad.jsonl"),
        "rule_outcomes_uri": str(out / "outcomes.jsonl"),
        "validated_uri": str(out / "validated.parquet"),
    }
    report = run_quality_job(
        spark,
        input_uri=str(csv),
        source_file="votes.csv",
        ruleset_text=f"Rules = [ {rule} ]",
        **finals,
    )
    # By hand: Low fails the rule; Odd and Neg pass it but no_of_votes must be a BIGINT >= 0.
    assert (report["rows_read"], report["good_rows"]) == (4, 3)
    assert (report["validated_rows"], report["bad_rows"], report["contract_rejected"]) == (1, 3, 2)
    bad = read_jsonl(Path(finals["bad_records_uri"]))
    assert [(r["series_title"], r["DataQualityRulesFail"]) for r in bad] == [
        ("Odd", ["Contract: no_of_votes 'many' is not a BIGINT"]),
        ("Low", [rule]),
        ("Neg", ["Contract: no_of_votes -5 is below 0"]),
    ]
    assert bad[0]["DataQualityRulesPass"] == [rule]
    assert bad[0]["no_of_votes"] == "many"
    validated = pq.read_table(finals["validated_uri"]).to_pylist()
    assert [(r["series_title"], r["no_of_votes"]) for r in validated] == [("Good", 12)]
    embedded = run_embedded(parse_ruleset(f"Rules = [ {rule} ]"), csv, "votes.csv", tmp_path / "e")
    key = lambda r: r["series_title"]  # noqa: E731
    assert sorted(bad, key=key) == sorted(embedded["bad_records"], key=key)
    assert validated == embedded["validated"].to_pylist()


def test_job_arguments_default_to_the_lake_layout():
    options = parse_cli_options(
        ["--source_key", "input_data/a b.csv", "--bucket", "lake", "--JOB_NAME", "dq"]
    )
    [file] = resolve_job_arguments(options).files
    assert file.source_file == "a b.csv"
    assert file.input_uri == "s3://lake/input_data/a b.csv"
    assert file.output_uris() == {
        "bad_records": "s3://lake/bad-records/source_file=a b.csv/bad_records.jsonl",
        "rule_outcomes": "s3://lake/rule_outcome_from_etl/source_file=a b.csv/rule_outcomes.jsonl",
        "validated": "s3://lake/validated_movies/source_file=a b.csv/validated_movies.parquet",
    }


def test_missing_source_key_names_the_argument():
    with pytest.raises(QualityJobError, match="--source_key"):
        resolve_job_arguments(parse_cli_options(["--bucket", "lake"]))


@pytest.mark.spark
@pytest.mark.parametrize(
    ("rating", "bad_rows", "validated_rows"),
    [("9.5", 0, 1), ("1.0", 1, 0)],
    ids=["all_good", "all_bad"],
)
def test_empty_outputs_are_still_single_objects(spark, tmp_path, rating, bad_rows, validated_rows):
    csv = tmp_path / "one.csv"
    csv.write_text(f"Series_Title,IMDB_Rating,No_of_Votes\nOnly,{rating},3\n")
    out = tmp_path / "out"
    report = run_quality_job(
        spark,
        input_uri=str(csv),
        source_file="one.csv",
        ruleset_text='Rules = [ ColumnValues "imdb_rating" > 9 ]',
        bad_records_uri=str(out / "bad.jsonl"),
        rule_outcomes_uri=str(out / "outcomes.jsonl"),
        validated_uri=str(out / "validated.parquet"),
    )
    assert (report["bad_rows"], report["validated_rows"]) == (bad_rows, validated_rows)
    assert len(read_jsonl(out / "bad.jsonl")) == bad_rows
    validated = pq.read_table(out / "validated.parquet")
    assert validated.num_rows == validated_rows
    assert validated.schema.field("no_of_votes").type == "int64"
    assert validated.schema.field("imdb_rating").type == "double"
    assert sorted(p.name for p in out.iterdir()) == [
        "bad.jsonl",
        "outcomes.jsonl",
        "validated.parquet",
    ]


@pytest.mark.spark
def test_a_batch_runs_in_one_session_each_file_failing_alone_and_judged_after_the_ones_before(
    spark, tmp_path
):
    from datetime import UTC, datetime

    from quality_movies.dq.metric_history import FileQuality, history_rows
    from quality_movies.quality.glue_job import BatchFile, evaluate_batch

    rule = "RowCount > avg(last(1))"
    # The store knows one earlier file of 10 rows; the batch's files follow it in order.
    at = datetime(2026, 12, 1, tzinfo=UTC)
    earlier = FileQuality(
        "old.csv",
        "v0",
        "",
        "",
        [{"Rule": rule, "Outcome": "Passed", "EvaluatedMetrics": {"Dataset.*.RowCount": 10.0}}],
    )
    stored = history_rows(earlier, at, at)
    texts = {
        "two.csv": "Series_Title,IMDB_Rating\nA,9.0\nB,9.1\n",
        "broken.csv": "Series_Title\nNo rating\n",  # no imdb_rating: the contract cannot map it
        "three.csv": "Series_Title,IMDB_Rating\nC,9.0\nD,9.1\nE,9.2\n",
    }
    files = []
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
        out = tmp_path / "out" / name
        files.append(
            BatchFile(
                source_file=name,
                input_uri=str(tmp_path / name),
                bad_records_uri=str(out / "bad.jsonl"),
                rule_outcomes_uri=str(out / "outcomes.jsonl"),
                validated_uri=str(out / "validated.parquet"),
                file_version="v1",
            )
        )

    reports = evaluate_batch(
        spark,
        f"Rules = [ {rule} ]",
        files,
        staging_uri=str(tmp_path / "staging"),
        history=stored,
    )

    assert list(reports) == ["two.csv", "broken.csv", "three.csv"]
    assert reports["broken.csv"]["error"].startswith(
        "broken.csv: required column imdb_rating is missing"
    )
    # By hand: two.csv has 2 rows, not above old.csv's 10: Failed; three.csv has 3 rows, judged
    # against the file before it in the batch (two.csv, 2 rows): Passed. broken.csv never counted.
    outcome = {n: reports[n]["rule_outcomes"][0]["Outcome"] for n in ("two.csv", "three.csv")}
    assert outcome == {"two.csv": "Failed", "three.csv": "Passed"}
    assert (reports["two.csv"]["rows_read"], reports["three.csv"]["rows_read"]) == (2, 3)
    for name in ("two.csv", "three.csv"):
        written = sorted(p.name for p in (tmp_path / "out" / name).iterdir())
        assert written == ["bad.jsonl", "outcomes.jsonl", "validated.parquet"]
    assert not (tmp_path / "out" / "broken.csv").exists()
