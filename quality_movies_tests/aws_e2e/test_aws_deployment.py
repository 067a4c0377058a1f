"""One materialisation of the whole graph with QUALITY_MOVIES_ENV=aws, against a moto server.

The seed file goes through the crawler, the real Glue script (local Spark, reporting through S3), the outputs
in S3, the Redshift load and the SNS notification; then each failure path (crawler, Glue job, Redshift
statement) ends in a failed run and a notification naming the cause.
"""

import csv
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster_aws.s3 import S3PickleIOManager

from quality_movies.dq import default_ruleset_path, evaluate_file, load_ruleset
from quality_movies.lake import GlueCrawlerCatalog, S3Lake
from quality_movies.notifications.resources import SnsNotifier
from quality_movies.quality.resources import read_jsonl
from quality_movies.warehouse.resources import RedshiftDataWarehouse
from quality_movies_tests.aws.moto_glue import fail_crawls
from quality_movies_tests.aws_e2e.conftest import (
    COPY_ROLE_ARN,
    CRAWLED_COLUMNS,
    WORKGROUP,
    Deployment,
    LocalGlueQualityJobRunner,
)
from quality_movies_tests.aws_e2e.redshift_data_api import RedshiftDataApi
from quality_movies_tests.glue.conftest import LocalGlueClient

pytestmark = [pytest.mark.server, pytest.mark.spark, pytest.mark.xdist_group("aws_e2e")]

SEED_FILE = "imdb_movies_rating.csv"
SEED_RULE = 'ColumnValues "imdb_rating" between 8.5 and 10.3'
COPY_ERROR = "S3ServiceException:Access Denied,Status 403,Error AccessDenied,Rid 7Q0N4M2XKC9F"


@dataclass(frozen=True)
class HandCounts:
    """What the default ruleset must find in a CSV, worked out here without the engine."""

    rows_read: int
    bad_rows: int
    outcomes: dict[str, str]

    @property
    def good_rows(self) -> int:
        return self.rows_read - self.bad_rows


def hand_counts(path: Path) -> HandCounts:
    """Glue semantics by hand: ``between`` is exclusive, a missing rating fails, decimals compared exactly."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = [name.strip().lower() for name in reader.fieldnames or []]
        rows = list(reader)

    def rating_in_range(row: dict[str, str]) -> bool:
        try:
            return Decimal("8.5") < Decimal(row["IMDB_Rating"].strip()) < Decimal("10.3")
        except InvalidOperation:
            return False

    in_range = [rating_in_range(r) for r in rows]
    titled = [bool(r["Series_Title"].strip()) for r in rows]
    outcome = {True: "Passed", False: "Failed"}
    return HandCounts(
        rows_read=len(rows),
        bad_rows=sum(not (a and b) for a, b in zip(in_range, titled, strict=True)),
        outcomes={
            SEED_RULE: outcome[all(in_range)],
            'IsComplete "series_title"': outcome[all(titled)],
            'ColumnExists "imdb_rating"': outcome["imdb_rating" in header],
            "RowCount > 0": outcome[len(rows) > 0],
        },
    )


def metadata(result: dg.ExecuteInProcessResult, node: str, output: str | None = None) -> dict:
    materializations = result.asset_materializations_for_node(node)
    if output is not None:
        materializations = [m for m in materializations if m.asset_key.path[-1] == output]
    [materialization] = materializations
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


def failed_steps(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Step key -> the error message chain of each failed step."""
    found = {}
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error, parts = event.step_failure_data.error, []
            while error is not None:
                parts.append(error.message)
                error = error.cause
            found[event.step_key] = " | ".join(parts)
    return found


def job_runs(deployment: Deployment) -> list[dict[str, Any]]:
    glue = deployment.client("glue")
    return glue.get_job_runs(JobName=deployment.settings.glue_job_name)["JobRuns"]


def staged_keys(deployment: Deployment) -> list[str]:
    s3, s = deployment.client("s3"), deployment.settings
    keys = []
    for prefix in (s.bad_records_prefix, s.rule_outcomes_prefix, s.validated_prefix):
        listing = s3.list_objects_v2(Bucket=s.bucket, Prefix=f"{prefix}_staging/")
        keys += [o["Key"] for o in listing.get("Contents", [])]
    return keys


def output_keys(deployment: Deployment, source_file: str) -> list[str]:
    s3, s = deployment.client("s3"), deployment.settings
    keys = []
    for prefix in (s.bad_records_prefix, s.rule_outcomes_prefix, s.validated_prefix):
        listing = s3.list_objects_v2(Bucket=s.bucket, Prefix=f"{prefix}source_file={source_file}/")
        keys += [o["Key"] for o in listing.get("Contents", [])]
    return keys


