"""How runs over input files are planned, launched and settled: ranges of partitions, per-file outcomes.

Shared by the CLI and the sensors, so that both drive the same ledger in the same way.
"""

import hashlib
import os
import re
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from quality_movies.faults import (
    DATA,
    ENVIRONMENT,
    RULESET,
    Kind,
    failure_kind,
    failure_kind_of_record,
    what_to_do,
)
from quality_movies.lake import Lake
from quality_movies.notifications.resources import Notifier
from quality_movies.partitions import movie_files
from quality_movies.runs.resources import FileVersion, Ledger

WAREHOUSE_ASSET = dg.AssetKey("imdb_movies_rating")
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
FAILED_FILES = "failed_files"
FAILURE_KINDS = "failure_kinds"
FAILURE_KIND = "failure_kind"
WRAPPER_PREFIXES = ("Error occurred while executing", "Error occurred during the execution")
# A run tagged ``quality_movies/reprocess=true`` (``quality-movies reprocess``, or a run or backfill
# launched with this tag in the UI) is a reprocessing: each processed version it evaluates again is
# recorded as a new evaluation of that version and announced once.
REPROCESS_TAG = "quality_movies/reprocess"


def is_reprocessing(run: dg.DagsterRun) -> bool:
    return run.tags.get(REPROCESS_TAG, "").strip().lower() == "true"


def partition_ranges(ordered: Sequence[str], wanted: Iterable[str]) -> list[tuple[str, str]]:
    """The fewest contiguous (first, last) ranges of ``ordered`` covering exactly ``wanted``."""
    wanted = set(wanted)
    ranges: list[tuple[str, str]] = []
    start = previous = None
    for key in ordered:
        if key in wanted:
            start = start if start is not None else key
            previous = key
        elif start is not None:
            ranges.append((start, previous))
            start = None
    if start is not None:
        ranges.append((start, previous))
    return ranges


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags selecting one partition, or a range of partitions for a single-run batch."""
    if first == last:
        return {PARTITION_TAG: first}
    return {RANGE_START_TAG: first, RANGE_END_TAG: last}


def run_key(versions: Iterable[tuple[str, str]]) -> str:
    """A stable key for a run over these (input key, ETag) versions."""
    text = "\n".join(f"{k}@{e}" for k, e in sorted(versions))
    return "files-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def cli_owner() -> str:
    """The ledger owner of this CLI process: ``cli:<host>:<pid>``."""
    return f"cli:{socket.gethostname()}:{os.getpid()}"


def dead_cli_owner(owner: str) -> bool:
    """Whether ``owner`` is a CLI process of this host that no longer runs (killed mid-run)."""
    kind, _, rest = owner.partition(":")
    host, _, pid = rest.rpartition(":")
    if kind != "cli" or host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def run_url(run_id: str) -> str:
    """The run's page in the Dagster UI (QUALITY_MOVIES_DAGSTER_URL, default the local ``ui``)."""
    base = os.environ.get("QUALITY_MOVIES_DAGSTER_URL", "http://127.0.0.1:3000").rstrip("/")
    return f"{base}/runs/{run_id}"


def run_partitions(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    """The movie files a run covered: its partition, or every key of its partition range."""
    if run.tags.get(PARTITION_TAG):
        return [run.tags[PARTITION_TAG]]
    first, last = run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)
    if not first or not last:
        return []
    ordered = instance.get_dynamic_partitions(movie_files.name)
    if first not in ordered or last not in ordered:
        return []
    return ordered[ordered.index(first) : ordered.index(last) + 1]


def touches_files(run: dg.DagsterRun) -> bool:
    """Whether a run loads files into the warehouse (the ingest job, or a materialization of
    ``imdb_movies_rating`` started by hand); a run of upstream assets only decides nothing."""
    if run.job_name == "ingest_movie_file" and not run.asset_selection:
        return True
    return WAREHOUSE_ASSET in (run.asset_selection or set())


def one_line(text: str) -> str:
    return " ".join(text.split())


CLASS_PREFIX = re.compile(r"^(?:[A-Za-z_][\w]*\.)*[A-Z]\w*(?:Error|Exception|Failure|Warning): ")


def _strip_class(message: str) -> str:
    """``pkg.module.SomeError: what happened`` -> ``what happened``."""
    return CLASS_PREFIX.sub("", message, count=1)


def describe_error(error: Any) -> str:
    """A user's error without Dagster's wrappers: the first real message, and its root cause."""
    parts = []
    while error is not None:
        message = _strip_class(one_line(error.message or ""))
        if message and not message.startswith(WRAPPER_PREFIXES) and message not in parts:
            parts.append(message)
        error = error.cause
    if not parts:
        return "unknown error"
    if len(parts) > 1 and parts[-1] not in parts[0]:
        return f"{parts[0]} (cause: {parts[-1]})"
    return parts[0]


