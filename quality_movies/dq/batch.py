"""Evaluate a ruleset over a batch of CSV files in one pass, with per-file results: each file's
outputs are exactly those ``evaluate_file`` writes for it alone.

On DuckDB the files of a batch that share a header are read by one ``read_csv([...])`` with each
row's ``file_index``; dataset-level rules are aggregates grouped by file, row-level rules run per
row, windows (IsUnique...) are partitioned by file, and the outputs are one partitioned COPY per
kind, split into each file's folder. What cannot share that pass runs file by file through
``evaluate_file``: see ``runs_alone`` and docs/dqdl.md. On Spark see ``spark_batch``.
"""

import contextlib
import dataclasses
import re
import shutil
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quality_movies.dq import duckdb_engine
from quality_movies.dq import evaluate as single
from quality_movies.dq.column_types import profile_sql, types_from_profile
from quality_movies.dq.data_files import LocalFiles
from quality_movies.dq.errors import DataQualityError
from quality_movies.dq.history import MetricHistory
from quality_movies.dq.model import Ruleset
from quality_movies.dq.outcomes import EvaluationSummary
from quality_movies.dq.plan import ROW_ID, EvaluationPlan, build_plan
from quality_movies.dq.rules import columns_to_type, quote, referenced_names

# The column holding each row's file: its position in the batch's read (DuckDB's file_index).
FILE_PART = "__dq_part"
# A bigger file runs alone: its own pass streams the CSV where a batch materialises the rows.
BIG_FILE_BYTES = 64 << 20
# The rows one pass materialises: a longer group is split into passes of about this many bytes.
PASS_BYTES = 256 << 20


@dataclass(frozen=True)
class BatchFile:
    """One file of a batch: its CSV, the name results carry (default: the file's name), the folder
    its outputs go to, and ``evaluate_file`` keywords for this file only (``history``, ``files``,
    ``column_types``...), which win over the batch's."""

    path: str | Path
    source_name: str | None
    out_dir: str | Path
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.source_name or Path(self.path).name


@dataclass(frozen=True)
class BatchResult:
    """What one file of a batch gave: its summary, or the error that kept it out (nothing of it
    was written)."""

    source_name: str
    summary: EvaluationSummary | None
    error: DataQualityError | None


HistoryOf = Callable[[BatchFile, Sequence[BatchResult]], MetricHistory | None]
"""A file's metric history, given the results of the files before it in the batch."""


def evaluate_files(
    ruleset: Ruleset,
    files: Sequence[BatchFile],
    *,
    engine: str = "duckdb",
    spark: Any = None,
    history_of: HistoryOf | None = None,
    **common: Any,
) -> list[BatchResult]:
    """Evaluate ``ruleset`` over every file of ``files``; one result per file, in their order.

    ``common`` are ``evaluate_file``'s keywords for every file (a file's ``options`` win; a
    ``files`` listing, which names the file being evaluated, goes in each file's options).
    Dynamic rules and DetectAnomalies read ``history_of(file, earlier results)`` when given (the
    files are decided in batch order, so earlier files of the batch can count), else the
    ``history`` option. ``now`` defaults to one moment for the whole batch. A file that cannot be
    read or evaluated fails alone, with the message ``evaluate_file`` gives for it.
    """
    if engine not in ("duckdb", "spark"):
        raise ValueError(f"engine must be 'duckdb' or 'spark', not {engine!r}")
    if engine == "spark" and spark is None:
        raise ValueError("engine='spark' needs a SparkSession (spark=...)")
    moment = common.get("now") or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    common = {**common, "now": moment}
    if engine == "duckdb":
        passed = _duckdb_pass(ruleset, files, common)
    else:
        from quality_movies.dq.spark_batch import spark_pass

        passed = spark_pass(ruleset, files, common, spark)
    results: list[BatchResult] = []
    try:
        for index, batch_file in enumerate(files):
            options = {**common, **batch_file.options}
            if history_of is not None and "history" not in batch_file.options:
                options["history"] = history_of(batch_file, list(results))
            if index in passed:
                results.append(passed.pop(index).finish(options.get("history")))
            else:
                results.append(_alone(ruleset, batch_file, options, engine, spark))
    finally:
        for unfinished in passed.values():  # the caller's history_of raised: nothing is left
            unfinished.discard()
    return results


