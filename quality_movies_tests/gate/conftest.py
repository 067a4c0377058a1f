"""The quality gate on embedded resources: a folder lake, DuckDB engine, warehouse and metric store."""

import socket
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from quality_movies.lake import LocalCatalog, LocalLake
from quality_movies.monitoring.resources import DuckDBMetricStore, LocalQualityMetrics
from quality_movies.partitions import movie_files
from quality_movies.quality.assets import build_quality_gate
from quality_movies.quality.resources import EmbeddedQualityJobRunner
from quality_movies.warehouse.resources import DuckDBWarehouse

HEADER = (
    "Poster_Link,Series_Title,Released_Year,Certificate,Runtime,Genre,IMDB_Rating,Overview,"
    "Meta_score,Director,Star1,Star2,Star3,Star4,No_of_Votes,Gross"
)
HOST = socket.gethostname()


def movie_line(title: str, rating: str, meta_score: str = "80", votes: str = "1000") -> str:
    return f"p,{title},1994,A,142 min,Drama,{rating},An overview,{meta_score},D,a,b,c,d,{votes},1"


def csv_text(*lines: str) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


@dataclass
class Gate:
    """The gate asset with its resources and an instance, on a temporary home."""

    home: Path
    lake: LocalLake
    runner: EmbeddedQualityJobRunner
    warehouse: DuckDBWarehouse
    metric_store: DuckDBMetricStore
    instance: dg.DagsterInstance

    def ingest(self, name: str, text: str | bytes) -> str:
        path = self.home / "incoming" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        self.lake.upload(path, self.lake.input_key(name))
        self.instance.add_dynamic_partitions(movie_files.name, [name])
        return name

    def run(self, *files: str) -> dg.ExecuteInProcessResult:
        """One run of the gate over ``files`` (a contiguous range of the partitions, in order)."""
        gate = build_quality_gate(self.runner.ruleset().rules)
        if len(files) == 1:
            tags = {"dagster/partition": files[0]}
        else:
            tags = {
                "dagster/asset_partition_range_start": files[0],
                "dagster/asset_partition_range_end": files[-1],
            }
        return dg.materialize(
            [gate],
            instance=self.instance,
            tags=tags,
            raise_on_error=False,
            resources={
                "lake": self.lake,
                "catalog": LocalCatalog(root=str(self.home / "catalog")),
                "quality_job": self.runner,
                "warehouse": self.warehouse,
                "metric_store": self.metric_store,
                "quality_metrics": LocalQualityMetrics(path=str(self.home / "metrics.jsonl")),
            },
        )

    def lake_files(self) -> list[str]:
        """Every object of the bucket but the inputs."""
        return sorted(
            o.key for o in self.lake.list_objects("") if not o.key.startswith("input_data/")
        )

    def work_files(self) -> list[Path]:
        return (
            sorted(p for p in (self.home / "work").rglob("*"))
            if (self.home / "work").exists()
            else []
        )


@pytest.fixture
def gate(tmp_path: Path) -> Gate:
    home = tmp_path / "home"
    with dg.DagsterInstance.ephemeral() as instance:
        yield Gate(
            home=home,
            lake=LocalLake(root=str(home / "lake")),
            runner=EmbeddedQualityJobRunner(work_dir=str(home / "work")),
            warehouse=DuckDBWarehouse(path=str(home / "warehouse.duckdb")),
            metric_store=DuckDBMetricStore(path=str(home / "warehouse.duckdb")),
            instance=instance,
        )
