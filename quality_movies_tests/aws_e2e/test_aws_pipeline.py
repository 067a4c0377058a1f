"""The AWS-native trigger's Glue step with ``--pipeline true`` against the Dagster AWS path: the same files
end the same way (outputs at the same keys, warehouse rows, metric history, ledger, notification), a
replayed event or the other trigger changes nothing, and a failed load leaves nothing half-done."""

import importlib.util
import io
import json
from typing import Any

import pandas as pd
import pytest

from quality_movies.aws_pipeline import run_job_pipeline
from quality_movies.glue_package import job_script_path
from quality_movies.jobs import INGEST_JOB
from quality_movies.lake import S3Lake
from quality_movies.monitoring.resources import JOB_COST_PREFIX, ParquetMetricStore
from quality_movies.partitions import movie_files
from quality_movies.pipeline_runs import range_tags
from quality_movies.quality.glue_job import (
    load_manifest,
    packaged_ruleset_text,
    resolve_job_arguments,
)
from quality_movies.runs.resources import S3Ledger
from quality_movies_tests.aws_e2e.conftest import COPY_ROLE_ARN, WORKGROUP, Deployment
from quality_movies_tests.aws_e2e.redshift_data_api import RedshiftDataApi
from quality_movies_tests.aws_e2e.test_aws_deployment import (
    COPY_ERROR,
    failed_steps,
    output_keys,
    staged_keys,
)

pytestmark = [pytest.mark.server, pytest.mark.spark, pytest.mark.xdist_group("aws_e2e")]

HEADER = "Series_Title,IMDB_Rating,No_of_Votes\n"
# By hand with the default ruleset (rating strictly between 8.5 and 10.3, title complete) and the
# contract (No_of_Votes a BIGINT): mixed.csv keeps "Kept" only; votes.csv loses "Film" to the contract.
FILES = {
    "parity_mixed.csv": HEADER + "Kept,9.0,10\nLow,7.5,3\n,9.1,4\n",
    "parity_votes.csv": HEADER + "Film,9.0,many\nOther,9.1,12\n",
}
EXPECTED_COUNTS = {
    "parity_mixed.csv": {"rows_read": 3, "good_rows": 1, "bad_rows": 2, "rows_loaded": 1},
    "parity_votes.csv": {"rows_read": 2, "good_rows": 1, "bad_rows": 1, "rows_loaded": 1},
}
# What differs by trigger by design: who ran it.
RUN_FIELDS = ("run_id", "job", "run_url")
RULESET_KEY = "_config/movies.dqdl"


def lake(deployment: Deployment) -> S3Lake:
    s = deployment.settings
    return S3Lake(
        bucket=s.bucket,
        input_prefix=s.input_prefix,
        bad_records_prefix=s.bad_records_prefix,
        rule_outcomes_prefix=s.rule_outcomes_prefix,
        validated_prefix=s.validated_prefix,
        region_name=s.region,
        endpoint_url=deployment.endpoint,
    )


def ledger(deployment: Deployment) -> S3Ledger:
    return S3Ledger(bucket=deployment.settings.bucket, endpoint_url=deployment.endpoint)


def etag(deployment: Deployment, source_file: str) -> str:
    """The version of the input as the lake (and so the ledger and the history) names it."""
    return lake(deployment).head(deployment.settings.input_key(source_file)).etag


def outcome_of(deployment: Deployment, source_file: str) -> dict[str, Any]:
    """Everything one file left behind, in comparable form."""
    s, store = deployment.settings, ParquetMetricStore(lake=lake(deployment))
    version = etag(deployment, source_file)
    validated = deployment.object_bytes(s.validated_key(source_file))
    history = store.entry(source_file, version)
    history = history[~history["metric"].fillna("").str.startswith(JOB_COST_PREFIX)]
    record = ledger(deployment).latest().get(s.input_key(source_file))
    assert record is not None, f"no ledger record of {source_file}: {ledger(deployment).versions()}"
    return {
        "keys": sorted(output_keys(deployment, source_file)),
        "bad_records": deployment.object_text(s.bad_records_key(source_file)),
        "rule_outcomes": deployment.object_text(s.rule_outcomes_key(source_file)),
        "validated": pd.read_parquet(io.BytesIO(validated)),
        # loaded_at is when each trigger loaded the file
        "warehouse": deployment.redshift.rows_by_file[source_file].drop(columns=["loaded_at"]),
        "history": history.drop(columns=["processed_at", "recorded_at", "run_id"]).reset_index(
            drop=True
        ),
        "ledger": (record.etag, record.state, record.reason, record.announced),
    }


