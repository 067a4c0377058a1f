"""``quality-movies dq check --history`` / ``--record-history`` (the installed console script):
dynamic rules and DetectAnomalies outside the pipeline, with a history kept between runs."""

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("quality-movies")
RULES = 'Rules = [ RowCount > avg(last(3)) * 0.5, DetectAnomalies "RowCount" ]\n'


def rows(tmp_path: Path, n: int) -> Path:
    data = tmp_path / f"rows{n}.csv"
    data.write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(n)))
    return data


def check(tmp_path: Path, data: Path, *options: str) -> subprocess.CompletedProcess:
    rules = tmp_path / "rules.dqdl"
    rules.write_text(RULES)
    return subprocess.run(
        [str(SCRIPT), "dq", "check", "--rules", str(rules), "--data", str(data),
         "--out", str(tmp_path / "out"), *options],
        env={**os.environ, "QUALITY_MOVIES_CACHE_DIR": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


def outcomes(done: subprocess.CompletedProcess) -> list[str]:
    return [line.strip() for line in done.stdout.splitlines() if line.startswith("  [")]


def test_a_json_history_answers_dynamic_rules(tmp_path):
    history = tmp_path / "history.json"
    history.write_text(json.dumps({"series": {"Dataset.*.RowCount": [4, 10, 10, 10]}}))
    # last(3) = 10, 10, 10: 6 rows > 5 passes, 4 rows does not; DetectAnomalies: median 10,
    # MAD floored at 1 % of 10 = 0.1, so 6 is |0.6745 * (6 - 10) / 0.1| = 27 > 3.5: an anomaly
    passing = check(tmp_path, rows(tmp_path, 6), "--history", str(history))
    assert passing.returncode == 1, passing.stderr
    assert outcomes(passing) == [
        "[PASSED] RowCount > avg(last(3)) * 0.5",
        '[FAILED] DetectAnomalies "RowCount"',
    ]
    failing = check(tmp_path, rows(tmp_path, 4), "--history", str(history))
    assert outcomes(failing)[0] == "[FAILED] RowCount > avg(last(3)) * 0.5"
    assert json.loads(history.read_text())["series"]["Dataset.*.RowCount"] == [4, 10, 10, 10]


def test_record_history_keeps_a_json_history_between_runs(tmp_path):
    history = tmp_path / "ci" / "history.json"
    for n in (10, 11, 12):
        done = check(tmp_path, rows(tmp_path, n), "--history", str(history), "--record-history")
        assert done.returncode in (0, 1), done.stderr
        assert f"Wrote {history}" in done.stdout
    # history 10, 11, 12: median 11, MAD 1; 13 gives |0.6745 * 2| = 1.35 (passes), 40 gives 19.6
    usual = check(tmp_path, rows(tmp_path, 13), "--history", str(history), "--record-history")
    assert usual.returncode == 0, usual.stdout + usual.stderr
    spike = check(tmp_path, rows(tmp_path, 40), "--history", str(history))
    assert spike.returncode == 1
    assert outcomes(spike)[1] == '[FAILED] DetectAnomalies "RowCount"'
    recorded = json.loads(history.read_text())["series"]["Dataset.*.RowCount"]
    assert recorded == [10, 11, 12, 13]  # the spike was checked without --record-history


def test_a_parquet_history_folder_in_the_pipelines_shape(tmp_path):
    folder = tmp_path / "dq_metrics"
    for n in (10, 11, 12):
        done = check(tmp_path, rows(tmp_path, n), "--history", str(folder), "--record-history")
        assert done.returncode in (0, 1), done.stderr
    assert len(list(folder.glob("*.parquet"))) == 3
    spike = rows(tmp_path, 40)
    first = check(tmp_path, spike, "--history", str(folder), "--record-history")
    again = check(tmp_path, spike, "--history", str(folder), "--record-history")
    # the same file version replaces its own entry and is never judged against itself
    assert len(list(folder.glob("*.parquet"))) == 4
    for done in (first, again):
        assert outcomes(done)[1] == '[FAILED] DetectAnomalies "RowCount"'
        assert "from the last 3 files" in done.stdout


def test_history_errors_are_one_line(tmp_path):
    missing = check(tmp_path, rows(tmp_path, 3), "--history", str(tmp_path / "none.json"))
    assert missing.returncode == 2
    assert missing.stderr == (
        f"error: {tmp_path / 'none.json'}: no such history file or folder "
        "(add --record-history to start one)\n"
    )
    alone = check(tmp_path, rows(tmp_path, 3), "--record-history")
    assert alone.returncode == 2
    assert alone.stderr.splitlines()[-1] == (
        "quality-movies dq: error: --record-history needs --history FILE_OR_DIR "
        "(where to keep the metrics)"
    )
