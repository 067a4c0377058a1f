"""The quality job: runs the DQDL ruleset and the warehouse contract over one input file (embedded here,
Glue or Spark on AWS) and stages its outputs in the lake for the gate to load and publish."""

import inspect
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
from dagster_pyspark import PySparkResource
from dagster_pyspark.resources import spark_session_from_config

from quality_movies.dq import (
    DataQualityError,
    Ruleset,
    default_ruleset_path,
    evaluate_file,
    load_ruleset,
)
from quality_movies.ingestion.resources import Lake
from quality_movies.runs.faults import EnvironmentFailure, transient_message
from quality_movies.warehouse.contract import (
    REQUIRED_COLUMNS,
    ContractViolation,
    check_contract_in_duckdb,
    split_by_contract,
)

STAGING_FOLDER = "_staging"
_HOST = socket.gethostname()


@dataclass(frozen=True)
class FileOutputs:
    """Lake keys of one file's three outputs (final, or staged for a run)."""

    bad_records: str
    rule_outcomes: str
    validated: str

    def keys(self) -> dict[str, str]:
        return {
            "bad_records": self.bad_records,
            "rule_outcomes": self.rule_outcomes,
            "validated": self.validated,
        }


def final_outputs(lake: Lake, source_file: str) -> FileOutputs:
    """Where a file's outputs are published."""
    return FileOutputs(
        bad_records=lake.bad_records_key(source_file),
        rule_outcomes=lake.rule_outcomes_key(source_file),
        validated=lake.validated_key(source_file),
    )


def staging_token() -> str:
    """A fresh name for one attempt's staged outputs: random part, owner's PID and host."""
    return f"{uuid.uuid4().hex[:12]}-{os.getpid()}-{_HOST}"


def staged_outputs(lake: Lake, source_file: str, token: str) -> FileOutputs:
    """Staged keys under each output prefix's ``_staging/<token>/`` folder (a folder starting with ``_``
    is ignored by Hive-style readers, Glue crawlers and Athena; IAM rules on the prefixes still apply)."""
    final = final_outputs(lake, source_file)
    prefixes = {
        "bad_records": lake.bad_records_prefix,
        "rule_outcomes": lake.rule_outcomes_prefix,
        "validated": lake.validated_prefix,
    }
    staged = {
        name: f"{prefixes[name]}{STAGING_FOLDER}/{token}/{key[len(prefixes[name]) :]}"
        for name, key in final.keys().items()
    }
    return FileOutputs(**staged)


def _owner_alive(token: str) -> bool | None:
    """Whether the process that owns a staging token still runs (None: another host, unknown)."""
    parts = token.split("-", 2)
    if len(parts) != 3 or not parts[1].isdigit() or parts[2] != _HOST:
        return None
    pid = int(parts[1])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_staged_outputs(lake: Lake, stale_after: timedelta = timedelta(hours=24)) -> list[str]:
    """Delete staged outputs whose attempt can no longer publish them (its process is gone, or on
    another host they are older than ``stale_after``); returns the keys removed."""
    removed = []
    now = datetime.now(UTC)
    for prefix in {lake.bad_records_prefix, lake.rule_outcomes_prefix, lake.validated_prefix}:
        for obj in lake.list_objects(f"{prefix}{STAGING_FOLDER}/"):
            token = obj.key[len(f"{prefix}{STAGING_FOLDER}/") :].split("/", 1)[0]
            alive = _owner_alive(token)
            if alive is False or (alive is None and now - obj.last_modified > stale_after):
                lake.delete(obj.key)
                removed.append(obj.key)
    return removed


def work_folder(work_dir: str, kind: str) -> Path:
    """A fresh temporary folder for one attempt, named after its owner so a later start can clean it."""
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-{_HOST}-", dir=work_dir))


def sweep_work_dir(work_dir: str) -> list[str]:
    """Remove temporary folders left in ``work_dir`` by processes of this host that are gone (a kill)."""
    root = Path(work_dir)
    if not root.is_dir():
        return []
    removed = []
    for folder in root.iterdir():
        parts = folder.name.split("-")
        pids = [p for p in parts if p.isdigit()]
        if not pids or _HOST not in folder.name:
            continue
        token = f"x-{pids[0]}-{_HOST}"
        if _owner_alive(token) is False:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    return removed


