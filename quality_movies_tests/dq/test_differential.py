"""Differential test of the DQDL engine's two backends (issue 24): DuckDB and Spark must agree on
any CSV and ruleset.

Hypothesis draws small CSVs (column names with dots, spaces, quotes, backquotes, brackets,
non-ASCII letters, SQL keywords, leading digits, very long names, names differing only in case;
values that are blank, NULL-looking, unicode, with thousands separators, exponents, huge and tiny
numbers, dates and timestamps, embedded line breaks and quotes; a byte-order mark or blank lines
above the header) and rulesets over them (every rule
type, where clauses, composites, labels, thresholds, analyzers). Both backends evaluate the file;
they must give the same rule outcomes (failure reasons included, a database's own error wording
aside), the same metrics (relative tolerance ``METRIC_TOLERANCE``), the same bad and good records
(as JSON objects, in any order), the same row counts, and the same error for input neither can
use.

The run is seeded: ``DQ_DIFFERENTIAL_SEED`` (default 24) and ``DQ_DIFFERENTIAL_EXAMPLES`` (default
200) pick it, so a failure seen once is seen again; the report prints the CSV and the ruleset
(as Python literals, ready for a case). ``DQ_DIFFERENTIAL_SHRINK=1`` lets hypothesis shrink a
failure first. The long run is documented in docs/dqdl.md.
"""

import csv
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, note, seed, settings
from hypothesis import strategies as st

from quality_movies.dq import DataQualityError, evaluate_file, parse_ruleset
from quality_movies.dq.history import AnomalyVerdict
from quality_movies_tests.dq.cases import NOW, UNUSABLE_CASES, UnusableCase

SEED = int(os.environ.get("DQ_DIFFERENTIAL_SEED", "24"))
EXAMPLES = int(os.environ.get("DQ_DIFFERENTIAL_EXAMPLES", "200"))
SHRINK = os.environ.get("DQ_DIFFERENTIAL_SHRINK") == "1"
# Metrics are rounded to 12 significant digits by the engine; sums of doubles may be added in
# another order by Spark's tasks, so the last digits are allowed to differ.
METRIC_TOLERANCE = 1e-9
DATABASE_ERRORS = ("The SQL statement failed: ", "The where clause failed: ")

NAME_POOL = [
    "id",
    "Some.Date",
    "col.with.dot",
    "Building.Code",
    "a.b.c",
    "my col",
    "  padded  ",
    'say "hi"',
    "it's",
    "back`tick",
    "``",
    "[br]",
    "a[0]",
    "(p)",
    "{c}",
    "a,b",
    "Année",
    "名前",
    "ñandú",
    "Straße",
    "ΣΊΣΥΦΟΣ",
    "select",
    "from",
    "where",
    "order",
    "group",
    "null",
    "true",
    "table",
    "primary",
    "count",
    "1st",
    "2024",
    "007",
    "x" * 200,
    "Long." + "name " * 40 + "end",
    "tab\there",
    "semi;colon",
    "per%cent",
    "dollar$",
    "back\\slash",
    "line\nbreak",
]
NAME_CHARS = list("abcXYZ._ `\"'[](),;-+*/0123456789éÅß名\\")

