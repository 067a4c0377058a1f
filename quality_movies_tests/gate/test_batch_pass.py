"""The embedded runner evaluates a batch in ONE ``evaluate_files`` pass: a file that cannot be read fails
alone under the user's file name, and each file is judged against the files before it in the batch."""

from contextlib import nullcontext
from pathlib import Path

import pytest

from quality_movies.quality import resources
from quality_movies.quality.resources import (
    BatchInputs,
    EmbeddedQualityJobRunner,
    FileToEvaluate,
    QualityJobFailed,
    staged_outputs,
    staging_token,
)
from quality_movies_tests.gate.conftest import csv_text, movie_line


@pytest.fixture
def passes(monkeypatch) -> list[list[str]]:
    """The files of each ``evaluate_files`` call the runner makes; ``evaluate_file`` is not called."""
    calls: list[list[str]] = []
    real = resources.evaluate_files

    def counting(ruleset, files, **options):
        calls.append([f.name for f in files])
        return real(ruleset, files, **options)

    def alone(*args, **kwargs):
        raise AssertionError("the runner evaluated a file by itself")

    monkeypatch.setattr(resources, "evaluate_files", counting)
    monkeypatch.setattr(resources, "evaluate_file", alone)
    return calls


def test_a_batch_is_one_pass_and_an_unusable_file_fails_alone(gate, passes):
    gate.runner = EmbeddedQualityJobRunner(work_dir=str(gate.home / "work"), batch_max_files=10)
    names = [
        # B's rating is not between 8.5 and 10.3: a bad record
        gate.ingest("f0.csv", csv_text(movie_line("A", "9.0"), movie_line("B", "8.0"))),
        # no imdb_rating column: found by the inspection, before the pass
        gate.ingest("f1.csv", "Series_Title\nNo rating\n"),
        gate.ingest("f2.csv", csv_text(movie_line("C", "9.5"))),
        # D's meta_score above 100 breaks the contract: a bad record, the file loads the rest
        gate.ingest("f3.csv", csv_text(movie_line("D", "9.1", "150"), movie_line("E", "9.2"))),
    ]

    result = gate.run(*names)

    assert passes == [["f0.csv", "f2.csv", "f3.csv"]]
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert list(failure.metadata["failed_files"].value) == ["f1.csv"]
    assert "f1.csv" in failure.description
    assert gate.warehouse.row_counts() == {"f0.csv": 1, "f2.csv": 1, "f3.csv": 1}
    history = gate.metric_store.frame().drop_duplicates("source_file")["source_file"].tolist()
    assert history == ["f0.csv", "f2.csv", "f3.csv"]
    assert not any("_staging" in key for key in gate.lake_files())
    assert gate.work_files() == []


def test_a_file_the_engine_cannot_read_fails_alone_named_as_the_users(gate, passes, tmp_path):
    ruleset = tmp_path / "rules.dqdl"
    # each file's row count at least the previous file's: judged against the earlier files of the batch
    ruleset.write_text('Rules = [ RowCount >= max(last(1)), IsComplete "series_title" ]\n')
    runner = EmbeddedQualityJobRunner(work_dir=str(gate.home / "work"), ruleset_path=str(ruleset))
    texts = {
        "f0.csv": csv_text(movie_line("A", "9.0"), movie_line("B", "8.0")),
        # passed the inspection earlier (raw_movies), yet DuckDB cannot read its third line
        "bad.csv": csv_text(movie_line("C", "9.0")) + 'p,"unclosed\n',
        "f1.csv": csv_text(movie_line("D", "9.0"), movie_line("H", "9.0")),
        "f2.csv": csv_text(*(movie_line(t, "9.0") for t in "EFG")),
    }
    files = []
    for name, text in texts.items():
        gate.ingest(name, text)
        head = gate.lake.head(gate.lake.input_key(name))
        outputs = staged_outputs(gate.lake, name, staging_token())
        files.append(FileToEvaluate(name, head.etag, outputs, head.size, inspected=True))
    inputs = BatchInputs(gate.metric_store.frame(), lambda source_file, earlier: nullcontext({}))

    results = runner.run_batch(None, gate.lake, files, inputs)

    assert passes == [list(texts)]
    f0, bad, f1, f2 = results
    assert isinstance(bad, QualityJobFailed)
    message = str(bad)
    assert message.startswith("bad.csv: line 3 cannot be read as CSV")
    assert str(gate.home) not in message and "\n" not in message
    dynamic = {r.source_file: r.rule_outcomes[0]["Outcome"] for r in (f0, f1, f2)}
    # f1 (2 rows) is judged after f0 (2 rows), not after f2 (3 rows); f2 (3 rows) after f1
    assert dynamic["f1.csv"] == "Passed" and dynamic["f2.csv"] == "Passed"
    for result in (f0, f1, f2):
        assert result.rows_conserved
        for key in result.outputs.keys().values():
            assert Path(gate.lake.uri(key)).is_file()
    # the ruleset has no rating rule: every row of the good files is validated
    assert [(r.rows_read, r.validated_rows) for r in (f0, f1, f2)] == [(2, 2), (2, 2), (3, 3)]
