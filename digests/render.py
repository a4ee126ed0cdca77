"""Render a selection as an e-mail: HTML (table layout, inline CSS, dark mode, WCAG AA colours) and plain text.

Everything that comes from a feed is data: Jinja2 escapes it in HTML, and a link is only a link when it is http(s).
Dates and numbers are formatted for the audience's language with Babel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_interval
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from digests.periods import audience_zone
from digests.select import Pick, Selection, reasons_of, recency_penalty
from nlp.score import render_reasons, taxonomy_names
from watch.config import Audience, Config

TEMPLATES = Path(__file__).with_name("templates")

# Colours of the e-mail, light and dark. Every (text, background) pair the templates use is listed in
# CONTRAST_PAIRS and checked against WCAG AA (4.5:1 for body text) by tests/test_digest_render.py.
PALETTE = {
    "light": {"page": "#eef1f5", "card": "#ffffff", "text": "#1b2430", "muted": "#4a5565", "link": "#1a4fb5",
              "accent": "#14325c", "on_accent": "#ffffff", "chip": "#e6ecf7", "on_chip": "#1f3b6e",
              "rule": "#d5dbe3", "note": "#fff4d6", "on_note": "#5a3b00"},
    "dark": {"page": "#0d1117", "card": "#161b22", "text": "#e6edf3", "muted": "#b1bac4", "link": "#79b8ff",
             "accent": "#1f3b66", "on_accent": "#ffffff", "chip": "#26324a", "on_chip": "#cfe0ff",
             "rule": "#30363d", "note": "#3a2e10", "on_note": "#ffe3a3"},
}
CONTRAST_PAIRS = [("text", "card"), ("muted", "card"), ("link", "card"), ("on_accent", "accent"),
                  ("on_chip", "chip"), ("on_note", "note"), ("muted", "page"), ("link", "page"), ("text", "page")]

TEXTS = {
    "fr": {"colon": "\u00a0:", "title": "Veille", "week": "Semaine", "day": "Journée du", "items": "articles", "item": "article",
           "why": "Pourquoi", "also_one": "Également repris par 1 source\u00a0: {names}",
           "also_many": "Également repris par {n} sources\u00a0: {names}", "grade": "fiabilité", "published": "publié le",
           "older": "publié il y a {days} jours (−{points})", "chart": "Articles par catégorie",
           "chart_alt": "Graphique en barres : articles par catégorie sur les 7 derniers jours, comparés à la "
                        "moyenne hebdomadaire des 4 semaines précédentes.",
           "chart_row": "{label} : {count} cette semaine (moyenne {avg})", "this_week": "7 derniers jours",
           "average": "moyenne des 4 semaines précédentes",
           "empty": "Rien de notable sur la période : aucun article n'a atteint le seuil de {min_score} sur vos sujets.",
           "nothing": "rien de notable", "health_ok": "Les {total} sources répondent normalement.",
           "health_bad": "{n} source(s) sur {total} en échec répété : {names}.",
           "trend_row": "{term} : {count} mentions cette semaine (moyenne {baseline})",
           "no_trend": "Aucun terme ne ressort nettement cette semaine.",
           "footer": "Vous recevez ce bulletin en tant que membre de l'audience « {audience} » de la veille de {company}.",
           "unsubscribe": "Se désinscrire", "archive": "Archives", "covers": "Articles repérés du {start} au {end}",
           "alert": "Alerte", "alert_intro": "Un article dépasse votre seuil d'alerte ({min_score}).",
           "unknown_date": "date inconnue", "competitor": "Concurrent"},
    "en": {"colon": ":", "title": "Market watch", "week": "Week", "day": "Day of", "items": "items", "item": "item",
           "why": "Why", "also_one": "Also reported by 1 source: {names}",
           "also_many": "Also reported by {n} sources: {names}", "grade": "reliability", "published": "published",
           "older": "published {days} days ago (−{points})", "chart": "Items per category",
           "chart_alt": "Bar chart: items per category over the last 7 days, compared with the weekly average of "
                        "the 4 weeks before.",
           "chart_row": "{label}: {count} this week (average {avg})", "this_week": "last 7 days",
           "average": "average of the 4 weeks before",
           "empty": "Nothing notable this period: no item reached the threshold of {min_score} on your topics.",
           "nothing": "nothing notable", "health_ok": "All {total} sources answer normally.",
           "health_bad": "{n} of {total} source(s) failing repeatedly: {names}.",
           "trend_row": "{term}: {count} mentions this week (average {baseline})",
           "no_trend": "No term stands out this week.",
           "footer": "You receive this brief as a member of the “{audience}” audience of {company}'s market watch.",
           "unsubscribe": "Unsubscribe", "archive": "Archive", "covers": "Items found from {start} to {end}",
           "alert": "Alert", "alert_intro": "An item is above your alert threshold ({min_score}).",
           "unknown_date": "unknown date", "competitor": "Competitor"},
}


@dataclass
class Rendered:
    subject: str
    html: str
    text: str
    chart: bytes | None
    chart_cid: str | None


def luminance(colour: str) -> float:
    """WCAG relative luminance of a #rrggbb colour."""
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def safe_url(url: str | None) -> str | None:
    """The URL when it is an http(s) address a reader may click; None for javascript:, data:, relative, odd ones."""
    if not url or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def short_summary(text: str | None, limit: int = 300) -> str:
    """The first one or two sentences, at most about `limit` characters."""
    text = " ".join((text or "").split())
    out = ""
    for sentence in re.split(r"(?<=[.!?…])\s+", text)[:2]:
        if out and len(out) + len(sentence) + 1 > limit:
            break
        out = f"{out} {sentence}".strip()
    if len(out) > limit:
        out = out[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return out


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
                      autoescape=select_autoescape(enabled_extensions=("html", "atom"), default_for_string=True,
                                                   default=False),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return env


@lru_cache(maxsize=2)
def label_names(lang: str) -> dict[str, str]:
    """Label names of nlp/taxonomy.yaml in `lang`, capitalised (read once per process and language)."""
    return {key: value[:1].upper() + value[1:] for key, value in taxonomy_names(lang).items()}


def display_names(config: Config, lang: str) -> dict[str, str]:
    """Label, theme and competitor ids as the reader should see them."""
    names = dict(label_names(lang))
    names.update({theme.id: theme.label for theme in config.themes})
    names.update({competitor.id: competitor.name for competitor in config.competitors})
    return names


class Renderer:
    """Renders digests and alerts for one audience."""

    def __init__(self, config: Config, audience: Audience):
        self.config = config
        self.audience = audience
        self.lang = audience.language
        self.t = TEXTS[self.lang]
        self.zone = ZoneInfo(audience_zone(audience))
        self.names = display_names(config, self.lang)
        self.sources = {source.id: source for source in config.sources}

    # -- pieces ------------------------------------------------------------------------------------------

    def date(self, value: str | datetime | None, style: str = "medium") -> str:
        if not value:
            return self.t["unknown_date"]
        when = datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_date(when.astimezone(self.zone).date(), style, locale=self.lang)

    def number(self, value: float) -> str:
        return format_decimal(value, "#,##0.#", locale=self.lang)

    def item(self, pick: Pick) -> dict[str, Any]:
        row = pick.row
        source = self.sources.get(row["source"])
        reasons = reasons_of(pick)
        why = render_reasons(reasons, self.lang, self.names) if reasons else ""
        penalty = recency_penalty(pick.age_days)
        if penalty:
            older = self.t["older"].format(days=int(pick.age_days), points=penalty)
            why = f"{why} · {older}" if why else older[:1].upper() + older[1:]
        moves_first = sorted(row["labels"], key=lambda l: (l["axis"] != "moves", -l["score"]))
        also = ""
        if pick.also:
            names = ", ".join(self.sources[s].name if s in self.sources else s for s in pick.also_sources)
            also = (self.t["also_one"] if pick.also == 1 else self.t["also_many"]).format(n=pick.also, names=names)
        competitor = row["actor_competitor"] or min(pick.companies, default="")
        return {"id": row["id"], "title": " ".join((row["title"] or "").split()) or row["url"] or "—",
                "url": safe_url(row["url"]), "source": source.name if source else row["source"],
                "grade": source.reliability if source else "F",
                "date": self.date(pick.earliest or row["published_at"]),  # a story dates from its first report
                "summary": short_summary(row["summary"]), "score": pick.rank_score,
                "labels": [self.names.get(l["label"], l["label"]) for l in moves_first],
                "why": why, "also": also, "competitor": self.names.get(competitor, competitor)}

    def period_label(self, selection: Selection) -> str:
        if "-W" in selection.period:
            week = int(selection.period.split("-W")[1])
            return f"{self.t['week']} {week} · {selection.period[:4]}"
        return f"{self.t['day']} {self.date(selection.cutoff, 'long')}"

    def covers(self, start: datetime, end: datetime) -> str:
        start_local, end_local = start.astimezone(self.zone), end.astimezone(self.zone)
        if start_local.date() == end_local.date():
            return self.t["covers"].format(start=format_datetime(start_local, "short", locale=self.lang),
                                           end=format_datetime(end_local, "HH:mm", locale=self.lang))
        return format_interval(start_local.date(), end_local.date(), "yMMMd", locale=self.lang)

    def chart_text(self, rows: list[tuple[str, int, float]]) -> list[str]:
        return [self.t["chart_row"].format(label=self.names.get(label, label), count=count, avg=self.number(avg))
                for label, count, avg in rows]

    def health_line(self, health: dict[str, Any]) -> str:
        failing = health.get("failing") or []
        if not failing:
            return self.t["health_ok"].format(total=health.get("total", 0))
        names = ", ".join(f"{self.sources[s['id']].name if s['id'] in self.sources else s['id']}"
                          f" ({(s['last_error'] or s['status'] or '')[:60]})" for s in failing)
        return self.t["health_bad"].format(n=len(failing), total=health.get("total", 0), names=names)

    def trend_rows(self, trends: list[Any]) -> list[dict[str, Any]]:
        from nlp.trends import sparkline

        return [{"text": self.t["trend_row"].format(term=self.names.get(t.term, t.term), count=t.count,
                                                    baseline=self.number(t.baseline)),
                 "spark": sparkline(t.weeks)} for t in trends]

    def common(self) -> dict[str, Any]:
        delivery = self.config.delivery
        unsubscribe = delivery.unsubscribe_url or delivery.unsubscribe or f"mailto:{delivery.sender}"
        return {"lang": self.lang, "t": self.t, "c": PALETTE["light"], "dark": PALETTE["dark"],
                "company": self.config.company.name, "audience": self.audience.name or self.audience.id,
                "unsubscribe": unsubscribe, "archive_url": delivery.archive_url,
                "footer": self.t["footer"].format(audience=self.audience.name or self.audience.id,
                                                  company=self.config.company.name)}

    def subject(self, selection: Selection) -> str:
        count = selection.count
        amount = (f"{count} {self.t['item'] if count == 1 else self.t['items']}" if count else self.t["nothing"])
        return f"{self.t['title']} · {self.audience.name or self.audience.id} · {self.period_label(selection)}" \
               f"{self.t['colon']} {amount}"

    # -- whole messages ------------------------------------------------------------------------------------

    def digest(self, selection: Selection, chart_cid: str) -> Rendered:
        from digests.chart import draw_chart

        sections = []
        for section in selection.sections:
            if section.kind == "items" and not section.items:
                continue
            entry: dict[str, Any] = {"id": section.spec.id, "title": section.title, "kind": section.kind,
                                     "layout": section.spec.layout, "items": [self.item(p) for p in section.items],
                                     "grouped": section.spec.group_by == "competitor"}
            if section.kind == "trends":
                entry["rows"] = self.trend_rows(selection.trends)
            elif section.kind == "health":
                entry["line"] = self.health_line(selection.health)
            sections.append(entry)
        chart_rows = self.chart_text(selection.chart)
        chart = draw_chart([(self.names.get(l, l), n, avg) for l, n, avg in selection.chart],
                           self.t["this_week"], self.t["average"]) if selection.chart else None
        empty = selection.count == 0
        context = {**self.common(), "subject": self.subject(selection), "period": self.period_label(selection),
                   "covers": self.covers(selection.since, selection.cutoff), "sections": sections, "empty": empty,
                   "empty_text": self.audience.empty_text or self.t["empty"].format(min_score=self.audience.min_score),
                   "chart_src": f"cid:{chart_cid}" if chart else None, "chart_rows": chart_rows,
                   "chart_alt": self.t["chart_alt"], "count": selection.count}
        env = environment()
        return Rendered(subject=context["subject"], html=env.get_template("digest.html").render(context),
                        text=env.get_template("digest.txt").render(context), chart=chart,
                        chart_cid=chart_cid if chart else None)

    def alert(self, pick: Pick) -> Rendered:
        item = self.item(pick)
        subject = f"{self.t['alert']} · {item['title']}"[:180]
        context = {**self.common(), "subject": subject, "item": item,
                   "intro": self.t["alert_intro"].format(min_score=self.audience.alerts.min_score
                                                         if self.audience.alerts else self.audience.min_score)}
        env = environment()
        return Rendered(subject=subject, html=env.get_template("alert.html").render(context),
                        text=env.get_template("alert.txt").render(context), chart=None, chart_cid=None)