NULLISH = ["", " ", "NULL", "null", "None", "NaN", "nan", "N/A", "-", '""', "\\N"]
NUMBERS = [
    "0",
    "-0",
    "+3",
    " 42 ",
    "1,000",
    "1,234.5",
    "1.5e3",
    "1E-3",
    "-2.5e+2",
    ".5",
    "5.",
    "1e308",
    "1.7976931348623157e308",
    "1e309",
    "-1e308",
    "5e-324",
    "1e-400",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "123456789012345678901234567890",
    "0x1F",
    "1_000",
    "Infinity",
    "-inf",
    "3.14159265358979323846",
    "1.0000000000000002",
]
DATES = [
    "2024-06-01",
    "2024-06-10",
    "2024-6-1",
    "2024-02-29",
    "2023-02-29",
    "2024-13-01",
    "06/01/2024",
    "01-06-2024",
    "2024/06/01",
    "06-2024",
    "06/01",
    "1970-01-01",
    "0001-01-01",
    "9999-12-31",
    " 2024-06-05 ",
]
TIMESTAMPS = [
    "2024-06-01 10:00:00",
    "2024-06-10 11:59:59",
    "2024-06-10 12:00:00",
    "2024-06-10 13:00",
    "2024-06-01T10:00:00",
    "2024-06-01 10:00:00.123",
    "2024-06-01 10:00:00.123456789",
    "2024-06-01T10:00:00Z",
    "2024-06-01 10:00:00+02:00",
    "2024-06-01 25:00:00",
    "2024-06-09 23:30",
]
TEXTS = [
    "a",
    "A",
    "abc",
    "ABC ",
    " x",
    "us",
    "US",
    "Ca",
    "é",
    "É",
    "İstanbul",
    "ß",
    "日本語",
    "🎬",
    "e\u0301",
    'say "hi"',
    '"',
    "it's",
    "a,b",
    "a\nb",
    "line\n",
    "\t",
    "true",
    "FALSE",
    "yes",
    "%_",
    "back\\slash",
    "B1",
    "x" * 300,
]


def _value(kind: str) -> st.SearchStrategy[str]:
    """A cell of a column of ``kind``: mostly that kind, sometimes anything."""
    numbers = st.one_of(
        st.sampled_from(NUMBERS),
        st.integers(-(10**20), 10**20).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    )
    integers = st.one_of(st.integers(-1000, 1000).map(str), st.sampled_from(NUMBERS[:4]))
    moments = st.datetimes(datetime(2024, 5, 1), datetime(2024, 6, 12))
    dates = st.one_of(st.sampled_from(DATES), moments.map(lambda m: m.strftime("%Y-%m-%d")))
    stamps = st.one_of(
        st.sampled_from(TIMESTAMPS), moments.map(lambda m: m.strftime("%Y-%m-%d %H:%M:%S"))
    )
    texts = st.one_of(
        st.sampled_from(TEXTS),
        st.text(
            st.characters(exclude_categories=["Cs"], exclude_characters=KNOWN_APART), max_size=6
        ),
    )
    main = {
        "int": integers,
        "number": numbers,
        "date": dates,
        "timestamp": stamps,
        "bool": st.sampled_from(["true", "false", "TRUE", "False", " true"]),
        "text": texts,
    }[kind]
    anything = st.one_of(numbers, dates, stamps, texts)
    return st.one_of(main, main, main, st.sampled_from(NULLISH), anything)


# Known disagreement, left open: Spark's multiLine CSV reader turns a carriage return inside a
# quoted value into a line feed ("a\r\nb" reads "a\nb"), DuckDB keeps the value as written.
KNOWN_APART = "\r"

KINDS = ["int", "number", "date", "timestamp", "bool", "text"]


@dataclass
class Table:
    """A generated CSV: its header as written, the column kinds, and the rows."""

    names: list[str]
    kinds: list[str]
    rows: list[list[str]]
    quoting: int = csv.QUOTE_MINIMAL
    line_end: str = "\n"
    usable_names: list[str] = field(default_factory=list)
    head: str = ""  # a byte-order mark or blank lines above the header

    def text(self) -> str:
        out = io.StringIO()
        out.write(self.head)
        writer = csv.writer(out, quoting=self.quoting, lineterminator=self.line_end)
        writer.writerow(self.names)
        writer.writerows(self.rows)
        return out.getvalue()


@st.composite
def tables(draw: st.DrawFn) -> Table:
    name = st.one_of(
        st.sampled_from(NAME_POOL),
        st.text(st.sampled_from(NAME_CHARS), min_size=1, max_size=12),
    ).filter(lambda n: n.strip())
    names = draw(st.lists(name, min_size=1, max_size=4, unique_by=lambda n: n.strip().lower()))
    usable = list(names)
    broken = draw(st.sampled_from(["no"] * 18 + ["case twin", "empty name"]))
    if broken == "case twin":
        names.append(names[0].swapcase() if names[0].swapcase() != names[0] else names[0] + " ")
    elif broken == "empty name":
        names.insert(draw(st.integers(0, len(names))), "")
    kinds = [draw(st.sampled_from(KINDS)) for _ in names]
    rows = draw(
        st.lists(st.tuples(*[_value(kind) for kind in kinds]).map(list), min_size=0, max_size=6)
    )
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    line_end = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    head = draw(st.sampled_from(["", "", "", "", "\ufeff", line_end, line_end * 2]))
    return Table(names, kinds, rows, quoting, line_end, usable, head)


