"""The quality job on Spark, as the Glue job runs it: a batch of input files in, per file three
single-object outputs out, in one job run (``--manifest_uri``; ``--source_key`` is a batch of one).

``run_quality_job`` reads the file with the engine's Spark reader, evaluates the ruleset, splits the rows
that pass it by the warehouse contract (a value that is not its column's type or is out of range makes
the row a bad record, the reason in ``DataQualityRulesFail``), checks the validated rows with pandera's
PySpark backend and publishes bad records (JSON Lines, input order), rule outcomes (JSON Lines, Glue's
five keys) and the validated movies (Parquet, the warehouse mapping plus ``source_file``). Outputs are
staged first and copied to the keys given only once all three exist, so a failed run leaves those keys as
they were. URIs are local paths or ``s3://``. ``evaluate_batch`` evaluates a batch's files with one
Spark read and pass per group of files sharing a header and format (``dq.spark_batch``), each file
failing alone; the run's report holds every file's counts and outcomes or error.
"""

import inspect
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import sqlglot

from quality_movies.contract import (
    REQUIRED_COLUMNS,
    SOURCE_FILE_COLUMN,
    ContractViolation,
    mapping_select,
    rejected_condition,
    rejection_reasons_sql,
    validated_movies_pyspark_schema,
)
from quality_movies.dq.data_files import DataFile
from quality_movies.dq.loading import parse_ruleset
from quality_movies.dq.outcomes import ROW_LEVEL_COLUMNS as ROW_LEVEL

OUTPUTS = ("bad_records", "rule_outcomes", "validated")

