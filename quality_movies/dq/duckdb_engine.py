"""DuckDB backend: rules run as SQL over the CSV scanned in place; outputs are COPYed to files.

Outputs are written in no particular row order (as Glue's part files are): keeping the input order
costs DuckDB an ordered writer, about a third more time on the bad-rows file. Rule outcomes, and the
first failing value each names, still follow input order.
"""

import csv
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from quality_movies.dq import column_types as crawler
from quality_movies.dq import model
from quality_movies.dq.data_files import FileListing
from quality_movies.dq.datasets import References, resolve_references
from quality_movies.dq.errors import DataQualityError, UnreadableInputError
from quality_movies.dq.history import MetricHistory
from quality_movies.dq.input_format import InputFormat, detect_file_format, open_text
from quality_movies.dq.outcomes import AnalyzerResult, RuleOutcome
from quality_movies.dq.plan import ROW_ID, EvaluationPlan, build_plan, first_line
from quality_movies.dq.rules import Reference, columns_to_type, quote, sql_string


def normalize_column_names(names: Sequence[str], source: str) -> list[str]:
    """Lower-case and trim header names as the Glue crawler does; duplicates are an input error."""
    normalized = [name.strip().lower() for name in names]
    seen: set[str] = set()
    for original, name in zip(names, normalized, strict=True):
        if not name:
            raise UnreadableInputError(
                f"{source}: the header has an empty column name; name every column and run again."
            )
        if name in seen:
            raise UnreadableInputError(
                f"{source}: header column '{original}' repeats '{name}' once names are lower-cased"
            )
        seen.add(name)
    return normalized


# DuckDB's default maximum line size, the smallest read buffer that still reads every line.
HEAD_BUFFER_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class CsvHeader:
    """A CSV's header row: its names, and the blank lines above it (readers skip them)."""

    names: list[str]
    blank_lines: int = 0
    format: InputFormat = InputFormat()


def csv_scan(path: Path | Sequence[Path], header: CsvHeader, buffer_size: int | None = None) -> str:
    """``read_csv`` of the file (or of several with this header) as strings, its ``header`` known
    (nothing sniffed)."""
    if isinstance(path, Path):
        files = sql_string(str(path))
    else:
        files = f"[{', '.join(sql_string(str(p)) for p in path)}]"
    columns = ", ".join(f"{sql_string(name)}: 'VARCHAR'" for name in header.names)
    options = f", skip = {header.blank_lines}" if header.blank_lines else ""
    options += f", buffer_size = {buffer_size}" if buffer_size else ""
    options += ", compression = 'gzip'" if header.format.gzip else ""
    return (
        f"read_csv({files}, header = true, "
        f"delim = {sql_string(header.format.delimiter)}, quote = '\"', "
        f"escape = '\"', columns = {{{columns}}}, auto_detect = false{options})"
    )


def shared_connection(temp_directory: str | None = None) -> duckdb.DuckDBPyConnection:
    """A connection (a cursor) to the process's one in-memory DuckDB, spilling to
    ``temp_directory``: it opens in about 0.1 ms where a new database takes about 11 ms, which
    counts in batches of many small files. What a user creates in it should be TEMP (gone when the
    connection closes). DuckDB cannot move a database's spill folder once it has spilled, so after
    a spill the next connection asking for another folder gets a new database."""
    con = _database().cursor()
    if temp_directory:
        try:
            con.execute(f"SET temp_directory = {sql_string(temp_directory)}")
        except duckdb.NotImplementedException:
            con.close()
            _database.cache_clear()
            con = _database().cursor()
            con.execute(f"SET temp_directory = {sql_string(temp_directory)}")
    return con


def connect(
    temp_directory: str | None = None, memory_limit: str = "1GB"
) -> duckdb.DuckDBPyConnection:
    """The engine's connection: ``shared_connection`` with its settings (everything the engine
    creates is TEMP)."""
    con = shared_connection(temp_directory)
    con.execute(f"SET memory_limit = {sql_string(memory_limit)}")
    # DuckDB draws a progress bar on the terminal for statements over 2 s: not the engine's to show.
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = true")
    # The IN-list rewrite turns `col IN (...)` into a hash join, which loses the input order.
    con.execute("SET disabled_optimizers = 'in_clause'")
    return con


