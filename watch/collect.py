"""Collection: choose the sources to read and hand each to the collector of its kind.

The one entry function is `collect`; the scheduler and the CLI call it. Feeds are read by `watch.feeds`; spider
sources are crawled by `spiders` in child processes (`spiders.jobs`): this module never imports Scrapy or Twisted,
so neither does the scheduler. One small function per kind of source.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from spiders.jobs import CrawlJob, job_for_source, run_crawl
from watch.config import Config, Source, selector_problem
from watch.errors import UsageError
from watch.feeds import FeedTarget, read_feeds, skip_reason
from watch.i18n import tx
from watch.models import FetchOutcome, backoff_seconds, utcnow
from watch.store import Store


@dataclass
class CollectReport:
    outcomes: list[FetchOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[FetchOutcome]:
        return [o for o in self.outcomes if o.outcome in ("error", "gone")]

    @property
    def new(self) -> int:
        return sum(o.new for o in self.outcomes)

    @property
    def updated(self) -> int:
        return sum(o.updated for o in self.outcomes)


def adhoc_source_id(url: str) -> str:
    """`adhoc-www-example-com`: ad-hoc URLs of one host share a source row, kept apart from configured ids."""
    host = (urlsplit(url).hostname or "unknown").lower()
    return "adhoc-" + re.sub(r"[^a-z0-9]+", "-", host).strip("-")


def refuse_unknown_sources(source_ids: Sequence[str], known: Sequence[str]) -> None:
    """UsageError naming the first id not in `known`, with the closest known one (did you mean)."""
    for source_id in source_ids:
        if source_id not in known:
            close = difflib.get_close_matches(source_id, list(known), n=1)
            hint = tx(" (did you mean {close!r}?)", close=close[0]) if close else ""
            raise UsageError(tx("unknown source {source_id!r}{hint}; `veille sources list` shows them", source_id=source_id, hint=hint))


def collect(config: Config, store: Store, source_ids: Sequence[str] = (), urls: Sequence[str] = (), *,
            follow: str | None = None, progress: Callable[[FetchOutcome], None] | None = None,
            stop: threading.Event | None = None) -> CollectReport:
    """Collect the named sources (all configured ones when none is named and no URL is given) and ad-hoc URLs.

    Ad-hoc URLs are feeds, or listing pages crawled for the links `follow` selects. Named sources are fetched even
    while in backoff; a run over everything respects backoff. Setting `stop` ends the running crawls (SIGTERM,
    then SIGKILL after a grace period): what they found is kept and the outcome recorded; no new crawl starts.
    An exception on the way (KeyboardInterrupt: Ctrl-C, or SIGTERM under `veille collect`) ends them the same way
    and records them as stopped before it goes on.
    """
    refuse_unknown_sources(source_ids, [s.id for s in config.sources])
    for url in urls:
        if not re.match(r"^https?://[^\s/]+", url):
            raise UsageError(tx("invalid URL {url!r}: only http(s) addresses are collected", url=url))
    if follow is not None and (problem := selector_problem(follow)):
        raise UsageError(f"--follow: {problem}")
    store.sync_sources(config.sources)
    chosen = [s for s in config.sources if s.id in source_ids] if source_ids or urls else list(config.sources)
    force = bool(source_ids or urls)
    by_kind: dict[str, list[Source]] = {}
    for source in chosen:
        by_kind.setdefault(source.kind, []).append(source)

    report = CollectReport()
    jobs = _spider_jobs(config, store, by_kind.get("spider", []), force, report, progress)
    if follow:
        jobs += [_adhoc_job(config, store, url, follow) for url in urls]
    with Crawls(config, store, stop) as crawls:
        crawls.start(jobs)  # child processes crawl while the feeds are read
        feeds = _collect_feeds(config, store, by_kind.get("feed", []), [] if follow else list(urls), force, progress)
        fulltext = _fulltext_jobs(config, store, by_kind.get("feed", []), feeds)
        crawls.start(fulltext, health=False)  # a feed's full-text pass says nothing of the feed's health
        report.outcomes.extend(feeds)
        report.outcomes.extend(_collect_pages(config, store, by_kind.get("page", []), bool(source_ids), progress))
        report.outcomes.extend(_note_offline(config, store, by_kind.get("offline", []), progress))
        report.outcomes.extend(crawls.finish(jobs, progress))
        _merge_fulltext(feeds, fulltext, crawls.finish(fulltext, None))
    return report


def _collect_feeds(config: Config, store: Store, sources: list[Source], urls: list[str], force: bool,
                   progress: Callable[[FetchOutcome], None] | None) -> list[FetchOutcome]:
    """Feeds and ad-hoc feed URLs, read concurrently."""
    targets = [FeedTarget(s.id, s.url or "", "feed", s.language) for s in sources]
    for url in urls:
        source_id = adhoc_source_id(url)
        store.ensure_source(source_id, urlsplit(url).hostname or url, "adhoc", url)
        targets.append(FeedTarget(source_id, url, "adhoc", None))
    return read_feeds(targets, store, config.collect, force=force, progress=progress)


def _fulltext_jobs(config: Config, store: Store, sources: list[Source], outcomes: list[FetchOutcome]) -> list[CrawlJob]:
    """`fulltext: true` feeds: a crawl of the pages of the entries this reading added or changed."""
    fulltext = {s.id: s for s in sources if s.fulltext}
    jobs = []
    for outcome in outcomes:
        source = fulltext.get(outcome.source_id)
        if source is not None and outcome.outcome == "ok" and (outcome.new or outcome.updated):
            pages = [{"item_id": row["id"], "url": row["url"]}
                     for row in store.items_needing_text(source.id, outcome.started_at)]
            if pages:
                jobs.append(job_for_source(config, source, store.path, pages=pages, origin="feed", spider="fulltext"))
    return jobs


def _merge_fulltext(feeds: list[FetchOutcome], jobs: list[CrawlJob], crawled: list[FetchOutcome]) -> None:
    """What a full-text pass did is told on its feed's line."""
    for job, outcome in zip(jobs, crawled):
        feed = next(o for o in feeds if o.source_id == job.source_id)
        note = tx("full text: {updated}/{n_pages} page(s)", updated=outcome.updated, n_pages=len(job.pages))
        feed.warning = "; ".join(filter(None, [feed.warning, note, outcome.error, outcome.warning]))
        feed.pages = outcome.pages


