"""``quality-movies dq check`` through ``main([...])``: the seed's real data and broken inputs."""

import csv
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from quality_movies.dq import default_ruleset_path
from quality_movies.dq.cli import main
from quality_movies_tests.dq.lines import sorted_lines

SEED_RULE = 'ColumnValues "imdb_rating" between 8.5 and 10.3'


def _seed_split(seed_csv: Path) -> tuple[list[str], list[str]]:
    """Titles of good and bad seed rows, counted with the csv module: between is exclusive."""
    good, bad = [], []
    with seed_csv.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            rating = float(row["IMDB_Rating"])
            (good if 8.5 < rating < 10.3 else bad).append(row["Series_Title"])
    return good, bad


def test_check_on_seed_writes_glue_outputs(seed_csv: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "check",
            "--rules",
            str(default_ruleset_path()),
            "--data",
            str(seed_csv),
            "--out",
            str(out),
            "--good",
        ]
    )
    good_titles, bad_titles = _seed_split(seed_csv)
    printed = capsys.readouterr().out
    assert code == 1
    assert f"Rows: {len(good_titles)} good, {len(bad_titles)} bad" in printed
    assert f"[FAILED] {SEED_RULE}" in printed
    outcomes = [json.loads(line) for line in (out / "rule_outcomes.jsonl").read_text().splitlines()]
    seed = next(o for o in outcomes if o["Rule"] == SEED_RULE)
    assert seed["Outcome"] == "Failed"
    assert seed["EvaluatedMetrics"]["Column.imdb_rating.ColumnValues.Compliance"] == pytest.approx(
        len(good_titles) / (len(good_titles) + len(bad_titles))
    )
    bad = [json.loads(line) for line in (out / "bad_records.jsonl").read_text().splitlines()]
    good = [json.loads(line) for line in (out / "good_records.jsonl").read_text().splitlines()]
    assert [row["series_title"] for row in bad] == bad_titles
    assert [row["series_title"] for row in good] == good_titles
    first_bad = bad[0]
    assert first_bad["DataQualityRulesFail"] == [SEED_RULE]
    assert first_bad["DataQualityEvaluationResult"] == "Failed"
    assert "RowCount > 0" in first_bad["DataQualityRulesSkip"]
    assert list(first_bad)[:2] == ["poster_link", "series_title"]
    assert all(
        isinstance(value, str) or value is None
        for key, value in first_bad.items()
        if not key.startswith("DataQuality")
    )
    assert any(row["gross"] is None for row in bad + good), "empty cells are null"
    assert any(row["genre"] == "Crime, Drama" for row in bad + good)
    assert any(row["released_year"] == "PG" for row in bad + good)


