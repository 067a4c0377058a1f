"""The quality job: runs the DQDL ruleset over one input file (embedded here, Glue on AWS)."""

import json
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_pyspark import PySparkResource
from dagster_pyspark.resources import spark_session_from_config

from quality_movies.dq import default_ruleset_path, evaluate_file, load_ruleset
from quality_movies.ingestion.resources import Lake
from quality_movies.warehouse.contract import write_validated_movies


@dataclass
class QualityRunResult:
    """What one quality run over one input file produced, wherever it ran."""

    source_file: str
    rows_read: int
    good_rows: int
    bad_rows: int
    rule_outcomes: list[dict[str, Any]]
    bad_records_key: str
    rule_outcomes_key: str
    validated_key: str
    engine: str
    extra: dict[str, Any] = field(default_factory=dict)


class QualityJobRunner(dg.ConfigurableResource, ABC):
    """Runs the ruleset over ``input_data/<source_file>`` and writes bad records, rule outcomes and
    validated movies to the lake, replacing what an earlier run of the same file wrote."""

    ruleset_path: str = ""

    def resolved_ruleset_path(self) -> Path:
        return Path(self.ruleset_path) if self.ruleset_path else default_ruleset_path()

    def ruleset_rules(self) -> list[str]:
        """The text of each top-level rule, in ruleset order."""
        return [rule.text for rule in load_ruleset(self.resolved_ruleset_path()).rules]

    @abstractmethod
    def run(
        self, context: dg.AssetExecutionContext, lake: Lake, source_file: str
    ) -> QualityRunResult:
        """Evaluate one file; raises with the reason when the run cannot complete."""


class EmbeddedQualityJobRunner(QualityJobRunner):
    """The embedded engine (DuckDB) on this machine; spills to ``work_dir`` when memory runs short."""

    work_dir: str

    def run(
        self, context: dg.AssetExecutionContext, lake: Lake, source_file: str
    ) -> QualityRunResult:
        ruleset = load_ruleset(self.resolved_ruleset_path())
        Path(self.work_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix="quality-run-") as tmp:
            work = Path(tmp)
            raw_csv = lake.download(lake.input_key(source_file), work / "input.csv")
            summary = evaluate_file(
                ruleset,
                raw_csv,
                work / "out",
                engine="duckdb",
                good_parquet=True,
                source_name=source_file,
                temp_directory=str(work / "spill"),
            )
            validated = work / "validated_movies.parquet"
            write_validated_movies(
                str(summary.outputs["good_parquet"]), str(validated), source_file, str(raw_csv)
            )
            keys = {
                "bad_records": lake.bad_records_key(source_file),
                "rule_outcomes": lake.rule_outcomes_key(source_file),
                "validated": lake.validated_key(source_file),
            }
            lake.upload(summary.outputs["bad_records"], keys["bad_records"])
            lake.upload(summary.outputs["rule_outcomes"], keys["rule_outcomes"])
            lake.upload(validated, keys["validated"])
        return QualityRunResult(
            source_file=source_file,
            rows_read=summary.rows_read,
            good_rows=summary.good_rows,
            bad_rows=summary.bad_rows,
            rule_outcomes=[o.to_glue_dict() for o in summary.rule_outcomes],
            bad_records_key=keys["bad_records"],
            rule_outcomes_key=keys["rule_outcomes"],
            validated_key=keys["validated"],
            engine="duckdb",
        )


def read_jsonl(text: str) -> list[dict[str, Any]]:
    """Parse JSON Lines text."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class QualityJobFailed(RuntimeError):
    """A quality job run on Glue or Spark did not complete; carries the engine's own error message."""


def _quality_run_result(
    report: dict[str, Any], lake: Lake, source_file: str, engine: str, extra: dict[str, Any]
) -> QualityRunResult:
    return QualityRunResult(
        source_file=source_file,
        rows_read=int(report["rows_read"]),
        good_rows=int(report["good_rows"]),
        bad_rows=int(report["bad_rows"]),
        rule_outcomes=list(report["rule_outcomes"]),
        bad_records_key=lake.bad_records_key(source_file),
        rule_outcomes_key=lake.rule_outcomes_key(source_file),
        validated_key=lake.validated_key(source_file),
        engine=engine,
        extra={"validated_rows": int(report.get("validated_rows", report["good_rows"])), **extra},
    )