def _collect_pages(config: Config, store: Store, sources: list[Source], force: bool,
                   progress: Callable[[FetchOutcome], None] | None) -> list[FetchOutcome]:
    """Watched pages: fetched like feeds, compared with their last snapshot (watch.pages)."""
    from watch.pages import watch_pages  # parsel and lxml load only when a page is watched

    return watch_pages(sources, store, config.collect, force=force, progress=progress)


def _note_offline(config: Config, store: Store, sources: list[Source],
                  progress: Callable[[FetchOutcome], None] | None) -> list[FetchOutcome]:
    """Field notes are entered by people, not fetched: say so, and apply their retention period."""
    from watch.offline import expire

    outcomes = []
    for source in sources:
        erased = len(expire(config, store, [source.id]))
        outcome = FetchOutcome(source.id, "", utcnow(), outcome="skipped", error=tx("field notes: entered with "
                                                                                   "veille add / veille import"))
        if erased:
            outcome.error += tx("; {erased} note(s) deleted at the end of their retention period", erased=erased)
        outcomes.append(outcome)
        if progress:
            progress(outcome)
    return outcomes


def _spider_jobs(config: Config, store: Store, sources: list[Source], force: bool, report: CollectReport,
                 progress: Callable[[FetchOutcome], None] | None) -> list[CrawlJob]:
    """One crawl per spider source; a source backing off after failures waits (unless named), a gone one too."""
    jobs = []
    states = store.source_states()
    for source in sources:
        reason = skip_reason(source.id, states.get(source.id) or {}, utcnow(), force)
        if reason:
            skipped = FetchOutcome(source.id, source.url or "", utcnow(), outcome="skipped", error=reason)
            report.outcomes.append(skipped)
            if progress:
                progress(skipped)
            continue
        jobs.append(job_for_source(config, source, store.path))
    return jobs


