"""What every veille spider shares: its source and job, the crawl settings, article pages, problems by kind.

A custom spider dropped into spiders/ subclasses `SourceSpider`, sets a `name`, and yields what `article_item`
returns (or a dict with at least `url` and `title` or `text`); a source names it with `spider: NAME`.
`self.source` is the source's configuration (its url, start_urls, follow… as written in sources.yaml).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import IgnoreRequest
from scrapy.http import TextResponse
from scrapy.spidermiddlewares.httperror import HttpError

from spiders.extract import Article, extract_article, parse_date
from spiders.jobs import CrawlJob, EventLog, job_for_source
from watch.i18n import tx
from watch.lifeline import end_with
from watch.store import Store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure


class OffsiteRedirect(IgnoreRequest):
    """A redirect that leaves the source's allowed domains (raised by spiders.middlewares)."""


class RefusedAddress(IgnoreRequest):
    """A request to an address the policy refuses (watch.netguard; raised by spiders.middlewares)."""


def crawl_settings(job: CrawlJob) -> dict[str, Any]:
    """Scrapy settings of one crawl, from the configuration's `collect` section and the source."""
    collect, source = job.settings(), job.source_model()
    polite = collect.crawl_delay > 0  # 0 (benchmarks, a site of one's own) turns the politeness delays off
    return {
        "USER_AGENT": collect.user_agent,
        "CONCURRENT_REQUESTS": collect.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": collect.per_host,
        "DOWNLOAD_TIMEOUT": collect.timeout,
        "DOWNLOAD_MAXSIZE": collect.max_bytes,
        "REDIRECT_MAX_TIMES": collect.max_redirects,
        "RETRY_TIMES": collect.retries,
        "DOWNLOAD_DELAY": collect.crawl_delay,
        "AUTOTHROTTLE_ENABLED": polite,
        "AUTOTHROTTLE_START_DELAY": max(collect.crawl_delay, 0.1),
        "CLOSESPIDER_TIMEOUT": job.budget,
        "DEPTH_LIMIT": source.max_depth,
        "LOG_LEVEL": job.log_level,
    }


