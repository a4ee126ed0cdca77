"""Downloader middlewares: a redirect off the source's allowed domains is reported, not silently dropped; no
request reaches an address that `watch.netguard` refuses.

Scrapy's OffsiteMiddleware drops such a redirect without a word (nor an errback); this one, placed before
RedirectMiddleware, turns it into an error the spider records, naming where the page tried to go.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from twisted.internet.threads import deferToThread

from spiders.base import OffsiteRedirect, RefusedAddress
from watch.i18n import tx
from watch.netguard import AddressPolicy, AddressRefused, literal_address

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
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
            raise OffsiteRedirect(tx("redirected to {target}, off {domains}", target=target, domains=', '.join(domains)))
        return response


class AddressGuardMiddleware:
    """Every request, redirects and robots.txt included, is checked against the source's address policy.

    The host is resolved here, in a thread, then Scrapy resolves it again to connect: unlike the feed reader
    (whose connections use the checked address), a name that changes its answer in between is not caught.
    """

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self._policy: AddressPolicy | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AddressGuardMiddleware:
        return cls(crawler)

    def policy(self) -> AddressPolicy:
        if self._policy is None:
            spider = self.crawler.spider
            source = getattr(spider, "source", None)  # the configured source: its own hosts may be internal
            if source is not None:
                homes = [u for u in (source.url, *source.start_urls, source.sitemap) if u]
                self._policy = AddressPolicy(homes, spider.job.settings().allow_private)
            else:  # a plain Scrapy spider dropped into spiders/: its start URLs are its home
                self._policy = AddressPolicy(list(getattr(spider, "start_urls", [])))
        return self._policy

    def process_request(self, request: Request, spider: Spider | None = None) -> Deferred | None:
        host = urlsplit(request.url).hostname or ""
        if not host:
            return None
        if literal_address(host) is not None and host.lower() in self.policy().home_hosts:
            return None  # the source's own address: nothing to resolve
        return deferToThread(self._check, request.url)

    def _check(self, url: str) -> None:
        try:
            self.policy().check_url(url)
        except AddressRefused as exc:
            raise RefusedAddress(str(exc)) from None
