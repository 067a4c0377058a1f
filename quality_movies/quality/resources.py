"""The quality job: runs the DQDL ruleset and the warehouse contract over a batch of input files (embedded
here, Glue or Spark on AWS) and stages each file's outputs in the lake for the gate to load and publish.

A backlog is cut into batches (``plan_batches``: at most ``batch_max_files`` files and
``batch_max_bytes`` input bytes each). The embedded runner evaluates a batch in one DuckDB pass
(``dq.evaluate_files``); Spark runs the Glue job's batch code in its session; Glue runs ONE job run
per batch, several batches at once up to ``max_concurrent_runs``, and records each run's cost and
logs from GetJobRun.
"""

import inspect
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import dagster as dg
import pandas as pd
from dagster_pyspark import PySparkResource
from dagster_pyspark.resources import spark_session_from_config

from quality_movies.contract import (
    REQUIRED_COLUMNS,
    ContractViolation,
    check_contract_in_duckdb,
    split_by_contract,
)
from quality_movies.dq import (
    BatchFile,
    BatchResult,
    DataQualityError,
    EvaluationSummary,
    Ruleset,
    default_ruleset_path,
    evaluate_file,
    evaluate_files,
    load_ruleset,
)
from quality_movies.dq.model import EXPRESSION
from quality_movies.faults import (
    ENVIRONMENT,
    EnvironmentFailure,
    failure_kind,
    transient_message,
)
from quality_movies.lake import Lake
from quality_movies.quality.glue_job import QualityJobError
from quality_movies.settings import PipelineSettings

STAGING_FOLDER = "_staging"
_HOST = socket.gethostname()
_DEFAULTS = PipelineSettings()


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
    # The file's share (by input bytes) of its job run's DPU-seconds and estimated cost (Glue only).
    job_cost: dict[str, float] = field(default_factory=dict)

    @property
    def rows_conserved(self) -> bool:
        return self.rows_read == self.validated_rows + self.bad_rows


class RowsNotConserved(RuntimeError):
    """Rows read differ from validated plus bad rows: the file is not loaded."""


def check_rows_conserved(result: QualityRunResult) -> QualityRunResult:
    """The result, or RowsNotConserved naming the file when its rows do not add up."""
    if not result.rows_conserved:
        raise RowsNotConserved(
            f"{result.source_file}: {result.rows_read} rows read but {result.validated_rows} "
            f"validated + {result.bad_rows} bad; nothing was loaded, report this with the file"
        )
    return result


@dataclass(frozen=True)
class FileToEvaluate:
    """One file of a batch: its version, where its outputs are staged, its size in bytes, and whether
    it was already found a usable CSV (by raw_movies)."""

    source_file: str
    file_version: str
    outputs: FileOutputs
    size: int = 0
    inspected: bool = False


EngineInputsFor = Callable[
    [str, Sequence[QualityRunResult]], AbstractContextManager[dict[str, Any]]
]


@dataclass(frozen=True)
class BatchInputs:
    """What a batch is evaluated with besides its files: the metric history as the batch's first file
    sees it (the store's frame, then the files evaluated before the batch in this run), and the
    engine's ``files=``/``column_types=``/``references=`` for a file given the files evaluated before
    it (their staged validated rows count as loaded for a rule reading the warehouse table)."""

    history: pd.DataFrame
    engine_inputs: EngineInputsFor


BatchResults = list[QualityRunResult | Exception]


def plan_batches(
    files: Sequence[FileToEvaluate], max_files: int, max_bytes: int
) -> list[list[FileToEvaluate]]:
    """Consecutive batches, in file order, of at most ``max_files`` files and ``max_bytes`` input bytes
    (a file larger than ``max_bytes`` is a batch of its own)."""
    batches: list[list[FileToEvaluate]] = []
    size = 0
    for file in files:
        if batches and len(batches[-1]) < max(1, max_files) and size + file.size <= max_bytes:
            batches[-1].append(file)
            size += file.size
        else:
            batches.append([file])
            size = file.size
    return batches


def ruleset_reads_history(ruleset: Ruleset) -> bool:
    """Whether a rule is judged against the metric history (a dynamic rule or DetectAnomalies)."""
    for rule in ruleset.leaves:
        if rule.rule_type == "DetectAnomalies":
            return True
        for condition in (rule.condition, rule.threshold):
            for value in condition.values if condition else ():
                if value.kind == EXPRESSION and value.expression.lookback is not None:
                    return True
    return False


