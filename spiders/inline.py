"""A custom spider, and the template for yours: news shown whole on one page, one `<article>` per item.

Some sites publish their news as blocks of a single page, with no page per article. Name this spider in a
source, with `follow` as the selector of one block when `<article>` does not fit:

    - id: mobishare-news
      kind: spider
      spider: inline
      url: https://mobishare.example/news/
      follow: "div.news-item"

To write your own: copy this file into spiders/, change `name`, and yield `self.item(...)` (or what
`self.article_item(response)` gives for an article page). `scrapy list` shows it; `spider: NAME` uses it. Items go
through the same pipeline into the store; `self.problem(kind, url, detail)` reports what went wrong.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import scrapy

from spiders.base import SourceSpider
from spiders.extract import parse_date
from spiders.listing import link_of, select


class InlineArticlesSpider(SourceSpider):
    name = "inline"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.events.emit("opened", starts=1)
        yield scrapy.Request(self.source.url or "", callback=self.parse, errback=self.on_error, meta={"start": True})

    def parse(self, response: scrapy.http.Response, **kwargs: Any) -> Iterable[dict[str, Any]]:
        blocks = select(response, self.source.follow or "article")
        if not blocks:
            self.problem("empty_listing", response.url, f"no block matches {self.source.follow or 'article'!r}",
                         start=True, config=True)
        for number, block in enumerate(blocks, 1):
            title = " ".join(block.css("h1 ::text, h2 ::text, h3 ::text").getall()).strip()
            text = "\n".join(t.strip() for t in block.css("p ::text").getall() if t.strip())
            href = link_of(block)
            when = parse_date(block.css("time::attr(datetime)").get())
            yield {
                # A block without a link of its own is one item of the page, known by its title there.
                "url": response.urljoin(href) if href else None,
                "guid": None if href else f"{title or number}@{response.url}",
                "title": title, "text": text, "published": when.isoformat() if when else None,
            }
