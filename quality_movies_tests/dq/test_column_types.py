"""The crawler's type inference, a pure function, and its SQL twin giving the same answer."""

import duckdb
import pytest

from quality_movies.dq.column_types import (
    ColumnProfile,
    catalog_type,
    crawler_type,
    infer_type,
    profile_sql,
    types_from_profile,
)

# Expected types follow the Glue crawler's CSV classifier: bigint, double, boolean, else string.
EXAMPLES = [
    (["1", "22", "-3"], "bigint"),
    (["1", None, ""], "bigint"),
    (["1", "2.5"], "double"),
    (["1e3", ".5", "+7"], "double"),
    (["9223372036854775808"], "double"),  # one past bigint's range
    (["true", "FALSE", "True"], "boolean"),
    (["true", "1"], "string"),
    (["2024-01-01"], "string"),
    (["1", "one"], "string"),
    ([None, ""], "string"),
    ([], "string"),
]


@pytest.mark.parametrize(("values", "expected"), EXAMPLES)
def test_infer_type(values: list[str | None], expected: str) -> None:
    assert infer_type(values) == expected


def test_profile_sql_agrees_with_the_python_profile() -> None:
    con = duckdb.connect()
    columns = [f"c{i}" for i in range(len(EXAMPLES))]
    longest = max(len(values) for values, _ in EXAMPLES)
    rows = [
        tuple(values[r] if r < len(values) else None for values, _ in EXAMPLES)
        for r in range(longest)
    ]
    con.execute(f"CREATE TABLE t ({', '.join(f'{c} VARCHAR' for c in columns)})")
    con.executemany(f"INSERT INTO t VALUES ({', '.join('?' for _ in columns)})", rows)
    cursor = con.execute(profile_sql(columns, "t"))
    row = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
    assert types_from_profile(columns, row) == {
        column: expected for column, (_, expected) in zip(columns, EXAMPLES, strict=True)
    }


def test_crawler_type_prefers_the_narrowest_type() -> None:
    assert crawler_type(ColumnProfile(values=2, integers_in_range=2, numbers=2, booleans=0)) == (
        "bigint"
    )
    assert crawler_type(ColumnProfile(values=0, integers_in_range=0, numbers=0, booleans=0)) == (
        "string"
    )


@pytest.mark.parametrize(
    ("glue", "ours"),
    [
        ("int", "bigint"),
        ("decimal(10,2)", "double"),
        ("boolean", "boolean"),
        ("varchar(5)", "string"),
    ],
)
def test_catalog_type(glue: str, ours: str) -> None:
    assert catalog_type(glue) == ours
