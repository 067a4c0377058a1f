"""The boto3 clients every AWS implementation uses (S3, Glue, Redshift Data API, SNS, CloudWatch)."""

from typing import Any


def aws_client(
    service: str,
    region_name: str,
    endpoint_url: str = "",
    *,
    retry_mode: str = "standard",
    max_attempts: int = 10,
    path_style: bool = False,
) -> Any:
    """A boto3 client with backoff on throttling and 5xx; credentials come from the default chain.

    ``endpoint_url`` points at a local stand-in (SeaweedFS, moto) when set; empty means AWS itself.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": retry_mode, "max_attempts": max_attempts},
        s3={"addressing_style": "path"} if path_style else None,
    )
    return boto3.session.Session().client(
        service, region_name=region_name, endpoint_url=endpoint_url or None, config=config
    )
