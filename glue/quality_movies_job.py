"""AWS Glue entrypoint of the quality job: arguments and session here, the logic in quality_movies.glue_job.

On Glue (``awsglue`` importable) it runs in a GlueContext with ``Job.init``/``Job.commit``; elsewhere on a
plain local SparkSession, reading and writing S3 through boto3 (``AWS_ENDPOINT_URL`` is honoured). When
started with ``--report_key`` it leaves the counts and rule outcomes there as JSON (how the pipeline's
Glue runner reads them); with ``--dagster-pipes-context`` it also reports them as a Pipes custom message.
"""

import json
import sys
from typing import Any

import boto3

from quality_movies.glue_job import (
    JobArguments,
    check_input_exists,
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
    """Check the input exists (before paying for Spark), then run the job and commit it."""
    check_input_exists(arguments, s3)
    spark, job = start_session(argv)
    try:
        report = run_job(
            spark,
            arguments,
            ruleset_text=ruleset_text,
            s3_client=s3,
            through_local_disk=job is None,
        )
    finally:
        if job is None:
            spark.stop()
    write_report(arguments, report, s3)
    if job is not None:
        job.commit()
    return report


def main(argv: list[str]) -> None:
    arguments = resolve_job_arguments(parse_cli_options(argv[1:]))
    s3 = boto3.client("s3")
    if PIPES_CONTEXT_ARGUMENT not in argv:
        report = run(argv, arguments, s3, None)
        print(f"{arguments.input_uri}: {json.dumps(report)}")
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
        pipes.log.info(f"quality job on {arguments.input_uri}")
        ruleset_text = pipes.extras.get("ruleset_text")
        report = run(argv, arguments, s3, ruleset_text)
        pipes.log.info(
            f"{report['rows_read']} rows read, {report['good_rows']} good, {report['bad_rows']} bad"
        )
        pipes.report_custom_message({"quality_run": report})


if __name__ == "__main__":
    main(sys.argv)
