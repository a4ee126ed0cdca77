"""What goes into an audience's digest: the period's items that interest it, ranked, capped, sorted into sections.

Reads the store, writes nothing: building the same selection twice gives the same digest, and a preview is a
selection that is rendered but never stored.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from digests.periods import audience_zone
from digests.picks import Pick
from digests.sections import section_title, sections_for
from digests.stories import show_stories
from nlp.text import fold
from nlp.trends import iso_week, rising_terms
from watch.config import Audience, Config, Section

RECENT_DAYS = 7          # published within a week of the cut-off: no recency penalty
PENALTY_PER_DAY = 2      # then this many points off per day older (recency is applied here, not in the score)
MAX_AGE_DAYS = 28        # older than this at the cut-off: history, not news, whenever it was collected
FIRST_PERIOD_DAYS = 7    # an audience's first digest looks back this far
# A digest starts this long before the previous cut-off: an item is stamped with the time its fetch started, so a
# collection still running at the cut-off commits items "seen" before it, after that digest was built. Items the
# audience already received are excluded anyway, so the overlap never repeats one.
OVERLAP = timedelta(hours=6)
CHART_WEEKS = 4          # the chart compares the last 7 days with the average of the 4 weeks before
CHART_BARS = 8
TREND_WEEKS = 8
TREND_ROWS = 5
TREND_MIN_COUNT = 3
FAILING_FETCHES = 3      # a source failing this many times in a row appears in the source-health line
CHUNK = 100              # candidate rows read at a time, best score first


@dataclass
class SectionContent:
    spec: Section
    title: str
    items: list[Pick] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.spec.kind


@dataclass
class Selection:
    """An audience's digest before rendering."""

    audience: Audience
    period: str
    since: datetime
    cutoff: datetime
    sections: list[SectionContent]
    trends: list[Any] = field(default_factory=list)           # nlp.trends.RisingTerm
    health: dict[str, Any] = field(default_factory=dict)      # {"total": n, "failing": [source rows]}
    chart: list[tuple[str, int, float]] = field(default_factory=list)  # (label, last 7 days, weekly average)

    @property
    def picks(self) -> list[Pick]:
        return [pick for section in self.sections for pick in section.items]

    @property
    def count(self) -> int:
        return len(self.picks)

    def item_rows(self) -> list[tuple[int, str, int, int]]:
        """(item id, section, rank, shown) for the store: folded story items are recorded as delivered too."""
        rows, rank = [], 0
        for section in self.sections:
            for pick in section.items:
                rank += 1
                rows.append((pick.id, section.spec.id, rank, 1))
                rows.extend((folded, section.spec.id, rank, 0) for folded in pick.folded)
        return rows


def internal_sources(config: Config) -> set[str]:
    return {source.id for source in config.sources if source.internal}


# Lower case without accents for the Latin letters of French and English, at C speed (str.translate): the
# matching of theme keywords runs on every candidate item. nlp.text.fold does the same one character at a time.
_FOLD = {code: unicodedata.normalize("NFD", chr(code))[0] for code in range(0xC0, 0x250)
         if unicodedata.normalize("NFD", chr(code))[0].isascii()}


def quick_fold(text: str) -> str:
    return text.lower().translate(_FOLD)


def theme_keywords(config: Config) -> list[tuple[str, re.Pattern]]:
    """Each theme's keywords folded into one pattern, built once per digest rather than once per item."""
    patterns = []
    for theme in config.themes:
        words = sorted({quick_fold(k) for ws in theme.keywords.values() for k in ws if len(k) > 2}, key=len, reverse=True)
        if words:
            patterns.append((theme.id, re.compile("|".join(map(re.escape, words)))))
    return patterns


def item_themes(row: dict[str, Any], keywords: list[tuple[str, re.Pattern]],
                source_themes: dict[str, list[str]]) -> set[str]:
    """The themes of an item as the score sees them: its source's themes, plus those whose keywords it uses
    (as nlp.score does: a keyword anywhere in the folded title and summary)."""
    themes = set(source_themes.get(row["source"], ()))
    text = quick_fold(f"{row['title'] or ''} {row['summary'] or ''}")
    for theme_id, pattern in keywords:
        if theme_id not in themes and pattern.search(text):
            themes.add(theme_id)
    return themes