@dataclass
class QualityRunResult:
    """What one quality run over one input file produced, wherever it ran.

    ``bad_rows`` counts every bad record: rows failing a rule plus ``contract_rejected`` rows that passed
    the rules but break the warehouse contract. ``validated_rows`` went to the validated table.
    """

    source_file: str
    rows_read: int
    good_rows: int
    bad_rows: int
    validated_rows: int
    contract_rejected: int
    rule_outcomes: list[dict[str, Any]]
    outputs: FileOutputs
    engine: str
    extra: dict[str, Any] = field(default_factory=dict)
    analyzer_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def rows_conserved(self) -> bool:
        return self.rows_read == self.validated_rows + self.bad_rows


@lru_cache(maxsize=8)
def _parsed_ruleset(path: str, _mtime_ns: int, _size: int) -> Ruleset:
    """``load_ruleset`` of one version of a ruleset file (the stamp makes an edit parse again)."""
    return load_ruleset(Path(path))


class QualityJobRunner(dg.ConfigurableResource, ABC):
    """Runs the ruleset and the contract over ``input_data/<source_file>`` and writes bad records, rule
    outcomes and validated movies to the keys it is given (the gate's staging keys)."""

    ruleset_path: str = ""
    # True when the job reads the lake itself: a reference dataset is given as its lake URI, not
    # downloaded to this machine.
    reads_lake: ClassVar[bool] = False

    def resolved_ruleset_path(self) -> Path:
        return Path(self.ruleset_path) if self.ruleset_path else default_ruleset_path()

    def ruleset(self) -> Ruleset:
        """The ruleset in force, parsed (once per version of its file)."""
        path = self.resolved_ruleset_path()
        stat = path.stat()
        return _parsed_ruleset(str(path), stat.st_mtime_ns, stat.st_size)

    def ruleset_text(self) -> str:
        return self.resolved_ruleset_path().read_text(encoding="utf-8")

    def ruleset_problem(self) -> str | None:
        """Why the ruleset in force does not load (its line and column when it is not valid DQDL), or
        None when it does. Files wait for it to be fixed: it is no fault of theirs."""
        try:
            self.ruleset()
        except Exception as exc:  # any reason the rules cannot be read is the user's to fix
            text = " ".join(str(exc).split()) or type(exc).__name__
            return f"the ruleset {self.resolved_ruleset_path()} does not load: {text}"
        return None

    def sweep(self, lake: Lake) -> list[str]:
        """Remove what killed attempts left behind (staged outputs, temporary folders)."""
        return sweep_staged_outputs(lake)

    def check_contract(self, lake: Lake, results: list[QualityRunResult]) -> dict[str, str]:
        """Check the staged validated rows against the warehouse contract where they are; returns a
        message per file that breaks it. Spark and Glue check inside the job (pandera.pyspark)."""
        return {}

    @abstractmethod
    def run(
        self,
        context: dg.AssetExecutionContext,
        lake: Lake,
        source_file: str,
        outputs: FileOutputs,
        engine_options: dict[str, Any] | None = None,
        inspected: bool = False,
    ) -> QualityRunResult:
        """Evaluate one file into ``outputs``; raises with the reason when the run cannot complete.

        ``engine_options`` are extra keyword arguments for the engine that it accepts (``history=``,
        ``references=``); options the engine does not know yet are left out. ``inspected`` says the
        file version was already found a usable CSV (by raw_movies), so it is not read for that again.
        """


class QualityJobFailed(RuntimeError):
    """A file's quality run did not complete; the message names the user's file and what to do."""


class QualityJobUnavailable(QualityJobFailed, EnvironmentFailure):
    """The quality job did not complete for a reason outside the file (capacity, throttling, a run that
    timed out or was stopped): the file is taken again by a later run."""


# Glue job run states that end a run for a reason outside the file.
GLUE_ENVIRONMENT_STATES = frozenset({"TIMEOUT", "ERROR", "STOPPED", "EXPIRED"})


def _supported_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """The options ``evaluate_file`` accepts in this version of the engine."""
    accepted = inspect.signature(evaluate_file).parameters
    return {k: v for k, v in (options or {}).items() if k in accepted and v is not None}


def _users_words(message: str, temp_paths: list[Path], source_file: str) -> str:
    """An engine message with the temporary copy's path replaced by the user's file name."""
    for path in temp_paths:
        message = message.replace(str(path), source_file)
    return message


def _append(target: Path, extra: Path) -> None:
    """Append a JSON Lines file to another (streamed)."""
    with target.open("ab") as out, extra.open("rb") as src:
        shutil.copyfileobj(src, out, 1 << 20)


