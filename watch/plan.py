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
from watch.i18n import tr_in
from watch.models import utcnow

WEEKS = 4                      # the trends table: the current ISO week and the three before
STANDARD_TRENDS = ("megatrend", "consumer", "communication", "technology", "demography", "economy")
ROLES = ("direction", "marketing", "commercial", "rd", "partners")
STALE_COLLECTION_DAYS = 2
STALE_ITEM_DAYS = 7
# A figure with its unit: the quantitative data a theme's indicators ask for ("2 790 €", "12 %", "630 Wh").
FIGURE = re.compile(r"\d(?:[\d.,\u00a0\u202f ]*\d)?\s?(?:%|€|\$|£|(?:k?wh|km|kg|nm|m€|md€|millions?|milliards?|"
                    r"billions?|unités|units|exemplaires|points?|ventes|sales)(?!\w))", re.IGNORECASE)

CRITERIA = (
    ("Périmètre", "Scope",
     "Les thèmes de veille (périmètre d'observation et de collecte) sont délimités",
     "The watch themes (scope of observation and collection) are delimited"),
    ("Finalités", "Purposes",
     "Les finalités de la veille sont définies et hiérarchisées", "The purposes of the watch are defined and ranked"),
    ("Données à collecter", "Data to collect",
     "Les données à collecter sont identifiées, qualitativement et quantitativement",
     "The data to collect are identified, qualitatively and quantitatively"),
    ("Sources", "Sources",
     "Les sources sont légitimes, diversifiées et complémentaires (en ligne et hors ligne)",
     "The sources are legitimate, diversified and complementary (online and offline)"),
    ("Pertinence", "Relevance",
     "L'information est organisée par pertinence", "The information is organised by relevance"),
    ("Fiabilité", "Reliability",
     "Les données sont fiables : récentes et traçables", "The data are reliable: recent and traceable"),
    ("Tendances", "Trends",
     "Les évolutions et tendances du secteur sont identifiées et catégorisées (mégatendances, besoins et "
     "comportements des clients, communication, technologie, évolutions démographiques et économiques…)",
     "The sector's changes and trends are identified and categorised (megatrends, consumer needs and behaviour, "
     "communication, technology, demographic and economic change…)"),
    ("Destinataires", "Recipients",
     "Les destinataires sont choisis avec discernement (direction générale, marketing, commerciaux, R&D, "
     "partenaires…)", "The recipients are chosen with discernment (general management, marketing, sales, R&D, "
     "partners…)"),
    ("Diffusion", "Diffusion", "Les outils de diffusion sont efficaces", "The diffusion tools are effective"),
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
    for number, (builder, (title_fr, title_en, text_fr, text_en)) in enumerate(zip(builders, CRITERIA), 1):
        point = Point(number, tr_in(lang, title_fr, title_en), tr_in(lang, text_fr, text_en))
        builder(point, evidence)
        point.findings = sorted_findings(point.findings)
        points.append(point)
    say = evidence.say
    return Plan(
        lang=lang, company=config.company.name, sector=config.company.sector, generated_at=_day_time(now),
        window=say(f"{WINDOW_DAYS} derniers jours ({_day(now - timedelta(days=WINDOW_DAYS))} – {_day(now)})",
                   f"last {WINDOW_DAYS} days ({_day(now - timedelta(days=WINDOW_DAYS))} – {_day(now)})"),
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

    def say(self, fr: str, en: str) -> str:
        return tr_in(self.lang, fr, en)

    def link(self, item: dict[str, Any]) -> Any:
        title = (item["title"] or item["summary"] or "")[:110]
        return {"text": title, "url": item["url"]} if (item["url"] or "").startswith(("http://", "https://")) else title

    def no_items(self, point: Point) -> bool:
        """Say the evidence is missing when nothing was published in the window; True when that is the case."""
        if self.items:
            return False
        point.missing.append(self.say(
            f"aucun article publié ces {WINDOW_DAYS} derniers jours dans la base : lancer `veille collect`",
            f"no item published in the last {WINDOW_DAYS} days in the database: run `veille collect`"))
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
        return say("jamais", "never")
    if days < 1:
        return say(f"{max(days * 24, 0):.0f} h", f"{max(days * 24, 0):.0f} h")
    return say(f"{days:.0f} j", f"{days:.0f} d")


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
    return Table(caption, [say("axe", "axis"), say("catégories", "categories")],
                 [[say("tendances de marché", "market trends"), _ids(ev.label_names[x] for x in ev.axes["trends"])],
                  [say("mouvements des concurrents", "competitor moves"), _ids(ev.label_names[x] for x in ev.axes["moves"])]],
                 note=note)


# -- 1. scope ---------------------------------------------------------------------------------------------------

def _scope(point: Point, ev: _Evidence) -> None:
    config, say = ev.config, ev.say
    company = config.company
    point.declared.append(Table(say("Entreprise", "Company"), [], [
        [say("nom", "name"), company.name], [say("secteur", "sector"), company.sector or "–"],
        *[[say(f"offre ({lang})", f"offer ({lang})"), ", ".join(words)] for lang, words in company.offer.items()]],
        facts=True))
    point.declared.append(Table(say("Thèmes (périmètre de la veille)", "Themes (scope of the watch)"),
                                [say("thème", "theme"), say("libellé", "label"), say("priorité", "priority"),
                                 say("mots-clés fr", "keywords fr"), say("mots-clés en", "keywords en"),
                                 say("sources", "sources")],
                                [[t.id, t.label, t.priority, len(t.keywords.get("fr", [])), len(t.keywords.get("en", [])),
                                  len(ev.audit.diversity["themes"][t.id]["sources"])] for t in config.themes]))
    point.declared.append(Table(say("Concurrents suivis", "Competitors watched"),
                                [say("concurrent", "competitor"), say("type", "kind"), say("alias", "aliases"),
                                 say("domaines", "domains")],
                                [[c.name, say("direct", "direct") if c.kind == "direct" else say("indirect", "indirect"),
                                  _ids(c.aliases), _ids(c.domains)] for c in config.competitors]))
    if not config.themes:
        _finding(point, "high", "no-themes", say("aucun thème déclaré : la veille n'a pas de périmètre",
                                                 "no theme declared: the watch has no scope"),
                 say("déclarer des thèmes (`themes:` dans sources.yaml, voir `veille init`)",
                     "declare themes (`themes:` in sources.yaml, see `veille init`)"))
    if not config.competitors:
        _finding(point, "medium", "no-competitors", say("aucun concurrent déclaré", "no competitor declared"),
                 say("déclarer les concurrents directs et indirects (`competitors:`)",
                     "declare direct and indirect competitors (`competitors:`)"))
    if not company.offer:
        _finding(point, "low", "no-offer", say("l'offre de l'entreprise n'est pas décrite", "the company's offer is not described"),
                 say("renseigner `company.offer` (mots-clés par langue)", "fill in `company.offer` (keywords per language)"))
    bare = [t.id for t in config.themes if not any(t.keywords.values())]
    if bare:
        _finding(point, "medium", "theme-no-keywords", say(
            f"thème(s) sans mots-clés, reconnus seulement par leurs sources : {_ids(bare)}",
            f"theme(s) without keywords, recognised only through their sources: {_ids(bare)}"),
            say("donner des mots-clés en français et en anglais", "give keywords in French and English"), *bare)
    languages = {s.language for s in config.sources}
    half = [t.id for t in config.themes if any(t.keywords.values()) and not languages <= set(t.keywords)]
    if half and len(languages) > 1:
        _finding(point, "low", "theme-keywords-one-language", say(
            f"thème(s) sans mots-clés dans toutes les langues des sources ({', '.join(sorted(languages))}) : {_ids(half)}",
            f"theme(s) without keywords in every language of the sources ({', '.join(sorted(languages))}): {_ids(half)}"),
            say("ajouter les mots-clés manquants", "add the missing keywords"), *half)
    if ev.no_items(point):
        return
    items = ev.items
    in_scope = sum(bool(i["themes"]) for i in items)
    naming = sum(bool(i["competitors"]) for i in items)
    point.evidence.append(Table(say("Ce que la collecte a trouvé", "What collection found"), [], [
        [say(f"articles publiés ({WINDOW_DAYS} j)", f"items published ({WINDOW_DAYS} d)"), len(items)],
        [say("dans un thème déclaré", "within a declared theme"), f"{in_scope} ({_share(in_scope, len(items))})"],
        [say("citant un concurrent", "naming a competitor"), f"{naming} ({_share(naming, len(items))})"]], facts=True))
    per_theme = {t.id: [i for i in items if t.id in i["themes"]] for t in config.themes}
    point.evidence.append(Table(
        say(f"Articles par thème ({WINDOW_DAYS} j, mots-clés trouvés dans le texte)",
            f"Items per theme ({WINDOW_DAYS} d, keywords found in the text)"),
        [say("thème", "theme"), say("articles", "items"), say("part", "share"), say("langues", "languages")],
        [[t.label, len(per_theme[t.id]), _share(len(per_theme[t.id]), len(items)),
          _ids(f"{lang} {n}" for lang, n in sorted(Counter(i["lang"] or "?" for i in per_theme[t.id]).items()))]
         for t in config.themes]))
    point.evidence.append(Table(
        say(f"Concurrents cités ({WINDOW_DAYS} j)", f"Competitors named ({WINDOW_DAYS} d)"),
        [say("concurrent", "competitor"), say("articles", "items"), say("sources qui le citent", "sources naming it")],
        [[c.name, ev.audit.diversity["competitors"][c.id]["items"],
          _ids(ev.audit.diversity["competitors"][c.id]["mentioned_by"])] for c in config.competitors]))
    silent = [t.id for t in config.themes if not per_theme[t.id]]
    if silent:
        _finding(point, "medium", "theme-silent", say(
            f"aucun article en {WINDOW_DAYS} jours sur le(s) thème(s) : {_ids(silent)}",
            f"no item in {WINDOW_DAYS} days on the theme(s): {_ids(silent)}"),
            say("revoir leurs mots-clés ou leurs sources", "review their keywords or their sources"), *silent)
    if config.themes and in_scope < len(items) / 2:
        _finding(point, "medium", "scope-leak", say(
            f"{_share(len(items) - in_scope, len(items))} des articles ne relèvent d'aucun thème : sources trop larges "
            "ou mots-clés incomplets", f"{_share(len(items) - in_scope, len(items))} of the items fall outside every "
            "theme: sources too broad or keywords incomplete"),
            say("compléter les mots-clés des thèmes ou resserrer les sources",
                "complete the themes' keywords or narrow the sources"))


# -- 2. purposes ------------------------------------------------------------------------------------------------

def _purposes(point: Point, ev: _Evidence) -> None:
    config, say = ev.config, ev.say
    followers = {t.id: [a.id for a in config.audiences if t.id in a.interests.themes] for t in config.themes}
    point.declared.append(Table(
        say("Finalités par thème, dans l'ordre des priorités", "Purposes per theme, by priority"),
        [say("priorité", "priority"), say("thème", "theme"), say("finalité", "purpose"),
         say("audiences qui le suivent", "audiences following it")],
        [[t.priority, t.label, t.purpose.strip() or "–", _ids(followers[t.id])]
         for t in sorted(config.themes, key=lambda t: t.priority)]))
    vague = [t.id for t in config.themes if not t.purpose.strip()]
    if vague:
        _finding(point, "medium", "theme-no-purpose", say(
            f"thème(s) sans finalité : {_ids(vague)}", f"theme(s) without a purpose: {_ids(vague)}"),
            say("écrire dans `purpose` la décision que ce thème éclaire", "write in `purpose` the decision it informs"),
            *vague)
    priorities = {t.priority for t in config.themes}
    if len(config.themes) > 1 and len(priorities) == 1:
        only = next(iter(priorities))
        _finding(point, "medium", "priorities-flat", say(
            f"tous les thèmes ont la même priorité ({only}) : les finalités ne sont pas hiérarchisées",
            f"every theme has the same priority ({only}): the purposes are not ranked"),
            say("donner la priorité 1 aux thèmes qui éclairent une décision proche",
                "give priority 1 to the themes that inform an upcoming decision"))
    elif config.themes and 1 not in priorities:
        _finding(point, "low", "no-priority-1", say("aucun thème de priorité 1", "no priority 1 theme"),
                 say("désigner le ou les thèmes prioritaires", "name the priority theme(s)"))
    takes_all = any(not (a.interests.themes or a.interests.labels or a.interests.competitors) for a in config.audiences)
    unfollowed = [t.id for t in config.themes if t.priority == 1 and not followers[t.id]]
    if unfollowed and not takes_all:
        _finding(point, "medium", "priority-theme-unfollowed", say(
            f"thème(s) prioritaire(s) suivi(s) par aucune audience : {_ids(unfollowed)}",
            f"priority theme(s) followed by no audience: {_ids(unfollowed)}"),
            say("l'ajouter aux `interests.themes` de l'audience qui décide", "add it to the deciding audience's `interests.themes`"),
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
        say(f"Ce que le classement a produit ({WINDOW_DAYS} j) : un article compte pour son thème le plus prioritaire",
            f"What the ranking produced ({WINDOW_DAYS} d): an item counts for its highest-priority theme"),
        [say("priorité", "priority"), say("thèmes", "themes"), say("articles", "items"), say("score moyen", "mean score"),
         say("articles ≥ 60", "items ≥ 60")], rows))


# -- 3. data to collect -----------------------------------------------------------------------------------------

def _data(point: Point, ev: _Evidence) -> None:
    config, say = ev.config, ev.say
    themes_cover = ev.audit.diversity["themes"]
    point.declared.append(Table(
        say("Données quantitatives : les indicateurs de chaque thème et les sources qui l'alimentent",
            "Quantitative data: each theme's indicators and the sources that feed it"),
        [say("thème", "theme"), say("indicateur", "indicator"), say("sources", "sources")],
        [[t.label, indicator, _ids(themes_cover[t.id]["sources"])] for t in config.themes for indicator in t.indicators]))
    point.declared.append(_categories(ev, say("Données qualitatives : les catégories de l'information",
                                              "Qualitative data: the categories of information")))
    without = [t.id for t in config.themes if not t.indicators]
    if without:
        _finding(point, "medium", "theme-no-indicators", say(
            f"thème(s) sans indicateur chiffré à collecter : {_ids(without)}",
            f"theme(s) without a quantitative indicator to collect: {_ids(without)}"),
            say("ajouter des `indicators` (volumes, prix, parts de marché…)", "add `indicators` (volumes, prices, market shares…)"),
            *without)
    if ev.no_items(point):
        return
    items = ev.items
    labelled = sum(bool(i["labels"]) for i in items)
    with_figures = sum(i["figures"] for i in items)
    point.evidence.append(Table(say(f"Données collectées ({WINDOW_DAYS} j)", f"Data collected ({WINDOW_DAYS} d)"), [], [
        [say("articles", "items"), len(items)],
        [say("rangés dans au moins une catégorie (qualitatif)", "sorted into at least one category (qualitative)"),
         f"{labelled} ({_share(labelled, len(items))})"],
        [say("portant un chiffre avec son unité (quantitatif)", "carrying a figure with its unit (quantitative)"),
         f"{with_figures} ({_share(with_figures, len(items))})"],
        [say("origines", "origins"), _ids(f"{word('origin', o, ev.lang)} {n}" for o, n in Counter(i["origin"] for i in items).most_common())],
        [say("langues", "languages"), _ids(f"{lang} {n}" for lang, n in Counter(i["lang"] or "?" for i in items).most_common())],
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
        say(f"Chiffres trouvés par thème ({WINDOW_DAYS} j)", f"Figures found per theme ({WINDOW_DAYS} d)"),
        [say("thème", "theme"), say("indicateurs", "indicators"), say("articles", "items"),
         say("avec chiffres", "with figures"), say("dernier exemple", "latest example")], rows))
    if dry:
        _finding(point, "low", "indicator-no-figures", say(
            f"aucun chiffre collecté en {WINDOW_DAYS} jours pour les indicateurs de : {_ids(dry)}",
            f"no figure collected in {WINDOW_DAYS} days for the indicators of: {_ids(dry)}"),
            say("ajouter une source statistique (institutionnelle, étude de marché)",
                "add a statistical source (institutional, market study)"), *dry)


# -- 4. sources -------------------------------------------------------------------------------------------------

def _sources(point: Point, ev: _Evidence) -> None:
    say, audit = ev.say, ev.audit
    online = {True: say("en ligne", "online"), False: say("hors ligne", "offline")}
    point.declared.append(Table(
        say("Matrice des sources", "Source matrix"),
        [say("source", "source"), say("genre", "kind"), say("type", "type"), say("langue", "language"),
         say("pays", "country"), say("accès", "access"), say("note", "grade"), say("thèmes", "themes"),
         say("légitimité", "legitimacy")],
        [[r["name"], f"{word('kind', r['kind'], ev.lang)} ({online[r['online']]})", word("type", r["type"], ev.lang),
          r["language"], r["country"] or "–", word("access", r["access"], ev.lang),
          r["reliability"], _ids(r["themes"]), r["legitimacy"] or "–"] for r in audit.sources],
        note=say("Note de fiabilité : code de l'Amirauté, A (sûre) à E (peu sûre), F (impossible à juger).",
                 "Reliability grade: Admiralty code, A (reliable) to E (unreliable), F (cannot be judged).")))
    diversity = audit.diversity
    if audit.sources:
        point.evidence.append(Table(say("Diversité des sources", "Diversity of the sources"),
                                    [say("dimension", "dimension"), say("répartition", "breakdown")], [
            [say(label_fr, label_en), _ids(f"{word(key, k, ev.lang)} {v}" for k, v in diversity[key].items())]
            for key, label_fr, label_en in (("type", "type", "type"), ("language", "langue", "language"),
                                            ("country", "pays", "country"), ("online", "en ligne / hors ligne", "online / offline"),
                                            ("reliability", "note", "grade"), ("access", "accès", "access"))]))
        point.evidence.append(Table(say("Complémentarité par thème", "Complementarity per theme"),
                                    [say("thème", "theme"), say("sources", "sources"), say("types", "types"),
                                     say("langues", "languages"), say("en ligne / hors ligne", "online / offline")],
                                    [[ev.theme_names[t], len(c["sources"]), _ids(word("type", k, ev.lang) for k in c["types"]),
                                      _ids(c["languages"]), _ids(word("online", k, ev.lang) for k in c["online"])]
                                     for t, c in diversity["themes"].items()]))
        point.evidence.append(Table(
            say(f"Légitimité et productivité ({WINDOW_DAYS} j)", f"Legitimacy and productivity ({WINDOW_DAYS} d)"),
            [say("source", "source"), "robots.txt", say("articles / semaine", "items / week"),
             say("articles en base", "items stored"), say("part dans un bulletin", "share in a digest")],
            [[r["id"], r["robots"], r["items_per_week"], r["items"],
              "–" if r["digest_share"] is None else f"{r['digest_share']:.0%}"] for r in audit.sources]))
        if all(r["digest_share"] is None for r in audit.sources):
            point.evidence[-1].note = say("La part parvenue à un bulletin se mesure une fois des bulletins construits.",
                                          "The share that reached a digest is measured once digests have been built.")
    point.findings.extend(f for f in audit.findings if f.point == 4)


# -- 5. relevance -----------------------------------------------------------------------------------------------

def _relevance(point: Point, ev: _Evidence) -> None:
    config, say = ev.config, ev.say
    point.declared.append(Table(say("Règle de pertinence (score 0-100, raisons gardées avec chaque article)",
                                    "Relevance rule (score 0-100, reasons kept with each item)"), [], [
        [say("thème de priorité 1 / 2 / 3", "theme of priority 1 / 2 / 3"), " / ".join(str(v) for v in scoring.THEME_POINTS.values())],
        [say("concurrent direct / indirect", "direct / indirect competitor"),
         " / ".join(str(v) for v in scoring.COMPETITOR_POINTS.values())],
        [say("mouvement (selon sa confiance), + s'il vient d'un concurrent", "move (by its confidence), + when a competitor acts"),
         f"≤ {scoring.MOVE_POINTS} + {scoring.ACTING_COMPETITOR}"],
        [say("note de la source A … F", "source grade A … F"), " / ".join(str(v) for v in scoring.GRADE_POINTS.values())],
        [say("crédibilité 1 / 2 / 3 (recoupement)", "credibility 1 / 2 / 3 (corroboration)"),
         " / ".join(str(v) for v in scoring.CREDIBILITY_POINTS.values())],
        [say("autres sources de la même histoire", "other sources of the same story"),
         f"{scoring.STORY_POINTS_PER_SOURCE} {say('chacune', 'each')}, ≤ {scoring.STORY_POINTS_MAX}"]], facts=True))
    point.declared.append(Table(say("Seuils par audience", "Thresholds per audience"),
                                [say("audience", "audience"), say("score minimum", "minimum score"),
                                 say("articles au plus", "items at most"), say("alerte au-delà de", "alert above")],
                                [[a.id, a.min_score, a.max_items, a.alerts.min_score if a.alerts else "–"]
                                 for a in config.audiences]))
    corrections = ev.provenance["corrections"]
    if ev.no_items(point):
        return
    items = ev.items
    classified = sum(bool(i["classified_at"]) for i in items)
    point.evidence.append(Table(say(f"Traitement ({WINDOW_DAYS} j)", f"Processing ({WINDOW_DAYS} d)"), [], [
        [say("articles", "items"), len(items)],
        [say("classés (étiquettes, score, raisons)", "classified (labels, score, reasons)"),
         f"{classified} ({_share(classified, len(items))})"],
        [say("corrections d'étiquettes par un analyste (total)", "label corrections by an analyst (total)"), corrections]],
        facts=True))
    buckets = Counter(min(i["score"] // 20, 4) for i in items)
    top = max(buckets.values())
    point.evidence.append(Table(say("Répartition des scores", "Score distribution"),
                                [say("score", "score"), say("articles", "items"), say("part", "share"), ""],
                                [[f"{b * 20}–{b * 20 + 19 if b < 4 else 100}", buckets[b], _share(buckets[b], len(items)),
                                  "█" * round(12 * buckets[b] / top)] for b in range(5)]))
    best = sorted(items, key=lambda i: (-i["score"], i["published_at"]))[:5]
    point.evidence.append(Table(say("Les cinq articles les plus pertinents", "The five most relevant items"),
                                [say("score", "score"), say("article", "item"), say("source", "source"),
                                 say("pourquoi", "why")],
                                [[i["score"], ev.link(i), i["source"],
                                  scoring.render_reasons(json.loads(i["reasons"]) if i["reasons"] else [], ev.lang, ev.reason_names)]
                                 for i in best]))
    if classified < 0.9 * len(items):
        _finding(point, "medium", "unclassified-items", say(
            f"{len(items) - classified} article(s) récent(s) ne sont pas classés", f"{len(items) - classified} recent item(s) are not classified"),
            say("lancer `veille classify`", "run `veille classify`"))
    if classified and len([b for b in buckets.values() if b]) == 1:
        _finding(point, "low", "scores-flat", say("tous les scores tombent dans la même tranche : ils ne départagent rien",
                                                 "every score falls in the same band: they rank nothing"),
                 say("préciser thèmes, priorités et concurrents", "sharpen themes, priorities and competitors"))
    if not corrections:
        _finding(point, "low", "no-analyst-corrections", say(
            "aucune étiquette corrigée par un analyste : le classement automatique n'est jamais vérifié",
            "no label corrected by an analyst: the automatic sorting is never checked"),
            say("relire les articles de la semaine et corriger avec `veille label ID ÉTIQUETTE`",
                "review the week's items and correct them with `veille label ID LABEL`"))


# -- 6. reliability ---------------------------------------------------------------------------------------------

def _reliability(point: Point, ev: _Evidence) -> None:
    say, now, audit = ev.say, ev.now, ev.audit
    point.declared.append(Table(say("Rythme de collecte et note de chaque source", "Collection rhythm and grade of each source"),
                                [say("source", "source"), say("rythme", "schedule"), say("note", "grade")],
                                [[r["id"], word("schedule", r["schedule"], ev.lang) or say("par défaut", "default"), r["reliability"]]
                                 for r in audit.sources],
                                note=say("Crédibilité de chaque article (1-6) : 6 tant qu'il n'est pas recoupé, 3 avec deux "
                                         "sources indépendantes, 2 avec trois ; un analyste peut la fixer.",
                                         "Credibility of each item (1-6): 6 until corroborated, 3 with two independent "
                                         "sources, 2 with three; an analyst may set it.")))
    point.findings.extend(f for f in audit.findings if f.point == 6)
    if audit.sources and any(r["status"] != "never" for r in audit.sources):
        point.evidence.append(Table(
            say("Fraîcheur par source", "Freshness per source"),
            [say("source", "source"), say("état", "status"), say("dernier succès", "last success"),
             say("dernier article publié", "newest item"), say(f"réussite ({SILENT_DAYS} j)", f"success ({SILENT_DAYS} d)"),
             say("dernière erreur", "last error")],
            [[r["id"], r["status"], _age(_age_days(r["last_success"], now), say), _age(_age_days(r["last_item"], now), say),
              "–" if r["success_rate"] is None else f"{r['success_rate']:.0%}", r["last_error"] or "–"]
             for r in audit.sources]))
    prov = ev.provenance
    if not prov["items"]:
        point.missing.append(say("la base ne contient aucun article : fraîcheur et traçabilité ne peuvent pas être mesurées",
                                 "the database holds no item: freshness and traceability cannot be measured"))
        return
    ages = sorted(_age_days(i["published_at"], now) for i in ev.items)
    newest = _age_days(prov["newest"], now)
    last_success = min((_age_days(r["last_success"], now) for r in audit.sources if r["last_success"]), default=None)
    total = prov["items"]
    point.evidence.append(Table(say("Récence et traçabilité", "Recency and traceability"), [], [
        [say(f"âge médian des articles des {WINDOW_DAYS} derniers jours", f"median age of the last {WINDOW_DAYS} days' items"),
         _age(statistics.median(ages), say) if ages else "–"],
        [say("article le plus récent", "newest item"), _age(newest, say)],
        [say("dernière collecte réussie", "last successful collection"), _age(last_success, say)],
        [say("articles en base", "items stored"), total],
        [say("avec son adresse (URL, ou auteur et fichier d'une note de terrain)",
             "with its address (URL, or author and file of a field note)"), _share(prov["with_url"], total)],
        [say("avec l'heure de collecte", "with the fetch time"), _share(prov["with_fetch_time"], total)],
        [say("avec l'empreinte du contenu", "with the content hash"), _share(prov["with_hash"], total)],
        [say("date de publication estimée (absente du flux)", "publication date estimated (missing from the feed)"),
         _share(prov["estimated_dates"], total)],
        [say("portés par plusieurs sources", "carried by several sources"), prov["multi_source"]],
        [say("recoupés (crédibilité 1-3)", "corroborated (credibility 1-3)"), prov["corroborated"]],
        [say("origines", "origins"), _ids(f"{word('origin', o, ev.lang)} {n}" for o, n in prov["origins"].items())]], facts=True))
    if last_success is not None and last_success > STALE_COLLECTION_DAYS:
        _finding(point, "medium", "collection-stale", say(
            f"aucune collecte réussie depuis {_age(last_success, say)}", f"no successful collection for {_age(last_success, say)}"),
            say("lancer `veille collect`, ou garder `veille run` en marche", "run `veille collect`, or keep `veille run` going"))
    if newest is not None and newest > STALE_ITEM_DAYS:
        _finding(point, "medium", "items-stale", say(
            f"l'article le plus récent date de {_age(newest, say)}", f"the newest item is {_age(newest, say)} old"),
            say("vérifier que les sources publient encore", "check the sources still publish"))
    untraceable = total - min(prov["with_url"], prov["with_fetch_time"], prov["with_hash"])
    if untraceable:
        _finding(point, "low", "untraceable-items", say(
            f"{untraceable} article(s) sans adresse, heure de collecte ou empreinte",
            f"{untraceable} item(s) without an address, a fetch time or a hash"),
            say("pour les notes de terrain, citer la source dans le texte", "for field notes, name the source in the text"))
    if prov["estimated_dates"] > total / 5:
        _finding(point, "low", "estimated-dates", say(
            f"{_share(prov['estimated_dates'], total)} des articles n'ont pas de date de publication fiable",
            f"{_share(prov['estimated_dates'], total)} of the items have no reliable publication date"),
            say("préférer des sources qui datent leurs articles", "prefer sources that date their items"))


# -- 7. trends --------------------------------------------------------------------------------------------------

def _trends(point: Point, ev: _Evidence) -> None:
    config, say = ev.config, ev.say
    point.declared.append(_categories(ev, say("Catégories (nlp/taxonomy.yaml)", "Categories (nlp/taxonomy.yaml)"),
                                      say("Termes en hausse : mentions de la semaine comparées aux 8 semaines précédentes.",
                                          "Rising terms: this week's mentions against the 8 weeks before.")))
    if ev.no_items(point):
        return
    current = iso_week(ev.now)
    weeks = previous_weeks(current, WEEKS - 1) + [current]
    by_week = [(iso_week(datetime.fromisoformat(i["published_at"])), i) for i in ev.items]
    classified = [i for i in ev.items if i["classified_at"]]
    if not classified:
        _finding(point, "high", "nothing-categorised", say("aucun article récent n'est catégorisé", "no recent item is categorised"),
                 say("lancer `veille classify`", "run `veille classify`"))
        return

    def counts(axis: str) -> list[list[Any]]:
        rows = []
        for label in ev.axes[axis]:
            series = [sum(1 for w, i in by_week if w == week and any(l["label"] == label and l["axis"] == axis
                                                                       for l in i["labels"])) for week in weeks]
            rows.append([ev.label_names[label], *series, sum(series), sparkline(series)])
        return rows

    header = [*weeks, say("total", "total"), ""]
    trend_rows = counts("trends")
    point.evidence.append(Table(say(f"Tendances de marché par semaine ({WEEKS} semaines)", f"Market trends per week ({WEEKS} weeks)"),
                                [say("catégorie", "category"), *header], trend_rows))
    point.evidence.append(Table(say(f"Mouvements par semaine ({WEEKS} semaines)", f"Moves per week ({WEEKS} weeks)"),
                                [say("mouvement", "move"), *header], [r for r in counts("moves") if r[-2]]))
    moves_rows = []
    for competitor in config.competitors:
        theirs = [i for i in ev.items if i["actor_competitor"] == competitor.id
                  and any(l["axis"] == "moves" for l in i["labels"])]
        kinds = Counter(l["label"] for i in theirs for l in i["labels"] if l["axis"] == "moves")
        latest = max(theirs, key=lambda i: i["published_at"]) if theirs else None
        moves_rows.append([competitor.name, len(theirs), _ids(f"{ev.label_names[k]} {n}" for k, n in kinds.most_common()),
                           ev.link(latest) if latest else "–"])
    point.evidence.append(Table(say(f"Mouvements des concurrents ({WINDOW_DAYS} j)", f"Competitor moves ({WINDOW_DAYS} d)"),
                                [say("concurrent", "competitor"), say("mouvements", "moves"), say("types", "kinds"),
                                 say("le dernier", "latest")], moves_rows))
    rising = rising_terms(ev.term_weeks, current)[:10]
    point.evidence.append(Table(say(f"Termes en hausse, semaine {current}", f"Rising terms, week {current}"),
                                [say("terme", "term"), say("genre", "kind"), say("cette semaine", "this week"),
                                 say("moyenne des 8 semaines", "8-week mean"), ""],
                                [[ev.label_names.get(r.term, r.term) if r.kind == "label" else r.term, word("kind", r.kind, ev.lang), r.count,
                                  round(r.baseline, 1), sparkline(r.weeks)] for r in rising],
                                note="" if rising else say("aucun terme ne monte nettement cette semaine",
                                                           "no term is clearly rising this week")))
    quiet = [label for label, row in zip(ev.axes["trends"], trend_rows) if label in STANDARD_TRENDS and not row[-2]]
    if quiet:
        _finding(point, "low", "trend-category-empty", say(
            f"aucun article en {WEEKS} semaines dans la catégorie : {_ids(ev.label_names[q] for q in quiet)}",
            f"no item in {WEEKS} weeks in the category: {_ids(ev.label_names[q] for q in quiet)}"),
            say("ajouter une source qui couvre ces évolutions (études, statistiques publiques)",
                "add a source that covers these changes (studies, public statistics)"), *quiet)
    still = [c.id for c, row in zip(config.competitors, moves_rows) if not row[1]]
    if still:
        _finding(point, "low", "competitor-no-move", say(
            f"aucun mouvement repéré en {WINDOW_DAYS} jours pour : {_ids(still)}",
            f"no move spotted in {WINDOW_DAYS} days for: {_ids(still)}"),
            say("vérifier qu'une source suit ce concurrent", "check a source follows this competitor"), *still)


# -- 8. recipients ----------------------------------------------------------------------------------------------

def _interests(audience: Audience, ev: _Evidence) -> str:
    wanted = audience.interests
    parts = [", ".join(names.get(x, x) for x in values) for names, values in (
        (ev.theme_names, wanted.themes), (ev.label_names, wanted.labels), (ev.competitor_names, wanted.competitors)) if values]
    return " · ".join(parts) or ev.say("tout (aucun centre d'intérêt)", "everything (no interests)")


def _recipients(point: Point, ev: _Evidence) -> None:
    config, say = ev.config, ev.say
    point.declared.append(Table(
        say("Matrice des destinataires", "Recipient matrix"),
        [say("audience", "audience"), say("rôle", "role"), say("destinataires", "recipients"), say("langue", "language"),
         say("externe", "external"), say("centres d'intérêt", "interests"), say("rythme", "schedule"),
         say("alertes", "alerts")],
        [[a.name or a.id, a.role, len(a.recipients), a.language, say("oui", "yes") if a.external else say("non", "no"),
          _interests(a, ev), word("schedule", schedule_text(a.schedule), ev.lang) or "–", f"≥ {a.alerts.min_score}" if a.alerts else "–"]
         for a in config.audiences]))
    roles = {role: [a.id for a in config.audiences if a.role == role] for role in ROLES}
    point.declared.append(Table(say("Rôles de l'entreprise servis", "Company roles served"),
                                [say("rôle", "role"), say("audiences", "audiences")],
                                [[role, _ids(ids)] for role, ids in roles.items()]))
    if not config.audiences:
        _finding(point, "high", "no-audience", say("aucune audience : la veille n'a pas de destinataire",
                                                   "no audience: the watch has no recipient"),
                 say("déclarer au moins la direction (`audiences:`)", "declare at least the direction (`audiences:`)"))
    nobody = [a.id for a in config.audiences if not a.recipients]
    if nobody:
        _finding(point, "high", "audience-no-recipients", say(
            f"audience(s) sans destinataire : {_ids(nobody)}", f"audience(s) without recipients: {_ids(nobody)}"),
            say("ajouter des adresses dans `recipients`", "add addresses to `recipients`"), *nobody)
    for audience in config.audiences:
        if audience.schedule is None:
            _finding(point, "medium", "audience-no-schedule", say(
                f"l'audience {audience.id} n'a pas de rythme de diffusion", f"the {audience.id} audience has no schedule"),
                say("ajouter `schedule: {cron: \"mon 07:30\"}`", "add `schedule: {cron: \"mon 07:30\"}`"), audience.id)
    missing_roles = [role for role, ids in roles.items() if not ids]
    if config.audiences and missing_roles:
        _finding(point, "medium" if "direction" in missing_roles else "low", "roles-missing", say(
            f"rôle(s) sans audience : {_ids(missing_roles)}", f"role(s) without an audience: {_ids(missing_roles)}"),
            say("vérifier que ces fonctions n'ont pas besoin de la veille", "check these functions do not need the watch"),
            *missing_roles)
    broad = [a.id for a in config.audiences
             if not (a.interests.themes or a.interests.labels or a.interests.competitors)]
    if broad:
        _finding(point, "low", "audience-no-interests", say(
            f"audience(s) sans centre d'intérêt, qui reçoivent tout : {_ids(broad)}",
            f"audience(s) without interests, who receive everything: {_ids(broad)}"),
            say("choisir thèmes, catégories ou concurrents", "choose themes, categories or competitors"), *broad)
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
        say(f"Ce que chaque audience recevrait ({WINDOW_DAYS} j, au-dessus de son seuil et dans ses centres d'intérêt)",
            f"What each audience would receive ({WINDOW_DAYS} d, above its threshold and within its interests)"),
        [say("audience", "audience"), say("rythme", "schedule"), say("articles", "items"),
         say("mouvements", "moves"), say("tendances", "trends"), say("pour elle seule", "for it alone"),
         say("par semaine / maximum", "per week / maximum")], rows,
        note=say("Estimation de la sélection ; l'étape des bulletins applique aussi la période et le « jamais deux fois ».",
                 "An estimate of the selection; the digest stage also applies the period and never-twice.")))
    if empty:
        _finding(point, "medium", "audience-nothing-selected", say(
            f"rien en {WINDOW_DAYS} jours pour : {_ids(empty)} (seuil trop haut ou centres d'intérêt sans source)",
            f"nothing in {WINDOW_DAYS} days for: {_ids(empty)} (threshold too high or interests without a source)"),
            say("baisser `min_score` ou élargir `interests`", "lower `min_score` or widen `interests`"), *empty)
    if flooded:
        _finding(point, "low", "audience-flooded", say(
            f"plus du double de son maximum chaque semaine pour : {_ids(flooded)} (des articles seront écartés)",
            f"more than twice its maximum each week for: {_ids(flooded)} (items will be left out)"),
            say("relever `min_score` ou resserrer `interests`", "raise `min_score` or narrow `interests`"), *flooded)


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
    point.declared.append(Table(say("Canaux de diffusion", "Diffusion channels"), [], [
        [say("e-mail (HTML et texte) : expéditeur", "e-mail (HTML and text): sender"), delivery.sender],
        [say("réponse à", "reply to"), delivery.reply_to or "–"],
        [say("désinscription", "unsubscribe"), _ids([x for x in (delivery.unsubscribe, delivery.unsubscribe_url) if x])],
        [say("serveur d'envoi (VEILLE_SMTP_URL)", "sending server (VEILLE_SMTP_URL)"),
         say("défini", "set") if smtp else say("non défini dans cet environnement", "not set in this environment")],
        [say("archive (HTML, index, flux Atom par audience)", "archive (HTML, index, Atom feed per audience)"), str(archive)],
        [say("alertes le jour même", "same-day alerts"),
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
            say("Le prochain bulletin de chaque audience (la sélection de `veille digest send` à cet instant)",
                "Each audience's next brief (what `veille digest send` would select now)"),
            [say("audience", "audience"), say("destinataires", "recipients"), say("langue", "language"),
             say("articles", "items"), say("en tête", "first item")], rows))
    files = [p for p in archive.rglob("*") if p.is_file()] if archive.is_dir() else []
    if files:
        kinds = Counter(p.suffix.lstrip(".") or "?" for p in files)
        previews = sum(1 for p in files if "preview" in p.relative_to(archive).parts and p.suffix == ".html")
        point.evidence.append(Table(say("Archive", "Archive"), [], [
            [say("dossier", "folder"), str(archive)],
            [say("fichiers", "files"), _ids(f"{k} {n}" for k, n in kinds.most_common())],
            [say("aperçus de bulletins (jamais envoyés)", "digest previews (never sent)"), previews]], facts=True))
    if not delivery.unsubscribe and not delivery.unsubscribe_url:
        _finding(point, "medium", "no-unsubscribe", say("aucune adresse de désinscription", "no unsubscribe address"),
                 say("renseigner `delivery.unsubscribe` (mailto:)", "fill in `delivery.unsubscribe` (mailto:)"))
    if delivery.sender.endswith("@localhost"):
        _finding(point, "low", "default-sender", say("expéditeur par défaut (veille@localhost)", "default sender (veille@localhost)"),
                 say("renseigner `delivery.sender`", "fill in `delivery.sender`"))
    if config.audiences and not any(a.alerts for a in config.audiences):
        _finding(point, "low", "no-alerts", say("aucune alerte le jour même : un rachat attendra le bulletin suivant",
                                                "no same-day alert: an acquisition waits for the next brief"),
                 say("ajouter `alerts: {min_score: 85}` à la direction", "add `alerts: {min_score: 85}` to the direction"))
    if not smtp and config.audiences:
        _finding(point, "medium", "no-smtp", say(
            "VEILLE_SMTP_URL n'est pas défini ici : les bulletins sont archivés, pas envoyés",
            "VEILLE_SMTP_URL is not set here: digests are archived, not sent"),
            say("définir VEILLE_SMTP_URL (smtp://… ou smtps://…) là où tourne `veille run`",
                "set VEILLE_SMTP_URL (smtp://… or smtps://…) where `veille run` runs"))
    _deliveries(point, ev)


def _deliveries(point: Point, ev: _Evidence) -> None:
    config, say = ev.config, ev.say
    built = ev.diffusion["audiences"] if ev.diffusion else {}
    if not any(row.get("digests") for row in built.values()):
        point.missing.append(say(
            "aucun bulletin construit dans cette base : ce qui a été diffusé ne peut pas encore être mesuré",
            "no digest built in this database: what was delivered cannot be measured yet"))
        if config.audiences:
            _finding(point, "high", "no-digest", say("aucun bulletin n'a encore été construit", "no digest has been built yet"),
                     say("`veille digest send` construit les bulletins de la période (un aperçu n'en construit pas)",
                         "`veille digest send` builds the period's digests (a preview builds none)"))
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
    point.evidence.append(Table(say("Bulletins construits et envois", "Digests built and deliveries"),
                                [say("audience", "audience"), say("bulletins", "digests"), say("alertes", "alerts"),
                                 say("dernière période", "last period"),
                                 say("construit le", "built on"), say("envoyés", "sent"), say("échecs", "failed"),
                                 say("en attente", "pending"), say("dernière erreur", "last error")], rows,
                                note=say(f"{ev.diffusion['suppressed']} adresse(s) désinscrite(s).",
                                         f"{ev.diffusion['suppressed']} address(es) unsubscribed.")))
    failed = sum(r[6] for r in rows)
    pending = sum(r[7] for r in rows)
    if failed:
        _finding(point, "high", "deliveries-failed", say(f"{failed} envoi(s) en échec", f"{failed} failed deliveries"),
                 say("lire la dernière erreur, corriger l'adresse ou le serveur, puis `veille digest send`",
                     "read the last error, fix the address or the server, then `veille digest send`"))
    if pending:
        _finding(point, "medium", "deliveries-pending", say(f"{pending} envoi(s) en attente", f"{pending} deliveries pending"),
                 say("`veille digest send` une fois VEILLE_SMTP_URL défini", "`veille digest send` once VEILLE_SMTP_URL is set"))
    if never:
        _finding(point, "medium", "audience-no-digest", say(
            f"aucun bulletin encore pour : {_ids(never)}", f"no digest yet for: {_ids(never)}"),
            say("`veille digest preview --audience ID`", "`veille digest preview --audience ID`"), *never)
    if late:
        _finding(point, "medium", "digest-late", say(
            f"dernier bulletin en retard sur son rythme pour : {_ids(late)}", f"last digest late on its schedule for: {_ids(late)}"),
            say("garder `veille run` en marche", "keep `veille run` going"), *late)
