"""Many files dropped while the daemon runs: drop-to-loaded latency and exactly-once, end to end.

Starts ``quality-movies ui`` (dagster dev: webserver, daemon, the new-files sensor) on 127.0.0.1 with
a fresh home, drops FILES synthetic files of ROWS rows into the embedded lake's ``input_data/``
spread over SPREAD seconds (each written aside, then renamed in, as an upload appears), waits until
the ledger has settled every version, stops the UI by its process group, then reads the record (one
warm-up file is dropped and settled first, so the daemon's sensor is ticking when the drops begin):

- latency per file: its rows' ``loaded_at`` in the warehouse minus the moment it was dropped
  (p50, p95, max);
- exactly once: the warehouse rows per file equal the good rows ``write_sample`` counted for it
  (the seed rule applied to the ratings it wrote, not by any engine), with one ``loaded_at`` each;
  the local outbox holds one notification per file, a success;
- runs started, and every failed run with its error (all files are valid, so any failure is not
  the file's).

    .venv/bin/python benchmarks/daemon_load.py [--files 500] [--rows 1000] [--spread 60]
        [--timeout 1800] [--home DIR] [--results benchmarks/results.jsonl]
"""

import argparse
import contextlib
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from quality_movies.sample import write_sample

BUCKET = "quality-movie-bucket"
FINAL_STATES = ("processed", "failed")
WARM_UP = "warm_up.csv"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_ui(home: Path, port: int, log_path: Path) -> subprocess.Popen:
    """``quality-movies ui`` in its own process group; returns once /server_info answers."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "QUALITY_"))}
    environ["QUALITY_MOVIES_HOME"] = str(home)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "quality_movies.cli", "ui", "--port", str(port)],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2),
        ):
            return process
        if process.poll() is not None:
            break
        time.sleep(1)
    stop_ui(process)
    raise SystemExit(f"dagster dev did not answer on port {port}: see {log_path}")


def stop_ui(process: subprocess.Popen) -> None:
    """SIGINT to the group this script created, then SIGKILL what is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def ledger_states(ledger_path: Path) -> dict[str, str]:
    """The latest state of each input key in the ledger (empty before the first claim)."""
    if not ledger_path.exists():
        return {}
    with contextlib.closing(sqlite3.connect(f"file:{ledger_path}?mode=ro", uri=True)) as con:
        try:
            rows = con.execute(
                "SELECT input_key, state FROM file_versions ORDER BY updated_at"
            ).fetchall()
        except sqlite3.OperationalError:
            return {}
    return dict(rows)


def warm_up(home: Path, staging: Path, input_dir: Path, timeout: float) -> None:
    """Drop one file and wait until it is settled: the daemon, its sensor and the code location are
    up before the measured drops begin (the UI answers well before the sensor's first tick)."""
    write_sample(staging / WARM_UP, rows=10, seed=0)
    os.replace(staging / WARM_UP, input_dir / WARM_UP)
    deadline = time.monotonic() + timeout
    while ledger_states(home / "ledger.sqlite3").get(f"input_data/{WARM_UP}") not in FINAL_STATES:
        if time.monotonic() > deadline:
            raise SystemExit(f"the warm-up file was not settled within {timeout:g} s")
        time.sleep(1)