def _inspection_problem(path: Path, source_file: str) -> str | None:
    """The input inspection's one-line message when the file is not a usable CSV."""
    from quality_movies.ingestion.inspect import inspect_file

    problem = inspect_file(path, source_file, required_columns=REQUIRED_COLUMNS)
    return None if problem is None else problem.message


class EmbeddedQualityJobRunner(QualityJobRunner):
    """The embedded engine (DuckDB) on this machine; spills to ``work_dir`` when memory runs short."""

    work_dir: str

    def _evaluate(
        self,
        ruleset: Ruleset,
        raw_csv: Path,
        work: Path,
        source_file: str,
        engine_options: dict[str, Any] | None,
        inspected: bool,
    ):
        """Inspect the file (unless already done), then run the engine over it in place; errors name
        the user's file."""
        problem = None if inspected else _inspection_problem(raw_csv, source_file)
        if problem:
            raise QualityJobFailed(problem)
        try:
            return evaluate_file(
                ruleset,
                raw_csv,
                work / "out",
                engine="duckdb",
                good_parquet=True,
                good_projection=["*"],
                source_name=source_file,
                temp_directory=str(work / "spill"),
                **_supported_options(engine_options),
            )
        except DataQualityError as error:
            raise QualityJobFailed(_users_words(str(error), [raw_csv, work], source_file)) from None

    def sweep(self, lake: Lake) -> list[str]:
        return [*sweep_work_dir(self.work_dir), *sweep_staged_outputs(lake)]

    def check_contract(self, lake: Lake, results: list[QualityRunResult]) -> dict[str, str]:
        """pandera's Ibis backend over DuckDB, on the staged Parquet of every file at once."""
        return check_contract_in_duckdb(
            {r.source_file: lake.uri(r.outputs.validated) for r in results}
        )

    def run(
        self,
        context: dg.AssetExecutionContext,
        lake: Lake,
        source_file: str,
        outputs: FileOutputs,
        engine_options: dict[str, Any] | None = None,
        inspected: bool = False,
    ) -> QualityRunResult:
        ruleset = self.ruleset()
        work = work_folder(self.work_dir, "quality-run")
        try:
            with lake.local_file(lake.input_key(source_file)) as raw_csv:
                summary = self._evaluate(
                    ruleset, raw_csv, work, source_file, engine_options, inspected
                )
            bad_records = Path(summary.outputs["bad_records"])
            validated = work / "validated_movies.parquet"
            rejected = work / "contract_rejected.jsonl"
            split = split_by_contract(
                str(summary.outputs["good_parquet"]),
                str(validated),
                str(rejected),
                source_file,
                temp_directory=str(work / "spill"),
            )
            _append(bad_records, rejected)
            lake.upload(bad_records, outputs.bad_records)
            lake.upload(Path(summary.outputs["rule_outcomes"]), outputs.rule_outcomes)
            lake.upload(validated, outputs.validated)
        except ContractViolation as error:
            raise QualityJobFailed(str(error)) from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return QualityRunResult(
            source_file=source_file,
            rows_read=summary.rows_read,
            good_rows=summary.good_rows,
            bad_rows=summary.bad_rows + split.rejected_rows,
            validated_rows=split.validated_rows,
            contract_rejected=split.rejected_rows,
            rule_outcomes=[o.to_glue_dict() for o in summary.rule_outcomes],
            outputs=outputs,
            engine="duckdb",
            analyzer_metrics=analyzer_metrics(r.to_dict() for r in summary.analyzer_results),
        )


def analyzer_metrics(analyzer_results: Iterable[dict[str, Any]]) -> dict[str, float]:
    """The metrics of every ``Analyzers`` entry (Glue-shaped dicts), as one name -> value map."""
    return {
        str(name): float(value)
        for result in analyzer_results
        for name, value in (result.get("EvaluatedMetrics") or {}).items()
    }