@dataclass
class SeedRun:
    """The seed file ingested once, then the refresh, with what the crawler and Redshift saw."""

    defs: dg.Definitions
    ingest: dg.ExecuteInProcessResult
    refresh: dg.ExecuteInProcessResult
    redshift: RedshiftDataApi
    crawler_before: dict[str, Any]
    crawler_after: dict[str, Any]
    expected: HandCounts


@pytest.fixture(scope="module")
def seed_run(deployment: Deployment, seed_csv: Path) -> SeedRun:
    deployment.upload_input(SEED_FILE, seed_csv.read_bytes())
    deployment.redshift = RedshiftDataApi(deployment.client("s3"))
    glue, crawler_name = deployment.client("glue"), deployment.settings.crawler_name
    crawler_before = glue.get_crawler(Name=crawler_name)["Crawler"]
    defs = deployment.definitions()
    ingest = deployment.run_ingest(defs, SEED_FILE)
    assert ingest.success, failed_steps(ingest)
    crawler_after = glue.get_crawler(Name=crawler_name)["Crawler"]
    refresh = deployment.run_refresh(defs)
    assert refresh.success, failed_steps(refresh)
    return SeedRun(
        defs=defs,
        ingest=ingest,
        refresh=refresh,
        redshift=deployment.redshift,
        crawler_before=crawler_before,
        crawler_after=crawler_after,
        expected=hand_counts(seed_csv),
    )


def test_the_resources_are_those_aws_resources_builds(
    deployment: Deployment, seed_run: SeedRun
) -> None:
    resources = deployment.resources
    assert isinstance(resources["lake"], S3Lake)
    assert isinstance(resources["catalog"], GlueCrawlerCatalog)
    assert isinstance(resources["warehouse"], RedshiftDataWarehouse)
    assert isinstance(resources["notifier"], SnsNotifier)
    assert isinstance(resources["io_manager"], S3PickleIOManager)
    assert type(resources["quality_job"]) is LocalGlueQualityJobRunner
    for key in ("lake", "catalog", "quality_job", "warehouse", "notifier"):
        assert resources[key].endpoint_url == deployment.endpoint
    assert resources["warehouse"].workgroup_name == WORKGROUP
    assert resources["notifier"].topic_arn == deployment.topic_arn
    stored = deployment.client("s3").list_objects_v2(
        Bucket=deployment.settings.bucket, Prefix=deployment.settings.io_manager_prefix
    )
    # The rows stay in the lake: nothing of validated_movies goes through the IO manager.
    assert not any("validated_movies" in o["Key"] for o in stored.get("Contents", []))


def test_the_crawler_runs_and_the_catalog_asset_reports_its_table(
    deployment: Deployment, seed_run: SeedRun
) -> None:
    before, after = seed_run.crawler_before, seed_run.crawler_after
    assert after["State"] == "READY"
    assert after["LastCrawl"]["Status"] == "COMPLETED"
    assert after["LastCrawl"]["MessagePrefix"] != before.get("LastCrawl", {}).get("MessagePrefix")

    catalog = metadata(seed_run.ingest, "movies_catalog_table")

    assert catalog["dagster/table_name"] == "imdb-movies.input_data"
    assert [(c.name, c.type) for c in catalog["dagster/column_schema"].columns] == [
        (name.lower(), type_) for name, type_ in CRAWLED_COLUMNS
    ]
    assert catalog["location"] == "s3://quality-movie-bucket/input_data/"
    assert catalog["classification"] == "csv"


def test_the_real_glue_script_writes_bad_records_and_rule_outcomes_to_s3(
    deployment: Deployment, seed_run: SeedRun, seed_csv: Path, tmp_path: Path
) -> None:
    [run] = [
        r
        for r in job_runs(deployment)
        if r["Arguments"].get("--source_key") == f"input_data/{SEED_FILE}"
    ]
    assert run["Arguments"]["--report_key"].startswith("validated_movies/_staging/")
    gate = metadata(seed_run.ingest, "quality_gate", "validated_movies")
    expected = seed_run.expected
    assert gate["engine"] == "glue"
    assert (gate["rows_read"], gate["good_rows"], gate["bad_rows"]) == (
        expected.rows_read,
        expected.good_rows,
        expected.bad_rows,
    )

    s = deployment.settings
    bad_records = read_jsonl(deployment.object_text(s.bad_records_key(SEED_FILE)))
    rule_outcomes = read_jsonl(deployment.object_text(s.rule_outcomes_key(SEED_FILE)))

    assert len(bad_records) == expected.bad_rows
    assert {o["Rule"]: o["Outcome"] for o in rule_outcomes} == expected.outcomes
    embedded = evaluate_file(
        load_ruleset(default_ruleset_path()),
        seed_csv,
        tmp_path / "embedded",
        engine="duckdb",
        source_name=SEED_FILE,
    )
    assert bad_records == read_jsonl(embedded.outputs["bad_records"].read_text(encoding="utf-8"))
    assert rule_outcomes == read_jsonl(
        embedded.outputs["rule_outcomes"].read_text(encoding="utf-8")
    )


