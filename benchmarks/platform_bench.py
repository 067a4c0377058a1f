"""Benchmark the whole platform (``quality-movies run`` and the daemon), not only the DQ engine.

Every measurement runs the real command line in a fresh process on a fresh QUALITY_MOVIES_HOME
under ``--work`` (default /tmp/qm-platform-bench), against the code of one commit (``--commit``,
default HEAD) exported with ``git archive``, so edits in progress in the working tree are never
measured. Peak memory is the larger of the child's ru_maxrss (os.wait4) and the peak summed RSS of
its process tree sampled every 50 ms (psutil). Each record carries the load average before and
after. Results are appended to ``benchmarks/platform_results.jsonl``.

    .venv/bin/python benchmarks/platform_bench.py prepare --gb 5 --count 1000 --keep
    .venv/bin/python benchmarks/platform_bench.py run-vs-check --rows 2000000 --repeat 3
    .venv/bin/python benchmarks/platform_bench.py big-file --gb 5
    .venv/bin/python benchmarks/platform_bench.py files --count 100 1000 --rows 200
    .venv/bin/python benchmarks/platform_bench.py daemon --rows 1000 --repeat 3

Input files are dropped into ``input_data/`` as an upload would leave them (a hard link of the
generated file, so a 5 GB input is not copied per repeat); generated data stays under ``--work``
and is deleted at the end unless ``--keep`` is given.
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
DEFAULT_RESULTS = BENCHMARKS_DIR / "platform_results.jsonl"
BUCKET = "quality-movie-bucket"
INPUT_PREFIX = "input_data"
SEED = 7
ROWS_PER_GB = 3_090_000  # quality-movies sample: about 647 MB per 2,000,000 rows


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def export_source(commit: str, work: Path) -> tuple[Path, str]:
    """The package at ``commit`` as files under ``work/src-<sha>``; returns (folder, full sha)."""
    sha = subprocess.run(
        ["git", "rev-parse", commit], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    src = work / f"src-{sha[:12]}"
    if not (src / "quality_movies").is_dir():
        src.mkdir(parents=True, exist_ok=True)
        archive = work / f"src-{sha[:12]}.tar"
        with archive.open("wb") as out:
            subprocess.run(
                ["git", "archive", sha, "quality_movies", "pyproject.toml", "workspace.yaml"],
                cwd=REPO_ROOT,
                stdout=out,
                check=True,
            )
        with tarfile.open(archive) as tar:
            tar.extractall(src, filter="data")
        archive.unlink()
    return src, sha


class Platform:
    """The ``quality-movies`` command of one exported commit, run on homes under ``work``."""

    def __init__(self, src: Path, sha: str, work: Path):
        self.src, self.sha, self.work = src, sha, work

    def environ(self, home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "QUALITY_"))}
        env.update(PYTHONPATH=str(self.src), QUALITY_MOVIES_HOME=str(home))
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "quality_movies.cli", *args]

    def fresh_home(self, name: str) -> Path:
        home = self.work / "homes" / name
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        return home

    def input_dir(self, home: Path) -> Path:
        folder = home / "lake" / BUCKET / INPUT_PREFIX
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def drop(self, home: Path, data: Path, name: str | None = None) -> Path:
        """Put ``data`` into input_data/ in one step (a hard link, else a copy renamed in place)."""
        dest = self.input_dir(home) / (name or data.name)
        staged = dest.with_name(f".tmp-bench-{dest.name}")
        try:
            os.link(data, staged)
        except OSError:
            shutil.copyfile(data, staged)
        os.replace(staged, dest)
        return dest

    def sample(self, rows: int, seed: int, out: Path) -> Path:
        """A deterministic synthetic file (``quality-movies sample``), generated once."""
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            partial = out.with_name(f".partial-{out.name}")
            subprocess.run(
                self.command(
                    "sample", "--rows", str(rows), "--seed", str(seed), "--out", str(partial)
                ),
                env=self.environ(self.work / "homes" / "sample"),
                cwd=self.src,
                check=True,
                capture_output=True,
            )
            os.replace(partial, out)
        return out

    def many_samples(self, count: int, rows: int, folder: Path) -> list[Path]:
        """``count`` different small files (seeds 1..count), generated in one process."""
        folder.mkdir(parents=True, exist_ok=True)
        script = (
            "import sys; from pathlib import Path; from quality_movies.sample import write_sample\n"
            "folder, count, rows = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])\n"
            "for i in range(1, count + 1):\n"
            "    out = folder / f'movies_{i:04d}.csv'\n"
            "    if not out.exists(): write_sample(out, rows=rows, seed=i)\n"
        )
        subprocess.run(
            [sys.executable, "-c", script, str(folder), str(count), str(rows)],
            env=self.environ(self.work / "homes" / "sample"),
            cwd=self.src,
            check=True,
        )
        return [folder / f"movies_{i:04d}.csv" for i in range(1, count + 1)]


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def measure(command: list[str], env: dict[str, str], timeout_s: float = 3600) -> dict[str, Any]:
    """Wall time, peak RSS of the process tree and exit code of one command."""
    os.sync()
    before = load()
    started = time.perf_counter()
    child = subprocess.Popen(
        command, env=env, cwd=env.get("PYTHONPATH"), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    watched = psutil.Process(child.pid)
    peak = 0
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    os.set_blocking(child.stdout.fileno(), False)
    os.set_blocking(child.stderr.fileno(), False)
    while True:
        for stream, chunks in ((child.stdout, out_chunks), (child.stderr, err_chunks)):
            with contextlib.suppress(BlockingIOError, TypeError):
                data = stream.read()
                if data:
                    chunks.append(data)
        pid, status, rusage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _tree_rss(watched))
        if time.perf_counter() - started > timeout_s:
            for member in [watched, *watched.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    member.kill()
        time.sleep(0.05)
    wall = time.perf_counter() - started
    for stream, chunks in ((child.stdout, out_chunks), (child.stderr, err_chunks)):
        with contextlib.suppress(BlockingIOError, TypeError):
            chunks.append(stream.read() or b"")
    child.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(max(peak, rusage.ru_maxrss * 1024) / 2**20),
        "cpu_s": round(rusage.ru_utime + rusage.ru_stime, 1),
        "exit_code": child.returncode,
        "load_before": before,
        "load_after": load(),
        "stdout_tail": b"".join(out_chunks).decode(errors="replace")[-600:],
        "stderr_tail": b"".join(err_chunks).decode(errors="replace")[-600:],
    }


def warehouse_rows(platform: Platform, home: Path) -> int:
    """Rows in the warehouse table, read after the run has ended."""
    script = (
        "import duckdb, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "print(con.execute('SELECT COUNT(*) FROM movies.imdb_movies_rating').fetchone()[0])\n"
    )
    path = home / "warehouse.duckdb"
    if not path.exists():
        return 0
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=False
    )
    return int(done.stdout.strip() or 0)


def summarize(case: str, runs: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
    walls = [r["wall_s"] for r in runs]
    return {
        "case": case,
        "median_wall_s": round(statistics.median(walls), 2),
        "walls_s": walls,
        "max_peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "exit_codes": [r["exit_code"] for r in runs],
        "loads": [r["load_before"] for r in runs],
        **extra,
        "runs": runs,
    }


def run_vs_check(platform: Platform, rows: int, repeat: int) -> list[dict[str, Any]]:
    """``run`` on one file (fresh home each time) against ``dq check`` on the same file."""
    data = platform.sample(rows, SEED, platform.work / "data" / f"movies_{rows}.csv")
    size_mb = round(data.stat().st_size / 1e6)
    ruleset = platform.src / "quality_movies" / "dq" / "rulesets" / "movies.dqdl"
    checks, runs = [], []
    for i in range(repeat):
        out = platform.work / "dq_out"
        shutil.rmtree(out, ignore_errors=True)
        env = platform.environ(platform.fresh_home(f"check-{i}"))
        checks.append(
            measure(
                platform.command(
                    "dq", "check", "--rules", str(ruleset), "--data", str(data), "--out", str(out)
                ),
                env,
            )
        )
        home = platform.fresh_home(f"run-{rows}-{i}")
        platform.drop(home, data)
        record = measure(platform.command("run"), platform.environ(home))
        record["warehouse_rows"] = warehouse_rows(platform, home)
        runs.append(record)
        shutil.rmtree(home, ignore_errors=True)
        print(
            f"  {rows} rows, repeat {i + 1}: dq check {checks[-1]['wall_s']} s, "
            f"run {record['wall_s']} s {record['peak_rss_mb']} MB, load {record['load_before']}",
            flush=True,
        )
    common = {"rows": rows, "file_mb": size_mb}
    check = summarize("dq check", checks, common)
    run = summarize("run", runs, common)
    run["ratio_to_dq_check"] = round(run["median_wall_s"] / check["median_wall_s"], 2)
    return [check, run]


def big_file(platform: Platform, gigabytes: float) -> list[dict[str, Any]]:
    """Peak RSS of ``run`` on a file of about ``gigabytes`` GB."""
    rows = int(gigabytes * ROWS_PER_GB)
    data = platform.sample(rows, SEED, platform.work / "data" / f"movies_{rows}.csv")
    home = platform.fresh_home(f"big-{rows}")
    platform.drop(home, data)
    record = measure(platform.command("run"), platform.environ(home))
    record["warehouse_rows"] = warehouse_rows(platform, home)
    record["work_left_mb"] = round(
        sum(p.stat().st_size for p in (home / "work").rglob("*") if p.is_file()) / 2**20
        if (home / "work").exists()
        else 0
    )
    shutil.rmtree(home, ignore_errors=True)
    print(f"  {rows} rows: run {record['wall_s']} s {record['peak_rss_mb']} MB", flush=True)
    return [
        summarize(
            "run (big file)", [record], {"rows": rows, "file_mb": data.stat().st_size // 10**6}
        )
    ]


def many_files(platform: Platform, count: int, rows: int) -> list[dict[str, Any]]:
    """``count`` files of ``rows`` rows in one ``run``."""
    files = platform.many_samples(count, rows, platform.work / "data" / f"small_{rows}")
    home = platform.fresh_home(f"files-{count}")
    for path in files[:count]:
        platform.drop(home, path)
    record = measure(platform.command("run"), platform.environ(home))
    record["warehouse_rows"] = warehouse_rows(platform, home)
    record["files_reported"] = record["stdout_tail"].count("== ")
    shutil.rmtree(home, ignore_errors=True)
    print(f"  {count} files: run {record['wall_s']} s {record['peak_rss_mb']} MB", flush=True)
    return [summarize(f"run ({count} files)", [record], {"files": count, "rows_per_file": rows})]


def _wait_http(url: str, timeout_s: float) -> bool:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return True
        time.sleep(0.5)
    return False


def _daemon_runs(platform: Platform, home: Path) -> list[dict[str, Any]]:
    """The ingest runs the daemon made on ``home``, with their timestamps (read from the instance)."""
    script = (
        "import json, os, dagster as dg\n"
        "instance = dg.DagsterInstance.get()\n"
        "out = []\n"
        "for r in instance.get_run_records():\n"
        "    out.append({'job': r.dagster_run.job_name, 'status': r.dagster_run.status.value,\n"
        "        'partition': r.dagster_run.tags.get('dagster/partition'),\n"
        "        'created': r.create_timestamp.timestamp(), 'start': r.start_time, 'end': r.end_time})\n"
        "print(json.dumps(out))\n"
    )
    env = platform.environ(home)
    env["DAGSTER_HOME"] = str(home / "dagster")
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=platform.src,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return []


def daemon(platform: Platform, rows: int, repeat: int, port: int) -> list[dict[str, Any]]:
    """A file of ``rows`` rows dropped into input_data/ under ``quality-movies ui``: drop to loaded."""
    home = platform.fresh_home("daemon")
    files = platform.many_samples(repeat, rows, platform.work / "data" / f"small_{rows}")
    log = (platform.work / "daemon.log").open("wb")
    ui = subprocess.Popen(
        platform.command("ui", "--port", str(port)),
        env=platform.environ(home),
        cwd=platform.src,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    records: list[dict[str, Any]] = []
    try:
        if not _wait_http(f"http://127.0.0.1:{port}/server_info", 120):
            raise RuntimeError("dagster dev did not answer within 120 s: see daemon.log")
        time.sleep(5)  # let the daemon start its sensor loop
        for path in files:
            before = load()
            dropped = time.time()
            platform.drop(home, path)
            deadline = dropped + 600
            run = None
            while time.time() < deadline:
                runs = [
                    r
                    for r in _daemon_runs(platform, home)
                    if r["partition"] == path.name and r["job"] == "ingest_movie_file"
                ]
                if runs and runs[0]["end"]:
                    run = runs[0]
                    break
                time.sleep(1)
            if run is None:
                records.append({"file": path.name, "error": "not loaded within 600 s"})
                continue
            records.append(
                {
                    "file": path.name,
                    "status": run["status"],
                    "drop_to_run_created_s": round(run["created"] - dropped, 1),
                    "run_s": round(run["end"] - run["start"], 1),
                    "drop_to_loaded_s": round(run["end"] - dropped, 1),
                    "load_before": before,
                    "load_after": load(),
                }
            )
            print(f"  daemon: {records[-1]}", flush=True)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ui.pid, signal.SIGINT)
        try:
            ui.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
            ui.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ui.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(home, ignore_errors=True)
    done = [r for r in records if "run_s" in r]
    return [
        {
            "case": "daemon",
            "rows": rows,
            "median_run_s": statistics.median(r["run_s"] for r in done) if done else None,
            "median_drop_to_loaded_s": statistics.median(r["drop_to_loaded_s"] for r in done)
            if done
            else None,
            "runs": records,
        }
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=("prepare", "run-vs-check", "big-file", "files", "daemon"))
    parser.add_argument("--rows", type=int, nargs="+", default=None)
    parser.add_argument("--count", type=int, nargs="+", default=[100])
    parser.add_argument("--gb", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--port", type=int, default=3917)
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--work", type=Path, default=Path("/tmp/qm-platform-bench"))
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    args = parser.parse_args(argv)

    args.work.mkdir(parents=True, exist_ok=True)
    src, sha = export_source(args.commit, args.work)
    platform = Platform(src, sha, args.work)
    print(f"commit {sha[:12]}, load {load()}, work {args.work}", flush=True)
    try:
        if args.case == "prepare":
            rows = int(args.gb * ROWS_PER_GB)
            platform.sample(rows, SEED, platform.work / "data" / f"movies_{rows}.csv")
            for n in args.count:
                platform.many_samples(n, 200, platform.work / "data" / "small_200")
            results = []
        elif args.case == "run-vs-check":
            results = [
                r
                for rows in args.rows or [2_000_000]
                for r in run_vs_check(platform, rows, args.repeat)
            ]
        elif args.case == "big-file":
            results = big_file(platform, args.gb)
        elif args.case == "files":
            rows = (args.rows or [200])[0]
            results = [
                r
                for n in args.count
                for _ in range(args.repeat)
                for r in many_files(platform, n, rows)
            ]
        else:
            results = daemon(platform, (args.rows or [1000])[0], args.repeat, args.port)
    finally:
        if not args.keep:
            shutil.rmtree(args.work / "data", ignore_errors=True)
        shutil.rmtree(args.work / "homes", ignore_errors=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    with args.results.open("a") as out:
        for record in results:
            out.write(json.dumps({"at": stamp, "commit": sha, **record}) + "\n")
            shown = {k: v for k, v in record.items() if k != "runs"}
            print(json.dumps(shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
