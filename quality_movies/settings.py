"""The pipeline's names and places, shared by the Dagster resources and the exported infrastructure.

Every name can be overridden with an environment variable ``QUALITY_MOVIES_<FIELD>`` (upper case), so the
Dagster resources and ``quality-movies export-infra`` always agree on a bucket, crawler or job name.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

ENV_PREFIX = "QUALITY_MOVIES_"
# Where the datasets rules name live (``reference_data/<name>/*.csv``); not a setting: the gate looks
# there in any bucket.
REFERENCE_PREFIX = "reference_data/"


@dataclass(frozen=True)
class PipelineSettings:
    """Names of the bucket, prefixes, catalog, job, warehouse and topic used by the pipeline."""

    bucket: str = "quality-movie-bucket"
    input_prefix: str = "input_data/"
    bad_records_prefix: str = "bad-records/"
    rule_outcomes_prefix: str = "rule_outcome_from_etl/"
    validated_prefix: str = "validated_movies/"
    glue_assets_prefix: str = "glue-assets/"
    pipes_prefix: str = "dagster-pipes/"
    io_manager_prefix: str = "dagster-io/"
    glue_database: str = "imdb-movies"
    glue_table: str = "input_data"
    crawler_name: str = "quality-movies-crawler"
    glue_job_name: str = "quality-movies-dq-job"
    warehouse_schema: str = "movies"
    warehouse_table: str = "imdb_movies_rating"
    warehouse_view: str = "year_aggregated"
    sns_topic_name: str = "quality-movies-notifications"
    state_machine_name: str = "quality-movies-pipeline"
    # Empty: the region of the user's AWS configuration (boto3's resolution); see ``aws_region``.
    region: str = ""
    metrics_namespace: str = "QualityMovies"
    # Batches: a backlog is evaluated (one quality job run each) and loaded in batches of at most
    # this many files and input bytes; on Glue up to glue_max_concurrent_runs runs at once (the job's
    # MaxConcurrentRuns in the exported stack; more runs queue).
    batch_max_files: int = 100
    batch_max_bytes: int = 512 * 1024 * 1024
    glue_max_concurrent_runs: int = 3
    # STANDARD or FLEX (spare capacity, cheaper, may start later; suits a backlog).
    glue_execution_class: str = "STANDARD"
    # Estimated cost of a run: AWS Glue's list price per DPU-hour for Spark jobs (us-east-1, Glue 2.0
    # and later, per-second billing with a 1-minute minimum); the Flex execution class's price.
    glue_usd_per_dpu_hour: float = 0.44
    glue_flex_usd_per_dpu_hour: float = 0.29

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "PipelineSettings":
        """Defaults overridden by ``QUALITY_MOVIES_<FIELD>`` variables of ``environ`` (default os.environ)."""
        environ = os.environ if environ is None else environ
        defaults = cls()
        overrides = {
            f.name: type(getattr(defaults, f.name))(environ[ENV_PREFIX + f.name.upper()])
            for f in fields(cls)
            if ENV_PREFIX + f.name.upper() in environ
        }
        return replace(defaults, **overrides)

    def source_partition(self, source_file: str) -> str:
        """Folder name that lays outputs out per source file (Hive style), e.g. ``source_file=a.csv``."""
        return f"source_file={source_file}"

    def bad_records_key(self, source_file: str) -> str:
        return f"{self.bad_records_prefix}{self.source_partition(source_file)}/bad_records.jsonl"

    def rule_outcomes_key(self, source_file: str) -> str:
        return (
            f"{self.rule_outcomes_prefix}{self.source_partition(source_file)}/rule_outcomes.jsonl"
        )

    def validated_key(self, source_file: str) -> str:
        return (
            f"{self.validated_prefix}{self.source_partition(source_file)}/validated_movies.parquet"
        )

    def input_key(self, source_file: str) -> str:
        return f"{self.input_prefix}{source_file}"


def aws_region(settings: PipelineSettings) -> str:
    """``QUALITY_MOVIES_REGION`` when set, else the region boto3 resolves from the AWS configuration
    (``AWS_DEFAULT_REGION``, the ``region`` of ``AWS_PROFILE`` or the default profile in ~/.aws/config).
    """
    if settings.region:
        return settings.region
    import boto3

    region = boto3.session.Session().region_name
    if not region:
        raise ValueError(
            "no AWS region: set QUALITY_MOVIES_REGION, or a region in your AWS configuration "
            "(AWS_DEFAULT_REGION, or `aws configure set region <region>`); see docs/aws.md"
        )
    return region


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """Root of all local state: ``QUALITY_MOVIES_HOME`` or ``./.quality_movies``."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("QUALITY_MOVIES_HOME", ".quality_movies")).resolve()
