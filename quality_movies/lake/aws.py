"""The lake on Amazon S3 and the Data Catalog table kept by a Glue crawler, through boto3."""

import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import dagster as dg
from pydantic import PrivateAttr

from quality_movies.lake.base import Catalog, CatalogTable, Lake, LakeObject

# Every boto3 client of the pipeline retries a throttled, 5xx or dropped call this way (docs/aws.md,
# "Retries"). "standard": exponential backoff with jitter (up to 20 s a wait) and a retry quota that
# stops retrying when most calls fail, so an outage is not hammered; "adaptive" would add client-side
# rate limiting, which suits one client hammering one resource, not this pipeline's few calls.
# 5 attempts (4 retries, about 15 s of waiting at most) ride out a blip; a longer outage fails the
# file as an environment failure and the ledger takes it again at the next run, after its backoff.
AWS_RETRY_MODE = "standard"
AWS_MAX_ATTEMPTS = 5


def aws_client(
    service: str,
    region_name: str,
    endpoint_url: str = "",
    *,
    retry_mode: str = AWS_RETRY_MODE,
    max_attempts: int = AWS_MAX_ATTEMPTS,
    path_style: bool = False,
) -> Any:
    """A boto3 client with backoff on throttling, 5xx and connection errors (``AWS_RETRY_MODE``,
    ``AWS_MAX_ATTEMPTS``); credentials come from the default chain.

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


def _is_missing(exc: Exception) -> bool:
    """Whether a botocore ClientError says the object (or range of it) does not exist."""
    error = getattr(exc, "response", {}).get("Error", {})
    return str(error.get("Code")) in {"404", "NoSuchKey", "NotFound"}


class S3Lake(Lake):
    """The bucket on Amazon S3 (or an S3-compatible endpoint): paginated listing, streamed transfers.

    Uploads larger than ``multipart_threshold_mb`` go up in ``multipart_chunk_mb`` parts, so the
    object's ETag is then ``<md5 of part md5s>-<parts>`` rather than the file's MD5.
    """

    region_name: str = "us-east-1"
    endpoint_url: str = ""
    multipart_threshold_mb: float = 64
    multipart_chunk_mb: float = 16
    retry_mode: str = AWS_RETRY_MODE
    max_attempts: int = AWS_MAX_ATTEMPTS
    _client: Any = PrivateAttr(default=None)

    def client(self) -> Any:
        """The S3 client of this resource, built on first use."""
        if self._client is None:
            self._client = aws_client(
                "s3",
                self.region_name,
                self.endpoint_url,
                retry_mode=self.retry_mode,
                max_attempts=self.max_attempts,
                path_style=bool(self.endpoint_url),
            )
        return self._client

    def transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        mib = 1024 * 1024
        return TransferConfig(
            multipart_threshold=int(self.multipart_threshold_mb * mib),
            multipart_chunksize=int(self.multipart_chunk_mb * mib),
        )

    def _lake_object(self, key: str, entry: dict[str, Any]) -> LakeObject:
        return LakeObject(
            key=key,
            size=int(entry.get("Size", entry.get("ContentLength", 0))),
            etag=str(entry["ETag"]).strip('"'),
            last_modified=entry["LastModified"],
        )

    def list_objects(self, prefix: str) -> list[LakeObject]:
        paginator = self.client().get_paginator("list_objects_v2")
        found = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            found.extend(self._lake_object(e["Key"], e) for e in page.get("Contents", []))
        return sorted(found, key=lambda o: o.key)

    def head(self, key: str) -> LakeObject:
        from botocore.exceptions import ClientError

        try:
            response = self.client().head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(f"{self.uri(key)} does not exist") from exc
            raise
        return self._lake_object(key, response)

    def read_head(self, key: str, n_bytes: int = 65536) -> bytes:
        from botocore.exceptions import ClientError

        if n_bytes <= 0:
            return b""
        try:
            response = self.client().get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes=0-{n_bytes - 1}"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""
            if _is_missing(exc):
                raise FileNotFoundError(f"{self.uri(key)} does not exist") from exc
            raise
        with response["Body"] as body:
            return body.read(n_bytes)

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        from botocore.exceptions import ClientError

        try:
            response = self.client().get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(f"{self.uri(key)} does not exist") from exc
            raise
        with closing(response["Body"]) as body:
            yield body

    def download(self, key: str, dest: Path) -> Path:
        from botocore.exceptions import ClientError

        try:
            self.client().download_file(self.bucket, key, str(dest), Config=self.transfer_config())
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(f"{self.uri(key)} does not exist") from exc
            raise
        return dest

    def upload(self, src: Path, key: str) -> LakeObject:
        self.client().upload_file(str(src), self.bucket, key, Config=self.transfer_config())
        return self.head(key)

    def delete(self, key: str) -> None:
        self.client().delete_object(Bucket=self.bucket, Key=key)

    def move(self, src_key: str, dest_key: str) -> None:
        """Server-side copy (multipart beyond the threshold), then delete of the source."""
        from botocore.exceptions import ClientError

        try:
            self.client().copy(
                {"Bucket": self.bucket, "Key": src_key},
                self.bucket,
                dest_key,
                Config=self.transfer_config(),
            )
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(f"{self.uri(src_key)} does not exist") from exc
            raise
        self.delete(src_key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


class CrawlerFailed(RuntimeError):
    """The Glue crawler's last crawl ended FAILED or CANCELLED; carries the crawler's own message."""


def catalog_table_from_glue(table: dict[str, Any]) -> CatalogTable:
    """A ``glue.get_table()["Table"]`` as a CatalogTable: lower-cased columns, location, classification."""
    storage = table.get("StorageDescriptor", {})
    columns = [
        (c["Name"].strip().lower(), c.get("Type", "string"))
        for c in [*storage.get("Columns", []), *table.get("PartitionKeys", [])]
    ]
    parameters = {**storage.get("Parameters", {}), **table.get("Parameters", {})}
    updated = table.get("UpdateTime") or table.get("CreateTime")
    return CatalogTable(
        database=table["DatabaseName"],
        name=table["Name"],
        location=storage.get("Location", ""),
        columns=columns,
        classification=parameters.get("classification", ""),
        delimiter=storage.get("SerdeInfo", {}).get("Parameters", {}).get("field.delim", ","),
        updated_at=updated.isoformat(timespec="seconds") if updated else "",
    )


ANY_CRAWL = object()
"""For ``wait_until_ready``: a crawl already running was joined, so any READY ends the wait."""


def _crawl_marker(crawler: dict[str, Any]) -> tuple[str, str] | None:
    """What tells one crawl of a crawler from the next: its start time and log message prefix."""
    last_crawl = crawler.get("LastCrawl")
    if not last_crawl:
        return None
    return str(last_crawl.get("StartTime")), str(last_crawl.get("MessagePrefix"))


class GlueCrawlerCatalog(Catalog):
    """The AWS Glue Data Catalog table kept current by a Glue crawler over the input prefix."""

    crawler_name: str = "quality-movies-crawler"
    region_name: str = "us-east-1"
    endpoint_url: str = ""
    poll_interval_seconds: float = 15.0
    max_poll_interval_seconds: float = 60.0
    timeout_seconds: float = 3600.0
    _client: Any = PrivateAttr(default=None)

    def client(self) -> Any:
        """The Glue client of this resource, built on first use."""
        if self._client is None:
            self._client = aws_client("glue", self.region_name, self.endpoint_url)
        return self._client

    def crawl(self, lake: Lake) -> CatalogTable:
        glue = self.client()
        before = glue.get_crawler(Name=self.crawler_name)["Crawler"]
        new_crawl = before["State"] == "READY"
        try:
            glue.start_crawler(Name=self.crawler_name)
        except glue.exceptions.CrawlerRunningException:
            dg.get_dagster_logger().info(
                "Glue crawler %s is already running: waiting for that crawl", self.crawler_name
            )
            new_crawl = False
        crawler = self.wait_until_ready(after=_crawl_marker(before) if new_crawl else ANY_CRAWL)
        last_crawl = crawler.get("LastCrawl", {})
        if last_crawl.get("Status") in {"FAILED", "CANCELLED"}:
            reason = last_crawl.get("ErrorMessage") or "no error message"
            logs = f"{last_crawl.get('LogGroup', '/aws-glue/crawlers')}/{last_crawl.get('LogStream', '')}"
            raise CrawlerFailed(
                f"Glue crawler {self.crawler_name} {last_crawl['Status']}: {reason} "
                f"(CloudWatch logs {logs}); fix the crawler or its S3 target "
                f"{lake.uri(lake.input_prefix)} and run again"
            )
        table = self.get_table()
        if table is None:
            raise LookupError(
                f"Glue crawler {self.crawler_name} finished but table {self.database}.{self.table} is "
                f"not in the Data Catalog: check that the crawler writes to database {self.database} "
                f"and that {lake.uri(lake.input_prefix)} holds CSV files"
            )
        table.files = [o.key for o in lake.input_files() if o.key.lower().endswith(".csv")]
        return table

    def wait_until_ready(
        self, after: tuple[str, str] | None | object = ANY_CRAWL
    ) -> dict[str, Any]:
        """Poll get_crawler, backing off, until the crawler is READY with a crawl newer than ``after``.

        ``after`` marks the last crawl before the one started (None: never crawled), so a crawler that
        has not left READY yet is not taken for finished; ``ANY_CRAWL`` accepts any READY.
        """
        glue = self.client()
        delay = self.poll_interval_seconds
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            crawler = glue.get_crawler(Name=self.crawler_name)["Crawler"]
            if crawler["State"] == "READY" and (
                after is ANY_CRAWL or _crawl_marker(crawler) != after
            ):
                return crawler
            if time.monotonic() + delay > deadline:
                state = crawler["State"]
                if state == "READY":
                    state = "READY without recording a new crawl"
                raise TimeoutError(
                    f"Glue crawler {self.crawler_name} still {state} after "
                    f"{self.timeout_seconds:g} s; see its runs in the Glue console or raise "
                    "timeout_seconds"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, self.max_poll_interval_seconds)

    def get_table(self) -> CatalogTable | None:
        glue = self.client()
        try:
            response = glue.get_table(DatabaseName=self.database, Name=self.table)
        except glue.exceptions.EntityNotFoundException:
            return None
        return catalog_table_from_glue(response["Table"])
