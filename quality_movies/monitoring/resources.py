"""Where the quality memory lives: the metric history store and the metrics sink (CloudWatch on AWS).

Locally the history is table ``dq_metrics.rule_metrics`` in the embedded warehouse (DuckDB); on AWS it is
one Parquet object per file version under the bucket's ``dq_metrics/`` prefix, which Athena or Redshift
Spectrum read as one table (and the Glue job reads with Spark).
"""

import json
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dagster as dg
import duckdb
import pandas as pd
from pydantic import PrivateAttr

from quality_movies.dq.metric_history import (
    COLUMN_NAMES,
    HISTORY_COLUMNS,
    FileQuality,
    StoredMetricHistory,
    history_records,
    history_rows,
    in_processing_order,
    now,
    typed,
)
from quality_movies.lake import Lake, aws_client

_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "timestamp": "TIMESTAMPTZ",
    "int": "BIGINT",
    "double": "DOUBLE",
}


class MetricStore(dg.ConfigurableResource, ABC):
    """Every file version's rule and analyzer metrics and outcomes; one entry per file version."""

    @abstractmethod
    def record(self, entry: FileQuality) -> None:
        """Store the entry, replacing the same file version's earlier entry (keeping its place in order)."""

    @abstractmethod
    def forget(self, source_file: str, file_version: str) -> None:
        """Remove a file version's entry (the publish step undoing a file whose other outputs failed)."""

    @abstractmethod
    def frame(self) -> pd.DataFrame:
        """All rows, in the order the file versions were first processed."""

    @abstractmethod
    def entry(self, source_file: str, file_version: str) -> pd.DataFrame:
        """One file version's rows (none when it was never recorded)."""

    @abstractmethod
    def put_rows(self, source_file: str, file_version: str, rows: pd.DataFrame) -> None:
        """Make ``rows`` the file version's whole entry, as they are (no rows: no entry)."""

    @contextmanager
    def recording(self, entry: FileQuality) -> Iterator[None]:
        """Record ``entry`` for the duration of the block; when the block fails, the file version's
        entry goes back to what it was (a failed re-run keeps the last good run's metrics)."""
        before = self.entry(entry.source_file, entry.file_version)
        self.record(entry)
        try:
            yield
        except BaseException:
            self.put_rows(entry.source_file, entry.file_version, before)
            raise

    def history(self, source_file: str, file_version: str) -> StoredMetricHistory:
        """What the engine reads while judging this file version: every other file version's metrics."""
        return StoredMetricHistory.from_frame(self.frame(), exclude=(source_file, file_version))


class DuckDBMetricStore(MetricStore):
    """Table ``<schema_name>.<table>`` in a DuckDB file (the embedded warehouse's)."""

    path: str
    schema_name: str = "dq_metrics"
    table: str = "rule_metrics"
    lock_timeout_seconds: float = 30.0

    @property
    def qualified_table(self) -> str:
        return f'"{self.schema_name}"."{self.table}"'

    @contextmanager
    def _connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection, waiting while another process holds the file's lock."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_seconds
        while True:
            try:
                con = duckdb.connect(self.path, read_only=read_only and Path(self.path).exists())
                break
            except duckdb.ConnectionException:
                if not read_only:
                    raise
                # this process holds the file open for writing (a batch): share that database
                con = duckdb.connect(self.path)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        try:
            columns = ", ".join(f'"{n}" {_DUCKDB_TYPES[t]}' for n, t in HISTORY_COLUMNS)
            if not read_only:
                con.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema_name}"')
                con.execute(f"CREATE TABLE IF NOT EXISTS {self.qualified_table} ({columns})")
            yield con
        finally:
            con.close()

    def record(self, entry: FileQuality) -> None:
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                self.record_in(con, entry)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def record_in(self, con: duckdb.DuckDBPyConnection, entry: FileQuality) -> None:
        """``record`` inside the caller's open transaction on the same DuckDB file (e.g. the warehouse
        load's), so the history commits or rolls back with the file's rows."""
        columns = ", ".join(f'"{n}" {_DUCKDB_TYPES[t]}' for n, t in HISTORY_COLUMNS)
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema_name}"')
        con.execute(f"CREATE TABLE IF NOT EXISTS {self.qualified_table} ({columns})")
        self._replace(con, entry, self._entry_records(con, entry.source_file, entry.file_version))

    def _entry_records(
        self, con: duckdb.DuckDBPyConnection, source_file: str, file_version: str
    ) -> list[tuple]:
        return con.execute(
            f"SELECT * FROM {self.qualified_table}"
            " WHERE source_file = ? AND file_version = ? ORDER BY position",
            [source_file, file_version],
        ).fetchall()

    def _replace(
        self, con: duckdb.DuckDBPyConnection, entry: FileQuality, before: list[tuple]
    ) -> None:
        """Replace the file version's rows (``before``) with ``entry``'s, keeping when the version
        was first processed. Plain tuples: a file's few rows cost more as a pandas frame."""
        first = min((row[COLUMN_NAMES.index("processed_at")] for row in before), default=None)
        records = history_records(entry, first or entry.processed_at or now(), now())
        con.execute(
            f"DELETE FROM {self.qualified_table} WHERE source_file = ? AND file_version = ?",
            [entry.source_file, entry.file_version],
        )
        if records:
            row = "(" + ", ".join("?" * len(COLUMN_NAMES)) + ")"
            con.execute(
                f"INSERT INTO {self.qualified_table} VALUES {', '.join([row] * len(records))}",
                [value for record in records for value in record],
            )

    @contextmanager
    def recording(self, entry: FileQuality) -> Iterator[None]:
        """As ``MetricStore.recording``, reading the earlier entry in the recording's transaction."""
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                before = self._entry_records(con, entry.source_file, entry.file_version)
                self._replace(con, entry, before)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        try:
            yield
        except BaseException:
            rows = pd.DataFrame(before, columns=COLUMN_NAMES)
            self.put_rows(entry.source_file, entry.file_version, rows)
            raise

    def forget(self, source_file: str, file_version: str) -> None:
        self.put_rows(source_file, file_version, self.entry(source_file, file_version).iloc[0:0])

    def entry(self, source_file: str, file_version: str) -> pd.DataFrame:
        with self._connect() as con:
            rows = con.execute(
                f"SELECT * FROM {self.qualified_table}"
                " WHERE source_file = ? AND file_version = ? ORDER BY position",
                [source_file, file_version],
            ).df()
        return typed(rows)

    def put_rows(self, source_file: str, file_version: str, rows: pd.DataFrame) -> None:
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(
                    f"DELETE FROM {self.qualified_table} WHERE source_file = ? AND file_version = ?",
                    [source_file, file_version],
                )
                if len(rows):
                    con.register("kept_rows", typed(rows))
                    con.execute(f"INSERT INTO {self.qualified_table} SELECT * FROM kept_rows")
                    con.unregister("kept_rows")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def frame(self) -> pd.DataFrame:
        if not Path(self.path).exists():
            return typed(pd.DataFrame(columns=[n for n, _ in HISTORY_COLUMNS]))
        with self._connect(read_only=True) as con:
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables"
                " WHERE table_schema = ? AND table_name = ?",
                [self.schema_name, self.table],
            ).fetchone()[0]
            if not exists:
                return typed(pd.DataFrame(columns=[n for n, _ in HISTORY_COLUMNS]))
            frame = con.execute(f"SELECT * FROM {self.qualified_table}").df()
        return in_processing_order(typed(frame)).reset_index(drop=True)