def dqdl_string(text: str) -> str:
    """``text`` as a DQDL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def spark_identifier(name: str) -> str:
    """A column name as the user writes it in Spark SQL (where clauses, CustomSql)."""
    return "`" + name.replace("`", "``") + "`"


NUMERIC_CONDITIONS = [
    "> 0",
    ">= 1",
    "< 100",
    "<= 0.5",
    "= 1",
    "!= 0",
    "between 0 and 10",
    "not between 0 and 10",
    "in [1, 2, 3]",
    "not in [0, 1]",
    "> -100000000000000000000",
    "between -1.5 and 100000000000000000000",
    "= 0.333333333333",
]
RATIO_CONDITIONS = ["= 1.0", "> 0.5", ">= 0.0", "< 0.5", "between 0.2 and 0.8", "= 0"]
VALUE_CONDITIONS = [
    *NUMERIC_CONDITIONS,
    'in ["a", "US", "B1"]',
    'not in ["a", NULL]',
    '= "abc"',
    '!= "a"',
    "= NULL",
    "!= NULL",
    "= EMPTY",
    "in [NULL, EMPTY, WHITESPACES_ONLY]",
    'not in [EMPTY, "x"]',
    "= WHITESPACES_ONLY",
    'matches "[a-z]+"',
    'not matches "[0-9]{4}-.*"',
    'matches ".*"',
    'matches "\\\\d+"',
    '> "2024-06-01"',
    '<= "2024-06-05"',
    'between "2024-01-01" and "2024-06-30"',
    "<= now()",
    "> (now() - 3 days)",
    "between (now() - 30 days) and now()",
    "> (now() - 12 hours)",
]
PATTERNS = ["[a-z]+", "^[a-z_.]+$", ".*", "^id$", "[0-9]", "^\\\\w+$", "é|名", "[.]"]
TYPES = [
    '= "INTEGER"',
    '= "BIGINT"',
    '= "DOUBLE"',
    '= "BOOLEAN"',
    '= "DATE"',
    '= "TIMESTAMP"',
    '= "STRING"',
    '= "DECIMAL(5,2)"',
    '!= "INTEGER"',
    'in ["DATE", "TIMESTAMP"]',
    '= "DATE" with format = "MM/dd/yyyy"',
    '= "DATE" with format = "yyyy-MM"',
    '= "SHORT"',
    '= "BYTE"',
]
WHERE_TEMPLATES = [
    "{c} > 1",
    "{c} = 'a'",
    "{c} is not null",
    "{c} <> ''",
    "length({c}) > 2",
    "{c} in ('1', '2', 'abc')",
    "{c} like '2024%'",
    "{c} between 0 and 100",
    "trim({c}) = 'true'",
    "{c} > 1 and {d} is null",
    "{c} = {d}",
]
CUSTOM_SQL = [
    "select count(*) from primary",
    "select count(*) from primary where {c} is null",
    "select count(distinct {c}) from primary",
    "select max(length({c})) from primary",
    "select avg({c}) from primary",
    "select sum({c}) from primary where {d} is not null",
    "select {c} from primary where {c} is not null",
    "select {c} from primary where length({c}) > 1",
]


@st.composite
def rules(draw: st.DrawFn, names: list[str]) -> str:
    """One DQDL rule over columns ``names`` (as the header writes them)."""
    known = [name.strip() for name in names]
    # DQDL writes another dataset's column as reference.column, and sum(column): names without
    # dots, parentheses, commas or braces.
    plain = [name for name in known if not set(name) & set(".(),{}") and name == name.strip()]

    def column() -> str:
        spelled = draw(st.sampled_from(known))
        spelled = draw(st.sampled_from([spelled, spelled, spelled.upper(), "no_such_column"]))
        return dqdl_string(spelled)

    def sql_column() -> str:
        return spark_identifier(draw(st.sampled_from(known)))

    def choose(options: list[str]) -> str:
        return draw(st.sampled_from(options))

    threshold = draw(
        st.sampled_from(["", "", "", " with threshold > 0.5", " with threshold <= 0.2"])
    )
    kind = draw(
        st.sampled_from(
            [
                "ColumnValues",
                "ColumnValues",
                "ColumnValues",
                "ColumnLength",
                "IsComplete",
                "Completeness",
                "IsUnique",
                "Uniqueness",
                "IsPrimaryKey",
                "DataFreshness",
                "ColumnExists",
                "ColumnNamesMatchPattern",
                "ColumnCount",
                "ColumnDataType",
                "RowCount",
                "Mean",
                "Sum",
                "StandardDeviation",
                "Variance",
                "DistinctValuesCount",
                "Entropy",
                "UniqueValueRatio",
                "ColumnCorrelation",
                "CustomSql",
                "RowCountMatch",
                "ReferentialIntegrity",
                "DatasetMatch",
                "SchemaMatch",
                "AggregateMatch",
                "FileSize",
                "FileFreshness",
                "FileMatch",
                "FileUniqueness",
                "DetectAnomalies",
                "Dynamic",
            ]
        )
    )
    if kind == "ColumnValues":
        tag = choose(["", "", ' with ignoreCase = "true"'])
        condition = choose(VALUE_CONDITIONS)
        if tag and ("matches" not in condition and '"' not in condition):
            tag = ""
        text = f"ColumnValues {column()} {condition}{tag}{threshold}"
    elif kind == "ColumnLength":
        text = f"ColumnLength {column()} {choose(NUMERIC_CONDITIONS)}"  # no threshold (AWS)
    elif kind == "IsComplete":
        text = f"IsComplete {column()}"
    elif kind == "Completeness":
        text = f"Completeness {column()} {choose(RATIO_CONDITIONS)}"
    elif kind in ("IsUnique", "IsPrimaryKey"):
        text = f"{kind} {' '.join(column() for _ in range(draw(st.integers(1, 2))))}"
    elif kind == "Uniqueness":
        columns = " ".join(column() for _ in range(draw(st.integers(1, 2))))
        text = f"Uniqueness {columns} {choose(RATIO_CONDITIONS)}"
    elif kind == "DataFreshness":
        condition = choose(
            ["<= 30 days", "> 2 hours", "between 1 hours and 30 days", "< 90 minutes", "= 12 hours"]
        )
        text = f"DataFreshness {column()} {condition}"  # no threshold (AWS)
    elif kind == "ColumnExists":
        text = f"ColumnExists {column()}"
    elif kind == "ColumnNamesMatchPattern":
        text = f'ColumnNamesMatchPattern "{choose(PATTERNS)}"'
    elif kind == "ColumnCount":
        text = f"ColumnCount {choose(NUMERIC_CONDITIONS)}"
    elif kind == "ColumnDataType":
        data_type = choose(TYPES)
        text = f"ColumnDataType {column()} {data_type}{'' if 'format' in data_type else threshold}"
    elif kind == "RowCount":
        text = f"RowCount {choose(NUMERIC_CONDITIONS)}"
    elif kind in ("Mean", "Sum", "StandardDeviation", "Variance", "DistinctValuesCount"):
        text = f"{kind} {column()} {choose(NUMERIC_CONDITIONS)}"
    elif kind in ("Entropy", "UniqueValueRatio"):
        text = f"{kind} {column()} {choose(RATIO_CONDITIONS + NUMERIC_CONDITIONS)}"
    elif kind == "ColumnCorrelation":
        text = f"ColumnCorrelation {column()} {column()} {choose(RATIO_CONDITIONS)}"
    elif kind == "CustomSql":
        sql = choose(CUSTOM_SQL).format(c=sql_column(), d=sql_column())
        row_level = not sql.startswith(("select count", "select max", "select avg", "select sum"))
        condition = "" if row_level else " " + choose(NUMERIC_CONDITIONS)
        text = f"CustomSql {dqdl_string(sql)}{condition}{threshold if row_level else ''}"
    elif kind == "ReferentialIntegrity" and plain:
        name = draw(st.sampled_from(plain))
        text = f"ReferentialIntegrity {dqdl_string(name)} {dqdl_string('reference.' + name)} {choose(RATIO_CONDITIONS)}"
    elif kind == "DatasetMatch":
        text = f'DatasetMatch "reference" {column()} {choose(RATIO_CONDITIONS)}'
    elif kind == "SchemaMatch":
        text = f'SchemaMatch "reference" {choose(RATIO_CONDITIONS)}'
    elif kind == "AggregateMatch" and plain:
        name = draw(st.sampled_from(plain))
        function = choose(["sum", "avg"])
        text = (
            f"AggregateMatch {dqdl_string(f'{function}({name})')} "
            f"{dqdl_string(f'{function}(reference.{name})')} {choose(RATIO_CONDITIONS)}"
        )
    elif kind in ("RowCountMatch", "ReferentialIntegrity", "AggregateMatch"):
        text = f'RowCountMatch "reference" {choose(RATIO_CONDITIONS)}'
    elif kind == "FileSize":
        text = f"FileSize {choose(['> 1 B', '< 1 KB', 'between 1 B and 1 MB'])}"
    elif kind == "FileFreshness":
        text = "FileFreshness " + choose(["> (now() - 24 hours)", '> "2024-01-01"'])
    elif kind == "FileMatch":
        text = 'FileMatch in ["bc9280dfc1d4e67233f138f5bbbf0951"] with hashAlgorithm = "MD5"'
    elif kind == "FileUniqueness":
        text = f"FileUniqueness {choose(RATIO_CONDITIONS)}"
    elif kind == "DetectAnomalies":
        metric = choose(['"RowCount"', '"Completeness" {c}', '"Mean" {c}', '"ColumnLength" {c}'])
        text = f"DetectAnomalies {metric.format(c=column())}"
    else:
        text = choose(
            [
                "RowCount > avg(last(2))",
                "RowCount <= max(last(2)) * 2",
                f"Completeness {column()} >= min(last(2))",
            ]
        )
    return text


@st.composite
def rulesets(draw: st.DrawFn, names: list[str]) -> str:
    """A DQDL document over ``names``: rules (some composite, some labelled), maybe analyzers."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        shape = draw(st.sampled_from(["leaf"] * 6 + ["and", "or", "nested"]))
        if shape == "leaf":
            text = draw(rules(names))
        elif shape == "nested":
            a, b, c = (draw(rules(names)) for _ in range(3))
            text = f"(({a}) and ({b})) or ({c})"
        else:
            text = f"({draw(rules(names))}) {shape} ({draw(rules(names))})"
        where = draw(st.sampled_from([None] * 4 + WHERE_TEMPLATES))
        if where and shape == "leaf" and _takes_where(text):
            known = [name.strip() for name in names]
            clause = where.format(
                c=spark_identifier(draw(st.sampled_from(known))),
                d=spark_identifier(draw(st.sampled_from(known))),
            )
            text += f" where {dqdl_string(clause)}"
        if (
            draw(st.integers(0, 4)) == 0
        ):  # labels come before a leaf's tags, as AWS's grammar has it
            labels = ' labels = ["team" = "ingest", "check.name" = "x"]'
            head, tagged, tags = text.partition(" with ") if shape == "leaf" else (text, "", "")
            text = f"{head}{labels}{tagged}{tags}"
        parts.append(text)
    document = ""
    if draw(st.booleans()) and draw(st.booleans()):
        document += 'DefaultLabels = ["env" = "test"]\n'
    document += "Rules = [\n    " + ",\n    ".join(parts) + "\n]"
    if draw(st.integers(0, 3)) == 0:
        known = [name.strip() for name in names]
        analyzers = [
            "RowCount",
            f"Completeness {dqdl_string(draw(st.sampled_from(known)))}",
            f"AllStatistics {dqdl_string(draw(st.sampled_from(known)))}",
        ]
        document += "\nAnalyzers = [ " + ", ".join(analyzers[: draw(st.integers(1, 3))]) + " ]"
    return document


