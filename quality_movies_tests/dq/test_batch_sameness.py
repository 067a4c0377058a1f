"""Proof of sameness: every case of the shared case tables, evaluated inside a batch of other files,
gives each file the outcomes, metrics, bad records and validated rows it gets evaluated alone."""

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pytest

from quality_movies.dq import (
    BatchFile,
    BatchResult,
    DataQualityError,
    evaluate_file,
    evaluate_files,
    parse_ruleset,
)
from quality_movies.dq import batch as batch_module
from quality_movies_tests.dq import cases_language
from quality_movies_tests.dq.cases import CASES, NOW, Case, ListHistory
from quality_movies_tests.dq.lines import sorted_lines

ALL_CASES = CASES + cases_language.CASES


def batch_of(case: Case, other: Case, folder: Path) -> list[Path]:
    """The case's file among others: another case's file, its rows reversed, its first half, its
    header alone (most share its header, so they are read in one pass with it)."""
    header, *rows = case.csv.splitlines(keepends=True)
    if rows and not rows[-1].endswith("\n"):
        rows[-1] += "\n"
    contents = {
        f"other_{other.name}.csv": other.csv,
        f"reversed_{case.name}.csv": header + "".join(reversed(rows)),
        f"{case.name}.csv": case.csv,
        f"half_{case.name}.csv": header + "".join(rows[: len(rows) // 2]),
        f"header_{case.name}.csv": header,
    }
    paths = []
    for name, content in contents.items():
        path = folder / name
        path.write_text(content, encoding="utf-8")
        if case.data_modified:
            os.utime(path, (case.data_modified.timestamp(), case.data_modified.timestamp()))
        paths.append(path)
    return paths


def case_inputs(case: Case, tmp_path: Path) -> tuple[list[Path], dict[str, Path]]:
    folder = tmp_path / "input"
    folder.mkdir()
    for name, (content, modified) in case.neighbours.items():
        (folder / name).write_text(content, encoding="utf-8")
        os.utime(folder / name, (modified.timestamp(), modified.timestamp()))
    other = ALL_CASES[(ALL_CASES.index(case) + 1) % len(ALL_CASES)]
    paths = batch_of(case, other, folder)
    references = {}
    for name, content in case.references.items():
        path = tmp_path / "references" / f"{name}.csv"
        path.parent.mkdir(exist_ok=True)
        path.write_text(content, encoding="utf-8")
        references[name] = path
    return paths, references


def history_after(case: Case, earlier: Sequence[BatchResult]) -> ListHistory | None:
    """The case's history, then the metrics of the files before this one (in batch order)."""
    if case.history is None:
        return None
    values = {metric: list(found) for metric, found in case.history.items()}
    for result in earlier:
        if result.summary is not None:
            for outcome in result.summary.rule_outcomes:
                for metric, value in outcome.evaluated_metrics.items():
                    values.setdefault(metric, []).append(value)
    return ListHistory(values)


OPTIONS = {"write_good_jsonl": True, "good_parquet": True, "now": NOW}


def alone(case: Case, paths: Sequence[Path], references: dict, out: Path) -> list[BatchResult]:
    """Each file evaluated by itself, in batch order, each seeing the earlier ones' metrics."""
    ruleset = parse_ruleset(case.rules.replace("{folder}", str(paths[0].parent)))
    results: list[BatchResult] = []
    for path in paths:
        try:
            summary = evaluate_file(
                ruleset,
                path,
                out / path.stem,
                history=history_after(case, results),
                references=references,
                **OPTIONS,
            )
            results.append(BatchResult(path.name, summary, None))
        except Exception as error:  # compared with what the batch gives the file
            results.append(BatchResult(path.name, None, error))
    return results


def together(case: Case, paths: Sequence[Path], references: dict, out: Path) -> list[BatchResult]:
    ruleset = parse_ruleset(case.rules.replace("{folder}", str(paths[0].parent)))
    return evaluate_files(
        ruleset,
        [BatchFile(path, None, out / path.stem) for path in paths],
        history_of=lambda _, earlier: history_after(case, earlier),
        references=references,
        **OPTIONS,
    )


def parquet_rows(path: Path) -> list[tuple]:
    con = duckdb.connect()
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
        rows = con.execute(f"SELECT * FROM read_parquet('{path}')").fetchall()
    finally:
        con.close()
    return [(name, kind) for name, kind, *_ in described] + sorted(rows, key=repr)


def assert_same(alone_result: BatchResult, batch_result: BatchResult) -> None:
    """The same result and the same output files (rows in any order, as the engine promises)."""
    name = alone_result.source_name
    assert batch_result.source_name == name
    if alone_result.error is not None:
        assert batch_result.error is not None, f"{name} failed alone but not in the batch"
        assert type(batch_result.error) is type(alone_result.error), name
        assert str(batch_result.error) == str(alone_result.error), name
        return
    assert batch_result.error is None, f"{name}: {batch_result.error}"
    first, second = alone_result.summary, batch_result.summary
    assert (second.rows_read, second.good_rows, second.bad_rows) == (
        first.rows_read,
        first.good_rows,
        first.bad_rows,
    ), name
    assert [o.to_glue_dict() for o in second.rule_outcomes] == [
        o.to_glue_dict() for o in first.rule_outcomes
    ], name
    assert [a.to_dict() for a in second.analyzer_results] == [
        a.to_dict() for a in first.analyzer_results
    ], name
    assert sorted(second.outputs) == sorted(first.outputs), name
    for kind, path in first.outputs.items():
        other = second.outputs[kind]
        if path.suffix == ".parquet":
            assert parquet_rows(other) == parquet_rows(path), (name, kind)
        else:
            assert sorted_lines(other) == sorted_lines(path), (name, kind)
    assert sorted(p.name for p in second.outputs["bad_records"].parent.iterdir()) == sorted(
        p.name for p in first.outputs["bad_records"].parent.iterdir()
    ), f"{name}: the batch left other files in the output folder"


@pytest.fixture
def passes(monkeypatch) -> list[str]:
    """The files the batch evaluated one by one (``evaluate_file``) rather than in its pass."""
    alone_names: list[str] = []
    run_alone = batch_module._alone

    def recording(ruleset, batch_file, *args):
        alone_names.append(batch_file.name)
        return run_alone(ruleset, batch_file, *args)

    monkeypatch.setattr(batch_module, "_alone", recording)
    return alone_names


# Cases that cannot share a pass and run file by file (docs/dqdl.md, "Batches"): rules that read
# other datasets, and row-level CustomSql (a join of the statement's rows).
RUN_ALONE = {case.name for case in ALL_CASES if case.references} | {"custom_sql_row_level"}
# On Spark a where clause that raises on a value fails the shared job, whose files then run alone
# (DuckDB finds the rule failing before its pass, as evaluate_file does).
SPARK_RUN_ALONE = RUN_ALONE | {"where_clause_failing_while_running"}


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.name for c in ALL_CASES])
def test_case_in_a_batch_is_the_case_alone(case: Case, tmp_path: Path, passes: list) -> None:
    paths, references = case_inputs(case, tmp_path)
    by_itself = alone(case, paths, references, tmp_path / "alone")
    in_batch = together(case, paths, references, tmp_path / "batch")
    assert len(in_batch) == len(paths)
    for first, second in zip(by_itself, in_batch, strict=True):
        assert_same(first, second)
    ran_alone = f"{case.name}.csv" in passes
    assert ran_alone == (case.name in RUN_ALONE), "which files share the batch's pass"