# Glue job arguments (``--name value``) the job reads; all but source_key or manifest_uri have defaults.
JOB_OPTIONS = (
    "manifest_uri",
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
class JobFile:
    """One input file of a job run and the keys its three outputs go to."""

    source_bucket: str
    source_key: str
    source_file: str
    bucket: str
    bad_records_key: str
    rule_outcomes_key: str
    validated_key: str
    file_version: str = ""

    @property
    def input_uri(self) -> str:
        return f"s3://{self.source_bucket}/{self.source_key}"

    def output_uris(self) -> dict[str, str]:
        return {
            "bad_records": f"s3://{self.bucket}/{self.bad_records_key}",
            "rule_outcomes": f"s3://{self.bucket}/{self.rule_outcomes_key}",
            "validated": f"s3://{self.bucket}/{self.validated_key}",
        }


@dataclass(frozen=True)
class JobArguments:
    """What one job run works on, resolved from the Glue job arguments (and its manifest)."""

    source_bucket: str
    bucket: str
    input_prefix: str
    bad_records_prefix: str
    rule_outcomes_prefix: str
    validated_prefix: str
    temp_dir: str
    ruleset_uri: str
    job_name: str
    report_key: str = ""
    history_uri: str = ""
    engine_inputs_uri: str = ""
    manifest_uri: str = ""
    files: tuple[JobFile, ...] = ()

    def job_file(self, entry: Mapping[str, str]) -> JobFile:
        """A manifest entry (``source_key`` and optional output keys) with the prefixes' layout filled in."""
        source_key = entry["source_key"]
        source_file = (
            source_key[len(self.input_prefix) :]
            if source_key.startswith(self.input_prefix)
            else source_key.rsplit("/", 1)[-1]
        )
        partition = f"source_file={source_file}"
        return JobFile(
            source_bucket=entry.get("source_bucket") or self.source_bucket,
            source_key=source_key,
            source_file=source_file,
            bucket=self.bucket,
            bad_records_key=entry.get("bad_records_key")
            or f"{self.bad_records_prefix}{partition}/bad_records.jsonl",
            rule_outcomes_key=entry.get("rule_outcomes_key")
            or f"{self.rule_outcomes_prefix}{partition}/rule_outcomes.jsonl",
            validated_key=entry.get("validated_key")
            or f"{self.validated_prefix}{partition}/validated_movies.parquet",
            file_version=entry.get("file_version") or "",
        )

    def with_manifest(self, manifest: Mapping[str, Any]) -> "JobArguments":
        """These arguments over the files of a manifest ``{"files": [{"source_key": ...}, ...]}``."""
        entries = manifest.get("files") if isinstance(manifest, Mapping) else None
        if not entries or not all(isinstance(e, Mapping) and e.get("source_key") for e in entries):
            raise QualityJobError(
                f"the manifest {self.manifest_uri} lists no files: write "
                '{"files": [{"source_key": "input_data/a.csv"}, ...]} there and start the job again'
            )
        return replace(self, files=tuple(self.job_file(e) for e in entries))


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
    """The run's arguments; with ``--source_key`` its one file, output keys from the prefixes (as
    ``Lake`` lays them out) where not given explicitly. A manifest is read by ``load_manifest``."""
    merged = {**DEFAULT_OPTIONS, **{k: v for k, v in options.items() if v}}
    if not merged.get("source_key") and not merged.get("manifest_uri"):
        raise QualityJobError(
            "job argument --manifest_uri (or --source_key) is missing: pass the batch's manifest, "
            "e.g. --manifest_uri s3://bucket/batch.json, or one input object's key, e.g. "
            "--source_key input_data/movies.csv"
        )
    bucket = merged["bucket"]
    arguments = JobArguments(
        source_bucket=merged.get("source_bucket") or bucket,
        bucket=bucket,
        input_prefix=merged["input_prefix"],
        bad_records_prefix=merged["bad_records_prefix"],
        rule_outcomes_prefix=merged["rule_outcomes_prefix"],
        validated_prefix=merged["validated_prefix"],
        temp_dir=merged.get("TempDir", ""),
        ruleset_uri=merged.get("ruleset_uri", ""),
        report_key=merged.get("report_key", ""),
        history_uri=merged.get("history_uri", ""),
        engine_inputs_uri=merged.get("engine_inputs_uri", ""),
        manifest_uri=merged.get("manifest_uri", ""),
        job_name=merged.get("JOB_NAME", ""),
    )
    if arguments.manifest_uri:
        return arguments
    keys = ("source_key", "bad_records_key", "rule_outcomes_key", "validated_key")
    return replace(arguments, files=(arguments.job_file({k: merged.get(k, "") for k in keys}),))


def load_manifest(arguments: JobArguments, s3_client: Any = None) -> JobArguments:
    """The arguments with the files of ``--manifest_uri`` (unchanged without one)."""
    if not arguments.manifest_uri:
        return arguments
    try:
        manifest = json.loads(read_text_uri(arguments.manifest_uri, s3_client))
    except Exception as exc:
        raise QualityJobError(
            f"the manifest {arguments.manifest_uri} cannot be read ({exc}): check --manifest_uri "
            "and that the job's role may s3:GetObject it"
        ) from exc
    return arguments.with_manifest(manifest)


def write_report(arguments: JobArguments, report: dict[str, Any], s3_client: Any = None) -> None:
    """Leave the run's counts and rule outcomes at ``--report_key`` for whoever started the job."""
    if arguments.report_key:
        _s3(s3_client).put_object(
            Bucket=arguments.bucket,
            Key=arguments.report_key,
            Body=json.dumps(report).encode("utf-8"),
        )


def check_inputs(arguments: JobArguments, s3_client: Any = None) -> dict[str, str]:
    """The files whose input object cannot be read, each with a message naming it; raises
    QualityJobError when none can be read (nothing could run)."""
    s3 = _s3(s3_client)
    unreadable = {}
    for file in arguments.files:
        try:
            s3.head_object(Bucket=file.source_bucket, Key=file.source_key)
        except Exception as exc:
            unreadable[file.source_file] = (
                f"{file.source_file}: input {file.input_uri} cannot be read ({exc}): check the "
                "object and that the job's role may s3:GetObject it"
            )
    if unreadable and len(unreadable) == len(arguments.files):
        raise QualityJobError("; ".join(unreadable.values()))
    return unreadable


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


def require_contract_columns(source_columns: Sequence[str], source_file: str) -> None:
    """ContractViolation naming ``source_file`` when its header lacks a column the warehouse needs."""
    missing = [name for name in REQUIRED_COLUMNS if name not in source_columns]
    if missing:
        raise ContractViolation(
            f"{source_file}: required column {', '.join(missing)} is missing from the header; add "
            "it and upload the file again"
        )


def split_by_contract_spark(
    good: Any, source_columns: Sequence[str], source_file: Any, keep: Sequence[str] = ()
) -> tuple:
    """(validated, rejected) rows of the rule-passing ``good`` rows: validated in the warehouse types
    plus ``source_file`` (a name, or a Column giving each row's); rejected as bad records whose
    ``DataQualityRulesFail`` gives the contract's reasons (the same SQL as the embedded engine's,
    transpiled to Spark). Other columns of ``good`` (a row id) are kept on the rejected rows, and
    the ``keep`` ones on the validated rows too (after the warehouse's)."""
    from pyspark.sql import Column
    from pyspark.sql import functions as F

    if not isinstance(source_file, Column):
        require_contract_columns(source_columns, source_file)
        source_file = F.lit(source_file)
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
        .selectExpr(*spark_mapping_select(source_columns), *keep)
        .withColumn(SOURCE_FILE_COLUMN, source_file)
    )
    if keep:
        validated = validated.select(*[c for c in validated.columns if c not in keep], *keep)
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

    def parts_by_partition(self, folder: str, column: str, suffix: str) -> dict[int, list[str]]:
        """The data files Spark wrote into ``folder`` partitioned by the integer ``column``, by
        its value (one listing of the folder)."""
        marker = f"{column}="
        if is_s3(folder):
            bucket, prefix = split_s3(folder.rstrip("/") + "/")
            paginator = self.s3.get_paginator("list_objects_v2")
            found = [
                (entry["Key"][len(prefix) :], f"s3://{bucket}/{entry['Key']}")
                for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
                for entry in page.get("Contents", [])
            ]
        else:
            root = Path(folder)
            found = [(str(p.relative_to(root)), str(p)) for p in root.glob(f"{marker}*/part-*")]
        parts: dict[int, list[str]] = {}
        for relative, uri in sorted(found):
            partition, _, name = relative.partition("/")
            if partition.startswith(marker) and name.startswith("part-") and name.endswith(suffix):
                parts.setdefault(int(partition[len(marker) :]), []).append(uri)
        return parts

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
    ruleset: Any = None,
) -> dict[str, Any]:
    """Evaluate ``ruleset_text`` (or the parsed ``ruleset``) over the CSV at ``input_uri`` and publish
    the three outputs.

    ``staging_uri`` is where Spark writes before the outputs are copied to their final URIs (required
    when the outputs are on S3, e.g. the job's ``--TempDir``). Returns counts, rule outcomes and URIs.
    """
    from quality_movies.dq import evaluate_spark, read_csv_spark

    if ruleset is None:
        ruleset = parse_ruleset(ruleset_text, source=ruleset_source)
    raw = read_csv_spark(spark, input_uri)
    accepted = inspect.signature(evaluate_spark).parameters
    given = {"history": history, **(engine_options or {})}  # references=, files=, column_types=
    options = {k: v for k, v in given.items() if v is not None and k in accepted}
    evaluation = evaluate_spark(ruleset, raw, **options)
    finals = {
        "bad_records": bad_records_uri,
        "rule_outcomes": rule_outcomes_uri,
        "validated": validated_uri,
    }
    return publish_evaluation(
        evaluation, raw.columns, source_file, finals, staging_uri, JobFiles(s3_client)
    )


