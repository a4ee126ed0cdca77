"""The NLP stage's entry function: classify what the store holds, then score items and group them into stories."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any

from nlp.classify import Classifier, TextInput
from nlp.score import credibility, score_item
from nlp.stories import StoryItem, group_stories, story_sources

log = logging.getLogger(__name__)
STORY_HORIZON_DAYS = 30  # stories and scores are recomputed over the items first seen in this window
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
        inputs = (TextInput(r["id"], " ".join(filter(None, (r["summary"], r["text"]))), r["title"] or "", r["lang"])
                  for r in store.texts_to_classify(ids))
        workers = config.nlp.workers if config and len(ids) >= PARALLEL_MIN_ITEMS else 1
        analyses = classifier.analyse(inputs, workers=min(workers, os.cpu_count() or 1))
        while chunk := list(islice(analyses, CHUNK)):
            report.classified += store.save_classification(a.as_record() for a in chunk)
            if progress:
                progress(report.classified, len(ids))
    report.scored, report.stories = rescore(config, store)
    return report


def rescore(config: Any, store: Any, now: datetime | None = None) -> tuple[int, int]:
    """Group the recent items into stories, derive credibility from corroboration, and score them."""
    now = now or datetime.now(timezone.utc)
    rows = store.classified_since(now - timedelta(days=STORY_HORIZON_DAYS))
    if not rows:
        return 0, 0
    items = [StoryItem(id=r["id"], source=r["source"], title=r["title"] or "", text=r["summary"] or r["text"] or "",
                       lang=r["lang"] or "", published=datetime.fromisoformat(r["published_at"]),
                       companies=frozenset(r["companies"]), labels=frozenset(l["label"] for l in r["labels"]),
                       url=r["url"] or "") for r in rows]
    groups = group_stories(items)
    sources = story_sources(items, groups)
    updates = []
    for row in rows:
        story = groups[row["id"]]
        breadth = len(sources.get(story, {row["source"]}))
        if row.get("credibility_by") == "analyst":
            cred, cred_by = row["credibility"], "analyst"
        else:
            cred, cred_by = credibility(breadth), "corroboration" if breadth > 1 else "default"
        row["credibility"] = cred
        score, reasons = score_item(row, config, breadth)
        updates.append((row["id"], score, json.dumps(reasons, ensure_ascii=False), story, cred, cred_by))
    store.save_scores(updates)
    return len(updates), sum(1 for s in sources.values() if len(s) > 1)
