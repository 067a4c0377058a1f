"""``aws_pipeline.run_pipeline`` on the embedded resources (no Spark, no AWS): what it records when the
notification cannot be published, and that a settled version is never evaluated or announced again."""

from pathlib import Path
from typing import Any

import duckdb
import pytest

from quality_movies.aws_pipeline import TriggerRun, run_pipeline
from quality_movies.environment import Environment, local_resources
from quality_movies.notifications.resources import LocalNotifier, Notifier

# By hand with the default ruleset: 9.0 lies strictly between 8.5 and 10.3, 7.5 does not.
BODY = "Series_Title,IMDB_Rating\nKept,9.0\nLow,7.5\n"


class UnreachableTopic(Notifier):
    """A notifier whose topic cannot be reached."""

    def notify(self, subject: str, message: dict[str, Any]) -> None:
        raise ConnectionError(
            "Could not connect to the endpoint URL: https://sns.us-east-1.amazonaws.com/"
        )


@pytest.fixture
def resources(tmp_path: Path) -> dict[str, Any]:
    env = Environment.from_env({"QUALITY_MOVIES_HOME": str(tmp_path / "home")})
    built = local_resources(env)
    source = tmp_path / "a.csv"
    source.write_text(BODY, encoding="utf-8")
    built["lake"].upload(source, built["lake"].input_key("a.csv"))
    return built


def warehouse_rows(resources: dict[str, Any]) -> int:
    warehouse = resources["warehouse"]
    with duckdb.connect(warehouse.path, read_only=True) as con:
        query = f"SELECT count(*) FROM {warehouse.qualified_table} WHERE source_file = 'a.csv'"
        return con.execute(query).fetchone()[0]


def test_an_unpublished_notification_is_reported_and_never_sent_twice(
    resources: dict[str, Any],
) -> None:
    result = run_pipeline(
        TriggerRun("execution-1", "quality-movies-dq-job"),
        {**resources, "notifier": UnreachableTopic()},
        ["a.csv"],
    )

    [settled] = result.settled
    assert settled.outcome.processed and settled.announced
    assert (settled.message["rows_read"], settled.message["good_rows"]) == (2, 1)
    assert (settled.message["bad_rows"], settled.message["rows_loaded"]) == (1, 1)
    [unannounced] = result.unannounced
    assert unannounced.startswith("a.csv: not announced: Could not connect")
    assert warehouse_rows(resources) == 1
    lake, ledger = resources["lake"], resources["ledger"]
    record = ledger.latest()[lake.input_key("a.csv")]
    assert (record.state, record.announced, record.owner) == (
        "processed",
        True,
        "stepfunctions:execution-1",
    )

    replay = run_pipeline(TriggerRun("execution-2", "quality-movies-dq-job"), resources, ["a.csv"])

    assert replay.settled == []
    assert replay.skipped == {
        "a.csv": f"version {record.etag} already processed by stepfunctions:execution-1"
    }
    assert isinstance(resources["notifier"], LocalNotifier)
    assert resources["notifier"].messages() == []


def test_a_missing_input_fails_alone_and_is_announced(resources: dict[str, Any]) -> None:
    result = run_pipeline(
        TriggerRun("execution-3", "quality-movies-dq-job"), resources, ["gone.csv", "a.csv"]
    )

    outcomes = {s.outcome.source_file: s for s in result.settled}
    assert outcomes["a.csv"].outcome.processed
    assert not outcomes["gone.csv"].outcome.processed
    assert outcomes["gone.csv"].message["error"].startswith("gone.csv: cannot read its input (")
    sent = resources["notifier"].messages()
    assert sorted(m["subject"] for m in sent) == [
        "quality_movies FAILED: gone.csv",
        "quality_movies succeeded: a.csv",
    ]


def test_a_claim_a_killed_job_run_left_is_taken_over_after_the_timeout(
    resources: dict[str, Any],
) -> None:
    """The job run of an earlier execution claimed a.csv and was killed: a later execution skips the
    claim while it may still be live, and takes it over once it is older than stale_claim_seconds;
    the file is then processed and announced once."""
    lake = resources["lake"]
    key = lake.input_key("a.csv")
    etag = lake.head(key).etag
    resources["ledger"].claim([(key, etag)], "stepfunctions:killed")

    early = run_pipeline(
        TriggerRun("execution-early", "quality-movies-dq-job"), resources, ["a.csv"]
    )

    assert early.skipped == {"a.csv": f"version {etag} already claimed by stepfunctions:killed"}
    assert early.settled == [] and resources["notifier"].messages() == []
    expired = resources["ledger"].model_copy(update={"stale_claim_seconds": 0})
    later = run_pipeline(
        TriggerRun("execution-later", "quality-movies-dq-job"),
        {**resources, "ledger": expired},
        ["a.csv"],
    )

    [settled] = later.settled
    assert settled.outcome.processed and settled.announced
    assert warehouse_rows(resources) == 1
    record = expired.latest()[key]
    assert (record.state, record.owner, record.announced) == (
        "processed",
        "stepfunctions:execution-later",
        True,
    )
    assert [m["subject"] for m in resources["notifier"].messages()] == [
        "quality_movies succeeded: a.csv"
    ]
