"""``quality-movies``: sample data, ingest files, run the pipeline, inspect state, and the tool commands."""

import argparse
import importlib
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quality_movies.environment import Environment


TOOL_COMMANDS = {
    "sample": "quality_movies.sample",
    "dq": "quality_movies.dq.cli",
    "export-infra": "quality_movies.infra.export",
    "glue-package": "quality_movies.glue_package",
}


def use_dagster_home(env: "Environment"):
    """The Dagster instance under ``QUALITY_MOVIES_HOME/dagster`` (unless DAGSTER_HOME is set)."""
    import dagster as dg

    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(env.dagster_home)
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    return dg.DagsterInstance.get()


def quiet_console() -> dict:
    """Run config keeping Dagster's console log to ``QUALITY_MOVIES_LOG_LEVEL`` (default WARNING)."""
    level = os.environ.get("QUALITY_MOVIES_LOG_LEVEL", "WARNING").upper()
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def ingest(env: "Environment", files: list[str]) -> int:
    """Put local files under ``input_data/``, as an upload to S3 would."""
    lake = env.resources()["lake"]
    for name in files:
        path = Path(name)
        if not path.is_file():
            print(f"error: {path}: no such file", file=sys.stderr)
            return 2
        obj = lake.upload(path, lake.input_key(path.name))
        print(f"ingested {path} -> {lake.uri(obj.key)} (etag {obj.etag})")
    return 0


def run(env: "Environment") -> int:
    """Process every new or changed input file through the ingest job, then refresh the view."""
    from quality_movies.definitions import build_definitions
    from quality_movies.ingestion.sensors import plan_input_files
    from quality_movies.jobs import INGEST_JOB, REFRESH_JOB
    from quality_movies.notifications.sensors import NOTIFIED_TAG, run_message
    from quality_movies.partitions import ETAG_TAG, movie_files
    from quality_movies.pipeline_runs import failure_reason, processed_etags, summary_lines

    instance = use_dagster_home(env)
    defs = build_definitions(env)
    resources = env.resources()
    lake, notifier = resources["lake"], resources["notifier"]
    plan = plan_input_files(lake.input_files(), processed_etags(instance, lake.input_prefix))
    for key in plan.ignored:
        print(f"ignored {lake.uri(key)}: only .csv files are ingested")
    if not plan.to_process:
        print(f"nothing to do: no new or changed CSV files under {lake.uri(lake.input_prefix)}")
        return 0
    partitions = [lake.source_file(o.key) for o in plan.to_process]
    known = set(instance.get_dynamic_partitions(movie_files.name))
    instance.add_dynamic_partitions(movie_files.name, [p for p in partitions if p not in known])
    ingest_job = defs.resolve_job_def(INGEST_JOB)
    failed = 0
    for obj, partition in zip(plan.to_process, partitions, strict=True):
        result = ingest_job.execute_in_process(
            partition_key=partition,
            instance=instance,
            tags={ETAG_TAG: obj.etag, NOTIFIED_TAG: "cli"},
            run_config=quiet_console(),
            raise_on_error=False,
        )
        run = instance.get_run_by_id(result.run_id)
        error = None if result.success else failure_reason(result)
        subject, message = run_message(instance, run, result.success, error)
        notifier.notify(subject, message)
        print("\n".join(summary_lines(partition, message)))
        failed += not result.success
    refresh = defs.resolve_job_def(REFRESH_JOB).execute_in_process(
        instance=instance,
        tags={NOTIFIED_TAG: "cli"},
        run_config=quiet_console(),
        raise_on_error=False,
    )
    if not refresh.success:
        print(f"refresh of year_aggregated FAILED: {failure_reason(refresh)}", file=sys.stderr)
        failed += 1
    counts = resources["warehouse"].row_counts()
    print(f"warehouse {resources['warehouse'].qualified_table}: {sum(counts.values())} rows")
    return 1 if failed else 0


def status(env: "Environment") -> int:
    """What is in the lake, the catalog and the warehouse."""
    resources = env.resources()
    lake, catalog, warehouse = resources["lake"], resources["catalog"], resources["warehouse"]
    print(f"deployment: {env.deployment}   home: {env.home}")
    files = lake.input_files()
    print(f"lake {lake.uri(lake.input_prefix)}: {len(files)} file(s)")
    for obj in files:
        print(f"  {obj.key}  {obj.size} bytes  etag {obj.etag}")
    for prefix in (lake.bad_records_prefix, lake.rule_outcomes_prefix, lake.validated_prefix):
        print(f"lake {lake.uri(prefix)}: {len(lake.list_objects(prefix))} object(s)")
    table = catalog.get_table()
    if table is None:
        print(f"catalog {catalog.database}.{catalog.table}: not crawled yet")
    else:
        columns = ", ".join(f"{n} {t}" for n, t in table.columns)
        print(f"catalog {table.database}.{table.name} ({len(table.files)} files): {columns}")
    counts = warehouse.row_counts()
    print(f"warehouse {warehouse.qualified_table}: {sum(counts.values())} rows")
    for source, n in counts.items():
        print(f"  {source}: {n} rows")
    return 0


def ui(env: "Environment", port: int) -> int:
    """Start the Dagster UI and daemon on 127.0.0.1 with this deployment's home."""
    use_dagster_home(env)
    command = [
        sys.executable, "-m", "dagster", "dev", "-m", "quality_movies.definitions",
        "-h", "127.0.0.1", "-p", str(port),
    ]  # fmt: skip
    os.execvp(command[0], command)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quality-movies",
        description="Quality-gated movie ingestion. State lives under QUALITY_MOVIES_HOME "
        "(default ./.quality_movies); QUALITY_MOVIES_ENV=local|aws picks the deployment.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("sample", help="write a synthetic movie CSV (see: quality-movies sample -h)")
    ingest_cmd = sub.add_parser("ingest", help="put files into input_data/")
    ingest_cmd.add_argument("files", nargs="+")
    sub.add_parser("run", help="process every new or changed input file now")
    sub.add_parser("status", help="show the lake, the catalog and the warehouse")
    ui_cmd = sub.add_parser("ui", help="open the Dagster UI (dagster dev on 127.0.0.1)")
    ui_cmd.add_argument("--port", type=int, default=3000)
    sub.add_parser(
        "dq", help="check a file against a DQDL ruleset (see: quality-movies dq check -h)"
    )
    sub.add_parser("export-infra", help="write the CloudFormation/Step Functions/EventBridge files")
    sub.add_parser("glue-package", help="build (and upload) the Glue job script and package")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    if argv and argv[0] in TOOL_COMMANDS:
        return importlib.import_module(TOOL_COMMANDS[argv[0]]).main(argv[1:])
    args = build_parser().parse_args(argv)
    from quality_movies.environment import Environment

    try:
        env = Environment.from_env()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "ingest":
        return ingest(env, args.files)
    if args.command == "run":
        return run(env)
    if args.command == "status":
        return status(env)
    if args.command == "ui":
        return ui(env, args.port)
    return 2


if __name__ == "__main__":
    sys.exit(main())
