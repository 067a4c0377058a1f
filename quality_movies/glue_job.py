"""The quality job on Spark, as the Glue job runs it: one input file in, three single-object outputs out.

``run_quality_job`` reads the file with the engine's Spark reader, evaluates the ruleset, splits the rows
that pass it by the warehouse contract (a value that is not its column's type or is out of range makes
the row a bad record, the reason in ``DataQualityRulesFail``), checks the validated rows with pandera's
PySpark backend and publishes bad records (JSON Lines, input order), rule outcomes (JSON Lines, Glue's
five keys) and the validated movies (Parquet, the warehouse mapping plus ``source_file``). Outputs are
staged first and copied to the keys given only once all three exist, so a failed run leaves those keys as
they were. URIs are local paths or ``s3://``.
"""

import inspect
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from importlib import resources
from pathlib import Path
from typing import Any

import sqlglot

from quality_movies.dq.data_files import DataFile
from quality_movies.dq.loading import parse_ruleset
from quality_movies.dq.outcomes import ROW_LEVEL_COLUMNS as ROW_LEVEL
from quality_movies.warehouse.contract import (
    REQUIRED_COLUMNS,
    SOURCE_FILE_COLUMN,
    ContractViolation,
    mapping_select,
    rejected_condition,
    rejection_reasons_sql,
    validated_movies_pyspark_schema,
)

OUTPUTS = ("bad_records", "rule_outcomes", "validated")

# Glue job arguments (``--name value``) the job reads; all but source_key have defaults.
JOB_OPTIONS = (
    "source_key",
    "source_bucket",
    "bucket",
    "input_prefix",
    "bad_records_prefix",
    "rule_outcomes_prefix",
    "validated_prefix",
    "bad_records_key",
    "rule_outcomes_key",
    "validated_key",
    "ruleset_uri",
    "report_key",
    "history_uri",
    "engine_inputs_uri",
    "TempDir",
    "JOB_NAME",
)
DEFAULT_OPTIONS = {
    "bucket": "quality-movie-bucket",
    "input_prefix": "input_data/",
    "bad_records_prefix": "bad-records/",
    "rule_outcomes_prefix": "rule_outcome_from_etl/",
    "validated_prefix": "validated_movies/",
}


class QualityJobError(RuntimeError):
    """The job could not run; the message names the argument, object or rule and what to do."""


def is_s3(uri: str) -> bool:
    return uri.startswith(("s3://", "s3a://"))


def split_s3(uri: str) -> tuple[str, str]:
    """(bucket, key) of an ``s3://bucket/key`` URI."""
    rest = uri.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    return bucket, key


@dataclass(frozen=True)
class JobArguments:
    """What one job run works on, resolved from the Glue job arguments."""

    source_bucket: str
    source_key: str
    bucket: str
    input_prefix: str
    bad_records_key: str
    rule_outcomes_key: str
    validated_key: str
    temp_dir: str
    ruleset_uri: str
    job_name: str
    report_key: str = ""
    history_uri: str = ""
    engine_inputs_uri: str = ""

    @property
    def source_file(self) -> str:
        """The partition key: the input key below the input prefix (as ``Lake.source_file``)."""
        if self.source_key.startswith(self.input_prefix):
            return self.source_key[len(self.input_prefix) :]
        return self.source_key.rsplit("/", 1)[-1]

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    @property
    def input_uri(self) -> str:
        return f"s3://{self.source_bucket}/{self.source_key}"

    def output_uris(self) -> dict[str, str]:
        return {
            "bad_records": self.uri(self.bad_records_key),
            "rule_outcomes": self.uri(self.rule_outcomes_key),
            "validated": self.uri(self.validated_key),
        }


