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


# A queued run starts within a second of its request (the daemon's default checks every 5 s), one
# at a time: the embedded warehouse (DuckDB) takes one writer, so a second run would fail on its lock.
DAGSTER_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
    max_concurrent_runs: 1
"""


def use_dagster_home(env: "Environment"):
    """The Dagster instance under ``QUALITY_MOVIES_HOME/dagster`` (unless DAGSTER_HOME is set).

    Call it holding the home lock: creating the instance's SQLite storage from two processes at
    once corrupts it.
    """
    import dagster as dg

    from quality_movies.partitions import movie_files
    from quality_movies.runs.instance_storage import set_instance_sync, sync_mode

    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = str(env.dagster_home)
    set_instance_sync(sync_mode(env.environ))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    instance = dg.DagsterInstance.get()
    instance.get_runs(limit=1)
    instance.get_dynamic_partitions(movie_files.name)
    instance.all_instigator_state()
    return instance


def quiet_console() -> dict:
    """Run config keeping Dagster's console log to ``QUALITY_MOVIES_LOG_LEVEL``.

    The default is CRITICAL: the CLI prints each file's outcome itself, in a line or two, and
    Dagster's own error events would add tracebacks (``--debug`` sets DEBUG).
    """
    level = os.environ.get("QUALITY_MOVIES_LOG_LEVEL", "CRITICAL").upper()
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


def ruleset_problem(env: "Environment", resources: dict) -> str | None:
    """Why the ruleset in force does not load, or None when it does."""
    try:
        resources["quality_job"].ruleset()
    except Exception as exc:  # any reason the rules cannot be read is the user's to fix
        from quality_movies.pipeline_runs import one_line

        where = resources["quality_job"].resolved_ruleset_path()
        return f"the ruleset {where} does not load: {one_line(str(exc))}"
    return None


def run(env: "Environment") -> int:
    """Process every new or changed input file in batches, then refresh the view.

    Holds the home lock, claims the files in the ledger, runs each contiguous range of new
    partitions as one run, and records and announces each file once.
    """
    from quality_movies.pipeline_runs import announce_pending, cli_owner
    from quality_movies.runs.lock import home_lock
    from quality_movies.runs.new_files_sensor import (
        CLAIM_TAG,
        plan_input_files,
        release_dead_claims,
    )

    with home_lock(env.home, "run"):
        instance = use_dagster_home(env)
        resources = env.resources()
        lake, notifier, ledger = resources["lake"], resources["notifier"], resources["ledger"]
        swept = resources["quality_job"].sweep(lake)
        if swept:
            print(
                f"removed {len(swept)} leftover(s) of interrupted runs (temporary or staged files)"
            )
        release_dead_claims(ledger)
        for owed in announce_pending(instance, ledger, lake, notifier):
            print_settled(owed)
        plan = plan_input_files(lake.input_files(), ledger.settled_etags(ignore_backoff=True))
        for key in plan.ignored:
            print(f"ignored {lake.uri(key)}: only .csv and .csv.gz files are ingested")
        if not plan.to_process:
            print(
                f"nothing to do: no new or changed CSV files (.csv, .csv.gz) under {lake.uri(lake.input_prefix)}"
            )
            return 0
        problem = ruleset_problem(env, resources)
        if problem:
            return refuse_run(problem, [lake.source_file(o.key) for o in plan.to_process], notifier)
        owner = cli_owner()
        claimed = set(ledger.claim([(o.key, o.etag) for o in plan.to_process], owner))
        for obj in plan.to_process:
            if (obj.key, obj.etag) not in claimed:
                print(f"skipped {lake.source_file(obj.key)}: another run (the UI's sensor) has it")
        files = [lake.source_file(o.key) for o in plan.to_process if (o.key, o.etag) in claimed]
        try:
            failed = run_batches(env, instance, files, {CLAIM_TAG: owner})
        finally:  # files a crash left unsettled go back to pending
            ledger.release([(v.input_key, v.etag) for v in ledger.claims_by(owner)], owner)
        failed += refresh_view(env, instance)
        print_warehouse_rows(resources["warehouse"])
        if failed:
            print(
                "a file that failed for its data (or the ruleset) is not retried by itself: fix it "
                "and ingest it again, or fix the ruleset and run `quality-movies retry FILE`; one "
                "that failed for the environment (RETRYING) is taken again by the next run",
                file=sys.stderr,
            )
        return 1 if failed else 0


def print_warehouse_rows(warehouse) -> None:
    """The warehouse's row count after a run; a warehouse that cannot be read now (a lock, a
    corrupt file) is said in a line, the run's own outcome decides the exit code."""
    try:
        counts = warehouse.row_counts()
    except Exception as exc:  # the files' outcomes were already printed and settled
        print(f"warehouse {warehouse.qualified_table}: cannot be read now ({_one_line(exc)})")
        return
    print(f"warehouse {warehouse.qualified_table}: {sum(counts.values())} rows")