def describe_exception(exc: BaseException) -> str:
    """An exception as one line: its message, and its root cause when that says more."""
    message = one_line(str(exc)) or type(exc).__name__
    root = exc
    while root.__cause__ is not None or root.__context__ is not None:
        root = root.__cause__ or root.__context__
    cause = one_line(str(root))
    if root is not exc and cause and cause not in message:
        return f"{message} (cause: {cause})"
    return message


@dataclass
class FileOutcome:
    """How one file of a run ended, with what the run recorded about it."""

    source_file: str
    processed: bool
    reason: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    kind: Kind = DATA


def _value(metadata: dict, name: str) -> Any:
    entry = metadata.get(name)
    return getattr(entry, "value", entry)


def _summaries(instance: dg.DagsterInstance, run_id: str, files: list[str]) -> dict[str, dict]:
    """Per file: counts, URIs and rule outcomes from the run's materializations."""
    summaries: dict[str, dict] = {f: {} for f in files}
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.asset_materialization
        if materialization is None:
            continue
        targets = [materialization.partition] if materialization.partition else files
        metadata = dict(materialization.metadata)
        name = materialization.asset_key.to_user_string()
        for source_file in targets:
            summary = summaries.setdefault(source_file, {})
            if name == "validated_movies":
                for key in ("rows_read", "good_rows", "bad_rows"):
                    summary[key] = _value(metadata, key)
                summary["validated_uri"] = str(_value(metadata, "uri"))
            elif name == "bad_records":
                summary["bad_records_uri"] = str(_value(metadata, "uri"))
            elif name == "rule_outcomes":
                summary["rule_outcomes_uri"] = str(_value(metadata, "uri"))
                summary["rule_outcomes"] = [
                    {
                        "rule": o["Rule"],
                        "outcome": o["Outcome"],
                        "failure_reason": o.get("FailureReason"),
                    }
                    for o in _value(metadata, "rule_outcomes_json") or []
                ]
            elif name == WAREHOUSE_ASSET.to_user_string():
                summary["rows_loaded"] = _value(metadata, "rows_loaded")
                summary["loaded"] = True
    return summaries


@dataclass
class RunFailures:
    """What a run's failed steps said: per file (reason and kind), or one error for the whole step."""

    per_file: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, Kind] = field(default_factory=dict)
    first_error: str = ""
    first_kind: Kind = DATA


def _kind(text: Any) -> Kind:
    return text if text in (ENVIRONMENT, RULESET) else DATA


def _failures(instance: dg.DagsterInstance, run_id: str) -> RunFailures:
    """Per-file reasons and kinds a step reported (``failed_files``, ``failure_kinds``), and the first
    step's own error with its kind."""
    found = RunFailures()
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = entry.dagster_event
        data = event.step_failure_data if event is not None else None
        if data is None:
            continue
        user = data.user_failure_data
        metadata = dict(user.metadata) if user is not None else {}
        failed = _value(metadata, FAILED_FILES)
        if isinstance(failed, dict):
            found.per_file.update({str(k): one_line(str(v)) for k, v in failed.items()})
            kinds = _value(metadata, FAILURE_KINDS) or {}
            found.kinds.update({str(f): _kind(k) for f, k in kinds.items()})
        elif not found.first_error:
            if user is not None and user.description:
                found.first_error = one_line(user.description)
                found.first_kind = _kind(_value(metadata, FAILURE_KIND))
            elif data.error is not None:
                found.first_error = describe_error(data.error)
                found.first_kind = failure_kind_of_record(data.error)
    return found


def run_failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    """Why a run failed, for runs that are not about files (e.g. the refresh of the view)."""
    found = _failures(instance, run_id)
    if found.first_error:
        return found.first_error
    if found.per_file:
        return "; ".join(f"{f}: {r}" for f, r in found.per_file.items())
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
        if entry.dagster_event is not None and entry.dagster_event.message:
            return one_line(entry.dagster_event.message)
    return "the run failed before any step ran"


