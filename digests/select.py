"""What goes into an audience's digest: the period's items that interest it, ranked, capped, sorted into sections.

Reads the store, writes nothing: building the same selection twice gives the same digest, and a preview is a
selection that is rendered but never stored.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from digests.indicators import indicator_of
from digests.picks import Pick
from digests.sections import section_title, sections_for
from digests.stories import show_stories
from nlp.text import fold
from nlp.themes import matched_themes, theme_patterns
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
# One definition of "average" for every figure of a digest: the chart's bars and the rising terms both compare the
# 7 complete days before the cut-off with the weekly average of the BASELINE_WEEKS weeks before them.
BASELINE_WEEKS = 4
CHART_WEEKS = TREND_WEEKS = BASELINE_WEEKS
CHART_BARS = 8
TREND_ROWS = 5
TREND_MIN_COUNT = 3
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
    health: dict[str, Any] = field(default_factory=dict)      # {"total": n, "failed": [store.failed_in rows]}
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


def recency_penalty(age_days: float) -> int:
    return max(0, math.ceil(age_days - RECENT_DAYS)) * PENALTY_PER_DAY


def _competitor_sources(config: Config) -> dict[str, str | None]:
    """Sources that are competitor intelligence by nature (a competitor's newsroom, site or price page): id ->
    the competitor they speak for, None when the configuration does not say which."""
    return {s.id: s.competitor for s in config.sources if s.type == "competitor" or s.competitor}


def named_competitors(audience: Audience) -> set[str]:
    """The competitors an audience's configuration names, in its interests or in one of its sections."""
    return set(audience.interests.competitors).union(*(s.competitors for s in sections_for(audience)))


def competitor_intelligence(pick: Pick, newsrooms: dict[str, str | None]) -> set[str | None]:
    """The competitors an item informs on: those it names or whose move it reports, and the one whose own
    source told it (None: a competitor's source the configuration does not tie to a competitor)."""
    told = {newsrooms[s] for s in {pick.row["source"], *pick.row["sources"]} if s in newsrooms}
    return pick.companies | told


def wants(pick: Pick, audience: Audience, section: Section | None = None) -> bool:
    """Whether `pick` is for `audience` (in `section`, when given): the README's "Audience matching".

    In scope: one of its themes, or one of its named competitors (no theme and no competitor: everything). Of a
    kind it wants: one of its labels (none: any kind). A section's own `themes`, `competitors` or `labels`
    replace the audience's for that section; its other filters (competitor moves, source types) must hold too.
    """
    wanted = audience.interests
    themes = set(section.themes if section and section.themes else wanted.themes)
    competitors = set(section.competitors if section and section.competitors else wanted.competitors)
    labels = set(section.labels if section and section.labels else wanted.labels)
    in_scope = (not themes and not competitors) or bool(pick.themes & themes or pick.companies & competitors)
    if not in_scope or (labels and not pick.labels & labels):
        return False
    if section is not None:
        if section.competitor_moves and not pick.is_competitor_move:
            return False
        if section.source_types and pick.source_type not in section.source_types:
            return False
    return True


def candidates(config: Config, store: Any, audience: Audience, since: datetime, until: datetime, min_score: int,
               *, recency: bool = True, enough: Callable[[list[Pick], int], bool] | None = None,
               accept: Callable[[Pick], bool] | None = None, only_sources: set[str] | None = None) -> list[Pick]:
    """Items first seen in [since, until) that may reach `audience`, best first, one per story.

    Left out: items or stories it already received; for an external audience, items told by an internal source
    and competitor intelligence on a competitor its configuration does not name; items `accept` refuses (default:
    those the audience does not want, see `wants`) and, after the recency penalty when `recency`, those under
    `min_score`. `only_sources` reads the items of those sources only. Rows are read best score first, a chunk at
    a time: `enough(picks so far, next row's score)` stops the reading once the digest is full and no later row
    can rank higher (a period can hold tens of thousands of items).
    """
    blocked = internal_sources(config) if audience.external else set()
    newsrooms = _competitor_sources(config)
    named = named_competitors(audience)
    sources = {source.id: source for source in config.sources}
    patterns = theme_patterns(config.themes)
    accept = accept or (lambda pick: wants(pick, audience))
    delivered_stories = store.delivered_stories(audience.id)
    chunks = store.digest_candidates(audience.id, since, until, min_score,
                                     published_after=until - timedelta(days=MAX_AGE_DAYS), chunk=CHUNK)
    picks: list[Pick] = []
    for chunk in chunks:
        if enough and picks and enough(_one_per_story(picks), chunk[0]["score"]):
            chunks.close()
            break
        if only_sources is not None:
            chunk = [row for row in chunk if row["source"] in only_sources]
        store.add_item_details(chunk)
        for row in chunk:
            if blocked and (row["source"] in blocked or blocked & set(row["sources"])):
                continue  # told by an internal source: never to an audience outside the company
            if row["story"] is not None and row["story"] in delivered_stories:
                continue  # the same event already reached this audience through another item
            age = max(0.0, (until - datetime.fromisoformat(row["published_at"])).total_seconds() / 86400)
            source = sources.get(row["source"])
            pick = Pick(row, row["score"] - (recency_penalty(age) if recency else 0), age,
                        lambda row=row: item_themes(row, patterns), source.type if source else "")
            if audience.external and not competitor_intelligence(pick, newsrooms) <= named:
                continue  # what a competitor does stays in the company unless the partners are told of it by name
            if pick.rank_score >= min_score and accept(pick):
                picks.append(pick)
    kept = _one_per_story(picks)
    show_stories(config, store, audience, kept, blocked)
    return kept


def item_themes(row: dict[str, Any], patterns: list[tuple[str, Any]]) -> set[str]:
    """The themes the score found for the item (its reasons keep them all), else found again the same way on its
    title and summary (an item scored before the reasons kept them)."""
    for reason in json.loads(row["reasons"]) if row.get("reasons") else []:
        if reason.get("kind") == "theme" and "themes" in reason:
            return set(reason["themes"])
    return set(matched_themes(patterns, row["title"], row["summary"]))


def current_selection(config: Config, store: Any, audience: Audience, period: str, now: datetime) -> Selection:
    """The digest `audience` would receive now: items first seen since its previous cut-off (less the overlap),
    or over its first FIRST_PERIOD_DAYS days. `veille digest send`, the preview and the watch plan all use it."""
    last = store.last_digest(audience.id)
    since = datetime.fromisoformat(last["cutoff"]) - OVERLAP if last else now - timedelta(days=FIRST_PERIOD_DAYS)
    return select(config, store, audience, period, min(since, now), now)


def select(config: Config, store: Any, audience: Audience, period: str, since: datetime, cutoff: datetime) -> Selection:
    """The digest of `audience` for items first seen in [since, cutoff)."""
    specs = [spec for spec in sections_for(audience) if spec.kind == "items"]
    news = [spec for spec in specs if not spec.indicators]

    def full(picks: list[Pick], next_score: int) -> bool:
        placed = [pick for section in _fill_sections(audience, picks, []) for pick in section.items]
        return len(placed) >= audience.max_items and next_score < min(pick.rank_score for pick in placed)

    picks = candidates(config, store, audience, since, cutoff, audience.min_score, enough=full,
                       accept=lambda pick: any(wants(pick, audience, spec) for spec in news))
    figures: list[Pick] = []
    if any(spec.indicators for spec in specs):
        # Statistics are few and score low (no competitor in them): read apart, without the audience's floor.
        institutional = {source.id for source in config.sources if source.type == "institutional"}
        figures = candidates(config, store, audience, since, cutoff, 0, only_sources=institutional,
                             accept=lambda pick: indicator_of(pick, config, audience) is not None)
        for pick in figures:
            pick.indicator = indicator_of(pick, config, audience)
    sections = _fill_sections(audience, picks, figures)
    selection = Selection(audience, period, since, cutoff, sections)
    kinds = {section.kind for section in sections}
    if "trends" in kinds:
        selection.trends = rising_for(store, cutoff)
    if "health" in kinds:
        selection.health = {"total": store.source_count(), "failed": store.failed_in(since, cutoff)}
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


def _fill_sections(audience: Audience, picks: list[Pick], figures: list[Pick]) -> list[SectionContent]:
    """Indicator sections first (a declared need, few items), then best first, each item into the first section
    that takes it (see `wants`), until the audience's maximum is reached. An item is placed once."""
    sections = [SectionContent(spec, section_title(spec, audience.language)) for spec in sections_for(audience)]
    shelves = [s for s in sections if s.kind == "items"]
    placed: set[int] = set()
    for shelf in (s for s in shelves if s.spec.indicators):
        for pick in figures:
            if len(placed) >= audience.max_items or (shelf.spec.max_items and len(shelf.items) >= shelf.spec.max_items):
                break
            if pick.id not in placed and (not shelf.spec.source_types or pick.source_type in shelf.spec.source_types):
                shelf.items.append(pick)
                placed.add(pick.id)
    news = [shelf for shelf in shelves if not shelf.spec.indicators]

    def home(pick: Pick) -> SectionContent | None:
        open_shelves = [shelf for shelf in news if wants(pick, audience, shelf.spec)
                        and (shelf.spec.max_items is None or len(shelf.items) < shelf.spec.max_items)]
        return _shelf_for(pick, open_shelves) if open_shelves else None

    # Each section that names labels first gets its best item, so that a section the audience follows is not
    # left empty because other sections' items score higher (R&D's Regulation behind its Technology).
    for shelf in (s for s in news if s.spec.labels):
        seed = next((p for p in picks if p.id not in placed and home(p) is shelf), None)
        if seed is not None and len(placed) < audience.max_items:
            shelf.items.append(seed)
            placed.add(seed.id)
    for pick in picks:
        if len(placed) >= audience.max_items:
            break
        shelf = home(pick) if pick.id not in placed else None
        if shelf is not None:
            shelf.items.append(pick)
            placed.add(pick.id)
    rank = {pick.id: index for index, pick in enumerate(picks)}
    for shelf in news:
        shelf.items.sort(key=lambda p: rank[p.id])
    for shelf in shelves:
        if shelf.spec.group_by == "competitor":
            # Grouped by competitor, the groups in order of their best item, items by rank within each group.
            order: dict[str, int] = {}
            for index, pick in enumerate(shelf.items):
                order.setdefault(_competitor_of(pick), index)
            shelf.items.sort(key=lambda p: order[_competitor_of(p)])
    return sections


def _shelf_for(pick: Pick, shelves: list[SectionContent]) -> SectionContent:
    """The first section that wants the item; among label sections, the one of its strongest label, so that a
    regulation with a technical side goes to Regulation, not to whichever section is listed first. A move comes
    before a trend: it is the news, the trend its topic (a competitor's price cut goes to "Campaigns and prices",
    not to "What the market offers")."""
    if not shelves[0].spec.labels:
        return shelves[0]
    strength = [label["label"] for label in sorted(pick.row["labels"],
                                                   key=lambda l: (l.get("axis") != "moves", -l["score"]))]
    labelled = [shelf for shelf in shelves if shelf.spec.labels]
    return min(labelled, key=lambda shelf: min((strength.index(l) for l in shelf.spec.labels if l in strength),
                                               default=len(strength)))


def _competitor_of(pick: Pick) -> str:
    return pick.row["actor_competitor"] or min(pick.companies, default="")


def _days_before(cutoff: datetime, days: int) -> tuple[str, str]:
    """[first, last) UTC days: the `days` complete days before the cut-off's day."""
    last = cutoff.astimezone(timezone.utc).date()
    return (last - timedelta(days=days)).isoformat(), last.isoformat()


def rising_for(store: Any, cutoff: datetime) -> list[Any]:
    """Terms rising over the 7 complete days before the cut-off against the BASELINE_WEEKS weeks before them.

    Counts come from the store's items per day and term (`window_counts`), so windows are whole UTC days.
    """
    last = _days_before(cutoff, 0)[1]
    # Labels are counted by the chart of the same digest: one figure, shown once.
    kinds = ("phrase", "entity")
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
    """Items per label over the 7 complete days before the cut-off against their weekly average over the
    BASELINE_WEEKS weeks before."""
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
