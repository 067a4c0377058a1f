"""A fresh embedded deployment per test: its own QUALITY_MOVIES_HOME and Dagster instance."""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from quality_movies.definitions import build_definitions
from quality_movies.environment import Environment
from quality_movies.jobs import INGEST_JOB, REFRESH_JOB
from quality_movies.partitions import movie_files
from quality_movies.pipeline_runs import range_tags


@dataclass
class Platform:
    """The definitions, resources and instance of one embedded deployment."""

    env: Environment
    defs: dg.Definitions
    instance: dg.DagsterInstance

    @property
    def lake(self):
        return self.env.resources()["lake"]

    @property
    def warehouse(self):
        return self.env.resources()["warehouse"]

    @property
    def ledger(self):
        return self.env.resources()["ledger"]

    def ingest(self, path: Path, name: str | None = None) -> str:
        source_file = name or path.name
        self.lake.upload(path, self.lake.input_key(source_file))
        return source_file

    def run_file(self, source_file: str, tags: dict | None = None) -> dg.ExecuteInProcessResult:
        if not self.instance.has_dynamic_partition(movie_files.name, source_file):
            self.instance.add_dynamic_partitions(movie_files.name, [source_file])
        return self.defs.resolve_job_def(INGEST_JOB).execute_in_process(
            partition_key=source_file, instance=self.instance, tags=tags, raise_on_error=False
        )

    def run_files(self, source_files: list[str]) -> dg.ExecuteInProcessResult:
        """One run over the range of partitions from the first to the last of ``source_files``."""
        known = set(self.instance.get_dynamic_partitions(movie_files.name))
        self.instance.add_dynamic_partitions(
            movie_files.name, [f for f in source_files if f not in known]
        )
        return self.defs.resolve_job_def(INGEST_JOB).execute_in_process(
            instance=self.instance,
            tags=range_tags(source_files[0], source_files[-1]),
            raise_on_error=False,
        )

    def refresh(self) -> dg.ExecuteInProcessResult:
        return self.defs.resolve_job_def(REFRESH_JOB).execute_in_process(instance=self.instance)


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    env = Environment.from_env({"QUALITY_MOVIES_HOME": str(tmp_path / "home")})
    with dg.DagsterInstance.ephemeral() as instance:
        yield Platform(env=env, defs=build_definitions(env), instance=instance)
