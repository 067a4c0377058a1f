"""GlueQualityJobRunner: the real Glue script runs as a subprocess against moto, reporting through S3."""

import io
import json
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from quality_movies.glue_package import SCRIPT_NAME, upload_glue_assets
from quality_movies.lake import S3Lake
from quality_movies.quality.engine_inputs import engine_inputs
from quality_movies.quality.resources import (
    GlueQualityJobRunner,
    QualityJobFailed,
    final_outputs,
)
from quality_movies.settings import PipelineSettings
from quality_movies.warehouse.resources import DuckDBWarehouse
from quality_movies_tests.glue.conftest import REGION, LocalGlueClient, client

SAMPLE_CSV = Path(__file__).with_name("movies_sample.csv")
SETTINGS = PipelineSettings(bucket="quality-movie-bucket")
JOB_NAME = SETTINGS.glue_job_name
# Not the packaged ruleset: the job must evaluate the runner's ruleset, staged beside the outputs.
RULESET = """Rules = [
    IsComplete "director",
    ColumnValues "imdb_rating" between 8.5 and 10.3,
    IsComplete "series_title"
]
"""


class LocalGlueQualityJobRunner(GlueQualityJobRunner):
    """The production runner, with Glue's start_job_run running the script locally."""

    def glue_client(self):
        return LocalGlueClient(
            client("glue", self.endpoint_url), client("s3", self.endpoint_url), self.endpoint_url
        )


@pytest.fixture
def deployed(aws_env, glue_assets, tmp_path):
    """Bucket with one input file, the packaged job script uploaded, and the Glue job defined."""
    return deploy_quality_job(aws_env, glue_assets, tmp_path, LocalGlueQualityJobRunner)


def deploy_quality_job(aws_env, glue_assets, tmp_path, runner_class):
    """(s3 client, lake, runner of ``runner_class``) over the deployed job."""
    s3 = client("s3", aws_env)
    s3.create_bucket(Bucket=SETTINGS.bucket)
    s3.upload_file(str(SAMPLE_CSV), SETTINGS.bucket, f"{SETTINGS.input_prefix}movies_sample.csv")
    upload_glue_assets(glue_assets, SETTINGS, s3_client=s3)
    client("glue", aws_env).create_job(
        Name=JOB_NAME,
        Role="arn:aws:iam::123456789012:role/quality-movies-glue",
        Command={
            "Name": "glueetl",
            "ScriptLocation": f"s3://{SETTINGS.bucket}/{SETTINGS.glue_assets_prefix}{SCRIPT_NAME}",
            "PythonVersion": "3",
        },
        GlueVersion="5.1",
    )
    lake = S3Lake(bucket=SETTINGS.bucket, region_name=REGION, endpoint_url=aws_env)
    ruleset = tmp_path / "movies.dqdl"
    ruleset.write_text(RULESET)
    runner = runner_class(
        ruleset_path=str(ruleset),
        job_name=JOB_NAME,
        region_name=REGION,
        endpoint_url=aws_env,
        poll_interval_seconds=0.5,
    )
    return s3, lake, runner


