"""The metric history stores: order, replacement on re-run, exclusion of the current file, short history."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from quality_movies.dq.metric_history import FileQuality, StoredMetricHistory, ruleset_fingerprint
from quality_movies.lake import LocalLake
from quality_movies.monitoring.resources import DuckDBMetricStore, MetricStore, ParquetMetricStore

ROW_COUNT = "Dataset.*.RowCount"
COMPLETENESS = "Column.series_title.Completeness"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
FINGERPRINT = ruleset_fingerprint("Rules = [ RowCount > 0 ]")


def run_of(source_file, rows, minute, version="v1", complete=1.0):
    return FileQuality(
        source_file=source_file,
        file_version=version,
        run_id=f"run-{source_file}-{minute}",
        ruleset_fingerprint=FINGERPRINT,
        rule_outcomes=[
            {"Rule": "RowCount > 0", "Outcome": "Passed", "EvaluatedMetrics": {ROW_COUNT: rows}},
            {
                "Rule": 'IsComplete "series_title"',
                "Outcome": "Passed" if complete == 1.0 else "Failed",
                "FailureReason": ""
                if complete == 1.0
                else "Value: 0.5 does not meet the constraint",
                "EvaluatedMetrics": {COMPLETENESS: complete},
            },
            {"Rule": 'ColumnExists "imdb_rating"', "Outcome": "Passed", "EvaluatedMetrics": {}},
        ],
        analyzer_metrics={"Column.imdb_rating.Mean": 8.0},
        processed_at=T0 + timedelta(minutes=minute),
    )


@pytest.fixture(params=["duckdb", "parquet"])
def store(request, tmp_path) -> MetricStore:
    if request.param == "duckdb":
        return DuckDBMetricStore(path=str(tmp_path / "warehouse.duckdb"))
    return ParquetMetricStore(lake=LocalLake(root=str(tmp_path / "lake")))


def test_history_follows_processing_order_not_names(store):
    for name, rows, minute in [("c.csv", 1000, 1), ("a.csv", 1010, 2), ("b.csv", 990, 3)]:
        store.record(run_of(name, rows, minute))
    history = store.history("d.csv", "v1")
    assert history.previous(ROW_COUNT) == [1000, 1010, 990]
    assert history.previous(ROW_COUNT, 2) == [1010, 990]
    assert history.previous("Column.imdb_rating.Mean") == [8.0, 8.0, 8.0]


def test_rerunning_a_file_replaces_its_entry_and_keeps_its_place(store):
    for name, rows, minute in [("a.csv", 1000, 1), ("b.csv", 1010, 2), ("c.csv", 990, 3)]:
        store.record(run_of(name, rows, minute))
    store.record(run_of("a.csv", 500, 9))
    frame = store.frame()
    assert len(frame[(frame.source_file == "a.csv") & (frame.metric == ROW_COUNT)]) == 1
    assert store.history("d.csv", "v1").previous(ROW_COUNT) == [500, 1010, 990]
    rerun = frame[frame.source_file == "a.csv"]
    assert set(rerun.run_id) == {"run-a.csv-9"}
    assert set(rerun.processed_at) == {T0 + timedelta(minutes=1)}


def test_the_file_being_judged_is_not_its_own_history(store):
    store.record(run_of("a.csv", 1000, 1))
    store.record(run_of("b.csv", 300, 2))
    assert store.history("b.csv", "v1").previous(ROW_COUNT) == [1000]
    store.record(run_of("b.csv", 320, 3, version="v2"))
    assert store.history("b.csv", "v2").previous(ROW_COUNT) == [1000, 300]


def test_forget_removes_one_file_version(store):
    store.record(run_of("a.csv", 1000, 1))
    store.record(run_of("b.csv", 300, 2))
    store.forget("b.csv", "v1")
    assert store.history("z.csv", "v1").previous(ROW_COUNT) == [1000]


def test_every_rule_outcome_is_kept_with_fingerprint_and_check_name(store):
    store.record(run_of("a.csv", 1000, 1, complete=0.5))
    frame = store.frame()
    rules = frame[frame.kind == "rule"]
    assert list(rules.rule) == [
        "RowCount > 0",
        'IsComplete "series_title"',
        'ColumnExists "imdb_rating"',
    ]
    assert list(rules.check_name) == [
        "rowcount_gt_0",
        "iscomplete_series_title",
        "columnexists_imdb_rating",
    ]
    assert list(rules.outcome) == ["Passed", "Failed", "Passed"]
    assert rules.metric.iloc[2] is None
    assert set(frame.ruleset_fingerprint) == {FINGERPRINT}
    assert frame[frame.kind == "analyzer"].metric.tolist() == ["Column.imdb_rating.Mean"]


def test_empty_store_has_no_history(store):
    history = store.history("a.csv", "v1")
    assert history.previous(ROW_COUNT) == []
    assert history.previous(ROW_COUNT, 10) == []
    assert not history.detect_anomaly(ROW_COUNT, 300).anomalous


def test_short_history_gives_what_there_is():
    history = StoredMetricHistory({ROW_COUNT: [1000.0, 1010.0, 990.0]})
    assert history.previous(ROW_COUNT, 10) == [1000.0, 1010.0, 990.0]
    assert history.previous(ROW_COUNT, 1) == [990.0]
    assert history.previous(ROW_COUNT, 0) == []
    assert history.previous("Dataset.*.ColumnCount", 3) == []


def test_twelve_files_then_a_short_one_is_an_anomaly(store):
    sizes = [1000, 1010, 990, 1005, 995, 1000, 1020, 980, 1000, 1010, 990, 1000]
    for i, rows in enumerate(sizes):
        store.record(run_of(f"movies_{i + 1:02}.csv", rows, i))
        judged = store.history(f"movies_{i + 2:02}.csv", "v1").detect_anomaly(ROW_COUNT, 1000)
        assert not judged.anomalous
    # sorted sizes: 980 990 990 995 1000 1000 1000 1000 1005 1010 1010 1020 -> median 1000,
    # |dev| 20 10 10 5 0 0 0 0 5 10 10 20 -> MAD 5 -> floored to 10 -> band 1000 +- 51.89
    verdict = store.history("movies_13.csv", "v1").detect_anomaly(ROW_COUNT, 300)
    assert verdict.anomalous
    assert verdict.observation == (
        "RowCount 300 is below the expected range 948-1,052 from the last 12 files"
    )


def test_recording_inside_the_warehouse_transaction_rolls_back_with_it(tmp_path):
    import duckdb

    store = DuckDBMetricStore(path=str(tmp_path / "warehouse.duckdb"))
    store.record(run_of("a.csv", 1000, 1))
    con = duckdb.connect(store.path)
    con.execute("BEGIN TRANSACTION")
    store.record_in(con, run_of("b.csv", 300, 2))
    con.execute("ROLLBACK")
    con.close()
    assert store.history("z.csv", "v1").previous(ROW_COUNT) == [1000]


def test_a_failed_rerun_keeps_the_last_good_entry(store):
    store.record(run_of("a.csv", 1000, 1))
    store.record(run_of("b.csv", 990, 2))
    with pytest.raises(RuntimeError), store.recording(run_of("a.csv", 10, 5)):
        assert store.history("z.csv", "v1").previous(ROW_COUNT) == [10, 990]
        raise RuntimeError("the warehouse load failed")
    assert store.history("z.csv", "v1").previous(ROW_COUNT) == [1000, 990]
    assert set(store.entry("a.csv", "v1").run_id) == {"run-a.csv-1"}
    with pytest.raises(RuntimeError), store.recording(run_of("c.csv", 5, 6)):
        raise RuntimeError("publishing the outputs failed")
    assert store.entry("c.csv", "v1").empty
    with store.recording(run_of("c.csv", 1005, 7)):
        pass
    assert store.history("z.csv", "v1").previous(ROW_COUNT) == [1000, 990, 1005]


def test_history_travels_as_json_to_a_remote_job():
    import json

    history = StoredMetricHistory({ROW_COUNT: [1000.0, 1010.0, 990.0]})
    again = StoredMetricHistory.from_dict(json.loads(json.dumps(history.to_dict())))
    assert again.previous(ROW_COUNT, 2) == [1010.0, 990.0]
    assert again.detect_anomaly(ROW_COUNT, 300) == history.detect_anomaly(ROW_COUNT, 300)


def test_done_when_numbers_at_the_engine_seam(store):
    """What the engine will ask, file after file, for the issue's ruleset: `RowCount > avg(last(3)) * 0.5`
    reads previous(RowCount, 3); `DetectAnomalies "RowCount"` calls detect_anomaly. Twelve files of about
    1,000 rows pass both from the sixth on; a thirteenth of 300 rows fails both, with an observation."""
    sizes = [1000, 1012, 987, 1003, 995, 1020, 979, 1008, 992, 1001, 1015, 990, 300]
    for i, rows in enumerate(sizes):
        history = store.history(f"movies_{i + 1:02}.csv", "v1")
        last3 = history.previous(ROW_COUNT, 3)
        dynamic_passed = rows > sum(last3) / len(last3) * 0.5 if last3 else None
        verdict = history.detect_anomaly(ROW_COUNT, rows)
        if 5 <= i < 12:
            assert dynamic_passed and not verdict.anomalous, (i, verdict.observation)
        store.record(run_of(f"movies_{i + 1:02}.csv", rows, i))
    # last three before the 13th: 1001, 1015 and 990 -> avg 1002 -> 300 > 501 is false
    assert last3 == [1001, 1015, 990] and not dynamic_passed
    # twelve earlier sizes: median (1000 + 1001) / 2 = 1000.5; |deviations| sorted
    # 0.5 0.5 2.5 5.5 7.5 8.5 10.5 11.5 13.5 14.5 19.5 21.5 -> MAD (8.5 + 10.5) / 2 = 9.5,
    # below the floor 1% of 1000.5 = 10.005 -> half width 3.5 * 10.005 / 0.6745 = 51.92
    # -> 948.58 .. 1,052.42
    assert verdict.anomalous
    assert verdict.lower == pytest.approx(948.58, abs=0.01)
    assert verdict.observation == (
        "RowCount 300 is below the expected range 949-1,052 from the last 12 files"
    )


def test_reading_a_history_needs_no_dagster():
    """The Glue job rebuilds the history from JSON; Glue does not install Dagster."""
    import subprocess
    import sys

    code = (
        "import sys; from quality_movies.dq.metric_history import StoredMetricHistory; "
        "h = StoredMetricHistory.from_dict({'series': {'m': [1.0, 1.0, 1.0]}, 'min_history': 3, "
        "'threshold': 3.5}); assert h.detect_anomaly('m', 5.0).anomalous; "
        "assert 'dagster' not in sys.modules, 'dagster imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_store_reads_while_a_batch_keeps_the_warehouse_open(tmp_path):
    """A batch keeps the warehouse file open for writing; the store's read-only reads in the same
    process then share that database instead of failing on DuckDB's one-configuration rule."""
    from quality_movies.warehouse.resources import DuckDBWarehouse

    path = str(tmp_path / "warehouse.duckdb")
    store = DuckDBMetricStore(path=path)
    store.record(run_of("a.csv", 1000, 1))
    with DuckDBWarehouse(path=path).kept_open():
        store.record(run_of("b.csv", 990, 2))
        assert store.history("c.csv", "v1").previous(ROW_COUNT) == [1000, 990]
    assert store.history("c.csv", "v1").previous(ROW_COUNT) == [1000, 990]