def _adhoc_job(config: Config, store: Store, url: str, follow: str) -> CrawlJob:
    """`veille collect --url URL --follow SELECTOR`: a listing not in the configuration, origin adhoc."""
    source_id = adhoc_source_id(url)
    host = urlsplit(url).hostname or url
    store.ensure_source(source_id, host, "adhoc", url)
    source = Source(id=source_id, name=host, kind="spider", url=url, follow=follow, language="fr")
    return CrawlJob(source=source.model_dump(mode="json"), spider="listing", db=str(store.path), origin="adhoc",
                    collect=config.collect.model_dump(mode="json"), budget=config.collect.crawl_budget)


class Crawls:
    """Crawls in child processes, a few at once (`collect.crawl_processes`), started early and recorded at the end.

    Each outcome is recorded in `fetches` from the caller's thread: the store's connection is not shared across
    threads, and the child processes write their items through connections of their own.
    """

    def __init__(self, config: Config, store: Store, stop: threading.Event | None):
        self.store = store
        self.stop = _Either(stop, threading.Event())
        self.pool = ThreadPoolExecutor(config.collect.crawl_processes, thread_name_prefix="veille-crawl")
        self.running: dict[int, tuple[Future[FetchOutcome], bool]] = {}  # id(job): its crawl, whether it tells health
        self.recorded: set[int] = set()

    def __enter__(self) -> Crawls:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None:  # Ctrl-C or an error here: the children (in sessions of their own) stop too
            self.stop.own.set()
        self.pool.shutdown(wait=True)
        if exc_type is not None:  # interrupted before finish(): the stopped crawls are recorded all the same
            for key, (future, _) in self.running.items():
                if key not in self.recorded and future.exception() is None:
                    self._record(key)

    def start(self, jobs: list[CrawlJob], *, health: bool = True) -> None:
        """Queue these crawls; `health=False`: their outcome leaves the sources' state alone."""
        for job in jobs:
            self.running[id(job)] = (self.pool.submit(self._run, job), health)

    def _run(self, job: CrawlJob) -> FetchOutcome:
        if self.stop.is_set():
            return FetchOutcome(job.source_id, job.source.get("url") or "", utcnow(), outcome="stopped",
                                error=tx("not started: stop requested"))
        return run_crawl(job, stop=self.stop)

    def finish(self, jobs: list[CrawlJob], progress: Callable[[FetchOutcome], None] | None) -> list[FetchOutcome]:
        """Wait for these crawls; record each as it ends."""
        futures = {self.running[id(job)][0]: (index, id(job)) for index, job in enumerate(jobs)}
        results: dict[int, FetchOutcome] = {}
        for future in as_completed(futures):
            index, key = futures[future]
            outcome = results[index] = self._record(key)
            if progress:
                progress(outcome)
        return [results[index] for index in range(len(jobs))]

    def _record(self, key: int) -> FetchOutcome:
        future, health = self.running[key]
        outcome = future.result()
        self.store.record_fetch(outcome, backoff_seconds, update_source=health)
        self.recorded.add(key)
        return outcome


class _Either:
    """Set when the caller's event is set, or our own (the caller's event is never set by us)."""

    def __init__(self, caller: threading.Event | None, own: threading.Event):
        self.caller, self.own = caller, own

    def is_set(self) -> bool:
        return self.own.is_set() or (self.caller is not None and self.caller.is_set())
