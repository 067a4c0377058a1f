"""``quality-movies status``: the lake's input files with their state in the ledger, the outputs, the
catalog table and the warehouse's rows.

The local deployment is read straight from its files under the home, without importing Dagster, so
the command answers at once; on AWS it goes through the deployment's resources.
"""

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from quality_movies.bucket_folder import EtagCache, list_folder
from quality_movies.dq.input_format import DELIMITERS, is_input_file

if TYPE_CHECKING:
    from quality_movies.environment import Environment

LEDGER_MAX_ATTEMPTS = 5  # the ledger's default (runs.resources.Ledger.max_attempts)


@dataclass(frozen=True)
class InputFile:
    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class Record:
    """An input key's latest record in the ledger."""

    etag: str
    state: str
    reason: str
    attempts: int = 0
    next_attempt_at: str = ""
    announced: bool = True


class WarehouseProblem(str):
    """Why the warehouse cannot be opened at all (not a lock that passes): ``status`` prints the
    rest, then says it as its error."""


@dataclass(frozen=True)
class View:
    """What ``status`` shows, however it was read."""

    uri: Callable[[str], str]
    input_prefix: str
    input_files: list[InputFile]
    output_counts: dict[str, int]
    ledger: dict[str, Record]
    catalog_name: str
    catalog: tuple[int, str, list[tuple[str, str]]] | None
    """Files, delimiter and columns of the catalog table; None before the first crawl."""
    warehouse_table: str
    row_counts: dict[str, int] | str
    """Rows per source file, or why the warehouse cannot be read now."""
    max_attempts: int
    """Attempts a file failed by its environment gets before it is failed."""


def local_view(env: "Environment") -> View:
    """The local deployment's state from its files: the bucket folder, the ledger's SQLite file, the
    catalog's JSON file and the warehouse's DuckDB file (each read only)."""
    from quality_movies.environment import retry_policy

    s = env.settings
    base = env.lake_root / s.bucket
    etags = EtagCache(env.lake_root / f".{s.bucket}.etags.json")
    inputs = []
    for key, path in list_folder(base, s.input_prefix):
        stat = path.stat()
        inputs.append(InputFile(key, stat.st_size, etags.etag(key, path, stat)))
    etags.keep_only(s.input_prefix, {f.key for f in inputs})
    etags.save()
    outputs = (s.bad_records_prefix, s.rule_outcomes_prefix, s.validated_prefix)
    catalog_path = env.home / "catalog" / s.glue_database / f"{s.glue_table}.json"
    catalog = None
    if catalog_path.exists():
        table = json.loads(catalog_path.read_text())
        columns = [tuple(c) for c in table["columns"]]
        catalog = (len(table["files"]), table.get("delimiter", ","), columns)
    return View(
        uri=lambda key: str(base / key),
        input_prefix=s.input_prefix,
        input_files=inputs,
        output_counts={p: len(list_folder(base, p)) for p in outputs},
        ledger=_ledger_records(env.ledger_path),
        catalog_name=f"{s.glue_database}.{s.glue_table}",
        catalog=catalog,
        warehouse_table=f"{s.warehouse_schema}.{s.warehouse_table}",
        row_counts=_warehouse_rows(env.warehouse_path, f"{s.warehouse_schema}.{s.warehouse_table}"),
        max_attempts=retry_policy(env.environ).get("max_attempts", LEDGER_MAX_ATTEMPTS),
    )


def _ledger_records(path: Path) -> dict[str, Record]:
    if not path.exists():
        return {}
    connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=60)
    try:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(file_versions)")}
        if not columns:
            return {}
        retries = "attempts, next_attempt_at" if "attempts" in columns else "0, ''"
        rows = connection.execute(
            f"SELECT input_key, etag, state, reason, {retries}, announced FROM file_versions"
            " ORDER BY input_key, rowid"
        ).fetchall()
    finally:
        connection.close()
    return {
        key: Record(etag, state, reason, attempts, next_at, bool(announced))
        for key, etag, state, reason, attempts, next_at, announced in rows
    }


