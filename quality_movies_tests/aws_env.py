"""Fake AWS credentials for tests that talk to moto or a local S3 server, never to AWS."""

import pytest


def use_fake_aws_credentials(monkeypatch: pytest.MonkeyPatch, region: str = "us-east-1") -> None:
    """Credentials that moto accepts and AWS would refuse; no profile can lend real ones."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
