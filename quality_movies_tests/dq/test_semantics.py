"""The shared table of hand-derived cases (cases.py and LANG's cases_language.py), run on DuckDB and
(marked spark) on PySpark."""

import json
import os
from pathlib import Path

import pytest

from quality_movies.dq import evaluate_file, parse_ruleset
from quality_movies_tests.dq import cases_language
from quality_movies_tests.dq.cases import CASES, NOW, Case, ListHistory
from quality_movies_tests.dq.lines import sorted_lines

ALL_CASES = CASES + cases_language.CASES
OUTCOME_LABELS = getattr(cases_language, "OUTCOME_LABELS", {})


def _run(case: Case, tmp_path: Path, engine: str, spark=None) -> dict:
    folder = tmp_path / "input"
    folder.mkdir(exist_ok=True)
    data = folder / f"{case.name}.csv"
    data.write_text(case.csv, encoding="utf-8")
    for name, (content, modified) in case.neighbours.items():
        (folder / name).write_text(content, encoding="utf-8")
        os.utime(folder / name, (modified.timestamp(), modified.timestamp()))
    if case.data_modified:
        os.utime(data, (case.data_modified.timestamp(), case.data_modified.timestamp()))
    references = {}
    for name, content in case.references.items():
        path = tmp_path / "references" / f"{name}.csv"
        path.parent.mkdir(exist_ok=True)
        path.write_text(content, encoding="utf-8")
        references[name] = path
    out = tmp_path / f"out-{engine}"
    summary = evaluate_file(
        parse_ruleset(case.rules.replace("{folder}", str(folder))),
        data,
        out,
        engine=engine,
        spark=spark,
        write_good_jsonl=True,
        now=NOW,
        history=ListHistory(case.history) if case.history is not None else None,
        references=references,
    )
    read = {
        name: [json.loads(line) for line in (out / name).read_text(encoding="utf-8").splitlines()]
        for name in ("rule_outcomes.jsonl", "bad_records.jsonl", "good_records.jsonl")
    }
    raw = {name: sorted_lines(out / name) for name in read}
    analyzers = out / "analyzer_results.jsonl"
    if analyzers.exists():
        read["analyzer_results.jsonl"] = [
            json.loads(line) for line in analyzers.read_text(encoding="utf-8").splitlines()
        ]
    return {"summary": summary, "json": read, "raw": raw}


def _check(case: Case, result: dict) -> None:
    outcomes = result["json"]["rule_outcomes.jsonl"]
    assert [o["Outcome"] for o in outcomes] == case.rule_outcomes
    for outcome in outcomes:
        assert set(outcome) == {
            "Rule",
            "Outcome",
            "FailureReason",
            "EvaluatedMetrics",
            "EvaluatedRule",
            "Labels",
        }
        assert (outcome["FailureReason"] is None) == (outcome["Outcome"] == "Passed")
    if case.name in OUTCOME_LABELS:
        assert [o["Labels"] for o in outcomes] == OUTCOME_LABELS[case.name]
    metrics = {k: v for o in outcomes for k, v in o["EvaluatedMetrics"].items()}
    for name, expected in case.metrics.items():
        assert metrics[name] == pytest.approx(expected, rel=1e-9), name
    if case.reason_contains:
        assert any(case.reason_contains in (o["FailureReason"] or "") for o in outcomes)
    rows = result["json"]["bad_records.jsonl"] + result["json"]["good_records.jsonl"]
    by_id = {int(row["id"]): row for row in rows}
    assert [
        by_id[i + 1]["DataQualityEvaluationResult"] for i in range(len(by_id))
    ] == case.row_results
    for row in rows:
        assert len(row["DataQualityRulesSkip"]) == case.skipped_rules_per_row
        listed = (
            row["DataQualityRulesPass"] + row["DataQualityRulesFail"] + row["DataQualityRulesSkip"]
        )
        assert sorted(listed) == sorted(o["Rule"] for o in outcomes)
        assert (row["DataQualityEvaluationResult"] == "Failed") == bool(row["DataQualityRulesFail"])
    ids = sorted(int(row["id"]) for row in rows)
    assert ids == list(range(1, len(case.row_results) + 1)), "every input row lands exactly once"
    if case.analyzer_metrics:
        found = {
            a["Analyzer"]: a["EvaluatedMetrics"] for a in result["json"]["analyzer_results.jsonl"]
        }
        assert list(found) == list(case.analyzer_metrics)
        for analyzer, expected in case.analyzer_metrics.items():
            assert found[analyzer] == pytest.approx(expected, rel=1e-9), analyzer
    summary = result["summary"]
    assert summary.bad_rows == case.row_results.count("Failed")
    assert summary.good_rows == case.row_results.count("Passed")


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.name for c in ALL_CASES])
def test_case_on_duckdb(case: Case, tmp_path: Path) -> None:
    _check(case, _run(case, tmp_path, "duckdb"))


@pytest.mark.spark
@pytest.mark.parametrize("case", ALL_CASES, ids=[c.name for c in ALL_CASES])
def test_case_on_spark_writes_the_same_lines_as_duckdb(case: Case, tmp_path: Path, spark) -> None:
    on_spark = _run(case, tmp_path, "spark", spark)
    _check(case, on_spark)
    on_duckdb = _run(case, tmp_path, "duckdb")
    for name in ("bad_records.jsonl", "good_records.jsonl"):
        assert on_spark["raw"][name] == on_duckdb["raw"][name], name
    assert on_spark["json"].get("analyzer_results.jsonl") == on_duckdb["json"].get(
        "analyzer_results.jsonl"
    )
    outcomes = [_engine_neutral(r["json"]["rule_outcomes.jsonl"]) for r in (on_spark, on_duckdb)]
    assert outcomes[0] == outcomes[1]


DATABASE_ERRORS = ("The SQL statement failed: ", "The where clause failed: ")


def _engine_neutral(outcomes: list[dict]) -> list[dict]:
    """Rule outcomes with the database's own error message (worded by each engine) cut off."""
    neutral = []
    for outcome in outcomes:
        reason = outcome["FailureReason"] or ""
        prefix = next((p for p in DATABASE_ERRORS if reason.startswith(p)), None)
        neutral.append({**outcome, "FailureReason": prefix or outcome["FailureReason"]})
    return neutral