@lru_cache(maxsize=8)
def _parsed_ruleset(path: str, _mtime_ns: int, _size: int) -> Ruleset:
    """``load_ruleset`` of one version of a ruleset file (the stamp makes an edit parse again)."""
    return load_ruleset(Path(path))


class QualityJobRunner(dg.ConfigurableResource, ABC):
    """Runs the ruleset and the contract over ``input_data/<source_file>`` and writes bad records, rule
    outcomes and validated movies to the keys it is given (the gate's staging keys)."""

    ruleset_path: str = ""
    batch_max_files: int = _DEFAULTS.batch_max_files
    batch_max_bytes: int = _DEFAULTS.batch_max_bytes
    # True when the job reads the lake itself: a reference dataset is given as its lake URI, not
    # downloaded to this machine.
    reads_lake: ClassVar[bool] = False
    # True when a batch's files are evaluated together with one set of engine inputs (a rule reading
    # the warehouse table then needs batches of one file: each file sees the others' rows).
    shares_engine_inputs: ClassVar[bool] = False

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

    def run_batch(
        self,
        context: dg.AssetExecutionContext,
        lake: Lake,
        files: Sequence[FileToEvaluate],
        inputs: BatchInputs,
    ) -> BatchResults:
        """Evaluate a batch into each file's staged outputs; per file (in order) its result, or the
        error that stopped it (its staged outputs may be partly written: the caller removes them).
        By default one ``run`` per file, each judged against the files before it."""
        from quality_movies.quality.glue_job import batch_history, pending_history_rows

        results: BatchResults = []
        pending: list[pd.DataFrame] = []
        done: list[QualityRunResult] = []
        reads_history = ruleset_reads_history(self.ruleset())
        for file in files:
            try:
                with inputs.engine_inputs(file.source_file, list(done)) as options:
                    history = batch_history(
                        inputs.history, list(pending), file.source_file, file.file_version
                    )
                    result = self.run(
                        context,
                        lake,
                        file.source_file,
                        file.outputs,
                        engine_options={"history": history, **options},
                        inspected=file.inspected,
                    )
                check_rows_conserved(result)
            except Exception as error:
                results.append(error)
                continue
            results.append(result)
            done.append(result)
            if reads_history:
                after = pending[-1] if pending else inputs.history
                pending.append(
                    pending_history_rows(
                        file.source_file, file.file_version, result.rule_outcomes, after
                    )
                )
        return results

    def run_batches(
        self,
        context: dg.AssetExecutionContext,
        lake: Lake,
        batches: Sequence[Sequence[FileToEvaluate]],
        inputs: Callable[[], BatchInputs],
        independent: bool = False,
    ) -> Iterator[BatchResults]:
        """Each batch's results, in batch order. ``inputs()`` is asked for each batch when it starts
        (it reflects the batches handled before); ``independent`` says no file's evaluation depends on
        another batch's, so batches may run at the same time. By default one after another."""
        for batch in batches:
            yield self.run_batch(context, lake, batch, inputs())


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
    from quality_movies.lake.inspect import inspect_file

    problem = inspect_file(path, source_file, required_columns=REQUIRED_COLUMNS)
    return None if problem is None else problem.message