def forget_outcomes(deployment: Deployment, source_file: str) -> None:
    """Remove what a file left (outputs, history, ledger record) so the other trigger starts afresh."""
    s3, s = deployment.client("s3"), deployment.settings
    store = ParquetMetricStore(lake=lake(deployment))
    keys = [
        *output_keys(deployment, source_file),
        store.key(source_file, etag(deployment, source_file)),
        f"_ledger/{s.input_key(source_file)}.json",
    ]
    for key in keys:
        s3.delete_object(Bucket=s.bucket, Key=key)


def pipeline_options(deployment: Deployment, files: list[str], run_id: str) -> dict[str, str]:
    """The Glue step's arguments as the state machine starts it: the batch's manifest, the ruleset in
    force and the pipeline's arguments."""
    s3, s = deployment.client("s3"), deployment.settings
    manifest_key = f"_batches/{run_id}.json"
    manifest = {"files": [{"source_key": s.input_key(f)} for f in files]}
    s3.put_object(Bucket=s.bucket, Key=manifest_key, Body=json.dumps(manifest).encode())
    s3.put_object(Bucket=s.bucket, Key=RULESET_KEY, Body=packaged_ruleset_text().encode())
    return {
        "pipeline": "true",
        "manifest_uri": f"s3://{s.bucket}/{manifest_key}",
        "bucket": s.bucket,
        "ruleset_uri": f"s3://{s.bucket}/{RULESET_KEY}",
        "report_key": f"_batches/{run_id}-report.json",
        "redshift_workgroup": WORKGROUP,
        "redshift_iam_role_arn": COPY_ROLE_ARN,
        "sns_topic_arn": deployment.topic_arn,
        "endpoint_url": deployment.endpoint,
        "run_id": run_id,
        "JOB_NAME": s.glue_job_name,
    }


def start_pipeline_job(deployment: Deployment, files: list[str], run_id: str) -> dict[str, Any]:
    """The Glue step with ``--pipeline true``, run in this process (the Redshift stand-in answers its
    Data API); returns its report."""
    s3 = deployment.client("s3")
    options = pipeline_options(deployment, files, run_id)
    arguments = load_manifest(resolve_job_arguments(options), s3)
    run_job_pipeline(options, arguments, s3)
    return json.loads(deployment.object_text(options["report_key"]))


def by_file(sent: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["message"]["file"]: m for m in sent}


def test_the_state_machine_path_ends_as_the_dagster_path(
    deployment: Deployment, spark: Any
) -> None:
    names = list(FILES)
    for name, body in FILES.items():
        deployment.upload_input(name, body.encode())
    deployment.instance.add_dynamic_partitions(movie_files.name, names)
    deployment.redshift = RedshiftDataApi(deployment.client("s3"))
    queue_url = deployment.subscribe_queue("parity-notifications")
    defs = deployment.definitions()
    ingest = defs.resolve_job_def(INGEST_JOB).execute_in_process(
        tags=range_tags(names[0], names[-1]), instance=deployment.instance, raise_on_error=False
    )
    assert ingest.success, failed_steps(ingest)
    deployment.notify(defs, ingest)
    dagster_sent = by_file(deployment.notifications(queue_url))
    dagster = {name: outcome_of(deployment, name) for name in names}

    # Both triggers on: the state machine's run of the versions Dagster settled changes nothing.
    both = start_pipeline_job(deployment, names, "execution-both")
    assert set(both["files"]) == set(names)
    assert all("processed by run" in both["files"][n]["skipped"] for n in names)
    assert deployment.notifications(queue_url) == []
    assert {n: outcome_of(deployment, n)["ledger"] for n in names} == {
        n: dagster[n]["ledger"] for n in names
    }

    for name in names:
        forget_outcomes(deployment, name)
    deployment.redshift = RedshiftDataApi(deployment.client("s3"))
    report = start_pipeline_job(deployment, names, "execution-1")
    pipeline_sent = by_file(deployment.notifications(queue_url))
    pipeline = {name: outcome_of(deployment, name) for name in names}

    for name in names:
        counts = {k: dagster_sent[name]["message"][k] for k in EXPECTED_COUNTS[name]}
        assert counts == EXPECTED_COUNTS[name]
        ours, theirs = pipeline[name], dagster[name]
        assert ours["keys"] == theirs["keys"] and len(ours["keys"]) == 3
        assert ours["bad_records"] == theirs["bad_records"]
        assert ours["rule_outcomes"] == theirs["rule_outcomes"]
        pd.testing.assert_frame_equal(ours["validated"], theirs["validated"])
        pd.testing.assert_frame_equal(ours["warehouse"], theirs["warehouse"])
        assert len(ours["warehouse"]) == EXPECTED_COUNTS[name]["rows_loaded"]
        pd.testing.assert_frame_equal(ours["history"], theirs["history"])
        assert ours["ledger"] == theirs["ledger"] == (etag(deployment, name), "processed", "", True)
        mine, dagsters = pipeline_sent[name], dagster_sent[name]
        assert mine["subject"] == dagsters["subject"] == f"quality_movies succeeded: {name}"
        for field in RUN_FIELDS:
            mine["message"].pop(field), dagsters["message"].pop(field)
        assert mine["message"] == dagsters["message"]
        assert report["files"][name]["run_id"] == "execution-1"
    record = ledger(deployment).get(
        deployment.settings.input_key(names[0]), etag(deployment, names[0])
    )
    assert (record.owner, record.run_id) == ("stepfunctions:execution-1", "execution-1")
    assert staged_keys(deployment) == []

    # A replayed event: nothing evaluated, loaded or announced again.
    copies = len(deployment.redshift.copies)
    replay = start_pipeline_job(deployment, names, "execution-replayed")
    assert all(
        "processed by stepfunctions:execution-1" in replay["files"][n]["skipped"] for n in names
    )
    assert deployment.notifications(queue_url) == []
    assert len(deployment.redshift.copies) == copies
    assert {n: outcome_of(deployment, n)["ledger"] for n in names} == {
        n: pipeline[n]["ledger"] for n in names
    }


