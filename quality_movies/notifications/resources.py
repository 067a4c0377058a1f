"""Where run notifications go: the log and a local outbox file, or an SNS topic on AWS."""

import json
import logging
import unicodedata
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

logger = logging.getLogger("quality_movies.notifications")


class Notifier(dg.ConfigurableResource, ABC):
    """Publishes a subject and a JSON message about a run."""

    @abstractmethod
    def notify(self, subject: str, message: dict[str, Any]) -> None:
        """Deliver one message; raises when it could not be delivered."""


class LocalNotifier(Notifier):
    """Appends each message as one JSON line to an outbox file and logs it."""

    outbox_path: str

    def notify(self, subject: str, message: dict[str, Any]) -> None:
        record = {"subject": subject, "sent_at": datetime.now(UTC).isoformat(), "message": message}
        path = Path(self.outbox_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as outbox:
            outbox.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        logger.info("%s: %s", subject, json.dumps(message, default=str))

    def messages(self) -> list[dict[str, Any]]:
        """Everything sent so far, oldest first."""
        path = Path(self.outbox_path)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


SNS_SUBJECT_MAX_CHARS = 100
SNS_MESSAGE_MAX_BYTES = 262_144


def sns_subject(subject: str) -> str:
    """A subject SNS accepts: ASCII, no line breaks or control characters, at most 100 characters."""
    ascii_text = unicodedata.normalize("NFKD", subject).encode("ascii", "ignore").decode("ascii")
    printable = "".join(c if c.isprintable() else " " for c in ascii_text)
    text = " ".join(printable.split()) or "quality_movies notification"
    if len(text) > SNS_SUBJECT_MAX_CHARS:
        text = text[: SNS_SUBJECT_MAX_CHARS - 3].rstrip() + "..."
    return text


class SnsNotifier(Notifier):
    """Publishes each message as JSON to an Amazon SNS topic."""

    topic_arn: str
    region_name: str = "us-east-1"
    endpoint_url: str = ""
    _client: Any = PrivateAttr(default=None)

    def client(self) -> Any:
        """The SNS client of this resource, built on first use."""
        if self._client is None:
            from quality_movies.lake import aws_client

            self._client = aws_client("sns", self.region_name, self.endpoint_url)
        return self._client

    def notify(self, subject: str, message: dict[str, Any]) -> None:
        if not self.topic_arn.startswith("arn:"):
            raise ValueError(
                f"SNS topic {self.topic_arn!r} is not an ARN: set QUALITY_MOVIES_SNS_TOPIC_ARN"
            )
        body = json.dumps(message, sort_keys=True, default=str)
        size = len(body.encode("utf-8"))
        if size > SNS_MESSAGE_MAX_BYTES:
            raise ValueError(
                f"notification {subject!r} is {size} bytes, over SNS's {SNS_MESSAGE_MAX_BYTES}: "
                "send fewer details (e.g. link the rule outcomes instead of listing them)"
            )
        response = self.client().publish(
            TopicArn=self.topic_arn, Subject=sns_subject(subject), Message=body
        )
        logger.info("%s: published to %s as %s", subject, self.topic_arn, response["MessageId"])