def test_a_rule_without_metrics_has_an_empty_value_and_naive_times_are_utc(store):
    """What the store gives back of a recorded entry, derived from ``run_of``: the third rule
    (ColumnExists) has no metrics, so its row has neither metric nor value; a naive processed_at
    is taken as UTC."""
    naive = replace(run_of("a.csv", 1000, 0), processed_at=T0.replace(tzinfo=None))
    with store.recording(naive):
        pass
    rows = store.entry("a.csv", "v1")
    assert list(rows.position) == [0, 1, 2, 3]
    assert list(rows.kind) == ["rule", "rule", "rule", "analyzer"]
    assert rows.metric.iloc[2] is None and rows.value.isna().iloc[2]
    assert rows.value.iloc[[0, 1, 3]].tolist() == [1000.0, 1.0, 8.0]
    assert set(rows.processed_at) == {T0}
    assert rows.failure_reason.tolist() == ["", "", "", ""]


def test_an_entry_without_outcomes_or_metrics_records_no_rows(store):
    store.record(run_of("a.csv", 1000, 1))
    empty = FileQuality("a.csv", "v1", "run-empty", FINGERPRINT, rule_outcomes=[])
    with pytest.raises(RuntimeError), store.recording(empty):
        assert store.entry("a.csv", "v1").empty
        raise RuntimeError("the warehouse load failed")
    assert store.history("z.csv", "v1").previous(ROW_COUNT) == [1000]
    with store.recording(empty):
        pass
    assert store.entry("a.csv", "v1").empty
