"""Issue 12's "Done when", end to end on the embedded deployment through the CLI: twelve files of about
1,000 rows pass a dynamic RowCount rule and DetectAnomalies from the sixth file on, a thirteenth file of
300 rows fails both with an observation in its rule outcome, its check's metadata, the run's
notification and the report."""

import json
from pathlib import Path

import dagster as dg
import pytest

from quality_movies.cli import main
from quality_movies.environment import Environment
from quality_movies.jobs import INGEST_JOB

SEED_RULE = 'ColumnValues "imdb_rating" between 8.5 and 10.3'
DYNAMIC_RULE = "RowCount > avg(last(3)) * 0.5"
ANOMALY_RULE = 'DetectAnomalies "RowCount"'
RULESET = f"Rules = [\n    {SEED_RULE},\n    {DYNAMIC_RULE},\n    {ANOMALY_RULE}\n]\n"
SIZES = [1000, 1012, 987, 1003, 995, 1020, 979, 1008, 992, 1001, 1015, 990]
SMALL = 300

# The thirteenth file's band, by hand from dq/anomaly.py's documented method (modified z-score,
# |0.6745 (x - median) / MAD| > 3.5, MAD floored at 1 % of the median), over the twelve sizes above:
#   sorted: 979 987 990 992 995 1000 | 1001 1003 1008 1012 1015 1020 -> median (1000 + 1001) / 2 = 1000.5
#   |x - 1000.5| sorted: 0.5 0.5 2.5 5.5 7.5 8.5 | 10.5 11.5 13.5 14.5 19.5 21.5 -> MAD (8.5 + 10.5) / 2 = 9.5
#   floor 1 % of 1000.5 = 10.005 > 9.5, so the spread is 10.005
#   half width 3.5 * 10.005 / 0.6745 = 51.916... -> band 948.58 .. 1052.42, shown as 949-1,052
OBSERVATION = "RowCount 300 is below the expected range 949-1,052 from the last 12 files"
# avg(last(3)) before the thirteenth file: (1001 + 1015 + 990) / 3 = 1002, times 0.5 = 501 > 300.


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    ruleset = tmp_path / "memory.dqdl"
    ruleset.write_text(RULESET, encoding="utf-8")
    monkeypatch.setenv("QUALITY_MOVIES_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("QUALITY_MOVIES_RULESET", str(ruleset))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    monkeypatch.delenv("QUALITY_MOVIES_ENV", raising=False)
    return tmp_path / "home"


def ingest(folder: Path, index: int, rows: int) -> str:
    """Write a sample file and ``quality-movies ingest`` it."""
    name = f"movies_{index:02d}.csv"
    sample = ["sample", "--rows", str(rows), "--seed", str(index), "--out", str(folder / name)]
    assert main([*sample, "--title-suffix", f" (file {index})"]) == 0
    assert main(["ingest", str(folder / name)]) == 0
    return name


def by_rule(name: str) -> dict[str, dict]:
    """The file's published rule outcomes, by rule."""
    lake = Environment.from_env().resources()["lake"]
    text = Path(lake.uri(lake.rule_outcomes_key(name))).read_text(encoding="utf-8")
    return {o["Rule"]: o for o in map(json.loads, text.splitlines())}


def ingest_and_run(folder: Path, index: int, rows: int) -> dict[str, dict]:
    """``quality-movies ingest`` then ``run`` one file; its rule outcomes."""
    name = ingest(folder, index, rows)
    assert main(["run"]) == 0
    return by_rule(name)


def assert_judged_in_order(outcomes: list[dict[str, dict]]) -> None:
    """Files 1-3 lack the history last(3) needs; from the sixth on both rules pass; the small 13th fails."""
    for number, rules in enumerate(outcomes[: len(SIZES)], 1):
        assert rules[DYNAMIC_RULE]["EvaluatedMetrics"]["Dataset.*.RowCount"] == SIZES[number - 1]
        if number <= 3:  # last(3) needs three earlier files: files 1-3 have 0, 1 and 2
            assert rules[DYNAMIC_RULE]["Outcome"] == "Failed"
            assert f"holds {number - 1}" in rules[DYNAMIC_RULE]["FailureReason"]
            assert rules[ANOMALY_RULE]["Outcome"] == "Passed"  # nothing judged before 3 earlier
        if number >= 6:
            assert rules[DYNAMIC_RULE]["Outcome"] == "Passed", number
            assert rules[ANOMALY_RULE]["Outcome"] == "Passed", number
    last = outcomes[len(SIZES)]
    assert last[DYNAMIC_RULE]["Outcome"] == "Failed"
    assert last[DYNAMIC_RULE]["EvaluatedMetrics"]["Dataset.*.RowCount"] == SMALL
    assert last[ANOMALY_RULE]["Outcome"] == "Failed"
    assert last[ANOMALY_RULE]["FailureReason"] == OBSERVATION


def test_twelve_files_pass_and_a_small_thirteenth_fails_with_an_observation(home, tmp_path):
    inputs = tmp_path / "inputs"
    outcomes = [ingest_and_run(inputs, i, rows) for i, rows in enumerate([*SIZES, SMALL], 1)]
    assert_judged_in_order(outcomes)

    with dg.DagsterInstance.get() as instance:
        [run] = instance.get_runs(dg.RunsFilter(job_name=INGEST_JOB), limit=1)
        records = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    checks = {e.metadata["rule"].value: e for e in evaluations if "rule" in e.metadata}
    anomaly_check = checks[ANOMALY_RULE]
    assert anomaly_check.partition == "movies_13.csv"
    assert not anomaly_check.passed
    assert anomaly_check.metadata["failure_reason"].value == OBSERVATION
    assert not checks[DYNAMIC_RULE].passed

    *_, notification = (home / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    message = json.loads(notification)["message"]
    assert message["file"] == "movies_13.csv"
    announced = {o["rule"]: o for o in message["rule_outcomes"]}
    assert announced[ANOMALY_RULE]["outcome"] == "Failed"
    assert announced[ANOMALY_RULE]["failure_reason"] == OBSERVATION
    assert announced[DYNAMIC_RULE]["outcome"] == "Failed"

    report = tmp_path / "report.html"
    assert main(["report", "--out", str(report)]) == 0
    page = report.read_text(encoding="utf-8")
    assert "movies_13.csv" in page
    assert OBSERVATION in page
    assert all(f"movies_{i:02d}.csv" in page for i in range(1, 14))


def test_the_same_files_run_together_are_judged_in_the_order_of_the_batch(home, tmp_path):
    """Ingested first and run once (one run over all thirteen partitions): each file is judged against
    the files staged before it in the same run, as when they are run one by one."""
    names = [ingest(tmp_path / "inputs", i, rows) for i, rows in enumerate([*SIZES, SMALL], 1)]
    assert main(["run"]) == 0
    assert_judged_in_order([by_rule(name) for name in names])
