"""The crawl report extension: pages fetched, errors in spider code, and how the crawl ended, as events.

Under `veille collect` the events go to the job's file and the parent records the fetch. Under a plain
`scrapy crawl NAME -a source=ID` there is no parent: this extension records the fetch itself, the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy import signals

from spiders.jobs import summarise
from watch.models import FetchOutcome, backoff_seconds, utcnow
from watch.store import Store

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure


class CrawlReport:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.started_at = utcnow()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlReport:
        report = cls(crawler)
        crawler.signals.connect(report.response_received, signal=signals.response_received)
        crawler.signals.connect(report.spider_error, signal=signals.spider_error)
        crawler.signals.connect(report.spider_closed, signal=signals.spider_closed)
        return report

    def response_received(self, response: Response, request: Request, spider: Spider) -> None:
        if hasattr(spider, "events") and not request.meta.get("dont_obey_robotstxt"):  # robots.txt is not a page
            spider.events.emit("page", url=response.url, status=response.status, bytes=len(response.body))

    def spider_error(self, failure: Failure, response: Response | Failure, spider: Spider) -> None:
        if hasattr(spider, "problem"):
            # An errback that fails is handed its failure as `response`: the URL is then the request's.
            url = getattr(response, "url", None) or getattr(getattr(failure, "request", None), "url", "")
            spider.problem("error", url, f"{type(failure.value).__name__}: {failure.value}")

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if not hasattr(spider, "events"):
            return
        spider.events.emit("closed", reason=reason)
        if spider.job.events is None:
            self._record(spider, reason)

    def _record(self, spider: Any, reason: str) -> None:
        outcome = summarise(spider.job, spider.events.events, FetchOutcome(spider.source.id, spider.source.url or "",
                                                                           self.started_at))
        outcome.duration_ms = int((utcnow() - self.started_at).total_seconds() * 1000)
        with Store.open(spider.job.db) as store:
            store.record_fetch(outcome, backoff_seconds)
        spider.logger.info("source=%s outcome=%s pages=%d new=%d updated=%d %s", outcome.source_id, outcome.outcome,
                           outcome.pages, outcome.new, outcome.updated, outcome.error or outcome.warning)