def read_jsonl(text: str) -> list[dict[str, Any]]:
    """Parse JSON Lines text."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _quality_run_result(
    report: dict[str, Any],
    source_file: str,
    outputs: FileOutputs,
    engine: str,
    extra: dict[str, Any],
) -> QualityRunResult:
    return QualityRunResult(
        source_file=source_file,
        rows_read=int(report["rows_read"]),
        good_rows=int(report["good_rows"]),
        bad_rows=int(report["bad_rows"]),
        validated_rows=int(report["validated_rows"]),
        contract_rejected=int(report.get("contract_rejected", 0)),
        rule_outcomes=list(report["rule_outcomes"]),
        outputs=outputs,
        engine=engine,
        extra=extra,
        analyzer_metrics=analyzer_metrics(report.get("analyzer_results", [])),
    )


class GlueQualityJobRunner(QualityJobRunner):
    """The Glue job ``job_name``: started with the file's input and staged output keys, the ruleset in
    force (staged next to the outputs) and a report key, where the job leaves its counts and rule
    outcomes. The Dagster process waits for the run and reads the report; the rows stay in S3."""

    job_name: str
    region_name: str = "us-east-1"
    endpoint_url: str = ""
    poll_interval_seconds: float = 5.0
    timeout_seconds: float = 6 * 3600.0
    reads_lake: ClassVar[bool] = True

    def glue_client(self) -> Any:
        """Glue's client with the platform's retry settings (standard mode, 10 attempts)."""
        from quality_movies.ingestion.resources import aws_client

        return aws_client("glue", self.region_name, self.endpoint_url)

    @staticmethod
    def exchange_keys(outputs: FileOutputs) -> tuple[str, str, str, str, str]:
        """(ruleset, metric history, report, engine inputs, reference data prefix) keys of one run,
        staged beside its outputs."""
        folder = outputs.validated.rsplit("/", 1)[0]
        return (
            f"{folder}/ruleset.dqdl",
            f"{folder}/history.json",
            f"{folder}/quality_run.json",
            f"{folder}/engine_inputs.json",
            f"{folder}/reference_data/",
        )

    def job_arguments(self, lake: Lake, source_file: str, outputs: FileOutputs) -> dict[str, str]:
        """The Glue job arguments naming the input object, the three (staged) output keys, the
        staged ruleset, engine inputs and metric history, and the report key."""
        ruleset_key, history_key, report_key, inputs_key, _ = self.exchange_keys(outputs)
        return {
            "--source_bucket": lake.bucket,
            "--source_key": lake.input_key(source_file),
            "--bucket": lake.bucket,
            "--input_prefix": lake.input_prefix,
            "--bad_records_key": outputs.bad_records,
            "--rule_outcomes_key": outputs.rule_outcomes,
            "--validated_key": outputs.validated,
            "--ruleset_uri": lake.uri(ruleset_key),
            "--history_uri": lake.uri(history_key),
            "--engine_inputs_uri": lake.uri(inputs_key),
            "--report_key": report_key,
        }

    @staticmethod
    def stage_engine_inputs(
        lake: Lake, engine_options: dict[str, Any], work: Path, inputs_key: str, prefix: str
    ) -> list[str]:
        """Upload the engine inputs the job reads itself (catalog column types; references as
        ``s3://`` URIs: a file prepared on this machine, such as several CSVs read as one, is
        uploaded under ``prefix``); returns the keys written. File rules list S3 in the job."""
        from quality_movies.glue_job import EngineInputs, is_s3

        references = {}
        written = []
        for i, (name, location) in enumerate((engine_options.get("references") or {}).items()):
            if is_s3(str(location)):
                references[name] = str(location)
                continue
            key = f"{prefix}{i}-{Path(location).name}"
            lake.upload(Path(location), key)
            written.append(key)
            references[name] = lake.uri(key)
        inputs = EngineInputs(engine_options.get("column_types"), references or None)
        (work / "engine_inputs.json").write_text(inputs.to_json(), encoding="utf-8")
        lake.upload(work / "engine_inputs.json", inputs_key)
        return [*written, inputs_key]

    def run(
        self,
        context: dg.AssetExecutionContext,
        lake: Lake,
        source_file: str,
        outputs: FileOutputs,
        engine_options: dict[str, Any] | None = None,
        inspected: bool = False,
    ) -> QualityRunResult:
        arguments = self.job_arguments(lake, source_file, outputs)
        ruleset_key, history_key, report_key, inputs_key, prefix = self.exchange_keys(outputs)
        history = (engine_options or {}).get("history")
        work = Path(tempfile.mkdtemp(prefix="glue-quality-run-"))
        staged: list[str] = []
        try:
            (work / "ruleset.dqdl").write_text(self.ruleset_text(), encoding="utf-8")
            lake.upload(work / "ruleset.dqdl", ruleset_key)
            staged = self.stage_engine_inputs(lake, engine_options or {}, work, inputs_key, prefix)
            if history is None:
                del arguments["--history_uri"]
            else:
                (work / "history.json").write_text(json.dumps(history.to_dict()), encoding="utf-8")
                lake.upload(work / "history.json", history_key)
            glue = self.glue_client()
            run_id = glue.start_job_run(JobName=self.job_name, Arguments=arguments)["JobRunId"]
            context.log.info(f"{source_file}: Glue job {self.job_name} run {run_id} started")
            job_run = self._wait(glue, run_id, source_file)
            if job_run["JobRunState"] != "SUCCEEDED":
                environment = job_run["JobRunState"] in GLUE_ENVIRONMENT_STATES or (
                    transient_message(job_run.get("ErrorMessage", ""))
                )
                raise (QualityJobUnavailable if environment else QualityJobFailed)(
                    f"{source_file}: Glue job {self.job_name} failed on "
                    f"{lake.uri(lake.input_key(source_file))} (run {run_id} "
                    f"{job_run['JobRunState']}): {job_run.get('ErrorMessage', 'no error message')}"
                )
            try:
                report = json.loads(lake.download(report_key, work / "report.json").read_text())
            except FileNotFoundError:
                raise QualityJobFailed(
                    f"{source_file}: Glue job {self.job_name} run {run_id} succeeded but left no "
                    f"report at {lake.uri(report_key)}: check that its --extra-py-files / "
                    "--additional-python-modules carry this version of quality_movies"
                ) from None
        finally:
            for key in (ruleset_key, history_key, report_key, *staged):
                lake.delete(key)
            shutil.rmtree(work, ignore_errors=True)
        extra = {"AWS Glue Job Name": self.job_name, "AWS Glue Job Run ID": run_id}
        return _quality_run_result(report, source_file, outputs, "glue", extra)

    def _wait(self, glue: Any, run_id: str, source_file: str) -> dict[str, Any]:
        """Poll the job run until it ends; stop it and raise past ``timeout_seconds``."""
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            job_run = glue.get_job_run(JobName=self.job_name, RunId=run_id)["JobRun"]
            if job_run["JobRunState"] not in {"STARTING", "RUNNING", "STOPPING", "WAITING"}:
                return job_run
            if time.monotonic() > deadline:
                glue.batch_stop_job_run(JobName=self.job_name, JobRunIds=[run_id])
                raise QualityJobUnavailable(
                    f"{source_file}: Glue job {self.job_name} run {run_id} still "
                    f"{job_run['JobRunState']} after {self.timeout_seconds:g} s and was stopped"
                )
            time.sleep(self.poll_interval_seconds)


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

    def sweep(self, lake: Lake) -> list[str]:
        return [*sweep_work_dir(self.work_dir), *sweep_staged_outputs(lake)]

    def run(
        self,
        context: dg.AssetExecutionContext,
        lake: Lake,
        source_file: str,
        outputs: FileOutputs,
        engine_options: dict[str, Any] | None = None,
        inspected: bool = False,
    ) -> QualityRunResult:
        from quality_movies.glue_job import QualityJobError, run_quality_job

        spark = self.pyspark.spark_session or spark_session_from_config(self.pyspark.spark_config)
        ruleset_text = self.resolved_ruleset_path().read_text(encoding="utf-8")
        keys = outputs.keys()
        common: dict[str, Any] = {
            "source_file": source_file,
            "ruleset_text": ruleset_text,
            "ruleset_source": str(self.resolved_ruleset_path()),
            "history": (engine_options or {}).get("history"),
        }
        # references are files on this machine: Spark reads them itself only without direct_io
        left_out = {"history", "references"} if self.direct_io else {"history"}
        common["engine_options"] = {
            k: v for k, v in (engine_options or {}).items() if k not in left_out
        }
        temp_paths: list[Path] = []
        try:
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
                return _quality_run_result(report, source_file, outputs, "spark", {})
            work = work_folder(self.work_dir, "spark-quality-run")
            raw_csv = work / "input.csv"
            temp_paths += [raw_csv, work]
            try:
                lake.download(lake.input_key(source_file), raw_csv)
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
                for name, key in keys.items():
                    lake.upload(local[name], key)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        except (QualityJobError, DataQualityError, ContractViolation) as error:
            message = _users_words(str(error), temp_paths, source_file)
            if not message.startswith(source_file):
                message = f"{source_file}: {message}"
            raise QualityJobFailed(message) from None
        return _quality_run_result(report, source_file, outputs, "spark", {})