def publish_evaluation(
    evaluation: Any,
    source_columns: Sequence[str],
    source_file: str,
    finals: Mapping[str, str],
    staging_uri: str | None,
    files: "JobFiles",
) -> dict[str, Any]:
    """One file's evaluation split by the warehouse contract, its three outputs staged and then
    published to ``finals`` together (or none of them); returns the file's report."""
    from pyspark.sql import functions as F

    from quality_movies.dq.plan import ROW_ID

    passed = (
        evaluation.ordered.filter(F.col("DataQualityEvaluationResult") == "Passed")
        .coalesce(1)
        .sortWithinPartitions(ROW_ID)
    )
    validated, rejected = split_by_contract_spark(passed, source_columns, source_file)
    check_contract_spark(validated, source_file)
    failed = evaluation.ordered.filter(F.col("DataQualityEvaluationResult") == "Failed")
    bad = _in_input_order(failed.unionByName(rejected.select(*failed.columns)))
    contract_rejected = rejected.count()
    rule_outcomes = [outcome.to_glue_dict() for outcome in evaluation.rule_outcomes]
    with _staging(staging_uri, finals["validated"]) as staging:
        try:
            staged = _write_staged(files, staging, bad, rule_outcomes, validated)
            _publish(files, staged, finals)
        finally:
            files.remove_tree(staging)
    return file_report(evaluation, source_file, contract_rejected, rule_outcomes, finals)


def _publish(files: "JobFiles", staged: Mapping[str, str], finals: Mapping[str, str]) -> None:
    """Copy a file's three staged outputs to their final places: all of them, or none."""
    published: list[str] = []
    try:
        for name in OUTPUTS:
            files.publish(staged[name], finals[name])
            published.append(finals[name])
    except Exception:
        for uri in published:
            files.delete(uri)
        raise


