"""The watch plan: the nine points on which the French professional standard judges a watch process (RNCP
"Responsable du développement commercial", competency C1.1.1, criteria CR1.1.1), each shown from what the
configuration declares and from what the database measured, then a self-assessment of the gaps.

One entry function, `watch_plan`, returns a `Plan` (tables and findings, in the reader's language);
`watch.plan_render.render_plan` writes it as HTML or Markdown. The plan only reads: the store, the configuration,
and the NLP stage's taxonomy, scoring rule and rising terms.
"""

from __future__ import annotations

import json
import os
import re
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import yaml

from nlp import score as scoring
from nlp.themes import matched_themes, theme_patterns
from nlp.trends import iso_week, previous_weeks, rising_terms, sparkline, weekly_counts
from watch.audit import SILENT_DAYS, WINDOW_DAYS, Finding, SourcesAudit, audit_sources, schedule_text, sorted_findings
from watch.config import Audience, Config, cron_fields
from watch.display import value as word
from watch.i18n import N_, tx_in, tx_p_in
from watch.models import utcnow

WEEKS = 4                      # the trends table: the current ISO week and the three before
STANDARD_TRENDS = ("megatrend", "consumer", "communication", "technology", "demography", "economy")
ROLES = ("direction", "marketing", "commercial", "rd", "partners")
STALE_COLLECTION_DAYS = 2
STALE_ITEM_DAYS = 7
# A figure with its unit: the quantitative data a theme's indicators ask for ("2 790 €", "12 %", "630 Wh").
FIGURE = re.compile(r"\d(?:[\d.,\u00a0\u202f ]*\d)?\s?(?:%|€|\$|£|(?:k?wh|km|kg|nm|m€|md€|millions?|milliards?|"
                    r"billions?|unités|units|exemplaires|points?|ventes|sales)(?!\w))", re.IGNORECASE)

CRITERIA = (  # (title, text) of each of the nine criteria, translated where shown
    (N_("Scope"),
     N_("The watch themes (scope of observation and collection) are delimited")),
    (N_("Purposes"),
     N_("The purposes of the watch are defined and ranked")),
    (N_("Data to collect"),
     N_("The data to collect are identified, qualitatively and quantitatively")),
    (N_("Sources"),
     N_("The sources are legitimate, diversified and complementary (online and offline)")),
    (N_("Relevance"),
     N_("The information is organised by relevance")),
    (N_("Reliability"),
     N_("The data are reliable: recent and traceable")),
    (N_("Trends"),
     N_("The sector's changes and trends are identified and categorised (megatrends, consumer needs and behaviour, "
        "communication, technology, demographic and economic change…)")),
    (N_("Recipients"),
     N_("The recipients are chosen with discernment (general management, marketing, sales, R&D, "
        "partners…)")),
    (N_("Diffusion"),
     N_("The diffusion tools are effective")),
)


@dataclass
class Table:
    """A captioned table; `facts` tables are label/value pairs without a header row. Cells are text, numbers,
    or links {"text", "url"}."""

    caption: str
    columns: list[str]
    rows: list[list[Any]]
    facts: bool = False
    note: str = ""


@dataclass
class Point:
    number: int
    title: str
    criterion: str
    declared: list[Table] = field(default_factory=list)
    evidence: list[Table] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)   # evidence that cannot be measured yet, and why
    findings: list[Finding] = field(default_factory=list)

    @property
    def status(self) -> str:
        """met / partial / unmet: a high-severity gap leaves the criterion unmet; a medium one, or evidence that
        cannot be measured yet, leaves it partly met (a criterion is not met on declarations alone)."""
        severities = {f.severity for f in self.findings}
        if "high" in severities:
            return "unmet"
        return "partial" if "medium" in severities or self.missing else "met"


@dataclass
class Plan:
    lang: str
    company: str
    sector: str
    generated_at: str
    window: str
    config_path: str
    database: str
    totals: dict[str, Any]
    points: list[Point]

    @property
    def findings(self) -> list[Finding]:
        return sorted_findings([f for p in self.points for f in p.findings])

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for point, source in zip(data["points"], self.points):
            point["status"] = source.status
        data["findings"] = [f.as_json() for f in self.findings]
        return data


def watch_plan(config: Config, store: Any, *, now: datetime | None = None, lang: str = "fr") -> Plan:
    """Build the watch plan of a configuration and its database (French by default, `lang="en"` for English)."""
    now = now or utcnow()
    evidence = _Evidence(config, store, now, lang)
    builders = (_scope, _purposes, _data, _sources, _relevance, _reliability, _trends, _recipients, _diffusion)
    points = []
    for number, (builder, (title, text)) in enumerate(zip(builders, CRITERIA), 1):
        point = Point(number, tx_in(lang, title), tx_in(lang, text))
        builder(point, evidence)
        point.findings = sorted_findings(point.findings)
        points.append(point)
    say = evidence.say
    return Plan(
        lang=lang, company=config.company.name, sector=config.company.sector, generated_at=_day_time(now),
        window=say("last {window_days} days ({day} – {day2})", window_days=WINDOW_DAYS, day=_day(now - timedelta(days=WINDOW_DAYS)), day2=_day(now)),
        config_path=str(config.path or ""), database=str(store.path),
        totals={"themes": len(config.themes), "competitors": len(config.competitors), "sources": len(config.sources),
                "audiences": len(config.audiences), "items": evidence.provenance["items"],
                "items_window": len(evidence.items)},
        points=points)


