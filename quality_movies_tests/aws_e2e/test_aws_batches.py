"""A backlog on the AWS deployment (moto, the real Glue script on local Spark): one Glue job run per
batch of files, and each file's share of its run's cost from GetJobRun in its metadata."""

import math

import pytest

from quality_movies.jobs import INGEST_JOB
from quality_movies.partitions import movie_files
from quality_movies.pipeline_runs import range_tags
from quality_movies_tests.aws_e2e.conftest import GLUE_ROLE_ARN, Deployment
from quality_movies_tests.aws_e2e.redshift_data_api import RedshiftDataApi
from quality_movies_tests.aws_e2e.test_aws_deployment import failed_steps, job_runs

pytestmark = [pytest.mark.server, pytest.mark.spark, pytest.mark.xdist_group("aws_e2e")]

HEADER = "Series_Title,IMDB_Rating,No_of_Votes\n"


def test_a_backlog_is_one_glue_job_run_per_batch(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = deployment.settings
    glue = deployment.client("glue")
    job = glue.get_job(JobName=s.glue_job_name)["Job"]
    # moto answers GetJobRun with ExecutionTime 123 and the job's workers: 2 x G.1X (moto has no
    # UpdateJob: the job is defined again, as the stack defines it)
    glue.delete_job(JobName=s.glue_job_name)
    glue.create_job(
        Name=s.glue_job_name,
        Role=GLUE_ROLE_ARN,
        Command=job["Command"],
        GlueVersion="5.0",
        WorkerType="G.1X",
        NumberOfWorkers=2,
        ExecutionProperty={"MaxConcurrentRuns": 2},
        ExecutionClass="STANDARD",
        JobRunQueuingEnabled=True,
    )
    monkeypatch.setenv("QUALITY_MOVIES_BATCH_MAX_FILES", "2")
    monkeypatch.setenv("QUALITY_MOVIES_GLUE_MAX_CONCURRENT_RUNS", "2")
    bodies = {
        "backlog_a.csv": HEADER + "A,9.1,10\nA2,8.0,3\n",
        "backlog_b.csv": HEADER + "B,9.2,20\n",
        "backlog_c.csv": HEADER + "C,9.3,30\nC2,9.4,40\nC3,7.0,1\n",
        "backlog_d.csv": HEADER + "D,8.9,50\n",
        "backlog_e.csv": HEADER + "E,9.0,60\nE2,8.7,70\n",
    }
    for name, body in bodies.items():
        deployment.upload_input(name, body.encode())
    deployment.instance.add_dynamic_partitions(movie_files.name, list(bodies))
    deployment.redshift = RedshiftDataApi(deployment.client("s3"))
    runs_before = len(job_runs(deployment))
    defs = deployment.definitions()

    result = defs.resolve_job_def(INGEST_JOB).execute_in_process(
        tags=range_tags("backlog_a.csv", "backlog_e.csv"),
        instance=deployment.instance,
        raise_on_error=False,
    )

    assert result.success, failed_steps(result)
    # five files, at most two a batch: [a, b], [c, d], [e]; a job run and a COPY per batch
    started = job_runs(deployment)[runs_before:]
    assert len(started) == math.ceil(len(bodies) / 2) == 3
    arguments = sorted((r["Arguments"] for r in started), key=lambda a: "--source_key" in a)
    assert all("--manifest_uri" in a and "--source_key" not in a for a in arguments[:2])
    assert arguments[2]["--source_key"] == "input_data/backlog_e.csv"
    copies = [
        s for s in deployment.redshift.sql_statements() if s.lstrip().upper().startswith("COPY")
    ]
    assert len(copies) == 3
    by_file = {
        m.partition: {k: getattr(v, "value", v) for k, v in m.metadata.items()}
        for m in result.asset_materializations_for_node("quality_gate")
        if m.asset_key.path[-1] == "validated_movies"
    }
    assert {n: by_file[n]["rows_read"] for n in bodies} == {
        "backlog_a.csv": 2,
        "backlog_b.csv": 1,
        "backlog_c.csv": 3,
        "backlog_d.csv": 1,
        "backlog_e.csv": 2,
    }
    # By hand: 123 s x 2 workers x 1 DPU = 246 DPU-seconds per run, $0.44 per DPU-hour;
    # backlog_a and backlog_b share their run by bytes, backlog_e has its run alone.
    a, b = (len(bodies[n].encode()) for n in ("backlog_a.csv", "backlog_b.csv"))
    assert by_file["backlog_a.csv"]["glue_dpu_seconds"] == pytest.approx(246 * a / (a + b))
    assert by_file["backlog_b.csv"]["glue_dpu_seconds"] == pytest.approx(246 * b / (a + b))
    assert by_file["backlog_e.csv"]["glue_estimated_cost_usd"] == pytest.approx(246 / 3600 * 0.44)
    assert (
        by_file["backlog_a.csv"]["glue_job_run_id"] == by_file["backlog_b.csv"]["glue_job_run_id"]
    )
    assert (
        by_file["backlog_e.csv"]["glue_log_stream"] == by_file["backlog_e.csv"]["glue_job_run_id"]
    )
