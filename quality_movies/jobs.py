"""The two jobs: one file through the gate into the warehouse, and the refresh of the yearly view."""

import dagster as dg

INGEST_JOB = "ingest_movie_file"
REFRESH_JOB = "refresh_year_aggregated"

ingest_movie_file = dg.define_asset_job(
    name=INGEST_JOB,
    selection=dg.AssetSelection.groups("ingestion", "quality")
    | dg.AssetSelection.assets("imdb_movies_rating"),
    description="One input file: catalog, quality gate, bad records and rule outcomes, warehouse load.",
)

refresh_year_aggregated = dg.define_asset_job(
    name=REFRESH_JOB,
    selection=dg.AssetSelection.assets("year_aggregated"),
    description="Recompute movies per released_year and genre.",
)