class _Evidence:
    """Everything read once from the store and derived once, shared by the nine points."""

    def __init__(self, config: Config, store: Any, now: datetime, lang: str):
        self.config, self.now, self.lang, self.store = config, now, lang, store
        self.items = store.published_since(now - timedelta(days=WINDOW_DAYS))
        self.provenance = store.provenance()
        self.audit: SourcesAudit = audit_sources(config, store, now=now, lang=lang, items=self.items)
        self.diffusion = store.diffusion()
        current = iso_week(now)
        self.term_weeks = weekly_counts(store, [*previous_weeks(current, 8), current])
        taxonomy = yaml.safe_load(scoring.TAXONOMY_FILE.read_text(encoding="utf-8"))
        self.axes = {axis: [label["id"] for label in taxonomy[axis]] for axis in ("trends", "moves")}
        # Names as written in tables ("RSE et environnement"); the reasons put them inside a sentence, lower-cased.
        # Theme, competitor and label ids are separate namespaces: one table of names each.
        self.label_names = {label["id"]: label.get(lang, label["id"]) for axis in self.axes for label in taxonomy[axis]}
        self.theme_names = {t.id: t.label for t in config.themes}
        self.competitor_names = {c.id: c.name for c in config.competitors}
        self.reason_names = {**scoring.taxonomy_names(lang), **self.theme_names, **self.competitor_names}
        # The score's rule for a theme (nlp.themes: a keyword in the title or lead, or two in the text).
        patterns = theme_patterns(config.themes)
        for item in self.items:
            raw = " ".join(filter(None, (item["title"], item["summary"], item["text"])))
            item["themes"] = set(matched_themes(patterns, item["title"], item["summary"], item["text"],
                                                item["declared_themes"]))
            item["figures"] = bool(FIGURE.search(raw))
            item["label_ids"] = {label["label"] for label in item["labels"]}
            item["score"] = item["score"] or 0
        self.selections = {a.id: [i for i in self.items if _selected(a, i)] for a in config.audiences}

    def say(self, message: str, /, **values) -> str:
        return tx_in(self.lang, message, **values)

    def link(self, item: dict[str, Any]) -> Any:
        title = (item["title"] or item["summary"] or "")[:110]
        return {"text": title, "url": item["url"]} if (item["url"] or "").startswith(("http://", "https://")) else title

    def no_items(self, point: Point) -> bool:
        """Say the evidence is missing when nothing was published in the window; True when that is the case."""
        if self.items:
            return False
        point.missing.append(self.say("no item published in the last {window_days} days in the database: run "
                                      "`veille collect`", window_days=WINDOW_DAYS))
        return True


def _selected(audience: Audience, item: dict[str, Any]) -> bool:
    """Whether an item would interest an audience: above its minimum score and touching one of its interests
    (an audience with no interests takes everything above its score). An estimate: the digest stage decides."""
    if item["score"] < audience.min_score:
        return False
    wanted = audience.interests
    if not (wanted.themes or wanted.labels or wanted.competitors):
        return True
    # As digests.select.wants: in scope (a theme or a named competitor) and of a kind it wants (a label).
    in_scope = (not (wanted.themes or wanted.competitors) or bool(item["themes"] & set(wanted.themes))
                or bool(item["competitors"] & set(wanted.competitors)))
    return in_scope and (not wanted.labels or bool(item["label_ids"] & set(wanted.labels)))


def _day(moment: datetime | str | None) -> str:
    if moment is None:
        return ""
    return (moment.isoformat() if isinstance(moment, datetime) else str(moment))[:10]


def _day_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _age_days(moment: str | None, now: datetime) -> float | None:
    if not moment:
        return None
    when = datetime.fromisoformat(moment)
    return (now - (when if when.tzinfo else when.replace(tzinfo=timezone.utc))).total_seconds() / 86400


def _age(days: float | None, say: Callable[[str, str], str]) -> str:
    if days is None:
        return say("never")
    if days < 1:
        return say("{max:.0f} h", max=max(days * 24, 0))
    return say("{days:.0f} d", days=days)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "–"


def _ids(values: Any) -> str:
    values = list(values)
    return ", ".join(values) if values else "–"


def _finding(point: Point, severity: str, code: str, message: str, hint: str, *subjects: str) -> None:
    point.findings.append(Finding(point.number, severity, code, message, hint, tuple(subjects)))


def _categories(ev: _Evidence, caption: str, note: str = "") -> Table:
    """The two axes of the taxonomy: what information is sorted into."""
    say = ev.say
    return Table(caption, [say("axis"), say("categories")],
                 [[say("market trends"), _ids(ev.label_names[x] for x in ev.axes["trends"])],
                  [say("competitor moves"), _ids(ev.label_names[x] for x in ev.axes["moves"])]],
                 note=note)


# -- 1. scope ---------------------------------------------------------------------------------------------------

