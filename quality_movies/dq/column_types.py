"""Column types as the Glue crawler infers them from a CSV file, and the SQL reading text as those types.

Glue evaluates rules over the catalog's typed columns. The crawler's CSV classifier types a column
``bigint`` when every non-empty value is a whole number that fits 64 bits, ``double`` when every one is
a number, ``boolean`` when every one is ``true`` or ``false`` (any case), otherwise ``string`` (dates
and timestamps stay ``string``; so does a column without any value). The engine reads the file as
text and casts each column to its type wherever SQL written by the user sees it (where clauses,
CustomSql), so comparisons follow Spark's rules for those types on both backends.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from quality_movies.dq.rules.base import quote, sql_string

BIGINT, DOUBLE, BOOLEAN, STRING = "bigint", "double", "boolean", "string"
CRAWLER_TYPES = (BIGINT, DOUBLE, BOOLEAN, STRING)

INTEGER_TEXT = r"^\s*[+-]?[0-9]+\s*$"
NUMBER_TEXT = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
BOOLEAN_TEXT = r"^\s*(?i:true|false)\s*$"
_BIGINT_RANGE = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class ColumnProfile:
    """Counts over one column's non-empty values: all of them, and those that read as each type.

    ``integers_in_range`` counts whole numbers that also fit a bigint.
    """

    values: int
    integers_in_range: int
    numbers: int
    booleans: int


def crawler_type(profile: ColumnProfile) -> str:
    """The crawler's type for a column with this profile."""
    if profile.values == 0:
        return STRING
    if profile.integers_in_range == profile.values:
        return BIGINT
    if profile.numbers == profile.values:
        return DOUBLE
    if profile.booleans == profile.values:
        return BOOLEAN
    return STRING


def profile_values(values: Iterable[str | None]) -> ColumnProfile:
    """The profile of values given in Python (what ``profile_sql`` computes in the database)."""
    counts = [0, 0, 0, 0]
    for value in values:
        if value is None or value == "":
            continue
        counts[0] += 1
        if re.match(INTEGER_TEXT, value) and _BIGINT_RANGE[0] <= int(value) <= _BIGINT_RANGE[1]:
            counts[1] += 1
        if re.match(NUMBER_TEXT, value):
            counts[2] += 1
        if re.match(BOOLEAN_TEXT, value):
            counts[3] += 1
    return ColumnProfile(*counts)


def infer_type(values: Iterable[str | None]) -> str:
    """The crawler's type for a column holding ``values`` (NULL or "" for a missing value)."""
    return crawler_type(profile_values(values))


def profile_sql(columns: Sequence[str], relation: str) -> str:
    """One DuckDB-dialect query (Spark reads it through sqlglot) profiling ``columns`` of ``relation``.

    Its single row holds ``values_i``, ``integers_i``, ``numbers_i``, ``booleans_i`` for column ``i``.
    """
    parts = []
    for i, column in enumerate(columns):
        raw = quote(column)
        present = f"{raw} IS NOT NULL AND {raw} <> ''"
        integer = (
            f"regexp_matches({raw}, {sql_string(INTEGER_TEXT)}) "
            f"AND TRY_CAST(TRIM({raw}) AS BIGINT) IS NOT NULL"
        )
        parts += [
            f"SUM(CASE WHEN {present} THEN 1 ELSE 0 END) AS values_{i}",
            f"SUM(CASE WHEN {present} AND {integer} THEN 1 ELSE 0 END) AS integers_{i}",
            f"SUM(CASE WHEN {present} AND regexp_matches({raw}, {sql_string(NUMBER_TEXT)}) "
            f"THEN 1 ELSE 0 END) AS numbers_{i}",
            f"SUM(CASE WHEN {present} AND regexp_matches({raw}, {sql_string(BOOLEAN_TEXT)}) "
            f"THEN 1 ELSE 0 END) AS booleans_{i}",
        ]
    return f"SELECT {', '.join(parts)} FROM {relation}"


def types_from_profile(columns: Sequence[str], row: Mapping[str, object]) -> dict[str, str]:
    """The crawler types of ``columns`` from the single row of ``profile_sql``."""
    return {
        column: crawler_type(
            ColumnProfile(
                *(
                    int(row[f"{key}_{i}"] or 0)
                    for key in ("values", "integers", "numbers", "booleans")
                )
            )
        )
        for i, column in enumerate(columns)
    }


def typed_column(raw: str, column_type: str) -> str:
    """SQL reading the text column ``raw`` as ``column_type``; NULL for an empty value.

    A value the type cannot hold (possible when the types come from a catalog rather than this
    file) reads as NULL, as Spark's permissive CSV reader does.
    """
    if column_type == STRING:
        return raw
    sql_type = {BIGINT: "BIGINT", DOUBLE: "DOUBLE", BOOLEAN: "BOOLEAN"}[column_type]
    pattern = {BIGINT: INTEGER_TEXT, DOUBLE: NUMBER_TEXT, BOOLEAN: BOOLEAN_TEXT}[column_type]
    return (
        f"CASE WHEN regexp_matches({raw}, {sql_string(pattern)}) "
        f"THEN TRY_CAST(TRIM({raw}) AS {sql_type}) END"
    )


def catalog_type(glue_type: str) -> str:
    """A Glue catalog column type (``int``, ``decimal(10,2)``, ``varchar(20)``...) as one of ours."""
    name = glue_type.strip().lower()
    if name in ("bigint", "int", "integer", "smallint", "tinyint", "long", "short", "byte"):
        return BIGINT
    if name in ("double", "float", "real") or name.startswith("decimal"):
        return DOUBLE
    if name == "boolean":
        return BOOLEAN
    return STRING
