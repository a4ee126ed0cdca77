"""The sources audit: are the watch's sources legitimate, diversified, complementary, healthy and productive?

One entry function, `audit_sources`, reads the configuration and what the store recorded about each source
(fetches, items carried, items that reached a digest) and returns one row per source, the diversity counts and
recommendations. `veille sources audit` prints it; the watch plan uses it for its points 4 and 6.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from watch.config import Config, Source
from watch.i18n import N_, tx_in
from watch.models import utcnow

WINDOW_DAYS = 28          # "recent": the last four weeks
SILENT_DAYS = 30          # a source with nothing published in this long has gone quiet
LOW_SUCCESS = 0.8         # below this share of successful fetches a source is unhealthy
SEVERITIES = ("high", "medium", "low")


@dataclass(frozen=True)
class Finding:
    """A gap in the watch process: which of the nine points it weakens, how badly, and how to close it."""

    point: int
    severity: str  # high: the criterion is not met; medium: weakened; low: worth improving
    code: str      # stable, for scripts and tests
    message: str
    hint: str = ""
    subjects: tuple[str, ...] = ()  # ids of the sources, themes, audiences concerned

    def as_json(self) -> dict[str, Any]:
        return {"point": self.point, "severity": self.severity, "code": self.code, "message": self.message,
                "hint": self.hint, "subjects": list(self.subjects)}


@dataclass
class SourcesAudit:
    generated_at: datetime
    sources: list[dict[str, Any]]
    diversity: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"generated_at": self.generated_at.isoformat(), "window_days": WINDOW_DAYS, "sources": self.sources,
                "diversity": self.diversity, "recommendations": [f.as_json() for f in self.findings]}


def is_online(source: Source) -> bool:
    """Field notes and imported documents are offline sources, whatever their format."""
    return source.kind != "offline" and source.type != "field"


def schedule_text(schedule: Any) -> str:
    if schedule is None:
        return ""
    return f"every {schedule.every}" if schedule.every else f"cron {schedule.cron} ({schedule.timezone})"


def sorted_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), f.point, f.code))


def audit_sources(config: Config, store: Any, *, now: datetime | None = None, lang: str = "fr",
                  items: list[dict[str, Any]] | None = None) -> SourcesAudit:
    """Audit every configured source; `items` (published in the last WINDOW_DAYS) may be passed if already read."""
    now = now or utcnow()
    say = functools.partial(tx_in, lang)
    activity = store.source_activity(now - timedelta(days=SILENT_DAYS))
    if items is None:
        items = store.published_since(now - timedelta(days=WINDOW_DAYS))
    recent = Counter(s for item in items for s in item["sources"])
    rows = [_source_row(source, activity.get(source.id), recent[source.id], say) for source in config.sources]
    diversity = _diversity(config, items)
    findings = _source_findings(config, rows, say) + _diversity_findings(config, diversity, say)
    tags: dict[str, list[str]] = {}
    for finding in findings:
        for subject in finding.subjects:
            tags.setdefault(subject, []).append(finding.code)
    for row in rows:
        row["findings"] = tags.get(row["id"], [])
    return SourcesAudit(now, rows, diversity, sorted_findings(findings))


def _source_row(source: Source, state: dict[str, Any] | None, recent_items: int, say) -> dict[str, Any]:
    state = state or {}
    fetches = state.get("fetches") or 0
    last_error = state.get("last_error") or ""
    if not is_online(source):
        robots = say("not applicable (offline)")
    elif "robots" in (last_error + (state.get("warning") or "")).lower():  # spiders record refused pages as a warning
        robots = say("forbidden by robots.txt")
    elif source.kind == "feed":
        robots = say("feed published to be polled")
    elif source.kind == "spider":
        robots = say("obeyed at each crawl (Scrapy)")
    else:  # the page watch reads one public page on its schedule, as a visitor would, without robots.txt
        robots = say("not consulted: one public page re-read on its schedule")
    items = state.get("items") or 0
    in_digest = state.get("in_digest")
    collected = bool(state.get("last_fetch_at")) or items > 0
    return {
        "id": source.id, "name": source.name, "kind": source.kind, "type": source.type, "language": source.language,
        "country": source.country, "online": is_online(source), "reliability": source.reliability,
        "access": source.access, "legitimacy": source.legitimacy.strip(), "robots": robots,
        "themes": list(source.themes), "competitor": source.competitor, "internal": source.internal,
        "schedule": schedule_text(source.schedule),
        "status": (state.get("status") or "active") if collected else "never",
        "fetches_30d": fetches, "success_rate": round((state.get("fetches_ok") or 0) / fetches, 2) if fetches else None,
        "failures": state.get("failures") or 0, "backoff_until": state.get("next_attempt_at"),
        "last_success": state.get("last_success_at"), "last_error": last_error or None,
        "items": items, "items_30d": state.get("items_since") or 0,
        "items_per_week": round(recent_items * 7 / WINDOW_DAYS, 1), "last_item": state.get("last_published"),
        "in_digest": in_digest, "digest_share": round(in_digest / items, 2) if in_digest is not None and items else None,
    }


def _diversity(config: Config, items: list[dict[str, Any]]) -> dict[str, Any]:
    sources = config.sources
    mentioned: dict[str, Counter] = {c.id: Counter() for c in config.competitors}
    for item in items:
        for competitor in item["competitors"]:
            if competitor in mentioned:
                mentioned[competitor].update(item["sources"])
    return {
        "type": dict(Counter(s.type for s in sources)),
        "language": dict(Counter(s.language for s in sources)),
        "country": dict(Counter(s.country or "?" for s in sources)),
        "online": {"online": sum(is_online(s) for s in sources), "offline": sum(not is_online(s) for s in sources)},
        "reliability": dict(sorted(Counter(s.reliability for s in sources).items())),
        "access": dict(Counter(s.access for s in sources)),
        "themes": {t.id: {"sources": [s.id for s in sources if t.id in s.themes],
                          "types": sorted({s.type for s in sources if t.id in s.themes}),
                          "languages": sorted({s.language for s in sources if t.id in s.themes}),
                          "online": sorted({"online" if is_online(s) else "offline" for s in sources if t.id in s.themes})}
                   for t in config.themes},
        "competitors": {c.id: {"own_sources": [s.id for s in sources if s.competitor == c.id],
                               "mentioned_by": sorted(mentioned[c.id]), "items": sum(mentioned[c.id].values())}
                        for c in config.competitors},
    }


def _ids(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(r["id"] for r in rows)


def _listing(ids: tuple[str, ...]) -> str:
    return ", ".join(ids[:8]) + (" …" if len(ids) > 8 else "")


def _sources_finding(found: list[Finding], say, point: int, severity: str, code: str, ids: tuple[str, ...],
                     what: str, hint: str) -> None:
    """One finding about several sources: "3 source(s) have produced nothing in 30 days: a, b, c"."""
    if ids:
        # `what` and `hint` are msgids marked with N_ where the finding is described.
        found.append(Finding(point, severity, code, say(what, n=len(ids), listing=_listing(ids),
                                                        silent_days=SILENT_DAYS), say(hint), ids))


def _source_findings(config: Config, rows: list[dict[str, Any]], say) -> list[Finding]:
    found: list[Finding] = []
    _sources_finding(found, say, 6, "high", "never-collected",
                     _ids([r for r in rows if r["status"] == "never" and r["online"]]),
                     N_("{n} source(s) never collected: {listing}"),
                     N_("run `veille collect` (or `veille demo` for the demo sector)"))
    _sources_finding(found, say, 6, "medium", "offline-empty",
                     _ids([r for r in rows if r["status"] == "never" and not r["online"]]),
                     N_("{n} offline source(s) without any note: {listing}"),
                     N_("enter observations with `veille add` or import them with `veille import FILE.csv`"))
    for row in rows:
        if row["status"] in ("failing", "gone"):
            found.append(Finding(6, "high", "failing-source", say("source {id} is failing ({failures} failure(s) "
                                                                  "in a row): {last_error}", id=row['id'], failures=row['failures'], last_error=row['last_error']),
                say("check its address, then `veille sources reset {id}`", id=row["id"]), (row["id"],)))
        elif row["success_rate"] is not None and row["fetches_30d"] >= 3 and row["success_rate"] < LOW_SUCCESS:
            found.append(Finding(6, "medium", "unreliable-source", say("source {id} answered only "
                                                                       "{success_rate:.0%} of the time over 30 "
                                                                       "days", id=row['id'], success_rate=row['success_rate']),
                say("see `veille sources list` for the last error"),
                (row["id"],)))
    # A watched page that did not change is not silent: its checks succeeded and found nothing new.
    _sources_finding(found, say, 6, "medium", "silent-sources",
                     _ids([r for r in rows if r["status"] != "never" and r["items_30d"] == 0
                           and not (r["kind"] == "page" and r["success_rate"])]),
                     N_("{n} source(s) have produced nothing in {silent_days} days: {listing}"),
                     N_("check they still publish, or replace them"))
    _sources_finding(found, say, 4, "medium", "no-legitimacy-note", _ids([r for r in rows if not r["legitimacy"]]),
                     N_("{n} source(s) without a legitimacy note: {listing}"),
                     N_("write in `legitimacy` why collecting it is allowed (public feed, licence, subscription)"))
    _sources_finding(found, say, 4, "low", "restricted-access", _ids([r for r in rows if r["access"] != "free"]),
                     N_("{n} source(s) behind a paywall or a login: {listing}"),
                     N_("check the subscription allows this use and never pass on the full text"))
    _sources_finding(found, say, 4, "low", "unjudged-sources", _ids([r for r in rows if r["reliability"] in ("E", "F")]),
                     N_("{n} source(s) graded E or F (doubtful or cannot be judged): {listing}"),
                     N_("grade them (Admiralty code A-F) or always cross-check them"))
    if any(r["in_digest"] is not None for r in rows):
        _sources_finding(found, say, 4, "low", "unused-sources",
                         _ids([r for r in rows if r["items"] >= 5 and r["in_digest"] == 0]),
                         N_("{n} source(s) of which no item reached a digest: {listing}"),
                         N_("review their themes, their grade or whether they are worth it"))
    return found


def _diversity_findings(config: Config, diversity: dict[str, Any], say) -> list[Finding]:
    sources = config.sources
    if not sources:
        return [Finding(4, "high", "no-sources", say("no source declared"),
                        say("add sources (`veille sources add URL`)"))]
    found: list[Finding] = []
    if not diversity["online"]["offline"]:
        found.append(Finding(4, "medium", "no-offline-source", say("no offline source (field notes, trade fairs, "
                                                                   "purchased studies)"),
            say("add a `kind: offline` source (type field) for the sales team's field notes")))
    if len(diversity["type"]) == 1:
        found.append(Finding(4, "medium", "one-source-type", say("every source is of the same type ({next})", next=next(iter(diversity['type']))),
            say("add trade press, institutional sources and the competitors' own")))
    if "institutional" not in diversity["type"]:
        found.append(Finding(4, "medium", "no-institutional-source", say("no institutional source (public "
                                                                         "statistics, official texts)"),
            say("add a reference body, graded A or B")))
    if len(diversity["language"]) == 1:
        found.append(Finding(4, "low", "one-language", say("every source is in {next}", next=next(iter(diversity['language']))),
            say("add sources in a second language (international market)")))
    if len(diversity["country"]) == 1 and len(sources) > 1:
        found.append(Finding(4, "low", "one-country", say("every source comes from one country ({next})", next=next(iter(diversity['country']))),
            say("add foreign sources on the priority themes")))
    languages = set(diversity["language"])
    for theme in config.themes:
        cover = diversity["themes"][theme.id]
        if not cover["sources"]:
            found.append(Finding(4, "high", "theme-uncovered", say("no source covers the theme {id} ({label})", id=theme.id, label=theme.label),
                say("add {id} to a source's `themes`, or a source about it", id=theme.id), (theme.id,)))
            continue
        if len(cover["sources"]) == 1:
            found.append(Finding(4, "medium", "theme-single-source", say("the theme {id} rests on the single "
                                                                         "source {sources}: nothing to "
                                                                         "cross-check it", id=theme.id, sources=cover['sources'][0]),
                say("add a second source of another type"), (theme.id,)))
        if "institutional" not in cover["types"] and "institutional" in diversity["type"]:
            found.append(Finding(4, "medium", "theme-no-institutional", say("no institutional source covers the "
                                                                            "theme {id} ({label})", id=theme.id, label=theme.label),
                say("add an official source (statistics, texts, reference body) on this theme"), (theme.id,)))
        if len(languages) > 1 and len(cover["languages"]) == 1:
            found.append(Finding(4, "low", "theme-one-language", say("the theme {id} is only watched in {languages}", id=theme.id, languages=cover['languages'][0]),
                say("add a source in the other language on it"),
                (theme.id,)))
    own_less = tuple(c for c, d in diversity["competitors"].items() if not d["own_sources"])
    if own_less:
        found.append(Finding(4, "low", "competitor-no-own-source", say("{n_own_less} competitor(s) without a "
                                                                       "source of their own (press room, site): "
                                                                       "{listing}", n_own_less=len(own_less), listing=_listing(own_less)),
            say("add their press room (`veille sources add URL --type competitor`)"), own_less))
    return found