def test_check_exits_zero_when_every_rule_passes(tmp_path: Path, capsys) -> None:
    data = tmp_path / "top.csv"
    data.write_text(
        "Series_Title,IMDB_Rating\nThe Godfather,9.2\nInception,8.8\n", encoding="utf-8"
    )
    code = main(
        [
            "check",
            "--rules",
            str(default_ruleset_path()),
            "--data",
            str(data),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    assert "Rows: 2 good, 0 bad" in capsys.readouterr().out
    assert (tmp_path / "out" / "bad_records.jsonl").read_text() == ""
    assert not (tmp_path / "out" / "good_records.jsonl").exists()


def test_unreadable_rating_is_a_failing_row_with_a_reason(tmp_path: Path, capsys) -> None:
    data = tmp_path / "nine.csv"
    data.write_text("series_title,imdb_rating\nA,9.0\nB,nine\n", encoding="utf-8")
    code = main(
        [
            "check",
            "--rules",
            str(default_ruleset_path()),
            "--data",
            str(data),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 1
    bad = [
        json.loads(line)
        for line in (tmp_path / "out" / "bad_records.jsonl").read_text().splitlines()
    ]
    assert [row["series_title"] for row in bad] == ["B"]
    outcome = json.loads((tmp_path / "out" / "rule_outcomes.jsonl").read_text().splitlines()[0])
    assert "'nine'" in outcome["FailureReason"]


def test_missing_data_file_exits_2(tmp_path: Path, capsys) -> None:
    code = main(
        [
            "check",
            "--rules",
            str(default_ruleset_path()),
            "--data",
            str(tmp_path / "no.csv"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2
    assert "no.csv" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_ruleset_syntax_error_exits_2_with_position(tmp_path: Path, capsys) -> None:
    rules = tmp_path / "bad.dqdl"
    rules.write_text(
        'Rules = [\n  ColumnValues "imdb_rating" between 8.5 10.3\n]\n', encoding="utf-8"
    )
    data = tmp_path / "d.csv"
    data.write_text("imdb_rating\n9\n", encoding="utf-8")
    code = main(
        ["check", "--rules", str(rules), "--data", str(data), "--out", str(tmp_path / "out")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert f"{rules}:2:42:" in err and "'and'" in err


def test_unknown_column_is_a_failed_rule_naming_the_columns(tmp_path: Path, capsys) -> None:
    # As AWS's reference does: a rule naming a column the data lacks is Failed with the reason;
    # the other rules are still evaluated and the outputs written (exit 1, not 2). Unlike Deequ,
    # which skips it at row level, the row-level rule fails the row (issue 22 point 2).
    rules = tmp_path / "r.dqdl"
    rules.write_text('Rules = [ ColumnValues "rating" > 5, RowCount = 1 ]', encoding="utf-8")
    data = tmp_path / "d.csv"
    data.write_text("Title,IMDB_Rating\nA,9\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["check", "--rules", str(rules), "--data", str(data), "--out", str(out)])
    assert code == 1
    printed = capsys.readouterr().out
    assert '[FAILED] ColumnValues "rating" > 5' in printed and "[PASSED] RowCount = 1" in printed
    assert "'rating' does not exist" in printed and "title, imdb_rating" in printed
    [bad] = [json.loads(line) for line in (out / "bad_records.jsonl").read_text().splitlines()]
    assert bad["DataQualityRulesFail"] == ['ColumnValues "rating" > 5']
    assert bad["DataQualityRulesSkip"] == ["RowCount = 1"]
    assert bad["DataQualityEvaluationResult"] == "Failed"


@pytest.mark.parametrize("content", [b"", b"title,imdb_rating\nA,\xff\xfe\x00 9\n"])
def test_empty_or_binary_file_is_unusable_input(content: bytes, tmp_path: Path, capsys) -> None:
    data = tmp_path / "d.csv"
    data.write_bytes(content)
    code = main(
        [
            "check",
            "--rules",
            str(default_ruleset_path()),
            "--data",
            str(data),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 2
    assert "d.csv" in capsys.readouterr().err


@pytest.mark.spark
def test_check_with_spark_engine_matches_duckdb(
    seed_csv: Path, tmp_path: Path, spark, capsys
) -> None:
    args = ["check", "--rules", str(default_ruleset_path()), "--data", str(seed_csv), "--good"]
    assert main([*args, "--out", str(tmp_path / "duck")]) == 1
    assert main([*args, "--engine", "spark", "--out", str(tmp_path / "spark")]) == 1
    for name in ("rule_outcomes.jsonl", "bad_records.jsonl", "good_records.jsonl"):
        spark_lines, duck_lines = (sorted_lines(tmp_path / e / name) for e in ("spark", "duck"))
        assert spark_lines == duck_lines, name


def test_ref_gives_a_dataset_the_rules_name(tmp_path: Path, capsys) -> None:
    # RowCountMatch "reference": 2 primary rows over 4 reference rows is 0.5.
    rules = tmp_path / "r.dqdl"
    rules.write_text(
        'DataSources = { "AdditionalDataSources": ["reference"] }\n'
        'Rules = [ RowCountMatch "reference" = 0.5 ]\n'
        "Analyzers = [ RowCount ]",
        encoding="utf-8",
    )
    data = tmp_path / "d.csv"
    data.write_text("id\n1\n2\n", encoding="utf-8")
    ref = tmp_path / "ref.csv"
    ref.write_text("id\n1\n2\n3\n4\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["check", "--rules", str(rules), "--data", str(data), "--out", str(out)]
    assert main([*args, "--ref", f"reference={ref}"]) == 0
    printed = capsys.readouterr().out
    assert "Dataset.reference.RowCountMatch = 0.5" in printed
    assert "[ANALYZER] RowCount" in printed and "Dataset.*.RowCount = 2" in printed
    analyzers = [
        json.loads(line) for line in (out / "analyzer_results.jsonl").read_text().splitlines()
    ]
    assert analyzers == [{"Analyzer": "RowCount", "EvaluatedMetrics": {"Dataset.*.RowCount": 2.0}}]


def test_unknown_reference_name_fails_the_rule_saying_how_to_give_it(
    tmp_path: Path, capsys
) -> None:
    # Glue's parser accepts any dataset name: the rule that reads one not given is Failed saying so.
    rules = tmp_path / "r.dqdl"
    rules.write_text('Rules = [ RowCountMatch "reference" = 1.0 ]', encoding="utf-8")
    data = tmp_path / "d.csv"
    data.write_text("id\n1\n", encoding="utf-8")
    ref = tmp_path / "ref.csv"
    ref.write_text("id\n1\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["check", "--rules", str(rules), "--data", str(data), "--out", str(out)]
    assert main([*args, "--ref", f"other={ref}", "--ref", f"third={ref}"]) == 1
    printed = capsys.readouterr().out
    assert "[FAILED]" in printed and "'reference' that was not given" in printed
    assert "--ref reference=FILE" in printed


@pytest.mark.parametrize("broken", ["data", "reference"])
def test_a_short_row_is_named_with_its_own_file_and_line(
    broken: str, tmp_path: Path, capsys
) -> None:
    # Header "id,title" (2 fields); line 5 of the broken file is "4" (1 field).
    rules = tmp_path / "r.dqdl"
    rules.write_text('Rules = [ IsComplete "id", RowCountMatch "reference" = 1.0 ]', "utf-8")
    good, short = "id,title\n1,a\n2,b\n3,c\n4,d\n", "id,title\n1,a\n2,b\n3,c\n4\n"
    data, ref = tmp_path / "d.csv", tmp_path / "ref.csv"
    data.write_text(short if broken == "data" else good, encoding="utf-8")
    ref.write_text(short if broken == "reference" else good, encoding="utf-8")
    args = ["check", "--rules", str(rules), "--data", str(data), "--out", str(tmp_path / "o")]
    assert main([*args, "--ref", f"reference={ref}"]) == 2
    named = data if broken == "data" else ref
    assert capsys.readouterr().err == (
        f"error: {named}: line 5 has 1 fields where the header has 2; fix that row "
        "(a value holding commas goes in double quotes) and run again.\n"
    )
    assert not (tmp_path / "o").exists()


def test_a_file_that_is_not_utf8_gets_one_line_saying_so(tmp_path: Path, capsys) -> None:
    rules = tmp_path / "r.dqdl"
    rules.write_text('Rules = [ IsComplete "order-id" ]', encoding="utf-8")
    data = tmp_path / "latin1.csv"
    data.write_bytes(b"id,order-id\n1,\xe9t\xe9\n")
    code = main(["check", "--rules", str(rules), "--data", str(data), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert (
        err == f"error: {data}: line 2 is not UTF-8 text; save the file as UTF-8 and run again.\n"
    )


def test_summary_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    # `dq check ... | head -1`: head exits after one line; the rest of a summary longer than a pipe's
    # buffer (3,000 rules, ~100 KB) then has no reader. Expected: head's one line, nothing on stderr
    # (no BrokenPipeError traceback), exit status 141 = 128 + SIGPIPE, as a shell reports it.
    rules = tmp_path / "many.dqdl"
    rules.write_text("Rules = [\n" + ",\n".join(f"  RowCount > {i}" for i in range(3000)) + "\n]\n")
    data = tmp_path / "two.csv"
    data.write_text("id\n1\n2\n")
    command = " ".join(
        shlex.quote(part)
        for part in (sys.executable, "-m", "quality_movies.cli", "dq", "check", "--rules",
                     str(rules), "--data", str(data), "--out", str(tmp_path / "out"))
    )  # fmt: skip
    done = subprocess.run(
        ["bash", "-c", f'{command} | head -1; echo "status ${{PIPESTATUS[0]}}"'],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout == "Data quality of two.csv (comma-delimited CSV): 2 rows read\nstatus 141\n"
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("rule", "table", "instead"),
    [
        # CustomSql page (https://docs.aws.amazon.com/glue/latest/dg/dqdl-rule-types-CustomSql.html):
        # "If you are in the AWS Glue Data Catalog, you can also use the actual table name".
        (
            'CustomSql "select count(*) from database.table" between 10 and 20',
            "database.table",
            "give a dataset of that name as a reference (--ref database.table=FILE",
        ),
        # AggregateMatch page: `AggregateMatch "avg(ratings)" "avg(database_name.tablename.ratings)"`.
        (
            'AggregateMatch "avg(ratings)" "avg(database_name.tablename.ratings)" >= 0.9',
            "database_name.tablename",
            "write avg(NAME.ratings)",
        ),
    ],
)
def test_data_catalog_table_names_fail_the_rule_by_name(
    rule: str, table: str, instead: str, tmp_path: Path, capsys
) -> None:
    # AWS's parser accepts them: the ruleset loads, and the rule is Failed naming the table.
    rules = tmp_path / "catalog.dqdl"
    rules.write_text(f"Rules = [ {rule} ]\n")
    data = tmp_path / "data.csv"
    data.write_text("id,ratings\n1,8\n2,9\n")
    code = main(["check", "--rules", str(rules), "--data", str(data), "--out", str(tmp_path / "o")])
    assert code == 1
    out = capsys.readouterr().out
    assert "[FAILED]" in out
    assert f"'{table}' is a Glue Data Catalog table name" in out
    assert "exist only inside AWS Glue" in out
    assert "--ref" in out and "reference_data/" in out
    assert instead in out


def test_primary_and_reference_aliases_still_read(tmp_path: Path, capsys) -> None:
    # By hand: 2 rows; avg(ratings) = 8.5 here and in the reference copy, so 8.5 / 8.5 = 1.
    rules = tmp_path / "aliases.dqdl"
    rules.write_text(
        "Rules = [\n"
        '  CustomSql "select count(*) from primary" = 2,\n'
        '  AggregateMatch "avg(primary.ratings)" "avg(reference.ratings)" = 1\n'
        "]\n"
    )
    data = tmp_path / "data.csv"
    data.write_text("id,ratings\n1,8\n2,9\n")
    code = main(
        ["check", "--rules", str(rules), "--data", str(data), "--out", str(tmp_path / "o"),
         "--ref", f"reference={data}"]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "Rules: 2 passed, 0 failed" in printed


@pytest.mark.spark
def test_failing_sql_on_spark_leaves_no_java_stack_trace_on_stderr(tmp_path: Path) -> None:
    # A CustomSql naming a column the data lacks is a Failed rule with the reason on stdout; stderr may
    # carry Spark's start-up notices but not PySpark's SQLQueryContextLogger line with the JVM's trace.
    rules = tmp_path / "bad_sql.dqdl"
    rules.write_text('Rules = [ CustomSql "select count(*) from primary where nosuch > 1" = 1 ]\n')
    data = tmp_path / "two.csv"
    data.write_text("id,x\n1,2\n2,3\n")
    done = subprocess.run(
        [sys.executable, "-m", "quality_movies.cli", "dq", "check", "--rules", str(rules),
         "--data", str(data), "--engine", "spark", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 1
    assert "[FAILED] CustomSql" in done.stdout
    assert "nosuch" in done.stdout
    assert "SQLQueryContextLogger" not in done.stderr
    assert "Traceback" not in done.stderr
    assert "org.apache.spark.sql.AnalysisException" not in done.stderr