def file_outcomes(
    instance: dg.DagsterInstance, run: dg.DagsterRun, files: list[str] | None = None
) -> list[FileOutcome]:
    """Each file of a finished run: processed when its warehouse partition materialized, else why not."""
    files = files if files is not None else run_partitions(instance, run)
    summaries = _summaries(instance, run.run_id, files)
    found = _failures(instance, run.run_id)
    # A run that stopped before any step said why (killed, canceled) failed for no fault of a file.
    run_kind = found.first_kind if found.first_error else ENVIRONMENT
    first_error = found.first_error
    if not first_error and run.status == dg.DagsterRunStatus.FAILURE:
        first_error = run_failure_message(instance, run.run_id)
    outcomes = []
    for source_file in files:
        summary = summaries.get(source_file, {})
        if source_file in found.per_file:
            reason, kind = found.per_file[source_file], found.kinds.get(source_file, DATA)
            outcomes.append(FileOutcome(source_file, False, reason, summary, kind))
        elif summary.pop("loaded", False):
            outcomes.append(FileOutcome(source_file, True, "", summary))
        else:
            reason = first_error or (
                "the run was canceled" if run.status == dg.DagsterRunStatus.CANCELED else ""
            )
            outcomes.append(
                FileOutcome(
                    source_file, False, reason or "the file was not loaded", summary, run_kind
                )
            )
    return outcomes


def file_message(
    run: dg.DagsterRun, outcome: FileOutcome, run_url: str, record: FileVersion | None = None
) -> tuple[str, dict]:
    """Subject and body of the one notification about one file (``record``: its ledger record after
    a failure, which says whether it waits to be retried)."""
    retrying = record is not None and record.state == "retrying"
    if outcome.processed:
        status = "succeeded"
    elif retrying:
        status = "RETRYING"
    elif outcome.kind == RULESET:  # waits for the ruleset to be fixed
        status = "PENDING"
    else:
        status = "FAILED"
    message: dict[str, Any] = {
        "status": status,
        "run_id": run.run_id,
        "job": run.job_name,
        "file": outcome.source_file,
        "run_url": run_url,
        **outcome.summary,
    }
    if not outcome.processed:
        attempts = record.attempts if record is not None else 0
        message.update(error=outcome.reason, failure_kind=outcome.kind, attempts=attempts)
        if retrying:
            message["next_attempt_at"] = record.next_attempt_at
        else:
            message["what_to_do"] = what_to_do(outcome.kind, attempts)
    return f"quality_movies {status}: {outcome.source_file}"[:100], message


def summary_lines(source_file: str, message: dict[str, Any]) -> list[str]:
    """A short human summary of one file's outcome."""
    lines = [f"== {source_file}: {message['status']} (run {message['run_id']})"]
    if "rows_read" in message:
        lines.append(
            f"   rows read {message['rows_read']}, good {message['good_rows']}, "
            f"bad {message['bad_rows']}, loaded {message.get('rows_loaded', 0)}"
        )
    for outcome in message.get("rule_outcomes", []):
        reason = f" - {outcome['failure_reason']}" if outcome.get("failure_reason") else ""
        lines.append(f"   [{outcome['outcome']}] {outcome['rule']}{reason}")
    for label, key in (
        ("bad records", "bad_records_uri"),
        ("rule outcomes", "rule_outcomes_uri"),
        ("validated", "validated_uri"),
    ):
        if key in message:
            lines.append(f"   {label}: {message[key]}")
    if message.get("error"):
        lines.append(f"   error: {message['error']}")
    if message["status"] == "RETRYING":
        lines.append(
            f"   {message['failure_kind']} failure, attempt {message['attempts']}: the file stays "
            f"pending and the next run takes it again (the sensor after {message['next_attempt_at']})"
        )
    elif message.get("what_to_do"):
        lines.append(f"   {message['failure_kind']} failure: {message['what_to_do']}")
    return lines


@dataclass
class Settled:
    """A file outcome and whether this caller announced it (the ledger lets one caller do so);
    ``undelivered`` says why its notification could not be sent (the next run sends it)."""

    outcome: FileOutcome
    subject: str
    message: dict[str, Any]
    announced: bool
    undelivered: str = ""


def _deliver(
    ledger: Ledger, notifier: Notifier, input_key: str, etag: str, subject: str, message: dict
) -> str:
    """Send one notification; when it cannot be delivered (SNS down...) the version is marked not
    announced again, so a later run or sensor tick sends it. Returns why it failed, or ''."""
    try:
        notifier.notify(subject, message)
    except Exception as exc:  # any delivery failure: the announcement is owed, not lost
        ledger.unannounce(input_key, etag)
        return describe_exception(exc)
    return ""


def announce_pending(
    instance: dg.DagsterInstance, ledger: Ledger, lake: Lake, notifier: Notifier
) -> list[Settled]:
    """Send the notifications owed for versions settled earlier whose delivery failed."""
    settled = []
    for version in ledger.unannounced():
        source_file = lake.source_file(version.input_key)
        run = instance.get_run_by_id(version.run_id)
        kind = ENVIRONMENT if version.attempts and version.state == "failed" else DATA
        outcome = FileOutcome(source_file, version.state == "processed", version.reason, {}, kind)
        if run is not None:
            found = file_outcomes(instance, run, [source_file])
            outcome = found[0] if found else outcome
        else:
            run = dg.DagsterRun(job_name="ingest_movie_file", run_id=version.run_id)
        record = version if not outcome.processed else None
        subject, message = file_message(run, outcome, run_url(run.run_id), record)
        if not ledger.finish(
            version.input_key, version.etag, version.state, version.run_id, version.reason
        ):
            continue
        undelivered = _deliver(ledger, notifier, version.input_key, version.etag, subject, message)
        settled.append(Settled(outcome, subject, message, not undelivered, undelivered))
    return settled


