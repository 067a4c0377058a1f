"""The warehouse contract: the seed's schema mapping, the bounds good rows must keep, and their pandera
schemas (Ibis over DuckDB locally, PySpark on Spark / Glue, pandas for small frames).

The contract is written once, as ``CONTRACT``; the SQL that sends a breaking row to bad records and the
pandera schemas that check the published table are all derived from it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# (column, Glue type) in the order of the seed's ApplyMapping; every other column stays a string.
WAREHOUSE_COLUMNS: list[tuple[str, str]] = [
    ("poster_link", "string"),
    ("series_title", "string"),
    ("released_year", "string"),
    ("certificate", "string"),
    ("runtime", "string"),
    ("genre", "string"),
    ("imdb_rating", "double"),
    ("overview", "string"),
    ("meta_score", "long"),
    ("director", "string"),
    ("star1", "string"),
    ("star2", "string"),
    ("star3", "string"),
    ("star4", "string"),
    ("no_of_votes", "long"),
    ("gross", "string"),
]
SOURCE_FILE_COLUMN = "source_file"
CONTRACT_PREFIX = "Contract: "

_SQL_TYPES = {"string": "VARCHAR", "double": "DOUBLE", "long": "BIGINT"}


@dataclass(frozen=True)
class ColumnContract:
    """One warehouse column: its Glue type, whether it may be empty, and its inclusive bounds."""

    name: str
    glue_type: str
    nullable: bool = True
    min_value: float | None = None
    max_value: float | None = None

    @property
    def sql_type(self) -> str:
        return _SQL_TYPES[self.glue_type]

    @property
    def typed(self) -> bool:
        return self.glue_type != "string"


_RULES: dict[str, dict] = {
    "series_title": {"nullable": False},
    "imdb_rating": {"nullable": False, "min_value": 0.0, "max_value": 10.3},
    "meta_score": {"min_value": 0, "max_value": 100},
    "no_of_votes": {"min_value": 0},
}
CONTRACT: list[ColumnContract] = [
    ColumnContract(name, glue_type, **_RULES.get(name, {})) for name, glue_type in WAREHOUSE_COLUMNS
]
# Columns a file must have: the warehouse cannot take a row without them.
REQUIRED_COLUMNS: tuple[str, ...] = tuple(c.name for c in CONTRACT if not c.nullable)


def typed_columns() -> list[tuple[str, str]]:
    """Columns whose values must be converted from text, with their SQL type."""
    return [(c.name, c.sql_type) for c in CONTRACT if c.typed]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _typed_value(column: ColumnContract) -> str:
    """The column's value in its warehouse type; blank text is NULL, unconvertible text is NULL."""
    name = _quote(column.name)
    if not column.typed:
        return f"CAST({name} AS VARCHAR)"
    return f"TRY_CAST(NULLIF(TRIM({name}), '') AS {column.sql_type})"


def mapping_select(source_columns: list[str]) -> list[str]:
    """SQL select expressions (DuckDB dialect) mapping raw text columns to the warehouse types.

    A column missing from the source becomes NULL, so a file without e.g. ``gross`` still loads. Rows
    that break the contract are taken out first (``contract_violations``), so no value is lost here.
    """
    present = set(source_columns)
    return [
        f"{_typed_value(c)} AS {c.name}"
        if c.name in present
        else f"CAST(NULL AS {c.sql_type}) AS {c.name}"
        for c in CONTRACT
    ]


def _bound_text(value: float) -> str:
    return f"{value:g}"


def contract_violations(source_columns: list[str]) -> list[tuple[str, str]]:
    """Per way a row can break the contract: (SQL condition, SQL expression of the reason).

    Reasons read like ``Contract: meta_score 'eighty' is not a BIGINT`` (DuckDB dialect; sqlglot turns
    them into Spark SQL for the Glue job).
    """
    present = set(source_columns)
    found: list[tuple[str, str]] = []
    for c in CONTRACT:
        if c.name not in present:
            if not c.nullable:
                found.append(("TRUE", _literal(f"{CONTRACT_PREFIX}{c.name} is missing")))
            continue
        name, typed = _quote(c.name), _typed_value(c)
        if c.typed:
            text = f"NULLIF(TRIM({name}), '')"
            found.append(
                (
                    f"({text} IS NOT NULL AND {typed} IS NULL)",
                    f"{_literal(f'{CONTRACT_PREFIX}{c.name} ' + chr(39))} || {name} || "
                    f"{_literal(chr(39) + f' is not a {c.sql_type}')}",
                )
            )
            for bound, op, words in (
                (c.min_value, "<", "below"),
                (c.max_value, ">", "above"),
            ):
                if bound is None:
                    continue
                found.append(
                    (
                        f"({typed} {op} {bound!r})",
                        f"{_literal(f'{CONTRACT_PREFIX}{c.name} ')} || TRIM({name}) || "
                        f"{_literal(f' is {words} {_bound_text(bound)}')}",
                    )
                )
        if not c.nullable:
            empty = f"NULLIF(TRIM({name}), '') IS NULL"
            found.append((f"({empty})", _literal(f"{CONTRACT_PREFIX}{c.name} is empty")))
    return found