WHERE_TAKERS = (
    "ColumnValues",
    "ColumnLength",
    "IsComplete",
    "Completeness",
    "IsUnique",
    "Uniqueness",
    "IsPrimaryKey",
    "DataFreshness",
    "ColumnDataType",
    "RowCount",
    "Mean",
    "Sum",
    "StandardDeviation",
    "Variance",
    "DistinctValuesCount",
    "Entropy",
    "UniqueValueRatio",
    "ColumnCorrelation",
)


def _takes_where(rule: str) -> bool:
    words = rule.split()
    return words[0] in WHERE_TAKERS and "with " not in rule


class SteadyHistory:
    """Every metric's history is [0.5, 2.0]; a value outside [0, 3] is an anomaly."""

    def previous(self, metric: str, k: int | None = None) -> list[float]:
        earlier = [0.5, 2.0]
        return earlier[-k:] if k else earlier

    def detect_anomaly(self, metric: str, value: float) -> AnomalyVerdict:
        anomalous = not 0.0 <= value <= 3.0
        return AnomalyVerdict(anomalous, f"{metric} = {value} is outside [0, 3].", 0.0, 3.0, 2)


@dataclass
class Result:
    """What one backend made of the example: its outputs, or the error it stopped with."""

    error: tuple[str, str] | None = None
    outcomes: list[dict] = field(default_factory=list)
    analyzers: list[dict] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    good: list[str] = field(default_factory=list)
    counts: tuple[int, int, int] = (0, 0, 0)


