"""Institutional statistics in a digest: which indicator of a followed theme an item measures, and its figure.

`themes[].indicators` in sources.yaml names the quantitative data the watch must collect ("prix moyen d'un VAE",
"fréquentation cyclable dans les grandes villes"). A statistic from an institutional source reaches the audiences
that follow the theme, shown with the figure itself ("2 310 €, en baisse de 4 % sur un an"), not only a title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nlp.text import fold

if TYPE_CHECKING:
    from digests.picks import Pick
    from watch.config import Audience, Config

MIN_SHARED_WORDS = 2   # words of the indicator the item must use (after dropping the small words)
FIGURE_CHARS = 220
# A figure with its unit or its scale ("2 310 €", "+11 %", "162 000 VAE", "49 ans", "12 000 personnes").
FIGURE = re.compile(r"[+−-]?\d(?:[\d.,\u00a0\u202f ]*\d)?\s?(?:%|€|\$|£|(?:k?wh|km|kg|nm|m€|md€|millions?|"
                    r"milliards?|billions?|unités|units|exemplaires|ans|years|personnes|people|vae|e-bikes?|"
                    r"ventes|sales)(?!\w))", re.IGNORECASE)
_SMALL = set("de du des le la les un une et par en dans sur au aux a d l avec pour leur plus the of an and per in "
             "on for with by to".split())


@dataclass(frozen=True)
class Indicator:
    theme: str        # theme id
    name: str         # the indicator as sources.yaml writes it
    figure: str       # the sentence of the item that gives the figure


def _words(text: str) -> set[str]:
    # Folded, small words dropped, a final s or x dropped ("batteries" is "batterie", "ventes" is "vente").
    return {re.sub(r"(?<=\w{3})[sx]$", "", w) for w in re.findall(r"\w+", fold(text)) if w not in _SMALL}


def figure_parts(sentence: str) -> list[tuple[str, bool]]:
    """The sentence cut into (text, is a figure) pieces, so that the e-mail can set the figures in bold."""
    parts, last = [], 0
    for match in FIGURE.finditer(sentence):
        # A figure never breaks across lines ("2 310 €" on a 375 px screen): its spaces become non-breaking.
        parts += [(sentence[last:match.start()], False), (re.sub(r"\s", "\u00a0", match.group(0)), True)]
        last = match.end()
    return [part for part in (*parts, (sentence[last:], False)) if part[0]]


def figure_of(title: str | None, summary: str | None) -> str | None:
    """The first sentence of the summary that carries a figure with its unit, else the title when it does (the
    card shows the title already: the summary's sentence says more); None when neither does."""
    text = " ".join((summary or "").split())
    for sentence in [*re.split(r"(?<=[.!?…])\s+", text), title or ""]:
        if FIGURE.search(sentence):
            sentence = sentence.strip()
            return sentence if len(sentence) <= FIGURE_CHARS else sentence[:FIGURE_CHARS].rsplit(" ", 1)[0] + "…"
    return None


def indicator_of(pick: Pick, config: Config, audience: Audience) -> Indicator | None:
    """The indicator of a theme the audience follows (all themes when it names none) that the item measures best,
    when it gives a figure; None otherwise."""
    row = pick.row
    figure = figure_of(row["title"], row["summary"])
    if figure is None:
        return None
    followed = set(audience.interests.themes)
    # The company's own product words ("VAE", "vélo cargo électrique") are in every statistic of its market:
    # they do not tell which indicator an item measures.
    common = _words(" ".join(k for words in config.company.offer.values() for k in words))
    words = _words(f"{row['title'] or ''} {row['summary'] or ''}") - common
    best: tuple[int, Indicator] | None = None
    for theme in config.themes:
        if followed and theme.id not in followed:
            continue
        for name in theme.indicators:
            shared = len((_words(name) - common) & words)
            if shared >= MIN_SHARED_WORDS and (best is None or shared > best[0]):
                best = (shared, Indicator(theme.id, name, figure))
    return best[1] if best else None
