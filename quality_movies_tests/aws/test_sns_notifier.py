"""SnsNotifier against moto's SNS, read back through an SQS subscription."""

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from quality_movies.notifications.resources import SnsNotifier, sns_subject


@pytest.fixture
def subscribed_queue(moto_aws: None) -> tuple[str, str]:
    """(topic ARN, URL of an SQS queue subscribed to it)."""
    sns = boto3.client("sns")
    sqs = boto3.client("sqs")
    topic_arn = sns.create_topic(Name="quality-movies-notifications")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return topic_arn, queue_url


def delivered(queue_url: str) -> list[dict[str, Any]]:
    """SNS envelopes waiting in the queue."""
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_notify_publishes_subject_and_json_message(subscribed_queue: tuple[str, str]) -> None:
    topic_arn, queue_url = subscribed_queue
    message = {
        "run_id": "6c1f0e2a",
        "file": "imdb_movies_rating.csv",
        "counts": {"rows_read": 1000, "good_rows": 9, "bad_rows": 991},
        "rule_outcomes": [
            {"Rule": 'ColumnValues "imdb_rating" between 8.5 and 10.3', "Outcome": "Failed"}
        ],
    }

    SnsNotifier(topic_arn=topic_arn).notify("quality_movies run succeeded", message)

    [envelope] = delivered(queue_url)
    assert envelope["TopicArn"] == topic_arn
    assert envelope["Subject"] == "quality_movies run succeeded"
    assert json.loads(envelope["Message"]) == message


def test_subject_is_made_acceptable_to_sns(subscribed_queue: tuple[str, str]) -> None:
    topic_arn, queue_url = subscribed_queue

    SnsNotifier(topic_arn=topic_arn).notify(
        "Run ✓ failed\nfile: Amélie.csv", {"file": "Amélie.csv"}
    )

    [envelope] = delivered(queue_url)
    assert envelope["Subject"] == "Run failed file: Amelie.csv"
    assert json.loads(envelope["Message"]) == {"file": "Amélie.csv"}


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("quality_movies run succeeded", "quality_movies run succeeded"),
        ("tab\tand\r\nbreaks", "tab and breaks"),
        ("Qualité", "Qualite"),
        ("", "quality_movies notification"),
        ("x" * 100, "x" * 100),
        ("x" * 101, "x" * 97 + "..."),
    ],
)
def test_sns_subject(subject: str, expected: str) -> None:
    assert sns_subject(subject) == expected


def test_a_topic_name_instead_of_an_arn_is_refused(moto_aws: None) -> None:
    with pytest.raises(ValueError, match="QUALITY_MOVIES_SNS_TOPIC_ARN"):
        SnsNotifier(topic_arn="quality-movies-notifications").notify("s", {})


def test_an_oversized_message_is_refused_before_publishing(
    subscribed_queue: tuple[str, str],
) -> None:
    topic_arn, queue_url = subscribed_queue

    with pytest.raises(ValueError, match="over SNS's 262144"):
        SnsNotifier(topic_arn=topic_arn).notify("big", {"rows": "x" * 262_144})

    assert delivered(queue_url) == []


def test_publishing_to_a_missing_topic_raises(moto_aws: None) -> None:
    missing = "arn:aws:sns:us-east-1:123456789012:nowhere"

    with pytest.raises(ClientError, match="NotFound"):
        SnsNotifier(topic_arn=missing).notify("s", {})
