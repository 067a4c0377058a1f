"""The Dagster instance the export configures (infra/dagster/dagster.yaml), on a real PostgreSQL 15.

The test starts Debian's PostgreSQL 15 on 127.0.0.1 (as the postgres user, which initdb requires),
points the exported ``dagster.yaml`` at it through the variables the ECS task definitions set, and runs
the new-files sensor, the batch run it asks for and the notification sensor against that instance, as
the daemon on ECS does.
"""

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from quality_movies.definitions import build_definitions
from quality_movies.environment import Environment
from quality_movies.infra.export import export_infra
from quality_movies.jobs import INGEST_JOB
from quality_movies.notifications.resources import LocalNotifier
from quality_movies.runs.new_files_sensor import build_new_files_sensor
from quality_movies.runs.run_status_sensors import build_notification_sensors
from quality_movies.sample import write_sample
from quality_movies.settings import PipelineSettings
from quality_movies_tests.glue.conftest import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
USER, PASSWORD, DATABASE = "dagster", "local-only-password", "dagster"

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None,
        reason="PostgreSQL 15 (Debian's postgresql-15) or runuser is missing",
    ),
]


def as_postgres(*command: str) -> None:
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def postgres() -> Iterator[int]:
    """A PostgreSQL 15 server on 127.0.0.1:<free port> with the database ``dagster``; its port."""
    import psycopg2

    folder = Path(tempfile.mkdtemp(prefix="dagster-pg-"))
    shutil.chown(folder, "postgres", "postgres")
    folder.chmod(0o700)
    password_file = folder / "password"
    password_file.write_text(PASSWORD)
    shutil.chown(password_file, "postgres", "postgres")
    data = folder / "data"
    as_postgres(
        str(PG_BIN / "initdb"),
        "-D",
        str(data),
        "-U",
        USER,
        f"--pwfile={password_file}",
        "--auth=scram-sha-256",
    )
    port = free_port()
    as_postgres(
        str(PG_BIN / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(folder / "server.log"),
        "-o",
        f"-h 127.0.0.1 -p {port} -k {folder}",
        "-w",
        "start",
    )
    try:
        connection = psycopg2.connect(
            host="127.0.0.1", port=port, user=USER, password=PASSWORD, dbname="postgres"
        )
        connection.autocommit = True
        connection.cursor().execute(f"CREATE DATABASE {DATABASE}")
        connection.close()
        yield port
    finally:
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def instance(
    postgres: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """The instance of the exported dagster.yaml, with the variables ECS gives the containers."""
    export_infra(tmp_path / "infra", PipelineSettings())
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(tmp_path / "infra" / "dagster" / "dagster.yaml", home / "dagster.yaml")
    for name, value in {
        "DAGSTER_POSTGRES_HOST": "127.0.0.1",
        "DAGSTER_POSTGRES_PORT": str(postgres),
        "DAGSTER_POSTGRES_USER": USER,
        "DAGSTER_POSTGRES_PASSWORD": PASSWORD,
        "DAGSTER_POSTGRES_DB": DATABASE,
    }.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.from_config(str(home)) as configured:
        yield configured
        configured.wipe()


def test_the_exported_instance_keeps_runs_events_and_schedules_in_postgres(
    instance: dg.DagsterInstance,
) -> None:
    from dagster_postgres import (
        PostgresEventLogStorage,
        PostgresRunStorage,
        PostgresScheduleStorage,
    )

    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    # Runs started in the UI are queued; the daemon launches them in its own task.
    assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
    assert isinstance(instance.run_launcher, dg.DefaultRunLauncher)


def test_sensor_batch_run_and_notification_on_postgres(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    env = Environment.from_env({"QUALITY_MOVIES_HOME": str(tmp_path / "home")})
    defs = build_definitions(env)
    resources = env.resources()
    lake = resources["lake"]
    samples = [
        write_sample(tmp_path / "one.csv", rows=30, seed=3),
        write_sample(tmp_path / "two.csv", rows=20, seed=4),
    ]
    for sample in samples:
        lake.upload(sample.path, lake.input_key(sample.path.name))
    sensor_resources = {k: resources[k] for k in ("lake", "ledger", "notifier", "quality_job")}

    new_files = build_new_files_sensor(INGEST_JOB)
    tick = new_files(dg.build_sensor_context(instance=instance, resources=sensor_resources))
    [request] = tick.run_requests
    for partitions in tick.dynamic_partitions_requests:
        instance.add_dynamic_partitions(partitions.partitions_def_name, partitions.partition_keys)
    result = defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=instance, tags=request.tags, raise_on_error=False
    )

    assert result.success
    # The run and its events are in PostgreSQL: another instance on the same database sees them.
    with dg.DagsterInstance.from_config(str(instance.root_directory)) as other:
        stored = other.get_run_by_id(result.run_id)
        assert stored is not None and stored.status == dg.DagsterRunStatus.SUCCESS
        materialized = other.all_logs(
            result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        )
        assert materialized
    again = new_files(
        dg.build_sensor_context(instance=instance, resources=sensor_resources, cursor=tick.cursor)
    )
    assert again.run_requests == []

    notifier = LocalNotifier(outbox_path=str(tmp_path / "outbox.jsonl"))
    [on_success] = [s for s in build_notification_sensors() if s.name == "notify_on_success"]
    finished = next(
        e for e in reversed(result.all_events) if e.event_type == dg.DagsterEventType.RUN_SUCCESS
    )
    on_success(
        dg.build_run_status_sensor_context(
            sensor_name="notify_on_success",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=finished,
            resources={"notifier": notifier, "ledger": resources["ledger"], "lake": lake},
        )
    )
    sent = {m["subject"]: m["message"] for m in notifier.messages()}
    assert set(sent) == {
        "quality_movies succeeded: one.csv",
        "quality_movies succeeded: two.csv",
    }
    for sample in samples:
        body = sent[f"quality_movies succeeded: {sample.path.name}"]
        assert (body["rows_read"], body["good_rows"], body["bad_rows"]) == (
            sample.rows,
            sample.expected_good,
            sample.expected_bad,
        )
