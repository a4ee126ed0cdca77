"""Words of the CLI's tables in the reader's language: column headers and the enumerated values shown in them.

Machine formats (json, jsonl, csv) keep the stable English keys and values scripts rely on; only the table a person
reads is translated, at display time, from this one catalogue. A value outside the catalogue (an id, a title, an
error message) is shown as it is.
"""

from __future__ import annotations

import re

from watch.i18n import N_, NC_, tx_in, tx_p_in

# Key -> English header or value (its msgid), usually the key made readable; French in the catalogue (msgctxt
# "table header" / "table value", since a word may differ: "new" is "nouveaux" as a header, "nouvelle" as a state).
_HEADERS_EN: dict[str, str] = {
    "id": NC_("table header", "id"), "source": NC_("table header", "source"),
    "sources": NC_("table header", "sources"), "outcome": NC_("table header", "outcome"),
    "http": NC_("table header", "http"), "pages": NC_("table header", "pages"),
    "entries": NC_("table header", "entries"), "new": NC_("table header", "new"),
    "updated": NC_("table header", "updated"), "ms": NC_("table header", "ms"),
    "problem": NC_("table header", "problem"), "date": NC_("table header", "date"),
    "lang": NC_("table header", "lang"), "title": NC_("table header", "title"), "kind": NC_("table header", "kind"),
    "type": NC_("table header", "type"), "grade": NC_("table header", "grade"),
    "status": NC_("table header", "status"), "items": NC_("table header", "items"),
    "last_success": NC_("table header", "last success"), "last_error": NC_("table header", "last error"),
    "url": NC_("table header", "url"), "origin": NC_("table header", "origin"),
    "latest": NC_("table header", "latest"), "audience": NC_("table header", "audience"),
    "period": NC_("table header", "period"), "sent": NC_("table header", "sent"),
    "pending": NC_("table header", "pending"), "failed": NC_("table header", "failed"),
    "uncertain": NC_("table header", "uncertain"), "held_until": NC_("table header", "held until"),
    "suppressed": NC_("table header", "suppressed"), "error": NC_("table header", "error"),
    "path": NC_("table header", "path"), "job": NC_("table header", "job"),
    "schedule": NC_("table header", "schedule"), "next_run": NC_("table header", "next run"),
    "last_run": NC_("table header", "last run"), "duration": NC_("table header", "duration"),
    "counts": NC_("table header", "counts"), "failures": NC_("table header", "failures"),
    "backoff_until": NC_("table header", "backoff until"), "cutoff": NC_("table header", "cutoff"),
    "sent_at": NC_("table header", "sent at"), "item": NC_("table header", "item"),
    "author": NC_("table header", "author"), "line": NC_("table header", "line"),
    "published_at": NC_("table header", "published"), "term": NC_("table header", "term"),
    "count": NC_("table header", "count"), "baseline": NC_("table header", "baseline"),
    "ratio": NC_("table header", "ratio"), "z": NC_("table header", "z"), "weeks": NC_("table header", "weeks"),
    "ok_30d": NC_("table header", "ok 30d"), "per_week": NC_("table header", "per week"),
    "last_item": NC_("table header", "last item"), "digest": NC_("table header", "in digest"),
    "findings": NC_("table header", "findings"), "dimension": NC_("table header", "dimension"),
    "breakdown": NC_("table header", "breakdown"), "theme": NC_("table header", "theme"),
    "types": NC_("table header", "types"), "languages": NC_("table header", "languages"),
    "online/offline": NC_("table header", "online / offline"), "competitor": NC_("table header", "competitor"),
    "own sources": NC_("table header", "own sources"), "mentioned by": NC_("table header", "mentioned by"),
    "severity": NC_("table header", "severity"), "point": NC_("table header", "point"),
    "recommendation": NC_("table header", "recommendation"), "how": NC_("table header", "how"),
    "label": NC_("table header", "label"),
}

