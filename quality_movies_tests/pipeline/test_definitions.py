"""The code location loads, and its asset graph (keys, groups, deps, checks) is pinned by a snapshot."""

import json
from pathlib import Path

import dagster as dg
import pytest

from quality_movies.definitions import build_definitions, defs
from quality_movies.environment import Environment

SNAPSHOT = Path(__file__).parent / "asset_graph.json"


def asset_graph(definitions: dg.Definitions) -> dict:
    graph = definitions.resolve_asset_graph()
    nodes = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        nodes[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "partitioned": node.partitions_def is not None,
            "checks": sorted(c.name for c in node.check_keys),
            "automation": node.automation_condition.get_label()
            if node.automation_condition
            else None,
        }
    return nodes


def test_definitions_load_from_the_module(tmp_path, monkeypatch):
    monkeypatch.setenv("QUALITY_MOVIES_HOME", str(tmp_path))
    loaded = defs()
    assert {j.name for j in loaded.resolve_all_job_defs()} >= {
        "ingest_movie_file",
        "refresh_year_aggregated",
    }
    assert {s.name for s in loaded.sensors} == {
        "new_movie_files",
        "refresh_views",
        "notify_on_success",
        "notify_on_failure",
    }
    dg.Definitions.validate_loadable(loaded)


def test_asset_graph_matches_the_snapshot(tmp_path):
    env = Environment.from_env({"QUALITY_MOVIES_HOME": str(tmp_path)})
    assert asset_graph(build_definitions(env)) == json.loads(SNAPSHOT.read_text())


def test_unknown_deployment_is_refused():
    with pytest.raises(ValueError, match="QUALITY_MOVIES_ENV='moon'"):
        Environment.from_env({"QUALITY_MOVIES_ENV": "moon"})