def settle_run(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    ledger: Ledger,
    lake: Lake,
    notifier: Notifier,
    run_url: str,
    files: list[str] | None = None,
) -> list[Settled]:
    """Record each file of a finished run in the ledger and announce the ones recorded first here.

    The ETag recorded is the one claimed for the file, or the input's current one when nobody
    claimed it (a materialization started by hand in the UI). In a reprocessing run
    (``REPROCESS_TAG``) a version settled earlier is reopened first, as ``reprocess`` reopens it
    before its run, so this run's outcome is its new evaluation; without the tag the earlier
    evaluation stays recorded and nothing is announced again.
    """
    latest = ledger.latest()
    settled = []
    for outcome in file_outcomes(instance, run, files):
        input_key = lake.input_key(outcome.source_file)
        record = latest.get(input_key)
        if is_reprocessing(run) and outcome.kind != RULESET:
            record = _reopened(ledger, lake, input_key, record, run.run_id)
        if record is not None and record.state == "claimed":
            etag = record.etag
        else:
            try:
                etag = lake.head(input_key).etag
            except Exception:  # the input was deleted meanwhile: record what the run saw
                etag = record.etag if record is not None else "unknown"
        if not outcome.processed and outcome.kind == RULESET:  # pending until the ruleset is fixed
            if record is not None and (record.state, record.etag) == ("claimed", etag):
                ledger.release([(input_key, etag)], record.owner)
            subject, message = file_message(run, outcome, run_url)
            settled.append(Settled(outcome, subject, message, False))
            continue
        first, record = _record_outcome(ledger, input_key, etag, run.run_id, outcome)
        subject, message = file_message(run, outcome, run_url, record)
        undelivered = _deliver(ledger, notifier, input_key, etag, subject, message) if first else ""
        settled.append(Settled(outcome, subject, message, first and not undelivered, undelivered))
    return settled


def _reopened(
    ledger: Ledger, lake: Lake, input_key: str, record: FileVersion | None, run_id: str
) -> FileVersion | None:
    """The file's record after reopening it for ``run_id``, when it is a settled version still in
    the lake (one this run has not settled already); else ``record`` as it was."""
    if record is None or record.state not in ("processed", "failed"):
        return record
    try:
        current = lake.head(input_key).etag
    except Exception:  # the input was deleted meanwhile: nothing to reopen
        return record
    if current != record.etag or not ledger.reopen(
        [(input_key, current)], f"run:{run_id}", evaluated_by=run_id
    ):
        return record
    return ledger.get(input_key, current)


def _record_outcome(
    ledger: Ledger, input_key: str, etag: str, run_id: str, outcome: FileOutcome
) -> tuple[bool, FileVersion | None]:
    """Record one file's outcome; whether to announce it now, and its record after a failure. A
    failure outside the file is announced only when it used up the attempts."""
    if outcome.processed:
        return ledger.finish(input_key, etag, "processed", run_id), None
    if outcome.kind == ENVIRONMENT:
        record = ledger.retry_later(input_key, etag, run_id, outcome.reason)
        if record is None:
            return False, ledger.get(input_key, etag)
        return record.state == "failed", record
    return ledger.finish(input_key, etag, "failed", run_id, outcome.reason), ledger.get(
        input_key, etag
    )


def settle_unstarted(
    ledger: Ledger,
    lake: Lake,
    notifier: Notifier,
    files: list[str],
    error: BaseException,
) -> list[Settled]:
    """Record the files of a run that could not start, as failed for ``error``'s kind."""
    settled = []
    reason, kind = describe_exception(error), failure_kind(error)
    attempt = dg.DagsterRun(
        job_name="ingest_movie_file", run_id=f"not-started-{uuid.uuid4().hex[:12]}"
    )
    for source_file in files:
        input_key = lake.input_key(source_file)
        outcome = FileOutcome(source_file, False, reason, {}, kind)
        etag = lake.head(input_key).etag
        first, record = _record_outcome(ledger, input_key, etag, attempt.run_id, outcome)
        subject, message = file_message(attempt, outcome, "", record)
        undelivered = _deliver(ledger, notifier, input_key, etag, subject, message) if first else ""
        settled.append(Settled(outcome, subject, message, first and not undelivered, undelivered))
    return settled