def parse_cli_options(argv: Sequence[str]) -> dict[str, str]:
    """``--name value`` pairs of a command line, as Glue passes job arguments (no awsglue needed)."""
    options: dict[str, str] = {}
    items = list(argv)
    for i, item in enumerate(items):
        if item.startswith("--") and i + 1 < len(items):
            name = item[2:]
            if "=" in name:
                name, value = name.split("=", 1)
                options[name] = value
            elif not items[i + 1].startswith("--"):
                options[name] = items[i + 1]
    return options


def present_options(argv: Sequence[str], names: Sequence[str] = JOB_OPTIONS) -> list[str]:
    """The names among ``names`` given on the command line (``getResolvedOptions`` needs all it asks)."""
    given = {item[2:].split("=", 1)[0] for item in argv if item.startswith("--")}
    return [name for name in names if name in given]


def resolve_job_arguments(options: Mapping[str, str]) -> JobArguments:
    """Fill in output keys from the prefixes (as ``Lake`` lays them out) where not given explicitly."""
    merged = {**DEFAULT_OPTIONS, **{k: v for k, v in options.items() if v}}
    if not merged.get("source_key"):
        raise QualityJobError(
            "job argument --source_key is missing: pass the input object's key, e.g. "
            "--source_key input_data/movies.csv"
        )
    source_key = merged["source_key"]
    bucket = merged["bucket"]
    input_prefix = merged["input_prefix"]
    source_file = (
        source_key[len(input_prefix) :]
        if source_key.startswith(input_prefix)
        else source_key.rsplit("/", 1)[-1]
    )
    partition = f"source_file={source_file}"
    return JobArguments(
        source_bucket=merged.get("source_bucket") or bucket,
        source_key=source_key,
        bucket=bucket,
        input_prefix=input_prefix,
        bad_records_key=merged.get("bad_records_key")
        or f"{merged['bad_records_prefix']}{partition}/bad_records.jsonl",
        rule_outcomes_key=merged.get("rule_outcomes_key")
        or f"{merged['rule_outcomes_prefix']}{partition}/rule_outcomes.jsonl",
        validated_key=merged.get("validated_key")
        or f"{merged['validated_prefix']}{partition}/validated_movies.parquet",
        temp_dir=merged.get("TempDir", ""),
        ruleset_uri=merged.get("ruleset_uri", ""),
        report_key=merged.get("report_key", ""),
        history_uri=merged.get("history_uri", ""),
        engine_inputs_uri=merged.get("engine_inputs_uri", ""),
        job_name=merged.get("JOB_NAME", ""),
    )


def write_report(arguments: JobArguments, report: dict[str, Any], s3_client: Any = None) -> None:
    """Leave the run's counts and rule outcomes at ``--report_key`` for whoever started the job."""
    if arguments.report_key:
        _s3(s3_client).put_object(
            Bucket=arguments.bucket,
            Key=arguments.report_key,
            Body=json.dumps(report).encode("utf-8"),
        )


def check_input_exists(arguments: JobArguments, s3_client: Any = None) -> None:
    """Raise QualityJobError naming the input object when it cannot be read."""
    try:
        _s3(s3_client).head_object(Bucket=arguments.source_bucket, Key=arguments.source_key)
    except Exception as exc:
        raise QualityJobError(
            f"input {arguments.input_uri} cannot be read ({exc}): check --source_bucket/--source_key "
            "and that the job's role may s3:GetObject it"
        ) from exc


def packaged_ruleset_text() -> str:
    """The packaged movies ruleset (readable from a zip on ``--extra-py-files`` too)."""
    return resources.files("quality_movies.dq").joinpath("rulesets", "movies.dqdl").read_text()


def read_text_uri(uri: str, s3_client: Any = None) -> str:
    if is_s3(uri):
        bucket, key = split_s3(uri)
        body = _s3(s3_client).get_object(Bucket=bucket, Key=key)["Body"]
        return body.read().decode("utf-8")
    return Path(uri).read_text(encoding="utf-8")


