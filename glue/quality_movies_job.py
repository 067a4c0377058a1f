"""AWS Glue entrypoint of the quality job: arguments and session here, the logic in quality_movies.quality.glue_job.

One run evaluates a batch of files: those of ``--manifest_uri`` (JSON ``{"files": [{"source_key": ...}]}``)
or the one of ``--source_key``. On Glue (``awsglue`` importable) it runs in a GlueContext with
``Job.init``/``Job.commit``; elsewhere on a plain local SparkSession, reading and writing S3 through boto3
(``AWS_ENDPOINT_URL`` is honoured). When started with ``--report_key`` it leaves each file's counts and
rule outcomes (or its error) there as JSON (how the pipeline's Glue runner reads them); with
``--dagster-pipes-context`` it also reports them as a Pipes custom message. With ``--pipeline true`` (the
state machine's run) it also loads, records, settles and announces each file (quality_movies.aws_pipeline). The run fails as a whole only
when nothing could run (no input readable, no ruleset, no manifest).
"""

import json
import sys
from dataclasses import replace
from typing import Any

import boto3

from quality_movies.quality.glue_job import (
    JobArguments,
    check_inputs,
    load_manifest,
    parse_cli_options,
    present_options,
    resolve_job_arguments,
    run_job,
    write_report,
)

PIPES_CONTEXT_ARGUMENT = "--dagster-pipes-context"


def start_session(argv: list[str]) -> tuple[Any, Any]:
    """(spark session, Glue Job or None): a GlueContext on Glue, else a local SparkSession."""
    try:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from awsglue.utils import getResolvedOptions
        from pyspark.context import SparkContext
    except ImportError:
        from pyspark.sql import SparkSession

        spark = (
            SparkSession.builder.master("local[1]")
            .appName("quality-movies-job")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "1")
            .getOrCreate()
        )
        return spark, None
    options = getResolvedOptions(argv, present_options(argv))
    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(options.get("JOB_NAME", "quality-movies-job"), options)
    return glue_context.spark_session, job


def run(
    argv: list[str], arguments: JobArguments, s3: Any, ruleset_text: str | None
) -> dict[str, Any]:
    """Check the inputs exist (before paying for Spark), then run the job over those that do and
    commit it; the others are in the report with their error."""
    unreadable = check_inputs(arguments, s3)
    readable = tuple(f for f in arguments.files if f.source_file not in unreadable)
    spark, job = start_session(argv)
    try:
        report = run_job(
            spark,
            replace(arguments, files=readable),
            ruleset_text=ruleset_text,
            s3_client=s3,
            through_local_disk=job is None,
        )
    finally:
        if job is None:
            spark.stop()
    results = {**report["files"], **{name: {"error": m} for name, m in unreadable.items()}}
    report["files"] = {f.source_file: results[f.source_file] for f in arguments.files}
    report["job"]["files"] = len(report["files"])
    report["job"]["failed_files"] = sum("error" in r for r in report["files"].values())
    write_report(arguments, report, s3)
    if job is not None:
        job.commit()
    return report


def run_pipeline(
    argv: list[str], options: dict[str, str], arguments: JobArguments, s3: Any
) -> None:
    """``--pipeline true`` (the state machine's run): evaluate, load, record and announce the batch
    as the Dagster path does (quality_movies.aws_pipeline)."""
    from quality_movies.aws_pipeline import run_job_pipeline

    spark, job = start_session(argv)
    try:
        print(json.dumps(run_job_pipeline(options, arguments, s3)))
    finally:
        if job is None:
            spark.stop()
    if job is not None:
        job.commit()


def main(argv: list[str]) -> None:
    s3 = boto3.client("s3")
    options = parse_cli_options(argv[1:])
    arguments = load_manifest(resolve_job_arguments(options), s3)
    if options.get("pipeline") == "true":
        run_pipeline(argv, options, arguments, s3)
        return
    if PIPES_CONTEXT_ARGUMENT not in argv:
        report = run(argv, arguments, s3, None)
        print(json.dumps(report))
        return
    from dagster_pipes import (
        PipesCliArgsParamsLoader,
        PipesS3ContextLoader,
        PipesS3MessageWriter,
        open_dagster_pipes,
    )

    with open_dagster_pipes(
        context_loader=PipesS3ContextLoader(client=s3),
        message_writer=PipesS3MessageWriter(client=s3, interval=1),
        params_loader=PipesCliArgsParamsLoader(),
    ) as pipes:
        pipes.log.info(f"quality job on {len(arguments.files)} files")
        ruleset_text = pipes.extras.get("ruleset_text")
        report = run(argv, arguments, s3, ruleset_text)
        for name, result in report["files"].items():
            pipes.log.info(
                f"{name}: {result['error']}"
                if "error" in result
                else f"{name}: {result['rows_read']} rows read, {result['good_rows']} good, "
                f"{result['bad_rows']} bad"
            )
        pipes.report_custom_message({"quality_run": report})


if __name__ == "__main__":
    main(sys.argv)
