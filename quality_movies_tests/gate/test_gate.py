"""The gate per file: ruleset and contract split the rows, the warehouse loads from the lake, outputs
appear together or not at all, one failing file does not stop the others.

The seed ruleset: ``ColumnValues "imdb_rating" between 8.5 and 10.3`` (exclusive), ``IsComplete
"series_title"``, ``ColumnExists "imdb_rating"``, ``RowCount > 0``; the contract: meta_score a BIGINT in
[0, 100]. Expected counts below are worked out by hand from those.
"""

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from quality_movies_tests.gate.conftest import HOST, csv_text, movie_line


def materialized(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dict]:
    found = {}
    for event in result.get_asset_materialization_events():
        m = event.materialization
        found[(m.asset_key.to_user_string(), m.partition)] = {
            k: getattr(v, "value", v) for k, v in m.metadata.items()
        }
    return found


def bad_records(gate, source_file: str) -> list[dict]:
    path = Path(gate.lake.uri(gate.lake.bad_records_key(source_file)))
    return [json.loads(line) for line in path.read_text().splitlines() if line]


MIXED = csv_text(
    movie_line("Kept", "9.3", "80"),
    movie_line("Low rating", "8.0", "70"),  # fails the between rule
    movie_line("Words", "9.0", "eighty"),  # passes the rules, not a BIGINT
    movie_line("Too high", "9.1", "150"),  # passes the rules, above the contract's 100
    movie_line("No score", "8.6", ""),  # passes; an empty meta_score is NULL
)


def test_contract_rejects_become_bad_records_and_the_rest_loads(gate):
    name = gate.ingest("mixed.csv", MIXED)
    result = gate.run(name)
    assert result.success
    meta = materialized(result)
    assert meta[("validated_movies", name)]["rows_read"] == 5
    assert meta[("validated_movies", name)]["good_rows"] == 2
    assert meta[("validated_movies", name)]["bad_rows"] == 3
    assert meta[("validated_movies", name)]["contract_rejected_rows"] == 2
    assert meta[("imdb_movies_rating", name)]["rows_loaded"] == 2
    rows = gate.warehouse.fetch_movies(name)
    assert sorted(rows["series_title"]) == ["Kept", "No score"]
    assert rows.set_index("series_title")["meta_score"].isna()["No score"]
    reasons = {r["series_title"]: r["DataQualityRulesFail"] for r in bad_records(gate, name)}
    assert reasons["Words"] == ["Contract: meta_score 'eighty' is not a BIGINT"]
    assert reasons["Too high"] == ["Contract: meta_score 150 is above 100"]
    assert reasons["Low rating"] == ['ColumnValues "imdb_rating" between 8.5 and 10.3']
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["rows_conserved"] is True
    assert gate.lake_files() == sorted(
        [
            gate.lake.bad_records_key(name),
            gate.lake.rule_outcomes_key(name),
            gate.lake.validated_key(name),
        ]
    )
    assert gate.work_files() == []


def test_a_file_whose_every_row_is_bad_loads_nothing_and_succeeds(gate):
    """8.0 and 8.5 both fail ``between 8.5 and 10.3`` (exclusive): both rows are bad records and
    the empty validated table breaks no contract."""
    name = gate.ingest("all_bad.csv", csv_text(movie_line("Low", "8.0"), movie_line("Edge", "8.5")))
    result = gate.run(name)
    assert result.success
    meta = materialized(result)
    assert meta[("validated_movies", name)]["rows_read"] == 2
    assert meta[("validated_movies", name)]["good_rows"] == 0
    assert meta[("imdb_movies_rating", name)]["rows_loaded"] == 0
    assert sorted(r["series_title"] for r in bad_records(gate, name)) == ["Edge", "Low"]
    assert gate.warehouse.row_counts() == {}


def test_a_rerun_replaces_the_files_rows(gate):
    name = gate.ingest("mixed.csv", MIXED)
    assert gate.run(name).success
    assert gate.run(name).success
    assert gate.warehouse.row_counts() == {name: 2}
    assert len(bad_records(gate, name)) == 3