def _warehouse_rows(path: Path, table: str) -> dict[str, int] | str:
    if not path.exists():
        return {}
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        first = str(error).splitlines()[0]
        if "lock" in first.lower():
            return f"cannot be read now ({first}); a run may be loading it: try again"
        return WarehouseProblem(
            f"the warehouse {path} cannot be opened ({first}); if it is corrupt, move it aside "
            "and run again to reload every file"
        )
    try:
        rows = con.execute(
            f"SELECT source_file, COUNT(*) FROM {table} GROUP BY source_file ORDER BY source_file"
        ).fetchall()
    except duckdb.CatalogException:
        return {}
    finally:
        con.close()
    return {source: int(n) for source, n in rows}


def deployment_view(env: "Environment") -> View:
    """The state through the deployment's resources (S3, the ledger in the bucket, Glue, Redshift)."""
    resources = env.resources()
    lake, catalog, warehouse = resources["lake"], resources["catalog"], resources["warehouse"]
    ledger = resources["ledger"]
    latest = ledger.latest()
    table = catalog.get_table()
    outputs = (lake.bad_records_prefix, lake.rule_outcomes_prefix, lake.validated_prefix)
    return View(
        uri=lake.uri,
        input_prefix=lake.input_prefix,
        input_files=[InputFile(o.key, o.size, o.etag) for o in lake.input_files()],
        output_counts={p: len(lake.list_objects(p)) for p in outputs},
        ledger={
            k: Record(v.etag, v.state, v.reason, v.attempts, v.next_attempt_at, v.announced)
            for k, v in latest.items()
        },
        catalog_name=f"{catalog.database}.{catalog.table}",
        catalog=None if table is None else (len(table.files), table.delimiter, list(table.columns)),
        warehouse_table=warehouse.qualified_table,
        row_counts=warehouse.row_counts(),
        max_attempts=ledger.max_attempts,
    )


def status_lines(env: "Environment", view: View) -> list[str]:
    lines = [
        f"deployment: {env.deployment}   home: {env.home}",
        f"lake {view.uri(view.input_prefix)}: {len(view.input_files)} file(s)",
    ]
    for obj in view.input_files:
        record = view.ledger.get(obj.key)
        if not is_input_file(obj.key):
            state = "ignored (not .csv or .csv.gz)"
        elif record is None or record.etag != obj.etag:
            state = "pending"
        elif record.state == "retrying":
            state = (
                f"pending (retrying: attempt {record.attempts} of {view.max_attempts} failed, "
                f"next after {record.next_attempt_at}; last error: {record.reason})"
            )
        else:
            state = record.state + (f": {record.reason}" if record.reason else "")
            if record.state != "claimed" and not record.announced:
                state += " (notification not sent yet: the next run sends it)"
        lines.append(f"  {obj.key}  {obj.size} bytes  etag {obj.etag}  {state}")
    for prefix, count in view.output_counts.items():
        lines.append(f"lake {view.uri(prefix)}: {count} object(s)")
    if view.catalog is None:
        lines.append(f"catalog {view.catalog_name}: not crawled yet")
    else:
        files, delimiter, columns = view.catalog
        described = ", ".join(f"{n} {t}" for n, t in columns)
        kind = f"{DELIMITERS.get(delimiter, repr(delimiter))}-delimited"
        lines.append(f"catalog {view.catalog_name} ({files} files, {kind}): {described}")
    if isinstance(view.row_counts, WarehouseProblem):
        pass  # said as the command's error, after these lines
    elif isinstance(view.row_counts, str):
        lines.append(f"warehouse {view.warehouse_table}: {view.row_counts}")
    else:
        lines.append(f"warehouse {view.warehouse_table}: {sum(view.row_counts.values())} rows")
        lines.extend(f"  {source}: {n} rows" for source, n in view.row_counts.items())
    return lines


def status(env: "Environment") -> int:
    """Print the state of ``env``'s deployment."""
    view = local_view(env) if env.deployment == "local" else deployment_view(env)
    print("\n".join(status_lines(env, view)), flush=True)
    if isinstance(view.row_counts, WarehouseProblem):
        raise OSError(str(view.row_counts))
    return 0
