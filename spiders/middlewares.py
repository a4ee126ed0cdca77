"""Downloader middleware: a redirect off the source's allowed domains is reported, not silently dropped.

Scrapy's OffsiteMiddleware drops such a redirect without a word (nor an errback); this one, placed before
RedirectMiddleware, turns it into an error the spider records, naming where the page tried to go.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from spiders.base import OffsiteRedirect
from watch.i18n import tr

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response


class OffsiteRedirectMiddleware:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> OffsiteRedirectMiddleware:
        return cls(crawler)

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Response:
        location = response.headers.get("Location")
        domains = getattr(self.crawler.spider, "allowed_domains", None)
        if response.status not in (301, 302, 303, 307, 308) or not location or not domains:
            return response
        target = urljoin(request.url, location.decode("latin-1"))
        host = (urlsplit(target).hostname or "").lower()
        if not any(host == d or host.endswith("." + d) for d in domains):
            raise OffsiteRedirect(tr(f"redirigée vers {target}, hors de {', '.join(domains)}",
                                     f"redirected to {target}, off {', '.join(domains)}"))
        return response
