"""Relevance score 0-100 of an item, with its reasons kept as data and rendered in the reader's language.

The score adds evidence a watch analyst weighs: the item touches a watched theme (by its priority), names a
competitor (direct above indirect), reports a competitor's move (by the move's confidence), comes from a reliable
source, is corroborated (credibility), and was told by several sources. Recency is not in the score: a digest
applies it when it is built.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from nlp.text import fold

TAXONOMY_FILE = Path(__file__).with_name("taxonomy.yaml")

THEME_POINTS = {1: 25, 2: 15, 3: 8}
COMPETITOR_POINTS = {"direct": 25, "indirect": 12}
ACTING_COMPETITOR = 10
MOVE_POINTS = 20
GRADE_POINTS = {"A": 10, "B": 8, "C": 5, "D": 3, "E": 1, "F": 0}
CREDIBILITY_POINTS = {1: 10, 2: 8, 3: 5}
STORY_POINTS_PER_SOURCE, STORY_POINTS_MAX = 5, 15


def taxonomy_names(lang: str = "fr") -> dict[str, str]:
    """label id -> its name in `lang` (fr or en), lower-cased for use inside a sentence."""
    data = yaml.safe_load(TAXONOMY_FILE.read_text(encoding="utf-8"))
    return {label["id"]: label.get(lang, label["id"]).lower() for axis in ("trends", "moves") for label in data[axis]}


def credibility(distinct_sources: int) -> int:
    """Admiralty credibility from corroboration: 2 'probably true' (3+ independent sources), 3 'possibly true' (2),
    6 'cannot be judged' (1)."""
    return 2 if distinct_sources >= 3 else 3 if distinct_sources == 2 else 6


@lru_cache(maxsize=256)
def _theme_words(theme_id: str, keywords: tuple[str, ...]) -> tuple[str, ...]:
    """A theme's keywords folded once per run rather than once per item."""
    return tuple(fold(k) for k in keywords if len(k) > 2)


def score_item(item: dict, config: Any, story_sources: int) -> tuple[int, list[dict]]:
    """(score, reasons) for an item row with `labels`, `companies`, `source`, `credibility`, text fields."""
    reasons: list[dict] = []
    text = fold(" ".join(filter(None, (item.get("title"), item.get("summary"), item.get("text")))))
    source = next((s for s in config.sources if s.id == item["source"]), None) if config else None
    themes = {t.id: t for t in config.themes} if config else {}
    matched = set(source.themes if source else ())
    for theme in themes.values():
        if any(k in text for k in _theme_words(theme.id, tuple(w for ws in theme.keywords.values() for w in ws))):
            matched.add(theme.id)
    if matched:
        # Ties go to the theme declared first in sources.yaml, so that the "why" is the same from run to run
        # (a set's order changes with each process).
        order = {t: i for i, t in enumerate(themes)}
        best = min(matched, key=lambda t: (themes[t].priority if t in themes else 3, order.get(t, len(order)), t))
        priority = themes[best].priority if best in themes else 3
        reasons.append({"kind": "theme", "id": best, "priority": priority, "points": THEME_POINTS[priority]})
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


def render_reasons(reasons: list[dict], lang: str = "fr", names: dict[str, str] | None = None) -> str:
    """"Mentionne Veloce (concurrent direct) · prix · 3 sources · source de niveau B"."""
    names = names or {}
    parts = []
    order = {"competitor": 0, "move": 1, "theme": 2, "story": 3, "grade": 4, "credibility": 5}
    for reason in sorted(reasons, key=lambda r: order.get(r["kind"], 9)):
        kind = reason["kind"]
        if kind == "theme":
            parts.append(f"{'thème' if lang == 'fr' else 'theme'} « {names.get(reason['id'], reason['id'])} »")
        elif kind == "competitor":
            name = names.get(reason["id"], reason["id"])
            if lang == "fr":
                parts.append(f"mentionne {name} (concurrent {'direct' if reason['direct'] else 'indirect'})")
            else:
                parts.append(f"mentions {name} ({'direct' if reason['direct'] else 'indirect'} competitor)")
        elif kind == "move":
            label = names.get(reason["label"], reason["label"])
            parts.append(label + ((" du concurrent" if lang == "fr" else " by a competitor") if reason["competitor_move"] else ""))
        elif kind == "story":
            parts.append(f"{reason['sources']} sources")
        elif kind == "grade":
            parts.append(f"source de niveau {reason['grade']}" if lang == "fr" else f"source grade {reason['grade']}")
        elif kind == "credibility":
            parts.append(f"crédibilité {reason['value']}" if lang == "fr" else f"credibility {reason['value']}")
    text = " · ".join(parts)
    return text[:1].upper() + text[1:]
