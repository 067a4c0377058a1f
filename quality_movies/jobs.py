"""The two jobs: new files (one or a batch) through the gate into the warehouse, and the yearly view."""

import dagster as dg

INGEST_JOB = "ingest_movie_file"
REFRESH_JOB = "refresh_year_aggregated"

ingest_movie_file = dg.define_asset_job(
    name=INGEST_JOB,
    selection=(
        dg.AssetSelection.groups("ingestion", "quality")
        | dg.AssetSelection.assets("imdb_movies_rating")
    )
    - dg.AssetSelection.assets("recommended_ruleset"),  # materialized by hand
    executor_def=dg.in_process_executor,
    description="New input files (one partition or a range): catalog, quality gate, bad records "
    "and rule outcomes, warehouse load. Steps run in the run's own process.",
)

refresh_year_aggregated = dg.define_asset_job(
    name=REFRESH_JOB,
    selection=dg.AssetSelection.assets("year_aggregated", "quality_report"),
    executor_def=dg.in_process_executor,
    description="Recompute movies per released_year and genre, and the quality report.",
)
