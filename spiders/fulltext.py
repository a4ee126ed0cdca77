"""Full text for feeds (`fulltext: true`): the page of each new entry, its main text stored on the item.

Feeds that ship only a teaser get their articles' text this way, politely: robots.txt, AutoThrottle and the
configured delay apply as to any crawl. The parent (`veille collect`) lists the pages in the job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import scrapy

from spiders.base import SourceSpider


class FullTextSpider(SourceSpider):
    name = "fulltext"

    def start_urls_of_source(self) -> list[str]:
        return [page["url"] for page in self.job.pages]

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.events.emit("opened", starts=0)  # every page is an article: none of them failing fails the feed
        for page in self.job.pages:
            yield self.article_request(page["url"], item_id=page["item_id"])

    async def parse_article(self, response: scrapy.http.Response) -> AsyncIterator[dict[str, Any]]:
        item = await self.article_item_async(response, item_id=response.meta["item_id"])
        if item is not None and item["text"]:
            yield {"item_id": item["item_id"], "text": item["text"], "url": item["url"]}
