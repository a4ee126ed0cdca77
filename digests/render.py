"""Render a selection as an e-mail: HTML (table layout, inline CSS, dark mode, WCAG AA colours) and plain text.

Everything that comes from a feed is data: Jinja2 escapes it in HTML, and a link is only a link when it is http(s).
Dates and numbers are formatted for the audience's language with Babel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.lists import format_list
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from digests.indicators import figure_parts
from digests.periods import audience_zone
from digests.select import Pick, Selection, reasons_of
from nlp.score import render_reasons, taxonomy_names
from nlp.trends import week_monday
from watch.config import Audience, Config
from watch.i18n import N_, NC_, tx_in, tx_p_in
from watch.models import utcnow

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

# The Admiralty grades of source reliability in words (msgids), as the reader reads them.
RELIABILITY = {"A": N_("completely reliable source"),
               "B": N_("usually reliable source"),
               "C": N_("fairly reliable source"),
               "D": N_("not usually reliable source"),
               "E": N_("unreliable source"),
               "F": N_("source reliability unknown")}

# The digests' words, msgids with the msgctxt "digest" (French in the catalogue). One word per language:
# "bulletin" in French, "digest" in English, as the CLI (`veille digest`) and the README.
_TEXTS_EN = {
    "colon": NC_("digest", ":"),
    "title": NC_("digest", "Market watch"),
    "week": NC_("digest", "week {week} ({days})"),
    "day": NC_("digest", "day of {day}"),
    "items": NC_("digest", "items"),
    "item": NC_("digest", "item"),
    "why": NC_("digest", "Why"),
    "also": NC_("digest", "Also reported by {names}"),
    "today": NC_("digest", "today"),
    "yesterday": NC_("digest", "yesterday"),
    "days_ago": NC_("digest", "{days} days ago"),
    "chart": NC_("digest", "Items per category"),
    "chart_alt": NC_("digest", "Bar chart: items per category over the last 7 days, compared with the weekly average "
                               "of the 4 weeks before."),
    "row": NC_("digest", "{label}: {count} (average {avg})"),
    "this_week": NC_("digest", "last 7 days"),
    "average": NC_("digest", "weekly average of the 4 weeks before"),
    "baseline": NC_("digest", "Items of the last 7 days; average: per week, over the 4 weeks before."),
    "empty": NC_("digest", "Nothing notable this period: no item reached the threshold of {min_score} on your "
                           "topics."),
    "nothing": NC_("digest", "nothing notable"),
    "health_ok": NC_("digest", "All {total} sources answered normally in the period."),
    "health_bad_one": NC_("digest", "1 of {total} sources failed in the period: {names}."),
    "health_bad": NC_("digest", "{n} of {total} sources failed in the period: {names}."),
    "failing_since": NC_("digest", "failing since {since}"),
    "recovered": NC_("digest", "failed on {first}, recovered since"),
    "no_trend": NC_("digest", "No term stands out over the last 7 days."),
    "footer": NC_("digest", "You receive this digest because you are on the “{audience}” list of {company}'s market "
                            "watch."),
    "unsubscribe": NC_("digest", "Unsubscribe"),
    "archive": NC_("digest", "Archive"),
    "covers": NC_("digest", "Items found from {start} to {end}"),
    "covers_day": NC_("digest", "Items found on {day} from {start} to {end}"),
    "alert": NC_("digest", "Alert"),
    "alert_intro": NC_("digest", "An item is above your alert threshold ({min_score})."),
    "unknown_date": NC_("digest", "unknown date"),
    "competitor": NC_("digest", "Competitor"),
    "indicator": NC_("digest", "Indicator followed"),
}


@lru_cache(maxsize=2)
def texts(lang: str) -> dict[str, str]:
    """The digests' words in `lang`, read once from the catalogue: templates use them as `t.key`."""
    return {key: tx_p_in(lang, "digest", message) for key, message in _TEXTS_EN.items()}


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
    names.update({theme.id: theme.label_in(lang) for theme in config.themes})
    names.update({competitor.id: competitor.name for competitor in config.competitors})
    return names


