"""Words of the CLI's tables in the reader's language: column headers and the enumerated values shown in them.

Machine formats (json, jsonl, csv) keep the stable English keys and values scripts rely on; only the table a person
reads is translated, at display time, from this one catalogue. A value outside the catalogue (an id, a title, an
error message) is shown as it is.
"""

from __future__ import annotations

import re

# English header or value -> (French, English). The English side is usually the key, made readable.
HEADERS: dict[str, tuple[str, str]] = {
    "id": ("id", "id"), "source": ("source", "source"), "sources": ("sources", "sources"),
    "outcome": ("résultat", "outcome"), "http": ("http", "http"), "pages": ("pages", "pages"),
    "entries": ("entrées", "entries"), "new": ("nouveaux", "new"), "updated": ("mis à jour", "updated"),
    "ms": ("ms", "ms"), "problem": ("problème", "problem"), "date": ("date", "date"), "lang": ("langue", "lang"),
    "title": ("titre", "title"), "kind": ("genre", "kind"), "type": ("type", "type"), "grade": ("note", "grade"),
    "status": ("état", "status"), "items": ("articles", "items"), "last_success": ("dernier succès", "last success"),
    "last_error": ("dernière erreur", "last error"), "url": ("adresse", "url"), "origin": ("origine", "origin"),
    "latest": ("le plus récent", "latest"), "audience": ("audience", "audience"), "period": ("période", "period"),
    "sent": ("envoyés", "sent"), "pending": ("en attente", "pending"), "failed": ("en échec", "failed"),
    "uncertain": ("incertains", "uncertain"), "held_until": ("retenus jusqu'à", "held until"),
    "suppressed": ("désinscrits", "suppressed"), "error": ("erreur", "error"), "path": ("fichier", "path"),
    "job": ("tâche", "job"), "schedule": ("rythme", "schedule"), "next_run": ("prochain passage", "next run"),
    "last_run": ("dernier passage", "last run"), "duration": ("durée", "duration"), "counts": ("comptes", "counts"),
    "failures": ("échecs", "failures"), "backoff_until": ("en pause jusqu'à", "backoff until"),
    "cutoff": ("arrêté au", "cutoff"), "sent_at": ("envoyé le", "sent at"), "item": ("article", "item"),
    "author": ("auteur", "author"), "line": ("ligne", "line"), "published_at": ("publié le", "published"),
    "term": ("terme", "term"), "count": ("nombre", "count"), "baseline": ("moyenne", "baseline"),
    "ratio": ("rapport", "ratio"), "z": ("z", "z"), "weeks": ("semaines", "weeks"), "ok_30d": ("ok 30 j", "ok 30d"),
    "per_week": ("par semaine", "per week"), "last_item": ("dernier article", "last item"),
    "digest": ("en bulletin", "in digest"), "findings": ("constats", "findings"), "dimension": ("dimension", "dimension"),
    "breakdown": ("répartition", "breakdown"), "theme": ("thème", "theme"), "types": ("types", "types"),
    "languages": ("langues", "languages"), "online/offline": ("en ligne / hors ligne", "online / offline"),
    "competitor": ("concurrent", "competitor"), "own sources": ("sources propres", "own sources"),
    "mentioned by": ("cité par", "mentioned by"), "severity": ("gravité", "severity"), "point": ("critère", "point"),
    "recommendation": ("recommandation", "recommendation"), "how": ("comment", "how"), "label": ("étiquette", "label"),
}

