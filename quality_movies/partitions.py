"""Each input file is one partition of every per-file asset."""

import dagster as dg

movie_files = dg.DynamicPartitionsDefinition(name="movie_files")
