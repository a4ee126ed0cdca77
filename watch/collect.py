"""Collection: choose the sources to read and hand each to the collector of its kind.

The one entry function is `collect`; the scheduler and the CLI call it. Feeds are read by `watch.feeds`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from watch.config import Config, Source
from watch.errors import UsageError
from watch.feeds import FeedTarget, read_feeds
from watch.i18n import tr
from watch.models import FetchOutcome, utcnow
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


def collect(config: Config, store: Store, source_ids: Sequence[str] = (), urls: Sequence[str] = (), *,
            progress: Callable[[FetchOutcome], None] | None = None) -> CollectReport:
    """Collect the named sources (all configured ones when none is named and no URL is given) and ad-hoc URLs.

    Named sources are fetched even while in backoff; a run over everything respects backoff.
    """
    known = [s.id for s in config.sources]
    for source_id in source_ids:
        if source_id not in known:
            close = difflib.get_close_matches(source_id, known, n=1)
            hint = tr(f" (vouliez-vous dire {close[0]!r} ?)", f" (did you mean {close[0]!r}?)") if close else ""
            raise UsageError(tr(f"source inconnue {source_id!r}{hint} ; `veille sources list` les montre",
                                f"unknown source {source_id!r}{hint}; `veille sources list` shows them"))
    for url in urls:
        if not re.match(r"^https?://[^\s/]+", url):
            raise UsageError(tr(f"URL invalide {url!r} : seules les adresses http(s) sont collectées",
                                f"invalid URL {url!r}: only http(s) addresses are collected"))
    store.sync_sources(config.sources)
    chosen = [s for s in config.sources if s.id in source_ids] if source_ids or urls else list(config.sources)

    report = CollectReport()
    targets = []
    for source in chosen:
        if source.kind == "feed":
            targets.append(FeedTarget(source.id, source.url or "", "feed", source.language))
        elif source.kind in ("page", "offline"):
            continue  # collected below, each kind by its own function
        else:
            skipped = FetchOutcome(source.id, source.url or "", utcnow(), outcome="skipped", error=tr(
                f"les sources de type {source.kind} ne sont pas encore collectées par cette version",
                f"{source.kind} sources are not collected by this version yet"))
            report.outcomes.append(skipped)
            if progress:
                progress(skipped)
    for url in urls:
        source_id = adhoc_source_id(url)
        store.ensure_source(source_id, urlsplit(url).hostname or url, "adhoc", url)
        targets.append(FeedTarget(source_id, url, "adhoc", None))
    report.outcomes.extend(read_feeds(targets, store, config.collect, force=bool(source_ids or urls), progress=progress))
    report.outcomes.extend(_collect_pages(config, store, [s for s in chosen if s.kind == "page"], bool(source_ids), progress))
    report.outcomes.extend(_note_offline(config, store, [s for s in chosen if s.kind == "offline"], progress))
    return report


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
        outcome = FetchOutcome(source.id, "", utcnow(), outcome="skipped", error=tr(
            "notes de terrain : saisies par veille add / veille import",
            "field notes: entered with veille add / veille import"))
        if erased:
            outcome.error += tr(f" ; {erased} note(s) supprimée(s) au terme de leur durée de conservation",
                                f"; {erased} note(s) deleted at the end of their retention period")
        outcomes.append(outcome)
        if progress:
            progress(outcome)
    return outcomes
