"""Scrapy settings of the veille project: the defaults every crawl starts from.

The network settings of a crawl (per-site concurrency, delay, size cap, timeout, retries, User-Agent, time budget)
come from the `collect` section of sources.yaml; `spiders.base.SourceSpider.from_crawler` applies them on top of
these, so that `scrapy crawl` and `veille collect` behave alike.
"""

BOT_NAME = "veille"
SPIDER_MODULES = ["spiders"]  # a custom spider dropped into spiders/ is found by its `name`
NEWSPIDER_MODULE = "spiders"

ROBOTSTXT_OBEY = True
USER_AGENT = "veille/0.1 (market-watch feed reader; +https://pypi.org/project/veille/)"
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False  # Scrapy 2.19+ would open a control port per crawl; no crawl here needs one

# Politeness: AutoThrottle adapts the delay to each site's response times, never below DOWNLOAD_DELAY.
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_DELAY = 1.0
CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 4

DOWNLOAD_TIMEOUT = 20
DOWNLOAD_MAXSIZE = 5_000_000
DOWNLOAD_WARNSIZE = 0
RETRY_ENABLED = True
RETRY_TIMES = 2
REDIRECT_MAX_TIMES = 5
# Scrapy starts this many tasks for every callback's output, whatever its size: 100 (the default) made task
# bookkeeping a fifth of a crawl's CPU time (profiled on bench/crawl.py); an article page yields one item.
CONCURRENT_ITEMS = 16
DEPTH_PRIORITY = 1  # breadth first: the listing's first articles before the last pages of pagination

DOWNLOADER_MIDDLEWARES = {
    # Above RedirectMiddleware (600): it sees a redirect before it is followed, and reports one off the site.
    "spiders.middlewares.OffsiteRedirectMiddleware": 650,
    # Last before the download handler: every request, the redirected ones and robots.txt too, is checked there.
    "spiders.middlewares.AddressGuardMiddleware": 990,
}
# Only the codings the feed reader accepts (watch.netguard); Scrapy would ask for br and zstd too. Whatever a site
# sends, HttpCompressionMiddleware stops decoding at DOWNLOAD_MAXSIZE of decoded bytes (Scrapy >= 2.11.1).
DEFAULT_REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en",
    "Accept-Encoding": "gzip, deflate",
}
ITEM_PIPELINES = {
    "spiders.pipelines.StorePipeline": 300,
}
EXTENSIONS = {
    "spiders.report.CrawlReport": 500,
}

# Article extraction moves to EXTRACT_PROCESSES worker processes (-1: one per core, at most 4, none on one core;
# 0: never) once a crawl has asked for EXTRACT_PROCESSES_FROM article pages: Scrapy itself runs on one core.
EXTRACT_PROCESSES = -1
EXTRACT_PROCESSES_FROM = 30

LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
SPIDER_LOADER_WARN_ONLY = True  # a broken custom spider is reported; the others still load