def evaluate(engine: str, ruleset, data: Path, reference: Path, out: Path, spark) -> Result:
    try:
        summary = evaluate_file(
            ruleset,
            data,
            out,
            engine=engine,
            spark=spark if engine == "spark" else None,
            write_good_jsonl=True,
            now=NOW,
            history=SteadyHistory(),
            references={"reference": reference},
        )
    except DataQualityError as error:
        return Result(error=(type(error).__name__, str(error)))

    def objects(name: str) -> list[str]:
        path = out / name
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return sorted(json.dumps(json.loads(line), sort_keys=True) for line in lines)

    outcomes = [json.loads(line) for line in (out / "rule_outcomes.jsonl").read_text().splitlines()]
    analyzers = [json.loads(line) for line in objects("analyzer_results.jsonl")]
    return Result(
        outcomes=outcomes,
        analyzers=analyzers,
        bad=objects("bad_records.jsonl"),
        good=objects("good_records.jsonl"),
        counts=(summary.rows_read, summary.good_rows, summary.bad_rows),
    )


def _neutral_reason(reason: str | None) -> str | None:
    """A failure reason cut after the first database error it quotes (each engine words its own;
    a composite's reason joins its parts' reasons)."""
    if reason is None:
        return None
    found = [(reason.find(p), p) for p in DATABASE_ERRORS if p in reason]
    if not found:
        return reason
    start, prefix = min(found)
    return reason[: start + len(prefix)]