def refuse_run(problem: str, pending: list[str], notifier) -> int:
    """Stop before any file: say why once, list what is left pending, notify once."""
    print(f"error: {problem}", file=sys.stderr)
    print(
        f"no file was processed; {len(pending)} file(s) left pending: {', '.join(pending)}. "
        "Fix the ruleset (QUALITY_MOVIES_RULESET) and run again.",
        file=sys.stderr,
    )
    notifier.notify(
        "quality_movies FAILED: the ruleset does not load",
        {"status": "FAILED", "error": problem, "pending_files": pending},
    )
    return 1


def run_batches(env: "Environment", instance, files: list[str], tags: dict[str, str]) -> int:
    """One run per contiguous range of ``files``' partitions; the number of files that failed."""
    from quality_movies.definitions import build_definitions
    from quality_movies.jobs import INGEST_JOB
    from quality_movies.partitions import movie_files
    from quality_movies.pipeline_runs import (
        partition_ranges,
        range_tags,
        run_url,
        settle_run,
        settle_unstarted,
    )
    from quality_movies.runs.run_status_sensors import LAUNCHED_BY_TAG

    resources = env.resources()
    lake, notifier, ledger = resources["lake"], resources["notifier"], resources["ledger"]
    known = instance.get_dynamic_partitions(movie_files.name)
    new = [f for f in dict.fromkeys(files) if f not in set(known)]
    if new:
        instance.add_dynamic_partitions(movie_files.name, new)
    ordered = [*known, *new]
    job = build_definitions(env).resolve_job_def(INGEST_JOB)
    failed = 0
    for first, last in partition_ranges(ordered, files):
        span = ordered[ordered.index(first) : ordered.index(last) + 1]
        run_tags = {**tags, LAUNCHED_BY_TAG: "cli"}
        single = first == last
        if not single:
            run_tags.update(range_tags(first, last))
        try:
            result = job.execute_in_process(
                partition_key=first if single else None,
                instance=instance,
                tags=run_tags,
                run_config=quiet_console(),
                raise_on_error=False,
            )
        except Exception as exc:  # the run could not start: every file of the range failed
            for settled in settle_unstarted(ledger, lake, notifier, span, exc):
                print_settled(settled)
            failed += len(span)
            continue
        run = instance.get_run_by_id(result.run_id)
        for settled in settle_run(
            instance, run, ledger, lake, notifier, run_url(run.run_id), files=span
        ):
            print_settled(settled, read_as(lake, settled.outcome.source_file))
            failed += not settled.outcome.processed
    return failed


def read_as(lake, source_file: str) -> str | None:
    """How the file is read when that is not plain comma-delimited CSV (``semicolon-delimited
    CSV``, ``comma-delimited CSV, gzip-compressed``), from its first bytes as Glue's classifier
    would; None otherwise, or when it cannot be told (its error says why)."""
    from quality_movies.dq.input_format import InputFormat, detect_input_format

    key = lake.input_key(source_file)
    try:
        found = detect_input_format(key, lake.read_head(key))
    except Exception:  # unreadable or gone: the file's own outcome says so
        return None
    return None if found == InputFormat() else found.description


def print_settled(settled, read_as: str | None = None) -> None:
    """A file's summary (with how it was read, when given), and a line when its notification
    could not be sent."""
    from quality_movies.pipeline_runs import summary_lines

    first, *rest = summary_lines(settled.outcome.source_file, settled.message)
    print("\n".join([first, *([f"   read as {read_as}"] if read_as else []), *rest]))
    if settled.undelivered:
        print(
            f"   notification not sent ({settled.undelivered}): the next run sends it",
            file=sys.stderr,
        )


def refresh_view(env: "Environment", instance) -> int:
    """Recompute year_aggregated; 1 when that failed."""
    from quality_movies.definitions import build_definitions
    from quality_movies.jobs import REFRESH_JOB
    from quality_movies.pipeline_runs import run_failure_message
    from quality_movies.runs.run_status_sensors import LAUNCHED_BY_TAG

    refresh = (
        build_definitions(env)
        .resolve_job_def(REFRESH_JOB)
        .execute_in_process(
            instance=instance,
            tags={LAUNCHED_BY_TAG: "cli"},
            run_config=quiet_console(),
            raise_on_error=False,
        )
    )
    if refresh.success:
        return 0
    reason = run_failure_message(instance, refresh.run_id)
    print(f"refresh of year_aggregated FAILED: {reason}", file=sys.stderr)
    return 1


