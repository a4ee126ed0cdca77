"""Which watched themes an item is about, one rule for the score, its "why" and the digests' audience matching.

A theme's keyword anywhere was too loose: "prix" or "ventes" occur in nearly every trade article, so one theme
was cited as the reason of most items (issue 21). A theme now matches when one of its keywords is in the title
or the lead (what the item is about), or when at least two different keywords occur in the text (a sustained
topic, not a passing word; three in a full text), or when the item itself declares it (a field note, a watched page). The themes a
source declares say what the source covers, not what each of its items is about: they no longer count alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from nlp.text import fold

MIN_KEYWORDS = 2   # different keywords of one theme in the title and summary, when none is in the title or lead
MIN_KEYWORDS_TEXT = 3  # or in the whole text (a full article uses many words in passing)
LEAD_CHARS = 300   # the lead: the summary's first sentence, at most this long


@lru_cache(maxsize=64)
def _pattern(keywords: tuple[str, ...]) -> re.Pattern | None:
    # Whole words only ("range" is not in "arrange"), plural allowed ("prices", "batteries"), longest first so
    # that "batterie lfp" wins over "batterie".
    words = sorted({fold(k) for k in keywords if len(k) > 2}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(" + "|".join(map(re.escape, words)) + r")(?:s|x|es)?(?!\w)") if words else None


def theme_patterns(themes: Iterable[Any]) -> list[tuple[str, re.Pattern]]:
    """(theme id, its keywords of every language as one pattern), in the order of sources.yaml."""
    found = []
    for theme in themes:
        pattern = _pattern(tuple(k for words in theme.keywords.values() for k in words))
        if pattern is not None:
            found.append((theme.id, pattern))
    return found


def lead_of(summary: str | None) -> str:
    text = " ".join((summary or "").split())
    return re.split(r"(?<=[.!?…])\s", text, maxsplit=1)[0][:LEAD_CHARS]


def matched_themes(patterns: list[tuple[str, re.Pattern]], title: str | None, summary: str | None,
                   text: str | None = None, declared: Iterable[str] = ()) -> list[str]:
    """The ids of the themes the item is about, in the order of `patterns` (see the module's rule)."""
    head = fold(f"{title or ''} \n {lead_of(summary)}")
    short = fold(f"{title or ''} \n {summary or ''}")
    whole = fold(" \n ".join(filter(None, (title, summary, text)))) if text else short
    declared = set(declared)
    matched = []
    for theme_id, pattern in patterns:
        if (theme_id in declared or pattern.search(head) or len(set(pattern.findall(short))) >= MIN_KEYWORDS
                or len(set(pattern.findall(whole))) >= MIN_KEYWORDS_TEXT):
            matched.append(theme_id)
    return matched
