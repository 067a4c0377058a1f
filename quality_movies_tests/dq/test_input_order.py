"""The failing example a rule names is the first failing value in input order, file after file,
whether DuckDB keeps the input order (no sort) or not (a window for IsUnique: rows numbered), and
the engine plans that question once per ruleset, not once per file of a batch."""

from pathlib import Path

import pytest

from quality_movies.dq import duckdb_engine, evaluate_file, parse_ruleset

BETWEEN = 'ColumnValues "imdb_rating" between 8.5 and 10.3'


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The queries whose plans the engine asks DuckDB for, during the test."""
    asked: list[str] = []
    original = duckdb_engine._loses_order

    def recording(con, query: str) -> bool:
        asked.append(query)
        return original(con, query)

    monkeypatch.setattr(duckdb_engine, "_loses_order", recording)
    monkeypatch.setattr(duckdb_engine, "_order_answers", {})
    return asked


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = [f"{title},{rating}" for title, rating in rows]
    path.write_text("Series_Title,IMDB_Rating\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("with_window", [False, True])
def test_each_file_names_its_own_first_failing_value(tmp_path, plans, with_window):
    unique = ', IsUnique "series_title"' if with_window else ""
    ruleset = parse_ruleset(f"Rules = [ {BETWEEN}{unique} ]")
    # first failing rating (between is exclusive): 8.0 in a.csv, 7.5 in b.csv, 8.5 in c.csv
    files = {
        "a.csv": [("A", "9.0"), ("B", "8.0"), ("C", "7.0")],
        "b.csv": [("A", "7.5"), ("B", "9.1"), ("C", "8.1")],
        "c.csv": [("A", "9.9"), ("B", "9.2"), ("C", "8.5")],
    }
    reasons = {}
    for name, rows in files.items():
        summary = evaluate_file(ruleset, _csv(tmp_path / name, rows), tmp_path / f"out-{name}")
        reasons[name] = summary.rule_outcomes[0].failure_reason
    assert reasons == {
        "a.csv": "Value: 8.0 does not meet the constraint requirement! 2 of 3 rows failed.",
        "b.csv": "Value: 7.5 does not meet the constraint requirement! 2 of 3 rows failed.",
        "c.csv": "Value: 8.5 does not meet the constraint requirement! 1 of 3 rows failed.",
    }
    # one plan (the bad rows' query), asked for the first file only
    assert len(plans) == 1


def test_a_big_files_first_failing_value_is_found_past_its_first_read_buffers(tmp_path):
    # 250,000 rows of about 40 bytes (10 MB: read through the 2 MB head buffers); rows 150,000
    # (about 6 MB in) and 200,000 fail: the first is named, 2 of 250,000 failed.
    rows = [(f"A long series title number {i:06d}", "9.0") for i in range(1, 250_001)]
    rows[149_999] = (rows[149_999][0], "7.25")
    rows[199_999] = (rows[199_999][0], "1.0")
    data = _csv(tmp_path / "big.csv", rows)
    assert data.stat().st_size > 8 * 1024 * 1024
    summary = evaluate_file(parse_ruleset(f"Rules = [ {BETWEEN} ]"), data, tmp_path / "out")
    assert summary.rule_outcomes[0].failure_reason == (
        "Value: 7.25 does not meet the constraint requirement! 2 of 250000 rows failed."
    )
