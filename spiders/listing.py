"""The generic listing spider: a site's news pages, configured in sources.yaml, no Python needed.

    - id: veloce-site
      kind: spider
      url: https://veloce.example/actualites/
      follow: "article h2 a"          # the article links of a listing page (CSS, or XPath from / or ()
      next_page: "a.next"             # the next listing page (default: a link with rel="next")
      max_pages: 5                    # listing pages per crawl; max_depth and max_articles bound it too

It reads each listing page, follows to every article not yet in the store, and extracts its text and date
(spiders.extract). A `follow` selector that matches nothing on the first page is a configuration problem of the
source, reported as such; a listing date found beside a link (<time datetime>) is the article's first date.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import urlsplit

import scrapy
from parsel import Selector, SelectorList

from spiders.base import SourceSpider
from spiders.extract import parse_date
from watch.i18n import tx
from watch.models import canonical_url

DEFAULT_NEXT = "a[rel~=next], link[rel~=next]"
# The element around a link that carries its listing date, nearest first.
CONTAINER = "ancestor-or-self::*[self::li or self::article or self::tr or self::dd][1]"


def select(node: Selector | scrapy.http.TextResponse, selector: str) -> SelectorList:
    """CSS, or XPath when the selector starts with `/` or `(` (the same rule as watch.config)."""
    text = selector.strip()
    return node.xpath(text) if text.startswith(("/", "(")) else node.css(text)


def link_of(node: Selector) -> str | None:
    """The href a matched node stands for: itself (a, link, or ::attr(href)), else its first link inside."""
    if isinstance(node.root, str):
        return node.root.strip() or None
    if node.root.tag in ("a", "link", "area") and node.root.get("href"):
        return node.root.get("href").strip()
    return node.css("a::attr(href)").get()


class ListingSpider(SourceSpider):
    name = "listing"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.listing_pages = 0
        self.articles = 0
        self.known = 0

    async def start(self) -> AsyncIterator[scrapy.Request]:
        starts = [u for u in (self.source.url, *self.source.start_urls) if u]
        self.events.emit("opened", starts=len(starts))
        for url in starts:
            yield scrapy.Request(url, callback=self.parse_listing, errback=self.on_error,
                                 meta={"start": True, "listing_page": 1}, dont_filter=True)

    def parse_listing(self, response: scrapy.http.Response) -> Iterable[scrapy.Request]:
        if not isinstance(response, scrapy.http.TextResponse):
            self.problem("not_html", response.url, start=bool(response.meta.get("start")))
            return
        self.listing_pages += 1
        follow = self.source.follow or ""
        links = self._article_links(response, follow)
        if not links:
            if response.meta.get("start"):
                where = self.job.where.get("follow") or self.job.where.get("source") or self.source.id
                self.problem("empty_listing", response.url, tx("configuration problem on source {id!r} ({where}): "
                                                              "the follow selector {follow!r} matches no link on "
                                                              "{url}; check it against the page's HTML", id=self.source.id, where=where, follow=follow, url=response.url), start=True, config=True)
            else:
                self.problem("empty_listing", response.url)
        yield from self._articles(links)
        page = response.meta.get("listing_page", 1)
        if page < self.source.max_pages and self.listing_pages < self.source.max_pages:
            following = select(response, self.source.next_page or DEFAULT_NEXT)
            href = link_of(following[0]) if following else None
            if href:
                yield scrapy.Request(response.urljoin(href), callback=self.parse_listing, errback=self.on_error,
                                     meta={"listing_page": page + 1})

    def _article_links(self, response: scrapy.http.TextResponse, follow: str) -> list[tuple[str, Any]]:
        found: dict[str, Any] = {}
        for node in select(response, follow):
            href = link_of(node)
            if not href or href.startswith(("#", "javascript:", "mailto:")):
                continue
            url = response.urljoin(href)
            when = None
            if not isinstance(node.root, str):
                container = node.xpath(CONTAINER) or node.xpath("..")
                when = parse_date(container[0].css("time::attr(datetime)").get()) if container else None
            found.setdefault(url, when)
        return list(found.items())

    def _articles(self, links: list[tuple[str, Any]]) -> Iterable[scrapy.Request]:
        on_site = [(url, when) for url, when in links if self._allowed(url)]
        known = self._known({url for url, _ in on_site})
        for url, when in on_site:
            if canonical_url(url) in known:
                self.known += 1  # collected by an earlier crawl: not read again
                continue
            if self.articles >= self.source.max_articles:
                return
            self.articles += 1
            yield self.article_request(url, when)

    def _allowed(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        return urlsplit(url).scheme in ("http", "https") and (
            not self.allowed_domains or any(host == d or host.endswith("." + d) for d in self.allowed_domains))

    def _known(self, urls: set[str]) -> set[str]:
        if not urls:
            return set()
        return self.store.known_urls(canonical_url(u) for u in urls)
