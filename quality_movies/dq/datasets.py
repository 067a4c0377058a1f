"""The other datasets a ruleset reads (``DataSources`` aliases in ReferentialIntegrity, DatasetMatch...),
resolved to the files the caller gives: a CSV (read like the data) or a Parquet file (e.g. a warehouse
table's export), keyed by the alias or by the dataset name the alias stands for.
"""

from collections.abc import Mapping
from pathlib import Path

from quality_movies.dq.errors import DataQualityError
from quality_movies.dq.model import Ruleset
from quality_movies.dq.rules import referenced_names

References = Mapping[str, str | Path]
"""Alias or dataset name -> the file holding that dataset (``.csv`` or ``.parquet``)."""


def resolve_references(ruleset: Ruleset, references: References | None) -> dict[str, str]:
    """Each dataset name the rules use -> its file; an unknown name is an error listing the names
    available."""
    given = {name.lower(): str(location) for name, location in (references or {}).items()}
    aliases = {alias.lower(): dataset for alias, dataset in ruleset.additional_sources.items()}
    resolved: dict[str, str] = {}
    for name in referenced_names(ruleset):
        dataset = aliases.get(name.lower())
        location = given.get(name.lower()) or (dataset and given.get(dataset.lower()))
        if location is None:
            known = sorted({*(references or {}), *ruleset.additional_sources})
            also = f" (dataset {dataset})" if dataset else ""
            raise DataQualityError(
                f"{ruleset.source}: the rules read a dataset named '{name}'{also} that was not "
                f"given. Names available: {', '.join(known) or 'none'}. Give it as a reference "
                f"(on the CLI: --ref {name}=FILE.csv)."
            )
        resolved[name] = location
    return resolved
