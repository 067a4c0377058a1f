"""The Glue job evaluates a batch's files that share a header in ONE Spark read and pass, and each
file's report and outputs are those it gets alone (``run_quality_job``)."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import quality_movies.dq
from quality_movies.dq import default_ruleset_path, spark_batch
from quality_movies.quality.glue_job import BatchFile, evaluate_batch, run_quality_job

SAMPLE_CSV = Path(__file__).with_name("movies_sample.csv")
HEADER = SAMPLE_CSV.read_text(encoding="utf-8").split("\n", 1)[0]
# The sample's records by their second field (the title as written; the last record, The
# Godfather, spans two lines).
RECORDS: dict[str, str] = {}
for line in SAMPLE_CSV.read_text(encoding="utf-8").split("\n")[1:]:
    if line.startswith("https://"):
        RECORDS[line.split(",")[1]] = line
    elif line:
        title = list(RECORDS)[-1]
        RECORDS[title] += "\n" + line
# By hand from movies.dqdl (`between 8.5 and 10.3` is exclusive and fails NULL; IsComplete fails an
# empty title): the bad ones, by the title column as written.
BAD = {"Edge Low", "Edge High", "No Rating", "", "Low Rated"}


def write_csv(path: Path, titles: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "\n" + "\n".join(RECORDS[t] for t in titles) + "\n", encoding="utf-8")
    return path


def batch_file(path: Path, out: Path, version: str = "") -> BatchFile:
    return BatchFile(
        source_file=path.name,
        input_uri=str(path),
        bad_records_uri=str(out / path.name / "bad_records.jsonl"),
        rule_outcomes_uri=str(out / path.name / "rule_outcomes.jsonl"),
        validated_uri=str(out / path.name / "validated_movies.parquet"),
        file_version=version,
        local_paths=(str(path),),
    )


def outputs_of(file: BatchFile) -> dict:
    return {
        "bad_records": Path(file.bad_records_uri).read_text(encoding="utf-8"),
        "rule_outcomes": Path(file.rule_outcomes_uri).read_text(encoding="utf-8"),
        "validated": pq.read_table(file.validated_uri).to_pylist(),
    }


def alone(spark, ruleset_text: str, file: BatchFile, out: Path, **kwargs) -> tuple[dict, dict]:
    """The file's report and outputs from ``run_quality_job`` by itself, written under ``out``."""
    single = batch_file(Path(file.input_uri), out)
    report = run_quality_job(
        spark,
        input_uri=single.input_uri,
        source_file=single.source_file,
        ruleset_text=ruleset_text,
        bad_records_uri=single.bad_records_uri,
        rule_outcomes_uri=single.rule_outcomes_uri,
        validated_uri=single.validated_uri,
        staging_uri=str(out / "staging"),
        **kwargs,
    )
    return report, outputs_of(single)


@pytest.fixture
def reads(monkeypatch) -> dict[str, list]:
    """Every Spark read of CSV files the job makes: batched (the paths of each) and per file."""
    seen: dict[str, list] = {"together": [], "alone": []}
    together, by_itself = spark_batch.read_csv_files_spark, quality_movies.dq.read_csv_spark

    def read_together(spark, paths, *args, **kwargs):
        seen["together"].append(sorted(Path(p).name for p in paths))
        return together(spark, paths, *args, **kwargs)

    def read_alone(spark, path):
        seen["alone"].append(Path(path).name)
        return by_itself(spark, path)

    monkeypatch.setattr(spark_batch, "read_csv_files_spark", read_together)
    monkeypatch.setattr(quality_movies.dq, "read_csv_spark", read_alone)
    return seen


def without_outputs(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "outputs"}


@pytest.mark.spark
def test_files_of_one_header_are_one_read_and_each_gets_what_it_gets_alone(spark, tmp_path, reads):
    ruleset_text = default_ruleset_path().read_text()
    titles = list(RECORDS)
    # Each file holds the multi-line record, in another order and subset: one header, one key.
    layouts = {
        "a.csv": titles,
        "b.csv": titles[::-1],
        "c.csv": ["The Godfather", "Edge Low", "The Shawshank Redemption"],
        "d.csv": ["Low Rated", "The Godfather"],
    }
    (tmp_path / "in").mkdir()
    files = [
        batch_file(write_csv(tmp_path / "in" / name, rows), tmp_path / "out")
        for name, rows in layouts.items()
    ]

    reports = evaluate_batch(spark, ruleset_text, files, staging_uri=str(tmp_path / "staging"))

    assert reads == {"together": [sorted(layouts)], "alone": []}
    for file in files:
        rows = layouts[file.source_file]
        report = reports[file.source_file]
        bad = [json.loads(line) for line in outputs_of(file)["bad_records"].splitlines()]
        # By hand: the bad records are the file's bad rows, in the file's order.
        assert [r["series_title"] or "" for r in bad] == [t for t in rows if t in BAD]
        assert (report["rows_read"], report["bad_rows"]) == (len(rows), len(BAD & set(rows)))
        expected_report, expected_outputs = alone(
            spark, ruleset_text, file, tmp_path / "alone" / file.source_file
        )
        assert without_outputs(report) == without_outputs(expected_report)
        assert outputs_of(file) == expected_outputs
    assert not list((tmp_path / "staging").glob("*")), "the staging is left empty"


