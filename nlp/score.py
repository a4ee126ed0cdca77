"""Relevance score 0-100 of an item, with its reasons kept as data and rendered in the reader's language.

The score adds evidence a watch analyst weighs: the item touches a watched theme (by its priority), names a
competitor (direct above indirect), reports a competitor's move (by the move's confidence), comes from a reliable
source, is corroborated (credibility), and was told by several sources. Recency is not in the score: a digest
applies it when it is built.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from nlp.themes import matched_themes, theme_patterns
from watch.i18n import tx_in

TAXONOMY_FILE = Path(__file__).with_name("taxonomy.yaml")

THEME_POINTS = {1: 25, 2: 15, 3: 8}
COMPETITOR_POINTS = {"direct": 25, "indirect": 12}
ACTING_COMPETITOR = 10
MOVE_POINTS = 20
GRADE_POINTS = {"A": 10, "B": 8, "C": 5, "D": 3, "E": 1, "F": 0}
CREDIBILITY_POINTS = {1: 10, 2: 8, 3: 5}
STORY_POINTS_PER_SOURCE, STORY_POINTS_MAX = 5, 15


def taxonomy_names(lang: str = "fr") -> dict[str, str]:
    """label id -> its name in `lang` (fr or en), lower-cased for use inside a sentence (an acronym keeps its
    capitals: "RSE et environnement")."""
    data = yaml.safe_load(TAXONOMY_FILE.read_text(encoding="utf-8"))
    names = {label["id"]: label.get(lang, label["id"]) for axis in ("trends", "moves") for label in data[axis]}
    return {key: name if name[:2].isupper() else name[:1].lower() + name[1:] for key, name in names.items()}


def credibility(distinct_sources: int) -> int:
    """Admiralty credibility from corroboration: 2 'probably true' (3+ independent sources), 3 'possibly true' (2),
    6 'cannot be judged' (1)."""
    return 2 if distinct_sources >= 3 else 3 if distinct_sources == 2 else 6


def score_item(item: dict, config: Any, story_sources: int) -> tuple[int, list[dict]]:
    """(score, reasons) for an item row with `labels`, `companies`, `source`, `credibility`, text fields."""
    reasons: list[dict] = []
    source = next((s for s in config.sources if s.id == item["source"]), None) if config else None
    themes = {t.id: t for t in config.themes} if config else {}
    declared = item.get("declared_themes") or ()
    if isinstance(declared, str):
        declared = json.loads(declared or "[]")
    matched = matched_themes(theme_patterns(themes.values()), item.get("title"), item.get("summary"),
                             item.get("text"), declared)
    if matched:
        # Ties go to the theme declared first in sources.yaml, so that the "why" is the same from run to run.
        best = min(matched, key=lambda t: (themes[t].priority, matched.index(t)))
        priority = themes[best].priority
        # Every matched theme is kept: the digests match audiences on the same themes the score saw.
        reasons.append({"kind": "theme", "id": best, "priority": priority, "points": THEME_POINTS[priority],
                        "themes": matched})
    kinds = {c.id: c.kind for c in config.competitors} if config else {}
    mentioned = [c for c in item.get("companies", ()) if c in kinds]
    if mentioned:
        # The acting competitor first ("Veloce rachète Rouléo" is Veloce's move), then direct before indirect, then
        # the order of sources.yaml: the same company from run to run.
        actor = item.get("actor_competitor")
        order = {c: i for i, c in enumerate(kinds)}
        best = min(mentioned, key=lambda c: (c != actor, kinds[c] != "direct", order[c]))
        reasons.append({"kind": "competitor", "id": best, "direct": kinds[best] == "direct",
                        "points": COMPETITOR_POINTS[kinds[best]]})
    moves = [l for l in item.get("labels", []) if l["axis"] == "moves"]
    if moves:
        top = max(moves, key=lambda l: l["score"])
        acting = item.get("actor_competitor") in kinds
        points = round(MOVE_POINTS * top["score"]) + (ACTING_COMPETITOR if acting else 0)
        reasons.append({"kind": "move", "label": top["label"], "competitor_move": acting, "points": points})
    if source:
        reasons.append({"kind": "grade", "grade": source.reliability, "points": GRADE_POINTS[source.reliability]})
    cred = item.get("credibility") or 6
    if cred in CREDIBILITY_POINTS:
        reasons.append({"kind": "credibility", "value": cred, "points": CREDIBILITY_POINTS[cred]})
    if story_sources > 1:
        reasons.append({"kind": "story", "sources": story_sources,
                        "points": min(STORY_POINTS_PER_SOURCE * (story_sources - 1), STORY_POINTS_MAX)})
    return min(sum(r["points"] for r in reasons), 100), reasons


# Admiralty credibility in words (1 confirmed … 5 improbable); 6, "cannot be judged", is said by saying nothing.
CREDIBILITY_WORDS = {"fr": {1: "confirmé", 2: "probablement vrai", 3: "peut-être vrai", 4: "douteux", 5: "improbable"},
                     "en": {1: "confirmed", 2: "probably true", 3: "possibly true", 4: "doubtful", 5: "improbable"}}


def _lower(name: str) -> str:
    return name if name[:2].isupper() else name[:1].lower() + name[1:]


def render_reasons(reasons: list[dict], lang: str = "fr", names: dict[str, str] | None = None) -> str:
    """The reasons as one short sentence: "Veloce (concurrent direct) : acquisition, thème « Prix et marché »,
    confirmé par 3 sources indépendantes." The source's grade is not repeated: the item's line shows it."""
    names = names or {}
    by = {r["kind"]: r for r in reasons}
    name = lambda key: names.get(key, key)  # noqa: E731
    parts = []
    competitor, move = by.get("competitor"), by.get("move")
    if competitor:
        who = name(competitor["id"])
        rank = tx_in(lang, "direct competitor") if competitor["direct"] else tx_in(lang, "indirect competitor")
        if move and move.get("competitor_move"):
            parts.append(tx_in(lang, "{who} ({rank}): {label}", who=who, rank=rank, label=_lower(name(move["label"]))))
        else:
            parts.append(tx_in(lang, "mentions {who} ({rank})", who=who, rank=rank))
            if move:
                parts.append(_lower(name(move["label"])))
    elif move:
        parts.append(_lower(name(move["label"])))
    if "theme" in by:
        parts.append(tx_in(lang, "theme “{theme}”", theme=name(by["theme"]["id"])))
    sources = by.get("story", {}).get("sources", 0)
    if sources > 1:
        parts.append(tx_in(lang, "confirmed by {sources} independent sources", sources=sources))
    elif by.get("credibility", {}).get("value") in CREDIBILITY_WORDS["en"]:
        word = CREDIBILITY_WORDS[lang if lang in CREDIBILITY_WORDS else "en"][by["credibility"]["value"]]
        parts.append(tx_in(lang, "according to an analyst: {word}", word=word))
    if not parts:
        return ""
    text = ", ".join(parts)
    return text[:1].upper() + text[1:] + "."
