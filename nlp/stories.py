"""Group items from different sources that tell the same event into stories.

Outlets reword: a press release, a trade weekly and an English news site describe one acquisition with different
titles, sometimes in different languages, so near-copy detection (hashes, shingles) misses most of a story. Two
items are compared on what survives rewording and translation: the companies involved, the amounts and counts they
quote, the kind of move (acquisition, recall...), the time, and their content words, which weigh much more within
one language than across two (a French and an English report share little more than names).
Pairs that agree enough are joined, with a guard against chaining: a story only takes in a newcomer that agrees
with at least half of its members, so one loosely related item cannot bridge two events.

The stage receives fields already extracted by the classifier (companies, labels, language); it needs no NLP model.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta
from typing import Sequence

# Mirrors the `moves` axis of nlp/taxonomy.yaml (a test keeps them in step): a move says what kind of event an item
# reports, so two items about one company with different moves are different events.
MOVE_LABELS = frozenset(
    "launch pricing partnership acquisition funding workforce leadership expansion results legal campaign".split()
)

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

_WORD = re.compile(r"[a-z][a-z0-9]*")
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

# Score weights. Within one language the words carry most of the evidence; across languages few words are shared
# (only names and acronyms), so companies, numbers and the move carry it instead.
_SAME_LANG = {"text": 0.5, "numbers": 0.2, "companies": 0.1, "labels": 0.1, "time": 0.1}
_CROSS_LANG = {"text": 0.2, "numbers": 0.3, "companies": 0.2, "labels": 0.2, "time": 0.1}
_MOVE_CLASH = 0.5       # both report a move and no move is shared: a launch and a lawsuit are two events
_FIGURE_CLASH = 0.8     # both quote several figures and none match: probably two events (two products, two prices)
_SAME_SOURCE = 0.7      # one outlet rarely reports one event twice under two titles; follow-ups are news


@dataclass(frozen=True)
class StoryItem:
    """What story grouping needs of an item; companies and labels come from the classifier."""

    id: int
    source: str
    title: str
    text: str
    lang: str
    published: datetime
    companies: frozenset[str]   # competitor ids or organisation names, normalised lower-case
    labels: frozenset[str]      # move/trend label ids
    url: str = ""


def normalise(text: str) -> str:
    """Lower-case, strip accents (FR and EN spellings of a name must meet) and unify apostrophes and spaces."""
    text = text.lower().replace("œ", "oe").replace("æ", "ae")
    text = unicodedata.normalize("NFKD", text)  # also turns no-break and narrow spaces into plain spaces
    return _COMBINING.sub("", text).replace("’", "'")


@lru_cache(maxsize=65536)  # the same words recur across a batch; stemming each occurrence was a third of the cost
def stem(word: str) -> str:
    """Strip one common FR/EN suffix so plurals and light inflections meet (batteries, batterie, battery)."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)] + ("i" if suffix in ("ies", "y") else "")
    return word


def content_words(text: str) -> list[str]:
    """Stemmed content words of a text: no stop words, no one-letter tokens, no pure numbers."""
    return [stem(w) for w in _WORD.findall(normalise(text)) if len(w) > 1 and w not in STOP_WORDS]


def numbers_in(text: str) -> frozenset[str]:
    """Amounts, counts and percentages of a text, normalised so that outlets' spellings meet.

    ``45 millions``, ``45 M€``, ``€45m`` and ``€45 million`` all give ``"45000000"``; ``1 200`` and ``1,200`` give
    ``"1200"``; ``6 %`` and ``6%`` give ``"6%"``. Bare numbers under 10 are dropped: "2 models", "5 years" are
    too common to tell events apart. Model names (V9, Q3) and ordinals (3e, 1st) are not numbers. A change
    "from X to Y" also gives X - Y: one outlet writes "400 € to 300 €", another "a 100 € cut".
    """
    found: set[str] = set()
    previous: tuple[float, bool, int] | None = None  # value, is a percentage, end of match
    clean = normalise(text)
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


@dataclass(frozen=True)
class PairScore:
    """How much two items agree, component by component (each 0-1, None when it says nothing), and the total."""

    text: float
    numbers: float | None
    companies: float | None
    labels: float | None
    time: float
    total: float


@dataclass
class _Features:
    body: dict[str, float]
    head: dict[str, float]
    words: frozenset[str]
    numbers: frozenset[str]
    moves: frozenset[str]
    title: str