class ParquetMetricStore(MetricStore):
    """One Parquet object per file version under ``<prefix>`` of the lake's bucket.

    An object is written with a single upload, so a reader sees a file version's whole entry or none;
    re-running the version overwrites its object.
    """

    lake: Lake
    prefix: str = "dq_metrics/"

    def key(self, source_file: str, file_version: str) -> str:
        """``dq_metrics/<file>=<version>.parquet``, both URL-quoted (``=`` is always quoted inside them),
        all in one folder: Athena, Redshift Spectrum and Spark read the folder as one table."""
        file, version = quote(source_file, safe=""), quote(file_version, safe="")
        return f"{self.prefix}{file}={version}.parquet"

    def _read(self, key: str) -> pd.DataFrame:
        with self.lake.local_copy(key) as path:
            return pd.read_parquet(path)

    def record(self, entry: FileQuality) -> None:
        key = self.key(entry.source_file, entry.file_version)
        processed_at: datetime | None = None
        try:
            processed_at = typed(self._read(key))["processed_at"].min().to_pydatetime()
        except FileNotFoundError:
            processed_at = None
        self.put_rows(
            entry.source_file,
            entry.file_version,
            history_rows(entry, processed_at or entry.processed_at or now(), now()),
        )

    def entry(self, source_file: str, file_version: str) -> pd.DataFrame:
        try:
            return typed(self._read(self.key(source_file, file_version)))
        except FileNotFoundError:
            return typed(pd.DataFrame(columns=[n for n, _ in HISTORY_COLUMNS]))

    def put_rows(self, source_file: str, file_version: str, rows: pd.DataFrame) -> None:
        key = self.key(source_file, file_version)
        if not len(rows):
            self.lake.delete(key)
            return
        with tempfile.TemporaryDirectory(prefix="quality_movies_") as tmp:
            path = Path(tmp) / "metrics.parquet"
            # microseconds: Spark, Athena and Redshift Spectrum refuse pandas' nanosecond timestamps
            typed(rows).to_parquet(
                path, index=False, coerce_timestamps="us", allow_truncated_timestamps=True
            )
            self.lake.upload(path, key)

    def forget(self, source_file: str, file_version: str) -> None:
        self.lake.delete(self.key(source_file, file_version))

    def frame(self) -> pd.DataFrame:
        keys = [
            o.key
            for o in self.lake.list_objects(self.prefix)
            if o.key.endswith(".parquet") and not Path(o.key).name.startswith(".")
        ]
        frames = [typed(self._read(key)) for key in keys]
        if not frames:
            return typed(pd.DataFrame(columns=[n for n, _ in HISTORY_COLUMNS]))
        return in_processing_order(pd.concat(frames, ignore_index=True)).reset_index(drop=True)


