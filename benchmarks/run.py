"""Benchmark the DQ engine (DuckDB and Spark backends) against hand-written references.

Every measurement runs in a fresh subprocess of this script, so its wall time, start-up and peak
memory are its own. Peak memory is the larger of the child's ru_maxrss (os.wait4) and the peak
summed RSS of the child's process tree sampled every 50 ms (this catches Spark's JVM).
Results are appended to a JSON-lines file and rendered as a markdown table. ``--repeat N`` runs N
rounds per file and ruleset, the kinds in reverse order every other round; the project is
byte-compiled first, as an install would leave it.

    .venv/bin/python benchmarks/run.py --rows 100000 1000000 --rulesets seed ten \
        --backends duckdb spark --references read sql pandera pyspark
"""

import argparse
import compileall
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
DATA_DIR = BENCHMARKS_DIR / ".data"
SEED_RULE = BENCHMARKS_DIR / "seed_rule.dqdl"
TEN_RULES = BENCHMARKS_DIR / "ten_rules.dqdl"
DEFAULT_RESULTS = BENCHMARKS_DIR / "results.jsonl"
DEFAULT_TABLE = BENCHMARKS_DIR / "results.md"
SEED = 7

KINDS = {
    "duckdb": "engine, DuckDB backend",
    "spark": "engine, Spark backend",
    "read": "(a) DuckDB reads the file",
    "sql": "(b) hand-written DuckDB SQL",
    "pandera": "(c) pandas + pandera",
    "pyspark": "(d) plain PySpark",
}
RULESET_FREE = {"read"}
SPARK_KINDS = {"spark", "pyspark"}


def data_file(rows: int) -> Path:
    return DATA_DIR / f"movies_{rows}.csv"


def ensure_data(rows: int, path: Path | None = None) -> dict[str, Any]:
    """Generate the synthetic file once (seed 7) and keep its SampleStats beside it."""
    from quality_movies.sample import write_sample

    path = path or data_file(rows)
    stats_path = path.with_suffix(".stats.json")
    if path.exists() and stats_path.exists():
        return json.loads(stats_path.read_text())
    started = time.perf_counter()
    stats = write_sample(path, rows=rows, seed=SEED)
    record = {
        **asdict(stats),
        "path": str(path),
        "file_bytes": path.stat().st_size,
        "generate_s": round(time.perf_counter() - started, 2),
    }
    stats_path.write_text(json.dumps(record))
    print(f"generated {path} ({record['file_bytes'] / 1e6:.0f} MB) in {record['generate_s']} s")
    return record


def ruleset_path(name: str) -> Path:
    return TEN_RULES if name == "ten" else SEED_RULE


def measure_in_child(
    kind: str, ruleset: str, data: Path, out_dir: Path, spark_memory: str = "2g"
) -> dict[str, Any]:
    """Body of one measurement; runs inside the fresh subprocess."""
    sys.path.insert(0, str(BENCHMARKS_DIR))
    import references

    temp_directory = DATA_DIR / "tmp"
    temp_directory.mkdir(parents=True, exist_ok=True)
    startup_s = 0.0
    spark = None
    if kind in SPARK_KINDS:
        started = time.perf_counter()
        spark = references.spark_session(spark_memory)
        startup_s = time.perf_counter() - started
    started = time.perf_counter()
    if kind == "read":
        counts = references.duckdb_read_only(data, temp_directory)
    elif kind == "sql":
        counts = references.duckdb_sql(data, out_dir, ruleset, temp_directory)
    elif kind == "pandera":
        counts = references.pandas_pandera(data, out_dir, ruleset)
    elif kind == "pyspark":
        counts = references.pyspark_split(spark, data, out_dir, ruleset)
    else:
        from quality_movies.dq import evaluate_file, load_ruleset

        parsed = load_ruleset(ruleset_path(ruleset))
        summary = evaluate_file(
            parsed,
            data,
            out_dir,
            engine=kind,
            spark=spark,
            write_good_jsonl=True,
            temp_directory=str(temp_directory),
        )
        counts = {
            "rows_read": summary.rows_read,
            "good_rows": summary.good_rows,
            "bad_rows": summary.bad_rows,
        }
    work_s = time.perf_counter() - started
    if spark is not None:
        spark.stop()
    return {**counts, "work_s": work_s, "startup_s": startup_s}


