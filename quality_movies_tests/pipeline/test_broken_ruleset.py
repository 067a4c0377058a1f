"""Issue 22 point 4: a ruleset that does not load keeps the code location up; the gate's runs fail with
the ruleset's line and column, and the files stay pending (unclaimed, unannounced) until it is fixed."""

from pathlib import Path

import dagster as dg

from quality_movies.definitions import build_definitions
from quality_movies.environment import Environment
from quality_movies.jobs import INGEST_JOB
from quality_movies.partitions import movie_files
from quality_movies.pipeline_runs import settle_run
from quality_movies.runs.new_files_sensor import CLAIM_TAG, build_new_files_sensor
from quality_movies_tests.reliability.inputs import good_file

# The second '>' is where DQDL stops making sense: line 2, column 33 (4 spaces, 12 letters of
# ColumnValues, a space, 13 characters of "imdb_rating", a space, then '>' at 32 and '>' at 33).
BROKEN = 'Rules = [\n    ColumnValues "imdb_rating" >> 8\n]\n'
FIXED = 'Rules = [\n    ColumnValues "imdb_rating" > 8\n]\n'


def evaluate(sensor: dg.SensorDefinition, instance, resources) -> dg.SensorResult:
    return sensor(dg.build_sensor_context(instance=instance, resources=resources))


def test_a_broken_ruleset_keeps_the_location_up_and_the_files_pending(tmp_path: Path):
    ruleset = tmp_path / "movies.dqdl"
    ruleset.write_text(BROKEN)
    env = Environment.from_env(
        {"QUALITY_MOVIES_HOME": str(tmp_path / "home"), "QUALITY_MOVIES_RULESET": str(ruleset)}
    )
    defs = build_definitions(env)  # the code location loads
    dg.Definitions.validate_loadable(defs)
    resources = env.resources()
    lake, ledger, notifier = resources["lake"], resources["ledger"], resources["notifier"]
    movies = good_file("movies.csv")
    (tmp_path / movies.name).write_bytes(movies.content)
    obj = lake.upload(tmp_path / movies.name, lake.input_key(movies.name))
    where = f"{ruleset}:2:33"
    sensor = build_new_files_sensor(INGEST_JOB)

    with dg.instance_for_test() as instance:
        waiting = evaluate(sensor, instance, resources)
        assert not waiting.run_requests
        assert where in waiting.skip_reason.skip_message
        assert ledger.latest() == {}  # nothing claimed: the file stays pending

        # A materialization started by hand (or a run the sensor had claimed before the edit).
        assert ledger.claim([(obj.key, obj.etag)], "sensor:before-the-edit")
        instance.add_dynamic_partitions(movie_files.name, [movies.name])
        result = defs.resolve_job_def(INGEST_JOB).execute_in_process(
            partition_key=movies.name,
            instance=instance,
            tags={CLAIM_TAG: "sensor:before-the-edit"},
            raise_on_error=False,
        )
        assert not result.success
        [failure] = result.get_step_failure_events()
        assert where in failure.step_failure_data.user_failure_data.description
        [settled] = settle_run(
            instance, instance.get_run_by_id(result.run_id), ledger, lake, notifier, "url"
        )
        assert settled.message["status"] == "PENDING"
        assert where in settled.message["error"]
        assert not settled.announced and notifier.messages() == []
        assert ledger.latest() == {}  # released, not failed: pending again
        assert lake.list_objects(lake.validated_prefix) == []

        ruleset.write_text(FIXED)
        [request] = evaluate(sensor, instance, resources).run_requests
        assert ledger.latest()[obj.key].state == "claimed"
        assert request.tags[CLAIM_TAG] == ledger.latest()[obj.key].owner
