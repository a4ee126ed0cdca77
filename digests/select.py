"""What goes into an audience's digest: the period's items that interest it, ranked, capped, sorted into sections.

Reads the store, writes nothing: building the same selection twice gives the same digest, and a preview is a
selection that is rendered but never stored.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from digests.periods import audience_zone
from digests.sections import section_title, sections_for
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
FAILING_FETCHES = 3      # a source failing this many times in a row appears in the source-health line


@dataclass
class Pick:
    """One item chosen for a digest, with what the selection learnt about it."""

    row: dict[str, Any]
    rank_score: int
    age_days: float
    themes: set[str]
    also: int = 0                                   # other sources that told the same story
    folded: list[int] = field(default_factory=list)  # items of the same story shown through this one

    @property
    def id(self) -> int:
        return self.row["id"]

    @property
    def labels(self) -> set[str]:
        return {label["label"] for label in self.row["labels"]}

    @property
    def companies(self) -> set[str]:
        return set(self.row["companies"]) | ({self.row["actor_competitor"]} if self.row["actor_competitor"] else set())

    @property
    def is_competitor_move(self) -> bool:
        return bool(self.row["actor_competitor"]) and any(l["axis"] == "moves" for l in self.row["labels"])


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


def theme_keywords(config: Config) -> list[tuple[str, tuple[str, ...]]]:
    """Each theme's keywords, folded once per digest rather than once per item."""
    return [(theme.id, tuple(fold(k) for words in theme.keywords.values() for k in words if len(k) > 2))
            for theme in config.themes]


def item_themes(row: dict[str, Any], keywords: list[tuple[str, tuple[str, ...]]],
                source_themes: dict[str, list[str]]) -> set[str]:
    """The themes of an item as the score sees them: its source's themes, plus those whose keywords it uses."""
    themes = set(source_themes.get(row["source"], ()))
    text = fold(f"{row['title'] or ''} {row['summary'] or ''}")
    for theme_id, words in keywords:
        if theme_id not in themes and any(word in text for word in words):
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
               *, recency: bool = True) -> list[Pick]:
    """Items first seen in [since, until) that may reach `audience`, best first, one per story.

    Left out: items or stories it already received, items told by an internal source when the audience is
    external, items outside its interests, and (after the recency penalty when `recency`) those under `min_score`.
    """
    blocked = internal_sources(config) if audience.external else set()
    source_themes = {source.id: source.themes for source in config.sources}
    keywords = theme_keywords(config)
    delivered_stories = store.delivered_stories(audience.id)
    rows = store.digest_candidates(audience.id, since, until, min_score,
                                   published_after=until - timedelta(days=MAX_AGE_DAYS))
    picks = []
    for row in rows:
        if blocked and (row["source"] in blocked or blocked & set(row["sources"])):
            continue  # told by an internal source: never to an audience outside the company
        if row["story"] is not None and row["story"] in delivered_stories:
            continue  # the same event already reached this audience through another item
        age = max(0.0, (until - datetime.fromisoformat(row["published_at"])).total_seconds() / 86400)
        pick = Pick(row, row["score"] - (recency_penalty(age) if recency else 0), age,
                    item_themes(row, keywords, source_themes))
        if pick.rank_score >= min_score and interested(pick, audience):
            picks.append(pick)
    picks = _one_per_story(picks)
    _count_other_sources(store, picks, blocked)
    return picks


def select(config: Config, store: Any, audience: Audience, period: str, since: datetime, cutoff: datetime) -> Selection:
    """The digest of `audience` for items first seen in [since, cutoff)."""
    picks = candidates(config, store, audience, since, cutoff, audience.min_score)
    source_types = {source.id: source.type for source in config.sources}
    sections = _fill_sections(audience, picks, source_types)
    selection = Selection(audience, period, since, cutoff, sections)
    kinds = {section.kind for section in sections}
    if "trends" in kinds:
        selection.trends = rising_for(store, cutoff, audience_zone(audience))
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
        story = pick.row["story"]
        if story is not None and story in best:
            best[story].folded.append(pick.id)
            continue
        if story is not None:
            best[story] = pick
        kept.append(pick)
    return kept


def _count_other_sources(store: Any, picks: list[Pick], blocked: set[str]) -> None:
    by_story = store.story_sources(pick.row["story"] for pick in picks)
    for pick in picks:
        told = set(pick.row["sources"]) | by_story.get(pick.row["story"], set())
        pick.also = len(told - blocked - {pick.row["source"]})


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


def rising_for(store: Any, cutoff: datetime, zone: str) -> list[Any]:
    """Rising terms of the cut-off's week in the audience's time zone, against the weeks before."""
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    weeks: dict[str, str] = {}
    for term, kind, day, number in store.term_counts(cutoff - timedelta(weeks=TREND_WEEKS + 1, days=1)):
        week = weeks.get(day) or weeks.setdefault(day, iso_week(datetime.fromisoformat(day).replace(
            hour=12, tzinfo=timezone.utc), zone))
        counts[(term, kind)][week] = counts[(term, kind)].get(week, 0) + number
    rising, seen = [], set()
    for term in rising_terms(counts, iso_week(cutoff, zone), baseline_weeks=TREND_WEEKS):
        if fold(term.term) not in seen:  # the same word as a phrase, an entity and a label: shown once
            seen.add(fold(term.term))
            rising.append(term)
    return rising[:TREND_ROWS]


def chart_counts(store: Any, audience: Audience, cutoff: datetime, blocked: set[str]) -> list[tuple[str, int, float]]:
    """Items per label over the last 7 days against their weekly average over the 4 weeks before."""
    labels = audience.interests.labels or None
    week_ago = cutoff - timedelta(weeks=1)
    recent = dict(store.label_counts(week_ago, cutoff, labels, exclude_sources=blocked))
    before = dict(store.label_counts(week_ago - timedelta(weeks=CHART_WEEKS), week_ago, labels, exclude_sources=blocked))
    rows = [(label, recent.get(label, 0), round(before.get(label, 0) / CHART_WEEKS, 1))
            for label in set(recent) | set(before)]
    rows.sort(key=lambda r: (-r[1], -r[2], r[0]))
    return rows[:CHART_BARS]


def reasons_of(pick: Pick) -> list[dict]:
    return json.loads(pick.row["reasons"]) if pick.row.get("reasons") else []