def test_the_validated_parquet_is_loaded_into_redshift_in_one_batch(
    deployment: Deployment, seed_run: SeedRun
) -> None:
    staged_uri = re.compile(
        rf"s3://quality-movie-bucket/validated_movies/_staging/[^/]+/source_file={SEED_FILE}/"
        "validated_movies.parquet"
    )
    [load] = [
        b for b in seed_run.redshift.batches() if any(s.startswith("COPY") for s in b["Sqls"])
    ]
    sqls = load["Sqls"]
    verbs = [s.split(None, 1)[0] for s in sqls]

    assert (load["WorkgroupName"], load["Database"]) == (WORKGROUP, "dev")
    # The batch's one COPY reads a manifest listing the file's staged Parquet; file 1 of the batch
    # is bound as :file_1, and one transaction replaces its rows.
    assert load["Parameters"] == [{"name": "file_1", "value": SEED_FILE}]
    [copy] = [s for s in sqls if s.startswith("COPY")]
    assert f"IAM_ROLE '{COPY_ROLE_ARN}'" in copy
    assert copy.endswith("FORMAT AS PARQUET MANIFEST")
    [copied] = seed_run.redshift.copies
    assert len(copied) == 1 and staged_uri.search(copied[0]), copied
    [delete] = [s for s in sqls if s.startswith("DELETE")]
    assert delete.startswith("DELETE FROM movies.imdb_movies_rating WHERE source_file IN")
    [insert] = [s for s in sqls if s.startswith("INSERT INTO movies.imdb_movies_rating")]
    assert insert.startswith("INSERT INTO movies.imdb_movies_rating (")
    assert (
        verbs.index("COPY") < verbs.index("DELETE") < len(verbs) - 1 - verbs[::-1].index("INSERT")
    )
    loaded = metadata(seed_run.ingest, "quality_gate", "imdb_movies_rating")
    assert loaded["rows_loaded"] == seed_run.expected.good_rows
    assert loaded["dagster/table_name"] == "movies.imdb_movies_rating"

    # Loaded from the staged copy, then published: the final keys hold the outputs, no staging is left.
    s = deployment.settings
    assert sorted(output_keys(deployment, SEED_FILE)) == sorted(
        [s.bad_records_key(SEED_FILE), s.rule_outcomes_key(SEED_FILE), s.validated_key(SEED_FILE)]
    )
    assert staged_keys(deployment) == []
    reference = metadata(seed_run.ingest, "quality_gate", "validated_movies")["reference"]
    assert reference["uri"] == f"s3://quality-movie-bucket/{s.validated_key(SEED_FILE)}"
    assert reference["row_count"] == seed_run.expected.good_rows

    assert "REFRESH MATERIALIZED VIEW movies.year_aggregated" in seed_run.redshift.sql_statements()
    assert metadata(seed_run.refresh, "year_aggregated")["movies"] == seed_run.expected.good_rows


def test_the_success_notification_reaches_the_topic(
    deployment: Deployment, seed_run: SeedRun
) -> None:
    queue_url = deployment.subscribe_queue("success-notifications")

    deployment.notify(seed_run.defs, seed_run.ingest)

    [sent] = deployment.notifications(queue_url)
    body, expected = sent["message"], seed_run.expected
    assert sent["subject"] == f"quality_movies succeeded: {SEED_FILE}"
    assert (body["status"], body["file"], body["run_id"]) == (
        "succeeded",
        SEED_FILE,
        seed_run.ingest.run_id,
    )
    assert (body["rows_read"], body["good_rows"], body["bad_rows"], body["rows_loaded"]) == (
        expected.rows_read,
        expected.good_rows,
        expected.bad_rows,
        expected.good_rows,
    )
    assert {o["rule"]: o["outcome"] for o in body["rule_outcomes"]} == expected.outcomes