def test_the_batch_pass_reads_files_of_one_header_together(tmp_path: Path, passes: list) -> None:
    """Derived by hand: IsUnique counts duplicates within each file, never across files."""
    ruleset = parse_ruleset('Rules = [ IsUnique "x", RowCount = 2 ]')
    contents = {"a.csv": "x\n1\n2\n", "b.csv": "x\n2\n2\n", "c.csv": "x\n3\n"}
    files = []
    for name, content in contents.items():
        (tmp_path / name).write_text(content)
        files.append(BatchFile(tmp_path / name, None, tmp_path / "out" / name))
    results = evaluate_files(ruleset, files)
    assert passes == []
    outcomes = {r.source_name: [o.outcome for o in r.summary.rule_outcomes] for r in results}
    assert outcomes == {
        "a.csv": ["Passed", "Passed"],
        "b.csv": ["Failed", "Passed"],
        "c.csv": ["Passed", "Failed"],
    }
    assert [r.summary.bad_rows for r in results] == [0, 2, 0]
    bad = [json.loads(line) for line in (tmp_path / "out/b.csv/bad_records.jsonl").open()]
    assert [row["x"] for row in bad] == ["2", "2"]


def test_a_file_that_cannot_be_read_fails_alone_with_its_own_message(
    tmp_path: Path, passes: list
) -> None:
    ruleset = parse_ruleset('Rules = [ ColumnValues "x" > 1, RowCount > 0 ]')
    contents = {
        "a.csv": b"x,y\n1,2\n3,4\n",
        "ragged.csv": b"x,y\n1,2\n3\n",
        "latin1.csv": b"x,y\n5,caf\xe9\n",
        "b.csv": b"x,y\n5,6\n",
        "empty.csv": b"",
    }
    files = []
    for name, content in contents.items():
        (tmp_path / name).write_bytes(content)
        files.append(BatchFile(tmp_path / name, None, tmp_path / "batch" / name))
    files.append(BatchFile(tmp_path / "missing.csv", "missing.csv", tmp_path / "batch" / "m"))
    results = evaluate_files(ruleset, files)
    errors = {r.source_name: str(r.error) for r in results if r.error}
    assert errors == {
        "ragged.csv": f"{tmp_path}/ragged.csv: line 3 has 1 fields where the header has 2; fix that "
        "row (a value holding commas goes in double quotes) and run again.",
        "latin1.csv": f"{tmp_path}/latin1.csv: line 2 is not UTF-8 text; save the file as UTF-8 "
        "and run again.",
        "empty.csv": f"{tmp_path}/empty.csv: the file is empty; expected a CSV header row",
        "missing.csv": f"{tmp_path}/missing.csv: no such data file",
    }
    for result in results:
        if result.error:
            out = tmp_path / "batch" / result.source_name
            assert not out.exists(), "a failed file leaves nothing"
            with pytest.raises(type(result.error), match="^" + re.escape(str(result.error))):
                evaluate_file(
                    ruleset, next(f.path for f in files if f.name == result.source_name), out
                )
    assert [r.summary.bad_rows for r in results if r.summary] == [1, 0]
    assert "a.csv" not in passes and "b.csv" not in passes, "the readable files share one pass"