def _metrics_agree(ours: dict[str, float], theirs: dict[str, float]) -> bool:
    return ours.keys() == theirs.keys() and all(
        math.isclose(ours[k], theirs[k], rel_tol=METRIC_TOLERANCE, abs_tol=1e-12)
        or (math.isnan(ours[k]) and math.isnan(theirs[k]))
        for k in ours
    )


def disagreements(duckdb: Result, spark: Result) -> list[str]:
    """Where the two backends' results differ (empty: they agree)."""
    if duckdb.error or spark.error:
        return [] if duckdb.error == spark.error else [f"errors: {duckdb.error} != {spark.error}"]
    found = []
    if len(duckdb.outcomes) != len(spark.outcomes):
        found.append(f"{len(duckdb.outcomes)} != {len(spark.outcomes)} rule outcomes")
    for ours, theirs in zip(duckdb.outcomes, spark.outcomes, strict=False):
        for key in ("Rule", "Outcome", "EvaluatedRule", "Labels"):
            if ours[key] != theirs[key]:
                found.append(f"{ours['Rule']}: {key} {ours[key]!r} != {theirs[key]!r}")
        reasons = _neutral_reason(ours["FailureReason"]), _neutral_reason(theirs["FailureReason"])
        if reasons[0] != reasons[1]:
            found.append(f"{ours['Rule']}: FailureReason {reasons[0]!r} != {reasons[1]!r}")
        if not _metrics_agree(ours["EvaluatedMetrics"], theirs["EvaluatedMetrics"]):
            found.append(
                f"{ours['Rule']}: metrics {ours['EvaluatedMetrics']} != {theirs['EvaluatedMetrics']}"
            )
    if len(duckdb.analyzers) != len(spark.analyzers) or not all(
        a["Analyzer"] == b["Analyzer"]
        and _metrics_agree(a["EvaluatedMetrics"], b["EvaluatedMetrics"])
        for a, b in zip(duckdb.analyzers, spark.analyzers, strict=False)
    ):
        found.append(f"analyzers {duckdb.analyzers} != {spark.analyzers}")
    for name in ("bad", "good"):
        ours, theirs = getattr(duckdb, name), getattr(spark, name)
        if ours != theirs:
            found.append(f"{name} records:\n  duckdb {ours}\n  spark  {theirs}")
    if duckdb.counts != spark.counts:
        found.append(f"rows read/good/bad {duckdb.counts} != {spark.counts}")
    return found