# Values of the enumerated columns: states, outcomes, kinds, source types, access, severities, origins. A state
# word agrees with what it is the state of when that is one thing: "nouvelle" source or note, "mise à jour" note.
VALUES: dict[str, tuple[str, str]] = {
    "ok": ("ok", "ok"), "not_modified": ("inchangé", "not modified"), "error": ("erreur", "error"),
    "gone": ("disparue", "gone"), "skipped": ("ignoré", "skipped"), "stopped": ("arrêté", "stopped"),
    "active": ("active", "active"), "failing": ("en échec", "failing"), "new": ("nouvelle", "new"),
    "never": ("jamais lue", "never read"), "pending": ("en attente", "pending"), "sending": ("en cours", "sending"),
    "uncertain": ("incertain", "uncertain"),
    "sent": ("envoyé", "sent"), "failed": ("échec", "failed"), "empty": ("vide", "empty"),
    "suppressed": ("désinscrit", "suppressed"), "updated": ("mise à jour", "updated"),
    "unchanged": ("inchangée", "unchanged"), "duplicate": ("en double", "duplicate"), "bad": ("refusée", "bad"),
    "feed": ("flux", "feed"), "spider": ("robot", "spider"), "page": ("page", "page"), "offline": ("hors ligne", "offline"),
    "online": ("en ligne", "online"), "page_change": ("changement de page", "page change"),
    "adhoc": ("ponctuelle", "ad hoc"), "collect": ("collecte", "collect"), "classify": ("classement", "classify"),
    "digest": ("bulletin", "digest"), "deliveries": ("envois", "deliveries"), "alert": ("alerte", "alert"),
    "housekeeping": ("entretien", "housekeeping"), "press": ("presse", "press"),
    "trade-press": ("presse pro", "trade press"), "competitor": ("concurrent", "competitor"),
    "institutional": ("institutionnel", "institutional"), "blog": ("blog", "blog"),
    "social": ("réseau social", "social"), "field": ("terrain", "field"), "free": ("libre", "free"),
    "paywall": ("payant", "paywall"), "login": ("sur compte", "login"), "high": ("majeur", "major"),
    "medium": ("important", "significant"), "low": ("mineur", "minor"), "phrase": ("expression", "phrase"),
    "entity": ("entreprise", "company"), "label": ("étiquette", "label"), "direct": ("direct", "direct"),
    "indirect": ("indirect", "indirect"),
}

# Columns whose values are words of the catalogue; other columns hold ids, titles and messages, shown as they are.
ENUMERATED = frozenset({"outcome", "status", "kind", "type", "access", "severity", "origin", "online", "online/offline"})

_EVERY = re.compile(r"^every (\d+)\s*(s|m|min|h|d|w)$")
_DAYS_FR = {"mon": "lun", "tue": "mar", "wed": "mer", "thu": "jeu", "fri": "ven", "sat": "sam", "sun": "dim",
            "daily": "chaque jour"}
_UNITS_FR = {"s": ("seconde", "s"), "m": ("minute", "min"), "min": ("minute", "min"), "h": ("heure", "h"),
             "d": ("jour", "j"), "w": ("semaine", "sem")}


def header(name: str, lang: str) -> str:
    fr, en = HEADERS.get(name, (name, name))
    return en if lang == "en" else fr


def value(column: str, text: str, lang: str) -> str:
    """A cell of `column` in `lang`: catalogue words in enumerated columns (lists too), schedules; others as is."""
    if column == "schedule":
        return schedule(text, lang)
    if column not in ENUMERATED or not text:
        return text
    words = [word.strip() for word in text.split(",")]
    if not all(word in VALUES for word in words):
        return text
    return ", ".join(VALUES[word][1 if lang == "en" else 0] for word in words)


def schedule(text: str, lang: str) -> str:
    """`every 1h` -> `toutes les heures`, `mon 07:30 (Europe/Paris)` -> `lun 07:30 (Europe/Paris)` in French."""
    if lang == "en" or not text:
        return text
    match = _EVERY.match(text)
    if match:
        number, (word, short) = int(match.group(1)), _UNITS_FR[match.group(2)]
        every = "tous les" if word == "jour" else "toutes les"
        return f"{every} {word}s" if number == 1 else f"{every} {number}{short}"
    return re.sub(r"\b(mon|tue|wed|thu|fri|sat|sun|daily)\b", lambda m: _DAYS_FR[m.group(1)], text)


def english_words() -> set[str]:
    """Headers and values that differ in French: none of them may be left in a French table."""
    return ({key for key, (fr, en) in HEADERS.items() if fr != en and fr != key}
            | {key for key, (fr, en) in VALUES.items() if fr != en and fr != key})
