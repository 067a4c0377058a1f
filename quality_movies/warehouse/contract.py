"""The warehouse contract: the seed's schema mapping and the pandera schema good rows must satisfy."""

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

_SQL_TYPES = {"string": "VARCHAR", "double": "DOUBLE", "long": "BIGINT"}


def typed_columns() -> list[tuple[str, str]]:
    """Columns whose values must be converted from text, with their SQL type."""
    return [(name, _SQL_TYPES[t]) for name, t in WAREHOUSE_COLUMNS if t != "string"]


def mapping_select(source_columns: list[str]) -> list[str]:
    """SQL select expressions (DuckDB dialect) mapping raw text columns to the warehouse types.

    A column missing from the source becomes NULL, so a file without e.g. ``gross`` still loads.
    """
    present = set(source_columns)
    exprs = []
    for name, glue_type in WAREHOUSE_COLUMNS:
        sql_type = _SQL_TYPES[glue_type]
        if name not in present:
            exprs.append(f"CAST(NULL AS {sql_type}) AS {name}")
        elif glue_type == "string":
            exprs.append(f"CAST({name} AS VARCHAR) AS {name}")
        else:
            exprs.append(f"CAST(TRIM({name}) AS {sql_type}) AS {name}")
    return exprs


def unconvertible_value_sql(table: str, column: str, sql_type: str) -> str:
    """A query for the first row of ``table`` whose ``column`` is present but not a ``sql_type``."""
    return (
        f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL AND TRIM({column}) <> '' "
        f"AND TRY_CAST(TRIM({column}) AS {sql_type}) IS NULL LIMIT 1"
    )


def validated_movies_schema():
    """The pandera contract of ``validated_movies`` (pandera is imported here only, so the Glue job
    does not need it)."""
    import pandera.pandas as pa

    return pa.DataFrameSchema(
        {
            **{
                name: pa.Column(str, nullable=True)
                for name, t in WAREHOUSE_COLUMNS
                if t == "string" and name != "series_title"
            },
            "series_title": pa.Column(str, nullable=False),
            "imdb_rating": pa.Column(float, pa.Check.in_range(0.0, 10.3), nullable=False),
            "meta_score": pa.Column("Int64", pa.Check.in_range(0, 100), nullable=True),
            "no_of_votes": pa.Column("Int64", pa.Check.ge(0), nullable=True),
            "source_file": pa.Column(str, nullable=False),
        },
        strict=True,
        ordered=False,
        name="validated_movies",
        description="Good rows after the seed's schema mapping, ready for movies.imdb_movies_rating.",
    )


class ContractViolation(ValueError):
    """A good row that cannot take the warehouse's types; names the file, line, column and value."""


def write_validated_movies(
    good_parquet: str, out_parquet: str, source_file: str, raw_csv: str
) -> int:
    """Map the good rows of ``source_file`` to the warehouse types and write them as Parquet.

    Raises ContractViolation naming the line of ``raw_csv`` whose value cannot be converted.
    """
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"CREATE VIEW good_rows AS SELECT * FROM read_parquet('{good_parquet}')")
        present = [row[0] for row in con.execute("DESCRIBE good_rows").fetchall()]
        for column, sql_type in typed_columns():
            if column not in present:
                continue
            bad = con.execute(unconvertible_value_sql("good_rows", column, sql_type)).fetchone()
            if bad is not None:
                line = _line_of_value(con, raw_csv, column, bad[0])
                raise ContractViolation(
                    f"{source_file}, line {line}, column {column}: {bad[0]!r} is not a {sql_type}; "
                    "fix the value or add a rule to the ruleset that sends such rows to bad records"
                )
        select = ", ".join(mapping_select(present))
        con.execute(
            f"COPY (SELECT {select}, ? AS source_file FROM good_rows) TO '{out_parquet}' "
            "(FORMAT parquet)",
            [source_file],
        )
        (count,) = con.execute(f"SELECT COUNT(*) FROM read_parquet('{out_parquet}')").fetchone()
        return int(count)
    finally:
        con.close()


def _line_of_value(con, raw_csv: str, column: str, value: str) -> int | str:
    """Line number (header is line 1) of the first data row of ``raw_csv`` holding ``value``."""
    rows = con.execute(
        f"SELECT * FROM read_csv('{raw_csv}', header=true, all_varchar=true, quote='\"', "
        "escape='\"', normalize_names=false) LIMIT 0"
    ).description
    names = {d[0].strip().lower(): d[0] for d in rows}
    original = names.get(column, column)
    found = con.execute(
        f'SELECT n FROM (SELECT row_number() OVER () AS n, "{original}" AS v FROM read_csv('
        f"'{raw_csv}', header=true, all_varchar=true, quote='\"', escape='\"')) WHERE v = ? "
        "ORDER BY n LIMIT 1",
        [value],
    ).fetchone()
    return int(found[0]) + 1 if found else "unknown"
