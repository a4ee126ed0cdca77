"""The child process of one crawl: `python -m spiders.crawl JOB.json` (started by spiders.jobs.run_crawl).

Scrapy's reactor cannot be restarted in one process, so each crawl gets a process of its own; the parent only
reads the events this one writes. SIGTERM closes the crawl cleanly (Scrapy's own handler): the pipeline stores
what it holds and the end is reported.
"""

from __future__ import annotations

import importlib
import os
import sys

from spiders.jobs import CrawlJob, EventLog
from watch.i18n import tx
from watch.lifeline import end_with_parent


def spider_class(name: str, settings):  # -> type[SourceSpider] | str (why not)
    """The class a job names: a spider of spiders/ by name, or `package.module:Class`; else why it is not found."""
    from scrapy.spiderloader import get_spider_loader

    from spiders.base import SourceSpider

    if ":" in name:
        module_name, _, class_name = name.partition(":")
        try:
            found = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            return tx("spider {name!r} not found: {exc}", name=name, exc=exc)
    else:
        loader = get_spider_loader(settings)
        try:
            found = loader.load(name)
        except KeyError:
            known = ", ".join(sorted(loader.list()))
            return tx("unknown spider {name!r}; spiders of spiders/: {known}", name=name, known=known)
    if not (isinstance(found, type) and issubclass(found, SourceSpider)):
        return tx("{name!r} must subclass spiders.base.SourceSpider", name=name)
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m spiders.crawl JOB.json", file=sys.stderr)
        return 2
    end_with_parent()  # before anything slow: a crawl whose `veille collect` was killed stops too
    job = CrawlJob.load(args[0])
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "spiders.settings")
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings

    settings = get_project_settings()
    settings.set("LOG_LEVEL", job.log_level, priority="cmdline")
    found = spider_class(job.spider, settings)
    if isinstance(found, str):
        events = EventLog(job.events)
        where = job.where.get("spider") or job.where.get("source") or job.source_id
        events.emit("problem", kind="config", url=job.source.get("url") or "", config=True, start=True,
                    detail=tx("configuration problem on source {source_id!r} ({where}): {found}", source_id=job.source_id, where=where, found=found))
        events.emit("closed", reason="configuration")
        return 0
    process = CrawlerProcess(settings)
    process.crawl(found, job=args[0])
    process.start()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
