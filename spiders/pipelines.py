"""The item pipeline: items of every spider reach the store through `Store.ingest`, the feed reader's own path.

So a crawled article follows the same rules as a feed entry: sanitised, one item per canonical URL, every source
that carried it recorded, never a date in the future. Items are written in small batches as they come, so that a
crawl stopped half-way keeps what it found. Full-text items (spiders.fulltext) give an existing item its text.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import DropItem

from spiders.extract import parse_date
from watch.models import Entry

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from spiders.base import SourceSpider

BATCH_ITEMS = 20
BATCH_SECONDS = 1.0


class StorePipeline:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.batch: list[Entry] = []
        self.flushed_at = time.monotonic()
        self.timer = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    def open_spider(self, spider: SourceSpider | None = None) -> None:
        from twisted.internet.task import LoopingCall

        # A batch is also written when no new item comes to push it out (a site gone slow): a crawl stopped then,
        # or killed after its grace period, has stored everything it found more than a second before.
        self.timer = LoopingCall(self._flush_due)
        self.timer.start(BATCH_SECONDS, now=False)

    def process_item(self, item: dict[str, Any], spider: SourceSpider | None = None) -> dict[str, Any]:
        spider = self.crawler.spider
        if "item_id" in item:  # full text of a feed entry
            if spider.store.attach_text(item["item_id"], item["text"]):
                spider.events.emit("items", entries=1, new=0, updated=1)
            return item
        if not item.get("url") and not item.get("guid"):
            raise DropItem("an item needs a url (or a guid)")
        if not (item.get("title") or item.get("text") or item.get("summary")):
            raise DropItem(f"nothing to store for {item.get('url')}: no title, no text")
        self.batch.append(Entry(
            url=item.get("url"), title=item.get("title") or "", summary=item.get("summary") or "",
            text=item.get("text") or "", guid=item.get("guid"), author=item.get("author") or "",
            lang=item.get("lang"), published=parse_date(item.get("published")),
            categories=tuple(item.get("categories") or ())))
        if len(self.batch) >= BATCH_ITEMS or time.monotonic() - self.flushed_at >= BATCH_SECONDS:
            self.flush(spider)
        return item

    def close_spider(self, spider: SourceSpider | None = None) -> None:
        if self.timer is not None and self.timer.running:
            self.timer.stop()
        self.flush(self.crawler.spider)

    def _flush_due(self) -> None:
        if self.batch and time.monotonic() - self.flushed_at >= BATCH_SECONDS:
            self.flush(self.crawler.spider)

    def flush(self, spider: SourceSpider) -> None:
        self.flushed_at = time.monotonic()
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        # An ad-hoc listing's language is not known: the page's own, else the NLP stage's detection decides.
        language = None if spider.job.origin == "adhoc" else spider.source.language
        counts = spider.store.ingest(spider.source.id, batch, spider.job.origin, default_lang=language)
        spider.events.emit("items", entries=len(batch), new=counts.new, updated=counts.updated,
                           warnings=counts.warnings[:5])