class EmbeddedQualityJobRunner(QualityJobRunner):
    """The embedded engine (DuckDB) on this machine; spills to ``work_dir`` when memory runs short.
    A batch is one ``evaluate_files`` pass (its files' engine inputs are set before the pass)."""

    work_dir: str
    shares_engine_inputs: ClassVar[bool] = True

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
            return self._stage(lake, summary, work, source_file, outputs)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def run_batch(
        self,
        context: dg.AssetExecutionContext,
        lake: Lake,
        files: Sequence[FileToEvaluate],
        inputs: BatchInputs,
    ) -> BatchResults:
        """The batch's files in ONE ``evaluate_files`` call, then each file's contract split and
        staging. Each file is judged against the history followed by the files before it that
        were staged (a file is staged as soon as the engine gives its result, before the next file's
        rules are decided); a file that cannot be read or evaluated fails alone, named as the user's."""
        from quality_movies.quality.glue_job import batch_history, pending_history_rows

        ruleset = self.ruleset()
        reads_history = ruleset_reads_history(ruleset)
        results: dict[int, QualityRunResult | Exception] = {}
        members: list[int] = []  # index in ``files`` of each file of the pass
        batch: list[BatchFile] = []
        temp_paths: dict[int, list[Path]] = {}
        pending: list[pd.DataFrame] = []
        work = work_folder(self.work_dir, "quality-batch")

        def stage(position: int, outcome: BatchResult) -> None:
            """Stage the ``position``-th file of the pass from its engine result (once)."""
            index = members[position]
            file = files[index]
            if index in results:
                return
            try:
                if outcome.summary is None:
                    message = _users_words(str(outcome.error), temp_paths[index], file.source_file)
                    raise QualityJobFailed(message)
                folder = work / str(index)
                result = check_rows_conserved(
                    self._stage(lake, outcome.summary, folder, file.source_file, file.outputs)
                )
            except Exception as error:
                results[index] = error
                return
            results[index] = result
            # the later files' history, for a ruleset that reads it (typing the rows costs more
            # than a small file's rules)
            if reads_history:
                after = pending[-1] if pending else inputs.history
                pending.append(
                    pending_history_rows(
                        file.source_file, file.file_version, result.rule_outcomes, after
                    )
                )

        def history_of(batch_file: BatchFile, earlier: Sequence[BatchResult]) -> Any:
            for position, outcome in enumerate(earlier):
                stage(position, outcome)
            file = files[members[len(earlier)]]
            return batch_history(inputs.history, list(pending), file.source_file, file.file_version)

        with ExitStack() as stack:
            stack.callback(shutil.rmtree, work, ignore_errors=True)
            for index, file in enumerate(files):
                folder = work / str(index)
                try:
                    raw_csv = stack.enter_context(lake.local_file(lake.input_key(file.source_file)))
                    problem = (
                        None if file.inspected else _inspection_problem(raw_csv, file.source_file)
                    )
                    if problem:
                        raise QualityJobFailed(problem)
                    options = stack.enter_context(inputs.engine_inputs(file.source_file, []))
                except Exception as error:
                    results[index] = error
                    continue
                temp_paths[index] = [raw_csv, folder]
                members.append(index)
                batch.append(
                    BatchFile(
                        raw_csv, file.source_file, folder / "out", _supported_options(options)
                    )
                )
            if batch:
                outcomes = evaluate_files(
                    ruleset,
                    batch,
                    engine="duckdb",
                    history_of=history_of,
                    good_parquet=True,
                    good_projection=["*"],
                    temp_directory=str(work / "spill"),
                )
                for position, outcome in enumerate(outcomes):
                    stage(position, outcome)
        return [results[index] for index in range(len(files))]

    def _stage(
        self,
        lake: Lake,
        summary: EvaluationSummary,
        work: Path,
        source_file: str,
        outputs: FileOutputs,
    ) -> QualityRunResult:
        """Split the engine's good rows by the warehouse contract (its rejects join the bad records)
        and upload the file's three outputs to its staging keys."""
        try:
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


# DPUs of one worker of each Glue worker type (Spark jobs), from the AWS Glue documentation.
WORKER_DPUS = {"G.025X": 0.25, "G.1X": 1, "G.2X": 2, "G.4X": 4, "G.8X": 8, "G.12X": 12, "G.16X": 16}
BILLED_MINIMUM_SECONDS = 60  # Glue 2.0 and later bill per second, with a 1-minute minimum
ACTIVE_STATES = {"STARTING", "RUNNING", "STOPPING", "WAITING"}


def job_run_cost(
    job_run: Mapping[str, Any],
    execution_class: str,
    usd_per_dpu_hour: float,
    flex_usd_per_dpu_hour: float,
    region: str = "us-east-1",
) -> dict[str, Any]:
    """What a Glue job run used and cost, from its GetJobRun answer: ``DPUSeconds`` where Glue gives
    it (auto-scaling and Flex runs), else workers x DPUs per worker (or MaxCapacity) x ExecutionTime;
    the estimated cost bills at least one minute of the run's capacity at the execution class's price.
    Links the run's CloudWatch log streams (``<LogGroupName>/output`` and ``/error``, stream = run id).
    """
    run_id, seconds = job_run.get("Id", ""), float(job_run.get("ExecutionTime") or 0)
    workers, worker_type = job_run.get("NumberOfWorkers"), job_run.get("WorkerType")
    if workers and worker_type in WORKER_DPUS:
        capacity = float(workers) * WORKER_DPUS[worker_type]
    else:
        capacity = float(job_run.get("MaxCapacity") or 0)
    given = job_run.get("DPUSeconds")
    dpu_seconds = float(given) if given is not None else capacity * seconds
    billed = max(dpu_seconds, capacity * BILLED_MINIMUM_SECONDS)
    run_class = str(job_run.get("ExecutionClass") or execution_class).upper()
    price = flex_usd_per_dpu_hour if run_class == "FLEX" else usd_per_dpu_hour
    group = str(job_run.get("LogGroupName") or "/aws-glue/jobs")
    console = f"https://{region}.console.aws.amazon.com"

    def log_url(log_group: str) -> str:
        # the console's URL encoding: quoted twice, '%' written '$'
        encoded = quote(quote(log_group, safe=""), safe="").replace("%", "$")
        return f"{console}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{encoded}/log-events/{run_id}"

    return {
        "job_run_id": run_id,
        "job_run_state": job_run.get("JobRunState"),
        "execution_class": run_class,
        "execution_time_seconds": seconds,
        "worker_type": worker_type,
        "number_of_workers": workers,
        "max_capacity": job_run.get("MaxCapacity"),
        "dpu_seconds": dpu_seconds,
        "dpu_seconds_source": "DPUSeconds" if given is not None else "computed",
        "usd_per_dpu_hour": price,
        "estimated_cost_usd": billed / 3600 * price,
        "log_group": f"{group}/output",
        "error_log_group": f"{group}/error",
        "log_stream": run_id,
        "logs_url": log_url(f"{group}/output"),
        "error_logs_url": log_url(f"{group}/error"),
    }