@dataclass(frozen=True)
class S3Files:
    """``dq.data_files.FileListing`` over S3 for file rules: the object being evaluated, and the object
    or the objects under the prefix a rule's ``s3://`` path names (as the gate's lake listing does)."""

    s3: Any
    bucket: str
    key: str

    def _data_file(self, bucket: str, key: str, size: int, modified: Any) -> DataFile:
        s3 = self.s3

        def chunks() -> Iterator[bytes]:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
            while chunk := body.read(1 << 20):
                yield chunk

        naive = modified.astimezone(UTC).replace(tzinfo=None)
        return DataFile(f"s3://{bucket}/{key}", size, naive, chunks)

    def _head(self, bucket: str, key: str) -> DataFile:
        head = self.s3.head_object(Bucket=bucket, Key=key)
        return self._data_file(bucket, key, head["ContentLength"], head["LastModified"])

    def current(self) -> DataFile:
        return self._head(self.bucket, self.key)

    def list(self, uri: str) -> list[DataFile]:
        if not is_s3(uri):
            return []
        bucket, key = split_s3(uri)
        if key and not key.endswith("/"):
            try:
                return [self._head(bucket, key)]
            except Exception as error:
                if _status(error) not in (403, 404):
                    raise
                key += "/"
        files = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith("/"):
                    files.append(
                        self._data_file(bucket, obj["Key"], obj["Size"], obj["LastModified"])
                    )
        return files


def _status(error: Exception) -> int | None:
    """The HTTP status of a botocore ClientError (None for anything else)."""
    response = getattr(error, "response", None) or {}
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode")


@dataclass(frozen=True)
class EngineInputs:
    """What the gate sends the job besides the file (``--engine_inputs_uri``, JSON): the catalog's
    column types and the other datasets the rules name (name -> ``s3://`` URI of a CSV or Parquet)."""

    column_types: dict[str, str] | None = None
    references: dict[str, str] | None = None

    def to_json(self) -> str:
        return json.dumps({"column_types": self.column_types, "references": self.references})

    @classmethod
    def from_json(cls, text: str) -> "EngineInputs":
        data = json.loads(text)
        return cls(data.get("column_types"), data.get("references"))


def _local_references(references: Mapping[str, str], s3: Any, folder: Path) -> dict[str, str]:
    """The ``s3://`` references downloaded into ``folder`` (for a Spark without an S3 connector)."""
    local = {}
    for i, (name, uri) in enumerate(references.items()):
        if not is_s3(uri):
            local[name] = uri
            continue
        bucket, key = split_s3(uri)
        path = folder / f"{i}-{key.rsplit('/', 1)[-1]}"
        try:
            s3.download_file(bucket, key, str(path))
        except Exception as exc:
            raise QualityJobError(
                f"cannot read the dataset {name!r} at {uri} ({exc}): check that it exists and that "
                "the job's role may s3:GetObject it"
            ) from exc
        local[name] = str(path)
    return local


def _s3(s3_client: Any) -> Any:
    if s3_client is not None:
        return s3_client
    import boto3

    return boto3.client("s3")


def spark_mapping_select(source_columns: Sequence[str]) -> list[str]:
    """The warehouse mapping (DuckDB dialect in the contract) as Spark SQL expressions."""
    return [_spark_sql(expr) for expr in mapping_select(list(source_columns))]


