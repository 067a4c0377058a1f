"""``quality-movies dq check``: evaluate a DQDL ruleset over a data file and print a readable summary;
``quality-movies dq recommend``: profile a CSV file and write a starting ruleset.

Exit codes: 0 every rule passed, 1 a rule failed (a rule that cannot be evaluated, e.g. naming a
column the data lacks or a reference dataset that was not given, fails), 2 unusable input (an
unreadable file, a ruleset that does not load), 141 (128 + SIGPIPE, as a shell reports a program the
signal ended) when the reader of the summary stopped early (``| head``).
"""

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from quality_movies.dq.errors import DataQualityError, UnreadableInputError
from quality_movies.dq.evaluate import evaluate_file
from quality_movies.dq.history_files import file_version, load_history, record_history
from quality_movies.dq.input_format import (
    InputFormat,
    detect_file_format,
    detect_input_format,
    download_s3,
    read_head,
)
from quality_movies.dq.loading import load_ruleset
from quality_movies.dq.outcomes import EvaluationSummary


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quality-movies dq", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="evaluate a ruleset over a data file")
    check.add_argument("--rules", required=True, type=Path, help="DQDL ruleset file")
    check.add_argument(
        "--data",
        required=True,
        help="the data: a CSV file with a header row (comma, tab, semicolon or pipe delimited, "
        "detected as Glue does; .csv.gz read as is) or a Parquet file, local or s3://",
    )
    check.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
    check.add_argument("--out", type=Path, default=Path("dq_output"), help="folder for the outputs")
    check.add_argument("--good", action="store_true", help="also write good_records.jsonl")
    check.add_argument(
        "--ref",
        action="append",
        default=[],
        type=_reference,
        metavar="NAME=FILE",
        help="a dataset the rules name (DataSources alias or name) as a CSV or Parquet file; repeatable",
    )
    check.add_argument(
        "--history",
        type=Path,
        metavar="FILE_OR_DIR",
        help="earlier metrics for dynamic rules (last(k)) and DetectAnomalies: a JSON file "
        '{"series": {"Dataset.*.RowCount": [120, 118]}} or the pipeline\'s dq_metrics/ Parquet '
        "folder or file (docs/dqdl.md)",
    )
    check.add_argument(
        "--record-history",
        action="store_true",
        help="add this run's metrics to --history (created when missing), for the next run",
    )
    _add_recommend(commands)
    return parser


def _add_recommend(commands) -> None:
    recommend = commands.add_parser(
        "recommend", help="profile a CSV file and write a starting ruleset (Glue's recommendations)"
    )
    recommend.add_argument("--data", required=True, type=Path, help="CSV file with a header row")
    recommend.add_argument("--out", type=Path, help="write the ruleset here (default: print it)")
    recommend.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")


def run_recommend(args: argparse.Namespace) -> int:
    """``dq recommend``: profile ``--data`` in one pass and write (or print) the ruleset."""
    from quality_movies.dq.recommend import profile_duckdb, profile_spark, recommend

    try:
        if args.engine == "spark":
            profile = profile_spark(_local_spark(), args.data)
        else:
            profile = profile_duckdb(args.data)
        text = recommend(profile)
    except DataQualityError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.out is None:
        print(text, end="")
        return 0
    try:
        args.out.write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"error: {args.out}: cannot write the ruleset ({error.strerror})", file=sys.stderr)
        return 2
    rules = sum(1 for line in text.splitlines() if line.startswith("    ") and "#" not in line[:6])
    print(f"Wrote {args.out}: {rules} rules from {profile.rows:,} rows of {args.data}")
    return 0


def _reference(text: str) -> tuple[str, Path]:
    name, sep, location = text.partition("=")
    if not sep or not name.strip() or not location.strip():
        raise argparse.ArgumentTypeError(f"'{text}' is not NAME=FILE (e.g. reference=ref.csv)")
    return name.strip(), Path(location.strip())


def _local_spark():
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("quality-movies-dq")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    # Failed SQL is reported as a Failed rule; Spark's own logs of it (the JVM's, and PySpark's
    # SQLQueryContextLogger on the Python side) would add a Java stack trace.
    spark.sparkContext.setLogLevel("OFF")
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    return spark