def wait_for_runs_to_end(home: Path, deadline: float) -> None:
    """Let the runs started by the last settlements (the view's refresh) end before the UI stops."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    in_flight = [
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
    ]
    with dg.DagsterInstance.get() as instance:
        time.sleep(10)  # a run-status sensor may request one more run
        while time.monotonic() < deadline:
            if not instance.get_runs(filters=dg.RunsFilter(statuses=in_flight), limit=1):
                return
            time.sleep(2)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds over which to drop")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--results", type=Path, default=None, help="append a JSON line here")
    args = parser.parse_args(argv)

    home = args.home or Path(tempfile.mkdtemp(prefix="daemon-load-")) / "home"
    staging = home.parent / "staging"
    input_dir = home / "lake" / BUCKET / "input_data"
    staging.mkdir(parents=True, exist_ok=True)
    input_dir.mkdir(parents=True, exist_ok=True)
    names = [f"load_{i:04d}.csv" for i in range(args.files)]
    expected_good = {}
    for i, name in enumerate(names):
        stats = write_sample(staging / name, rows=args.rows, seed=i + 1, title_suffix=f" #{i}")
        expected_good[name] = stats.expected_good

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    load_before = os.getloadavg()
    ui = start_ui(home, free_port(), home.parent / "ui.log")
    dropped_at: dict[str, datetime] = {}
    loads = []
    try:
        warm_up(home, staging, input_dir, args.timeout)
        started = time.monotonic()
        first_drop = datetime.now(UTC)
        for i, name in enumerate(names):
            time.sleep(max(0.0, started + args.spread * i / args.files - time.monotonic()))
            os.replace(staging / name, input_dir / name)
            dropped_at[name] = datetime.now(UTC).replace(tzinfo=None)
        deadline = time.monotonic() + args.timeout
        keys = {f"input_data/{n}" for n in names}
        while time.monotonic() < deadline:
            states = ledger_states(home / "ledger.sqlite3")
            settled = sum(1 for k in keys if states.get(k) in FINAL_STATES)
            loads.append(os.getloadavg()[0])
            if settled == len(keys):
                break
            time.sleep(2)
        waited_s = time.monotonic() - started
        wait_for_runs_to_end(home, deadline)
    finally:
        stop_ui(ui)

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    loaded = {
        source: (int(rows), int(times), first)
        for source, rows, times, first in con.execute(
            "SELECT source_file, COUNT(*), COUNT(DISTINCT loaded_at), MIN(loaded_at) "
            "FROM movies.imdb_movies_rating GROUP BY source_file"
        ).fetchall()
    }
    con.close()
    outbox = home / "outbox.jsonl"
    notes = [json.loads(line) for line in outbox.read_text().splitlines() if line.strip()]
    notes_by_file: dict[str, list[str]] = {}
    for note in notes:
        notes_by_file.setdefault(note["subject"].rsplit(": ", 1)[-1], []).append(note["subject"])

    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    with dg.DagsterInstance.get() as instance:
        # the runs of the measured drops (not the warm-up's)
        runs = [
            r.dagster_run
            for r in instance.get_run_records(filters=dg.RunsFilter(created_after=first_drop))
        ]
        failed_runs = []
        unfinished_runs = [r.run_id for r in runs if not r.is_finished]
        for run in runs:
            if run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
                failure = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
                step_errors = [
                    e.dagster_event.step_failure_data.error.message.strip()[:300]
                    for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
                ]
                failed_runs.append(
                    {
                        "run_id": run.run_id,
                        "status": run.status.value,
                        "errors": step_errors
                        or [f.message for f in failure if f.message]
                        or ["(no error recorded)"],
                    }
                )

    latencies = [
        (loaded[n][2] - dropped_at[n]).total_seconds()
        for n in names
        if n in loaded and loaded[n][0]
    ]
    wrong_rows = {
        n: (loaded.get(n, (0, 0, None))[0], expected_good[n])
        for n in names
        if loaded.get(n, (0, 0, None))[0] != expected_good[n]
    }
    loaded_twice = [n for n in names if n in loaded and loaded[n][1] != 1]
    wrong_notes = {
        n: notes_by_file.get(n, [])
        for n in names
        if notes_by_file.get(n, []) != [f"quality_movies succeeded: {n}"]
    }
    result = {
        "benchmark": "daemon_load",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "files": args.files,
        "rows_per_file": args.rows,
        "spread_s": args.spread,
        "all_settled_after_s": round(waited_s, 1),
        "files_loaded": len(latencies),
        "latency_p50_s": round(statistics.median(latencies), 1) if latencies else None,
        "latency_p95_s": round(percentile(latencies, 95), 1) if latencies else None,
        "latency_max_s": round(max(latencies), 1) if latencies else None,
        "runs_started": len(runs),
        "runs_failed": failed_runs,
        "runs_unfinished_at_stop": unfinished_runs,
        "files_with_wrong_rows": wrong_rows,
        "files_loaded_more_than_once": loaded_twice,
        "files_not_announced_once": wrong_notes,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_during_max": round(max(loads), 2) if loads else None,
        "load_average_during_mean": round(statistics.fmean(loads), 2) if loads else None,
        "home": str(home),
    }
    print(json.dumps(result, indent=2))
    if args.results:
        with args.results.open("a") as out:
            out.write(json.dumps(result) + "\n")
    ok = not (wrong_rows or loaded_twice or wrong_notes or failed_runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