def split_by_contract_spark(good: Any, source_columns: Sequence[str], source_file: str) -> tuple:
    """(validated, rejected) rows of the rule-passing ``good`` rows: validated in the warehouse types
    plus ``source_file``; rejected as bad records whose ``DataQualityRulesFail`` gives the contract's
    reasons (the same SQL as the embedded engine's, transpiled to Spark). Other columns of ``good``
    (a row id) are kept on the rejected rows."""
    from pyspark.sql import functions as F

    missing = [name for name in REQUIRED_COLUMNS if name not in source_columns]
    if missing:
        raise ContractViolation(
            f"{source_file}: required column {', '.join(missing)} is missing from the header; add "
            "it and upload the file again"
        )
    rejected_if = F.expr(_spark_sql(rejected_condition(list(source_columns))))
    extra = [c for c in good.columns if c not in source_columns and c not in ROW_LEVEL]
    rejected = good.filter(rejected_if).select(
        *extra,
        *source_columns,
        "DataQualityRulesPass",
        F.expr(rejection_reasons_sql(list(source_columns), dialect="spark")).alias(
            "DataQualityRulesFail"
        ),
        "DataQualityRulesSkip",
        F.lit("Failed").alias("DataQualityEvaluationResult"),
    )
    validated = (
        good.filter(~rejected_if)
        .selectExpr(*spark_mapping_select(source_columns))
        .withColumn(SOURCE_FILE_COLUMN, F.lit(source_file))
    )
    return validated, rejected


def _spark_sql(duckdb_sql: str) -> str:
    return sqlglot.transpile(duckdb_sql, read="duckdb", write="spark")[0]


def check_contract_spark(validated: Any, source_file: str) -> None:
    """Validate the validated rows with pandera's PySpark backend; raise ContractViolation on errors."""
    errors = validated_movies_pyspark_schema().validate(validated).pandera.errors
    if errors:
        raise ContractViolation(
            f"{source_file}: the validated rows break the warehouse contract ({json.dumps(errors)}); "
            "report this, the contract's split should have sent them to bad records"
        )


class JobFiles:
    """Staging and publishing on local disk and S3 (boto3), the operations the job needs."""

    def __init__(self, s3_client: Any = None):
        self._client = s3_client

    @property
    def s3(self) -> Any:
        if self._client is None:
            self._client = _s3(None)
        return self._client

    def single_part(self, folder: str, suffix: str) -> str | None:
        """The one data file Spark wrote into ``folder`` (None when it wrote no part file)."""
        if is_s3(folder):
            bucket, prefix = split_s3(folder.rstrip("/") + "/")
            paginator = self.s3.get_paginator("list_objects_v2")
            keys = [
                entry["Key"]
                for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
                for entry in page.get("Contents", [])
                if entry["Key"].rsplit("/", 1)[-1].startswith("part-")
                and entry["Key"].endswith(suffix)
            ]
            parts = [f"s3://{bucket}/{key}" for key in sorted(keys)]
        else:
            parts = [str(p) for p in sorted(Path(folder).glob(f"part-*{suffix}"))]
        if len(parts) > 1:
            raise QualityJobError(f"{folder} holds {len(parts)} part files, expected one")
        return parts[0] if parts else None

    def write_text(self, uri: str, text: str) -> None:
        if is_s3(uri):
            bucket, key = split_s3(uri)
            self.s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))
        else:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
            Path(uri).write_text(text, encoding="utf-8")

    def publish(self, staged: str, final: str) -> None:
        """Copy a staged object to its final place; readers see the old or the new object."""
        if is_s3(final):
            bucket, key = split_s3(final)
            if is_s3(staged):
                source_bucket, source_key = split_s3(staged)
                self.s3.copy({"Bucket": source_bucket, "Key": source_key}, bucket, key)
            else:
                self.s3.upload_file(staged, bucket, key)
            return
        if is_s3(staged):
            raise QualityJobError(f"cannot publish {staged} to the local path {final}")
        dest = Path(final)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".tmp-{os.getpid()}-{dest.name}")
        shutil.copyfile(staged, tmp)
        os.replace(tmp, dest)

    def delete(self, uri: str) -> None:
        if is_s3(uri):
            bucket, key = split_s3(uri)
            self.s3.delete_object(Bucket=bucket, Key=key)
        else:
            Path(uri).unlink(missing_ok=True)

    def remove_tree(self, folder: str) -> None:
        if is_s3(folder):
            bucket, prefix = split_s3(folder.rstrip("/") + "/")
            paginator = self.s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                keys = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
                if keys:
                    self.s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        else:
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _staging(staging_uri: str | None, anchor: str) -> Iterator[str]:
    """A fresh staging folder: under ``staging_uri`` when given, else a temp folder next to ``anchor``."""
    run = f"quality-movies-{uuid.uuid4().hex}"
    if staging_uri:
        yield staging_uri.rstrip("/") + "/" + run
        return
    if is_s3(anchor):
        raise QualityJobError(
            f"staging_uri is required to write {anchor}: pass the job's --TempDir (an s3:// folder)"
        )
    parent = Path(anchor).parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix=f".{run}-") as tmp:
        yield tmp


