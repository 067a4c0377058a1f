"""The Glue job's batch on local Spark: ``glue_job.evaluate_batch`` over N files of R rows, the
packaged movies ruleset, every file's three outputs published (bad records, rule outcomes,
validated Parquet), as the local Spark runner calls it (inputs and outputs on local disk).

    .venv/bin/python benchmarks/glue_batch.py --files 1000 --rows 200 [--repeat 1] [--master local[2]]
    .venv/bin/python benchmarks/glue_batch.py --files 1 --rows 2000000

Files are written by the benchmark generator (``quality_movies.sample.write_sample``, seed = the
file's number; the 2M-row file is benchmarks/run.py's cached one). One SparkSession is started and
warmed up on a one-file batch first (neither is counted); "Spark work" is the wall time of the
``evaluate_batch`` call. Every file must come back without an error and with its rows conserved.
Prints one JSON line per run (commit, load average before and after, seconds, ms per file).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))


def write_files(folder: Path, files: int, rows: int) -> list[Path]:
    """``files`` CSVs of ``rows`` rows (the 2M-row one from benchmarks/.data when files == 1)."""
    from quality_movies.sample import write_sample

    if files == 1 and rows >= 100_000:
        from run import data_file, ensure_data

        ensure_data(rows)
        return [data_file(rows)]
    paths = []
    for number in range(files):
        path = folder / f"movies_{number:05d}.csv"
        write_sample(path, rows=rows, seed=number, title_suffix=f" ({number})")
        paths.append(path)
    return paths


def batch_of(paths: list[Path], out: Path) -> list:
    from quality_movies.quality.glue_job import BatchFile

    return [
        BatchFile(
            source_file=path.name,
            input_uri=str(path),
            bad_records_uri=str(out / path.stem / "bad_records.jsonl"),
            rule_outcomes_uri=str(out / path.stem / "rule_outcomes.jsonl"),
            validated_uri=str(out / path.stem / "validated_movies.parquet"),
        )
        for path in paths
    ]


def run_batch(spark, ruleset_text: str, paths: list[Path], out: Path) -> float:
    """Seconds of one ``evaluate_batch`` call; fails when a file failed or lost rows."""
    from quality_movies.quality.glue_job import evaluate_batch

    shutil.rmtree(out, ignore_errors=True)
    batch = batch_of(paths, out)
    started = time.perf_counter()
    reports = evaluate_batch(spark, ruleset_text, batch, staging_uri=str(out / "staging"))
    elapsed = time.perf_counter() - started
    for file in batch:
        report = reports[file.source_file]
        if "error" in report:
            raise SystemExit(f"{file.source_file} failed: {report['error']}")
        if report["bad_rows"] + report["validated_rows"] != report["rows_read"]:
            raise SystemExit(f"{file.source_file}: rows not conserved: {report}")
        for uri in (file.bad_records_uri, file.rule_outcomes_uri, file.validated_uri):
            if not Path(uri).is_file():
                raise SystemExit(f"{file.source_file}: {uri} was not published")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    from pyspark.sql import SparkSession

    from quality_movies.quality.glue_job import packaged_ruleset_text

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    ruleset_text = packaged_ruleset_text()
    with tempfile.TemporaryDirectory(prefix="glue_batch_") as temp:
        folder = Path(temp)
        (folder / "input").mkdir()
        paths = write_files(folder / "input", args.files, args.rows)
        started = time.perf_counter()
        spark = (
            SparkSession.builder.master(args.master)
            .appName("glue-batch-benchmark")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        (folder / "warm").mkdir()
        warm = write_files(folder / "warm", 1, 200)
        run_batch(spark, ruleset_text, warm, folder / "warm-out")
        print(f"session and warm-up: {time.perf_counter() - started:.1f} s", flush=True)
        timings = []
        for round_number in range(args.repeat):
            load_before = os.getloadavg()
            elapsed = run_batch(spark, ruleset_text, paths, folder / "out")
            timings.append(elapsed)
            record = {
                "benchmark": "glue_batch",
                "commit": commit,
                "round": round_number + 1,
                "files": args.files,
                "rows": args.rows,
                "master": args.master,
                "spark_work_s": round(elapsed, 2),
                "ms_per_file": round(1000 * elapsed / args.files, 1),
                "load_before": [round(x, 2) for x in load_before],
                "load_after": [round(x, 2) for x in os.getloadavg()],
            }
            print(json.dumps(record), flush=True)
        spark.stop()
    print(
        f"{args.files} files x {args.rows} rows: evaluate_batch median "
        f"{statistics.median(timings):.2f} s of Spark work"
    )


if __name__ == "__main__":
    main()
