"""The words and figures of a text as story grouping reads them: accents folded, light FR/EN stemming, amounts.

No NLP model: items are compared on these whatever pipeline classified them.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Own lists (no NLP dependency); accent-stripped like the text they filter. Function words and reporting verbs.
STOP_WORDS_FR = frozenset("""
a afin ai ainsi alors apres au aucun aupres aussi autre autres aux avait avant avec avoir c ca car ce ceci cela
celle celles celui ces cet cette chez ci comme comment compte d dans de depuis des deja dit doit donc dont du elle
elles en encore entre est et etaient etait ete etre eux fait faire fois font hors il ils j je jusqu jusque l la le
les leur leurs lors lui m ma mais me meme mes moins mon n ne ni non nos notre nous on ont or ou par parce pas pendant
peu peut plus plusieurs pour pres puis qu quand que quel quelle quelles quelques qui quoi s sa sans se selon ses si
sinon soit son sont sous sur t ta tandis te tes toujours tous tout toute toutes tres trop tu un une vers via vos
votre vous y annonce declare indique desormais ici
""".split())
STOP_WORDS_EN = frozenset("""
a about after again all also an and any are as at be been before being both but by can could did do does during
each few for from further had has have having he her here hers him his how i if in into is it its itself just me
more most my no nor not now of off on once only or other our ours out over own same she should so some such than
that the their theirs them then there these they this those through to too under until up very was we were what
when where which while who whom why will with would you your yours says said say according new today year years
""".split())
STOP_WORDS = STOP_WORDS_FR | STOP_WORDS_EN

WORD = re.compile(r"[a-z][a-z0-9]*")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")  # combining marks
# A number with optional thousands groups (space, comma or dot + 3 digits), decimals, a multiplier and a percent.
_NUMBER = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:[ ,.]\d{3})+|\d+)(?:[.,](\d+))?"
    r"(?:\s*(milliards?|mds?|billions?|bn|millions?|mio|mn|m|k)(?![a-z0-9]))?"
    r"(\s*(?:%|pour ?cent|per ?cent|percent))?(?![a-z0-9])"
)
# What lies between the two numbers of a change: "400 € à 300 €", "€400 to €300", "€2,590 instead of €2,990".
_CHANGE = re.compile(r"\s*(?:€|\$|£|eur|euros?)?\s*(?:a|to|au lieu de|instead of)\s*(?:€|\$|£)?\s*")
_MULTIPLIERS = {"k": 1e3, "m": 1e6, "mn": 1e6, "mio": 1e6, "million": 1e6, "millions": 1e6,
                "md": 1e9, "mds": 1e9, "milliard": 1e9, "milliards": 1e9, "bn": 1e9, "billion": 1e9,
                "billions": 1e9}
_SUFFIXES = ("ements", "ement", "ations", "ation", "ings", "ing", "ies", "ers", "eurs", "eur", "ees", "ee", "es",
             "ed", "er", "s", "x", "e", "y")


def normalise(text: str) -> str:
    """Lower-case, strip accents (FR and EN spellings of a name must meet) and unify apostrophes and spaces."""
    text = text.lower().replace("œ", "oe").replace("æ", "ae")
    text = unicodedata.normalize("NFKD", text)  # also turns no-break and narrow spaces into plain spaces
    return _COMBINING.sub("", text).replace("’", "'")


@lru_cache(maxsize=65536)  # the same words recur across a batch; stemming each occurrence was a third of the cost
def stem(word: str) -> str:
    """Strip one common FR/EN suffix so plurals and light inflections meet (batteries, batterie, battery).

    A French plural and feminine come off first, so that nantais, nantaise and nantaises meet.
    """
    for end in ("s", "e", "s"):
        if word.endswith(end) and len(word) > 5 and not word.endswith("ies"):
            word = word[:-1]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)] + ("i" if suffix in ("ies", "y") else "")
    return word


def content_words(text: str) -> list[str]:
    """Stemmed content words of a text: no stop words, no one-letter tokens, no pure numbers."""
    return content_words_of(WORD.findall(normalise(text)))


def content_words_of(words: list[str]) -> list[str]:
    """`content_words` of words already normalised and split."""
    return [stem(w) for w in words if len(w) > 1 and w not in STOP_WORDS]


def numbers_in(text: str) -> frozenset[str]:
    """Amounts, counts and percentages of a text, normalised so that outlets' spellings meet.

    ``45 millions``, ``45 M€``, ``€45m`` and ``€45 million`` all give ``"45000000"``; ``1 200`` and ``1,200`` give
    ``"1200"``; ``6 %`` and ``6%`` give ``"6%"``. Bare numbers under 10 are dropped: "2 models", "5 years" are
    too common to tell events apart. Model names (V9, Q3) and ordinals (3e, 1st) are not numbers. A change
    "from X to Y" also gives X - Y: one outlet writes "400 € to 300 €", another "a 100 € cut".
    """
    return numbers_of(normalise(text))


def numbers_of(clean: str) -> frozenset[str]:
    """`numbers_in` of a text already normalised."""
    found: set[str] = set()
    previous: tuple[float, bool, int] | None = None  # value, is a percentage, end of match
    for match in _NUMBER.finditer(clean):
        whole, frac, mult, pct = match.groups()
        value = float(re.sub(r"[ ,.]", "", whole))
        if frac:
            value += float(frac) / 10 ** len(frac)
        if mult:
            value = round(value * _MULTIPLIERS[mult], 2)  # 4.1 * 1e6 is 4099999.9999999995
        if pct:
            found.add(f"{value:g}%")
        elif mult or value >= 10:
            found.add(_number_key(value))
        if previous and previous[1] == bool(pct) and _CHANGE.fullmatch(clean[previous[2]:match.start()]):
            change = abs(previous[0] - value)
            if change >= 10:
                found.add(f"{change:g}%" if pct else _number_key(change))
        previous = (value, bool(pct), match.end())
    return frozenset(found)


def _number_key(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"
