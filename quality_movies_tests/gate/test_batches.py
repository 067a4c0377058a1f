"""The gate over a backlog in batches: one warehouse ``load_files`` call per batch, files failing alone,
metric history recorded in file order (embedded resources)."""

import math
from collections.abc import Sequence

from quality_movies.contract import ValidatedTable
from quality_movies.quality.resources import EmbeddedQualityJobRunner
from quality_movies.warehouse.resources import DuckDBWarehouse
from quality_movies_tests.gate.conftest import csv_text, movie_line

LOADS: list[list[str]] = []


class CountingWarehouse(DuckDBWarehouse):
    """The embedded warehouse, remembering the files of each ``load_files`` call."""

    def load_files(self, validated: Sequence[ValidatedTable]) -> dict[str, int | Exception]:
        LOADS.append([table.source_file for table in validated])
        return super().load_files(validated)


def test_a_backlog_loads_once_per_batch_and_a_bad_file_fails_alone(gate):
    LOADS.clear()
    gate.runner = EmbeddedQualityJobRunner(work_dir=str(gate.home / "work"), batch_max_files=2)
    gate.warehouse = CountingWarehouse(path=gate.warehouse.path)
    names = []
    for i in range(5):
        # the third file has no imdb_rating column: it fails alone, inside its batch
        text = "Series_Title\nNo rating\n" if i == 2 else csv_text(movie_line(f"M{i}", "9.0"))
        names.append(gate.ingest(f"f{i}.csv", text))

    result = gate.run(*names)

    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert list(failure.metadata["failed_files"].value) == ["f2.csv"]
    # batches of two files in order: [f0, f1], [f2, f3], [f4]; f2 failed before the load
    assert len(LOADS) == math.ceil(5 / 2)
    assert LOADS == [["f0.csv", "f1.csv"], ["f3.csv"], ["f4.csv"]]
    assert gate.warehouse.row_counts() == {n: 1 for n in names if n != "f2.csv"}
    # the metric history holds the loaded files in file order
    history = gate.metric_store.frame().drop_duplicates("source_file")["source_file"].tolist()
    assert history == ["f0.csv", "f1.csv", "f3.csv", "f4.csv"]
    assert not any("_staging" in key for key in gate.lake_files())