def _tfidf(bag: Counter[str], df: Counter[str], n: int) -> dict[str, float]:
    vec = {w: (1 + math.log(tf)) * (math.log((1 + n) / (1 + df[w])) + 1) for w, tf in bag.items()}
    norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
    return {w: v / norm for w, v in vec.items()}


def _features(items: Sequence[StoryItem]) -> list[_Features]:
    """TF-IDF vectors fitted on the batch (a word common to the batch says little), plus numbers and moves.

    Two vectors per item: title+text, and the title alone. Headlines name the event in few words (rabot, bonus
    vélo) where bodies drift into context, so both count.
    """
    heads, bodies = [], []
    for it in items:
        # The item's own company names are left out: the companies score already counts them, and text should
        # say what else two items share (a person, a place, a product, the words of the event).
        names = {w for c in it.companies for w in content_words(c)}
        heads.append(Counter(w for w in content_words(it.title) if w not in names))
        bodies.append(heads[-1] + Counter(w for w in content_words(it.text) if w not in names))
    df = Counter(w for bag in bodies for w in bag)
    n = len(items)
    return [_Features(body=_tfidf(body, df, n), head=_tfidf(head, df, n), words=frozenset(body),
                      numbers=numbers_in(f"{it.title}\n{it.text}"), moves=it.labels & MOVE_LABELS,
                      title=" ".join(_WORD.findall(normalise(it.title))))
            for it, head, body in zip(items, heads, bodies)]


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    return sum(a[w] * b[w] for w in a.keys() & b.keys())  # the intersection is computed in C and is small


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Share of the smaller set found in the other: outlets quote a subset of the figures, labels, companies."""
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def _is_candidate(a: StoryItem, b: StoryItem, fa: _Features, fb: _Features, window_days: float) -> bool:
    """Only pairs that could be one event are scored: close in time and about the same actor.

    Two items about one company must also share a figure or a word (a product, a place, a person; across
    languages, names and acronyms): the company and the kind of move alone do not tell one price cut from the
    next. Market events have no actor (a subsidy cut, quarterly
    figures): two such items need a shared label and some shared content instead: 3 words, or a number and a word,
    and across languages a number in any case (the words two languages share, such as LFP or cargo, name a topic,
    not an event).
    """
    if abs((a.published - b.published).total_seconds()) > window_days * 86400:
        return False
    if a.companies or b.companies:
        return bool(a.companies & b.companies) and bool(fa.numbers & fb.numbers or fa.words & fb.words)
    shared_numbers = len(fa.numbers & fb.numbers)
    if not a.labels & b.labels or (a.lang != b.lang and not shared_numbers):
        return False
    return len(fa.words & fb.words) + 2 * shared_numbers >= 3


def _score_pair(a: StoryItem, b: StoryItem, fa: _Features, fb: _Features, window_days: float) -> PairScore:
    """Weighted agreement of two candidate items, then penalties for signs of two distinct events.

    A component that says nothing (no figure on one side, no company on either) is left out of the average rather
    than counted as disagreement: an outlet that does not quote the amount still tells the same deal.
    """
    body = _cosine(fa.body, fb.body)
    text = max(body, (body + _cosine(fa.head, fb.head)) / 2)  # similar headlines help, different ones do not hurt
    numbers = None
    if fa.numbers and fb.numbers:
        # Overlap, not Jaccard: outlets quote a subset of the figures, but a shared one is strong evidence.
        numbers = len(fa.numbers & fb.numbers) / min(len(fa.numbers), len(fb.numbers))
    companies = _jaccard(a.companies, b.companies) if a.companies or b.companies else None
    if fa.moves or fb.moves:
        labels = _overlap(fa.moves, fb.moves)  # 0 when only one reports a move: the other is background
    else:
        labels = _overlap(a.labels, b.labels) if a.labels and b.labels else None
    hours = abs((a.published - b.published).total_seconds()) / 3600
    time = max(0.0, 1 - hours / (24 * window_days))
    weights = _SAME_LANG if a.lang == b.lang else _CROSS_LANG
    parts = {"text": text, "numbers": numbers, "companies": companies, "labels": labels, "time": time}
    used = {k: v for k, v in parts.items() if v is not None}
    total = sum(weights[k] * v for k, v in used.items()) / sum(weights[k] for k in used)
    if fa.moves and fb.moves and not fa.moves & fb.moves:
        total *= _MOVE_CLASH
    if min(len(fa.numbers), len(fb.numbers)) >= 2 and not fa.numbers & fb.numbers:
        total *= _FIGURE_CLASH
    if a.source == b.source:
        total = 1.0 if fa.title == fb.title else total * _SAME_SOURCE  # same source, same title: a repost
    return PairScore(text, numbers, companies, labels, time, round(total, 4))


# Blocking: a word is a key for candidate pairs only if few items of the batch use it. A word shared by hundreds of
# items (vélo, battery) would put them all in one block and make grouping quadratic; its TF-IDF weight is low anyway,
# so the pairs it alone would have brought in could not reach the threshold. A fixed count, not a share of the
# batch: a share lets blocks grow with the batch, and the pairs with its square.
_KEY_WORD_MAX_DF = 40


def _blocking_keys(item: StoryItem, feats: _Features, key_words: frozenset[str]) -> set[tuple]:
    """Keys two items must share to be a candidate pair: the cheap necessary conditions of `_is_candidate`.

    With a company: the company plus a figure or a distinctive word. Without: a label plus a figure, or (same
    language) a label plus a distinctive word. Every candidate pair shares at least one key, unless the only words
    it shares are common ones; the exact test still runs on each pair a block yields.
    """
    words = feats.words & key_words
    if item.companies:
        extra = [("n", n) for n in feats.numbers] + [("w", w) for w in words]
        return {(c, *e) for c in item.companies for e in extra}
    keys: set[tuple] = set()
    for label in item.labels:
        keys.update((label, "n", n) for n in feats.numbers)
        keys.update((label, item.lang, "w", w) for w in words)
    return keys


def pair_scores(items: Sequence[StoryItem], *, window_days: float = 4.0) -> dict[tuple[int, int], PairScore]:
    """Scores of every candidate pair, keyed by (smaller id, larger id); for grouping and for explaining it.

    Pairs come from blocks of items sharing a key (`_blocking_keys`), each walked in time order so that only items
    inside the window meet: the cost follows the number of plausible pairs, not the square of the batch.
    """
    feats = _features(items)
    df = Counter(w for f in feats for w in f.words)
    key_words = frozenset(w for w, count in df.items() if 1 < count <= _KEY_WORD_MAX_DF)
    blocks: dict[tuple, list[int]] = {}
    for i, (item, feat) in enumerate(zip(items, feats)):
        for key in _blocking_keys(item, feat, key_words):
            blocks.setdefault(key, []).append(i)
    window = timedelta(days=window_days)
    seen: set[tuple[int, int]] = set()
    scores = {}
    for block in blocks.values():
        if len(block) < 2:
            continue
        block.sort(key=lambda i: items[i].published)
        for pos, i in enumerate(block):
            for j in block[pos + 1:]:
                a, b = items[i], items[j]
                if b.published - a.published > window:
                    break
                pair = (i, j) if i < j else (j, i)
                if pair in seen:
                    continue
                seen.add(pair)
                if _is_candidate(a, b, feats[i], feats[j], window_days):
                    scores[(min(a.id, b.id), max(a.id, b.id))] = _score_pair(a, b, feats[i], feats[j], window_days)
    return scores


def group_stories(items: Sequence[StoryItem], *, window_days: float = 4.0, threshold: float = 0.5) -> dict[int, int]:
    """Map each item id to its story id, the smallest item id of its story (a lone item is its own story).

    Pairs scoring at least ``threshold`` are joined strongest first (union-find). Two groups merge only if at
    least half of the pairs across them reach the threshold: plain single-link union-find would let A~B and B~C
    chain A to C, and drift from a launch to a lawsuit of the same company through one ambiguous item.
    """
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        raise ValueError("item ids must be unique")
    scores = {k: s.total for k, s in pair_scores(items, window_days=window_days).items()}
    members: dict[int, list[int]] = {i: [i] for i in ids}
    root = {i: i for i in ids}
    for (a, b), value in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])):
        ra, rb = root[a], root[b]
        if value < threshold or ra == rb:
            continue
        across = len(members[ra]) * len(members[rb])
        agreeing = sum(scores.get((x, y) if x < y else (y, x), 0.0) >= threshold
                       for x in members[ra] for y in members[rb])
        if 2 * agreeing < across:
            continue
        keep, gone = (ra, rb) if len(members[ra]) >= len(members[rb]) else (rb, ra)
        for m in members[gone]:
            root[m] = keep
        members[keep] += members.pop(gone)
    return {i: min(members[root[i]]) for i in ids}


def story_sources(items: Sequence[StoryItem], groups: dict[int, int]) -> dict[int, set[str]]:
    """Map each story id to the distinct sources that told it: corroboration counts outlets, not reposts."""
    out: dict[int, set[str]] = {}
    for it in items:
        out.setdefault(groups.get(it.id, it.id), set()).add(it.source)
    return out
