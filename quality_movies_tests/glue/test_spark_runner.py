"""SparkQualityJobRunner on a PySparkResource writes what the embedded runner writes, into the lake."""

import json
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from dagster_pyspark import PySparkResource

from quality_movies.lake import Lake, LocalLake
from quality_movies.quality.resources import (
    EmbeddedQualityJobRunner,
    QualityJobFailed,
    QualityJobRunner,
    QualityRunResult,
    SparkQualityJobRunner,
    final_outputs,
)

SAMPLE_CSV = Path(__file__).with_name("movies_sample.csv")
SOURCE_FILE = "movies_sample.csv"


def run_quality_asset(runner: QualityJobRunner, lake: Lake) -> QualityRunResult:
    """Materialize one asset that calls the runner as the pipeline's asset does."""
    captured: dict[str, QualityRunResult] = {}

    @dg.asset
    def quality_run(
        context: dg.AssetExecutionContext, quality_job: QualityJobRunner, lake: Lake
    ) -> dg.MaterializeResult:
        outputs = final_outputs(lake, SOURCE_FILE)
        captured["result"] = quality_job.run(context, lake, SOURCE_FILE, outputs)
        return dg.MaterializeResult()

    dg.materialize([quality_run], resources={"quality_job": runner, "lake": lake})
    return captured["result"]


def lake_with_input(root: Path) -> LocalLake:
    lake = LocalLake(root=str(root))
    lake.upload(SAMPLE_CSV, lake.input_key(SOURCE_FILE))
    return lake


def outputs(lake: LocalLake, result: QualityRunResult) -> dict:
    def lines(key: str) -> list[dict]:
        return [json.loads(line) for line in Path(lake.uri(key)).read_text().splitlines() if line]

    return {
        "bad_records": lines(result.outputs.bad_records),
        "rule_outcomes": lines(result.outputs.rule_outcomes),
        "validated": pq.read_table(lake.uri(result.outputs.validated)).to_pylist(),
    }


@pytest.mark.spark
def test_spark_runner_matches_the_embedded_runner(spark, tmp_path):
    spark_lake = lake_with_input(tmp_path / "spark_lake")
    embedded_lake = lake_with_input(tmp_path / "embedded_lake")
    spark_runner = SparkQualityJobRunner(
        pyspark=PySparkResource(spark_config={"spark.master": "local[2]"}),
        work_dir=str(tmp_path / "spark_work"),
    )
    on_spark = run_quality_asset(spark_runner, spark_lake)
    embedded = run_quality_asset(
        EmbeddedQualityJobRunner(work_dir=str(tmp_path / "embedded_work")), embedded_lake
    )

    assert on_spark.engine == "spark"
    assert (on_spark.rows_read, on_spark.good_rows, on_spark.bad_rows) == (8, 3, 5)
    assert on_spark.rule_outcomes == embedded.rule_outcomes
    assert outputs(spark_lake, on_spark) == outputs(embedded_lake, embedded)
    written = sorted(o.key for o in spark_lake.list_objects(""))
    assert written == sorted(
        [
            spark_lake.input_key(SOURCE_FILE),
            on_spark.outputs.bad_records,
            on_spark.outputs.rule_outcomes,
            on_spark.outputs.validated,
        ]
    )


@pytest.mark.spark
def test_spark_runner_names_the_users_file_not_its_copy(spark, tmp_path):
    lake = LocalLake(root=str(tmp_path / "lake"))
    csv = tmp_path / "no_rating.csv"
    csv.write_text("Series_Title,Meta_score\nFilm,80\n")
    lake.upload(csv, lake.input_key("no_rating.csv"))
    runner = SparkQualityJobRunner(
        pyspark=PySparkResource(spark_config={"spark.master": "local[2]"}),
        work_dir=str(tmp_path / "work"),
        ruleset_path=str(_ruleset(tmp_path, 'Rules = [ IsComplete "series_title" ]')),
    )
    outputs = final_outputs(lake, "no_rating.csv")
    with pytest.raises(QualityJobFailed) as failure:
        runner.run(dg.build_asset_context(), lake, "no_rating.csv", outputs)
    message = str(failure.value)
    assert message.startswith("no_rating.csv: required column imdb_rating is missing")
    assert "input.csv" not in message and str(tmp_path / "work") not in message
    assert list((tmp_path / "work").iterdir()) == []
    assert [o.key for o in lake.list_objects("")] == [lake.input_key("no_rating.csv")]


def _ruleset(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.dqdl"
    path.write_text(text)
    return path


@pytest.mark.spark
def test_the_gate_on_spark_runs_one_batch_evaluation_per_batch(spark, tmp_path, monkeypatch):
    import quality_movies.quality.glue_job
    from quality_movies.monitoring.resources import DuckDBMetricStore
    from quality_movies.warehouse.resources import DuckDBWarehouse
    from quality_movies_tests.gate.conftest import Gate, csv_text, movie_line

    calls: list[list[str]] = []
    evaluate_batch = quality_movies.quality.glue_job.evaluate_batch

    def counted(spark, ruleset_text, files, **kwargs):
        calls.append([f.source_file for f in files])
        return evaluate_batch(spark, ruleset_text, files, **kwargs)

    monkeypatch.setattr(quality_movies.quality.glue_job, "evaluate_batch", counted)
    home = tmp_path / "home"
    with dg.DagsterInstance.ephemeral() as instance:
        gate = Gate(
            home=home,
            lake=LocalLake(root=str(home / "lake")),
            runner=SparkQualityJobRunner(
                pyspark=PySparkResource(spark_config={"spark.master": "local[2]"}),
                work_dir=str(home / "work"),
                batch_max_files=2,
            ),
            warehouse=DuckDBWarehouse(path=str(home / "warehouse.duckdb")),
            metric_store=DuckDBMetricStore(path=str(home / "warehouse.duckdb")),
            instance=instance,
        )
        names = [
            gate.ingest("a.csv", csv_text(movie_line("A", "9.0"), movie_line("A2", "8.0"))),
            gate.ingest("b.csv", "Series_Title\nNo rating\n"),  # fails alone in its batch
            gate.ingest("c.csv", csv_text(movie_line("C", "9.1"))),
        ]
        result = gate.run(*names)

    assert calls == [["a.csv", "b.csv"], ["c.csv"]]
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    failed = failure.metadata["failed_files"].value
    assert list(failed) == ["b.csv"]
    assert failed["b.csv"].startswith("b.csv: ") and "imdb_rating" in failed["b.csv"]
    # by hand: 8.0 is outside (8.5, 10.3): a.csv keeps one row, c.csv its one row
    assert gate.warehouse.row_counts() == {"a.csv": 1, "c.csv": 1}
    assert gate.work_files() == []
    assert not any("_staging" in key for key in gate.lake_files())
