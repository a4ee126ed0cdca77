"""Story grouping time, a step of bench/nlp.py: the newest items of a classified database against the others.

A pass of the NLP stage groups the items collected since the last pass against the stories of the 30-day window
(`nlp.stories.extend_stories`); this times that call for the newest `new` items (by publication time) of a
database that bench/nlp.py classified, the others being the known window, then the whole incremental pass
(`nlp.stage.rescore`: store reads, grouping, scoring, store writes) after the stories of those newest items were
forgotten. The import of scikit-learn is done before the clock starts: a scheduler pays it once per process.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone


def child_grouping(config_path: str, new: int) -> dict:
    import sklearn.feature_extraction.text  # noqa: F401 (imported once per process, not per pass)

    from nlp.stage import STORY_HORIZON_DAYS, rescore, story_item
    from nlp.stories import extend_stories
    from watch.config import load_config
    from watch.store import Store

    config = load_config(config_path)
    now = datetime.now(timezone.utc)
    with Store.open(config.database) as store:
        begin = time.perf_counter()
        rows = store.classified_since(now - timedelta(days=STORY_HORIZON_DAYS))
        read = time.perf_counter() - begin
    rows.sort(key=lambda r: (r["published_at"] or "", r["id"]))
    window, fresh = rows[:-new], rows[-new:]
    known = [story_item(r, now) for r in window]
    newcomers = [story_item(r, now, keep_story=False) for r in fresh]
    begin = time.perf_counter()
    changes = extend_stories(known, newcomers)
    grouping = time.perf_counter() - begin
    joined = sum(1 for it in newcomers if changes[it.id] != it.id)
    with sqlite3.connect(config.database) as conn:  # this copy of the database only: forget the newest stories
        conn.executemany("update items set story = null where id = ?", [(r["id"],) for r in fresh])
    with Store.open(config.database) as store:
        begin = time.perf_counter()
        scored, stories = rescore(config, store, now)
        whole = time.perf_counter() - begin
    return {"window": len(known), "new": len(newcomers), "seconds": grouping, "joined": joined, "read": read,
            "pass_seconds": whole, "pass_scored": scored, "multi_source_stories": stories}
