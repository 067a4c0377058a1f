"""Benchmark a backlog in one ``quality-movies run`` with the Dagster instance on SQLite and on PostgreSQL.

The SQLite case is the product's default instance (files under ``QUALITY_MOVIES_HOME/dagster``). The
PostgreSQL case is the instance the export configures for the Dagster side on AWS: the commit's
``infra/dagster/dagster.yaml`` as ``quality-movies export-infra`` writes it (run, event and schedule
storage on PostgreSQL through dagster-postgres), its ``DAGSTER_POSTGRES_*`` variables pointing at Debian's
PostgreSQL 15, started here on 127.0.0.1 in a temporary folder with its default durability settings
(fsync and synchronous_commit on, as on RDS) and stopped by its process id. Each repeat gets a fresh
home and a fresh database, so both cases create their storage inside the measured run.

The two cases alternate (SQLite, PostgreSQL, then PostgreSQL, SQLite, ...) at the same priority, so a
change in the machine's load falls on both. Each record carries the load average before and after,
and for PostgreSQL the CPU seconds the server spent during the run (the run's own CPU time does not
include them). Results are appended to ``benchmarks/platform_results.jsonl``.

    .venv/bin/python benchmarks/backlog_storage.py --count 100 --rows 200 --repeat 3 --keep
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from platform_bench import (  # noqa: E402
    DEFAULT_RESULTS,
    REPO_ROOT,
    Platform,
    export_source,
    load,
    measure,
    summarize,
    warehouse_rows,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
PG_PASSWORD = "local-only-password"


def _as_postgres() -> dict[str, str]:
    """initdb and postgres refuse root: as root they run as the postgres user."""
    return {"user": PG_USER, "group": PG_USER} if os.geteuid() == 0 else {}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def connect(port: int, database: str = "postgres"):
    import psycopg2

    return psycopg2.connect(
        host="127.0.0.1", port=port, user=PG_USER, password=PG_PASSWORD, dbname=database
    )


@contextlib.contextmanager
def postgres_server() -> Iterator[tuple[int, psutil.Process]]:
    """PostgreSQL 15 on 127.0.0.1 with its default settings and password authentication (as RDS);
    yields (port, server process)."""
    import psycopg2

    root = Path(tempfile.mkdtemp(prefix="qm-bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, PG_USER, PG_USER)
    data = root / "data"
    password_file = root / "password"
    password_file.write_text(PG_PASSWORD)
    if os.geteuid() == 0:
        shutil.chown(password_file, PG_USER, PG_USER)
    subprocess.run(
        [str(PG_BIN / "initdb"), "-D", str(data), "-U", PG_USER]
        + [f"--pwfile={password_file}", "--auth=scram-sha-256"],
        check=True,
        capture_output=True,
        cwd=root,
        **_as_postgres(),
    )
    port = _free_port()
    log = (root / "postgres.log").open("wb")
    server = subprocess.Popen(
        [str(PG_BIN / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port)]
        + ["-k", str(root)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
        start_new_session=True,
        **_as_postgres(),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connect(port).close()
                break
            except psycopg2.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "postgres.log").read_text()) from None
                time.sleep(0.1)
        yield port, psutil.Process(server.pid)
    finally:
        server.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def create_database(port: int, name: str) -> None:
    connection = connect(port)
    connection.autocommit = True
    connection.cursor().execute(f"CREATE DATABASE {name}")
    connection.close()


def stored_counts(port: int, database: str) -> dict[str, int]:
    """Runs and events the run left in the database (proof that the instance used PostgreSQL)."""
    connection = connect(port, database)
    cursor = connection.cursor()
    counts = {}
    for table in ("runs", "event_logs"):
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        counts[f"postgres_{table}"] = cursor.fetchone()[0]
    connection.close()
    return counts


def server_cpu_s(server: psutil.Process) -> float:
    """CPU seconds of the postmaster, its ended backends and its live ones."""
    times = server.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in server.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child_times = child.cpu_times()
            total += child_times.user + child_times.system
    return total


def exported_instance_yaml(sha: str) -> str:
    """The exported ``infra/dagster/dagster.yaml`` of the measured commit."""
    return subprocess.run(
        ["git", "show", f"{sha}:infra/dagster/dagster.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def one_run(
    platform: Platform,
    files: list[Path],
    storage: str,
    index: int,
    postgres: tuple[int, psutil.Process] | None,
    instance_yaml: str,
) -> dict[str, Any]:
    """One ``run`` over ``files`` on a fresh home with the instance on ``storage``."""
    home = platform.fresh_home(f"{storage}-{index}")
    for path in files:
        platform.drop(home, path)
    env = platform.environ(home)
    server_before = None
    if storage == "postgres":
        port, server = postgres
        database = f"backlog_{index}"
        create_database(port, database)
        dagster_home = home / "dagster"
        dagster_home.mkdir()
        (dagster_home / "dagster.yaml").write_text(instance_yaml)
        env.update(
            DAGSTER_POSTGRES_HOST="127.0.0.1",
            DAGSTER_POSTGRES_PORT=str(port),
            DAGSTER_POSTGRES_USER=PG_USER,
            DAGSTER_POSTGRES_PASSWORD=PG_PASSWORD,
            DAGSTER_POSTGRES_DB=database,
        )
        server_before = server_cpu_s(server)
    record = measure(platform.command("run"), env)
    if server_before is not None:
        record["server_cpu_s"] = round(server_cpu_s(postgres[1]) - server_before, 1)
        record.update(stored_counts(postgres[0], database))
    record["storage"] = storage
    record["warehouse_rows"] = warehouse_rows(platform, home)
    shutil.rmtree(home, ignore_errors=True)
    print(
        f"  {storage} {index + 1}: run {record['wall_s']} s, cpu {record['cpu_s']} s"
        f"{', server cpu ' + str(record['server_cpu_s']) + ' s' if server_before is not None else ''}"
        f", {record['peak_rss_mb']} MB, exit {record['exit_code']}, load {record['load_before']}",
        flush=True,
    )
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="files in the backlog")
    parser.add_argument("--rows", type=int, default=200, help="rows per file")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--work", type=Path, default=Path("/tmp/qm-backlog-storage"))
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    args = parser.parse_args(argv)
    if not (PG_BIN / "postgres").is_file():
        print(
            f"error: {PG_BIN}/postgres not found: install Debian's postgresql-15", file=sys.stderr
        )
        return 2

    args.work.mkdir(parents=True, exist_ok=True)
    src, sha = export_source(args.commit, args.work)
    platform = Platform(src, sha, args.work)
    print(f"commit {sha[:12]}, load {load()}, nice {os.nice(0)}, work {args.work}", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {"sqlite": [], "postgres": []}
    try:
        files = platform.many_samples(
            args.count, args.rows, args.work / "data" / f"small_{args.rows}"
        )
        instance_yaml = exported_instance_yaml(sha)
        with postgres_server() as postgres:
            for i in range(args.repeat):
                order = ("sqlite", "postgres") if i % 2 == 0 else ("postgres", "sqlite")
                for storage in order:
                    runs[storage].append(
                        one_run(platform, files, storage, i, postgres, instance_yaml)
                    )
    finally:
        if not args.keep:
            shutil.rmtree(args.work / "data", ignore_errors=True)
        shutil.rmtree(args.work / "homes", ignore_errors=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    extra = {"files": args.count, "rows_per_file": args.rows}
    with args.results.open("a") as out:
        for storage, records in runs.items():
            summary = summarize(f"run ({args.count} files, Dagster on {storage})", records, extra)
            if storage == "postgres":
                summary["median_server_cpu_s"] = statistics.median(
                    r["server_cpu_s"] for r in records
                )
            summary["median_cpu_s"] = statistics.median(r["cpu_s"] for r in records)
            out.write(json.dumps({"at": stamp, "commit": sha, **summary}) + "\n")
            print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
