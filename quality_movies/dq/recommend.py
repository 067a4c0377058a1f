"""A starting DQDL ruleset from the data, as Glue Data Quality's recommendation runs and Deequ's constraint
suggestions make one: completeness, uniqueness, ranges of numeric columns, value sets of columns with few
values, lengths of text columns, types and the row count's range. Each rule is preceded by a ``#`` comment
with the statistic it came from.

The data are profiled in one pass (one aggregate query over the file, on DuckDB or Spark). The rules are
meant to pass on the data they came from and no looser than that: a range is the observed minimum and
maximum (``between`` is exclusive, so one step beyond each), a value set the observed values.
"""

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from quality_movies.dq.column_types import (
    BIGINT,
    DOUBLE,
    ColumnProfile,
    crawler_type,
)
from quality_movies.dq.errors import DataQualityError
from quality_movies.dq.model import dqdl_string
from quality_movies.dq.rules.base import quote

# At most so many distinct values, each seen twice on average: recommend the value set.
LOW_CARDINALITY = 10
_TOP = LOW_CARDINALITY + 1
_LARGEST = 1.7976931348623157e308


@dataclass(frozen=True)
class ColumnStats:
    """One column's profile: counts, distinct values, numeric range and decimals, text lengths."""

    name: str
    present: int
    distinct: int
    integers: int
    numbers: int
    minimum: float | None
    maximum: float | None
    decimals: int
    shortest: int
    longest: int
    values: tuple[str, ...]

    @property
    def crawler_type(self) -> str:
        # booleans are not counted: a recommendation only asks whether a column is numeric
        return crawler_type(ColumnProfile(self.present, self.integers, self.numbers, 0))


@dataclass(frozen=True)
class Profile:
    source: str
    rows: int
    columns: list[ColumnStats]


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def profile_sql(columns: list[str], relation: str) -> str:
    """One DuckDB-dialect aggregate query over ``relation`` (text columns, blank = NULL) profiling
    every column (``profile_spark`` transpiles it). Each value is cast once, in inner projections: a
    number when it casts to a finite one without digit separators, a whole number when it also has no
    point or exponent (the crawler's readings, without a regular expression per value)."""
    cast, read, parts = [], [], ["COUNT(*) AS rows_"]
    for i, column in enumerate(columns):
        raw = quote(column)
        cast += [f"{raw} AS v{i}", f"TRY_CAST({raw} AS DOUBLE) AS d{i}"]
        # NaN sorts above every number on both engines, so BETWEEN keeps the finite numbers only
        read += [
            f"v{i}",
            f"CASE WHEN d{i} BETWEEN {-_LARGEST} AND {_LARGEST} AND strpos(v{i}, '_') = 0 "
            f"THEN d{i} END AS n{i}",
            f"strpos(v{i}, '.') AS p{i}",
            f"LENGTH(v{i}) AS l{i}",
        ]
        v, n, p, ln = f"v{i}", f"n{i}", f"p{i}", f"l{i}"
        whole = f"{n} IS NOT NULL AND {p} = 0 AND strpos({v}, 'e') = 0 AND strpos({v}, 'E') = 0"
        parts += [
            f"COUNT({v}) AS present_{i}",
            f"COUNT(DISTINCT {v}) AS distinct_{i}",
            f"SUM(CASE WHEN {whole} THEN 1 ELSE 0 END) AS integers_{i}",
            f"COUNT({n}) AS numbers_{i}",
            f"MIN({n}) AS minimum_{i}",
            f"MAX({n}) AS maximum_{i}",
            f"MAX(CASE WHEN {n} IS NOT NULL AND {p} > 0 THEN {ln} - {p} ELSE 0 END) AS decimals_{i}",
            f"MIN(COALESCE({ln}, 0)) AS shortest_{i}",
            f"MAX({ln}) AS longest_{i}",
            f"approx_top_k({v}, {_TOP}) AS top_{i}",  # every value when there are at most _TOP
        ]
    return (
        f"SELECT {', '.join(parts)} FROM (SELECT {', '.join(read)} FROM "
        f"(SELECT {', '.join(cast)} FROM {relation}))"
    )


def _stats(columns: list[str], row: dict[str, Any]) -> list[ColumnStats]:
    found = []
    for i, name in enumerate(columns):
        distinct = int(row[f"distinct_{i}"] or 0)
        found.append(
            ColumnStats(
                name=name,
                present=int(row[f"present_{i}"] or 0),
                distinct=distinct,
                integers=int(row[f"integers_{i}"] or 0),
                numbers=int(row[f"numbers_{i}"] or 0),
                minimum=row[f"minimum_{i}"],
                maximum=row[f"maximum_{i}"],
                decimals=int(row[f"decimals_{i}"] or 0),
                shortest=int(row[f"shortest_{i}"] or 0),
                longest=int(row[f"longest_{i}"] or 0),
                values=tuple(sorted(str(v) for v in row[f"top_{i}"] or () if v is not None))
                if distinct <= LOW_CARDINALITY and distinct * 2 <= int(row[f"present_{i}"] or 0)
                else (),
            )
        )
    return found