def recency_penalty(age_days: float) -> int:
    return max(0, math.ceil(age_days - RECENT_DAYS)) * PENALTY_PER_DAY


def interested(pick: Pick, audience: Audience) -> bool:
    wanted = audience.interests
    if not (wanted.themes or wanted.labels or wanted.competitors):
        return True
    return bool(pick.themes & set(wanted.themes) or pick.labels & set(wanted.labels)
                or pick.companies & set(wanted.competitors))


def fits(section: Section, pick: Pick, source_types: dict[str, str]) -> bool:
    """Every filter the section gives must hold; a section without filters takes anything."""
    return ((not section.labels or bool(pick.labels & set(section.labels)))
            and (not section.themes or bool(pick.themes & set(section.themes)))
            and (not section.competitors or bool(pick.companies & set(section.competitors)))
            and (not section.competitor_moves or pick.is_competitor_move)
            and (not section.source_types or source_types.get(pick.row["source"]) in section.source_types))


def candidates(config: Config, store: Any, audience: Audience, since: datetime, until: datetime, min_score: int,
               *, recency: bool = True, enough: Callable[[list[Pick], int], bool] | None = None) -> list[Pick]:
    """Items first seen in [since, until) that may reach `audience`, best first, one per story.

    Left out: items or stories it already received, items told by an internal source when the audience is
    external, items outside its interests, and (after the recency penalty when `recency`) those under `min_score`.
    Rows are read best score first, a chunk at a time: `enough(picks so far, next row's score)` stops the reading
    once the digest is full and no later row can rank higher (a period can hold tens of thousands of items).
    """
    blocked = internal_sources(config) if audience.external else set()
    source_themes = {source.id: source.themes for source in config.sources}
    keywords = theme_keywords(config)
    delivered_stories = store.delivered_stories(audience.id)
    chunks = store.digest_candidates(audience.id, since, until, min_score,
                                     published_after=until - timedelta(days=MAX_AGE_DAYS), chunk=CHUNK)
    picks: list[Pick] = []
    for chunk in chunks:
        if enough and picks and enough(_one_per_story(picks), chunk[0]["score"]):
            chunks.close()
            break
        store.add_item_details(chunk)
        for row in chunk:
            if blocked and (row["source"] in blocked or blocked & set(row["sources"])):
                continue  # told by an internal source: never to an audience outside the company
            if row["story"] is not None and row["story"] in delivered_stories:
                continue  # the same event already reached this audience through another item
            age = max(0.0, (until - datetime.fromisoformat(row["published_at"])).total_seconds() / 86400)
            pick = Pick(row, row["score"] - (recency_penalty(age) if recency else 0), age,
                        lambda row=row: item_themes(row, keywords, source_themes))
            if pick.rank_score >= min_score and interested(pick, audience):
                picks.append(pick)
    kept = _one_per_story(picks)
    show_stories(config, store, audience, kept, blocked)
    return kept


def select(config: Config, store: Any, audience: Audience, period: str, since: datetime, cutoff: datetime) -> Selection:
    """The digest of `audience` for items first seen in [since, cutoff)."""
    source_types = {source.id: source.type for source in config.sources}

    def full(picks: list[Pick], next_score: int) -> bool:
        placed = [pick for section in _fill_sections(audience, picks, source_types) for pick in section.items]
        return len(placed) >= audience.max_items and next_score < min(pick.rank_score for pick in placed)

    picks = candidates(config, store, audience, since, cutoff, audience.min_score, enough=full)
    sections = _fill_sections(audience, picks, source_types)
    selection = Selection(audience, period, since, cutoff, sections)
    kinds = {section.kind for section in sections}
    if "trends" in kinds:
        selection.trends = rising_for(store, cutoff)
    if "health" in kinds:
        selection.health = {"total": store.source_count(), "failing": store.failing_sources(FAILING_FETCHES)}
    blocked = internal_sources(config) if audience.external else set()
    selection.chart = chart_counts(store, audience, cutoff, blocked)
    return selection


def _one_per_story(picks: list[Pick]) -> list[Pick]:
    """Keep the best item of each story; the others are shown through it ("also reported by")."""
    picks.sort(key=lambda p: (-p.rank_score, p.age_days, p.id))
    best: dict[int, Pick] = {}
    kept = []
    for pick in picks:
        pick.folded = []
    for pick in picks:
        story = pick.row["story"]
        if story is not None and story in best:
            best[story].folded.append(pick.id)
            continue
        if story is not None:
            best[story] = pick
        kept.append(pick)
    return kept