def report(table_csv: str, reference_csv: str, document: str, found: list[str]) -> str:
    """The failure report: the inputs (as Python literals, to paste into a case) and the differences."""
    return (
        "DuckDB and Spark disagree.\n"
        f"CSV = {table_csv!r}\n"
        f"REFERENCE_CSV = {reference_csv!r}\n"
        f"RULESET = {document!r}\n"
        f"Ruleset as written:\n{document}\n"
        "Differences (duckdb first):\n- " + "\n- ".join(found)
    )


@st.composite
def examples(draw: st.DrawFn) -> tuple[Table, Table, str]:
    table = draw(tables())
    reference = Table(
        table.usable_names,
        table.kinds[: len(table.usable_names)],
        draw(
            st.lists(
                st.tuples(*[_value(k) for k in table.kinds[: len(table.usable_names)]]).map(list),
                max_size=4,
            )
        ),
    )
    return table, reference, draw(rulesets(table.usable_names))


def check_example(table: Table, reference: Table, document: str, spark) -> None:
    data_csv, reference_csv = table.text(), reference.text()
    note(report(data_csv, reference_csv, document, []))
    ruleset = parse_ruleset(document)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        data, ref = folder / "input" / "data.csv", folder / "reference.csv"
        data.parent.mkdir()
        data.write_text(data_csv, encoding="utf-8", newline="")
        ref.write_text(reference_csv, encoding="utf-8", newline="")
        moment = (NOW - timedelta(hours=1)).timestamp()
        os.utime(data, (moment, moment))
        results = [
            evaluate(engine, ruleset, data, ref, folder / engine, spark)
            for engine in ("duckdb", "spark")
        ]
    found = disagreements(*results)
    assert not found, report(data_csv, reference_csv, document, found)


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
@pytest.mark.parametrize("case", UNUSABLE_CASES, ids=[c.name for c in UNUSABLE_CASES])
def test_unusable_input_stops_both_backends_alike(
    case: UnusableCase, engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = tmp_path / f"{case.name}.csv"
    data.write_text(case.csv, encoding="utf-8", newline="")
    spark = request.getfixturevalue("spark") if engine == "spark" else None
    result = evaluate(
        engine, parse_ruleset("Rules = [ RowCount > 0 ]"), data, data, tmp_path, spark
    )
    assert result.error == (case.error, f"{data}: {case.message}")
    assert not (tmp_path / "rule_outcomes.jsonl").exists()


@pytest.mark.spark
@seed(SEED)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    print_blob=True,
    # each example runs Spark jobs: shrinking a failure can take an hour, so it is asked for
    phases=list(Phase) if SHRINK else [Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(example=examples())
def test_duckdb_and_spark_agree(example: tuple[Table, Table, str], spark) -> None:
    check_example(*example, spark)