@pytest.mark.spark
def test_two_header_groups_and_an_unreadable_file_each_group_one_read(spark, tmp_path, reads):
    ruleset_text = default_ruleset_path().read_text()
    one_line = [t for t in RECORDS if t != "The Godfather"]
    moved = HEADER.split(",")
    moved[1], moved[2] = moved[2], moved[1]  # the second header: Released_Year before the title

    def swapped(title: str) -> str:
        fields = RECORDS[title].split(",", 3)
        return ",".join([fields[0], fields[2], fields[1], fields[3]])

    (tmp_path / "in").mkdir()
    first_a = write_csv(tmp_path / "in" / "a1.csv", one_line)
    first_b = tmp_path / "in" / "b1.csv"
    first_b.write_text(",".join(moved) + "\n" + swapped("Edge High") + "\n", encoding="utf-8")
    broken = tmp_path / "in" / "broken.csv"
    broken.write_bytes(b"Series_Title,IMDB_Rating\xff\nA,9.0\n")  # the header is not UTF-8
    second_a = write_csv(tmp_path / "in" / "a2.csv", one_line[::-1][:3])
    second_b = tmp_path / "in" / "b2.csv"
    second_b.write_text(
        ",".join(moved) + "\n" + "\n".join(swapped(t) for t in one_line[:2]) + "\n",
        encoding="utf-8",
    )
    paths = [first_a, first_b, broken, second_a, second_b]
    files = [batch_file(p, tmp_path / "out") for p in paths]

    reports = evaluate_batch(spark, ruleset_text, files, staging_uri=str(tmp_path / "staging"))

    assert sorted(reads["together"]) == [["a1.csv", "a2.csv"], ["b1.csv", "b2.csv"]]
    assert reads["alone"] == ["broken.csv"]
    assert list(reports) == ["a1.csv", "b1.csv", "broken.csv", "a2.csv", "b2.csv"]
    assert reports["broken.csv"] == {
        "error": "broken.csv: line 1 is not UTF-8 text; save the file as UTF-8 and run again."
    }
    assert not (tmp_path / "out" / "broken.csv").exists()
    # By hand: b1.csv's one row (10.3 is outside the exclusive range) is bad; b2.csv's two rows are
    # Shawshank (good) and Edge Low (bad).
    assert [reports[n]["bad_rows"] for n in ("b1.csv", "b2.csv")] == [1, 1]
    for path, file in zip(paths, files, strict=True):
        if path == broken:
            continue
        expected_report, expected_outputs = alone(
            spark, ruleset_text, file, tmp_path / "alone" / file.source_file
        )
        assert without_outputs(reports[file.source_file]) == without_outputs(expected_report)
        assert outputs_of(file) == expected_outputs


@pytest.mark.spark
def test_in_one_pass_each_file_is_judged_after_the_files_before_it(spark, tmp_path, reads):
    from quality_movies.dq.metric_history import FileQuality, history_rows

    rule = "RowCount > avg(last(1))"
    at = datetime(2026, 12, 1, tzinfo=UTC)
    earlier = FileQuality(
        "old.csv",
        "v0",
        "",
        "",
        [{"Rule": rule, "Outcome": "Passed", "EvaluatedMetrics": {"Dataset.*.RowCount": 2.0}}],
    )
    titles = [t for t in RECORDS if t != "The Godfather"]
    (tmp_path / "in").mkdir()
    sizes = {"one.csv": 3, "two.csv": 2, "three.csv": 4, "four.csv": 4}
    files = [
        batch_file(write_csv(tmp_path / "in" / name, titles[:n]), tmp_path / "out", "v1")
        for name, n in sizes.items()
    ]

    reports = evaluate_batch(
        spark,
        f"Rules = [ {rule} ]",
        files,
        staging_uri=str(tmp_path / "staging"),
        history=history_rows(earlier, at, at),
    )

    assert reads == {"together": [sorted(sizes)], "alone": []}
    # By hand: each file's row count against the one before it (old.csv's 2 for the first).
    outcomes = {n: reports[n]["rule_outcomes"][0]["Outcome"] for n in sizes}
    assert outcomes == {
        "one.csv": "Passed",  # 3 > 2
        "two.csv": "Failed",  # 2 > 3
        "three.csv": "Passed",  # 4 > 2
        "four.csv": "Failed",  # 4 > 4
    }