def _fill_sections(audience: Audience, picks: list[Pick], source_types: dict[str, str]) -> list[SectionContent]:
    """Best first, each item into the first section that takes it, until the audience's maximum is reached."""
    sections = [SectionContent(spec, section_title(spec, audience.language)) for spec in sections_for(audience)]
    shelves = [s for s in sections if s.kind == "items"]
    placed = 0
    for pick in picks:
        if placed >= audience.max_items:
            break
        for shelf in shelves:
            if (shelf.spec.max_items is None or len(shelf.items) < shelf.spec.max_items) and fits(shelf.spec, pick, source_types):
                shelf.items.append(pick)
                placed += 1
                break
    for shelf in shelves:
        if shelf.spec.group_by == "competitor":
            # Grouped by competitor, the groups in order of their best item, items by rank within each group.
            order: dict[str, int] = {}
            for index, pick in enumerate(shelf.items):
                order.setdefault(_competitor_of(pick), index)
            shelf.items.sort(key=lambda p: order[_competitor_of(p)])
    return sections


def _competitor_of(pick: Pick) -> str:
    return pick.row["actor_competitor"] or min(pick.companies, default="")


def _days_before(cutoff: datetime, days: int) -> tuple[str, str]:
    """[first, last) UTC days: the `days` complete days before the cut-off's day."""
    last = cutoff.astimezone(timezone.utc).date()
    return (last - timedelta(days=days)).isoformat(), last.isoformat()


def rising_for(store: Any, cutoff: datetime) -> list[Any]:
    """Terms rising over the 7 complete days before the cut-off against the 8 weeks before them.

    Counts come from the store's items per day and term (`window_counts`), so windows are whole UTC days.
    """
    last = _days_before(cutoff, 0)[1]
    kinds = ("phrase", "entity", "label")
    end = datetime.fromisoformat(last)
    # Each 7-day window is named by the ISO week of its last day, as nlp.trends.rising_terms expects.
    names = [iso_week(end - timedelta(days=7 * back + 1), "UTC") for back in range(TREND_WEEKS + 1)]
    window = lambda back: ((end - timedelta(days=7 * (back + 1))).date().isoformat(),  # noqa: E731
                           (end - timedelta(days=7 * back)).date().isoformat())
    current = store.window_counts(*window(0), kinds)
    wanted = {key for (kind, key), count in current.items() if count >= TREND_MIN_COUNT}
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for (kind, key), count in current.items():
        if key in wanted:
            counts[(key, kind)][names[0]] = count
    for back in range(1, TREND_WEEKS + 1):
        for (kind, key), count in store.window_counts(*window(back), kinds, keys=wanted).items():
            if (key, kind) in counts:
                counts[(key, kind)][names[back]] = count
    rising, seen = [], set()
    for term in rising_terms(counts, names[0], baseline_weeks=TREND_WEEKS, min_count=TREND_MIN_COUNT):
        if fold(term.term) not in seen:  # the same word as a phrase, an entity and a label: shown once
            seen.add(fold(term.term))
            rising.append(term)
    return rising[:TREND_ROWS]


def chart_counts(store: Any, audience: Audience, cutoff: datetime, blocked: set[str]) -> list[tuple[str, int, float]]:
    """Items per label over the 7 complete days before the cut-off against their weekly average over 4 weeks."""
    first, last = _days_before(cutoff, 7 * (CHART_WEEKS + 1))
    split = _days_before(cutoff, 7)[0]
    labels = audience.interests.labels or None
    recent = store.window_counts(split, last, ["item_label"], labels, exclude_sources=blocked)
    before = store.window_counts(first, split, ["item_label"], labels, exclude_sources=blocked)
    rows = [(label, recent.get(("item_label", label), 0), round(before.get(("item_label", label), 0) / CHART_WEEKS, 1))
            for label in {key for _, key in (*recent, *before)}]
    rows.sort(key=lambda r: (-r[1], -r[2], r[0]))
    return rows[:CHART_BARS]


def reasons_of(pick: Pick) -> list[dict]:
    return json.loads(pick.row["reasons"]) if pick.row.get("reasons") else []