@cache
def _database() -> duckdb.DuckDBPyConnection:
    """The process's in-memory DuckDB (see ``shared_connection``)."""
    return duckdb.connect(":memory:")


def read_csv_duckdb(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    table: str = "dq_input",
    *,
    materialize: bool = True,
    head_table: str | None = None,
) -> list[str]:
    """Expose the CSV (or Parquet file: ``input_format``) as ``table`` (all strings, lower-cased
    names); returns the column names.

    ``materialize`` loads it into a temp table; otherwise ``table`` is a view that re-reads the file
    in input order at each use, which is cheaper than materialising when it is scanned a few times
    (a row the view cannot read fails the query reading it: see ``is_input_error``). ``head_table``
    names a second view of the same rows read in 2 MB buffers instead of DuckDB's 32 MB, for
    queries that stop at the first rows they find (``evaluate_duckdb``'s first failing values).
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableInputError(f"{path}: no such data file")
    if path.stat().st_size == 0:
        raise UnreadableInputError(f"{path}: the file is empty; expected a CSV header row")
    fmt = detect_file_format(path)
    kind = "TABLE" if materialize else "VIEW"
    if fmt.kind == "parquet":
        return _read_parquet(con, path, table, kind)
    header = read_header(path, fmt)
    columns = normalize_column_names(header.names, str(path))
    try:
        select = ", ".join(
            f"{quote(orig)} AS {quote(name)}"
            for orig, name in zip(header.names, columns, strict=True)
        )
        con.execute(
            f"CREATE OR REPLACE TEMP {kind} {table} AS SELECT {select} FROM {csv_scan(path, header)}"
        )
        if head_table:
            scan = csv_scan(path, header, HEAD_BUFFER_BYTES)
            con.execute(f"CREATE OR REPLACE TEMP VIEW {head_table} AS SELECT {select} FROM {scan}")
    except duckdb.Error as error:
        raise _unreadable(path, error) from None
    return columns


MAX_HEADER_BYTES = 1 << 20
_LINE_BREAK = re.compile(rb"\r\n|\n|\r")


def _read_parquet(con: duckdb.DuckDBPyConnection, path: Path, table: str, kind: str) -> list[str]:
    """A Parquet file as ``table``: its columns as text, with lower-cased names."""
    scan = f"read_parquet({sql_string(str(path))})"
    try:
        header = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()]
        columns = normalize_column_names(header, str(path))
        select = ", ".join(
            f"CAST({quote(o)} AS VARCHAR) AS {quote(c)}"
            for o, c in zip(header, columns, strict=True)
        )
        con.execute(f"CREATE OR REPLACE TEMP {kind} {table} AS SELECT {select} FROM {scan}")
    except duckdb.Error as error:
        raise UnreadableInputError(
            f"{path}: cannot read as Parquet: {first_line(str(error))}"
        ) from None
    return columns


def read_header(path: Path, fmt: InputFormat | None = None) -> CsvHeader:
    """The CSV's header row (``fmt``'s delimiter, double quotes, UTF-8; blank lines above it
    skipped, as readers do): its column count is what every row must have. Read here rather than
    sniffed by DuckDB, whose sniffer fails on a whole small file for one short row, without its
    line."""
    fmt = fmt or detect_file_format(path)
    with open_text(path, fmt) as raw:
        return parse_header(raw.read(MAX_HEADER_BYTES), path, fmt)


def parse_header(read: bytes, path: str | Path, fmt: InputFormat | None = None) -> CsvHeader:
    """``read_header`` of the file ``path`` from its first ``MAX_HEADER_BYTES`` (or all its bytes,
    when shorter, uncompressed), e.g. a ranged GET of an S3 object; errors name ``path``."""
    fmt = fmt or InputFormat()
    head = read.removeprefix(b"\xef\xbb\xbf")
    blank_ends = []
    while blank := _LINE_BREAK.match(head):
        blank_ends.append(blank.group())
        head = head[blank.end() :]
    breaks = _LINE_BREAK.finditer(head)  # \n, \r\n or \r, as DuckDB reads them
    end = next((b for b in breaks if head.count(b'"', 0, b.start()) % 2 == 0), None)  # unquoted
    if end is None and len(read) == MAX_HEADER_BYTES:
        raise UnreadableInputError(
            f"{path}: the first line is longer than 1 MB; expected a CSV header row"
        )
    if blank_ends and (end is None or set(blank_ends) != {end.group()}):
        # DuckDB counts the lines it skips by the header's line end: mixed ends lose rows
        raise UnreadableInputError(
            f"{path}: the blank lines above the header end differently from it; remove them "
            "and run again."
        )
    try:
        text = head[: end.start() if end else len(head)].decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableInputError(
            f"{path}: line {len(blank_ends) + 1} is not UTF-8 text; save the file as UTF-8 and "
            "run again."
        ) from None
    try:
        names = next(csv.reader([text], delimiter=fmt.delimiter, strict=True), [])
    except csv.Error as error:
        raise UnreadableInputError(f"{path}: the header row is not valid CSV ({error})") from None
    if not names:  # a byte-order mark alone
        raise UnreadableInputError(f"{path}: the file has no header row; expected column names")
    return CsvHeader(names, len(blank_ends), fmt)


def _csv_problem(message: str) -> str:
    """DuckDB's CSV error in a line a person can act on (its reader options left out)."""
    line = re.search(r"CSV Error on Line: (\d+)", message)
    where = f"line {line.group(1)}" if line else "the file"
    if "not utf-8 encoded" in message.lower():
        return f"{where} is not UTF-8 text; save the file as UTF-8 and run again."
    fields = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
    if fields:  # DuckDB stops counting one past the header's number
        expected, found = int(fields.group(1)), int(fields.group(2))
        count = (
            f"{found} fields where the header has {expected}"
            if found < expected
            else f"more fields than the header's {expected}"
        )
        return f"{where} has {count}; fix that row (a value holding commas goes in double quotes) and run again."
    reason = re.search(r"\n\n([^\n]+)\n\nPossible fixes:", message)  # DuckDB's own sentence
    detail = reason.group(1).strip().rstrip(".") if reason else first_line(message)
    return f"{where} cannot be read as CSV ({detail}); fix it and run again."