def file_report(
    evaluation: Any,
    source_file: str,
    contract_rejected: int,
    rule_outcomes: list[dict[str, Any]],
    finals: Mapping[str, str],
) -> dict[str, Any]:
    """The job report's entry for one file."""
    return {
        "source_file": source_file,
        "rows_read": int(evaluation.rows_read),
        "good_rows": int(evaluation.good_rows),
        "bad_rows": int(evaluation.bad_rows) + contract_rejected,
        "validated_rows": int(evaluation.good_rows) - contract_rejected,
        "contract_rejected": contract_rejected,
        "rule_outcomes": rule_outcomes,
        "analyzer_results": [result.to_dict() for result in evaluation.analyzer_results],
        "outputs": dict(finals),
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
    files.write_text(outcomes, _json_lines(rule_outcomes))
    return {"bad_records": bad_part, "rule_outcomes": outcomes, "validated": validated_part}


def _json_lines(records: Sequence[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)


class BatchHistory:
    """The metric history one file of a batch is judged against (a ``dq.history.MetricHistory``),
    built on first use: a ruleset without dynamic rules or DetectAnomalies never pays for it."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build

    @cached_property
    def history(self) -> Any:
        return self._build()

    def previous(self, metric: str, k: int | None = None) -> list[float]:
        return self.history.previous(metric, k)

    def detect_anomaly(self, metric: str, value: float) -> Any:
        return self.history.detect_anomaly(metric, value)

    def to_dict(self) -> dict[str, Any]:
        return self.history.to_dict()


def batch_history(
    stored: Any, pending: Sequence[Any], source_file: str, file_version: str
) -> BatchHistory:
    """The metric history ``source_file`` is judged against: the store's rows (``stored``, a frame as
    the run started), then ``pending`` (the history rows of the files evaluated before it in the run,
    see ``pending_history_rows``), as if each had been recorded already (a version already stored
    keeps its place)."""

    def build() -> Any:
        import pandas as pd

        from quality_movies.dq.metric_history import StoredMetricHistory

        frame = pd.concat([stored, *pending], ignore_index=True) if pending else stored
        return StoredMetricHistory.from_frame(frame, exclude=(source_file, file_version))

    return BatchHistory(build)


def pending_history_rows(
    source_file: str, file_version: str, rule_outcomes: Sequence[Mapping[str, Any]], after: Any
) -> Any:
    """A file's metric history rows as the files after it in the run see them, processed just after
    ``after`` (the previous rows' frame, or None), so they come last whatever this machine's clock."""
    from quality_movies.dq.metric_history import FileQuality, history_rows, now

    moment = now()
    if after is not None and len(after):
        latest = after["processed_at"].max()
        if moment <= latest:
            moment = (latest + timedelta(microseconds=1)).to_pydatetime()
    entry = FileQuality(source_file, file_version, "", "", list(rule_outcomes))
    return history_rows(entry, moment, moment)


@dataclass(frozen=True)
class BatchFile:
    """One file of a batch: where its CSV is read and its three outputs go, and its file listing for
    file rules (``dq.data_files.FileListing``)."""

    source_file: str
    input_uri: str
    bad_records_uri: str
    rule_outcomes_uri: str
    validated_uri: str
    file_version: str = ""
    files: Any = None
    # paths of temporary copies that messages should call by the user's file name
    local_paths: tuple[str, ...] = field(default=())


def file_error(source_file: str, error: BaseException, local_paths: Sequence[str] = ()) -> str:
    """One line naming the user's file (never a temporary copy) and what went wrong; an error the job
    does not know (Spark's, S3's) is named by its type."""
    from quality_movies.dq import DataQualityError

    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    for path in local_paths:
        text = text.replace(str(path), source_file)
    if not isinstance(error, QualityJobError | ContractViolation | DataQualityError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if text.startswith(source_file) else f"{source_file}: {text}"


def evaluate_batch(
    spark: Any,
    ruleset_text: str,
    files: Sequence[BatchFile],
    *,
    staging_uri: str | None = None,
    ruleset_source: str = "<ruleset>",
    s3_client: Any = None,
    history: Any = None,
    engine_options: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Evaluate the files of one batch and publish each file's outputs; returns per file (in
    order) its report or ``{"error": message}``: a file fails alone.

    The files that share a header and format (read from their first bytes) are ONE Spark read and
    pass (``spark_batch.evaluate_spark_files``), their outputs one partitioned write per kind,
    then published file by file (each file's three outputs together or not at all). The others
    run alone (``run_quality_job``): see ``shared_pass_key``. A file that fails inside a pass is
    run alone again, so its error is the one it gives alone.

    ``history`` is the metric store's frame as the run started (each file is judged against it and
    the files before it in the batch), a ``MetricHistory`` for every file, or None. With a frame
    and a ruleset that reads history, only neighbouring files share a pass, so the passes keep the
    batch's order. The ruleset is parsed once; a ruleset that does not parse fails the whole batch.
    """
    ruleset = parse_ruleset(ruleset_text, source=ruleset_source)
    run = _BatchRun(
        spark, ruleset, files, staging_uri, s3_client, history, dict(engine_options or {})
    )
    return run.evaluate()


# Paths that Spark's ``_metadata.file_path`` and ``spark_batch.file_uri`` spell alike (nothing to
# escape): a file named otherwise runs alone.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9._/-]+")


def file_head(uri: str, s3_client: Any = None) -> bytes:
    """The first bytes of a local file or S3 object (one ranged GET): enough for its header row."""
    from quality_movies.dq.duckdb_engine import MAX_HEADER_BYTES

    if is_s3(uri):
        bucket, key = split_s3(uri)
        answer = _s3(s3_client).get_object(
            Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_HEADER_BYTES - 1}"
        )
        return answer["Body"].read()
    with open(uri, "rb") as stream:
        return stream.read(MAX_HEADER_BYTES)


def shared_pass_key(uri: str, s3_client: Any = None) -> tuple | None:
    """(header names, format) of a file that may share a Spark pass with others of the same key;
    None for one that runs alone: Parquet, gzip, a header the batched read cannot take (blank
    lines above it, a column named as the pass's own), a name Spark would escape, or a file whose
    first bytes cannot be read or parsed (alone, it fails with its own message)."""
    from quality_movies.dq import duckdb_engine
    from quality_movies.dq.batch import FILE_PART
    from quality_movies.dq.input_format import detect_input_format
    from quality_movies.dq.plan import ROW_ID
    from quality_movies.dq.spark_batch import FILE_COLUMN

    path = uri.split("://", 1)[1] if "://" in uri else uri
    if not _PLAIN_PATH.fullmatch(path):
        return None
    try:
        head = file_head(uri, s3_client)
        fmt = detect_input_format(uri, head)
        if fmt.kind != "csv" or fmt.gzip:
            return None
        header = duckdb_engine.parse_header(head, uri, fmt)
        columns = duckdb_engine.normalize_column_names(header.names, uri)
    except Exception:
        return None
    if header.blank_lines or {FILE_COLUMN, FILE_PART, ROW_ID} & set(columns):
        return None
    return tuple(header.names), fmt


def lines_are_records(spark: Any, uris: Sequence[str]) -> dict[str, bool]:
    """``spark_engine.spark_lines_are_records`` of each file (as ``file_uri`` spells it), in one
    Spark job over all of them; a local file is checked on the driver."""
    from pyspark.sql import functions as F

    from quality_movies.dq import spark_engine
    from quality_movies.dq.spark_batch import file_uri

    answers = {
        uri: spark_engine.local_lines_are_records(Path(uri)) for uri in uris if not is_s3(uri)
    }
    remote = [uri for uri in uris if is_s3(uri)]
    if remote:
        line = F.col("value")
        blank = line.rlike(spark_engine.BLANK_LINE)
        suspect = (line.contains('"') & ~line.rlike(spark_engine.SINGLE_LINE_RECORD)) | blank
        with spark_engine._job_settings(spark):
            found = (
                spark.read.text(remote)
                .groupBy(F.col("_metadata.file_path").alias("file"))
                .agg(F.max(suspect.cast("int")).alias("suspect"))
                .collect()
            )
        suspects = {row["file"]: bool(row["suspect"]) for row in found}
        answers.update({uri: not suspects.get(file_uri(uri), False) for uri in remote})
    return answers


def reads_history(ruleset: Any) -> bool:
    """Whether a rule compares with its metric's history (a dynamic rule, DetectAnomalies)."""
    for leaf in [*ruleset.leaves, *ruleset.analyzers]:
        if leaf.rule_type == "DetectAnomalies":
            return True
        values = [*leaf.tags.values()]
        for condition in (leaf.condition, leaf.threshold):
            values += list(condition.values) if condition is not None else []
        if any(value.expression is not None for value in values):
            return True
    return False


class _BatchRun:
    """One ``evaluate_batch`` call: its passes, each file's result and the metric history rows
    of the files evaluated so far (by their index in the batch)."""

    def __init__(
        self,
        spark: Any,
        ruleset: Any,
        files: Sequence[BatchFile],
        staging_uri: str | None,
        s3_client: Any,
        history: Any,
        engine_options: dict[str, Any],
    ) -> None:
        self.spark = spark
        self.ruleset = ruleset
        self.files = files
        self.staging_uri = staging_uri
        self.s3_client = s3_client
        self.jobs = JobFiles(s3_client)
        self.history = history
        self.framed = history is not None and hasattr(history, "columns")
        self.engine_options = engine_options
        self.pending: dict[int, Any] = {}
        self.results: dict[int, dict[str, Any]] = {}

    def evaluate(self) -> dict[str, dict[str, Any]]:
        for indices, key in self._passes():
            if key is None:
                self._alone(indices[0])
            else:
                self._together(indices, key)
        return {file.source_file: self.results[i] for i, file in enumerate(self.files)}

    def _passes(self) -> list[tuple[list[int], tuple | None]]:
        """The batch's files in passes, by first file: files of one key together (neighbours
        only, when the order of the history counts), the others each alone (key None)."""
        from quality_movies.dq.rules import referenced_names

        if referenced_names(self.ruleset) or self.engine_options.get("references"):
            return [([i], None) for i in range(len(self.files))]
        keys = [shared_pass_key(f.input_uri, self.s3_client) for f in self.files]
        candidates = [f.input_uri for f, key in zip(self.files, keys, strict=True) if key]
        try:
            records = lines_are_records(self.spark, candidates) if len(candidates) > 1 else {}
        except Exception:
            records = {}  # each alone: reading it says what is wrong
        keys = [
            (*key, not records[f.input_uri]) if key and f.input_uri in records else None
            for f, key in zip(self.files, keys, strict=True)
        ]
        neighbours_only = self.framed and reads_history(self.ruleset)
        passes: list[tuple[list[int], tuple | None]] = []
        by_key: dict[tuple, list[int]] = {}
        for index, key in enumerate(keys):
            if key is not None and neighbours_only and passes and passes[-1][1] == key:
                passes[-1][0].append(index)
            elif key is not None and not neighbours_only and key in by_key:
                by_key[key].append(index)
            else:
                passes.append(([index], key))
                if key is not None:
                    by_key[key] = passes[-1][0]
        return [(indices, key if len(indices) > 1 else None) for indices, key in passes]

    def _history_for(self, index: int) -> Any:
        """The history file ``index`` is judged against: the store's, then the files before it."""
        if not self.framed:
            return self.history
        file = self.files[index]
        earlier = [self.pending[i] for i in sorted(self.pending) if i < index]
        return batch_history(self.history, earlier, file.source_file, file.file_version)

    def _count(self, index: int, rule_outcomes: Sequence[Mapping[str, Any]]) -> None:
        """File ``index``'s metrics count for the files after it."""
        if not self.framed:
            return
        file = self.files[index]
        before = [i for i in sorted(self.pending) if i < index]
        after = self.pending[before[-1]] if before else self.history
        self.pending[index] = pending_history_rows(
            file.source_file, file.file_version, rule_outcomes, after
        )

    def _fail(self, index: int, error: BaseException) -> None:
        file = self.files[index]
        self.results[index] = {"error": file_error(file.source_file, error, file.local_paths)}
        self.pending.pop(index, None)

    def _finals(self, index: int) -> dict[str, str]:
        file = self.files[index]
        return {
            "bad_records": file.bad_records_uri,
            "rule_outcomes": file.rule_outcomes_uri,
            "validated": file.validated_uri,
        }

    def _alone(self, index: int) -> None:
        """The file evaluated and published by itself (``run_quality_job``)."""
        file = self.files[index]
        options = dict(self.engine_options)
        if file.files is not None:
            options["files"] = file.files
        try:
            report = run_quality_job(
                self.spark,
                input_uri=file.input_uri,
                source_file=file.source_file,
                ruleset_text="",
                ruleset=self.ruleset,
                staging_uri=self.staging_uri,
                s3_client=self.s3_client,
                history=self._history_for(index),
                engine_options=options,
                **{f"{name}_uri": uri for name, uri in self._finals(index).items()},
            )
        except Exception as error:
            self._fail(index, error)
            return
        self.results[index] = report
        self._count(index, report["rule_outcomes"])

    def _together(self, indices: list[int], key: tuple) -> None:
        """One read and pass over files of one header; each file's outputs published alone."""
        from quality_movies.dq import spark_batch, spark_engine
        from quality_movies.dq.duckdb_engine import normalize_column_names
        from quality_movies.dq.spark_batch import SharedSparkEvaluation, file_uri
        from quality_movies.dq.spark_engine import SparkEvaluation

        names, fmt, multi_line = key
        members = [self.files[i] for i in indices]
        columns = normalize_column_names(names, members[0].input_uri)
        contract_ok = all(name in columns for name in REQUIRED_COLUMNS)
        uris = [file_uri(f.input_uri) for f in members]
        accepted = inspect.signature(spark_engine.evaluate_spark).parameters
        common = {
            k: v
            for k, v in self.engine_options.items()
            if v is not None and k in accepted and k not in ("history", "files")
        }
        options = {
            uri: {"files": f.files}
            for uri, f in zip(uris, members, strict=True)
            if f.files is not None
        }

        def history_of(uri: str, earlier: Sequence[Any]) -> Any:
            for position, found in enumerate(earlier):
                index = indices[position]
                if contract_ok and isinstance(found, SparkEvaluation) and index not in self.pending:
                    self._count(index, [o.to_glue_dict() for o in found.rule_outcomes])
            return self._history_for(indices[len(earlier)])

        try:
            frame = spark_batch.read_csv_files_spark(
                self.spark, [f.input_uri for f in members], multi_line, fmt, names
            )
            evaluations = spark_batch.evaluate_spark_files(
                self.ruleset, frame, uris, options=options, history_of=history_of, **common
            )
        except Exception:
            for index in indices:  # each alone says what is wrong with it
                self.pending.pop(index, None)
                self._alone(index)
            return
        again: list[int] = []
        shared: dict[int, list[tuple[int, Any]]] = {}
        for index, evaluation in zip(indices, evaluations, strict=True):
            if not isinstance(evaluation, SparkEvaluation):
                again.append(index)
            elif not contract_ok:
                try:
                    require_contract_columns(columns, self.files[index].source_file)
                except ContractViolation as error:
                    self._fail(index, error)
            elif isinstance(evaluation, SharedSparkEvaluation):
                shared.setdefault(id(evaluation.pass_rows), []).append((index, evaluation))
            else:
                self._publish_one(index, evaluation, columns)
        for found in shared.values():
            try:
                again += self._publish_pass(found, columns)
            except Exception:  # the pass's split or writes failed: its files run alone
                again += [index for index, _ in found if index not in self.results]
        for index in sorted(again):
            self.pending.pop(index, None)
            self._alone(index)

    def _publish_one(self, index: int, evaluation: Any, columns: Sequence[str]) -> None:
        file = self.files[index]
        try:
            self.results[index] = publish_evaluation(
                evaluation,
                columns,
                file.source_file,
                self._finals(index),
                self.staging_uri,
                self.jobs,
            )
        except Exception as error:
            self._fail(index, error)
            return
        if index not in self.pending:
            self._count(index, self.results[index]["rule_outcomes"])

    def _publish_pass(self, members: list[tuple[int, Any]], columns: Sequence[str]) -> list[int]:
        """The contract split and the outputs of a shared pass's files: one write per kind,
        partitioned by file, then each file's three outputs published; returns the files to run
        alone (all of them when the pass's writes fail)."""
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        from quality_movies.dq.batch import FILE_PART

        index_of = {evaluation.part: index for index, evaluation in members}
        evaluation_of = dict(members)
        name_of = F.create_map(
            *[
                item
                for part, index in index_of.items()
                for item in (F.lit(part), F.lit(self.files[index].source_file))
            ]
        )[F.col(FILE_PART)]
        # the pass's rows are read by the contract check's jobs, the count and both writes
        rows = members[0][1].pass_rows.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            return self._split_and_publish(rows, index_of, evaluation_of, name_of, columns)
        finally:
            rows.unpersist()

    def _split_and_publish(
        self,
        rows: Any,
        index_of: dict[int, int],
        evaluation_of: dict[int, Any],
        name_of: Any,
        columns: Sequence[str],
    ) -> list[int]:
        from pyspark.sql import functions as F

        from quality_movies.dq.batch import FILE_PART
        from quality_movies.dq.plan import ROW_ID

        result = F.col("DataQualityEvaluationResult")
        validated, rejected = split_by_contract_spark(
            rows.filter(result == "Passed"), columns, name_of, keep=(FILE_PART, ROW_ID)
        )
        try:
            check_contract_spark(validated.drop(FILE_PART, ROW_ID), "the batch")
        except ContractViolation:  # say which files break it, as each alone would
            for part, index in list(index_of.items()):
                one = validated.where(F.col(FILE_PART) == part).drop(FILE_PART, ROW_ID)
                try:
                    check_contract_spark(one, self.files[index].source_file)
                except ContractViolation as error:
                    self._fail(index, error)
                    del index_of[part]
            if not index_of:
                return []
        parts = list(index_of)
        kept = F.col(FILE_PART).isin(parts)
        failed = rows.filter((result == "Failed") & kept)
        bad = failed.unionByName(rejected.where(kept).select(*failed.columns))
        validated = validated.where(kept)
        try:
            with _staging(
                self.staging_uri, self.files[index_of[parts[0]]].validated_uri
            ) as staging:
                try:
                    staged = self._write_pass(staging, bad, validated, parts)
                    rejected_counts = {
                        row[FILE_PART]: row["count"]
                        for row in rejected.where(kept).groupBy(FILE_PART).count().collect()
                    }
                    for part in parts:
                        index = index_of[part]
                        self._publish_staged(
                            index,
                            evaluation_of[index],
                            staged[part],
                            f"{staging}/rule_outcomes/{part}.jsonl",
                            int(rejected_counts.get(part, 0)),
                        )
                finally:
                    self.jobs.remove_tree(staging)
        except Exception:
            return [index for index in index_of.values() if index not in self.results]
        return []

    def _write_pass(
        self, staging: str, bad: Any, validated: Any, parts: Sequence[int]
    ) -> dict[int, dict[str, str]]:
        """The pass's bad records (JSON lines) and validated rows (Parquet), one write each,
        partitioned by file with each file's rows in one part in input order; returns each file's
        staged bad records and validated objects (a shared empty one for a file without rows)."""
        from pyspark.sql import functions as F

        from quality_movies.dq.batch import FILE_PART
        from quality_movies.dq.plan import ROW_ID

        def by_file(rows: Any) -> Any:
            return (
                rows.repartition(F.col(FILE_PART))
                .sortWithinPartitions(FILE_PART, ROW_ID)
                .drop(ROW_ID)
                .write.mode("overwrite")
                .partitionBy(FILE_PART)
            )

        bad_folder, validated_folder = f"{staging}/bad_records", f"{staging}/validated"
        by_file(bad).option("ignoreNullFields", "false").json(bad_folder)
        by_file(validated).parquet(validated_folder)
        bad_parts = self.jobs.parts_by_partition(bad_folder, FILE_PART, ".json")
        validated_parts = self.jobs.parts_by_partition(validated_folder, FILE_PART, ".parquet")
        empty: dict[str, str] = {}
        staged = {}
        for part in parts:
            for found, folder in ((bad_parts, bad_folder), (validated_parts, validated_folder)):
                if len(found.get(part, [])) > 1:
                    raise QualityJobError(
                        f"{folder} holds {len(found[part])} part files for one file"
                    )
            if part not in bad_parts and "bad_records" not in empty:
                empty["bad_records"] = f"{staging}/empty.jsonl"
                self.jobs.write_text(empty["bad_records"], "")
            if part not in validated_parts and "validated" not in empty:
                folder = f"{staging}/empty"
                validated.drop(FILE_PART).limit(0).coalesce(1).write.parquet(folder)
                empty["validated"] = self.jobs.single_part(folder, ".parquet")
            staged[part] = {
                "bad_records": bad_parts[part][0] if part in bad_parts else empty["bad_records"],
                "validated": validated_parts[part][0]
                if part in validated_parts
                else empty["validated"],
            }
        return staged

    def _publish_staged(
        self,
        index: int,
        evaluation: Any,
        staged: dict[str, str],
        rule_outcomes_uri: str,
        contract_rejected: int,
    ) -> None:
        """One file of a pass: its rule outcomes staged, its three outputs published together."""
        file = self.files[index]
        finals = self._finals(index)
        try:
            rule_outcomes = [outcome.to_glue_dict() for outcome in evaluation.rule_outcomes]
            self.jobs.write_text(rule_outcomes_uri, _json_lines(rule_outcomes))
            _publish(self.jobs, {**staged, "rule_outcomes": rule_outcomes_uri}, finals)
        except Exception as error:
            self._fail(index, error)
            return
        self.results[index] = file_report(
            evaluation, file.source_file, contract_rejected, rule_outcomes, finals
        )
        if index not in self.pending:
            self._count(index, rule_outcomes)


def read_history(uri: str, s3_client: Any = None) -> Any:
    """The metric history sent with the run: the store's frame (``.parquet``, judged per file) or a
    ``StoredMetricHistory`` as JSON (one history for every file); None without a URI."""
    if not uri:
        return None
    if uri.endswith(".parquet"):
        import pandas as pd

        from quality_movies.dq.metric_history import typed

        with tempfile.TemporaryDirectory(prefix="quality-movies-history-") as tmp:
            path = Path(tmp) / "history.parquet"
            if is_s3(uri):
                bucket, key = split_s3(uri)
                _s3(s3_client).download_file(bucket, key, str(path))
            else:
                shutil.copyfile(uri, path)
            return typed(pd.read_parquet(path))
    from quality_movies.dq.metric_history import StoredMetricHistory

    return StoredMetricHistory.from_dict(json.loads(read_text_uri(uri, s3_client)))


def run_job(
    spark: Any,
    arguments: JobArguments,
    *,
    ruleset_text: str | None = None,
    s3_client: Any = None,
    through_local_disk: bool = False,
) -> dict[str, Any]:
    """One Glue job run over the files of ``arguments``: ``{"files": {name: report or {"error"}},
    "job": {...}}``.

    On Glue, Spark reads and writes S3 itself, staging under ``--TempDir``. With ``through_local_disk``
    (a local Spark without an S3 connector) the inputs and the reference datasets are downloaded and
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
    history = read_history(arguments.history_uri, s3)
    inputs = (
        EngineInputs.from_json(read_text_uri(arguments.engine_inputs_uri, s3))
        if arguments.engine_inputs_uri
        else EngineInputs()
    )
    engine_options: dict[str, Any] = {
        "column_types": inputs.column_types,
        "references": inputs.references,
    }
    started = datetime.now(UTC)
    errors: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="quality-movies-job-") as tmp:
        batch = []
        for i, file in enumerate(arguments.files):
            outputs = file.output_uris()
            input_uri, local_paths = file.input_uri, ()
            if through_local_disk:
                local_input = Path(tmp) / f"{i}-input.csv"
                try:
                    s3.download_file(file.source_bucket, file.source_key, str(local_input))
                except Exception as exc:
                    errors[file.source_file] = {
                        "error": f"{file.source_file}: cannot read {file.input_uri}: {exc}"
                    }
                    continue
                input_uri, local_paths = str(local_input), (str(local_input),)
            batch.append(
                BatchFile(
                    source_file=file.source_file,
                    input_uri=input_uri,
                    bad_records_uri=outputs["bad_records"],
                    rule_outcomes_uri=outputs["rule_outcomes"],
                    validated_uri=outputs["validated"],
                    file_version=file.file_version,
                    files=S3Files(s3, file.source_bucket, file.source_key),
                    local_paths=local_paths,
                )
            )
        if through_local_disk:
            if inputs.references:
                engine_options["references"] = _local_references(inputs.references, s3, Path(tmp))
            staging = f"{tmp}/staging"
        else:
            temp_dir = arguments.temp_dir or f"s3://{arguments.bucket}/tmp/"
            staging = temp_dir.rstrip("/") + "/quality-movies"
        results = evaluate_batch(
            spark,
            ruleset_text,
            batch,
            staging_uri=staging,
            ruleset_source=arguments.ruleset_uri or ruleset_source,
            s3_client=s3,
            history=history,
            engine_options=engine_options,
        )
    results.update(errors)
    files = {f.source_file: results[f.source_file] for f in arguments.files}
    return {
        "files": files,
        "job": {
            "job_name": arguments.job_name,
            "files": len(files),
            "failed_files": sum("error" in r for r in files.values()),
            "started_at": started.isoformat(),
            "spark_seconds": round((datetime.now(UTC) - started).total_seconds(), 3),
        },
    }