class GlueQualityJobRunner(QualityJobRunner):
    """The Glue job ``job_name`` started through Dagster Pipes: context and messages go through S3
    (``s3://<pipes_bucket>/<pipes_prefix>``) and the job reports its counts and rule outcomes back."""

    job_name: str
    region_name: str = "us-east-1"
    endpoint_url: str = ""
    pipes_bucket: str
    pipes_prefix: str = "dagster-pipes/"
    poll_interval_seconds: float = 5.0

    def glue_client(self) -> Any:
        import boto3

        return boto3.client(
            "glue", region_name=self.region_name, endpoint_url=self.endpoint_url or None
        )

    def s3_client(self) -> Any:
        import boto3

        return boto3.client(
            "s3", region_name=self.region_name, endpoint_url=self.endpoint_url or None
        )

    def pipes_client(self) -> Any:
        """A PipesGlueClient whose context and messages travel through the pipes bucket."""
        from dagster_aws.pipes import PipesGlueClient, PipesS3ContextInjector, PipesS3MessageReader

        s3 = self.s3_client()
        return PipesGlueClient(
            client=self.glue_client(),
            context_injector=PipesS3ContextInjector(
                bucket=self.pipes_bucket, client=s3, key_prefix=self.pipes_prefix
            ),
            message_reader=PipesS3MessageReader(
                bucket=self.pipes_bucket, client=s3, interval=self.poll_interval_seconds
            ),
        )

    def job_arguments(self, lake: Lake, source_file: str) -> dict[str, str]:
        """The Glue job arguments naming the input object and the three output keys."""
        return {
            "--source_bucket": lake.bucket,
            "--source_key": lake.input_key(source_file),
            "--bucket": lake.bucket,
            "--input_prefix": lake.input_prefix,
            "--bad_records_key": lake.bad_records_key(source_file),
            "--rule_outcomes_key": lake.rule_outcomes_key(source_file),
            "--validated_key": lake.validated_key(source_file),
        }

    def run(
        self, context: dg.AssetExecutionContext, lake: Lake, source_file: str
    ) -> QualityRunResult:
        ruleset_path = self.resolved_ruleset_path()
        try:
            invocation = self.pipes_client().run(
                context=context,
                start_job_run_params={
                    "JobName": self.job_name,
                    "Arguments": self.job_arguments(lake, source_file),
                },
                extras={"ruleset_text": ruleset_path.read_text(encoding="utf-8")},
            )
        except RuntimeError as exc:
            raise QualityJobFailed(
                f"Glue job {self.job_name} failed on {lake.uri(lake.input_key(source_file))}: {exc}"
            ) from exc
        reports = [
            m["quality_run"]
            for m in invocation.get_custom_messages()
            if isinstance(m, dict) and "quality_run" in m
        ]
        if not reports:
            raise QualityJobFailed(
                f"Glue job {self.job_name} succeeded on {source_file} but reported no counts: check "
                f"that its --extra-py-files / --additional-python-modules carry this version of "
                f"quality_movies and that it can write to s3://{self.pipes_bucket}/"
            )
        extra = {str(k): getattr(v, "value", v) for k, v in invocation.metadata.items()}
        return _quality_run_result(reports[-1], lake, source_file, "glue", extra)


class SparkQualityJobRunner(QualityJobRunner):
    """The Glue job's logic on a Spark session of your own (dagster-pyspark's PySparkResource).

    By default the input is copied to ``work_dir`` on the driver and the outputs uploaded through the lake,
    which suits local and single-node Spark. With ``direct_io`` Spark reads and writes the lake's URIs
    itself (a cluster with an S3 connector), staging under ``staging_uri``.
    """

    pyspark: PySparkResource
    work_dir: str
    direct_io: bool = False
    staging_uri: str = ""

    def run(
        self, context: dg.AssetExecutionContext, lake: Lake, source_file: str
    ) -> QualityRunResult:
        from quality_movies.glue_job import run_quality_job

        spark = self.pyspark.spark_session or spark_session_from_config(self.pyspark.spark_config)
        ruleset_text = self.resolved_ruleset_path().read_text(encoding="utf-8")
        keys = {
            "bad_records": lake.bad_records_key(source_file),
            "rule_outcomes": lake.rule_outcomes_key(source_file),
            "validated": lake.validated_key(source_file),
        }
        common: dict[str, Any] = {
            "source_file": source_file,
            "ruleset_text": ruleset_text,
            "ruleset_source": str(self.resolved_ruleset_path()),
        }
        if self.direct_io:
            client = getattr(lake, "client", None)
            report = run_quality_job(
                spark,
                input_uri=lake.uri(lake.input_key(source_file)),
                bad_records_uri=lake.uri(keys["bad_records"]),
                rule_outcomes_uri=lake.uri(keys["rule_outcomes"]),
                validated_uri=lake.uri(keys["validated"]),
                staging_uri=self.staging_uri or None,
                s3_client=client() if callable(client) else None,
                **common,
            )
            return _quality_run_result(report, lake, source_file, "spark", {})
        Path(self.work_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix="spark-quality-run-") as tmp:
            work = Path(tmp)
            raw_csv = lake.download(lake.input_key(source_file), work / "input.csv")
            local = {name: work / "out" / Path(key).name for name, key in keys.items()}
            report = run_quality_job(
                spark,
                input_uri=str(raw_csv),
                bad_records_uri=str(local["bad_records"]),
                rule_outcomes_uri=str(local["rule_outcomes"]),
                validated_uri=str(local["validated"]),
                staging_uri=str(work / "staging"),
                **common,
            )
            uploaded: list[str] = []
            try:
                for name, key in keys.items():
                    lake.upload(local[name], key)
                    uploaded.append(key)
            except Exception:
                for key in uploaded:
                    lake.delete(key)
                raise
        return _quality_run_result(report, lake, source_file, "spark", {})