# Raised by the outputs' COPY when a row makes an aggregate the row counts cannot give non-zero.
COUNT_GUARD = "quality_movies: the row counts do not give every metric"


@dataclass(frozen=True)
class Outputs:
    """The files an evaluation writes: the bad rows as JSON lines; the good rows as JSON lines
    and/or Parquet (``good_projection``: its select list, default the input columns)."""

    bad_jsonl: Path
    good_jsonl: Path | None = None
    good_parquet: Path | None = None
    good_projection: Sequence[str] | None = None


def write_outputs(
    con: duckdb.DuckDBPyConnection,
    outputs: Outputs,
    good_sql: str,
    bad_sql: str,
    columns: Sequence[str],
) -> tuple[int | None, int]:
    """COPY the rows to ``outputs`` with DuckDB's parallel writer, in no particular order; returns
    the good rows written (None: none asked) and the bad."""
    con.execute("SET preserve_insertion_order = false")
    try:
        bad = _copy(con, bad_sql, outputs.bad_jsonl, "JSON")
        good = None
        if outputs.good_jsonl:
            good = _copy(con, good_sql, outputs.good_jsonl, "JSON")
        if outputs.good_parquet:
            select = outputs.good_projection or [quote(c) for c in columns]
            good = _copy(
                con,
                f"SELECT {', '.join(select)} FROM ({good_sql}) AS good",
                outputs.good_parquet,
                "PARQUET",
            )
    finally:
        con.execute("SET preserve_insertion_order = true")
    return good, bad