def _scope(point: Point, ev: _Evidence) -> None:
    config, say = ev.config, ev.say
    company = config.company
    point.declared.append(Table(say("Company"), [], [
        [say("name"), company.name], [say("sector"), company.sector or "–"],
        *[[say("offer ({lang_})", lang_=lang), ", ".join(words)] for lang, words in company.offer.items()]],
        facts=True))
    point.declared.append(Table(say("Themes (scope of the watch)"),
                                [say("theme"), say("label"), say("priority"),
                                 say("keywords fr"), say("keywords en"),
                                 say("sources")],
                                [[t.id, t.label, t.priority, len(t.keywords.get("fr", [])), len(t.keywords.get("en", [])),
                                  len(ev.audit.diversity["themes"][t.id]["sources"])] for t in config.themes]))
    point.declared.append(Table(say("Competitors watched"),
                                [say("competitor"), tx_p_in(ev.lang, "competitor", "kind"), say("aliases"),
                                 say("domains")],
                                [[c.name, say("direct") if c.kind == "direct" else say("indirect"),
                                  _ids(c.aliases), _ids(c.domains)] for c in config.competitors]))
    if not config.themes:
        _finding(point, "high", "no-themes", say("no theme declared: the watch has no scope"),
                 say("declare themes (`themes:` in sources.yaml, see `veille init`)"))
    if not config.competitors:
        _finding(point, "medium", "no-competitors", say("no competitor declared"),
                 say("declare direct and indirect competitors (`competitors:`)"))
    if not company.offer:
        _finding(point, "low", "no-offer", say("the company's offer is not described"),
                 say("fill in `company.offer` (keywords per language)"))
    bare = [t.id for t in config.themes if not any(t.keywords.values())]
    if bare:
        _finding(point, "medium", "theme-no-keywords", say("theme(s) without keywords, recognised only through "
                                                           "their sources: {ids}", ids=_ids(bare)),
            say("give keywords in French and English"), *bare)
    languages = {s.language for s in config.sources}
    half = [t.id for t in config.themes if any(t.keywords.values()) and not languages <= set(t.keywords)]
    if half and len(languages) > 1:
        _finding(point, "low", "theme-keywords-one-language", say("theme(s) without keywords in every language "
                                                                  "of the sources ({sorted}): {ids}", sorted=', '.join(sorted(languages)), ids=_ids(half)),
            say("add the missing keywords"), *half)
    if ev.no_items(point):
        return
    items = ev.items
    in_scope = sum(bool(i["themes"]) for i in items)
    naming = sum(bool(i["competitors"]) for i in items)
    point.evidence.append(Table(say("What collection found"), [], [
        [say("items published ({window_days} d)", window_days=WINDOW_DAYS), len(items)],
        [say("within a declared theme"), f"{in_scope} ({_share(in_scope, len(items))})"],
        [say("naming a competitor"), f"{naming} ({_share(naming, len(items))})"]], facts=True))
    per_theme = {t.id: [i for i in items if t.id in i["themes"]] for t in config.themes}
    point.evidence.append(Table(
        say("Items per theme ({window_days} d, keywords found in the text)", window_days=WINDOW_DAYS),
        [say("theme"), say("items"), say("share"), say("languages")],
        [[t.label, len(per_theme[t.id]), _share(len(per_theme[t.id]), len(items)),
          _ids(f"{lang} {n}" for lang, n in sorted(Counter(i["lang"] or "?" for i in per_theme[t.id]).items()))]
         for t in config.themes]))
    point.evidence.append(Table(
        say("Competitors named ({window_days} d)", window_days=WINDOW_DAYS),
        [say("competitor"), say("items"), say("sources naming it")],
        [[c.name, ev.audit.diversity["competitors"][c.id]["items"],
          _ids(ev.audit.diversity["competitors"][c.id]["mentioned_by"])] for c in config.competitors]))
    silent = [t.id for t in config.themes if not per_theme[t.id]]
    if silent:
        _finding(point, "medium", "theme-silent", say("no item in {window_days} days on the theme(s): {ids}", window_days=WINDOW_DAYS, ids=_ids(silent)),
            say("review their keywords or their sources"), *silent)
    if config.themes and in_scope < len(items) / 2:
        _finding(point, "medium", "scope-leak", say("{share} of the items fall outside every theme: sources too "
                                                    "broad or keywords incomplete", share=_share(len(items) - in_scope, len(items))),
            say("complete the themes' keywords or narrow the sources"))


# -- 2. purposes ------------------------------------------------------------------------------------------------

def _purposes(point: Point, ev: _Evidence) -> None:
    config, say = ev.config, ev.say
    followers = {t.id: [a.id for a in config.audiences if t.id in a.interests.themes] for t in config.themes}
    point.declared.append(Table(
        say("Purposes per theme, by priority"),
        [say("priority"), say("theme"), say("purpose"),
         say("audiences following it")],
        [[t.priority, t.label, t.purpose.strip() or "–", _ids(followers[t.id])]
         for t in sorted(config.themes, key=lambda t: t.priority)]))
    vague = [t.id for t in config.themes if not t.purpose.strip()]
    if vague:
        _finding(point, "medium", "theme-no-purpose", say("theme(s) without a purpose: {ids}", ids=_ids(vague)),
            say("write in `purpose` the decision it informs"),
            *vague)
    priorities = {t.priority for t in config.themes}
    if len(config.themes) > 1 and len(priorities) == 1:
        only = next(iter(priorities))
        _finding(point, "medium", "priorities-flat", say("every theme has the same priority ({only}): the "
                                                         "purposes are not ranked", only=only),
            say("give priority 1 to the themes that inform an upcoming decision"))
    elif config.themes and 1 not in priorities:
        _finding(point, "low", "no-priority-1", say("no priority 1 theme"),
                 say("name the priority theme(s)"))
    takes_all = any(not (a.interests.themes or a.interests.labels or a.interests.competitors) for a in config.audiences)
    unfollowed = [t.id for t in config.themes if t.priority == 1 and not followers[t.id]]
    if unfollowed and not takes_all:
        _finding(point, "medium", "priority-theme-unfollowed", say("priority theme(s) followed by no audience: {ids}", ids=_ids(unfollowed)),
            say("add it to the deciding audience's `interests.themes`"),
            *unfollowed)
    if ev.no_items(point):
        return
    ranks = {t.id: t.priority for t in config.themes}
    rows = []
    for priority in sorted(priorities):
        ranked = [i for i in ev.items if i["themes"] and min(ranks[t] for t in i["themes"]) == priority]
        scores = [i["score"] for i in ranked]
        rows.append([priority, _ids(t.id for t in config.themes if t.priority == priority), len(ranked),
                     round(statistics.mean(scores)) if scores else "–",
                     sum(s >= 60 for s in scores)])
    point.evidence.append(Table(
        say("What the ranking produced ({window_days} d): an item counts for its highest-priority theme", window_days=WINDOW_DAYS),
        [say("priority"), say("themes"), say("items"), say("mean score"),
         say("items ≥ 60")], rows))


