"""Column names reach SQL only through one quoting function per backend (issue 24).

The SQL both backends run is written in DuckDB's dialect and quotes names with ``rules.quote``
(Spark reads it through sqlglot); what the Spark backend names to Spark itself goes through
``spark_engine.quote_spark`` (``spark_column``). These tests read the engine's sources and fail on
a name quoted by hand: an f-string wrapping a value in double quotes or (in the Spark backend)
backquotes, a quote character glued on with ``+`` outside those functions, or ``F.col`` given
anything but a literal or ``quote_spark(...)``.
"""

import ast
from pathlib import Path

import pytest

import quality_movies.dq

DQ = Path(quality_movies.dq.__file__).parent
# DQDL's own text (rule rendering, parsing), never SQL.
DQDL_ONLY = {"model.py", "parser.py"}
QUOTING_FUNCTIONS = {"quote", "quote_spark", "sql_string"}
SPARK_SOURCES = {"spark_engine.py"}


def engine_sources() -> list[Path]:
    return sorted(p for p in DQ.rglob("*.py") if p.name not in DQDL_ONLY)


def hand_quoted(source: str, spark: bool) -> list[str]:
    """``line: text`` of each place in ``source`` that quotes a name by hand."""
    tree = ast.parse(source)
    found: list[int] = []
    marks = ['"', "`"] if spark else ['"']
    inside_quoting: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in QUOTING_FUNCTIONS:
            inside_quoting.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in inside_quoting:
            continue
        if isinstance(node, ast.JoinedStr):
            parts = node.values
            for before, value, after in zip(parts, parts[1:], parts[2:], strict=False):
                if (
                    isinstance(value, ast.FormattedValue)
                    and isinstance(before, ast.Constant)
                    and isinstance(after, ast.Constant)
                    and any(
                        str(before.value).endswith(m) and str(after.value).startswith(m)
                        for m in marks
                    )
                ):
                    found.append(node.lineno)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            if any(
                isinstance(side, ast.Constant) and side.value in marks
                for side in (node.left, node.right)
            ):
                found.append(node.lineno)
        elif spark and isinstance(node, ast.Call) and _is_f_col(node.func):
            argument = node.args[0] if node.args else None
            literal = isinstance(argument, ast.Constant)
            quoted = (
                isinstance(argument, ast.Call)
                and isinstance(argument.func, ast.Name)
                and argument.func.id == "quote_spark"
            )
            if not (literal or quoted):
                found.append(node.lineno)
        elif spark and isinstance(node, ast.Subscript) and _is_frame(node.value):
            if not isinstance(node.slice, ast.Constant):
                found.append(node.lineno)
        elif (
            spark
            and isinstance(node, ast.Call)
            and _is_select(node.func)
            and any(
                isinstance(a, ast.Starred) and not _is_list_of_calls(a.value) for a in node.args
            )
        ):
            found.append(node.lineno)
    lines = source.splitlines()
    return [f"{n}: {lines[n - 1].strip()}" for n in sorted(set(found))]


# DataFrames in the Spark backend: frame["name"] parses the name (a dot reads a struct field).
FRAME_NAMES = {"frame", "df", "rows", "annotated", "ordered", "good", "bad", "lines"}


def _is_frame(value: ast.expr) -> bool:
    name = value.attr if isinstance(value, ast.Attribute) else getattr(value, "id", None)
    return name in FRAME_NAMES


def _is_select(func: ast.expr) -> bool:
    return isinstance(func, ast.Attribute) and func.attr in ("select", "drop", "struct")


def _is_list_of_calls(value: ast.expr) -> bool:
    """``*[spark_column(c) for c in ...]``: names made into Columns, not strings."""
    return isinstance(value, ast.ListComp) and isinstance(value.elt, ast.Call)


def _is_f_col(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "col") or (
        isinstance(func, ast.Name) and func.id == "col"
    )


@pytest.mark.parametrize("path", engine_sources(), ids=lambda p: str(p.relative_to(DQ)))
def test_engine_source_quotes_names_only_through_its_quoting_function(path: Path) -> None:
    found = hand_quoted(path.read_text(encoding="utf-8"), spark=path.name in SPARK_SOURCES)
    assert not found, f"{path.name} quotes names by hand (use quote / quote_spark): {found}"


@pytest.mark.parametrize(
    "snippet",
    [
        "sql = f'SELECT \"{column}\" FROM t'",
        "sql = 'SELECT ' + '\"' + column + '\"'",
        'frame = frame.select(F.col(f"`{name}`"))',
        "fields = F.struct(*[F.col(name) for name in frame.columns])",
        "fields = F.struct(*[annotated[name] for name in annotated.columns])",
        "rows = evaluation.good.select(*evaluation.plan.columns)",
        'sql = f"SELECT `{column}` FROM t"',
    ],
)
def test_the_check_finds_a_name_quoted_by_hand(snippet: str) -> None:
    assert hand_quoted(snippet, spark=True)


@pytest.mark.parametrize(
    "snippet",
    [
        "sql = f'SELECT {quote(column)} FROM t'",
        "frame = frame.select(F.col(quote_spark(name)), F.col('value'))",
        "rows = evaluation.good.select(*[spark_column(name) for name in columns])",
    ],
)
def test_the_check_lets_the_quoting_functions_through(snippet: str) -> None:
    assert not hand_quoted(snippet, spark=True)