def output_error(data_path: str | Path, error: duckdb.Error) -> DataQualityError:
    """The error of a failed COPY: the data file's own problem when DuckDB could not read it."""
    if is_input_error(error):
        return _unreadable(data_path, error)
    return DataQualityError(f"{data_path}: writing the outputs failed: {first_line(str(error))}")


def is_input_error(error: duckdb.Error) -> bool:
    """Whether DuckDB failed reading the CSV itself (a ragged row, bytes that are not UTF-8)."""
    message = str(error)
    return "CSV Error" in message or "not utf-8 encoded" in message.lower()


def _unreadable(source: str | Path, error: duckdb.Error) -> UnreadableInputError:
    """An ``is_input_error`` in a line a person can act on, naming the file ``source``."""
    return UnreadableInputError(f"{source}: {_csv_problem(str(error))}")


@contextmanager
def _evaluating(ruleset_source: str) -> Iterator[None]:
    """SQL the database rejects while the rules are evaluated is a DataQualityError; a read error
    of the data file goes on to the caller, which names the file (``output_error``)."""
    try:
        yield
    except duckdb.Error as error:
        if is_input_error(error):
            raise
        raise DataQualityError(f"{ruleset_source}: evaluating the rules failed: {error}") from None


@dataclass
class DuckDBEvaluation:
    """Rule outcomes plus SQL selecting the good and the bad rows (each in no set order) from ``con``."""

    plan: EvaluationPlan
    good_sql: str
    bad_sql: str
    rule_outcomes: list[RuleOutcome]
    analyzer_results: list[AnalyzerResult]
    rows_read: int
    good_rows: int
    bad_rows: int