# -- 3. data to collect -----------------------------------------------------------------------------------------

def _data(point: Point, ev: _Evidence) -> None:
    config, say = ev.config, ev.say
    themes_cover = ev.audit.diversity["themes"]
    point.declared.append(Table(
        say("Quantitative data: each theme's indicators and the sources that feed it"),
        [say("theme"), say("indicator"), say("sources")],
        [[t.label, indicator, _ids(themes_cover[t.id]["sources"])] for t in config.themes for indicator in t.indicators]))
    point.declared.append(_categories(ev, say("Qualitative data: the categories of information")))
    without = [t.id for t in config.themes if not t.indicators]
    if without:
        _finding(point, "medium", "theme-no-indicators", say("theme(s) without a quantitative indicator to "
                                                             "collect: {ids}", ids=_ids(without)),
            say("add `indicators` (volumes, prices, market shares…)"),
            *without)
    if ev.no_items(point):
        return
    items = ev.items
    labelled = sum(bool(i["labels"]) for i in items)
    with_figures = sum(i["figures"] for i in items)
    point.evidence.append(Table(say("Data collected ({window_days} d)", window_days=WINDOW_DAYS), [], [
        [say("items"), len(items)],
        [say("sorted into at least one category (qualitative)"),
         f"{labelled} ({_share(labelled, len(items))})"],
        [say("carrying a figure with its unit (quantitative)"),
         f"{with_figures} ({_share(with_figures, len(items))})"],
        [say("origins"), _ids(f"{word('origin', o, ev.lang)} {n}" for o, n in Counter(i["origin"] for i in items).most_common())],
        [say("languages"), _ids(f"{lang} {n}" for lang, n in Counter(i["lang"] or "?" for i in items).most_common())],
    ], facts=True))
    rows, dry = [], []
    for theme in config.themes:
        figured = [i for i in items if theme.id in i["themes"] and i["figures"]]
        latest = max(figured, key=lambda i: i["published_at"]) if figured else None
        rows.append([theme.label, len(theme.indicators), len([i for i in items if theme.id in i["themes"]]), len(figured),
                     ev.link(latest) if latest else "–"])
        if theme.indicators and not figured:
            dry.append(theme.id)
    point.evidence.append(Table(
        say("Figures found per theme ({window_days} d)", window_days=WINDOW_DAYS),
        [say("theme"), say("indicators"), say("items"),
         say("with figures"), say("latest example")], rows))
    if dry:
        _finding(point, "low", "indicator-no-figures", say("no figure collected in {window_days} days for the "
                                                           "indicators of: {ids}", window_days=WINDOW_DAYS, ids=_ids(dry)),
            say("add a statistical source (institutional, market study)"), *dry)


# -- 4. sources -------------------------------------------------------------------------------------------------

def _sources(point: Point, ev: _Evidence) -> None:
    say, audit = ev.say, ev.audit
    online = {True: say("online"), False: say("offline")}
    point.declared.append(Table(
        say("Source matrix"),
        [say("source"), say("kind"), say("type"), say("language"),
         say("country"), say("access"), say("grade"), say("themes"),
         say("legitimacy")],
        [[r["name"], f"{word('kind', r['kind'], ev.lang)} ({online[r['online']]})", word("type", r["type"], ev.lang),
          r["language"], r["country"] or "–", word("access", r["access"], ev.lang),
          r["reliability"], _ids(r["themes"]), r["legitimacy"] or "–"] for r in audit.sources],
        note=say("Reliability grade: Admiralty code, A (reliable) to E (unreliable), F (cannot be judged).")))
    diversity = audit.diversity
    if audit.sources:
        point.evidence.append(Table(say("Diversity of the sources"),
                                    [say("dimension"), say("breakdown")], [
            [say(label), _ids(f"{word(key, k, ev.lang)} {v}" for k, v in diversity[key].items())]
            for key, label in (("type", N_("type")), ("language", N_("language")), ("country", N_("country")),
                               ("online", N_("online / offline")), ("reliability", N_("grade")),
                               ("access", N_("access")))]))
        point.evidence.append(Table(say("Complementarity per theme"),
                                    [say("theme"), say("sources"), say("types"),
                                     say("languages"), say("online / offline")],
                                    [[ev.theme_names[t], len(c["sources"]), _ids(word("type", k, ev.lang) for k in c["types"]),
                                      _ids(c["languages"]), _ids(word("online", k, ev.lang) for k in c["online"])]
                                     for t, c in diversity["themes"].items()]))
        point.evidence.append(Table(
            say("Legitimacy and productivity ({window_days} d)", window_days=WINDOW_DAYS),
            [say("source"), "robots.txt", say("items / week"),
             say("items stored"), say("share in a digest")],
            [[r["id"], r["robots"], r["items_per_week"], r["items"],
              "–" if r["digest_share"] is None else f"{r['digest_share']:.0%}"] for r in audit.sources]))
        if all(r["digest_share"] is None for r in audit.sources):
            point.evidence[-1].note = say("The share that reached a digest is measured once digests have been built.")
    point.findings.extend(f for f in audit.findings if f.point == 4)