class Renderer:
    """Renders digests and alerts for one audience."""

    def __init__(self, config: Config, audience: Audience):
        self.config = config
        self.audience = audience
        self.lang = audience.language
        self.t = texts(self.lang)
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

    def age(self, value: str | None, now: datetime) -> str:
        """"il y a 12 jours": calendar days in the reader's time zone, between the date shown and `now`."""
        if not value:
            return ""
        days = (now.astimezone(self.zone).date() - datetime.fromisoformat(value).astimezone(self.zone).date()).days
        return self.t["today"] if days <= 0 else self.t["yesterday"] if days == 1 else self.t["days_ago"].format(days=days)

    def item(self, pick: Pick, now: datetime) -> dict[str, Any]:
        row = pick.row
        source = self.sources.get(row["source"])
        reasons = self.followed_theme(reasons_of(pick))
        why = render_reasons(reasons, self.lang, self.names) if reasons else ""
        moves_first = sorted(row["labels"], key=lambda l: (l["axis"] != "moves", -l["score"]))
        also = ""
        if pick.also:
            also = self.t["also"].format(names=self.names_list(
                [self.sources[s].name if s in self.sources else s for s in pick.also_sources]))
        competitor = row["actor_competitor"] or min(pick.companies, default="")
        shown = pick.earliest or row["published_at"]  # a story dates from its first report
        grade = source.reliability if source else "F"
        indicator = pick.indicator
        return {"id": row["id"], "title": " ".join((row["title"] or "").split()) or row["url"] or "—",
                "url": safe_url(row["url"]), "source": source.name if source else row["source"],
                "grade": grade, "grade_words": tx_in(self.lang, RELIABILITY[grade]),
                "date": self.date(shown), "age": self.age(shown, now),
                "summary": short_summary(row["summary"]), "score": pick.rank_score,
                "labels": [self.names.get(l["label"], l["label"]) for l in moves_first],
                "why": why, "also": also, "competitor": self.names.get(competitor, competitor),
                "figure": indicator.figure if indicator else "",
                "figure_parts": figure_parts(indicator.figure) if indicator else [],
                "indicator": f"{self.t['indicator']}{self.t['colon']} {indicator.name}" if indicator else ""}

    def followed_theme(self, reasons: list[dict]) -> list[dict]:
        """The reasons with, as their theme, the best theme of the item that this audience follows: partners who
        follow regulation read "thème « Réglementation… »", not the battery theme that gave the item its points."""
        followed = self.audience.interests.themes
        themes = {theme.id: theme for theme in self.config.themes}
        out = []
        for reason in reasons:
            matched = [t for t in reason.get("themes", ()) if t in followed and t in themes]
            if reason["kind"] == "theme" and matched and reason["id"] not in followed:
                reason = {**reason, "id": min(matched, key=lambda t: (themes[t].priority, matched.index(t)))}
            out.append(reason)
        return out

    def names_list(self, names: list[str]) -> str:
        return format_list(names, locale=self.lang) if names else ""

    def period_label(self, selection: Selection) -> str:
        """"semaine 50 (7–13 décembre 2026)", or "journée du 8 décembre 2026" for a daily audience."""
        if "-W" in selection.period:
            monday = week_monday(selection.period)
            days = self.days(monday, monday + timedelta(days=6))
            return self.t["week"].format(week=int(selection.period.split("-W")[1]), days=days)
        return self.t["day"].format(day=self.date(selection.cutoff, "long"))

    def days(self, first: date, last: date) -> str:
        """"7–13 décembre 2026", "30 novembre – 6 décembre 2026" (Babel's intervals abbreviate the month)."""
        fr = self.lang == "fr"
        if (first.year, first.month) == (last.year, last.month):
            return (f"{first.day}–{format_date(last, 'd MMMM y', locale='fr')}" if fr
                    else f"{format_date(first, 'MMMM d', locale='en')}–{last.day}, {last.year}")
        head = "d MMMM" if first.year == last.year else "d MMMM y"
        if fr:
            return f"{format_date(first, head, locale='fr')} – {format_date(last, 'd MMMM y', locale='fr')}"
        return f"{format_date(first, 'MMMM d' if first.year == last.year else 'MMMM d, y', locale='en')} – " \
               f"{format_date(last, 'MMMM d, y', locale='en')}"

    def covers(self, start: datetime, end: datetime) -> str:
        start_local, end_local = start.astimezone(self.zone), end.astimezone(self.zone)
        if start_local.date() == end_local.date():
            return self.t["covers_day"].format(day=self.day(start_local), start=format_datetime(start_local, "HH:mm", locale=self.lang),
                                               end=format_datetime(end_local, "HH:mm", locale=self.lang))
        same_month = (start_local.year, start_local.month) == (end_local.year, end_local.month)
        start_text = self.day(start_local, month=not same_month or self.lang != "fr")
        end_text = self.day(end_local, month=not same_month or self.lang == "fr")
        return self.t["covers"].format(start=start_text, end=end_text)

    def day(self, moment: datetime, month: bool = True) -> str:
        """"1er décembre", "8 décembre", "December 8"; the day alone without `month` ("1er", "8")."""
        first = self.lang == "fr" and moment.day == 1
        if not month:
            return "1er" if first else str(moment.day)
        if first:
            return format_date(moment.date(), "'1er' MMMM", locale="fr")
        return format_date(moment.date(), "d MMMM" if self.lang == "fr" else "MMMM d", locale=self.lang)

    def chart_text(self, rows: list[tuple[str, int, float]]) -> list[str]:
        return [self.t["row"].format(label=self.names.get(label, label), count=count, avg=self.number(avg))
                for label, count, avg in rows]

    def health_line(self, health: dict[str, Any]) -> str:
        failed = health.get("failed") or []
        total = health.get("total", 0)
        if not failed:
            return self.t["health_ok"].format(total=total)
        names = []
        for row in failed:
            name = self.sources[row["id"]].name if row["id"] in self.sources else row["id"]
            if row.get("failing_since"):
                state = self.t["failing_since"].format(since=self.moment(row["failing_since"]))
            else:
                state = self.t["recovered"].format(first=self.moment(row["first_failed"]))
            error = " ".join((row.get("last_error") or "").split())[:60] if row.get("failing_since") else ""
            names.append(f"{name} ({state}{' · ' + error if error else ''})")
        key = "health_bad_one" if len(failed) == 1 else "health_bad"
        return self.t[key].format(n=len(failed), total=total, names=self.names_list(names))

    def moment(self, value: str) -> str:
        local = datetime.fromisoformat(value).astimezone(self.zone)
        return format_datetime(local, "d MMM HH:mm" if self.lang == "fr" else "MMM d HH:mm", locale=self.lang)

    def trend_rows(self, trends: list[Any]) -> list[dict[str, Any]]:
        from nlp.trends import sparkline

        return [{"text": self.t["row"].format(label=self.names.get(t.term, t.term), count=t.count,
                                              avg=self.number(t.baseline)),
                 "spark": sparkline(t.weeks)} for t in trends]

    def common(self) -> dict[str, Any]:
        delivery = self.config.delivery
        unsubscribe = delivery.unsubscribe_url or delivery.unsubscribe or f"mailto:{delivery.sender}"
        return {"lang": self.lang, "t": self.t, "c": PALETTE["light"], "dark": PALETTE["dark"],
                "company": self.config.company.name, "audience": self.audience.name or self.audience.id,
                "unsubscribe": unsubscribe, "archive_url": delivery.archive_url,
                "footer": self.t["footer"].format(audience=self.audience.name or self.audience.id,
                                                  company=self.config.company.name)}

    def amount(self, count: int) -> str:
        return f"{count} {self.t['item'] if count == 1 else self.t['items']}" if count else self.t["nothing"]

    def subject(self, selection: Selection) -> str:
        count = selection.count
        amount = self.amount(count)
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
                                     "layout": section.spec.layout, "items": [self.item(p, selection.cutoff) for p in section.items],
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
        period = self.period_label(selection)
        context = {**self.common(), "subject": self.subject(selection), "period": period[:1].upper() + period[1:],
                   "covers": self.covers(selection.since, selection.cutoff), "sections": sections, "empty": empty,
                   "empty_text": self.audience.empty_text or self.t["empty"].format(min_score=self.audience.min_score),
                   "chart_src": f"cid:{chart_cid}" if chart else None, "chart_rows": chart_rows,
                   "chart_alt": self.t["chart_alt"], "count": selection.count, "baseline": self.t["baseline"]}
        env = environment()
        return Rendered(subject=context["subject"], html=env.get_template("digest.html").render(context),
                        text=env.get_template("digest.txt").render(context), chart=chart,
                        chart_cid=chart_cid if chart else None)

    def alert(self, pick: Pick) -> Rendered:
        item = self.item(pick, utcnow())
        subject = f"{self.t['alert']} · {item['title']}"[:180]
        context = {**self.common(), "subject": subject, "item": item,
                   "intro": self.t["alert_intro"].format(min_score=self.audience.alerts.min_score
                                                         if self.audience.alerts else self.audience.min_score)}
        env = environment()
        return Rendered(subject=subject, html=env.get_template("alert.html").render(context),
                        text=env.get_template("alert.txt").render(context), chart=None, chart_cid=None)