@dataclass
class _GlueBatchRun:
    """One batch on its way through a Glue job run: its exchange folder, arguments and run."""

    files: list[FileToEvaluate]
    folder: str
    arguments: dict[str, str] = field(default_factory=dict)
    staged: list[str] = field(default_factory=list)
    run_id: str = ""
    job_run: dict[str, Any] = field(default_factory=dict)
    error: Exception | None = None
    glue: Any = None
    deadline: float = 0.0


class GlueQualityJobRunner(QualityJobRunner):
    """The Glue job ``job_name``, ONE job run per batch: started with the batch's files and staged
    output keys (``--manifest_uri``, or ``--source_key`` and its keys for a batch of one), the ruleset
    in force, the metric history and engine inputs (staged in an exchange folder) and a report key,
    where the job leaves each file's counts and rule outcomes or error. Up to ``max_concurrent_runs``
    batches run at once (with job-run queuing). The Dagster process waits for the runs, reads the
    reports and records each run's cost; the rows stay in S3."""

    job_name: str
    region_name: str = "us-east-1"
    endpoint_url: str = ""
    poll_interval_seconds: float = 5.0
    timeout_seconds: float = 6 * 3600.0
    max_concurrent_runs: int = _DEFAULTS.glue_max_concurrent_runs
    execution_class: str = _DEFAULTS.glue_execution_class
    usd_per_dpu_hour: float = _DEFAULTS.glue_usd_per_dpu_hour
    flex_usd_per_dpu_hour: float = _DEFAULTS.glue_flex_usd_per_dpu_hour
    reads_lake: ClassVar[bool] = True
    shares_engine_inputs: ClassVar[bool] = True

    def glue_client(self) -> Any:
        """Glue's client with the platform's retry settings (standard mode, 10 attempts)."""
        from quality_movies.lake import aws_client

        return aws_client("glue", self.region_name, self.endpoint_url)

    @staticmethod
    def exchange_keys(folder: str) -> dict[str, str]:
        """The keys of what a batch's run exchanges with the job, in its folder (under the validated
        prefix's ``_staging/``, so a killed attempt's are swept)."""
        return {
            "ruleset": f"{folder}ruleset.dqdl",
            "history": f"{folder}history.parquet",
            "report": f"{folder}quality_run.json",
            "engine_inputs": f"{folder}engine_inputs.json",
            "manifest": f"{folder}manifest.json",
            "references": f"{folder}reference_data/",
        }

    def job_arguments(
        self, lake: Lake, files: Sequence[FileToEvaluate], folder: str
    ) -> dict[str, str]:
        """The Glue job arguments: the batch's manifest (or, for one file, its input and output keys),
        the staged ruleset, engine inputs and metric history, and the report key."""
        keys = self.exchange_keys(folder)
        arguments = {
            "--source_bucket": lake.bucket,
            "--bucket": lake.bucket,
            "--input_prefix": lake.input_prefix,
            "--ruleset_uri": lake.uri(keys["ruleset"]),
            "--history_uri": lake.uri(keys["history"]),
            "--engine_inputs_uri": lake.uri(keys["engine_inputs"]),
            "--report_key": keys["report"],
        }
        if len(files) == 1:
            [file] = files
            return {
                **arguments,
                "--source_key": lake.input_key(file.source_file),
                "--bad_records_key": file.outputs.bad_records,
                "--rule_outcomes_key": file.outputs.rule_outcomes,
                "--validated_key": file.outputs.validated,
            }
        return {**arguments, "--manifest_uri": lake.uri(keys["manifest"])}

    @staticmethod
    def manifest(lake: Lake, files: Sequence[FileToEvaluate]) -> dict[str, Any]:
        """The batch manifest the job reads (BATCH_CONTRACT.md)."""
        return {
            "files": [
                {
                    "source_key": lake.input_key(f.source_file),
                    "file_version": f.file_version,
                    "bad_records_key": f.outputs.bad_records,
                    "rule_outcomes_key": f.outputs.rule_outcomes,
                    "validated_key": f.outputs.validated,
                }
                for f in files
            ]
        }

    @staticmethod
    def stage_engine_inputs(
        lake: Lake, engine_options: dict[str, Any], work: Path, inputs_key: str, prefix: str
    ) -> list[str]:
        """Upload the engine inputs the job reads itself (catalog column types; references as
        ``s3://`` URIs: a file prepared on this machine, such as several CSVs read as one, is
        uploaded under ``prefix``); returns the keys written. File rules list S3 in the job."""
        from quality_movies.quality.glue_job import EngineInputs, is_s3

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
        """One file as a batch of one (its history and engine inputs as given)."""
        options = dict(engine_options or {})
        history = options.pop("history", None)
        try:
            size = lake.head(lake.input_key(source_file)).size
        except FileNotFoundError:  # the job run says so, in the job's words
            size = 0
        file = FileToEvaluate(source_file, "", outputs, size)
        batch = self._prepare(lake, [file], options, None)
        if history is not None and batch.error is None:
            self._upload_json_history(lake, batch, history)
        [result] = self._finish(context, lake, self._start(context, lake, batch))
        if isinstance(result, Exception):
            raise result
        return result

    def run_batch(
        self,
        context: dg.AssetExecutionContext,
        lake: Lake,
        files: Sequence[FileToEvaluate],
        inputs: BatchInputs,
    ) -> BatchResults:
        return next(self.run_batches(context, lake, [files], lambda: inputs))

    def run_batches(
        self,
        context: dg.AssetExecutionContext,
        lake: Lake,
        batches: Sequence[Sequence[FileToEvaluate]],
        inputs: Callable[[], BatchInputs],
        independent: bool = False,
    ) -> Iterator[BatchResults]:
        """ONE job run per batch. ``independent`` batches start together, up to
        ``max_concurrent_runs`` runs at a time; otherwise one after another."""
        if not independent or len(batches) < 2:
            for files in batches:
                batch = self._prepare_with(lake, files, inputs())
                yield self._finish(context, lake, self._start(context, lake, batch))
            return
        shared = inputs()
        waiting = [self._prepare_with(lake, files, shared) for files in batches]
        running: list[_GlueBatchRun] = []
        finished: dict[int, BatchResults] = {}
        order = {id(batch): i for i, batch in enumerate(waiting)}
        glue = self.glue_client()
        next_to_yield = 0
        try:
            while waiting or running:
                while waiting and len(running) < max(1, self.max_concurrent_runs):
                    running.append(self._start(context, lake, waiting.pop(0), glue))
                ended = [b for b in running if b.error is not None or self._ended(b)]
                for batch in ended:
                    running.remove(batch)
                    finished[order[id(batch)]] = self._finish(context, lake, batch)
                while next_to_yield in finished:
                    yield finished.pop(next_to_yield)
                    next_to_yield += 1
                if running and not ended:
                    time.sleep(self.poll_interval_seconds)
        finally:
            for batch in waiting + running:
                self._clean(lake, batch)

    def _prepare_with(
        self, lake: Lake, files: Sequence[FileToEvaluate], inputs: BatchInputs
    ) -> _GlueBatchRun:
        """A batch's exchange folder, with the engine inputs of its files and the metric history."""
        try:
            with inputs.engine_inputs(files[0].source_file, []) as options:
                return self._prepare(lake, files, options, inputs.history)
        except Exception as error:
            return _GlueBatchRun(list(files), "", error=error)

    def _prepare(
        self,
        lake: Lake,
        files: Sequence[FileToEvaluate],
        engine_options: dict[str, Any],
        history: pd.DataFrame | None,
    ) -> _GlueBatchRun:
        """Upload the ruleset, engine inputs, manifest and (when the rules read it) the history."""
        folder = f"{lake.validated_prefix}{STAGING_FOLDER}/{staging_token()}/"
        batch = _GlueBatchRun(list(files), folder)
        keys = self.exchange_keys(folder)
        batch.arguments = self.job_arguments(lake, files, folder)
        work = Path(tempfile.mkdtemp(prefix="glue-quality-batch-"))
        try:
            (work / "ruleset.dqdl").write_text(self.ruleset_text(), encoding="utf-8")
            lake.upload(work / "ruleset.dqdl", keys["ruleset"])
            batch.staged.append(keys["ruleset"])
            batch.staged += self.stage_engine_inputs(
                lake, engine_options, work, keys["engine_inputs"], keys["references"]
            )
            if len(files) > 1:
                (work / "manifest.json").write_text(json.dumps(self.manifest(lake, files)))
                lake.upload(work / "manifest.json", keys["manifest"])
                batch.staged.append(keys["manifest"])
            if history is not None and ruleset_reads_history(self.ruleset()):
                # microseconds: pandas' nanosecond timestamps do not round-trip through Spark's pandas
                history.to_parquet(
                    work / "history.parquet",
                    index=False,
                    coerce_timestamps="us",
                    allow_truncated_timestamps=True,
                )
                lake.upload(work / "history.parquet", keys["history"])
                batch.staged.append(keys["history"])
            else:
                del batch.arguments["--history_uri"]
        except Exception as error:
            batch.error = error
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return batch

    def _upload_json_history(self, lake: Lake, batch: _GlueBatchRun, history: Any) -> None:
        """One history for the batch's files (``run`` of one file with its history given)."""
        key = batch.folder + "history.json"
        with tempfile.TemporaryDirectory(prefix="glue-quality-history-") as tmp:
            path = Path(tmp) / "history.json"
            path.write_text(json.dumps(history.to_dict()), encoding="utf-8")
            lake.upload(path, key)
        batch.staged.append(key)
        batch.arguments["--history_uri"] = lake.uri(key)

    def _start(
        self, context: dg.AssetExecutionContext, lake: Lake, batch: _GlueBatchRun, glue: Any = None
    ) -> _GlueBatchRun:
        """Start the batch's job run; while Glue answers ConcurrentRunsExceededException (a job
        without run queuing), wait and try again until ``timeout_seconds``."""
        if batch.error is not None:
            return batch
        batch.glue = glue = glue or self.glue_client()
        batch.deadline = deadline = time.monotonic() + self.timeout_seconds
        while True:
            try:
                batch.run_id = glue.start_job_run(
                    JobName=self.job_name,
                    Arguments=batch.arguments,
                    ExecutionClass=self.execution_class,
                    JobRunQueuingEnabled=True,
                )["JobRunId"]
                break
            except Exception as error:
                code = getattr(error, "response", {}).get("Error", {}).get("Code")
                if code != "ConcurrentRunsExceededException" or time.monotonic() > deadline:
                    batch.error = error
                    return batch
                time.sleep(self.poll_interval_seconds)
        names = ", ".join(f.source_file for f in batch.files)
        context.log.info(
            f"Glue job {self.job_name} run {batch.run_id} started on {len(batch.files)} "
            f"files ({self.execution_class}): {names}"
        )
        return batch

    def _ended(self, batch: _GlueBatchRun) -> bool:
        """Whether the batch's run has ended (its GetJobRun answer kept); past ``timeout_seconds``
        the run is stopped and the batch fails."""
        glue = batch.glue
        try:
            batch.job_run = glue.get_job_run(JobName=self.job_name, RunId=batch.run_id)["JobRun"]
        except Exception as error:  # the run's files fail with it; the other batches go on
            batch.error = error
            return True
        if batch.job_run["JobRunState"] not in ACTIVE_STATES:
            return True
        if time.monotonic() > batch.deadline:
            glue.batch_stop_job_run(JobName=self.job_name, JobRunIds=[batch.run_id])
            batch.error = QualityJobUnavailable(
                f"Glue job {self.job_name} run {batch.run_id} still "
                f"{batch.job_run['JobRunState']} after {self.timeout_seconds:g} s and was stopped"
            )
            return True
        return False

    def _finish(
        self, context: dg.AssetExecutionContext, lake: Lake, batch: _GlueBatchRun
    ) -> BatchResults:
        """Each file's result from the run's report, or the error that failed the file (a run that
        failed as a whole fails each of its files with the job's error message)."""
        try:
            while batch.error is None and not self._ended(batch):
                time.sleep(self.poll_interval_seconds)
            if batch.error is not None:
                raise batch.error
            return self._results(context, lake, batch)
        except Exception as error:
            return [self._file_failure(lake, f, error) for f in batch.files]
        finally:
            self._clean(lake, batch)

    def _file_failure(self, lake: Lake, file: FileToEvaluate, error: Exception) -> Exception:
        text = " ".join(str(error).split()) or type(error).__name__
        if text.startswith(f"{file.source_file}:"):
            return error
        environment = failure_kind(error) == ENVIRONMENT
        return (QualityJobUnavailable if environment else QualityJobFailed)(
            f"{file.source_file}: {text}"
        )

    def _results(
        self, context: dg.AssetExecutionContext, lake: Lake, batch: _GlueBatchRun
    ) -> BatchResults:
        job_run, run_id = batch.job_run, batch.run_id
        if job_run["JobRunState"] != "SUCCEEDED":
            environment = job_run["JobRunState"] in GLUE_ENVIRONMENT_STATES or (
                transient_message(job_run.get("ErrorMessage", ""))
            )
            failure = QualityJobUnavailable if environment else QualityJobFailed
            return [
                failure(
                    f"{f.source_file}: Glue job {self.job_name} failed on "
                    f"{lake.uri(lake.input_key(f.source_file))} (run {run_id} "
                    f"{job_run['JobRunState']}): {job_run.get('ErrorMessage', 'no error message')}"
                )
                for f in batch.files
            ]
        report_key = self.exchange_keys(batch.folder)["report"]
        with tempfile.TemporaryDirectory(prefix="glue-quality-report-") as tmp:
            try:
                path = lake.download(report_key, Path(tmp) / "report.json")
            except FileNotFoundError:
                raise QualityJobFailed(
                    f"Glue job {self.job_name} run {run_id} succeeded but left no report at "
                    f"{lake.uri(report_key)}: check that its --additional-python-modules carry "
                    "this version of quality_movies (quality-movies glue-package --upload)"
                ) from None
            report = json.loads(path.read_text(encoding="utf-8"))
        cost = job_run_cost(
            job_run,
            self.execution_class,
            self.usd_per_dpu_hour,
            self.flex_usd_per_dpu_hour,
            self.region_name,
        )
        context.log.info(
            f"Glue job {self.job_name} run {run_id}: {cost['execution_time_seconds']:g} s, "
            f"{cost['dpu_seconds']:g} DPU-seconds, about ${cost['estimated_cost_usd']:.4f} "
            f"({cost['execution_class']}); logs: {cost['log_group']} stream {run_id}"
        )
        total = sum(f.size for f in batch.files)
        results: BatchResults = []
        for file in batch.files:
            entry = report.get("files", {}).get(file.source_file)
            if entry is None:
                results.append(
                    QualityJobFailed(
                        f"{file.source_file}: Glue job {self.job_name} run {run_id} left no "
                        "result for it; run the file again"
                    )
                )
                continue
            if "error" in entry:
                results.append(QualityJobFailed(failure_text(file.source_file, entry["error"])))
                continue
            share = file.size / total if total else 1 / len(batch.files)
            extra = {
                "AWS Glue Job Name": self.job_name,
                "AWS Glue Job Run ID": run_id,
                "glue_job_run": {**cost, "files": len(batch.files), "bytes": total},
                "glue_cost_share": share,
            }
            result = _quality_run_result(entry, file.source_file, file.outputs, "glue", extra)
            result.job_cost = {
                "DPUSeconds": cost["dpu_seconds"] * share,
                "EstimatedCostUSD": cost["estimated_cost_usd"] * share,
            }
            try:
                results.append(check_rows_conserved(result))
            except RowsNotConserved as error:
                results.append(error)
        return results

    def _clean(self, lake: Lake, batch: _GlueBatchRun) -> None:
        """Remove what the batch's run exchanged with the job (its report too)."""
        if not batch.folder:
            return
        keys = {*batch.staged, self.exchange_keys(batch.folder)["report"]}
        for key in keys:
            lake.delete(key)
        batch.staged = []


