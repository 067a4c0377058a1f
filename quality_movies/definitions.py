"""The Dagster code location: the asset graph with the resources of the current deployment."""

import dagster as dg

from quality_movies.environment import Environment
from quality_movies.ingestion.assets import movies_catalog_table, raw_movies
from quality_movies.jobs import INGEST_JOB, ingest_movie_file, refresh_year_aggregated
from quality_movies.monitoring.assets import quality_report
from quality_movies.quality.assets import build_quality_gate, recommended_ruleset
from quality_movies.quality.resources import QualityJobRunner
from quality_movies.runs.instance_storage import set_instance_sync, sync_mode
from quality_movies.runs.new_files_sensor import build_new_files_sensor
from quality_movies.runs.refresh_sensor import REFRESH_AFTER_LOAD, build_refresh_sensor
from quality_movies.runs.run_status_sensors import build_notification_sensors
from quality_movies.warehouse.assets import year_aggregated


def build_definitions(env: Environment | None = None) -> dg.Definitions:
    """Everything Dagster loads, for ``env`` (default: read from the process environment)."""
    env = env or Environment.from_env()
    set_instance_sync(sync_mode(env.environ))
    resources = env.resources()
    quality_job: QualityJobRunner = resources["quality_job"]
    # A ruleset that does not load leaves the location up without rule checks: the gate's runs fail
    # with its line and column and the new-files sensor keeps the files pending until it is fixed.
    rules = [] if quality_job.ruleset_problem() else quality_job.ruleset().rules
    return dg.Definitions(
        assets=[
            raw_movies,
            movies_catalog_table,
            build_quality_gate(rules),
            recommended_ruleset,
            *[
                view.map_asset_specs(
                    lambda spec: spec.replace_attributes(automation_condition=REFRESH_AFTER_LOAD)
                )
                for view in (year_aggregated, quality_report)
            ],
        ],
        jobs=[ingest_movie_file, refresh_year_aggregated],
        sensors=[
            build_new_files_sensor(INGEST_JOB),
            build_refresh_sensor(),
            *build_notification_sensors(),
        ],
        resources=resources,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