def _alone(
    ruleset: Ruleset, batch_file: BatchFile, options: dict[str, Any], engine: str, spark: Any
) -> BatchResult:
    """The file evaluated by itself, its error caught."""
    try:
        summary = single.evaluate_file(
            ruleset,
            batch_file.path,
            batch_file.out_dir,
            engine=engine,
            spark=spark,
            source_name=batch_file.source_name,
            **options,
        )
    except DataQualityError as error:
        return BatchResult(batch_file.name, None, error)
    except OSError as error:
        problem = DataQualityError(f"{batch_file.path}: {error.strerror or error}")
        return BatchResult(batch_file.name, None, problem)
    return BatchResult(batch_file.name, summary, None)


@dataclass
class Evaluated:
    """A file whose rows went through a batch pass: its outputs staged, its values computed; the
    rules are decided in batch order (``finish``), when its history is known."""

    batch_file: BatchFile
    plan: EvaluationPlan
    values: dict[str, Any]
    staging: single.Staging
    created: bool

    def finish(self, history: MetricHistory | None) -> BatchResult:
        """Decide the rules with ``history``, write the rule outcomes, publish the outputs."""
        out_dir = self.staging.out_dir
        published = False
        try:
            outcomes = self.plan.decide_with(history, self.values)
            analyzers = self.plan.analyzer_results(self.values)
            outputs = single.publish_results(
                self.plan.ruleset, outcomes, analyzers, self.staging, out_dir
            )
            published = True
        except OSError as error:
            problem = DataQualityError(
                f"{self.batch_file.path}: writing the outputs failed: {error}"
            )
            return BatchResult(self.batch_file.name, None, problem)
        finally:
            self.discard(published)
        rows_read, bad_rows = int(self.values["__rows_read"]), int(self.values["__bad_rows"] or 0)
        summary = EvaluationSummary(
            source=self.batch_file.name,
            rows_read=rows_read,
            good_rows=rows_read - bad_rows,
            bad_rows=bad_rows,
            rule_outcomes=outcomes,
            outputs=outputs,
            analyzer_results=analyzers,
        )
        return BatchResult(self.batch_file.name, summary, None)

    def discard(self, published: bool = False) -> None:
        """Remove what was staged (and the folder, unless the outputs went into it)."""
        discard_staging(self.staging, self.created and not published)


def runs_alone(ruleset: Ruleset, batch_file: BatchFile) -> bool:
    """Whether the file is evaluated by itself rather than in a batch pass: rulesets reading other
    datasets (reference joins), files given their own references, big files, and files that do not
    exist (``evaluate_file`` says what is wrong with them)."""
    path = Path(batch_file.path)
    if referenced_names(ruleset) or "references" in batch_file.options:
        return True
    return not path.is_file() or not 0 < path.stat().st_size <= BIG_FILE_BYTES


def _duckdb_pass(
    ruleset: Ruleset, files: Sequence[BatchFile], common: Mapping[str, Any]
) -> dict[int, Evaluated]:
    """The files DuckDB evaluated together, by their index in ``files``; the others run alone."""
    groups: dict[tuple, list[int]] = {}
    for index, batch_file in enumerate(files):
        if runs_alone(ruleset, batch_file):
            continue
        path = Path(batch_file.path)
        try:
            header = duckdb_engine.read_header(path)
            columns = duckdb_engine.normalize_column_names(header.names, str(path))
        except DataQualityError:
            continue  # evaluate_file gives the same message
        if {"file_index", FILE_PART, ROW_ID} & set(columns):
            continue  # a column named as the read's own (file_index, the batch's row and file)
        if header.format.kind != "csv":
            continue  # Parquet is read alone
        options = {**common, **batch_file.options}
        writes = (
            bool(options.get("write_good_jsonl")),
            bool(options.get("good_parquet")),
            tuple(options.get("good_projection") or ()),
            options.get("temp_directory"),
        )
        key = (tuple(header.names), header.blank_lines, header.format, writes)
        groups.setdefault(key, []).append(index)
    evaluated: dict[int, Evaluated] = {}
    for indices in [chunk for group in groups.values() for chunk in _by_size(files, group)]:
        while len(indices) > 1:
            members = [files[i] for i in indices]
            try:
                done = _HeaderGroup(ruleset, members, common).run()
            except _UnreadableMember as unreadable:  # it runs alone, which names its problem
                indices = [i for p, i in enumerate(indices) if p != unreadable.position]
                continue
            evaluated.update({indices[position]: found for position, found in done.items()})
            break
    return evaluated


def _by_size(files: Sequence[BatchFile], indices: list[int]) -> list[list[int]]:
    """``indices`` in runs of at most ``PASS_BYTES`` of CSV (a file bigger than that alone)."""
    chunks: list[list[int]] = [[]]
    size = 0
    for index in indices:
        file_size = Path(files[index].path).stat().st_size
        if chunks[-1] and size + file_size > PASS_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(index)
        size += file_size
    return chunks