def render_summary(summary: EvaluationSummary, fmt: InputFormat | None = None) -> str:
    """Each rule with its outcome and metrics, then row counts and the files written."""
    read_as = f" ({fmt.description})" if fmt else ""
    lines = [f"Data quality of {summary.source}{read_as}: {summary.rows_read} rows read"]
    for outcome in summary.rule_outcomes:
        lines.append(f"  [{outcome.outcome.upper()}] {outcome.rule}")
        for name, value in outcome.evaluated_metrics.items():
            lines.append(f"      {name} = {value:g}")
        if outcome.failure_reason:
            lines.append(f"      reason: {outcome.failure_reason}")
    for result in summary.analyzer_results:
        lines.append(f"  [ANALYZER] {result.analyzer}")
        for name, value in result.evaluated_metrics.items():
            lines.append(f"      {name} = {value:g}")
    passed = sum(1 for outcome in summary.rule_outcomes if outcome.passed)
    lines.append(f"Rules: {passed} passed, {len(summary.rule_outcomes) - passed} failed")
    lines.append(f"Rows: {summary.good_rows} good, {summary.bad_rows} bad")
    lines.extend(f"Wrote {path}" for path in summary.outputs.values())
    return "\n".join(lines)


@contextmanager
def _local_data(location: str) -> Iterator[tuple[Path, InputFormat]]:
    """The data file on the local disk and its format; an ``s3://`` object is downloaded for the
    run (file rules see its size, bytes and modification time; paths they name are local)."""
    if not is_s3(location):
        path = Path(location)
        if not path.is_file():
            raise UnreadableInputError(f"{path}: no such data file")
        yield path, detect_file_format(path)
        return
    with tempfile.TemporaryDirectory(prefix="quality_movies_dq_") as folder:
        path = download_s3(location, Path(folder))
        yield path, detect_input_format(location, read_head(path))


def _record(args: argparse.Namespace, summary: EvaluationSummary, version: str) -> Path:
    """``record_history`` of this run into ``--history``; a history that cannot be written is a
    DataQualityError naming it."""
    try:
        ruleset_text = args.rules.read_text(encoding="utf-8-sig")
        return record_history(args.history, summary, version, ruleset_text)
    except OSError as error:
        raise DataQualityError(
            f"{args.history}: cannot record the metrics ({error.strerror or error}); the outputs "
            f"are in {args.out}"
        ) from None


def is_s3(location: str) -> bool:
    return location.startswith(("s3://", "s3a://"))


def main(argv: list[str] | None = None) -> int:
    """Run ``dq`` with ``argv`` (without the leading ``dq``); returns the exit code."""
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "recommend":
        return run_recommend(args)
    if args.record_history and args.history is None:
        parser.error("--record-history needs --history FILE_OR_DIR (where to keep the metrics)")
    if args.out.exists() and not args.out.is_dir():
        print(
            f"error: --out {args.out} is a file; give a folder for the outputs "
            "(rule_outcomes.jsonl, bad_records.jsonl)",
            file=sys.stderr,
        )
        return 2
    try:
        ruleset = load_ruleset(args.rules)
        with _local_data(args.data) as (data_path, fmt):
            source = args.data if is_s3(args.data) else data_path.name
            version, history = None, None
            if args.history is not None:
                version = file_version(data_path)
                history = load_history(
                    args.history, source, version, missing_ok=args.record_history
                )
            spark = _local_spark() if args.engine == "spark" else None
            summary = evaluate_file(
                ruleset,
                data_path,
                args.out,
                engine=args.engine,
                spark=spark,
                write_good_jsonl=args.good,
                source_name=source,
                history=history,
                references=dict(args.ref),
            )
        if args.record_history:
            summary.outputs["history"] = _record(args, summary, version)
    except DataQualityError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the output folder cannot be made or written
        print(
            f"error: cannot write the outputs to {args.out} ({error.strerror or error}); "
            "give --out a folder you can write",
            file=sys.stderr,
        )
        return 2
    try:
        print(render_summary(summary, fmt))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped early (`| head`): the signal module docs' recipe, so that the flush at
        # exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    return 0 if summary.all_passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
