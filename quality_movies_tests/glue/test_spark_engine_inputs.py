"""The gate's engine inputs (references, file rules, catalog types) give the same outcomes on the Spark
runner as on the embedded one."""

import csv

import dagster as dg
import pytest
from dagster_pyspark import PySparkResource

from quality_movies.contract import ValidatedTable
from quality_movies.lake import LocalCatalog, LocalLake
from quality_movies.quality.engine_inputs import catalog_column_types, engine_inputs
from quality_movies.quality.resources import (
    EmbeddedQualityJobRunner,
    SparkQualityJobRunner,
    final_outputs,
)
from quality_movies.sample import write_sample
from quality_movies.warehouse.resources import DuckDBWarehouse

RULESET = """Rules = [
    ColumnValues "imdb_rating" between 8.5 and 10.3,
    ReferentialIntegrity "certificate" "certificates.{certificate}" >= 0.1,
    ReferentialIntegrity "series_title" "imdb_movies_rating.{series_title}" = 0,
    FileUniqueness "s3://quality-movie-bucket/input_data/" = 1.0,
    FileSize < 1 MB,
    CustomSql "select count(*) from primary where no_of_votes < '2'" >= 0
]
"""


@pytest.mark.spark
def test_spark_runner_reads_references_files_and_catalog_types_as_the_embedded_one(spark, tmp_path):
    lake = LocalLake(root=str(tmp_path / "lake"))
    catalog = LocalCatalog(root=str(tmp_path / "catalog"))
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    ruleset = tmp_path / "rules.dqdl"
    ruleset.write_text(RULESET)
    (tmp_path / "certificates.csv").write_text("certificate\nPG-13\nR\nPG\n")
    lake.upload(tmp_path / "certificates.csv", "reference_data/certificates/certificates.csv")
    sample = write_sample(tmp_path / "a.csv", rows=80, seed=9).path
    lake.upload(sample, lake.input_key("a.csv"))
    catalog.crawl(lake)
    runners = {
        "duckdb": EmbeddedQualityJobRunner(
            work_dir=str(tmp_path / "embedded"), ruleset_path=str(ruleset)
        ),
        "spark": SparkQualityJobRunner(
            pyspark=PySparkResource(spark_config={"spark.master": "local[2]"}),
            work_dir=str(tmp_path / "spark"),
            ruleset_path=str(ruleset),
        ),
    }

    def run(engine: str):
        runner, outputs = runners[engine], final_outputs(lake, "a.csv")
        with engine_inputs(
            lake, catalog_column_types(catalog), runner, warehouse, "a.csv"
        ) as inputs:
            return runner.run(
                dg.build_asset_context(), lake, "a.csv", outputs, engine_options=inputs
            )

    first = run("duckdb")
    # the same rows loaded as if from another file: all of a.csv's good titles are "already loaded"
    validated = ValidatedTable("z.csv", lake.uri(first.outputs.validated), first.validated_rows)
    assert warehouse.load_file(validated) == first.validated_rows > 0

    on_duckdb, on_spark = run("duckdb"), run("spark")
    assert on_spark.engine == "spark"
    assert on_spark.rule_outcomes == on_duckdb.rule_outcomes
    loaded = next(o for o in on_spark.rule_outcomes if "imdb_movies_rating" in o["Rule"])
    assert loaded["Outcome"] == "Failed"
    metric = loaded["EvaluatedMetrics"]["Column.imdb_movies_rating.ReferentialIntegrity"]
    titles = set(warehouse.fetch_movies("z.csv")["series_title"])
    with sample.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    found = sum(r["Series_Title"] in titles for r in rows)  # repeated titles count each time
    assert metric == pytest.approx(found / len(rows), abs=1e-4)
