"""moto Glue patches shared by the crawler tests: a crawl that ends FAILED with AWS's error message."""

from typing import Any

import pytest
from moto.glue import models as glue_models


def fail_crawls(monkeypatch: pytest.MonkeyPatch, message: str) -> None:
    """Every crawl started from now on ends FAILED, and GetCrawler reports ``message`` for it."""
    start_crawler = glue_models.FakeCrawler.start_crawler
    as_dict = glue_models.FakeCrawler.as_dict

    def start_failing_crawl(crawler: glue_models.FakeCrawler) -> None:
        start_crawler(crawler)
        crawler.crawls[-1].status = "FAILED"

    def with_error_message(crawler: glue_models.FakeCrawler) -> dict[str, Any]:
        data = as_dict(crawler)  # moto leaves LastCrawl.ErrorMessage out; AWS sets it on FAILED.
        if data.get("LastCrawl", {}).get("Status") == "FAILED":
            data["LastCrawl"]["ErrorMessage"] = message
        return data

    monkeypatch.setattr(glue_models.FakeCrawler, "start_crawler", start_failing_crawl)
    monkeypatch.setattr(glue_models.FakeCrawler, "as_dict", with_error_message)