def retry(env: "Environment", files: list[str]) -> int:
    """Let failed files (default: all) be processed again by the next run, once the cause is fixed."""
    resources = env.resources()
    lake, ledger = resources["lake"], resources["ledger"]
    failed = [v for v in ledger.latest().values() if v.state in ("failed", "retrying")]
    names = [Path(f).name for f in files] or [lake.source_file(v.input_key) for v in failed]
    if not names:
        print("nothing to retry: no file has failed")
        return 0
    status = 0
    for source_file in names:
        if ledger.forget(lake.input_key(source_file)):
            print(f"{source_file} will be processed again by the next run")
        else:
            print(f"error: {source_file} has no failed version to retry", file=sys.stderr)
            status = 2
    return status


def reprocess(env: "Environment", files: list[str], every: bool, since: str | None) -> int:
    """Evaluate processed file versions again with the ruleset in force (after changing it).

    Each file's outputs, warehouse rows and history entries are replaced as a run replaces them,
    its ledger record becomes a new evaluation of the same version, and it is announced once. Its
    runs carry ``quality_movies/reprocess=true``, as a run or backfill launched in the UI with that
    tag does, and are settled the same way (``settle_run``).
    """
    from quality_movies.pipeline_runs import REPROCESS_TAG, cli_owner
    from quality_movies.runs.lock import home_lock
    from quality_movies.runs.new_files_sensor import CLAIM_TAG, release_dead_claims

    if not (files or every or since):
        raise ValueError("name the files to reprocess, or give --all or --since DATE")
    with home_lock(env.home, "run"):
        instance = use_dagster_home(env)
        resources = env.resources()
        lake, notifier, ledger = resources["lake"], resources["notifier"], resources["ledger"]
        release_dead_claims(ledger)
        chosen = reprocessable(lake, ledger.latest(), [Path(f).name for f in files], since)
        if chosen is None:
            return 2
        if not chosen:
            print("nothing to reprocess: no processed file matches")
            return 0
        problem = ruleset_problem(env, resources)
        if problem:
            return refuse_run(problem, [lake.source_file(k) for k, _ in chosen], notifier)
        owner = cli_owner()
        reopened = ledger.reopen(chosen, owner)
        names = [lake.source_file(key) for key, _ in reopened]
        print(f"reprocessing {len(names)} file(s) with the ruleset in force: {', '.join(names)}")
        try:
            failed = run_batches(env, instance, names, {CLAIM_TAG: owner, REPROCESS_TAG: "true"})
        finally:  # a file a crash left unsettled is pending again: the next run processes it
            ledger.release([(v.input_key, v.etag) for v in ledger.claims_by(owner)], owner)
        failed += refresh_view(env, instance)
        print_warehouse_rows(resources["warehouse"])
        return 1 if failed else 0


def reprocessable(
    lake, latest: dict, names: list[str], since: str | None
) -> list[tuple[str, str]] | None:
    """(input key, ETag) of the processed versions to evaluate again: the ``names`` given (each must
    be processed and unchanged since), else every processed one (``since``: recorded since that
    date); None after saying why a named file cannot be."""
    if since is not None:
        from datetime import date

        try:
            since = date.fromisoformat(since).isoformat()
        except ValueError:
            raise ValueError(f"--since {since}: not a date (YYYY-MM-DD)") from None
    current = {o.key: o.etag for o in lake.input_files()}
    chosen, refused = [], False
    for key in [lake.input_key(n) for n in names] or sorted(latest):
        record = latest.get(key)
        name = lake.source_file(key)
        if record is None or record.state != "processed":
            if names:
                why = {
                    "failed": "failed: fix the cause and use `quality-movies retry`",
                    "claimed": "being processed by another run",
                }.get(record.state if record else "", "not processed yet: `run` takes it")
                print(f"error: {name} is {why}", file=sys.stderr)
                refused = True
            continue
        if current.get(key) != record.etag:
            if names:
                print(
                    f"error: {name} changed since it was processed (or was removed): `run` "
                    "processes its new version",
                    file=sys.stderr,
                )
                refused = True
            continue
        if since is None or record.updated_at[:10] >= since:
            chosen.append((key, record.etag))
    return None if refused else chosen


