"""The Scrapy project of veille: settings, spiders configured from sources.yaml, an item pipeline into the store.

Crawls run in a child process (`spiders.jobs.run_crawl` starts `python -m spiders.crawl`): Scrapy's Twisted
reactor cannot restart within one process, and the scheduler must never import Twisted. So this package's
`__init__` and `spiders.jobs` import neither Scrapy nor Twisted; the other modules are loaded in the child.

    scrapy list                                  # the project's spiders
    scrapy crawl listing -a source=veloce-site   # one configured source, as `veille collect --source` does
"""