def profile_duckdb(path: str | Path) -> Profile:
    """Profile a CSV file (read as the engine reads it: text columns, blank = NULL) on DuckDB."""
    from quality_movies.dq.duckdb_engine import connect, read_csv_duckdb

    con = connect()
    con.execute("SET preserve_insertion_order = false")  # an aggregate: order does not matter
    try:
        columns = read_csv_duckdb(con, path, "dq_profile", materialize=False)
        cursor = con.execute(profile_sql(columns, "dq_profile"))
        names = [d[0] for d in cursor.description]
        row = dict(zip(names, cursor.fetchone(), strict=True))
    finally:
        con.close()
    return Profile(str(path), int(row["rows_"]), _stats(columns, row))


def profile_spark(spark: Any, path: str | Path) -> Profile:
    """Profile a CSV file on Spark (the same reading as the Spark backend's)."""
    from quality_movies.dq.spark_engine import read_csv_spark, to_spark_sql

    frame = read_csv_spark(spark, path)
    frame.createOrReplaceTempView("dq_profile")
    sql = to_spark_sql(profile_sql(list(frame.columns), "dq_profile"))
    # Spark has no approx_top_k: a column with at most _TOP values gives them all in collect_set.
    sql = re.sub(r"APPROX_TOP_K\((\w+), (\d+)\)", r"SLICE(COLLECT_SET(\1), 1, \2)", sql)
    row = spark.sql(sql).collect()[0].asDict()
    return Profile(str(path), int(row["rows_"]), _stats(list(frame.columns), row))


def _number(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _share(part: int, whole: int) -> str:
    return f"{part:,} of {whole:,} rows"


def recommend(profile: Profile, now: datetime | None = None, source: str | None = None) -> str:
    """The recommended ruleset's text for ``profile`` (``source`` names the data in its header)."""
    now = now or datetime.now(UTC)
    rows = profile.rows
    if not rows:
        raise DataQualityError(f"{profile.source}: no rows to recommend rules from")
    lines = [
        f"# Recommended by `quality-movies dq recommend` from {source or Path(profile.source).name} "
        f"({rows:,} rows, {len(profile.columns)} columns) on {now:%Y-%m-%d}.",
        "# A starting point: each rule holds on this file; review and loosen or drop rules that",
        "# describe this file rather than every file to come.",
        "Rules = [",
    ]
    rules: list[tuple[str, str]] = []
    if rows:
        low, high = math.floor(rows * 0.5), math.ceil(rows * 1.5)
        rules.append(
            (
                f"{rows:,} rows; allowed: half to one and a half times",
                f"RowCount between {low - 1} and {high + 1}",
            )
        )
    for column in profile.columns:
        rules.extend(_column_rules(column, rows))
    for i, (comment, rule) in enumerate(rules):
        # a comment is one line, whatever the column name holds (a quoted CSV header may hold
        # line breaks): written as \n, they cannot end the comment and start rules of their own
        lines.append("    # " + comment.replace("\r", "\\r").replace("\n", "\\n"))
        lines.append(f"    {rule}" + ("," if i < len(rules) - 1 else ""))
    lines.append("]")
    return "\n".join(lines) + "\n"


def _column_rules(column: ColumnStats, rows: int) -> list[tuple[str, str]]:
    name = dqdl_string(column.name)
    found: list[tuple[str, str]] = []
    if not rows or not column.present:
        return found
    complete = column.present == rows
    share = _share(column.present, rows)
    if complete:
        found.append((f"{column.name}: a value in every row ({share})", f"IsComplete {name}"))
    else:
        floor = math.floor(column.present / rows * 100) / 100
        found.append(
            (
                f"{column.name}: a value in {share} ({column.present / rows:.4f})",
                f"Completeness {name} >= {floor}",
            )
        )
    if complete and column.distinct == rows and rows > 1:
        found.append(
            (f"{column.name}: {column.distinct:,} distinct values in {share}", f"IsUnique {name}")
        )
    kind = column.crawler_type
    threshold = (
        "" if complete else f" with threshold >= {math.floor(column.present / rows * 100) / 100}"
    )
    if kind in (BIGINT, DOUBLE) and column.minimum is not None and column.maximum is not None:
        step = 10.0**-column.decimals
        low = _number(column.minimum - step, column.decimals)
        high = _number(column.maximum + step, column.decimals)
        found.append(
            (
                f"{column.name}: numbers from {_number(column.minimum, column.decimals)} to "
                f"{_number(column.maximum, column.decimals)}",
                f"ColumnValues {name} between {low} and {high}{threshold}",
            )
        )
        found.append(
            (
                f"{column.name}: every value reads as {'a whole number' if kind == BIGINT else 'a number'}",
                f"ColumnDataType {name} = {dqdl_string('BIGINT' if kind == BIGINT else 'DOUBLE')}",
            )
        )
    elif column.values:
        listed = ", ".join(dqdl_string(value) for value in column.values)
        found.append(
            (
                f"{column.name}: {column.distinct} distinct values",
                f"ColumnValues {name} in [{listed}{', NULL' if not complete else ''}]",
            )
        )
    if kind not in (BIGINT, DOUBLE):
        found.append(
            (
                f"{column.name}: {column.shortest} to {column.longest} characters"
                + ("" if complete else " (a missing value counts as 0)"),
                f"ColumnLength {name} between {column.shortest - 1} and {column.longest + 1}",
            )
        )
    return found