def _sample_tree(process: psutil.Process, cpu_by_pid: dict[int, float]) -> int:
    """Summed RSS of the process tree now; records each member's CPU seconds so far."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
            times = member.cpu_times()
            cpu_by_pid[member.pid] = times.user + times.system
    return total


def run_measurement(
    kind: str,
    ruleset: str,
    data: Path,
    timeout_s: float,
    keep_outputs: bool,
    spark_memory: str = "2g",
) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; return timings, peak memory and counts."""
    out_dir = DATA_DIR / "out" / f"{kind}-{ruleset}-{data.stem}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    log = out_dir.parent / f"{out_dir.name}.log"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--measure",
        kind,
        "--measure-ruleset",
        ruleset,
        "--measure-data",
        str(data),
        "--measure-out",
        str(out_dir),
        "--measure-spark-memory",
        spark_memory,
    ]
    os.sync()  # the previous run's output should not be written back during this one
    load_before = [round(x, 1) for x in os.getloadavg()]
    started = time.perf_counter()
    with log.open("w") as log_handle:
        child = subprocess.Popen(
            command, stdout=log_handle, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
    watched = psutil.Process(child.pid)
    peak_tree = 0
    cpu_by_pid: dict[int, float] = {}
    status, rusage, timed_out = 0, None, False
    while True:
        pid, status, rusage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        peak_tree = max(peak_tree, _sample_tree(watched, cpu_by_pid))
        if time.perf_counter() - started > timeout_s:
            timed_out = True
            for member in [watched, *watched.children(recursive=True)]:
                member.kill()
        time.sleep(0.05)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall_s = time.perf_counter() - started
    # The child itself is exact from wait4; descendants it did not reap (Spark's JVM) are sampled.
    cpu_by_pid[child.pid] = rusage.ru_utime + rusage.ru_stime
    output_bytes = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    result_lines = [line for line in log.read_text().splitlines() if line.startswith("RESULT ")]
    record: dict[str, Any] = {
        "kind": kind,
        "ruleset": "-" if kind in RULESET_FREE else ruleset,
        "data": str(data.relative_to(REPO_ROOT)),
        "wall_s": round(wall_s, 2),
        "peak_rss_mb": round(max(peak_tree, rusage.ru_maxrss * 1024) / 2**20),
        "cpu_s": round(sum(cpu_by_pid.values()), 1),
        "output_mb": round(output_bytes / 1e6),
        "exit_code": child.returncode,
        "spark_driver_memory": spark_memory if kind in SPARK_KINDS else None,
        "timed_out": timed_out,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_before": load_before,
        "load_after": [round(x, 1) for x in os.getloadavg()],
    }
    if result_lines:
        record.update(json.loads(result_lines[-1].removeprefix("RESULT ")))
        record["work_s"] = round(record["work_s"], 3)
        record["startup_s"] = round(record["startup_s"], 2)
    else:
        tail = log.read_text().splitlines()[-15:]
        record["error"] = "\n".join(tail)
    if not keep_outputs:
        shutil.rmtree(out_dir, ignore_errors=True)
    return record


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


def load_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def render_table(results: list[dict[str, Any]]) -> str:
    """Markdown table, one line per (file, ruleset, kind), with a correctness check.

    Of repeated runs the successful one with the median work time is shown (the lower middle of an
    even count), with the number of runs and the load average before it (the machine may be
    shared); one that never succeeded shows its failure.
    """
    runs: dict[tuple[str, str, str, str | None], list[dict[str, Any]]] = {}
    for record in results:
        default = "2g" if record["kind"] in SPARK_KINDS else None
        memory = record.get("spark_driver_memory") or default
        record = {**record, "spark_driver_memory": memory}
        runs.setdefault((record["data"], record["ruleset"], record["kind"], memory), []).append(
            record
        )
    latest = {}
    for key, records in runs.items():
        succeeded = [r for r in records if "error" not in r]
        ranked = sorted(succeeded, key=lambda r: r["work_s"])
        best = ranked[(len(ranked) - 1) // 2] if ranked else records[-1]
        latest[key] = {**best, "runs": len(records)}
    reference_good = {
        (r["data"], r["ruleset"]): r.get("good_rows")
        for r in latest.values()
        if r["kind"] == "sql" and "good_rows" in r
    }
    lines = [
        "| rows | file MB | ruleset | measurement | runs | load | wall s | work s | Spark start s | "
        "CPU s | rows/s (work) | MB/s (work) | peak RSS MB | good | bad | check |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    order = list(KINDS)

    def sort_key(record: dict[str, Any]) -> tuple:
        memory = record.get("spark_driver_memory") or ""
        return (record["rows"], record["ruleset"], order.index(record["kind"]), memory)

    def label(record: dict[str, Any]) -> str:
        memory = record.get("spark_driver_memory")
        heap = f" (driver heap {memory})" if memory and memory != "2g" else ""
        return KINDS[record["kind"]] + heap

    for record in sorted(latest.values(), key=sort_key):
        if "error" in record:
            check = "timed out" if record.get("timed_out") else "error"
            lines.append(
                f"| {record['rows']:,} | {record['file_mb']:,} | {record['ruleset']} | "
                f"{label(record)} | {record['runs']} | {record['load_before'][0]} | {record['wall_s']} | - | - | {record.get('cpu_s', '-')} | - | - | "
                f"{record['peak_rss_mb']:,} | - | - | {check} |"
            )
            continue
        work = record["work_s"]
        check = _check(record, reference_good)
        good = "-" if record["good_rows"] < 0 else f"{record['good_rows']:,}"
        bad = "-" if record["bad_rows"] < 0 else f"{record['bad_rows']:,}"
        startup = f"{record['startup_s']}" if record["kind"] in SPARK_KINDS else "-"
        lines.append(
            f"| {record['rows']:,} | {record['file_mb']:,} | {record['ruleset']} | "
            f"{label(record)} | {record['runs']} | {record['load_before'][0]} | {record['wall_s']} | {work} | {startup} | "
            f"{record.get('cpu_s', '-')} | "
            f"{record['rows'] / work:,.0f} | {record['file_mb'] / work:,.0f} | "
            f"{record['peak_rss_mb']:,} | {good} | {bad} | {check} |"
        )
    return "\n".join(lines) + "\n"


def _check(record: dict[str, Any], reference_good: dict[tuple[str, str], Any]) -> str:
    """Seed ruleset: good/bad equal the generator's counts. Ten rules: good equals (b)'s."""
    if record["rows_read"] != record["rows"]:
        return f"rows_read {record['rows_read']:,} != {record['rows']:,}"
    if record["good_rows"] < 0:
        return "rows ok"
    if record["ruleset"] == "seed":
        expected = (record["expected_good"], record["expected_bad"])
        got = (record["good_rows"], record["bad_rows"])
        return "= generator" if got == expected else f"expected {expected[0]:,}/{expected[1]:,}"
    reference = reference_good.get((record["data"], record["ruleset"]))
    if reference is None:
        return "no (b) to compare"
    return "= (b)" if record["good_rows"] == reference else f"(b) good {reference:,}"


def compile_project() -> None:
    """Byte-compile the project as installing it would, so no measurement compiles its modules
    (an editable install under PYTHONDONTWRITEBYTECODE would otherwise compile them every run)."""
    compileall.compile_dir(REPO_ROOT / "quality_movies", quiet=1)


def run_matrix(args: argparse.Namespace) -> None:
    results_path: Path = args.results
    kinds = [*args.references, *args.backends]
    compile_project()
    for rows in args.rows:
        stats = ensure_data(rows)
        data = Path(stats["path"])
        for ruleset in args.rulesets:
            for round_ in range(args.repeat):
                # ABBA: every other round runs the kinds in reverse, so no kind always runs
                # right after another's outputs were deleted (or first on a cold machine).
                for kind in kinds if round_ % 2 == 0 else kinds[::-1]:
                    if kind in RULESET_FREE and ruleset != args.rulesets[0]:
                        continue
                    name = "-" if kind in RULESET_FREE else ruleset
                    _measure_and_store(kind, name, data, rows, stats, args, results_path)
    if args.big_file_gb:
        run_big_file(args)
    args.out.write_text(render_table(load_results(results_path)))
    print(f"table written to {args.out}")


def _measure_and_store(
    kind: str,
    ruleset: str,
    data: Path,
    rows: int,
    stats: dict[str, Any],
    args: argparse.Namespace,
    results_path: Path,
) -> dict[str, Any]:
    print(f"measuring {kind} {ruleset} on {data.name} ...", flush=True)
    record = run_measurement(
        kind, ruleset, data, args.timeout, args.keep_outputs, args.spark_driver_memory
    )
    record.update(
        rows=rows,
        file_mb=round(stats["file_bytes"] / 1e6),
        expected_good=stats["expected_good"],
        expected_bad=stats["expected_bad"],
        machine=machine(),
    )
    with results_path.open("a") as handle:
        handle.write(json.dumps(record) + "\n")
    summary = {k: record.get(k) for k in ("wall_s", "work_s", "peak_rss_mb", "good_rows", "error")}
    print(f"  {summary}", flush=True)
    return record


def run_big_file(args: argparse.Namespace) -> None:
    """Embedded backend's peak memory on a ~N GB file; the file is deleted afterwards."""
    probe = ensure_data(100_000)
    bytes_per_row = probe["file_bytes"] / probe["rows"]
    rows = int(args.big_file_gb * 1e9 / bytes_per_row)
    path = DATA_DIR / f"movies_big_{rows}.csv"
    free = shutil.disk_usage(DATA_DIR).free
    if free < 3 * args.big_file_gb * 1e9:
        raise SystemExit(
            f"{DATA_DIR} has {free / 1e9:.0f} GB free; the {args.big_file_gb} GB run needs about "
            f"{3 * args.big_file_gb:.0f} GB (input, good and bad outputs). Free disk or lower "
            "--big-file-gb."
        )
    try:
        stats = ensure_data(rows, path)
        for ruleset in args.rulesets:
            _measure_and_store("duckdb", ruleset, path, rows, stats, args, args.results)
    finally:
        path.unlink(missing_ok=True)
        path.with_suffix(".stats.json").unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--rulesets", nargs="+", choices=["seed", "ten"], default=["seed", "ten"])
    parser.add_argument(
        "--backends", nargs="*", choices=["duckdb", "spark"], default=["duckdb", "spark"]
    )
    parser.add_argument(
        "--references",
        nargs="*",
        choices=["read", "sql", "pandera", "pyspark"],
        default=["read", "sql", "pandera", "pyspark"],
    )
    parser.add_argument("--big-file-gb", type=float, default=0, help="also run a ~N GB file")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--out", type=Path, default=DEFAULT_TABLE, help="markdown table")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per measurement")
    parser.add_argument("--keep-outputs", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds per file and ruleset, order alternating"
    )
    parser.add_argument(
        "--spark-driver-memory", default="2g", help="heap of the local Spark driver (default 2g)"
    )
    parser.add_argument("--measure", choices=list(KINDS), help=argparse.SUPPRESS)
    parser.add_argument("--measure-ruleset", help=argparse.SUPPRESS)
    parser.add_argument("--measure-data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure-spark-memory", default="2g", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        result = measure_in_child(
            args.measure,
            args.measure_ruleset,
            args.measure_data,
            args.measure_out,
            args.measure_spark_memory,
        )
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    run_matrix(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