def evaluate_duckdb(
    ruleset: model.Ruleset,
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    now: datetime | None = None,
    column_types: Mapping[str, str] | None = None,
    history: MetricHistory | None = None,
    references: References | None = None,
    files: FileListing | None = None,
    outputs: Outputs | None = None,
    head_table: str | None = None,
) -> DuckDBEvaluation:
    """Evaluate ``ruleset`` over ``table`` (string columns) in ``con``; the row SQL stays lazy
    unless ``outputs`` asks for the rows to be written.

    ``table`` is a table or a view yielding rows in input order. When the row SQL would lose that
    order (windows for IsUnique..., joins from subqueries), the rows are numbered instead (a view
    is materialised first) and the first-value queries sort by that number; else they read
    ``head_table`` when given (the same rows, see ``read_csv_duckdb``). Columns that where
    clauses and CustomSql read are typed as ``column_types`` says (e.g. the catalog's), else as the
    Glue crawler would type them from this data. A rule whose SQL the database rejects is Failed.
    ``references`` gives the other datasets the rules name (alias or dataset name -> CSV/Parquet).

    With ``outputs`` (good rows included), a ruleset whose metrics follow from the good and bad row
    counts (one row-level rule, see ``EvaluationPlan.counted_leaf``) is decided from what the two
    COPYs write, without an aggregate pass over the data. A duckdb.Error raised from here is a
    failure to read the data file (``is_input_error``, wherever in the file it is) or to write the
    outputs (``output_error`` names the file); rules that cannot be evaluated raise DataQualityError.
    """
    locations = resolve_references(ruleset, references)
    columns = [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]
    suffix = uuid.uuid4().hex[:8]
    base, stage = f"dq_base_{suffix}", f"dq_stage_{suffix}"

    def error_of(sql: str) -> str | None:
        try:
            con.execute(sql).fetchall()
        except duckdb.Error as error:
            return first_line(str(error))
        return None

    with _evaluating(ruleset.source):
        types = infer_column_types(con, table, columns_to_type(ruleset, columns), column_types)
        if any(rule.rule_type == "SchemaMatch" for rule in ruleset.leaves):
            types = infer_column_types(con, table, columns, types)
        loaded = load_references(con, locations, suffix)
        plan = build_plan(
            ruleset,
            columns,
            now=now,
            column_types=types,
            history=history,
            references=loaded,
            files=files,
        )
        con.execute(f"CREATE TEMP VIEW {base} AS SELECT * FROM {table}")
        plan.isolate_where_failures(base, error_of)
        con.execute(f"CREATE TEMP VIEW {stage} AS {plan.stage_sql(base)}")
        plan.isolate_query_failures(stage, error_of)
        # the bad rows' query has every operator the good rows' has (the same predicates, negated)
        order_query = plan.bad_rows_sql(stage, list_masks=True)
        # the plan follows from this SQL (under it, ``table`` keeps input order): the next file
        # of a batch with the same SQL needs no new EXPLAIN; reference views differ per file
        same_sql = (table, plan.stage_sql(base), order_query)
        memo_key = None if loaded else tuple(sql.replace(suffix, "") for sql in same_sql)
        con.execute("SET preserve_insertion_order = true")  # as the outputs' COPYs leave it
        numbered = not _keeps_input_order(con, order_query, memo_key)
        if numbered:
            if not _has_rowid(con, table):
                numbered_table = f"dq_rows_{suffix}"
                con.execute(f"CREATE TEMP TABLE {numbered_table} AS SELECT * FROM {table}")
                table = numbered_table
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {base} AS SELECT rowid AS {ROW_ID}, * FROM {table}"
            )
            con.execute(f"CREATE OR REPLACE TEMP VIEW {stage} AS {plan.stage_sql(base)}")
    values = None
    if outputs is not None and (outputs.good_jsonl or outputs.good_parquet):
        values = _values_from_outputs(con, plan, stage, outputs, columns)
    written = values is not None
    with _evaluating(ruleset.source):
        if values is None:
            values = _aggregate(con, plan, base, stage, error_of)
        values.update(
            plan.run_scalar_queries(stage, lambda query: _scalar(con, query), duckdb.Error)
        )
        if numbered:
            first_values = plan.first_value_queries(stage, values, ROW_ID)
        elif head_table:
            first_values = plan.first_value_queries(
                f"({plan.stage_sql(head_table)}) AS head", values
            )
        else:
            first_values = plan.first_value_queries(stage, values)
        for alias, query in first_values.items():
            found = con.execute(query).fetchone()
            values[alias] = found[0] if found else None
    outcomes = plan.decide(values)
    rows_read, bad_rows = int(values["__rows_read"]), int(values["__bad_rows"] or 0)
    good_sql, bad_sql = plan.good_rows_sql(stage), plan.bad_rows_sql(stage, list_masks=True)
    if outputs is not None and not written:
        write_outputs(con, outputs, good_sql, bad_sql, columns)
    return DuckDBEvaluation(
        plan=plan,
        good_sql=good_sql,
        bad_sql=bad_sql,
        rule_outcomes=outcomes,
        analyzer_results=plan.analyzer_results(values),
        rows_read=rows_read,
        good_rows=rows_read - bad_rows,
        bad_rows=bad_rows,
    )


def _values_from_outputs(
    con: duckdb.DuckDBPyConnection,
    plan: EvaluationPlan,
    stage: str,
    outputs: Outputs,
    columns: Sequence[str],
) -> dict[str, Any] | None:
    """Write the outputs and take the counted leaf's aggregates from the rows each COPY wrote.

    None when the plan's aggregates do not follow from the counts, or when a row met one of the
    conditions the counts cannot show (an unreadable number...): the COPY stops at that row and the
    caller runs the aggregate pass and writes the outputs again.
    """
    if plan.counted_leaf() is None:
        return None
    guard = plan.count_guard(COUNT_GUARD)
    good_sql = plan.good_rows_sql(stage, guard=guard)
    bad_sql = plan.bad_rows_sql(stage, list_masks=True, guard=guard)
    try:
        good, bad = write_outputs(con, outputs, good_sql, bad_sql, columns)
    except duckdb.Error as error:
        if COUNT_GUARD in str(error):
            return None
        raise
    assert good is not None, "the row counts need the good rows written"
    return plan.counted_values(good + bad, bad)


