"""The DataFrame-level batch on Spark (what the Glue job calls): one read of many files, one
``SparkEvaluation`` per file, the same as each file read and evaluated alone."""

from pathlib import Path

import pytest

from quality_movies.dq import DataQualityError, evaluate_spark, parse_ruleset, read_csv_spark
from quality_movies.dq.spark_batch import evaluate_spark_files, file_uri, read_csv_files_spark
from quality_movies_tests.dq.cases import NOW, ListHistory

pytestmark = pytest.mark.spark

RULES = """Rules = [
    IsUnique "x",
    ColumnValues "x" > 6,
    RowCount > 1,
    RowCount >= avg(last(1))
]"""
FILES = {
    "a.csv": "id,x\n1,5\n2,5\n3,7\n",
    "b.csv": "id,x\n4,9\n5,\n",
    "c.csv": "id,x\n",
}


def rows(frame) -> list[tuple]:
    return sorted(
        (
            tuple(row[c] for c in frame.columns if not c.startswith("DataQualityRules"))
            + tuple(tuple(row[c]) for c in frame.columns if c.startswith("DataQualityRules"))
        )
        for row in frame.collect()
    )


def test_files_of_one_read_are_evaluated_as_each_alone(tmp_path: Path, spark) -> None:
    paths = []
    for name, content in FILES.items():
        (tmp_path / name).write_text(content)
        paths.append(tmp_path / name)
    ruleset = parse_ruleset(RULES)
    uris = [file_uri(p) for p in paths]
    frame = read_csv_files_spark(spark, paths)
    seen: list[list] = []

    def history_of(uri, earlier):  # row counts of the files before, after a stored 2
        seen.append([e.rows_read for e in earlier])
        return ListHistory({"Dataset.*.RowCount": [2.0, *(e.rows_read for e in earlier)]})

    results = evaluate_spark_files(ruleset, frame, uris, history_of=history_of, now=NOW)
    assert seen == [[], [3], [3, 2]], "each file sees the files before it, in order"
    assert not any(isinstance(r, DataQualityError) for r in results)
    a, b, c = results
    # by hand: a's 5s repeat and are not > 6; b's empty x fails > 6; c has no rows
    assert [o.outcome for o in a.rule_outcomes] == ["Failed", "Failed", "Passed", "Passed"]
    assert (a.rows_read, a.good_rows, a.bad_rows) == (3, 1, 2)
    assert (b.rows_read, b.good_rows, b.bad_rows) == (2, 1, 1)
    assert b.rule_outcomes[3].outcome == "Failed", "2 rows < the last count, a's 3"
    assert (c.rows_read, c.bad_rows) == (0, 0)
    assert [o.outcome for o in c.rule_outcomes][2:] == ["Failed", "Failed"]
    for path, batch, history in zip(
        paths, results, ([2.0], [2.0, 3.0], [2.0, 3.0, 2.0]), strict=True
    ):
        alone = evaluate_spark(
            ruleset,
            read_csv_spark(spark, path),
            now=NOW,
            history=ListHistory({"Dataset.*.RowCount": history}),
        )
        assert [o.to_glue_dict() for o in batch.rule_outcomes] == [
            o.to_glue_dict() for o in alone.rule_outcomes
        ], path.name
        assert rows(batch.bad) == rows(alone.bad), path.name
        assert rows(batch.good) == rows(alone.good), path.name
        assert batch.ordered.columns == alone.ordered.columns
