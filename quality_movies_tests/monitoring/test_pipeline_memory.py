"""The quality memory inside the embedded pipeline: per-file check results, one history entry per file
version (kept on a re-run), and the report asset after the refresh."""

from pathlib import Path

import dagster as dg
import pytest

from quality_movies.definitions import build_definitions
from quality_movies.environment import Environment
from quality_movies.jobs import INGEST_JOB, REFRESH_JOB
from quality_movies.partitions import movie_files
from quality_movies.pipeline_runs import range_tags
from quality_movies.sample import write_sample

ROW_COUNT = "Dataset.*.RowCount"


@pytest.fixture
def deployment(tmp_path: Path):
    env = Environment.from_env({"QUALITY_MOVIES_HOME": str(tmp_path / "home")})
    with dg.DagsterInstance.ephemeral() as instance:
        yield env, build_definitions(env), instance


def test_each_file_has_its_own_checks_history_entry_and_report(deployment, tmp_path):
    env, defs, instance = deployment
    resources = env.resources()
    lake, store = resources["lake"], resources["metric_store"]
    sizes = {"a_movies.csv": 40, "b_movies.csv": 25, "c_movies.csv": 31}
    for i, (name, rows) in enumerate(sizes.items()):
        write_sample(tmp_path / name, rows=rows, seed=i + 1, unique_titles=True)
        lake.upload(tmp_path / name, lake.input_key(name))
    instance.add_dynamic_partitions(movie_files.name, list(sizes))
    job = defs.resolve_job_def(INGEST_JOB)
    result = job.execute_in_process(
        instance=instance, tags=range_tags("a_movies.csv", "c_movies.csv"), raise_on_error=False
    )

    evaluations = {(e.partition, e.check_name): e for e in result.get_asset_check_evaluations()}
    for name, rows in sizes.items():
        row_count = evaluations[(name, "rowcount_gt_0")]
        assert row_count.passed
        assert row_count.metadata[ROW_COUNT] == dg.FloatMetadataValue(float(rows))
        assert evaluations[(name, "rows_conserved")].passed
        assert (name, "columnvalues_imdb_rating_between_8_5_and_10_3") in evaluations

    assert store.history("z.csv", "v").previous(ROW_COUNT) == [40, 25, 31]
    frame = store.frame()
    assert frame.drop_duplicates(["source_file", "file_version"]).source_file.tolist() == list(
        sizes
    )
    assert set(frame.file_version) == {lake.head(lake.input_key(n)).etag for n in sizes}

    again = job.execute_in_process(
        instance=instance, tags=range_tags("b_movies.csv", "b_movies.csv"), raise_on_error=False
    )
    assert again.success
    rerun = store.frame()
    assert len(rerun) == len(frame)
    assert store.history("z.csv", "v").previous(ROW_COUNT) == [40, 25, 31]
    assert rerun[rerun.source_file == "b_movies.csv"].run_id.unique().tolist() == [again.run_id]

    refreshed = defs.resolve_job_def(REFRESH_JOB).execute_in_process(instance=instance)
    [report] = refreshed.asset_materializations_for_node("quality_report")
    page = Path(lake.uri("reports/quality_report.html")).read_text()
    assert report.metadata["files"] == dg.MetadataValue.int(3)
    assert all(name in page for name in sizes)


def test_analyzer_metrics_are_recorded_in_the_history(tmp_path):
    # Analyzers compute metrics without a verdict (DQDL reference, "Analyzers"); the history keeps them
    # beside the rules' metrics. 12 rows written: RowCount 12; unique titles, so Uniqueness 1.0.
    ruleset = tmp_path / "with_analyzers.dqdl"
    ruleset.write_text(
        'Rules = [ RowCount > 0 ]\nAnalyzers = [ RowCount, Uniqueness "series_title" ]\n'
    )
    env = Environment.from_env(
        {"QUALITY_MOVIES_HOME": str(tmp_path / "home"), "QUALITY_MOVIES_RULESET": str(ruleset)}
    )
    resources = env.resources()
    lake, store = resources["lake"], resources["metric_store"]
    write_sample(tmp_path / "a_movies.csv", rows=12, seed=5, unique_titles=True)
    lake.upload(tmp_path / "a_movies.csv", lake.input_key("a_movies.csv"))
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(movie_files.name, ["a_movies.csv"])
        job = build_definitions(env).resolve_job_def(INGEST_JOB)
        result = job.execute_in_process(
            instance=instance, tags=range_tags("a_movies.csv", "a_movies.csv"), raise_on_error=False
        )
    assert result.success
    analyzers = store.frame().query("kind == 'analyzer'")
    recorded = dict(zip(analyzers.metric, analyzers.value, strict=True))
    assert recorded == {"Dataset.*.RowCount": 12.0, "Column.series_title.Uniqueness": 1.0}