def _aggregate(
    con: duckdb.DuckDBPyConnection,
    plan: EvaluationPlan,
    base: str,
    stage: str,
    error_of: Callable[[str], str | None],
) -> dict[str, Any]:
    """Every leaf's aggregates and the row counts, in one pass over ``stage``."""
    try:
        cursor = con.execute(plan.aggregate_sql(stage))
    except duckdb.Error:
        # A where clause or CustomSql that fails on some value (an explicit CAST...): find it,
        # make it a Failed rule, and run the others again.
        if not plan.isolate_runtime_failures(base, error_of):
            raise
        con.execute(f"CREATE OR REPLACE TEMP VIEW {stage} AS {plan.stage_sql(base)}")
        cursor = con.execute(plan.aggregate_sql(stage))
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def infer_column_types(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    known: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``known`` types plus the crawler's type of each other column in ``columns`` (one scan)."""
    types = dict(known or {})
    unknown = [column for column in columns if column not in types]
    if unknown:
        cursor = con.execute(crawler.profile_sql(unknown, table))
        row = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
        types.update(crawler.types_from_profile(unknown, row))
    return types


def load_references(
    con: duckdb.DuckDBPyConnection, locations: Mapping[str, str], suffix: str
) -> dict[str, Reference]:
    """Each reference dataset as a view of text columns (lower-cased names), with crawler types."""
    loaded = {}
    for i, (name, location) in enumerate(locations.items()):
        view = f"dq_ref{i}_{suffix}"
        columns = read_csv_duckdb(con, location, view, materialize=False)
        try:  # one scan of the whole dataset: a row it cannot read is named here, with its file
            types = infer_column_types(con, view, columns)
        except duckdb.Error as error:
            if is_input_error(error):
                raise _unreadable(location, error) from None
            raise
        loaded[name] = Reference(name, view, columns, types)
    return loaded


def _scalar(con: duckdb.DuckDBPyConnection, query: str) -> object:
    row = con.execute(query).fetchone()
    return row[0] if row else None


MAX_ORDER_ANSWERS = 64
_order_answers: dict[tuple[str, ...], bool] = {}  # the last answers, by the SQL they were for


def _keeps_input_order(
    con: duckdb.DuckDBPyConnection,
    query: str,
    memo_key: tuple[str, ...] | None = None,
) -> bool:
    """True when DuckDB will return the query's rows in input order without sorting.

    With ``preserve_insertion_order`` on (the caller sets it), that is a plan without
    order-losing operators (joins, which an IN-list or subquery becomes, and windows, which
    IsUnique and friends use). Planning costs about 3 ms, as much as evaluating a small file's
    rules: with ``memo_key`` (the SQL the plan follows from), the answer is remembered for the
    next file of a batch.
    """
    if memo_key is not None and memo_key in _order_answers:
        return _order_answers[memo_key]
    kept = not _loses_order(con, query)
    if memo_key is not None:
        if len(_order_answers) >= MAX_ORDER_ANSWERS:
            _order_answers.pop(next(iter(_order_answers)))
        _order_answers[memo_key] = kept
    return kept


def _loses_order(con: duckdb.DuckDBPyConnection, query: str) -> bool:
    """Whether the query's plan has an operator that can return rows out of input order."""
    plans = " ".join(row[1] for row in con.execute(f"EXPLAIN {query}").fetchall())
    return any(word in plans.upper() for word in ("JOIN", "CROSS", "WINDOW", "ORDER"))


def _has_rowid(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    try:
        con.execute(f"SELECT rowid FROM {table} LIMIT 0")
    except duckdb.Error:
        return False
    return True


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: Path, file_format: str) -> int:
    """COPY ``query`` to ``path`` (JSON: one object per row, nulls kept); returns the rows written."""
    return int(
        con.execute(f"COPY ({query}) TO {sql_string(str(path))} (FORMAT {file_format})").fetchone()[
            0
        ]
    )
