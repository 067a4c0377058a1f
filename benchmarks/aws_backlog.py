"""A backlog on the AWS deployment: Glue job runs started and Redshift COPY statements, counted.

The deployment of the aws_e2e tests: moto's server (S3, Glue, SNS) on 127.0.0.1, the real Glue job
script run on local Spark for each job run, the Redshift Data API answered by the tests' stand-in
(SQL parsed with sqlglot's Redshift dialect, run on DuckDB; COPY reads the manifest's Parquet from the
bucket). ``--files`` files of ``--rows`` rows (``quality_movies.sample``, seeds 1..N) are uploaded to
input_data/ and ingested in one Dagster run; the script counts the job runs moto recorded and the
COPY statements the warehouse sent, against ceil(files / batch cap), and the wall time.

    PYTHONPATH=. .venv/bin/python benchmarks/aws_backlog.py --files 1000 --rows 200 --cap 100

It runs itself under pytest (the deployment is the tests' fixture), with the counts appended to
``benchmarks/aws_backlog_results.jsonl``.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
DEFAULT_RESULTS = BENCHMARKS_DIR / "aws_backlog_results.jsonl"


def test_backlog(deployment, monkeypatch) -> None:  # noqa: ANN001 (pytest fixtures)
    """The benchmark's body: pytest gives it the deployment; the counts go to the results file."""
    from quality_movies.jobs import INGEST_JOB
    from quality_movies.partitions import movie_files
    from quality_movies.pipeline_runs import range_tags
    from quality_movies.sample import write_sample
    from quality_movies_tests.aws_e2e import conftest as aws_e2e
    from quality_movies_tests.aws_e2e.redshift_data_api import RedshiftDataApi
    from quality_movies_tests.aws_e2e.test_aws_deployment import failed_steps, job_runs
    from quality_movies_tests.glue.conftest import LocalGlueClient

    count, rows = int(os.environ["BACKLOG_FILES"]), int(os.environ["BACKLOG_ROWS"])
    cap = int(os.environ["BACKLOG_CAP"])
    monkeypatch.setenv("QUALITY_MOVIES_BATCH_MAX_FILES", str(cap))
    timeout = float(os.environ.get("BACKLOG_RUN_TIMEOUT", "3600"))

    def glue_client(runner):  # noqa: ANN001, ANN202 (as the tests' runner, with a longer timeout)
        return LocalGlueClient(
            deployment.client("glue"), deployment.client("s3"), runner.endpoint_url, timeout=timeout
        )

    monkeypatch.setattr(aws_e2e.LocalGlueQualityJobRunner, "glue_client", glue_client)
    names = [f"backlog_{i:04d}.csv" for i in range(1, count + 1)]
    with tempfile.TemporaryDirectory(prefix="aws-backlog-") as folder:
        for i, name in enumerate(names, start=1):
            path = Path(folder) / name
            write_sample(path, rows=rows, seed=i)
            deployment.upload_input(name, path.read_bytes())
    deployment.instance.add_dynamic_partitions(movie_files.name, names)
    deployment.redshift = RedshiftDataApi(deployment.client("s3"))
    runs_before = len(job_runs(deployment))
    defs = deployment.definitions()

    started = time.perf_counter()
    result = defs.resolve_job_def(INGEST_JOB).execute_in_process(
        tags=range_tags(names[0], names[-1]), instance=deployment.instance, raise_on_error=False
    )
    wall = time.perf_counter() - started
    copies = [
        s for s in deployment.redshift.sql_statements() if s.lstrip().upper().startswith("COPY")
    ]
    loaded = {
        m.partition
        for m in result.asset_materializations_for_node("quality_gate")
        if m.asset_key.path[-1] == "imdb_movies_rating"
    }
    record = {
        "files": count,
        "rows_per_file": rows,
        "batch_cap": cap,
        "expected_batches": math.ceil(count / cap),
        "job_runs_started": len(job_runs(deployment)) - runs_before,
        "copy_statements": len(copies),
        "files_loaded": len(loaded),
        "run_success": result.success,
        "failed_steps": failed_steps(result),
        "ingest_run_s": round(wall, 1),
    }
    Path(os.environ["BACKLOG_OUT"]).write_text(json.dumps(record))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--cap", type=int, default=100, help="QUALITY_MOVIES_BATCH_MAX_FILES")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    args = parser.parse_args()
    load = [round(x, 2) for x in os.getloadavg()]
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="aws-backlog-out-") as tmp:
        out = Path(tmp) / "record.json"
        env = {
            **os.environ,
            "BACKLOG_FILES": str(args.files),
            "BACKLOG_ROWS": str(args.rows),
            "BACKLOG_CAP": str(args.cap),
            "BACKLOG_OUT": str(out),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.getenv("PYTHONPATH")])),
        }
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-x",
                "-p",
                "no:cacheprovider",
                "-p",
                "quality_movies_tests.aws_e2e.conftest",
                "-o",
                "timeout=0",
                "--rootdir",
                str(REPO_ROOT),
                str(Path(__file__).resolve()),
            ],
            cwd=REPO_ROOT,
            env=env,
            check=False,
        )
        if not out.exists():
            print(f"the benchmark did not finish (pytest exit {done.returncode})")
            return 1
        record = json.loads(out.read_text())
    record.update(
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        commit=commit,
        load_before=load,
        load_after=[round(x, 2) for x in os.getloadavg()],
        wall_s=round(time.perf_counter() - started, 1),
    )
    with args.results.open("a") as results:
        results.write(json.dumps(record) + "\n")
    print(json.dumps(record))
    ok = record["job_runs_started"] == record["copy_statements"] == record["expected_batches"]
    return 0 if ok and record["run_success"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
