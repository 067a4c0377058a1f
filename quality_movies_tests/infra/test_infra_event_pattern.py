"""The exported EventBridge pattern on moto's EventBridge, delivering to SQS (moto cannot start SFN)."""

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from quality_movies.infra.state_machine import event_pattern
from quality_movies.settings import PipelineSettings

Deliver = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def deliver(aws: None, settings: PipelineSettings) -> Deliver:
    """Put one S3 "Object Created" event through a rule with the exported pattern; return what SQS got."""
    events = boto3.client("events")
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="pipeline-starts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(Name="input-object-created", EventPattern=json.dumps(event_pattern(settings)))
    events.put_targets(Rule="input-object-created", Targets=[{"Id": "queue", "Arn": queue_arn}])

    def put_s3_event(
        bucket: str, key: str, detail_type: str = "Object Created"
    ) -> list[dict[str, Any]]:
        detail = {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184"},
            "reason": "PutObject",
        }
        response = events.put_events(
            Entries=[
                {
                    "Source": "aws.s3",
                    "DetailType": detail_type,
                    "Resources": [f"arn:aws:s3:::{bucket}"],
                    "Detail": json.dumps(detail),
                }
            ]
        )
        assert response["FailedEntryCount"] == 0
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        return [json.loads(message["Body"]) for message in messages]

    return put_s3_event


def test_upload_under_input_prefix_starts_the_pipeline(deliver: Deliver) -> None:
    delivered = deliver("quality-movie-bucket", "input_data/imdb_movies_rating.csv")

    assert len(delivered) == 1
    assert delivered[0]["detail"]["object"]["key"] == "input_data/imdb_movies_rating.csv"
    assert delivered[0]["detail-type"] == "Object Created"


@pytest.mark.parametrize(
    "key",
    [
        "bad-records/source_file=imdb_movies_rating.csv/bad_records.jsonl",
        "rule_outcome_from_etl/source_file=imdb_movies_rating.csv/rule_outcomes.jsonl",
        "validated_movies/source_file=imdb_movies_rating.csv/validated_movies.parquet",
        "glue-assets/quality_movies_job.py",
        "archive/input_data/imdb_movies_rating.csv",
        "input_data",
    ],
)
def test_pipeline_outputs_never_start_it_again(deliver: Deliver, key: str) -> None:
    assert deliver("quality-movie-bucket", key) == []


def test_uploads_to_other_buckets_are_ignored(deliver: Deliver) -> None:
    assert deliver("another-bucket", "input_data/imdb_movies_rating.csv") == []


def test_other_s3_event_types_are_ignored(deliver: Deliver) -> None:
    delivered = deliver("quality-movie-bucket", "input_data/a.csv", detail_type="Object Deleted")

    assert delivered == []
