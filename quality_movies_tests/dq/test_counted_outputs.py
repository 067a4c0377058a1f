"""A single row-level rule is decided from the rows its outputs' COPYs write, without an aggregate pass.

Expectations are worked out by hand from the rule: ``between`` is exclusive, NULL fails, the failing
example is the first failing value in input order, and values that cannot be read as numbers are
counted in the reason.
"""

import json
from pathlib import Path

import pytest

from quality_movies.dq import UnreadableInputError, evaluate_file, parse_ruleset
from quality_movies.dq import evaluate as evaluate_module
from quality_movies.dq.plan import EvaluationPlan, build_plan

SEED = parse_ruleset('Rules = [ ColumnValues "imdb_rating" between 8.5 and 10.3 ]')
SEED_TEXT = 'ColumnValues "imdb_rating" between 8.5 and 10.3'
METRIC = "Column.imdb_rating.ColumnValues.Compliance"


@pytest.fixture
def aggregate_passes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The aggregate queries the engine builds during the test (one per aggregate pass)."""
    built: list[str] = []
    original = EvaluationPlan.aggregate_sql

    def recording(self: EvaluationPlan, relation: str, first_values_by: str | None = None) -> str:
        sql = original(self, relation, first_values_by)
        built.append(sql)
        return sql

    monkeypatch.setattr(EvaluationPlan, "aggregate_sql", recording)
    return built


def _csv(tmp_path: Path, ratings: list[str]) -> Path:
    path = tmp_path / "movies.csv"
    rows = [f"title{i},{rating}" for i, rating in enumerate(ratings)]
    path.write_text("Series_Title,IMDB_Rating\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _titles(path: Path) -> set[str]:
    return {record["series_title"] for record in _records(path)}


def test_counts_come_from_the_written_rows(tmp_path: Path, aggregate_passes: list[str]) -> None:
    # 9.0 and 9.5 pass; 8.0, the missing value and 8.5 (bounds are exclusive) fail.
    data = _csv(tmp_path, ["9.0", "8.0", "", "9.5", "8.5"])
    summary = evaluate_file(SEED, data, tmp_path / "out", write_good_jsonl=True)
    assert aggregate_passes == []
    assert (summary.rows_read, summary.good_rows, summary.bad_rows) == (5, 2, 3)
    [outcome] = summary.rule_outcomes
    assert outcome.outcome == "Failed"
    assert outcome.failure_reason == (
        "Value: 8.0 does not meet the constraint requirement! 3 of 5 rows failed."
    )
    assert outcome.evaluated_metrics == {METRIC: 0.4}
    assert _titles(summary.outputs["good_records"]) == {"title0", "title3"}
    assert _titles(summary.outputs["bad_records"]) == {"title1", "title2", "title4"}
    for record in _records(summary.outputs["bad_records"]):
        assert record["DataQualityRulesFail"] == [SEED_TEXT]
        assert record["DataQualityEvaluationResult"] == "Failed"
    for record in _records(summary.outputs["good_records"]):
        assert record["DataQualityRulesPass"] == [SEED_TEXT]
        assert record["DataQualityEvaluationResult"] == "Passed"


def test_same_outcome_when_the_counts_cannot_come_from_the_outputs(
    tmp_path: Path, aggregate_passes: list[str]
) -> None:
    # Without a good-rows output the row count is unknown after the COPY: one aggregate pass.
    data = _csv(tmp_path, ["9.0", "8.0", "", "9.5", "8.5"])
    counted = evaluate_file(SEED, data, tmp_path / "counted", write_good_jsonl=True)
    assert aggregate_passes == []
    aggregated = evaluate_file(SEED, data, tmp_path / "aggregated")
    assert len(aggregate_passes) == 1
    assert aggregated.rule_outcomes == counted.rule_outcomes
    assert (aggregated.rows_read, aggregated.good_rows, aggregated.bad_rows) == (5, 2, 3)
    assert sorted(aggregated.outputs["bad_records"].read_bytes().splitlines()) == sorted(
        counted.outputs["bad_records"].read_bytes().splitlines()
    )


def test_good_rows_as_parquet_give_the_counts_too(
    tmp_path: Path, aggregate_passes: list[str]
) -> None:
    data = _csv(tmp_path, ["9.0", "8.0", "9.5"])
    summary = evaluate_file(
        SEED, data, tmp_path / "out", good_parquet=True, good_projection=["series_title"]
    )
    assert aggregate_passes == []
    assert (summary.rows_read, summary.good_rows, summary.bad_rows) == (3, 2, 1)
    assert summary.rule_outcomes[0].evaluated_metrics == {METRIC: round(2 / 3, 12)}


def test_an_unreadable_number_needs_the_aggregate_pass(
    tmp_path: Path, aggregate_passes: list[str]
) -> None:
    # 'n/a' is not a number: it fails, and the reason counts it, which the row counts cannot show.
    data = _csv(tmp_path, ["9.0", "n/a", "8.0", "9.9"])
    summary = evaluate_file(SEED, data, tmp_path / "out", write_good_jsonl=True)
    assert len(aggregate_passes) == 1
    assert (summary.rows_read, summary.good_rows, summary.bad_rows) == (4, 2, 2)
    [outcome] = summary.rule_outcomes
    assert outcome.failure_reason == (
        "Value: n/a does not meet the constraint requirement! 2 of 4 rows failed. "
        "1 value(s) could not be read as a number (e.g. 'n/a')."
    )
    assert outcome.evaluated_metrics == {METRIC: 0.5}
    # The outputs are whole: the COPY stopped at 'n/a' was written again.
    assert _titles(summary.outputs["good_records"]) == {"title0", "title3"}
    assert _titles(summary.outputs["bad_records"]) == {"title1", "title2"}


@pytest.mark.parametrize(
    ("rules", "counted"),
    [
        ('ColumnValues "imdb_rating" between 8.5 and 10.3', True),
        ('IsComplete "imdb_rating"', True),
        ('ColumnValues "imdb_rating" > 8 with threshold > 0.5', True),
        # Two rules: one good/bad split cannot give each rule's passing rows.
        ('IsComplete "imdb_rating", ColumnValues "imdb_rating" > 8', False),
        ('(IsComplete "imdb_rating") and (ColumnValues "imdb_rating" > 8)', False),
        # Rows outside the where clause are neither counted nor failed.
        ('ColumnValues "imdb_rating" > 8 where "series_title = \'x\'"', False),
        # Lengths and dataset-level metrics need an aggregate.
        ('ColumnLength "series_title" <= 30', False),
        ("RowCount > 0", False),
    ],
)
def test_which_rulesets_take_their_counts_from_the_outputs(rules: str, counted: bool) -> None:
    plan = build_plan(parse_ruleset(f"Rules = [ {rules} ]"), ["series_title", "imdb_rating"])
    assert (plan.counted_leaf() is not None) == counted


@pytest.mark.parametrize(
    ("rules", "write_good_jsonl"),
    [
        (SEED, True),  # counts from the outputs: found by their COPYs
        (SEED, False),  # an aggregate pass first: found there
        (parse_ruleset('Rules = [ IsComplete "imdb_rating", RowCount > 0 ]'), True),
    ],
)
def test_a_broken_line_deep_in_the_file_names_the_file_and_line(
    tmp_path: Path, rules, write_good_jsonl: bool
) -> None:
    # Found only once the first rows have been read: header on line 1, 300,000 rows on lines
    # 2-300,001, the row with four fields on line 300,002.
    data = tmp_path / "movies.csv"
    rows = [f"title{i},9.0" for i in range(300_000)]
    data.write_text("Series_Title,IMDB_Rating\n" + "\n".join([*rows, "x,1,2,3", "y,9.0"]) + "\n")
    with pytest.raises(UnreadableInputError) as raised:
        evaluate_file(rules, data, tmp_path / "out", write_good_jsonl=write_good_jsonl)
    assert str(raised.value) == (
        f"{data}: line 300002 has more fields than the header's 2; "
        "fix that row (a value holding commas goes in double quotes) and run again."
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fault", ["broken row", "disk full after the rows"])
def test_a_failed_run_leaves_an_existing_folder_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    # A first run publishes its three files; a second fails, either reading a row at the end of
    # its file or once both row files are written: the folder keeps the first run's files only.
    out = tmp_path / "out"
    good = tmp_path / "good.csv"
    good.write_text("Series_Title,IMDB_Rating\nA,9.0\nB,7.0\n", encoding="utf-8")
    evaluate_file(SEED, good, out, write_good_jsonl=True)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    assert sorted(before) == ["bad_records.jsonl", "good_records.jsonl", "rule_outcomes.jsonl"]
    second = tmp_path / "second.csv"
    if fault == "broken row":
        rows = [f"title{i},9.0" for i in range(300_000)]
        second.write_text("Series_Title,IMDB_Rating\n" + "\n".join([*rows, "x,1,2"]) + "\n")
    else:
        second.write_text("Series_Title,IMDB_Rating\nC,8.0\n", encoding="utf-8")

        def disk_full(outcomes, path: Path) -> None:
            assert sorted(p.name.split(".", 2)[2] for p in out.glob(".*")) == [
                "bad_records.jsonl",
                "good_records.jsonl",
            ]
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(evaluate_module, "write_rule_outcomes", disk_full)
    with pytest.raises((UnreadableInputError, OSError)):
        evaluate_file(SEED, second, out, write_good_jsonl=True)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