class _UnreadableMember(Exception):
    """DuckDB could not read this file of the group (a ragged row, bytes that are not UTF-8)."""

    def __init__(self, position: int) -> None:
        self.position = position


_FILE_IN_ERROR = re.compile(r"^\s*file = (.*)$", re.MULTILINE)


class _HeaderGroup:
    """Files with one header (and the same output options), read together into one table."""

    def __init__(
        self, ruleset: Ruleset, files: Sequence[BatchFile], common: Mapping[str, Any]
    ) -> None:
        self.ruleset = ruleset
        self.files = files
        self.options = [{**common, **f.options} for f in files]
        self.token = uuid.uuid4().hex[:12]
        self.header = duckdb_engine.read_header(Path(files[0].path))
        self.columns = duckdb_engine.normalize_column_names(self.header.names, str(files[0].path))

    def run(self) -> dict[int, Evaluated]:
        """Each file's staged outputs and values, by position; a file missing ran into an error
        the batch cannot place and runs alone."""
        stagings = []
        for batch_file in self.files:
            out_dir = Path(batch_file.out_dir)
            created = not out_dir.is_dir()
            out_dir.mkdir(parents=True, exist_ok=True)
            stagings.append((single.Staging(out_dir, self.token), created))
        scratch = stagings[0][0] / "batch"
        spill = self.options[0].get("temp_directory") or str(scratch / "duckdb_spill")
        con = duckdb_engine.connect(temp_directory=spill)
        evaluated: dict[int, Evaluated] = {}
        try:
            try:
                self._read(con)
            except duckdb_engine.duckdb.Error as error:
                named = _FILE_IN_ERROR.search(str(error))
                paths = [str(Path(f.path)) for f in self.files]
                if duckdb_engine.is_input_error(error) and named and named.group(1) in paths:
                    raise _UnreadableMember(paths.index(named.group(1))) from None
                raise
            plans = self._plans(con)
            by_sql: dict[tuple, list[int]] = {}
            for position, plan in enumerate(plans):
                by_sql.setdefault(sql_key(plan, self.base), []).append(position)
            for number, positions in enumerate(by_sql.values()):
                try:
                    values = self._evaluate(con, plans, positions, scratch / str(number), stagings)
                except (duckdb_engine.duckdb.Error, DataQualityError, OSError):
                    for position in positions:
                        stagings[position][0].discard()
                    continue
                for position in positions:
                    staging, created = stagings[position]
                    evaluated[position] = Evaluated(
                        self.files[position], plans[position], values[position], staging, created
                    )
        except (duckdb_engine.duckdb.Error, DataQualityError, OSError):
            pass  # an unreadable row, a where clause failing at run time...: each file alone
        finally:
            con.execute(f"DROP TABLE IF EXISTS {self.table}")
            con.close()
            shutil.rmtree(scratch, ignore_errors=True)
            for position, (staging, created) in enumerate(stagings):
                if position not in evaluated:
                    discard_staging(staging, created)
        return evaluated

    @property
    def table(self) -> str:
        return f"dq_batch_{self.token}"

    @property
    def base(self) -> str:
        return f"dq_batch_base_{self.token}"

    def _read(self, con: Any) -> None:
        """Every file's rows, in input order (rowid), with ``FILE_PART``."""
        names = self.header.names
        select = ", ".join(
            f"{quote(orig)} AS {quote(name)}"
            for orig, name in zip(names, self.columns, strict=True)
        )
        scan = duckdb_engine.csv_scan([Path(f.path) for f in self.files], self.header)
        con.execute("SET preserve_insertion_order = true")
        con.execute(
            f"CREATE TEMP TABLE {self.table} AS SELECT {select}, file_index AS {FILE_PART} "
            f"FROM {scan}"
        )
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {self.base} AS "
            f"SELECT rowid AS {ROW_ID}, * FROM {self.table}"
        )

    def _plans(self, con: Any) -> list[EvaluationPlan]:
        """Each file's plan, its columns typed from its own rows (one profile grouped by file)."""
        wanted = columns_to_type(self.ruleset, self.columns)
        if any(rule.rule_type == "SchemaMatch" for rule in self.ruleset.leaves):
            wanted = list(self.columns)
        profiles: dict[int, dict[str, Any]] = {}
        if wanted:
            sql = profile_sql(wanted, self.table)
            cursor = con.execute(f"SELECT {FILE_PART}, {sql.removeprefix('SELECT ')} GROUP BY 1")
            names = [d[0] for d in cursor.description]
            for row in cursor.fetchall():
                profiles[row[0]] = dict(zip(names, row, strict=True))
        errors: dict[str, str | None] = {}

        def error_of(sql: str) -> str | None:
            if sql not in errors:
                try:
                    con.execute(sql).fetchall()
                    errors[sql] = None
                except duckdb_engine.duckdb.Error as error:
                    errors[sql] = duckdb_engine.first_line(str(error))
            return errors[sql]

        plans = []
        for position, (batch_file, options) in enumerate(
            zip(self.files, self.options, strict=True)
        ):
            types = dict(options.get("column_types") or {})
            if wanted:
                # a file without rows profiles as no values (counts are NULL)
                profile = profiles.get(position) or defaultdict(lambda: None)
                inferred = types_from_profile(wanted, profile)
                types.update({c: t for c, t in inferred.items() if c not in types})
            plan = build_plan(
                self.ruleset,
                self.columns,
                now=options["now"],
                column_types=types,
                references={},
                files=options.get("files") or LocalFiles(Path(batch_file.path)),
            )
            plan.isolate_where_failures(self.base, error_of)
            plans.append(plan)
        return plans

    def _evaluate(
        self,
        con: Any,
        plans: Sequence[EvaluationPlan],
        positions: Sequence[int],
        parts_dir: Path,
        stagings: Sequence[tuple[single.Staging, bool]],
    ) -> dict[int, dict[str, Any]]:
        """One pass for files whose plans are the same SQL: each file's aggregate, scalar and
        first values, and its outputs written into its staging names."""
        plan = plans[positions[0]]
        stage = f"dq_batch_stage_{self.token}_{parts_dir.name}"
        stage_sql = per_file_windows(plan.stage_sql(self.base))
        if any(leaf.join for leaf in plan.leaves) or stage_sql is None:
            raise DataQualityError("joined rules run file by file")
        con.execute(f"CREATE OR REPLACE TEMP VIEW {stage} AS {stage_sql}")
        errors: dict[str, str | None] = {}

        def error_of(sql: str) -> str | None:
            if sql not in errors:
                try:
                    con.execute(sql).fetchall()
                    errors[sql] = None
                except duckdb_engine.duckdb.Error as error:
                    errors[sql] = duckdb_engine.first_line(str(error))
            return errors[sql]

        for position in positions:
            plans[position].isolate_query_failures(stage, error_of)
        cursor = con.execute(plan.aggregate_sql(stage, group_by=FILE_PART))
        names = [d[0] for d in cursor.description][1:]
        found = {row[0]: dict(zip(names, row[1:], strict=True)) for row in cursor.fetchall()}
        for position in positions:
            if position not in found:  # a file without rows: the aggregates of no rows
                empty = f"(SELECT * FROM {stage} WHERE FALSE) AS no_rows"
                row = con.execute(plan.aggregate_sql(empty)).fetchone()
                found[position] = dict(zip(names, row, strict=True))
        values = {position: dict(found[position]) for position in positions}
        if any(leaf.scalar_queries for leaf in plan.leaves):
            for position in positions:
                piece = f"dq_batch_file_{self.token}_{position}"
                con.execute(
                    f"CREATE OR REPLACE TEMP VIEW {piece} AS SELECT * EXCLUDE ({ROW_ID}, "
                    f"{FILE_PART}) FROM {stage} WHERE {FILE_PART} = {position}"
                )

                def scalar(query: str) -> object:
                    row = con.execute(query).fetchone()
                    return row[0] if row else None

                values[position].update(
                    plans[position].run_scalar_queries(piece, scalar, duckdb_engine.duckdb.Error)
                )
        self._first_values(con, plans, positions, stage, values)
        self._write(con, plan, positions, stage, parts_dir, stagings)
        return values

    def _first_values(
        self,
        con: Any,
        plans: Sequence[EvaluationPlan],
        positions: Sequence[int],
        stage: str,
        values: dict[int, dict[str, Any]],
    ) -> None:
        """The first values each file's aggregates show it needs, all files in one pass."""
        needed = {
            position: [
                alias
                for leaf in plans[position].leaves
                for alias, first in leaf.first_values.items()
                if first.needed(values[position])
            ]
            for position in positions
        }
        aliases = sorted({alias for names in needed.values() for alias in names})
        if not aliases:
            return
        wanted = ", ".join(str(p) for p, names in needed.items() if names)
        relation = f"(SELECT * FROM {stage} WHERE {FILE_PART} IN ({wanted})) AS needing"
        sql = plans[positions[0]].grouped_first_values_sql(relation, aliases, FILE_PART, ROW_ID)
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description][1:]
        for row in cursor.fetchall():
            firsts = dict(zip(names, row[1:], strict=True))
            values[row[0]].update({alias: firsts[alias] for alias in needed[row[0]]})

    def _write(
        self,
        con: Any,
        plan: EvaluationPlan,
        positions: Sequence[int],
        stage: str,
        parts_dir: Path,
        stagings: Sequence[tuple[single.Staging, bool]],
    ) -> None:
        """The bad (and good) rows of every file, one partitioned COPY per output, moved into each
        file's staging names."""
        options = self.options[positions[0]]
        parted = dataclasses.replace(plan, columns=[*plan.columns, FILE_PART])
        good_sql = parted.good_rows_sql(stage)
        outputs = [(single.BAD_RECORDS_FILE, parted.bad_rows_sql(stage, list_masks=True), "JSON")]
        if options.get("write_good_jsonl"):
            outputs.append((single.GOOD_RECORDS_FILE, good_sql, "JSON"))
        if options.get("good_parquet"):
            projection = [*(options.get("good_projection") or map(quote, plan.columns))]
            # a star would select the partition column twice
            projection = [f"* EXCLUDE ({FILE_PART})" if p == "*" else p for p in projection]
            select = ", ".join([*projection, FILE_PART])
            outputs.append(
                (single.GOOD_PARQUET_FILE, f"SELECT {select} FROM ({good_sql}) AS good", "PARQUET")
            )
        parts_dir.mkdir(parents=True, exist_ok=True)
        con.execute("SET preserve_insertion_order = false")
        try:
            for name, sql, file_format in outputs:
                target = parts_dir / name
                con.execute(
                    f"COPY ({sql}) TO {duckdb_engine.sql_string(str(target))} "
                    f"(FORMAT {file_format}, PARTITION_BY ({FILE_PART}))"
                )
                for position in positions:
                    pieces = sorted((target / f"{FILE_PART}={position}").glob("*"))
                    destination = stagings[position][0] / name
                    _gather(con, pieces, destination, file_format, sql)
        finally:
            con.execute("SET preserve_insertion_order = true")