def neutral(result: BatchResult) -> dict:
    """What the engines promise alike: outcomes (the database's own error words cut off), counts,
    analyzer metrics, and the bad and good rows as sorted lines."""
    summary = result.summary
    if summary is None:
        return {"error": str(result.error)}
    outcomes = []
    for outcome in summary.rule_outcomes:
        reason = outcome.failure_reason or ""
        prefix = next((p for p in DATABASE_ERRORS if reason.startswith(p)), None)
        outcomes.append({**outcome.to_glue_dict(), "FailureReason": prefix or reason})
    return {
        "counts": (summary.rows_read, summary.good_rows, summary.bad_rows),
        "outcomes": outcomes,
        "analyzers": [a.to_dict() for a in summary.analyzer_results],
        "rows": {
            kind: sorted_lines(summary.outputs[kind]) for kind in ("bad_records", "good_records")
        },
        "validated": parquet_rows(summary.outputs["good_parquet"])[2:],
    }


DATABASE_ERRORS = ("The SQL statement failed: ", "The where clause failed: ")


@pytest.mark.spark
@pytest.mark.parametrize("case", ALL_CASES, ids=[c.name for c in ALL_CASES])
def test_case_in_a_spark_batch_is_the_case_alone(
    case: Case, tmp_path: Path, passes: list, spark
) -> None:
    """Spark's batch against the files evaluated alone (on DuckDB, which the shared cases hold
    equal to Spark alone: test_semantics): the case's file read together with its rows reversed
    (two files per case keep the Spark tier's run time down)."""
    paths, references = case_inputs(case, tmp_path)
    paths = [p for p in paths if p.name.startswith(("reversed_", case.name))]
    by_itself = alone(case, paths, references, tmp_path / "alone")
    ruleset = parse_ruleset(case.rules.replace("{folder}", str(paths[0].parent)))
    in_batch = evaluate_files(
        ruleset,
        [BatchFile(path, None, tmp_path / "batch" / path.stem) for path in paths],
        engine="spark",
        spark=spark,
        history_of=lambda _, earlier: history_after(case, earlier),
        references=references,
        **OPTIONS,
    )
    for first, second in zip(by_itself, in_batch, strict=True):
        assert neutral(second) == neutral(first), first.source_name
    ran_alone = f"{case.name}.csv" in passes
    assert ran_alone == (case.name in SPARK_RUN_ALONE), "which files share the batch's read"