def run_quality_job(
    spark: Any,
    *,
    input_uri: str,
    source_file: str,
    ruleset_text: str,
    bad_records_uri: str,
    rule_outcomes_uri: str,
    validated_uri: str,
    staging_uri: str | None = None,
    ruleset_source: str = "<ruleset>",
    s3_client: Any = None,
    history: Any = None,
    engine_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate ``ruleset_text`` over the CSV at ``input_uri`` and publish the three outputs.

    ``staging_uri`` is where Spark writes before the outputs are copied to their final URIs (required
    when the outputs are on S3, e.g. the job's ``--TempDir``). Returns counts, rule outcomes and URIs.
    """
    from pyspark.sql import functions as F

    from quality_movies.dq import evaluate_spark, read_csv_spark
    from quality_movies.dq.plan import ROW_ID

    ruleset = parse_ruleset(ruleset_text, source=ruleset_source)
    raw = read_csv_spark(spark, input_uri)
    accepted = inspect.signature(evaluate_spark).parameters
    given = {"history": history, **(engine_options or {})}  # references=, files=, column_types=
    options = {k: v for k, v in given.items() if v is not None and k in accepted}
    evaluation = evaluate_spark(ruleset, raw, **options)
    passed = (
        evaluation.ordered.filter(F.col("DataQualityEvaluationResult") == "Passed")
        .coalesce(1)
        .sortWithinPartitions(ROW_ID)
    )
    validated, rejected = split_by_contract_spark(passed, raw.columns, source_file)
    check_contract_spark(validated, source_file)
    failed = evaluation.ordered.filter(F.col("DataQualityEvaluationResult") == "Failed")
    bad = _in_input_order(failed.unionByName(rejected.select(*failed.columns)))
    contract_rejected = rejected.count()
    rule_outcomes = [outcome.to_glue_dict() for outcome in evaluation.rule_outcomes]
    files = JobFiles(s3_client)
    finals = {
        "bad_records": bad_records_uri,
        "rule_outcomes": rule_outcomes_uri,
        "validated": validated_uri,
    }
    with _staging(staging_uri, validated_uri) as staging:
        try:
            staged = _write_staged(files, staging, bad, rule_outcomes, validated)
            published: list[str] = []
            try:
                for name in OUTPUTS:
                    files.publish(staged[name], finals[name])
                    published.append(finals[name])
            except Exception:
                for uri in published:
                    files.delete(uri)
                raise
        finally:
            files.remove_tree(staging)
    return {
        "source_file": source_file,
        "rows_read": int(evaluation.rows_read),
        "good_rows": int(evaluation.good_rows),
        "bad_rows": int(evaluation.bad_rows) + contract_rejected,
        "validated_rows": int(evaluation.good_rows) - contract_rejected,
        "contract_rejected": contract_rejected,
        "rule_outcomes": rule_outcomes,
        "analyzer_results": [result.to_dict() for result in evaluation.analyzer_results],
        "outputs": finals,
    }


def _in_input_order(rows: Any) -> Any:
    """Rows in one partition, in the input file's order."""
    from quality_movies.dq.plan import ROW_ID

    return rows.coalesce(1).sortWithinPartitions(ROW_ID).drop(ROW_ID)


def _write_staged(
    files: JobFiles, staging: str, bad: Any, rule_outcomes: list[dict[str, Any]], validated: Any
) -> dict[str, str]:
    """Write the three outputs under ``staging``; returns the staged object of each."""
    bad_folder = f"{staging}/bad_records"
    bad.write.mode("overwrite").option("ignoreNullFields", "false").json(bad_folder)
    bad_part = files.single_part(bad_folder, ".json")
    if bad_part is None:
        bad_part = f"{staging}/bad_records.jsonl"
        files.write_text(bad_part, "")
    validated_folder = f"{staging}/validated"
    validated.write.mode("overwrite").parquet(validated_folder)
    validated_part = files.single_part(validated_folder, ".parquet")
    if validated_part is None:
        raise QualityJobError(f"Spark wrote no Parquet file into {validated_folder}")
    outcomes = f"{staging}/rule_outcomes.jsonl"
    files.write_text(
        outcomes,
        "".join(
            json.dumps(o, ensure_ascii=False, separators=(",", ":")) + "\n" for o in rule_outcomes
        ),
    )
    return {"bad_records": bad_part, "rule_outcomes": outcomes, "validated": validated_part}


def run_job(
    spark: Any,
    arguments: JobArguments,
    *,
    ruleset_text: str | None = None,
    s3_client: Any = None,
    through_local_disk: bool = False,
) -> dict[str, Any]:
    """One Glue job run over ``arguments``.

    On Glue, Spark reads and writes S3 itself, staging under ``--TempDir``. With ``through_local_disk``
    (a local Spark without an S3 connector) the input and the reference datasets are downloaded and
    the outputs are staged on local disk, then uploaded. ``--engine_inputs_uri`` gives the catalog's
    column types and the datasets the rules name; file rules list S3.
    """
    s3 = _s3(s3_client)
    ruleset_source = "ruleset sent by Dagster" if ruleset_text is not None else "movies.dqdl"
    if ruleset_text is None:
        ruleset_text = (
            read_text_uri(arguments.ruleset_uri, s3)
            if arguments.ruleset_uri
            else packaged_ruleset_text()
        )
    outputs = arguments.output_uris()
    history = None
    if arguments.history_uri:
        from quality_movies.monitoring.history import StoredMetricHistory

        history = StoredMetricHistory.from_dict(
            json.loads(read_text_uri(arguments.history_uri, s3))
        )
    inputs = (
        EngineInputs.from_json(read_text_uri(arguments.engine_inputs_uri, s3))
        if arguments.engine_inputs_uri
        else EngineInputs()
    )
    engine_options: dict[str, Any] = {
        "files": S3Files(s3, arguments.source_bucket, arguments.source_key),
        "column_types": inputs.column_types,
        "references": inputs.references,
    }
    common: dict[str, Any] = {
        "history": history,
        "engine_options": engine_options,
        "source_file": arguments.source_file,
        "ruleset_text": ruleset_text,
        "ruleset_source": arguments.ruleset_uri or ruleset_source,
        "bad_records_uri": outputs["bad_records"],
        "rule_outcomes_uri": outputs["rule_outcomes"],
        "validated_uri": outputs["validated"],
        "s3_client": s3,
    }
    if through_local_disk:
        with tempfile.TemporaryDirectory(prefix="quality-movies-job-") as tmp:
            local_input = Path(tmp) / "input.csv"
            try:
                s3.download_file(arguments.source_bucket, arguments.source_key, str(local_input))
            except Exception as exc:
                raise QualityJobError(f"cannot read {arguments.input_uri}: {exc}") from exc
            if inputs.references:
                engine_options["references"] = _local_references(inputs.references, s3, Path(tmp))
            return run_quality_job(
                spark, input_uri=str(local_input), staging_uri=f"{tmp}/staging", **common
            )
    temp_dir = arguments.temp_dir or f"s3://{arguments.bucket}/tmp/"
    return run_quality_job(
        spark,
        input_uri=arguments.input_uri,
        staging_uri=temp_dir.rstrip("/") + "/quality-movies",
        **common,
    )
