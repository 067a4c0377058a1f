"""The one place that decides where the pipeline runs: ``local`` (embedded defaults) or ``aws``.

Read only inside the definitions factory, never at import time.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from quality_movies.settings import PipelineSettings, aws_region, default_home

Deployment = Literal["local", "aws"]


@dataclass(frozen=True)
class Environment:
    """Where the pipeline runs, with the names it uses there."""

    deployment: Deployment
    settings: PipelineSettings
    home: Path
    ruleset_path: str
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Environment":
        environ = os.environ if environ is None else environ
        deployment = environ.get("QUALITY_MOVIES_ENV", "local").strip().lower()
        if deployment not in ("local", "aws"):
            raise ValueError(
                f"QUALITY_MOVIES_ENV={deployment!r} is not a deployment: use 'local' or 'aws'"
            )
        return cls(
            deployment=deployment,  # type: ignore[arg-type]
            settings=PipelineSettings.from_env(environ),
            home=default_home(environ),
            ruleset_path=environ.get("QUALITY_MOVIES_RULESET", ""),
            environ=dict(environ),
        )

    @property
    def lake_root(self) -> Path:
        return self.home / "lake"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def outbox_path(self) -> Path:
        return self.home / "outbox.jsonl"

    @property
    def ledger_path(self) -> Path:
        return self.home / "ledger.sqlite3"

    def resources(self) -> dict[str, Any]:
        """The resources of this deployment, keyed as the assets ask for them."""
        return local_resources(self) if self.deployment == "local" else aws_resources(self)


def retry_policy(environ: Mapping[str, str]) -> dict[str, Any]:
    """How often a file failed by its environment is taken again: ``QUALITY_MOVIES_RETRY_MAX_ATTEMPTS``
    (default 5) attempts, the sensor waiting ``QUALITY_MOVIES_RETRY_BACKOFF_SECONDS`` (default 60),
    doubled after each attempt, before the next; and after how long a claim of a killed job run is
    given back, ``QUALITY_MOVIES_STALE_CLAIM_SECONDS`` (default 3 hours)."""
    policy: dict[str, Any] = {}
    for name, field_name, kind in (
        ("QUALITY_MOVIES_RETRY_MAX_ATTEMPTS", "max_attempts", int),
        ("QUALITY_MOVIES_RETRY_BACKOFF_SECONDS", "retry_backoff_seconds", float),
        ("QUALITY_MOVIES_STALE_CLAIM_SECONDS", "stale_claim_seconds", float),
    ):
        text = environ.get(name, "").strip()
        if not text:
            continue
        try:
            value = kind(text)
        except ValueError:
            value = -1
        if value < (1 if kind is int else 0):
            raise ValueError(
                f"{name}={text!r} is not a number of {'attempts (>= 1)' if kind is int else 'seconds (>= 0)'}"
            )
        policy[field_name] = value
    return policy


def local_resources(env: Environment) -> dict[str, Any]:
    """Embedded defaults: a folder as the bucket, a JSON catalog, DuckDB engine and warehouse."""
    import dagster as dg

    from quality_movies.lake import LocalCatalog, LocalLake
    from quality_movies.monitoring.resources import DuckDBMetricStore, LocalQualityMetrics
    from quality_movies.notifications.resources import LocalNotifier
    from quality_movies.quality.resources import EmbeddedQualityJobRunner
    from quality_movies.runs.resources import SqliteLedger
    from quality_movies.warehouse.resources import DuckDBWarehouse

    s = env.settings
    return {
        "lake": LocalLake(
            root=str(env.lake_root),
            bucket=s.bucket,
            input_prefix=s.input_prefix,
            bad_records_prefix=s.bad_records_prefix,
            rule_outcomes_prefix=s.rule_outcomes_prefix,
            validated_prefix=s.validated_prefix,
        ),
        "catalog": LocalCatalog(
            root=str(env.home / "catalog"), database=s.glue_database, table=s.glue_table
        ),
        "quality_job": EmbeddedQualityJobRunner(
            work_dir=str(env.home / "work"),
            ruleset_path=env.ruleset_path,
            batch_max_files=s.batch_max_files,
            batch_max_bytes=s.batch_max_bytes,
        ),
        "warehouse": DuckDBWarehouse(
            path=str(env.warehouse_path),
            schema_name=s.warehouse_schema,
            table=s.warehouse_table,
            view=s.warehouse_view,
        ),
        "notifier": LocalNotifier(outbox_path=str(env.outbox_path)),
        "ledger": SqliteLedger(path=str(env.ledger_path), **retry_policy(env.environ)),
        "metric_store": DuckDBMetricStore(path=str(env.warehouse_path)),
        "quality_metrics": LocalQualityMetrics(path=str(env.home / "quality_metrics.jsonl")),
        "io_manager": dg.FilesystemIOManager(base_dir=str(env.home / "storage")),
    }


def aws_resources(env: Environment) -> dict[str, Any]:
    """AWS: S3, the Glue crawler and job, Redshift through the Data API, SNS.

    Names come from ``env.settings``; the account-specific parts (Redshift target, role and secret,
    the topic ARN, an optional local endpoint) from the variables documented in docs/aws.md.
    """
    import dagster as dg
    from dagster_aws.s3 import S3PickleIOManager, S3Resource

    from quality_movies.lake import GlueCrawlerCatalog, S3Lake
    from quality_movies.lake.aws import AWS_MAX_ATTEMPTS
    from quality_movies.monitoring.resources import CloudWatchQualityMetrics, ParquetMetricStore
    from quality_movies.notifications.resources import SnsNotifier
    from quality_movies.runs.resources import S3Ledger
    from quality_movies.warehouse.resources import RedshiftDataWarehouse

    environ = env.environ
    s = env.settings
    endpoint_url = environ.get("QUALITY_MOVIES_AWS_ENDPOINT_URL", "").strip()
    required = {
        "QUALITY_MOVIES_REDSHIFT_WORKGROUP or QUALITY_MOVIES_REDSHIFT_CLUSTER": bool(
            environ.get("QUALITY_MOVIES_REDSHIFT_WORKGROUP")
            or environ.get("QUALITY_MOVIES_REDSHIFT_CLUSTER")
        ),
        "QUALITY_MOVIES_REDSHIFT_IAM_ROLE_ARN": bool(
            environ.get("QUALITY_MOVIES_REDSHIFT_IAM_ROLE_ARN")
        ),
        "QUALITY_MOVIES_SNS_TOPIC_ARN": bool(environ.get("QUALITY_MOVIES_SNS_TOPIC_ARN")),
    }
    missing = [name for name, present in required.items() if not present]
    if missing:
        raise ValueError(f"QUALITY_MOVIES_ENV=aws needs {', '.join(missing)}: see docs/aws.md")
    region = aws_region(s)
    engine = environ.get("QUALITY_MOVIES_QUALITY_ENGINE", "glue").strip().lower()
    if engine not in ("glue", "spark"):
        raise ValueError(
            f"QUALITY_MOVIES_QUALITY_ENGINE={engine!r} is not an engine: use 'glue' or 'spark'"
        )
    if engine == "glue":
        from quality_movies.quality.resources import GlueQualityJobRunner

        quality_job = GlueQualityJobRunner(
            ruleset_path=env.ruleset_path,
            job_name=s.glue_job_name,
            region_name=region,
            endpoint_url=endpoint_url,
            batch_max_files=s.batch_max_files,
            batch_max_bytes=s.batch_max_bytes,
            max_concurrent_runs=s.glue_max_concurrent_runs,
            execution_class=s.glue_execution_class,
            usd_per_dpu_hour=s.glue_usd_per_dpu_hour,
            flex_usd_per_dpu_hour=s.glue_flex_usd_per_dpu_hour,
        )
    else:
        from dagster_pyspark import PySparkResource

        from quality_movies.quality.resources import SparkQualityJobRunner

        quality_job = SparkQualityJobRunner(
            ruleset_path=env.ruleset_path,
            pyspark=PySparkResource(spark_config={"spark.driver.host": "127.0.0.1"}),
            work_dir=str(env.home / "work"),
            batch_max_files=s.batch_max_files,
            batch_max_bytes=s.batch_max_bytes,
        )
    secret_arn_var = "QUALITY_MOVIES_REDSHIFT_SECRET_ARN"
    lake = S3Lake(
        bucket=s.bucket,
        input_prefix=s.input_prefix,
        bad_records_prefix=s.bad_records_prefix,
        rule_outcomes_prefix=s.rule_outcomes_prefix,
        validated_prefix=s.validated_prefix,
        region_name=region,
        endpoint_url=endpoint_url,
    )
    return {
        "lake": lake,
        "catalog": GlueCrawlerCatalog(
            database=s.glue_database,
            table=s.glue_table,
            crawler_name=s.crawler_name,
            region_name=region,
            endpoint_url=endpoint_url,
        ),
        "quality_job": quality_job,
        "warehouse": RedshiftDataWarehouse(
            schema_name=s.warehouse_schema,
            table=s.warehouse_table,
            view=s.warehouse_view,
            workgroup_name=environ.get("QUALITY_MOVIES_REDSHIFT_WORKGROUP", ""),
            cluster_identifier=environ.get("QUALITY_MOVIES_REDSHIFT_CLUSTER", ""),
            database=environ.get("QUALITY_MOVIES_REDSHIFT_DATABASE", "dev"),
            secret_arn=dg.EnvVar(secret_arn_var) if environ.get(secret_arn_var) else "",
            db_user=environ.get("QUALITY_MOVIES_REDSHIFT_DB_USER", ""),
            iam_role_arn=environ["QUALITY_MOVIES_REDSHIFT_IAM_ROLE_ARN"],
            region_name=region,
            endpoint_url=endpoint_url,
        ),
        "notifier": SnsNotifier(
            topic_arn=environ["QUALITY_MOVIES_SNS_TOPIC_ARN"],
            region_name=region,
            endpoint_url=endpoint_url,
        ),
        "ledger": S3Ledger(
            bucket=s.bucket,
            region_name=region,
            endpoint_url=endpoint_url,
            **retry_policy(environ),
        ),
        "metric_store": ParquetMetricStore(lake=lake),
        "quality_metrics": CloudWatchQualityMetrics(
            namespace=s.metrics_namespace, region_name=region, endpoint_url=endpoint_url
        ),
        "io_manager": S3PickleIOManager(
            s3_resource=S3Resource(
                region_name=region, endpoint_url=endpoint_url or None, max_attempts=AWS_MAX_ATTEMPTS
            ),
            s3_bucket=s.bucket,
            s3_prefix=env.settings.io_manager_prefix.rstrip("/"),
        ),
    }