def rejected_condition(source_columns: list[str]) -> str:
    """TRUE for a row that breaks the contract in at least one way, FALSE otherwise (never NULL, so
    every row goes to exactly one side of the split)."""
    conditions = [f"COALESCE({cond}, FALSE)" for cond, _ in contract_violations(source_columns)]
    return f"({' OR '.join(conditions)})" if conditions else "FALSE"


def rejection_reasons_sql(source_columns: list[str], dialect: str = "duckdb") -> str:
    """A string list of the reasons a row breaks the contract (empty for a row that keeps it), in
    DuckDB's or Spark's SQL."""
    items = [
        f"CASE WHEN COALESCE({cond}, FALSE) THEN {reason} END"
        for cond, reason in contract_violations(source_columns)
    ]
    if dialect == "spark":
        import sqlglot

        spark_items = [sqlglot.transpile(i, read="duckdb", write="spark")[0] for i in items]
        return f"filter(array({', '.join(spark_items)}), x -> x IS NOT NULL)"
    if not items:
        return "CAST([] AS VARCHAR[])"
    return f"list_filter([{', '.join(items)}], lambda x: x IS NOT NULL)"


def validated_movies_schema():
    """The contract as a pandas pandera schema (small frames, e.g. a preview or a test)."""
    import pandera.pandas as pa

    kinds = {"string": str, "double": float, "long": "Int64"}
    return pa.DataFrameSchema(
        {
            **{
                c.name: pa.Column(kinds[c.glue_type], _pandera_checks(pa, c), nullable=c.nullable)
                for c in CONTRACT
            },  # fmt: skip
            SOURCE_FILE_COLUMN: pa.Column(str, nullable=False),
        },
        strict=True,
        ordered=False,
        name="validated_movies",
        description="Good rows after the seed's schema mapping, ready for movies.imdb_movies_rating.",
    )


def validated_movies_ibis_schema():
    """The contract as a pandera schema for Ibis tables: validated inside DuckDB, rows never fetched."""
    import ibis.expr.datatypes as dt
    import pandera.ibis as pa

    kinds = {"string": dt.string, "double": dt.float64, "long": dt.int64}
    return pa.DataFrameSchema(
        {
            **{
                c.name: pa.Column(kinds[c.glue_type], _pandera_checks(pa, c), nullable=c.nullable)
                for c in CONTRACT
            },  # fmt: skip
            SOURCE_FILE_COLUMN: pa.Column(dt.string, nullable=False),
        },
        strict=True,
        name="validated_movies",
    )


def validated_movies_pyspark_schema():
    """The contract as a pandera schema for Spark DataFrames (the Glue job's validated rows)."""
    import pandera.pyspark as pa
    from pyspark.sql import types as T

    kinds = {"string": T.StringType(), "double": T.DoubleType(), "long": T.LongType()}
    return pa.DataFrameSchema(
        {
            **{
                c.name: pa.Column(kinds[c.glue_type], _pandera_checks(pa, c), nullable=c.nullable)
                for c in CONTRACT
            },  # fmt: skip
            SOURCE_FILE_COLUMN: pa.Column(T.StringType(), nullable=False),
        },
        strict=True,
        name="validated_movies",
    )


def _pandera_checks(pa, column: ColumnContract) -> list:
    low, high = column.min_value, column.max_value
    if low is not None and high is not None:
        return [pa.Check.in_range(low, high)]
    if low is not None:
        return [pa.Check.ge(low)]
    if high is not None:
        return [pa.Check.le(high)]
    return []


@dataclass(frozen=True)
class ValidatedTable:
    """A reference to one file's validated rows where they are (Parquet in the lake): what travels
    between the quality gate and the warehouse instead of the rows."""

    source_file: str
    uri: str
    row_count: int
    columns: tuple[tuple[str, str], ...] = tuple(WAREHOUSE_COLUMNS) + (
        (SOURCE_FILE_COLUMN, "string"),
    )

    def as_metadata(self) -> dict[str, object]:
        return {
            "source_file": self.source_file,
            "uri": self.uri,
            "row_count": self.row_count,
            "columns": [list(c) for c in self.columns],
        }


class ContractViolation(ValueError):
    """The published table would break the contract; names the file, the column and the check."""


@dataclass(frozen=True)
class ContractSplit:
    """Where the good rows of one file went: the validated Parquet or the contract's bad records."""

    validated_rows: int
    rejected_rows: int