# -- 5. relevance -----------------------------------------------------------------------------------------------

def _relevance(point: Point, ev: _Evidence) -> None:
    config, say = ev.config, ev.say
    point.declared.append(Table(say("Relevance rule (score 0-100, reasons kept with each item)"), [], [
        [say("theme of priority 1 / 2 / 3"), " / ".join(str(v) for v in scoring.THEME_POINTS.values())],
        [say("direct / indirect competitor"),
         " / ".join(str(v) for v in scoring.COMPETITOR_POINTS.values())],
        [say("move (by its confidence), + when a competitor acts"),
         f"≤ {scoring.MOVE_POINTS} + {scoring.ACTING_COMPETITOR}"],
        [say("source grade A … F"), " / ".join(str(v) for v in scoring.GRADE_POINTS.values())],
        [say("credibility 1 / 2 / 3 (corroboration)"),
         " / ".join(str(v) for v in scoring.CREDIBILITY_POINTS.values())],
        [say("other sources of the same story"),
         say("{points} each, ≤ {most}", points=scoring.STORY_POINTS_PER_SOURCE, most=scoring.STORY_POINTS_MAX)]],
        facts=True))
    point.declared.append(Table(say("Thresholds per audience"),
                                [say("audience"), say("minimum score"),
                                 say("items at most"), say("alert above")],
                                [[a.id, a.min_score, a.max_items, a.alerts.min_score if a.alerts else "–"]
                                 for a in config.audiences]))
    corrections = ev.provenance["corrections"]
    if ev.no_items(point):
        return
    items = ev.items
    classified = sum(bool(i["classified_at"]) for i in items)
    point.evidence.append(Table(say("Processing ({window_days} d)", window_days=WINDOW_DAYS), [], [
        [say("items"), len(items)],
        [say("classified (labels, score, reasons)"),
         f"{classified} ({_share(classified, len(items))})"],
        [say("label corrections by an analyst (total)"), corrections]],
        facts=True))
    buckets = Counter(min(i["score"] // 20, 4) for i in items)
    top = max(buckets.values())
    point.evidence.append(Table(say("Score distribution"),
                                [say("score"), say("items"), say("share"), ""],
                                [[f"{b * 20}–{b * 20 + 19 if b < 4 else 100}", buckets[b], _share(buckets[b], len(items)),
                                  "█" * round(12 * buckets[b] / top)] for b in range(5)]))
    best = sorted(items, key=lambda i: (-i["score"], i["published_at"]))[:5]
    point.evidence.append(Table(say("The five most relevant items"),
                                [say("score"), say("item"), say("source"),
                                 say("why")],
                                [[i["score"], ev.link(i), i["source"],
                                  scoring.render_reasons(json.loads(i["reasons"]) if i["reasons"] else [], ev.lang, ev.reason_names)]
                                 for i in best]))
    if classified < 0.9 * len(items):
        _finding(point, "medium", "unclassified-items", say("{n_items} recent item(s) are not classified", n_items=len(items) - classified),
            say("run `veille classify`"))
    if classified and len([b for b in buckets.values() if b]) == 1:
        _finding(point, "low", "scores-flat", say("every score falls in the same band: they rank nothing"),
                 say("sharpen themes, priorities and competitors"))
    if not corrections:
        _finding(point, "low", "no-analyst-corrections", say("no label corrected by an analyst: the automatic "
                                                             "sorting is never checked"),
            say("review the week's items and correct them with `veille label ID LABEL`"))


# -- 6. reliability ---------------------------------------------------------------------------------------------

def _reliability(point: Point, ev: _Evidence) -> None:
    say, now, audit = ev.say, ev.now, ev.audit
    point.declared.append(Table(say("Collection rhythm and grade of each source"),
                                [say("source"), say("schedule"), say("grade")],
                                [[r["id"], word("schedule", r["schedule"], ev.lang) or say("default"), r["reliability"]]
                                 for r in audit.sources],
                                note=say("Credibility of each item (1-6): 6 until corroborated, 3 with two "
                                         "independent sources, 2 with three; an analyst may set it.")))
    point.findings.extend(f for f in audit.findings if f.point == 6)
    if audit.sources and any(r["status"] != "never" for r in audit.sources):
        point.evidence.append(Table(
            say("Freshness per source"),
            [say("source"), say("status"), say("last success"),
             say("newest item"), say("success ({silent_days} d)", silent_days=SILENT_DAYS),
             say("last error")],
            [[r["id"], r["status"], _age(_age_days(r["last_success"], now), say), _age(_age_days(r["last_item"], now), say),
              "–" if r["success_rate"] is None else f"{r['success_rate']:.0%}", r["last_error"] or "–"]
             for r in audit.sources]))
    prov = ev.provenance
    if not prov["items"]:
        point.missing.append(say("the database holds no item: freshness and traceability cannot be measured"))
        return
    ages = sorted(_age_days(i["published_at"], now) for i in ev.items)
    newest = _age_days(prov["newest"], now)
    last_success = min((_age_days(r["last_success"], now) for r in audit.sources if r["last_success"]), default=None)
    total = prov["items"]
    point.evidence.append(Table(say("Recency and traceability"), [], [
        [say("median age of the last {window_days} days' items", window_days=WINDOW_DAYS),
         _age(statistics.median(ages), say) if ages else "–"],
        [tx_p_in(ev.lang, "age", "newest item"), _age(newest, say)],
        [say("last successful collection"), _age(last_success, say)],
        [say("items stored"), total],
        [say("with its address (URL, or author and file of a field note)"), _share(prov["with_url"], total)],
        [say("with the fetch time"), _share(prov["with_fetch_time"], total)],
        [say("with the content hash"), _share(prov["with_hash"], total)],
        [say("publication date estimated (missing from the feed)"),
         _share(prov["estimated_dates"], total)],
        [say("carried by several sources"), prov["multi_source"]],
        [say("corroborated (credibility 1-3)"), prov["corroborated"]],
        [say("origins"), _ids(f"{word('origin', o, ev.lang)} {n}" for o, n in prov["origins"].items())]], facts=True))
    if last_success is not None and last_success > STALE_COLLECTION_DAYS:
        _finding(point, "medium", "collection-stale", say("no successful collection for {age}", age=_age(last_success, say)),
            say("run `veille collect`, or keep `veille run` going"))
    if newest is not None and newest > STALE_ITEM_DAYS:
        _finding(point, "medium", "items-stale", say("the newest item is {age} old", age=_age(newest, say)),
            say("check the sources still publish"))
    untraceable = total - min(prov["with_url"], prov["with_fetch_time"], prov["with_hash"])
    if untraceable:
        _finding(point, "low", "untraceable-items", say("{untraceable} item(s) without an address, a fetch time "
                                                        "or a hash", untraceable=untraceable),
            say("for field notes, name the source in the text"))
    if prov["estimated_dates"] > total / 5:
        _finding(point, "low", "estimated-dates", say("{share} of the items have no reliable publication date", share=_share(prov['estimated_dates'], total)),
            say("prefer sources that date their items"))


# -- 7. trends --------------------------------------------------------------------------------------------------

def _trends(point: Point, ev: _Evidence) -> None:
    config, say = ev.config, ev.say
    point.declared.append(_categories(ev, say("Categories (nlp/taxonomy.yaml)"),
                                      say("Rising terms: this week's mentions against the 8 weeks before.")))
    if ev.no_items(point):
        return
    current = iso_week(ev.now)
    weeks = previous_weeks(current, WEEKS - 1) + [current]
    by_week = [(iso_week(datetime.fromisoformat(i["published_at"])), i) for i in ev.items]
    classified = [i for i in ev.items if i["classified_at"]]
    if not classified:
        _finding(point, "high", "nothing-categorised", say("no recent item is categorised"),
                 say("run `veille classify`"))
        return

    def counts(axis: str) -> list[list[Any]]:
        rows = []
        for label in ev.axes[axis]:
            series = [sum(1 for w, i in by_week if w == week and any(l["label"] == label and l["axis"] == axis
                                                                       for l in i["labels"])) for week in weeks]
            rows.append([ev.label_names[label], *series, sum(series), sparkline(series)])
        return rows

    header = [*weeks, say("total"), ""]
    trend_rows = counts("trends")
    point.evidence.append(Table(say("Market trends per week ({weeks} weeks)", weeks=WEEKS),
                                [say("category"), *header], trend_rows))
    point.evidence.append(Table(say("Moves per week ({weeks} weeks)", weeks=WEEKS),
                                [say("move"), *header], [r for r in counts("moves") if r[-2]]))
    moves_rows = []
    for competitor in config.competitors:
        theirs = [i for i in ev.items if i["actor_competitor"] == competitor.id
                  and any(l["axis"] == "moves" for l in i["labels"])]
        kinds = Counter(l["label"] for i in theirs for l in i["labels"] if l["axis"] == "moves")
        latest = max(theirs, key=lambda i: i["published_at"]) if theirs else None
        moves_rows.append([competitor.name, len(theirs), _ids(f"{ev.label_names[k]} {n}" for k, n in kinds.most_common()),
                           ev.link(latest) if latest else "–"])
    point.evidence.append(Table(say("Competitor moves ({window_days} d)", window_days=WINDOW_DAYS),
                                [say("competitor"), say("moves"), say("kinds"),
                                 say("latest")], moves_rows))
    rising = rising_terms(ev.term_weeks, current)[:10]
    point.evidence.append(Table(say("Rising terms, week {current}", current=current),
                                [say("term"), say("kind"), say("this week"),
                                 say("8-week mean"), ""],
                                [[ev.label_names.get(r.term, r.term) if r.kind == "label" else r.term, word("kind", r.kind, ev.lang), r.count,
                                  round(r.baseline, 1), sparkline(r.weeks)] for r in rising],
                                note="" if rising else say("no term is clearly rising this week")))
    quiet = [label for label, row in zip(ev.axes["trends"], trend_rows) if label in STANDARD_TRENDS and not row[-2]]
    if quiet:
        _finding(point, "low", "trend-category-empty", say("no item in {weeks} weeks in the category: {ids}", weeks=WEEKS, ids=_ids((ev.label_names[q] for q in quiet))),
            say("add a source that covers these changes (studies, public statistics)"), *quiet)
    still = [c.id for c, row in zip(config.competitors, moves_rows) if not row[1]]
    if still:
        _finding(point, "low", "competitor-no-move", say("no move spotted in {window_days} days for: {ids}", window_days=WINDOW_DAYS, ids=_ids(still)),
            say("check a source follows this competitor"), *still)


# -- 8. recipients ----------------------------------------------------------------------------------------------

def _interests(audience: Audience, ev: _Evidence) -> str:
    wanted = audience.interests
    parts = [", ".join(names.get(x, x) for x in values) for names, values in (
        (ev.theme_names, wanted.themes), (ev.label_names, wanted.labels), (ev.competitor_names, wanted.competitors)) if values]
    return " · ".join(parts) or ev.say("everything (no interests)")


def _recipients(point: Point, ev: _Evidence) -> None:
    config, say = ev.config, ev.say
    point.declared.append(Table(
        say("Recipient matrix"),
        [say("audience"), say("role"), say("recipients"), say("language"),
         say("external"), say("interests"), say("schedule"),
         say("alerts")],
        [[a.name or a.id, a.role, len(a.recipients), a.language, say("yes") if a.external else say("no"),
          _interests(a, ev), word("schedule", schedule_text(a.schedule), ev.lang) or "–", f"≥ {a.alerts.min_score}" if a.alerts else "–"]
         for a in config.audiences]))
    roles = {role: [a.id for a in config.audiences if a.role == role] for role in ROLES}
    point.declared.append(Table(say("Company roles served"),
                                [say("role"), say("audiences")],
                                [[role, _ids(ids)] for role, ids in roles.items()]))
    if not config.audiences:
        _finding(point, "high", "no-audience", say("no audience: the watch has no recipient"),
                 say("declare at least the direction (`audiences:`)"))
    nobody = [a.id for a in config.audiences if not a.recipients]
    if nobody:
        _finding(point, "high", "audience-no-recipients", say("audience(s) without recipients: {ids}", ids=_ids(nobody)),
            say("add addresses to `recipients`"), *nobody)
    for audience in config.audiences:
        if audience.schedule is None:
            _finding(point, "medium", "audience-no-schedule", say("the {id} audience has no schedule", id=audience.id),
                say('add `schedule: {cron: "mon 07:30"}`'), audience.id)
    missing_roles = [role for role, ids in roles.items() if not ids]
    if config.audiences and missing_roles:
        _finding(point, "medium" if "direction" in missing_roles else "low", "roles-missing", say("role(s) "
                                                                                                  "without an "
                                                                                                  "audience: "
                                                                                                  "{ids}", ids=_ids(missing_roles)),
            say("check these functions do not need the watch"),
            *missing_roles)
    broad = [a.id for a in config.audiences
             if not (a.interests.themes or a.interests.labels or a.interests.competitors)]
    if broad:
        _finding(point, "low", "audience-no-interests", say("audience(s) without interests, who receive "
                                                            "everything: {ids}", ids=_ids(broad)),
            say("choose themes, categories or competitors"), *broad)
    if not config.audiences or ev.no_items(point):
        return
    rows, empty, flooded = [], [], []
    for audience in config.audiences:
        chosen = ev.selections[audience.id]
        others = set().union(*(set(i["id"] for i in ev.selections[a.id]) for a in config.audiences if a.id != audience.id))
        own = sum(i["id"] not in others for i in chosen)
        moves = sum(any(l["axis"] == "moves" for l in i["labels"]) for i in chosen)
        trends = sum(any(l["axis"] == "trends" for l in i["labels"]) for i in chosen)
        per_week = len(chosen) * 7 / WINDOW_DAYS
        rows.append([audience.id, word("schedule", schedule_text(audience.schedule), ev.lang) or "–", len(chosen), moves, trends, own,
                     f"{per_week:.1f} / {audience.max_items}"])
        if not chosen:
            empty.append(audience.id)
        elif per_week > 2 * audience.max_items:
            flooded.append(audience.id)
    point.evidence.append(Table(
        say("What each audience would receive ({window_days} d, above its threshold and within its interests)", window_days=WINDOW_DAYS),
        [say("audience"), say("schedule"), say("items"),
         say("moves"), say("trends"), say("for it alone"),
         say("per week / maximum")], rows,
        note=say("An estimate of the selection; the digest stage also applies the period and never-twice.")))
    if empty:
        _finding(point, "medium", "audience-nothing-selected", say("nothing in {window_days} days for: {ids} "
                                                                   "(threshold too high or interests without a "
                                                                   "source)", window_days=WINDOW_DAYS, ids=_ids(empty)),
            say("lower `min_score` or widen `interests`"), *empty)
    if flooded:
        _finding(point, "low", "audience-flooded", say("more than twice its maximum each week for: {ids} (items "
                                                       "will be left out)", ids=_ids(flooded)),
            say("raise `min_score` or narrow `interests`"), *flooded)


# -- 9. diffusion -----------------------------------------------------------------------------------------------

def _period_days(schedule: Any) -> float | None:
    """About how often a schedule fires, to judge whether a digest is late."""
    if schedule is None:
        return None
    if schedule.every:
        return schedule.interval_seconds / 86400
    fields = cron_fields(schedule.cron)
    return 1.0 if fields["day_of_week"] == "*" and fields["day"] == "*" else 7.0


def _diffusion(point: Point, ev: _Evidence) -> None:
    config, say = ev.config, ev.say
    delivery = config.delivery
    smtp = bool(os.environ.get("VEILLE_SMTP_URL"))  # only whether it is set: the value is a secret
    archive = Path(delivery.archive)
    point.declared.append(Table(say("Diffusion channels"), [], [
        [say("e-mail (HTML and text): sender"), delivery.sender],
        [say("reply to"), delivery.reply_to or "–"],
        [say("unsubscribe"), _ids([x for x in (delivery.unsubscribe, delivery.unsubscribe_url) if x])],
        [say("sending server (VEILLE_SMTP_URL)"),
         say("set") if smtp else say("not set in this environment")],
        [say("archive (HTML, index, Atom feed per audience)"), str(archive)],
        [say("same-day alerts"),
         _ids(f"{a.id} ≥ {a.alerts.min_score}" for a in config.audiences if a.alerts)]], facts=True))
    if config.audiences and ev.items:
        # The digest stage's own selection, not an estimate: the figures are those of the brief it would build now.
        from digests.periods import period_of
        from digests.select import current_selection

        rows = []
        for audience in config.audiences:
            picks = current_selection(config, ev.store, audience, period_of(audience, ev.now), ev.now).picks
            rows.append([audience.id, len(audience.recipients), audience.language, len(picks),
                         ev.link(picks[0].row) if picks else "–"])
        point.evidence.append(Table(
            say("Each audience's next brief (what `veille digest send` would select now)"),
            [say("audience"), say("recipients"), say("language"),
             say("items"), say("first item")], rows))
    files = [p for p in archive.rglob("*") if p.is_file()] if archive.is_dir() else []
    if files:
        kinds = Counter(p.suffix.lstrip(".") or "?" for p in files)
        previews = sum(1 for p in files if "preview" in p.relative_to(archive).parts and p.suffix == ".html")
        point.evidence.append(Table(say("Archive"), [], [
            [say("folder"), str(archive)],
            [say("files"), _ids(f"{k} {n}" for k, n in kinds.most_common())],
            [say("digest previews (never sent)"), previews]], facts=True))
    if not delivery.unsubscribe and not delivery.unsubscribe_url:
        _finding(point, "medium", "no-unsubscribe", say("no unsubscribe address"),
                 say("fill in `delivery.unsubscribe` (mailto:)"))
    if delivery.sender.endswith("@localhost"):
        _finding(point, "low", "default-sender", say("default sender (veille@localhost)"),
                 say("fill in `delivery.sender`"))
    if config.audiences and not any(a.alerts for a in config.audiences):
        _finding(point, "low", "no-alerts", say("no same-day alert: an acquisition waits for the next brief"),
                 say("add `alerts: {min_score: 85}` to the direction"))
    if not smtp and config.audiences:
        _finding(point, "medium", "no-smtp", say("VEILLE_SMTP_URL is not set here: digests are archived, not sent"),
            say("set VEILLE_SMTP_URL (smtp://… or smtps://…) where `veille run` runs"))
    _deliveries(point, ev)


def _deliveries(point: Point, ev: _Evidence) -> None:
    config, say = ev.config, ev.say
    built = ev.diffusion["audiences"] if ev.diffusion else {}
    if not any(row.get("digests") for row in built.values()):
        point.missing.append(say("no digest built in this database: what was delivered cannot be measured yet"))
        if config.audiences:
            _finding(point, "high", "no-digest", say("no digest has been built yet"),
                     say("`veille digest send` builds the period's digests (a preview builds none)"))
        return
    rows, late, never = [], [], []
    for audience in config.audiences:
        row = built.get(audience.id)
        if not row or not row.get("digests"):
            never.append(audience.id)
            rows.append([audience.id, 0, (row or {}).get("alerts", 0), "–", "–", 0, 0, 0, "–"])
            continue
        rows.append([audience.id, row["digests"], row.get("alerts", 0), row.get("last_period") or "–",
                     _day(row.get("last_created")), row["sent"], row["failed"], row["pending"], row.get("last_error") or "–"])
        period = _period_days(audience.schedule)
        age = _age_days(row.get("last_created"), ev.now)
        if period and age is not None and age > 2 * period + 1:
            late.append(audience.id)
    point.evidence.append(Table(say("Digests built and deliveries"),
                                [say("audience"), say("digests"), say("alerts"),
                                 say("last period"),
                                 say("built on"), say("sent"), say("failed"),
                                 say("pending"), say("last error")], rows,
                                note=say("{suppressed} address(es) unsubscribed.", suppressed=ev.diffusion['suppressed'])))
    failed = sum(r[6] for r in rows)
    pending = sum(r[7] for r in rows)
    if failed:
        _finding(point, "high", "deliveries-failed", say("{failed} failed deliveries", failed=failed),
                 say("read the last error, fix the address or the server, then `veille digest send`"))
    if pending:
        _finding(point, "medium", "deliveries-pending", say("{pending} deliveries pending", pending=pending),
                 say("`veille digest send` once VEILLE_SMTP_URL is set"))
    if never:
        _finding(point, "medium", "audience-no-digest", say("no digest yet for: {ids}", ids=_ids(never)),
            say("`veille digest preview --audience ID`"), *never)
    if late:
        _finding(point, "medium", "digest-late", say("last digest late on its schedule for: {ids}", ids=_ids(late)),
            say("keep `veille run` going"), *late)
