"""``quality-movies run`` first, then the daemon's sensor on the same home (issue 11 point 1).

The sensor is evaluated as the daemon would on its first tick (no cursor of its own) over the
home the command line used: files the CLI processed are not requested again; a new file is.
"""

import dagster as dg
import pytest

from quality_movies.definitions import build_definitions
from quality_movies.environment import Environment
from quality_movies_tests.reliability.conftest import Home, brief
from quality_movies_tests.reliability.inputs import good_file

pytestmark = [pytest.mark.reliability, pytest.mark.xdist_group("reliability")]

PARTITION_TAGS = (
    "dagster/partition",
    "dagster/asset_partition_range_start",
    "dagster/asset_partition_range_end",
)


def requested_files(result) -> list[str]:
    """Partitions a sensor result asks runs for (one partition, or a range's two ends)."""
    files = []
    for request in result.run_requests or []:
        if request.partition_key:
            files.append(request.partition_key)
        files.extend(request.tags[t] for t in PARTITION_TAGS if t in request.tags)
    return sorted(set(files))


def evaluate_new_files_sensor(home: Home, cursor: str | None = None):
    env = Environment.from_env({"QUALITY_MOVIES_HOME": str(home.path)})
    defs = build_definitions(env)
    sensor = defs.get_sensor_def("new_movie_files")
    with dg.DagsterInstance.from_config(str(home.path / "dagster")) as instance:
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources=env.resources(), definitions=defs
        )
        return sensor(context)


def test_the_sensor_does_not_reprocess_what_the_cli_processed(home: Home):
    first, second = good_file("first.csv", tag=" 1"), good_file("second.csv", tag=" 2")
    home.drop({first.name: first.content, second.name: second.content})
    done = home.cli("run")
    assert done.returncode == 0, brief(done)

    tick = evaluate_new_files_sensor(home)
    assert requested_files(tick) == []

    later = good_file("later.csv", tag=" L")
    home.drop({later.name: later.content})
    next_tick = evaluate_new_files_sensor(home, cursor=tick.cursor)
    assert requested_files(next_tick) == [later.name]
    assert len(home.outbox()) == 2