# Values of the enumerated columns: states, outcomes, kinds, source types, access, severities, origins. A state
# word agrees with what it is the state of when that is one thing: "nouvelle" source or note, "mise à jour" note.
_VALUES_EN: dict[str, str] = {
    "ok": NC_("table value", "ok"), "not_modified": NC_("table value", "not modified"),
    "error": NC_("table value", "error"), "gone": NC_("table value", "gone"),
    "skipped": NC_("table value", "skipped"), "stopped": NC_("table value", "stopped"),
    "active": NC_("table value", "active"), "failing": NC_("table value", "failing"),
    "new": NC_("table value", "new"), "never": NC_("table value", "never read"),
    "pending": NC_("table value", "pending"), "sending": NC_("table value", "sending"),
    "uncertain": NC_("table value", "uncertain"), "sent": NC_("table value", "sent"),
    "failed": NC_("table value", "failed"), "empty": NC_("table value", "empty"),
    "suppressed": NC_("table value", "suppressed"), "updated": NC_("table value", "updated"),
    "unchanged": NC_("table value", "unchanged"), "duplicate": NC_("table value", "duplicate"),
    "bad": NC_("table value", "bad"), "feed": NC_("table value", "feed"), "spider": NC_("table value", "spider"),
    "page": NC_("table value", "page"), "offline": NC_("table value", "offline"),
    "online": NC_("table value", "online"), "page_change": NC_("table value", "page change"),
    "adhoc": NC_("table value", "ad hoc"), "collect": NC_("table value", "collect"),
    "classify": NC_("table value", "classify"), "digest": NC_("table value", "digest"),
    "deliveries": NC_("table value", "deliveries"), "alert": NC_("table value", "alert"),
    "housekeeping": NC_("table value", "housekeeping"), "press": NC_("table value", "press"),
    "trade-press": NC_("table value", "trade press"), "competitor": NC_("table value", "competitor"),
    "institutional": NC_("table value", "institutional"), "blog": NC_("table value", "blog"),
    "social": NC_("table value", "social"), "field": NC_("table value", "field"), "free": NC_("table value", "free"),
    "paywall": NC_("table value", "paywall"), "login": NC_("table value", "login"),
    "high": NC_("table value", "major"), "medium": NC_("table value", "significant"),
    "low": NC_("table value", "minor"), "phrase": NC_("table value", "phrase"),
    "entity": NC_("table value", "company"), "label": NC_("table value", "label"),
    "direct": NC_("table value", "direct"), "indirect": NC_("table value", "indirect"),
}

# Columns whose values are words of the catalogue; other columns hold ids, titles and messages, shown as they are.
ENUMERATED = frozenset({"outcome", "status", "kind", "type", "access", "severity", "origin", "online", "online/offline"})

# Key -> (French, English), read from the catalogue once, for the callers and tests that compare both languages.
HEADERS: dict[str, tuple[str, str]] = {k: (tx_p_in("fr", "table header", en), en) for k, en in _HEADERS_EN.items()}
VALUES: dict[str, tuple[str, str]] = {k: (tx_p_in("fr", "table value", en), en) for k, en in _VALUES_EN.items()}

_EVERY = re.compile(r"^every (\d+)\s*(s|m|min|h|d|w)$")
_DAYS = {"mon": NC_("weekday", "mon"), "tue": NC_("weekday", "tue"), "wed": NC_("weekday", "wed"),
         "thu": NC_("weekday", "thu"), "fri": NC_("weekday", "fri"), "sat": NC_("weekday", "sat"),
         "sun": NC_("weekday", "sun"), "daily": NC_("weekday", "daily")}
# `every 1h` and `every 2h`: a unit said in full once, short with a number.
_EVERY_ONE = {"s": N_("every second"), "m": N_("every minute"), "min": N_("every minute"), "h": N_("every hour"),
              "d": N_("every day"), "w": N_("every week")}
_EVERY_N = {"s": N_("every {number}s"), "m": N_("every {number}min"), "min": N_("every {number}min"),
            "h": N_("every {number}h"), "d": N_("every {number}d"), "w": N_("every {number}w")}


def header(name: str, lang: str) -> str:
    return tx_p_in(lang, "table header", _HEADERS_EN[name]) if name in _HEADERS_EN else name


def value(column: str, text: str, lang: str) -> str:
    """A cell of `column` in `lang`: catalogue words in enumerated columns (lists too), schedules; others as is."""
    if column == "schedule":
        return schedule(text, lang)
    if column not in ENUMERATED or not text:
        return text
    words = [word.strip() for word in text.split(",")]
    if not all(word in _VALUES_EN for word in words):
        return text
    return ", ".join(tx_p_in(lang, "table value", _VALUES_EN[word]) for word in words)


def schedule(text: str, lang: str) -> str:
    """`every 1h` -> `toutes les heures`, `mon 07:30 (Europe/Paris)` -> `lun 07:30 (Europe/Paris)` in French."""
    if lang == "en" or not text:
        return text
    match = _EVERY.match(text)
    if match:
        number, unit = int(match.group(1)), match.group(2)
        return tx_in(lang, _EVERY_ONE[unit]) if number == 1 else tx_in(lang, _EVERY_N[unit], number=number)
    return re.sub(r"\b(mon|tue|wed|thu|fri|sat|sun|daily)\b", lambda m: tx_p_in(lang, "weekday", _DAYS[m.group(1)]),
                  text)


def english_words() -> set[str]:
    """Headers and values that differ in French: none of them may be left in a French table."""
    return ({key for key, (fr, en) in HEADERS.items() if fr != en and fr != key}
            | {key for key, (fr, en) in VALUES.items() if fr != en and fr != key})