def ui(env: "Environment", port: int) -> int:
    """Start the Dagster UI and daemon on 127.0.0.1 with this deployment's home."""
    from quality_movies.runs.lock import home_lock

    with home_lock(env.home, "ui"):
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
    parser.add_argument(
        "--debug", action="store_true", help="show the Python traceback of an unexpected error"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("sample", help="write a synthetic movie CSV (see: quality-movies sample -h)")
    ingest_cmd = sub.add_parser("ingest", help="put files into input_data/")
    ingest_cmd.add_argument("files", nargs="+")
    sub.add_parser("run", help="process every new or changed input file now")
    retry_cmd = sub.add_parser(
        "retry", help="process failed files again at the next run (after fixing the cause)"
    )
    retry_cmd.add_argument(
        "files", nargs="*", help="input file names, e.g. movies.csv (default: every failed file)"
    )
    sub.add_parser("status", help="show the lake, the ledger, the catalog and the warehouse")
    reprocess_cmd = sub.add_parser(
        "reprocess", help="evaluate processed files again with the ruleset in force"
    )
    reprocess_cmd.add_argument("files", nargs="*", help="input file names, e.g. movies.csv")
    reprocess_cmd.add_argument("--all", action="store_true", help="every processed file")
    reprocess_cmd.add_argument(
        "--since", metavar="DATE", help="the files processed on or after DATE (YYYY-MM-DD)"
    )
    ui_cmd = sub.add_parser("ui", help="open the Dagster UI (dagster dev on 127.0.0.1)")
    ui_cmd.add_argument("--port", type=int, default=3000)
    sub.add_parser(
        "dq",
        help="check a file against a DQDL ruleset, or recommend one (see: quality-movies dq -h)",
    )
    sub.add_parser("export-infra", help="write the CloudFormation/Step Functions/EventBridge files")
    sub.add_parser("glue-package", help="build (and upload) the Glue job script and package")
    report_cmd = sub.add_parser(
        "report", help="write the history of every rule's metrics as one HTML page"
    )
    report_cmd.add_argument(
        "--out", type=Path, help="where to write (default: HOME/reports/quality_report.html)"
    )
    return parser


COMMANDS = {
    "ingest": lambda env, args: ingest(env, args.files),
    "run": lambda env, args: run(env),
    "retry": lambda env, args: retry(env, args.files),
    "reprocess": lambda env, args: reprocess(env, args.files, args.all, args.since),
    "status": lambda env, args: importlib.import_module("quality_movies.status").status(env),
    "ui": lambda env, args: ui(env, args.port),
    "report": lambda env, args: importlib.import_module(
        "quality_movies.monitoring.report"
    ).write_deployment_report(env, args.out),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    if debug:
        argv = [a for a in argv if a != "--debug"]
        os.environ.setdefault("QUALITY_MOVIES_LOG_LEVEL", "DEBUG")
    else:
        warnings.filterwarnings("ignore")
    try:
        code = _dispatch(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _reader_gone()
    except KeyboardInterrupt:
        print("interrupted: files left pending are processed by the next run", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        if _may_be_a_bug(exc):
            print(
                "(this may be a bug: run again with --debug to see where it happened)",
                file=sys.stderr,
            )
        return 2


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] in TOOL_COMMANDS:
        return importlib.import_module(TOOL_COMMANDS[argv[0]]).main(argv[1:])
    args = build_parser().parse_args(argv)
    from quality_movies.environment import Environment

    return COMMANDS[args.command](Environment.from_env(), args)


def _reader_gone() -> int:
    """The reader of the output stopped early (``| head``): end quietly, as a program the SIGPIPE
    signal ended (128 + 13); stdout goes to /dev/null so that the flush at exit does not fail again
    (the recipe of the signal module's docs)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141


# Errors of the user's input, output, configuration or environment: the message says what to do.
# Anything else may be a bug, and the message says so.
_NOT_A_BUG = (
    "ValueError",
    "OSError",
    "DataQualityError",
    "WarehouseUnavailable",
    "RedshiftStatementError",
    "CrawlerFailed",
    "BotoCoreError",
    "ClientError",
    "NoCredentialsError",
)


def _may_be_a_bug(exc: BaseException) -> bool:
    return not any(kind.__name__ in _NOT_A_BUG for kind in type(exc).__mro__)


def _cause(exc: BaseException) -> BaseException | None:
    """What ``exc`` was raised from or during (none after ``raise ... from None``)."""
    return exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


def _one_line(exc: BaseException) -> str:
    """The exception as one line: its message, and its root cause when that says more."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        message = f"{exc.filename}: {exc.strerror}"
    root = exc
    while (cause := _cause(root)) is not None:
        root = cause
    cause = " ".join(str(root).split())
    if root is not exc and cause and cause not in message and cause != str(exc):
        return f"{message} (cause: {cause})"
    return message


if __name__ == "__main__":
    sys.exit(main())
