"""News sitemaps (sitemaps.org with Google's news extension), for sites that publish no feed.

    - id: rouleo-site
      kind: spider
      url: https://rouleo.example/
      sitemap: https://rouleo.example/sitemap-news.xml

A sitemap index is followed to its sitemaps (at most `max_pages` of them); each `<url>` is an article, its
`<news:publication_date>` the listing date and `<news:title>` a title when the page has none. Gzipped sitemaps
are read too. Articles already in the store are not read again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import scrapy
from lxml import etree
from scrapy.utils.gz import gunzip

from spiders.extract import parse_date
from spiders.listing import ListingSpider
from watch.i18n import tx

NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"
# No entities, no network, no huge trees: a sitemap is untrusted XML.
PARSER = dict(recover=True, resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)


def sitemap_entries(body: bytes) -> tuple[str, list[dict[str, Any]]]:
    """('urlset' or 'sitemapindex', [{'loc', 'date', 'title'}]) of a sitemap body; ('', []) if it is not one."""
    if body[:2] == b"\x1f\x8b":
        body = gunzip(body, max_size=50_000_000)
    try:
        root = etree.fromstring(body, parser=etree.XMLParser(**PARSER))
    except etree.XMLSyntaxError:
        return "", []
    if root is None:
        return "", []
    kind = etree.QName(root).localname
    entries = []
    for element in root:
        if not isinstance(element.tag, str) or etree.QName(element).localname not in ("url", "sitemap"):
            continue
        values: dict[str, Any] = {}
        for child in element.iter():
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            if name == "loc" and child.getparent() is element:
                values["loc"] = (child.text or "").strip()
            elif name == "publication_date" and str(child.tag).startswith(NEWS):
                values["date"] = parse_date((child.text or "").strip())
            elif name == "title" and str(child.tag).startswith(NEWS):
                values["title"] = (child.text or "").strip()
        if values.get("loc"):
            entries.append(values)
    return kind, entries


class NewsSitemapSpider(ListingSpider):
    name = "news-sitemap"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.sitemap_titles: dict[str, str] = {}  # <news:title> by article URL, for pages without a title

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.events.emit("opened", starts=1)
        yield scrapy.Request(self.source.sitemap or self.source.url or "", callback=self.parse_sitemap,
                             errback=self.on_error, meta={"start": True}, dont_filter=True)

    def parse_sitemap(self, response: scrapy.http.Response) -> Iterable[scrapy.Request]:
        self.listing_pages += 1
        kind, entries = sitemap_entries(response.body)
        if not kind:
            where = self.job.where.get("sitemap") or self.job.where.get("source") or self.source.id
            self.problem("empty_listing", response.url, tx("configuration problem on source {id!r} ({where}): "
                                                          "{url} is not a sitemap", id=self.source.id, where=where, url=response.url),
                start=bool(response.meta.get("start")), config=bool(response.meta.get("start")))
            return
        if kind == "sitemapindex":
            for entry in entries[: self.source.max_pages]:
                yield scrapy.Request(response.urljoin(entry["loc"]), callback=self.parse_sitemap, errback=self.on_error)
            return
        titles = {response.urljoin(e["loc"]): e.get("title", "") for e in entries}
        self.sitemap_titles.update(titles)
        # Newest first, so that max_articles keeps the latest news.
        entries.sort(key=lambda e: e["date"].timestamp() if e.get("date") else 0, reverse=True)
        yield from self._articles([(response.urljoin(e["loc"]), e.get("date")) for e in entries])

    async def parse_article(self, response: scrapy.http.Response) -> AsyncIterator[dict[str, Any]]:
        item = await self.article_item_async(response)
        if item is not None:
            item["title"] = item["title"] or self.sitemap_titles.get(response.url, "")
            yield item