class SourceSpider(scrapy.Spider):
    """Base of veille's spiders. Arguments: `job=PATH` (veille collect), or `source=ID` (scrapy crawl)."""

    def __init__(self, source: str | None = None, job: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if job:
            self.job = CrawlJob.load(job)
        elif source:
            self.job = _job_from_configuration(source, self.name)
        else:
            raise ValueError(tx("name the source: scrapy crawl {name} -a source=ID", name=self.name))
        self.source = self.job.source_model()
        self.events = EventLog(self.job.events)
        self.allowed_domains = list(self.source.allowed_domains) or sorted(
            {urlsplit(url).hostname or "" for url in self.start_urls_of_source()} - {""})
        self._store: Store | None = None
        self._pool: Future[ProcessPoolExecutor | None] | None = None
        self.article_requests = 0

    @property
    def store(self) -> Store:
        """The job's database, opened once per crawl; the pipeline writes through it too."""
        if self._store is None:
            self._store = Store.open(self.job.db)
        return self._store

    def closed(self, reason: str) -> None:
        if self._pool is not None:
            pool = self._pool.result(timeout=60)
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._store is not None:
            self._store.close()
            self._store = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        # Scrapy reads the settings after it has made the spider: the source's own settings can still go in.
        crawler.settings.setdict(crawl_settings(spider.job), priority="spider")
        return spider

    def start_urls_of_source(self) -> list[str]:
        return [u for u in (self.source.url, *self.source.start_urls, self.source.sitemap) if u]

    # -- what a crawl reports ------------------------------------------------------------------------------

    def problem(self, kind: str, url: str, detail: str = "", *, start: bool = False, config: bool = False) -> None:
        """Record what went wrong on one page; the parent turns these into the fetch's error or warning."""
        self.logger.info("problem %s on %s: %s", kind, url, detail)
        self.events.emit("problem", kind=kind, url=url, detail=detail, start=start, config=config)

    def on_error(self, failure: Failure) -> None:
        """Errback of every request: say which kind of problem stopped it."""
        request = failure.request
        value = failure.value
        start = bool(request.meta.get("start"))
        if isinstance(value, HttpError):
            self.problem("http", request.url, f"HTTP {value.response.status}", start=start)
        elif isinstance(value, OffsiteRedirect):
            self.problem("offsite", request.url, str(value), start=start)
        elif isinstance(value, RefusedAddress):
            self.problem("refused_address", request.url, str(value), start=start)
        elif isinstance(value, IgnoreRequest) and "robots.txt" in str(value):
            self.problem("robots", request.url, tx("disallowed by robots.txt"), start=start)
        elif "max size" in str(value) or "DOWNLOAD_MAXSIZE" in str(value):
            self.problem("too_large", request.url, tx("over {getint} bytes", getint=self.settings.getint('DOWNLOAD_MAXSIZE')), start=start)
        elif "Timeout" in type(value).__name__ or "timed out" in str(value).lower():
            self.problem("timeout", request.url, f"{type(value).__name__}", start=start)
        elif isinstance(value, IgnoreRequest):
            self.problem("ignored", request.url, str(value), start=start)
        else:
            self.problem("network", request.url, f"{type(value).__name__}: {value}".strip(": "), start=start)

    # -- articles --------------------------------------------------------------------------------------------

    def article_request(self, url: str, listing_date: datetime | None = None, **meta: Any) -> scrapy.Request:
        self.article_requests += 1
        self._start_extraction_pool()  # when a crawl turns out large, its workers start while pages download
        return scrapy.Request(url, callback=self.parse_article, errback=self.on_error,
                              meta={"listing_date": listing_date.isoformat() if listing_date else None, **meta})

    async def parse_article(self, response: scrapy.http.Response) -> AsyncIterator[dict[str, Any]]:
        item = await self.article_item_async(response)
        if item is not None:
            yield item

    def article_item(self, response: scrapy.http.Response, **extra: Any) -> dict[str, Any] | None:
        """The item of an article page: main text, title, author, date (listing, metadata, text), language."""
        if not isinstance(response, TextResponse):
            return self._article_item(response, None, extra)
        listed = parse_date(response.meta.get("listing_date"))
        return self._article_item(response, extract_article(response.text, response.url, listed), extra)

    async def article_item_async(self, response: scrapy.http.Response, **extra: Any) -> dict[str, Any] | None:
        """`article_item`, extracting in worker processes once a crawl asks for enough pages to gain from them.

        Extraction is most of a crawl's CPU time and Scrapy runs on one core: a large crawl spreads it over the
        others, while small ones (a newsroom's page of ten articles) do not pay the workers' start-up.
        """
        ready = self._pool
        pool = ready.result() if ready is not None and ready.done() else None  # in-process until the workers are up
        if pool is None or not isinstance(response, TextResponse):
            return self.article_item(response, **extra)
        future = pool.submit(extract_article, response.text, response.url,
                             parse_date(response.meta.get("listing_date")))
        return self._article_item(response, await asyncio.wrap_future(future), extra)

    def _article_item(self, response: scrapy.http.Response, article: Article | None,
                      extra: dict[str, Any]) -> dict[str, Any] | None:
        if article is None:
            self.problem("not_html", response.url, response.headers.get("Content-Type", b"").decode("latin-1"))
            return None
        if not article.text:
            # Kept when it has a title: the item says the page exists; the warning says why it has no text.
            self.problem("no_text", response.url)
            if not article.title:
                return None
        return {"url": response.url, "title": article.title, "summary": article.summary, "text": article.text,
                "author": article.author, "lang": article.lang,
                "published": article.published.isoformat() if article.published else None,
                "date_from": article.date_from, **extra}

    def _start_extraction_pool(self) -> None:
        """Start the extraction workers, in a thread (their imports take seconds, which must not block the
        reactor), once the crawl has asked for enough article pages."""
        workers = self.settings.getint("EXTRACT_PROCESSES", -1)
        if workers < 0:
            workers = min(os.cpu_count() or 1, 4) if (os.cpu_count() or 1) > 1 else 0
        if self._pool is None and workers and \
                self.article_requests >= self.settings.getint("EXTRACT_PROCESSES_FROM", 30):
            self._pool = Future()
            threading.Thread(target=self._start_pool, args=(workers, self._pool), daemon=True,
                             name="veille-extract-pool").start()

    def _start_pool(self, workers: int, ready: Future[ProcessPoolExecutor | None]) -> None:
        # forkserver (or spawn), never fork: this process runs an event loop and threads.
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            context.set_forkserver_preload(["spiders.extract", "trafilatura", "htmldate"])
        # Each worker ends with this crawl process, even one killed with SIGKILL (watch.lifeline).
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=end_with, initargs=(os.getpid(),))
        try:
            list(pool.map(_warm, range(workers)))  # every worker up, its imports done
        except Exception as exc:  # no workers (a broken interpreter, no /dev/shm): extraction stays in-process
            self.logger.warning("no extraction workers: %s", exc)
            pool.shutdown(wait=False, cancel_futures=True)
            ready.set_result(None)
            return
        self.logger.info("article extraction moves to %d worker process(es)", workers)
        ready.set_result(pool)


def _warm(_: int) -> None:
    import spiders.extract  # noqa: F401 (preloaded by the forkserver; imported here under spawn)


def _job_from_configuration(source_id: str, spider_name: str) -> CrawlJob:
    """`scrapy crawl NAME -a source=ID`: the job `veille collect` would give, from ./sources.yaml or VEILLE_CONFIG."""
    from watch.config import load_config

    config = load_config(os.environ.get("VEILLE_CONFIG"))
    try:
        source = config.source(source_id)
    except KeyError:
        known = ", ".join(s.id for s in config.sources if s.kind == "spider") or "-"
        raise ValueError(tx("unknown source {source_id!r} in {path} (spider sources: {known})", source_id=source_id, path=config.path, known=known)) from None
    db = os.environ.get("VEILLE_DB") or config.database
    job = job_for_source(config, source, db, log_level="INFO")
    job.spider = spider_name
    return job