def test_a_failed_crawl_fails_the_run_and_is_notified(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_file = "crawled_badly.csv"
    message = "Insufficient Lake Formation permission(s) on imdb-movies"
    deployment.upload_input(source_file, b"Series_Title,IMDB_Rating\nFilm,9.0\n")
    deployment.redshift = RedshiftDataApi(deployment.client("s3"))
    runs_before = len(job_runs(deployment))
    fail_crawls(monkeypatch, message)
    queue_url = deployment.subscribe_queue("crawler-failure-notifications")
    defs = deployment.definitions()

    result = deployment.run_ingest(defs, source_file)
    deployment.notify(defs, result)

    assert not result.success
    assert list(failed_steps(result)) == ["movies_catalog_table"]
    assert len(job_runs(deployment)) == runs_before
    assert output_keys(deployment, source_file) == []
    assert deployment.redshift.calls == []
    [sent] = deployment.notifications(queue_url)
    assert sent["subject"] == f"quality_movies FAILED: {source_file}"
    assert sent["message"]["file"] == source_file
    assert "Glue crawler quality-movies-crawler FAILED" in sent["message"]["error"]
    assert message in sent["message"]["error"]


def test_a_failed_glue_job_run_fails_the_run_and_is_notified(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_file = "broken.csv"
    deployment.upload_input(source_file, b"Series_Title,IMDB_Rating\nFilm,9.0\n")
    deployment.redshift = RedshiftDataApi(deployment.client("s3"))
    queue_url = deployment.subscribe_queue("job-failure-notifications")
    # The job's role cannot read the input (as when its policy misses the input prefix).
    start_job_run = LocalGlueClient.start_job_run

    def start_without_read_access(self, JobName, Arguments=None, **kwargs):  # noqa: N803
        arguments = {**(Arguments or {}), "--source_key": "input_data/denied/broken.csv"}
        return start_job_run(self, JobName=JobName, Arguments=arguments, **kwargs)

    monkeypatch.setattr(LocalGlueClient, "start_job_run", start_without_read_access)
    defs = deployment.definitions()

    result = deployment.run_ingest(defs, source_file)
    deployment.notify(defs, result)

    assert not result.success
    failures = failed_steps(result)
    assert list(failures) == ["quality_gate"]
    assert "FAILED" in failures["quality_gate"]
    assert output_keys(deployment, source_file) == []
    assert staged_keys(deployment) == []
    assert deployment.redshift.calls == []
    [sent] = deployment.notifications(queue_url)
    error = sent["message"]["error"]
    assert sent["subject"] == f"quality_movies FAILED: {source_file}"
    assert error.startswith(source_file)
    assert "Glue job quality-movies-dq-job failed" in error
    assert "input_data/denied/broken.csv cannot be read" in error


def test_a_value_the_contract_rejects_is_a_bad_record_on_glue(deployment: Deployment) -> None:
    source_file = "votes.csv"
    deployment.upload_input(
        source_file,
        b"Series_Title,IMDB_Rating,No_of_Votes\nFilm,9.0,many\nOther,9.1,12\n",
    )
    deployment.redshift = RedshiftDataApi(deployment.client("s3"))
    defs = deployment.definitions()

    result = deployment.run_ingest(defs, source_file)

    assert result.success, failed_steps(result)
    gate = metadata(result, "quality_gate", "validated_movies")
    # By hand: both ratings pass the rules; 'many' is not a BIGINT, so one row is a bad record.
    assert (gate["rows_read"], gate["good_rows"], gate["bad_rows"]) == (2, 1, 1)
    bad = read_jsonl(deployment.object_text(deployment.settings.bad_records_key(source_file)))
    assert [(r["series_title"], r["DataQualityRulesFail"]) for r in bad] == [
        ("Film", ["Contract: no_of_votes 'many' is not a BIGINT"])
    ]
    assert metadata(result, "quality_gate", "imdb_movies_rating")["rows_loaded"] == 1
    assert staged_keys(deployment) == []


def test_a_failed_redshift_statement_fails_the_load_and_is_notified(
    deployment: Deployment, seed_run: SeedRun
) -> None:
    source_file = "load_fails.csv"
    deployment.upload_input(source_file, b"Series_Title,IMDB_Rating\nFilm,9.0\nOther,8.0\n")
    deployment.redshift = RedshiftDataApi(
        deployment.client("s3"), fail_statement="COPY", error=COPY_ERROR
    )
    runs_before = len(job_runs(deployment))
    queue_url = deployment.subscribe_queue("load-failure-notifications")
    defs = deployment.definitions()

    result = deployment.run_ingest(defs, source_file)
    deployment.notify(defs, result)

    assert not result.success
    assert list(failed_steps(result)) == ["quality_gate"]
    assert len(job_runs(deployment)) == runs_before + 1
    # The quality job ran and staged its outputs, the load failed: nothing is published, nothing
    # staged is left.
    assert output_keys(deployment, source_file) == []
    assert staged_keys(deployment) == []
    [load] = [
        s
        for s in deployment.redshift.statements.values()
        if any(sub["QueryString"].startswith("COPY") for sub in s.get("SubStatements", []))
    ]
    assert load["Status"] == "FAILED"
    assert deployment.redshift.rows_by_file == {}
    [sent] = deployment.notifications(queue_url)
    error = sent["message"]["error"]
    assert sent["subject"] == f"quality_movies FAILED: {source_file}"
    assert COPY_ERROR in error
    assert "FAILED" in error and "COPY staged_movies FROM" in error
