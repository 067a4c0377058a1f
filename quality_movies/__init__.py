"""quality_movies: quality-gated movie ingestion on Dagster."""