def run_in_asset(runner, lake, source_file, engine_options=None):
    """Run the quality job inside a materialization, as the pipeline's asset does."""
    captured = {}

    @dg.asset
    def quality_run(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        outputs = final_outputs(lake, source_file)
        captured["result"] = runner.run(
            context, lake, source_file, outputs, engine_options=engine_options
        )
        return dg.MaterializeResult(metadata={"rows_read": captured["result"].rows_read})

    dg.materialize([quality_run])
    return captured["result"]


@pytest.mark.server
@pytest.mark.spark
def test_glue_job_runs_and_reports_its_counts_through_s3(deployed):
    s3, lake, runner = deployed
    result = run_in_asset(runner, lake, "movies_sample.csv")

    assert (result.rows_read, result.good_rows, result.bad_rows) == (8, 3, 5)
    assert result.engine == "glue"
    assert [(o["Rule"], o["Outcome"]) for o in result.rule_outcomes] == [
        ('IsComplete "director"', "Passed"),
        ('ColumnValues "imdb_rating" between 8.5 and 10.3', "Failed"),
        ('IsComplete "series_title"', "Failed"),
    ]
    assert result.outputs.bad_records == (
        "bad-records/source_file=movies_sample.csv/bad_records.jsonl"
    )
    assert result.extra["AWS Glue Job Name"] == JOB_NAME
    # The staged ruleset, engine inputs and report are removed once read.
    assert lake.list_objects(f"{SETTINGS.validated_prefix}_staging/") == []

    def body(key: str) -> bytes:
        return s3.get_object(Bucket=SETTINGS.bucket, Key=key)["Body"].read()

    bad = [json.loads(line) for line in body(result.outputs.bad_records).decode().splitlines()]
    assert [row["series_title"] for row in bad] == [
        "Edge Low",
        "Edge High",
        "No Rating",
        None,
        "Low Rated",
    ]
    outcomes = [
        json.loads(line) for line in body(result.outputs.rule_outcomes).decode().splitlines()
    ]
    assert outcomes == result.rule_outcomes
    validated = pq.read_table(io.BytesIO(body(result.outputs.validated))).to_pylist()
    assert [(r["series_title"], r["imdb_rating"]) for r in validated] == [
        ("The Shawshank Redemption", 9.3),
        ('Amélie, "Le Fabuleux"', 8.6),
        ("The Godfather", 9.2),
    ]
    assert {r["source_file"] for r in validated} == {"movies_sample.csv"}
    outputs = [
        o.key
        for prefix in (
            SETTINGS.bad_records_prefix,
            SETTINGS.rule_outcomes_prefix,
            SETTINGS.validated_prefix,
        )
        for o in lake.list_objects(prefix)
    ]
    assert sorted(outputs) == sorted(
        [result.outputs.bad_records, result.outputs.rule_outcomes, result.outputs.validated]
    )


@pytest.mark.server
def test_failed_job_run_raises_with_glue_error_message(deployed):
    s3, lake, runner = deployed
    with pytest.raises(QualityJobFailed) as failure:
        run_in_asset(runner, lake, "missing.csv")
    message = str(failure.value)
    assert "FAILED" in message
    assert "s3://quality-movie-bucket/input_data/missing.csv cannot be read" in message
    for prefix in (
        SETTINGS.bad_records_prefix,
        SETTINGS.rule_outcomes_prefix,
        SETTINGS.validated_prefix,
    ):
        assert lake.list_objects(f"{prefix}source_file=missing.csv/") == []


@pytest.mark.server
@pytest.mark.spark
def test_glue_job_reads_reference_data_lists_s3_for_file_rules_and_types_as_the_catalog(
    deployed, tmp_path
):
    s3, lake, runner = deployed
    size = SAMPLE_CSV.stat().st_size
    # Expected by hand from movies_sample.csv (8 rows):
    # - certificates A, U, U, R, U, U, U, A: U and R are in the reference, 6 of 8 = 0.75;
    # - directors: Someone (5 rows) in one CSV, Frank Darabont in the other, read as one: 6 of 8;
    # - the two objects under input_data/ differ, so every file is unique (ratio 1.0);
    # - no_of_votes typed as text, as the catalog says: no value is after '900000' in text order
    #   (as numbers, 2343110 and 1620367 would be: 2).
    rules = tmp_path / "rules.dqdl"
    rules.write_text(
        "Rules = [\n"
        '    ReferentialIntegrity "certificate" "certificates.{certificate}" = 0.75,\n'
        '    ReferentialIntegrity "director" "directors.{director}" = 0.75,\n'
        f"    FileSize = {size} B,\n"
        '    FileUniqueness "s3://quality-movie-bucket/input_data/" = 1.0,\n'
        "    CustomSql \"select count(*) from primary where no_of_votes > '900000'\" = 0\n"
        "]\n"
    )
    runner = runner.model_copy(update={"ruleset_path": str(rules)})
    for key, text in {
        "reference_data/certificates/certificates.csv": "certificate\nU\nR\n",
        "reference_data/directors/a.csv": "director\nSomeone\n",
        "reference_data/directors/b.csv": "director\nFrank Darabont\n",
        f"{SETTINGS.input_prefix}other.csv": "Series_Title,IMDB_Rating\nOther,9.0\n",
    }.items():
        s3.put_object(Bucket=SETTINGS.bucket, Key=key, Body=text.encode())
    warehouse = DuckDBWarehouse(
        path=str(tmp_path / "names-only.duckdb")
    )  # every name is in the lake
    with engine_inputs(
        lake, {"no_of_votes": "string"}, runner, warehouse, "movies_sample.csv"
    ) as inputs:
        # one CSV is read where it lies; the two of "directors" were read as one on this machine
        assert inputs["references"]["certificates"] == (
            "s3://quality-movie-bucket/reference_data/certificates/certificates.csv"
        )
        assert not inputs["references"]["directors"].startswith("s3://")
        result = run_in_asset(runner, lake, "movies_sample.csv", inputs)

    assert [(o["Rule"], o["Outcome"]) for o in result.rule_outcomes] == [
        ('ReferentialIntegrity "certificate" "certificates.{certificate}" = 0.75', "Passed"),
        ('ReferentialIntegrity "director" "directors.{director}" = 0.75', "Passed"),
        (f"FileSize = {size} B", "Passed"),
        ('FileUniqueness "s3://quality-movie-bucket/input_data/" = 1.0', "Passed"),
        ("CustomSql \"select count(*) from primary where no_of_votes > '900000'\" = 0", "Passed"),
    ]
    # The staged ruleset, engine inputs and the uploaded reference file are removed once read.
    assert lake.list_objects(f"{SETTINGS.validated_prefix}_staging/") == []