def split_by_contract(
    good_parquet: str,
    validated_parquet: str,
    rejected_jsonl: str,
    source_file: str,
    *,
    temp_directory: str | None = None,
    memory_limit: str = "512MB",
) -> ContractSplit:
    """Rows of ``good_parquet`` (text columns, plus the engine's row-level columns when present) that
    keep the contract go to ``validated_parquet`` in the warehouse types with ``source_file``; the others
    to ``rejected_jsonl`` as bad records, each reason in ``DataQualityRulesFail``. DuckDB streams both.
    """
    from quality_movies.dq.duckdb_engine import shared_connection

    con = shared_connection(temp_directory)
    try:
        con.execute(f"SET memory_limit = {_literal(memory_limit)}")
        # Outputs come in no particular order (as the engine's): an ordered writer buffers more.
        con.execute("SET preserve_insertion_order = false")
        con.execute(
            f"CREATE TEMP VIEW good_rows AS SELECT * FROM read_parquet({_literal(good_parquet)})"
        )
        described = [row[0] for row in con.execute("DESCRIBE good_rows").fetchall()]
        row_level = [name for name in described if name.startswith("DataQuality")]
        data = [name for name in described if name not in row_level]
        missing = [name for name in REQUIRED_COLUMNS if name not in data]
        if missing:
            raise ContractViolation(
                f"{source_file}: required column {', '.join(missing)} is missing from the header; "
                "add it and upload the file again"
            )
        rejected = rejected_condition(data)
        mapped = ", ".join(mapping_select(data))
        # COPY answers with the number of rows it wrote
        ((validated,),) = con.execute(
            f"COPY (SELECT {mapped}, {_literal(source_file)} AS {SOURCE_FILE_COLUMN} FROM good_rows "
            f"WHERE NOT {rejected}) TO {_literal(validated_parquet)} (FORMAT PARQUET)"
        ).fetchall()
        # a Parquet file's row count is in its footer: without rejected rows, no second pass
        ((good,),) = con.execute("SELECT count(*) FROM good_rows").fetchall()
        if good == validated:
            Path(rejected_jsonl).write_bytes(b"")
            return ContractSplit(validated_rows=int(validated), rejected_rows=0)
        passed = (
            '"DataQualityRulesPass"'
            if "DataQualityRulesPass" in row_level
            else "CAST([] AS VARCHAR[])"
        )
        skipped = (
            '"DataQualityRulesSkip"'
            if "DataQualityRulesSkip" in row_level
            else "CAST([] AS VARCHAR[])"
        )
        columns = ", ".join(_quote(name) for name in data)
        ((rejected_rows,),) = con.execute(
            f"COPY (SELECT {columns}, {passed} AS DataQualityRulesPass, "
            f"{rejection_reasons_sql(data)} AS DataQualityRulesFail, {skipped} AS "
            f"DataQualityRulesSkip, 'Failed' AS DataQualityEvaluationResult FROM good_rows "
            f"WHERE {rejected}) TO {_literal(rejected_jsonl)} (FORMAT JSON)"
        ).fetchall()
        return ContractSplit(validated_rows=int(validated), rejected_rows=int(rejected_rows))
    finally:
        con.close()


def check_contract_in_duckdb(validated: Mapping[str, str]) -> dict[str, str]:
    """Validate validated Parquet files (source file -> path) against the contract with pandera's Ibis
    backend, inside DuckDB (rows are never fetched). All files are checked in one pass; only when that
    finds a problem is each file checked alone. Returns a message per file that breaks the contract.
    """
    import ibis

    if not validated:
        return {}
    backend = ibis.duckdb.connect()
    try:
        if _pandera_problem(backend, list(validated.values())) is None:
            return {}
        broken = {}
        for source_file, path in validated.items():
            problem = _pandera_problem(backend, [path])
            if problem is not None:
                broken[source_file] = (
                    f"{source_file}: the validated rows break the warehouse contract ({problem}); "
                    "report this, the contract's split should have sent them to bad records"
                )
        return broken
    finally:
        backend.disconnect()


def _pandera_problem(backend, paths: list[str]) -> str | None:
    from pandera.errors import SchemaError, SchemaErrors

    table = backend.read_parquet(paths)
    if table.count().execute() == 0:
        # no row to break it (pandera 0.35's Ibis backend fails the non-nullable columns of an
        # empty table: files whose every row is a bad record)
        return None
    try:
        validated_movies_ibis_schema().validate(table, lazy=True)
    except (SchemaError, SchemaErrors) as error:
        return _pandera_summary(error)
    return None


def _pandera_summary(error: Exception) -> str:
    cases = getattr(error, "failure_cases", None)
    if cases is not None and len(cases):
        first = cases.head(3)
        return "; ".join(
            f"{row.get('column')}: {row.get('check')} failed for {row.get('failure_case')}"
            for row in first.to_dict("records")
        )
    return str(error).splitlines()[0]