def test_a_failed_load_leaves_nothing_half_done_and_is_announced_once(
    deployment: Deployment, spark: Any
) -> None:
    name = "pipeline_load_fails.csv"
    deployment.upload_input(name, (HEADER + "Film,9.0,10\nOther,8.0,2\n").encode())
    deployment.redshift = RedshiftDataApi(
        deployment.client("s3"), fail_statement="COPY", error=COPY_ERROR
    )
    queue_url = deployment.subscribe_queue("pipeline-load-failure")

    report = start_pipeline_job(deployment, [name], "execution-load-fails")

    assert output_keys(deployment, name) == []
    assert staged_keys(deployment) == []
    assert deployment.redshift.rows_by_file == {}
    store = ParquetMetricStore(lake=lake(deployment))
    assert store.entry(name, etag(deployment, name)).empty
    [sent] = deployment.notifications(queue_url)
    assert sent["subject"] == f"quality_movies FAILED: {name}"
    assert COPY_ERROR in sent["message"]["error"]
    assert name in sent["message"]["error"]
    assert report["files"][name]["status"] == "FAILED"
    record = ledger(deployment).get(deployment.settings.input_key(name), etag(deployment, name))
    assert (record.state, record.announced) == ("failed", True)
    assert COPY_ERROR in record.reason

    start_pipeline_job(deployment, [name], "execution-load-fails-replayed")
    assert deployment.notifications(queue_url) == []


def test_the_glue_entrypoint_runs_the_pipeline_when_started_with_pipeline_true(
    deployment: Deployment, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("glue_entrypoint", job_script_path())
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    committed = []

    class GlueJob:
        def commit(self) -> None:
            committed.append(True)

    # Glue's session and Job, as start_session returns them on Glue
    monkeypatch.setattr(script, "start_session", lambda argv: (spark, GlueJob()))
    monkeypatch.setenv("AWS_ENDPOINT_URL", deployment.endpoint)
    name = "entrypoint.csv"
    deployment.upload_input(name, (HEADER + "Kept,9.0,10\nLow,7.5,3\n").encode())
    deployment.redshift = RedshiftDataApi(deployment.client("s3"))
    options = pipeline_options(deployment, [name], "execution-entrypoint")

    script.main(["quality_movies_job.py", *[x for k, v in options.items() for x in (f"--{k}", v)]])

    report = json.loads(deployment.object_text(options["report_key"]))
    message = report["files"][name]
    assert (message["status"], message["rows_read"], message["rows_loaded"]) == ("succeeded", 2, 1)
    assert message["run_id"] == "execution-entrypoint"
    assert len(deployment.redshift.rows_by_file[name]) == 1
    assert committed == [True]
