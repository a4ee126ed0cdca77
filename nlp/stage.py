"""The NLP stage's entry function: classify what the store holds, then score items and group them into stories."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any

from nlp.classify import Classifier, TextInput
from nlp.score import credibility, score_item
from nlp.stories import StoryItem, extend_stories, independent_sources
from watch.models import PRICE_CHANGE

log = logging.getLogger(__name__)
STORY_HORIZON_DAYS = 30  # new items are grouped against the items first seen in this window
CHUNK = 500
# Below this many items, a second process (which builds its own pipelines, a few seconds) does not pay for itself.
PARALLEL_MIN_ITEMS = 1500


@dataclass
class ClassifyReport:
    classified: int = 0
    scored: int = 0
    stories: int = 0  # stories told by more than one source


def classify(config: Any, store: Any, *, since: datetime | None = None, everything: bool = False,
             progress: Callable[[int, int], None] | None = None) -> ClassifyReport:
    """Classify items not yet classified (or all, or those first seen since a date), then score and group them."""
    report = ClassifyReport()
    ids = store.ids_to_classify(since=since, everything=everything)
    if ids:
        classifier = Classifier(config, data_dir=config.database.parent if config else None)
        priced: set[int] = set()  # page changes whose prices moved (watch/pages.py)

        def inputs():
            for r in store.texts_to_classify(ids):
                if PRICE_CHANGE in json.loads(r.get("categories") or "[]"):
                    priced.add(r["id"])
                yield TextInput(r["id"], " ".join(filter(None, (r["summary"], r["text"]))), r["title"] or "", r["lang"])

        workers = config.nlp.workers if config and len(ids) >= PARALLEL_MIN_ITEMS else 1
        analyses = classifier.analyse(inputs(), workers=min(workers, os.cpu_count() or 1))
        while chunk := list(islice(analyses, CHUNK)):
            for analysis in chunk:
                if analysis.id in priced:
                    _observed_pricing(analysis)
            report.classified += store.save_classification(a.as_record() for a in chunk)
            if progress:
                progress(report.classified, len(ids))
    report.scored, report.stories = rescore(config, store, regroup=everything)
    return report


def _observed_pricing(analysis: Any) -> None:
    """A watched price page whose prices moved is a pricing move whatever its words say."""
    analysis.labels = [l for l in analysis.labels if l["label"] != "pricing"]
    analysis.labels.insert(0, {"axis": "moves", "label": "pricing", "score": 1.0, "by": "page:prices"})
    if ("pricing", "label") not in analysis.terms:
        analysis.terms = sorted([*analysis.terms, ("pricing", "label")])


def rescore(config: Any, store: Any, now: datetime | None = None, *, regroup: bool = False,
            also: Iterable[int] = ()) -> tuple[int, int]:
    """Group the new items into stories, derive credibility from corroboration, and score what changed.

    Incremental: items never grouped (story not set) join the stories of the recent window or start new ones; known
    items are not compared again, so a pass costs what its new items cost. Only the items of stories that grew or
    merged are scored again (their corroboration changed), or every recent item with `regroup` (`classify --all`),
    and the stories of the items `also` names (an analyst corrected their labels: their "why" follows at once).
    Returns (items scored, stories of the window told by more than one independent source).
    """
    now = now or datetime.now(timezone.utc)
    rows = store.classified_since(now - timedelta(days=STORY_HORIZON_DAYS))
    if not rows:
        return 0, 0
    items = [story_item(r, now, keep_story=not regroup) for r in rows]
    known = [it for it in items if it.story is not None]
    new = [it for it in items if it.story is None]
    changes = extend_stories(known, new)
    groups = {it.id: changes.get(it.id, it.story) for it in items}
    touched = set(changes.values()) | {it.story for it in known if it.id in changes} | {
        groups[i] for i in also if i in groups}
    own = frozenset(s.id for s in config.sources if s.type == "competitor") if config else frozenset()
    sources = independent_sources(items, groups, own=own)
    updates = []
    for row in rows:
        story = groups[row["id"]]
        if story not in touched:
            continue
        breadth = len(sources.get(story, ()))
        if row.get("credibility_by") == "analyst":
            cred, cred_by = row["credibility"], "analyst"
        else:
            cred, cred_by = credibility(breadth), "corroboration" if breadth > 1 else "default"
        row["credibility"] = cred
        score, reasons = score_item(row, config, breadth)
        updates.append((row["id"], score, json.dumps(reasons, ensure_ascii=False), story, cred, cred_by))
    store.save_scores(updates)
    return len(updates), sum(1 for s in sources.values() if len(s) > 1)


def story_item(row: dict[str, Any], now: datetime, *, keep_story: bool = True) -> StoryItem:
    """A stored item as story grouping sees it; a missing or future date counts as first seen, at the latest now."""
    published = parse_moment(row.get("published_at")) or parse_moment(row.get("first_seen")) or now
    return StoryItem(id=row["id"], source=row["source"], title=row.get("title") or "",
                     text=row.get("summary") or row.get("text") or "", lang=row.get("lang") or "",
                     published=min(published, now), companies=frozenset(row["companies"]),
                     labels=frozenset(l["label"] for l in row["labels"]), url=row.get("url") or "",
                     story=row.get("story") if keep_story else None)


def parse_moment(value: Any) -> datetime | None:
    """An ISO 8601 moment (UTC when no zone is given), or None when there is none or it cannot be read."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