ANOMALY_RULE_PREFIX = "DetectAnomalies"
# A file's share of its quality job run (Glue): recorded in the metric history as analyzer metrics
# named with this prefix, and sent to CloudWatch as metrics of the same names without it.
JOB_COST_PREFIX = "QualityJob."
JOB_COST_UNITS = {"DPUSeconds": "None", "EstimatedCostUSD": "None"}


def job_cost_metrics(job_cost: Mapping[str, float] | None) -> dict[str, float]:
    """A file's share of its job run's DPU-seconds and estimated cost, as history metric names."""
    return {f"{JOB_COST_PREFIX}{name}": float(value) for name, value in (job_cost or {}).items()}


def run_metric_data(
    source_file: str,
    rule_outcomes: Sequence[Mapping[str, Any]],
    job_cost: Mapping[str, float] | None = None,
) -> list[dict]:
    """CloudWatch datums for one file's run.

    ``RulesFailed`` and ``AnomaliesDetected`` carry no dimensions (the stack's alarms watch exactly those);
    each rule's evaluated metrics and pass/fail (``RulePassed`` 1 or 0) carry dimensions Rule and SourceFile.
    ``job_cost`` (the file's share of its Glue job run: ``DPUSeconds``, ``EstimatedCostUSD``) is sent
    twice: without dimensions (their Sum per day is what quality cost that day) and per SourceFile.
    """
    failed = [o for o in rule_outcomes if o["Outcome"] != "Passed"]
    anomalies = [o for o in failed if str(o["Rule"]).startswith(ANOMALY_RULE_PREFIX)]
    data: list[dict] = [
        {"MetricName": "RulesFailed", "Value": float(len(failed)), "Unit": "Count"},
        {"MetricName": "AnomaliesDetected", "Value": float(len(anomalies)), "Unit": "Count"},
    ]
    for outcome in rule_outcomes:
        dimensions = [
            {"Name": "Rule", "Value": str(outcome["Rule"])[:1024]},
            {"Name": "SourceFile", "Value": source_file[:1024]},
        ]
        passed = 1.0 if outcome["Outcome"] == "Passed" else 0.0
        data.append({"MetricName": "RulePassed", "Dimensions": dimensions, "Value": passed})
        for metric, value in sorted((outcome.get("EvaluatedMetrics") or {}).items()):
            if value is not None:
                data.append(
                    {"MetricName": metric[:255], "Dimensions": dimensions, "Value": float(value)}
                )
    for name, value in (job_cost or {}).items():
        datum = {
            "MetricName": name,
            "Value": float(value),
            "Unit": JOB_COST_UNITS.get(name, "None"),
        }
        data.append(datum)
        data.append({**datum, "Dimensions": [{"Name": "SourceFile", "Value": source_file[:1024]}]})
    return data


class QualityMetrics(dg.ConfigurableResource, ABC):
    """Where each run's rule metrics and outcomes are published for alarms and dashboards."""

    @abstractmethod
    def publish(
        self,
        source_file: str,
        rule_outcomes: Sequence[Mapping[str, Any]],
        job_cost: Mapping[str, float] | None = None,
    ) -> int:
        """Publish one file's run (and its share of the job run's cost); returns the datums sent."""


class LocalQualityMetrics(QualityMetrics):
    """Appends the datums as JSON lines to a local file (no metrics service on a laptop)."""

    path: str

    def publish(
        self,
        source_file: str,
        rule_outcomes: Sequence[Mapping[str, Any]],
        job_cost: Mapping[str, float] | None = None,
    ) -> int:
        data = run_metric_data(source_file, rule_outcomes, job_cost)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        stamp = now().isoformat()
        with Path(self.path).open("a", encoding="utf-8") as f:
            for datum in data:
                f.write(json.dumps({"timestamp": stamp, **datum}) + "\n")
        return len(data)


class CloudWatchQualityMetrics(QualityMetrics):
    """Amazon CloudWatch ``PutMetricData`` in one namespace for the pipeline."""

    namespace: str = "QualityMovies"
    region_name: str = "us-east-1"
    endpoint_url: str = ""
    batch_size: int = 500
    _client: Any = PrivateAttr(default=None)

    def client(self) -> Any:
        if self._client is None:
            self._client = aws_client("cloudwatch", self.region_name, self.endpoint_url)
        return self._client

    def publish(
        self,
        source_file: str,
        rule_outcomes: Sequence[Mapping[str, Any]],
        job_cost: Mapping[str, float] | None = None,
    ) -> int:
        data = run_metric_data(source_file, rule_outcomes, job_cost)
        stamp = now()
        for start in range(0, len(data), self.batch_size):
            batch = [{**d, "Timestamp": stamp} for d in data[start : start + self.batch_size]]
            self.client().put_metric_data(Namespace=self.namespace, MetricData=batch)
        return len(data)


def metric_store_for(env: Any) -> MetricStore:
    """The deployment's metric store (resource ``metric_store``), or the embedded warehouse's table."""
    store = env.resources().get("metric_store")
    return (
        store if isinstance(store, MetricStore) else DuckDBMetricStore(path=str(env.warehouse_path))
    )