def discard_staging(staging: single.Staging, created: bool) -> None:
    """Remove what was staged, and the output folder when it was made for this run."""
    staging.discard()
    if created:
        with contextlib.suppress(OSError):
            staging.out_dir.rmdir()  # only when empty: another run's outputs stay


def _gather(
    con: Any, pieces: Sequence[Path], destination: Path, file_format: str, sql: str
) -> None:
    """Make ``destination`` the file's part of a partitioned COPY (``pieces``: none, one, or
    several files); no piece is an empty output, as a COPY of no rows writes."""
    if len(pieces) == 1:
        shutil.move(pieces[0], destination)
    elif file_format == "JSON":
        with destination.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as part:
                    shutil.copyfileobj(part, out)
    else:
        read = ", ".join(duckdb_engine.sql_string(str(piece)) for piece in pieces)
        select = (
            f"SELECT * FROM read_parquet([{read}], hive_partitioning = false)"
            if pieces
            else f"SELECT * EXCLUDE ({FILE_PART}) FROM ({sql}) AS no_rows LIMIT 0"
        )
        con.execute(
            f"COPY ({select}) TO {duckdb_engine.sql_string(str(destination))} (FORMAT PARQUET)"
        )


_WINDOW = re.compile(r"\bOVER\s*\(", re.IGNORECASE)


def per_file_windows(sql: str) -> str | None:
    """``sql`` with each window partitioned by file as well; None when one cannot be."""
    pieces = _WINDOW.split(sql)
    rewritten = [pieces[0]]
    for piece in pieces[1:]:
        inner = piece.lstrip()
        if inner.upper().startswith("PARTITION BY "):
            rewritten.append(f"OVER (PARTITION BY {FILE_PART}, {inner[len('PARTITION BY ') :]}")
        elif inner.startswith(")"):
            rewritten.append(f"OVER (PARTITION BY {FILE_PART}{inner}")
        else:
            return None
    return "".join(rewritten)


def sql_key(plan: EvaluationPlan, base: str) -> tuple:
    """What a plan runs: files whose plans run the same SQL share one pass."""
    firsts = [
        (alias, first.value, first.condition)
        for leaf in plan.leaves
        for alias, first in leaf.first_values.items()
    ]
    scalars = [sorted(leaf.scalar_queries.items()) for leaf in plan.leaves]
    return (
        plan.stage_sql(base),
        plan.aggregate_sql("s"),
        plan.good_rows_sql("s"),
        plan.bad_rows_sql("s", list_masks=True),
        repr(firsts),
        repr(scalars),
    )