def failure_text(source_file: str, message: str) -> str:
    """A message naming ``source_file`` first (as the gate reports failures)."""
    text = " ".join(str(message).split())
    return text if text.startswith(source_file) else f"{source_file}: {text}"


class SparkQualityJobRunner(QualityJobRunner):
    """The Glue job's batch code on a Spark session of your own (dagster-pyspark's PySparkResource):
    a batch's files evaluated in that one session, as one Glue job run evaluates them.

    By default the inputs are copied to ``work_dir`` on the driver and the outputs uploaded through the
    lake, which suits local and single-node Spark. With ``direct_io`` Spark reads and writes the lake's
    URIs itself (a cluster with an S3 connector), staging under ``staging_uri``.
    """

    pyspark: PySparkResource
    work_dir: str
    direct_io: bool = False
    staging_uri: str = ""
    shares_engine_inputs: ClassVar[bool] = True

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
        """One file as a batch of one (its history and engine inputs as given)."""
        options = dict(engine_options or {})
        history = options.pop("history", None)
        file = FileToEvaluate(source_file, "", outputs)
        [result] = self._evaluate(lake, [file], options, history)
        if isinstance(result, Exception):
            raise result
        return result

    def run_batch(
        self,
        context: dg.AssetExecutionContext,
        lake: Lake,
        files: Sequence[FileToEvaluate],
        inputs: BatchInputs,
    ) -> BatchResults:
        try:
            with inputs.engine_inputs(files[0].source_file, []) as options:
                options = {k: v for k, v in options.items() if k != "files"}
                return self._evaluate(lake, files, options, inputs.history)
        except Exception as error:
            return [QualityJobFailed(failure_text(f.source_file, str(error))) for f in files]

    def _evaluate(
        self,
        lake: Lake,
        files: Sequence[FileToEvaluate],
        engine_options: dict[str, Any],
        history: Any,
    ) -> BatchResults:
        """``glue_job.evaluate_batch`` over ``files`` (file rules list the lake for each file)."""
        from quality_movies.quality.engine_inputs import LakeFiles
        from quality_movies.quality.glue_job import BatchFile, evaluate_batch

        spark = self.pyspark.spark_session or spark_session_from_config(self.pyspark.spark_config)
        # references are files on this machine: Spark reads them itself only without direct_io
        left_out = {"references", "files"} if self.direct_io else {"files"}
        common = {k: v for k, v in engine_options.items() if k not in left_out}
        given_files = engine_options.get("files")
        source = {
            "ruleset_text": self.ruleset_text(),
            "ruleset_source": str(self.resolved_ruleset_path()),
            "history": history,
            "engine_options": common,
        }
        failures: dict[str, Exception] = {}
        batch: list[BatchFile] = []
        work = work_folder(self.work_dir, "spark-quality-batch")
        try:
            for i, file in enumerate(files):
                key = lake.input_key(file.source_file)
                listing = given_files if len(files) == 1 and given_files else LakeFiles(lake, key)
                uris = {name: lake.uri(k) for name, k in file.outputs.keys().items()}
                input_uri, local_paths = lake.uri(key), (str(work),)
                if not self.direct_io:
                    folder = work / str(i)
                    folder.mkdir()
                    input_uri = str(folder / "input.csv")
                    uris = {name: str(folder / "out" / Path(k).name) for name, k in uris.items()}
                    local_paths = (input_uri, str(work))
                    try:
                        lake.download(key, Path(input_uri))
                    except Exception as error:
                        failures[file.source_file] = QualityJobFailed(
                            failure_text(file.source_file, f"cannot read {lake.uri(key)}: {error}")
                        )
                        continue
                batch.append(
                    BatchFile(
                        source_file=file.source_file,
                        input_uri=input_uri,
                        bad_records_uri=uris["bad_records"],
                        rule_outcomes_uri=uris["rule_outcomes"],
                        validated_uri=uris["validated"],
                        file_version=file.file_version,
                        files=listing,
                        local_paths=local_paths,
                    )
                )
            client = getattr(lake, "client", None)
            try:
                reports = evaluate_batch(
                    spark,
                    files=batch,
                    staging_uri=(self.staging_uri or None)
                    if self.direct_io
                    else str(work / "staging"),
                    s3_client=client() if self.direct_io and callable(client) else None,
                    **source,
                )
            except (QualityJobError, DataQualityError, ContractViolation) as error:
                message = _users_words(str(error), [work], "")
                reports = {f.source_file: {"error": message} for f in batch}
            results: BatchResults = []
            for file, staged in zip(files, batch_by_name(batch, files), strict=True):
                if file.source_file in failures:
                    results.append(failures[file.source_file])
                    continue
                report = reports[file.source_file]
                if "error" in report:
                    results.append(
                        QualityJobFailed(failure_text(file.source_file, report["error"]))
                    )
                    continue
                try:
                    if not self.direct_io:
                        for name, key in file.outputs.keys().items():
                            lake.upload(Path(getattr(staged, f"{name}_uri")), key)
                    result = _quality_run_result(
                        report, file.source_file, file.outputs, "spark", {}
                    )
                    results.append(check_rows_conserved(result))
                except Exception as error:
                    results.append(error)
            return results
        finally:
            shutil.rmtree(work, ignore_errors=True)


def batch_by_name(batch: Sequence[Any], files: Sequence[FileToEvaluate]) -> list[Any]:
    """The ``BatchFile`` of each of ``files`` (None for a file left out of the batch)."""
    by_name = {b.source_file: b for b in batch}
    return [by_name.get(f.source_file) for f in files]