def test_a_long_group_is_split_into_passes_of_bounded_size(
    tmp_path: Path, passes: list, monkeypatch
) -> None:
    """Four 6-byte files with passes of at most 12 bytes: two passes of two files, none alone."""
    monkeypatch.setattr(batch_module, "PASS_BYTES", 12)
    read_together: list[list[str]] = []
    run = batch_module._HeaderGroup.run

    def counting(group):
        read_together.append([f.name for f in group.files])
        return run(group)

    monkeypatch.setattr(batch_module._HeaderGroup, "run", counting)
    ruleset = parse_ruleset('Rules = [ IsUnique "x" ]')
    contents = {
        "a.csv": "x\n1\n2\n",
        "b.csv": "x\n2\n2\n",
        "c.csv": "x\n1\n1\n",
        "d.csv": "x\n3\n4\n",
    }
    files = []
    for name, content in contents.items():
        (tmp_path / name).write_text(content)
        files.append(BatchFile(tmp_path / name, None, tmp_path / "out" / name))
    results = evaluate_files(ruleset, files)
    assert passes == []
    assert read_together == [["a.csv", "b.csv"], ["c.csv", "d.csv"]]
    assert [r.summary.bad_rows for r in results] == [0, 2, 2, 0]


def test_a_history_that_fails_leaves_no_staged_outputs(tmp_path: Path) -> None:
    ruleset = parse_ruleset("Rules = [ RowCount > avg(last(1)) ]")
    files = []
    for name in ("a.csv", "b.csv", "c.csv"):
        (tmp_path / name).write_text("x\n1\n")
        files.append(BatchFile(tmp_path / name, None, tmp_path / "out" / name))

    def history_of(batch_file, earlier):
        if earlier:
            raise RuntimeError("the metric store is down")
        return ListHistory({"Dataset.*.RowCount": [0.0]})

    with pytest.raises(RuntimeError, match="metric store"):
        evaluate_files(ruleset, files, history_of=history_of)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.csv"]
    assert sorted(p.name for p in (tmp_path / "out" / "a.csv").iterdir()) == [
        "bad_records.jsonl",
        "rule_outcomes.jsonl",
    ]


@pytest.fixture
def small_partitioned_writes():
    """DuckDB writes each partition of a COPY in many pieces (as it does past its limits)."""
    from quality_movies.dq import duckdb_engine

    database = duckdb_engine._database()
    database.execute("SET GLOBAL partitioned_write_max_open_files = 2")
    database.execute("SET GLOBAL partitioned_write_flush_threshold = 500")
    yield
    database.execute("RESET GLOBAL partitioned_write_max_open_files")
    database.execute("RESET GLOBAL partitioned_write_flush_threshold")


def test_a_file_written_in_pieces_is_gathered_whole(
    tmp_path: Path, passes: list, small_partitioned_writes
) -> None:
    ruleset = parse_ruleset('Rules = [ ColumnValues "x" > 1000 ]')
    paths = []
    for number in range(4):
        path = tmp_path / f"f{number}.csv"
        path.write_text("id,x\n" + "".join(f"{i},{i * (number + 1)}\n" for i in range(3000)))
        paths.append(path)
    alone_results = [
        BatchResult(p.name, evaluate_file(ruleset, p, tmp_path / "alone" / p.stem, **OPTIONS), None)
        for p in paths
    ]
    batch = [BatchFile(p, None, tmp_path / "batch" / p.stem) for p in paths]
    batch_results = evaluate_files(ruleset, batch, **OPTIONS)
    assert passes == []
    for first, second in zip(alone_results, batch_results, strict=True):
        assert_same(first, second)
    # by hand: file n holds i * (n + 1) for i < 3000; > 1000 fails where i <= 1000 // (n + 1)
    assert [r.summary.bad_rows for r in batch_results] == [1001, 501, 334, 251]


def test_a_header_is_read_from_the_first_bytes_alone(tmp_path: Path) -> None:
    """What the Glue job groups S3 objects by (a ranged GET): the same header as from the file."""
    from quality_movies.dq.duckdb_engine import parse_header, read_header

    path = tmp_path / "a.csv"
    path.write_bytes(b'\xef\xbb\xbf\nId, Title ,"x,y"\n1,2,3\n')
    header = parse_header(path.read_bytes()[:21], "s3://bucket/a.csv")  # through the header
    assert header == read_header(path)
    assert (header.names, header.blank_lines) == (["Id", " Title ", "x,y"], 1)
    with pytest.raises(DataQualityError, match=r"^s3://bucket/b\.csv: the header row"):
        parse_header(b'a,"b\n', "s3://bucket/b.csv")
