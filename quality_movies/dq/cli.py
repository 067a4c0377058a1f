"""``quality-movies dq check``: evaluate a DQDL ruleset over a CSV file and print a readable summary;
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
from pathlib import Path

from quality_movies.dq.errors import DataQualityError
from quality_movies.dq.evaluate import evaluate_file
from quality_movies.dq.loading import load_ruleset
from quality_movies.dq.outcomes import EvaluationSummary


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quality-movies dq", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="evaluate a ruleset over a CSV file")
    check.add_argument("--rules", required=True, type=Path, help="DQDL ruleset file")
    check.add_argument("--data", required=True, type=Path, help="CSV file with a header row")
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


def render_summary(summary: EvaluationSummary) -> str:
    """Each rule with its outcome and metrics, then row counts and the files written."""
    lines = [f"Data quality of {summary.source}: {summary.rows_read} rows read"]
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


def main(argv: list[str] | None = None) -> int:
    """Run ``dq`` with ``argv`` (without the leading ``dq``); returns the exit code."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "recommend":
        return run_recommend(args)
    try:
        ruleset = load_ruleset(args.rules)
        spark = _local_spark() if args.engine == "spark" else None
        summary = evaluate_file(
            ruleset,
            args.data,
            args.out,
            engine=args.engine,
            spark=spark,
            write_good_jsonl=args.good,
            references=dict(args.ref),
        )
    except DataQualityError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        print(render_summary(summary))
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