def test_one_unreadable_file_fails_alone_in_a_batch(gate):
    first = gate.ingest("a.csv", csv_text(movie_line("A", "9.0")))
    broken = gate.ingest("b.csv", b"\x1f\x8b\x08\x00 not a csv")
    last = gate.ingest("c.csv", csv_text(movie_line("C", "9.1"), movie_line("C2", "8.0")))
    result = gate.run(first, broken, last)
    assert not result.success
    assert gate.warehouse.row_counts() == {first: 1, last: 1}
    meta = materialized(result)
    assert {p for (_, p) in meta} == {first, last}
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    failed = failure.metadata["failed_files"].value
    assert list(failed) == [broken]
    assert failed[broken].startswith("b.csv")
    assert "quality-run" not in failed[broken] and "input.csv" not in failed[broken]
    assert not any("b.csv" in key for key in gate.lake_files())
    assert gate.work_files() == []


def test_a_locked_warehouse_publishes_nothing_and_keeps_the_last_outputs(gate, tmp_path):
    import subprocess
    import sys

    name = gate.ingest("mixed.csv", MIXED)
    assert gate.run(name).success
    before = Path(gate.lake.uri(gate.lake.bad_records_key(name))).read_bytes()
    gate.ingest("mixed.csv", csv_text(movie_line("Only", "9.9")))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
            " time.sleep(60)",
            gate.warehouse.path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = gate.run(name)
    finally:
        holder.kill()
        holder.wait()
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    message = failure.metadata["failed_files"].value[name]
    assert "locked" in message and name in message
    assert Path(gate.lake.uri(gate.lake.bad_records_key(name))).read_bytes() == before
    assert gate.warehouse.row_counts() == {name: 2}
    assert not any("_staging" in key for key in gate.lake_files())
    assert gate.work_files() == []


def test_leftovers_of_a_killed_run_are_removed_at_the_next_start(gate):
    dead_pid = 2**22 + 12345  # above Linux's default pid_max: no such process
    leftover = gate.home / "work" / f"quality-run-{dead_pid}-{HOST}-x1"
    (leftover / "out").mkdir(parents=True)
    (leftover / "input.csv").write_text("big")
    staged_key = f"bad-records/_staging/abc-{dead_pid}-{HOST}/source_file=x.csv/bad_records.jsonl"
    staged_src = gate.home / "staged.jsonl"
    staged_src.write_text("{}\n")
    gate.lake.upload(staged_src, staged_key)
    name = gate.ingest("a.csv", csv_text(movie_line("A", "9.0")))
    assert gate.run(name).success
    assert not leftover.exists()
    assert staged_key not in gate.lake_files()


def test_validated_movies_is_a_reference_to_the_lake(gate):
    name = gate.ingest("mixed.csv", MIXED)
    meta = materialized(gate.run(name))
    reference = meta[("validated_movies", name)]["reference"]
    assert reference["uri"] == gate.lake.uri(gate.lake.validated_key(name))
    assert reference["row_count"] == 2
    [(count,)] = duckdb.sql(f"SELECT COUNT(*) FROM read_parquet('{reference['uri']}')").fetchall()
    assert count == 2


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("Series_Title,IMDB_Rating,Series_Title", "series_title"),
        ("Series_Title,Meta_score", "imdb_rating"),
    ],
)
def test_duplicate_or_missing_required_columns_are_named(gate, header, column):
    name = gate.ingest(
        "cols.csv", f"{header}\nA,9.0,B\n" if "IMDB" in header else f"{header}\nA,9\n"
    )
    result = gate.run(name)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    message = failure.metadata["failed_files"].value[name]
    assert message.startswith("cols.csv") and column in message.lower()
    assert gate.warehouse.row_counts() == {}


def test_an_edited_ruleset_is_parsed_again(tmp_path):
    """The runner parses its ruleset once per version of the file, not once per file processed."""
    from quality_movies.quality.resources import EmbeddedQualityJobRunner

    path = tmp_path / "rules.dqdl"
    path.write_text("Rules = [ RowCount > 0 ]\n", encoding="utf-8")
    runner = EmbeddedQualityJobRunner(ruleset_path=str(path), work_dir=str(tmp_path / "work"))
    assert runner.ruleset() is runner.ruleset()
    assert [r.text for r in runner.ruleset().rules] == ["RowCount > 0"]
    path.write_text('Rules = [ RowCount > 0, IsComplete "id" ]\n', encoding="utf-8")
    assert [r.text for r in runner.ruleset().rules] == ["RowCount > 0", 'IsComplete "id"']
