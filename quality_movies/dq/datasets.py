"""The other datasets a ruleset reads (``DataSources`` aliases in ReferentialIntegrity, DatasetMatch...),
resolved to the files the caller gives: a CSV (read like the data) or a Parquet file (e.g. a warehouse
table's export), keyed by the alias or by the dataset name the alias stands for.
"""

from collections.abc import Mapping
from pathlib import Path

from quality_movies.dq.model import Ruleset
from quality_movies.dq.rules import referenced_names

References = Mapping[str, str | Path]
"""Alias or dataset name -> the file holding that dataset (``.csv`` or ``.parquet``)."""


def resolve_references(ruleset: Ruleset, references: References | None) -> dict[str, str]:
    """Each dataset name the rules use that was given -> its file. A name not given is left out: the
    rules that read it are Failed when they run, saying how to give it (as Glue fails them)."""
    given = {name.lower(): str(location) for name, location in (references or {}).items()}
    aliases = {alias.lower(): dataset for alias, dataset in ruleset.additional_sources.items()}
    resolved: dict[str, str] = {}
    for name in referenced_names(ruleset):
        dataset = aliases.get(name.lower())
        location = given.get(name.lower()) or (dataset and given.get(dataset.lower()))
        if location is not None:
            resolved[name] = location
    return resolved
