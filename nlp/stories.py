"""Group items from different sources that tell the same event into stories.

Outlets reword: a press release, a trade weekly and an English news site describe one acquisition with different
titles, sometimes in different languages, so near-copy detection (hashes, shingles) misses most of a story. Two
items are compared on what survives rewording and translation: the companies involved, the amounts and counts they
quote, the kind of move (acquisition, recall...), the time, and their content words weighted by TF-IDF, with
document frequencies learnt from the items of the pass (scikit-learn), which weigh much more within one language
than across two (a French and an English report share little more than names).

Grouping is incremental: items are taken in time order and each joins the story it fits best inside a time window
(`extend_stories`), so a story grows over days and a pass over new items never regroups the known ones. Guards
against chaining keep one loosely related item from bridging two events: the newcomer must agree with the story's
recent members on average, not clash with more of them than it agrees with, and not disagree with an item of its
own source.

The stage receives fields already extracted by the classifier (companies, labels, language); it needs no NLP model.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta
from typing import Sequence

import numpy as np

from nlp.story_words import WORD, content_words, content_words_of, normalise, numbers_of

# Mirrors the `moves` axis of nlp/taxonomy.yaml (a test keeps them in step): a move says what kind of event an item
# reports, so two items about one company with different moves are different events.
MOVE_LABELS = frozenset(
    "launch pricing partnership acquisition funding workforce leadership expansion results legal campaign".split()
)

# Score weights. Within one language the words carry most of the evidence; across languages few words are shared
# (only names and acronyms), so companies, numbers and the move carry it instead.
_SAME_LANG = {"text": 0.5, "numbers": 0.2, "companies": 0.1, "labels": 0.1, "time": 0.1}
_CROSS_LANG = {"text": 0.2, "numbers": 0.3, "companies": 0.2, "labels": 0.2, "time": 0.1}
_MOVE_CLASH = 0.7       # both report a move and none is shared: maybe two events (a launch, a lawsuit); mild,
#                          as the classifier calls one acquisition a launch in one outlet and an acquisition in the next
_ACTOR_CLASH = 0.5      # both name companies and none is shared: two actors, two events
_FIGURE_CLASH = 0.5     # both quote several figures and none match: probably two events (two products, two prices)
_ONE_FIGURE_CLASH = 0.7  # each quotes one figure, not the same: "sales up 7 %" and "up 19 %" are two reports
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
    story: int | None = None    # the story a known item already belongs to (None: not grouped yet)


@dataclass(frozen=True)
class PairScore:
    """How much two items agree, component by component (each 0-1, None when it says nothing), and the total."""

    text: float
    numbers: float | None
    companies: float | None
    labels: float | None
    time: float
    total: float


# Thresholds, chosen by measuring (same-story pairs of real headlines, the demo sector, a dense week of 10,000
# items): a pair is one event from THRESHOLD on; a newcomer joins a story only if its mean score over the story's
# recent members reaches GUARD as well; two stories a newcomer fits become one if their members' mean score across
# reaches MERGE (lower than THRESHOLD: across languages the scores of one event are lower).
THRESHOLD = 0.5
GUARD = 0.25
MERGE = 0.35
WINDOW_DAYS = 4.0
_GUARD_MEMBERS = 20      # the guard reads the story's most recent members: a story of hundreds stays cheap
_MIN_SHARED = 3          # same-language pairs must share this many terms: "Édito", "Communiqué de presse" do not
_GENERIC_TITLE = 3       # a title carried by this many items is boilerplate ("Revue de presse"), not an event
_TEXT_CHARS = 2000       # the lead of a long text says what the event is; the rest costs time, not evidence
_COMMON_NUMBER = 8       # a figure quoted by more items than this (per thousand in big batches) is a name
_KEY_DF = 40             # a key term used by more items than this names a topic, not an event (fixed: blocks
#                          must not grow with the batch)
_MIN_COSINE = 0.3        # below this, two items of one language share only common words: not scored


@dataclass
class _Features:
    terms: frozenset[str]       # stemmed content words, number and company tokens
    numbers: frozenset[str]     # figures that tell events apart: those few items of the pass quote
    figures: frozenset[str]     # every figure, common ones included
    moves: frozenset[str]
    title: str


@dataclass(frozen=True)
class _Reading:
    title: str                  # normalised words of the title, for reposts and boilerplate titles
    head: tuple[str, ...]       # content words of the title
    body: tuple[str, ...]       # content words of the text
    numbers: frozenset[str]


@lru_cache(maxsize=65536)  # a scheduler's passes read the same window again: each item is read once per process
def _read(title: str, text: str) -> _Reading:
    """What grouping reads in an item's title and text, each normalised once."""
    title_words = WORD.findall(normalise(title))
    clean = normalise(text[:_TEXT_CHARS])
    text_words = WORD.findall(clean)
    if text_words == title_words:
        text_words, clean = [], ""  # feeds without a summary repeat the title as text: count it once
    return _Reading(" ".join(title_words), tuple(content_words_of(title_words)), tuple(content_words_of(text_words)),
                    numbers_of(f"{normalise(title)}\n{clean}"))


def _terms_of(item: StoryItem, reading: _Reading, generic: frozenset[str]) -> list[str]:
    """Weighted terms of an item: its title counts twice (headlines name the event), then its text, figures and
    companies.

    Each company also gives one token, so that "Veloce" and "Vélocé SAS" meet; its name's words stay too, as an
    item whose entity was missed still writes the name. A boilerplate title is left out: it says nothing.
    """
    head = [] if reading.title in generic else list(reading.head)
    numbers = ["#" + n for n in sorted(reading.numbers)]
    companies = ["@" + c for c in sorted(item.companies)]
    return head * 2 + list(reading.body) + numbers + companies


class _Batch:
    """The items of one grouping pass (the known window, then the new items) as TF-IDF vectors and features.

    Document frequencies are learnt from the pass itself, that is from the store's recent items: a word that many
    items use (vélo, battery) weighs little, a name or a figure weighs much.
    """

    def __init__(self, items: Sequence[StoryItem]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        readings = [_read(it.title, it.text) for it in items]
        titles = Counter(r.title for r in readings)
        generic = frozenset(t for t, n in titles.items() if n >= _GENERIC_TITLE)
        numbers = [r.numbers for r in readings]
        # A figure many items quote names a thing, not an event (the S&P 500, a model year): sharing it is no
        # agreement, and the clash test looks past it (`_figures_clash`).
        counts = Counter(n for found in numbers for n in found)
        common = {n for n, count in counts.items() if count > max(_COMMON_NUMBER, len(items) // 1000)}
        terms, self.features = [], []
        for it, reading in zip(items, readings):
            words = _terms_of(it, reading, generic)
            terms.append(words)
            self.features.append(_Features(terms=frozenset(words), numbers=reading.numbers - common,
                                           figures=reading.numbers, moves=it.labels & MOVE_LABELS,
                                           # a title many items carry is no sign of a repost either
                                           title="" if reading.title in generic else reading.title))
        self.items = list(items)
        self.times = [it.published.timestamp() for it in items]
        if any(terms):
            vectorizer = TfidfVectorizer(analyzer=lambda words: words, sublinear_tf=True, dtype=np.float32)
            self.vectors = vectorizer.fit_transform(terms).tocsr()
            vocabulary = sorted(vectorizer.vocabulary_.items(), key=lambda kv: kv[1])
        else:  # nothing but empty items: no vocabulary to fit
            from scipy.sparse import csr_matrix

            self.vectors, vocabulary = csr_matrix((len(items), 1), dtype=np.float32), [("", 0)]
        # Keys for the pairs whose cosine is low but whose components may still make them one event (across
        # languages, long texts whose context dilutes the cosine): a figure few items quote, or a company together
        # with a word or figure few items use. A common key alone (a company named by thousands of items) would
        # make every pair of them a candidate, and grouping quadratic.
        df = np.bincount(self.vectors.indices, minlength=len(vocabulary))
        rare = (df >= 2) & (df <= _KEY_DF)
        kinds = np.array([term[:1] for term, _ in vocabulary])
        self.numbers = self._binary(rare & (kinds == "#"))
        self.companies = self._binary(kinds == "@")
        self.rare = self._binary(rare & (kinds != "@"))
        languages = {lang: code for code, lang in enumerate(sorted({it.lang for it in items}))}
        self.langs = np.array([languages[it.lang] for it in items])

    def _binary(self, columns: np.ndarray):
        matrix = self.vectors[:, np.flatnonzero(columns)].tocsr()
        matrix.data[:] = 1.0
        return matrix

    def neighbours(self, rows: Sequence[int], window_days: float, chunk: int = 256):
        """(row, other rows, cosines) for the pairs inside the window that could reach a threshold: within one
        language a cosine of _MIN_COSINE; in any language a rare shared figure, or a shared company with a rare
        shared word or figure."""
        window = window_days * 86400
        times = np.asarray(self.times)
        by_time = np.argsort(times, kind="stable")
        sorted_times = times[by_time]
        for start in range(0, len(rows), chunk):
            block = list(rows[start:start + chunk])
            # Only the items within reach of the block are compared: rows come in time order, so a block spans
            # a few days of a 30-day window.
            lo = np.searchsorted(sorted_times, times[block].min() - window, side="left")
            hi = np.searchsorted(sorted_times, times[block].max() + window, side="right")
            span = by_time[lo:hi]
            products = (self.vectors[block] @ self.vectors[span].T).tocsr()
            keyed = ((self.numbers[block] @ self.numbers[span].T)
                     + (self.companies[block] @ self.companies[span].T).multiply(self.rare[block] @ self.rare[span].T)
                     ).tocsr()
            for pos, row in enumerate(block):
                lo, hi = products.indptr[pos], products.indptr[pos + 1]
                cols, sims = span[products.indices[lo:hi]], products.data[lo:hi]
                near = np.abs(times[cols] - times[row]) <= window
                cols, sims = cols[near], sims[near]
                strong = (sims >= _MIN_COSINE) & (self.langs[cols] == self.langs[row])
                strong |= np.isin(cols, span[keyed.indices[keyed.indptr[pos]:keyed.indptr[pos + 1]]])
                keep = strong & (cols != row)
                yield row, cols[keep], sims[keep]

    def mean_score(self, rows: list[int], others: list[int], window_days: float) -> float:
        """Mean score over the pairs across two groups of rows (their recent members), 0 for non-candidates."""
        rows, others = rows[-_GUARD_MEMBERS:], others[-_GUARD_MEMBERS:]
        cosines = (self.vectors[rows] @ self.vectors[others].T).toarray()
        window = window_days * 86400
        total = 0.0
        for x, i in enumerate(rows):
            for y, j in enumerate(others):
                if abs(self.times[i] - self.times[j]) <= window:
                    score = self.score(i, j, float(cosines[x, y]), window_days)
                    total += score.total if score else 0.0
        return total / (len(rows) * len(others))

    def clash(self, i: int, j: int) -> bool:
        """Whether two items show a firm sign of being distinct events: other figures, or other actors.

        Moves are left out here (they still lower the score): the classifier calls one acquisition a launch in one
        outlet and an acquisition in the next, and a story must not lose its members to that.
        """
        a, b, fa, fb = self.items[i], self.items[j], self.features[i], self.features[j]
        return (_figures_clash(fa, fb)
                or bool(a.companies and b.companies and not a.companies & b.companies))

    def score(self, i: int, j: int, cosine: float, window_days: float) -> PairScore | None:
        a, b, fa, fb = self.items[i], self.items[j], self.features[i], self.features[j]
        cosine = min(float(cosine), 1.0)
        same_lang = a.lang == b.lang and bool(a.lang)
        components = _score_pair(a, b, fa, fb, cosine, window_days) if _is_candidate(a, b, fa, fb) else None
        if not same_lang:
            return components
        return _score_same_language(a, b, fa, fb, cosine, components)


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Share of the smaller set found in the other: outlets quote a subset of the figures, labels, companies."""
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def _is_candidate(a: StoryItem, b: StoryItem, fa: _Features, fb: _Features) -> bool:
    """Across languages few words are shared, so names, figures and the move must carry the match.

    Two items about one company must share it and also a figure or a word (a product, a place, a person; across
    languages, names and acronyms): the company and the kind of move alone do not tell one price cut from the next.
    Market events have no actor (a subsidy cut, quarterly figures): two such items need a shared label and some
    shared content instead: 3 words, or a number and a word, and across languages a number in any case (the words
    two languages share, such as LFP or cargo, name a topic, not an event).
    """
    words_a, words_b = fa.terms - {"@" + c for c in a.companies}, fb.terms - {"@" + c for c in b.companies}
    if a.companies or b.companies:
        return bool(a.companies & b.companies) and bool(fa.numbers & fb.numbers or words_a & words_b)
    shared_numbers = len(fa.numbers & fb.numbers)
    if not a.labels & b.labels or (a.lang != b.lang and not shared_numbers):
        return False
    return len(words_a & words_b) + 2 * shared_numbers >= 3


def _clashes(a: StoryItem, b: StoryItem, fa: _Features, fb: _Features) -> float:
    """The factor by which signs of two distinct events lower a pair's score (1.0: no sign)."""
    factor = 1.0
    if fa.moves and fb.moves and not fa.moves & fb.moves:
        factor *= _MOVE_CLASH
    if _figures_clash(fa, fb):
        factor *= _FIGURE_CLASH if min(len(fa.figures), len(fb.figures)) >= 2 else _ONE_FIGURE_CLASH
    if a.companies and b.companies and not a.companies & b.companies:
        factor *= _ACTOR_CLASH  # two different actors: two events, however alike the words
    return factor


def _figures_clash(fa: _Features, fb: _Features) -> bool:
    """Both quote figures of their own and share none but common ones: "the S&P 500 fell 0.5 %" and "the S&P 500
    rose 1.2 %" are two days' reports, "7 % more range" and "19 % more range" two products."""
    shared = fa.figures & fb.figures
    return not shared & fa.numbers and bool(fa.figures - shared) and bool(fb.figures - shared)


def _time_agreement(a: StoryItem, b: StoryItem, window_days: float) -> float:
    hours = abs((a.published - b.published).total_seconds()) / 3600
    return max(0.0, 1 - hours / (24 * window_days))


def _score_same_language(a: StoryItem, b: StoryItem, fa: _Features, fb: _Features, cosine: float,
                         components: PairScore | None) -> PairScore:
    """Within one language, the TF-IDF cosine of the two items' terms (words, figures, companies), or the weighted
    agreement of the components where they make the pair a candidate, whichever is higher.

    Measured on same-story pairs of real headlines, the cosine alone separates rewordings from other events well;
    on long texts it is diluted by context, where the shared company, figure and move still tell the event.
    """
    if a.source == b.source and fa.title and fa.title == fb.title:
        total = 1.0  # same source, same title: a repost
    else:
        total = cosine * _clashes(a, b, fa, fb) * (_SAME_SOURCE if a.source == b.source else 1.0)
        if len(fa.terms & fb.terms) < _MIN_SHARED:
            total = min(total, THRESHOLD / 2)  # one or two common words are not an event
        if components is not None and (a.companies & b.companies or fa.numbers & fb.numbers):
            total = max(total, components.total)
    if components is None:
        components = PairScore(cosine, None, None, None, 0.0, 0.0)
    return PairScore(cosine, components.numbers, components.companies, components.labels, components.time,
                     round(total, 4))


def _score_pair(a: StoryItem, b: StoryItem, fa: _Features, fb: _Features, cosine: float,
                window_days: float) -> PairScore:
    """Weighted agreement of the components (across languages: the parts that survive translation), then the
    clash penalties.

    A component that says nothing (no figure on one side, no company on either) is left out of the average rather
    than counted as disagreement: an outlet that does not quote the amount still tells the same deal.
    """
    numbers = _overlap(fa.numbers, fb.numbers) if fa.numbers and fb.numbers else None
    companies = _jaccard(a.companies, b.companies) if a.companies or b.companies else None
    if fa.moves or fb.moves:
        labels = _overlap(fa.moves, fb.moves)  # 0 when only one reports a move: the other is background
    else:
        labels = _overlap(a.labels, b.labels) if a.labels and b.labels else None
    time = _time_agreement(a, b, window_days)
    parts = {"text": cosine, "numbers": numbers, "companies": companies, "labels": labels, "time": time}
    used = {k: v for k, v in parts.items() if v is not None}
    weights = _SAME_LANG if a.lang == b.lang else _CROSS_LANG
    total = sum(weights[k] * v for k, v in used.items()) / sum(weights[k] for k in used)
    total *= _clashes(a, b, fa, fb)
    if a.source == b.source:
        total *= _SAME_SOURCE
    return PairScore(cosine, numbers, companies, labels, time, round(total, 4))


def pair_scores(items: Sequence[StoryItem], *, window_days: float = WINDOW_DAYS) -> dict[tuple[int, int], PairScore]:
    """Scores of every candidate pair, keyed by (smaller id, larger id); for explaining a grouping."""
    batch = _Batch(items)
    scores = {}
    for i, cols, sims in batch.neighbours(range(len(items)), window_days):
        for j, cosine in zip(cols.tolist(), sims.tolist()):
            if i < j and (score := batch.score(i, j, cosine, window_days)) is not None:
                scores[(min(items[i].id, items[j].id), max(items[i].id, items[j].id))] = score
    return scores


def extend_stories(known: Sequence[StoryItem], new: Sequence[StoryItem], *, window_days: float = WINDOW_DAYS,
                   threshold: float = THRESHOLD) -> dict[int, int]:
    """Map each new item's id to its story: an existing story of `known` (whose `story` is set) or a new one.

    New items are taken in time order; each joins the story it fits best: the story holding its best-scoring
    partner inside the time window (at least ``threshold``), provided its mean score over the story's recent
    members reaches GUARD. So a story grows over days, one item at a time, without every item having to match
    every other, and known items are never compared among themselves again. A new story's id is the smallest id
    of its members; known stories keep theirs.
    """
    ids = [it.id for it in (*known, *new)]
    if len(set(ids)) != len(ids):
        raise ValueError("item ids must be unique")
    if not new:
        return {}
    taken = {it.story if it.story is not None else it.id for it in known}
    # Only the known items within reach of a new one take part (a pass over today's items reads the last days,
    # not the whole window); document frequencies come from these items, the ones the pass compares.
    reach = timedelta(days=window_days)
    first, last = min(it.published for it in new) - reach, max(it.published for it in new) + reach
    known = [it for it in known if first <= it.published <= last]
    items = [*known, *new]
    batch = _Batch(items)
    story: dict[int, int] = {}          # row -> story id
    members: dict[int, list[int]] = {}  # story id -> rows, in the order they joined
    for row, it in enumerate(known):
        sid = it.story if it.story is not None else it.id
        story[row] = sid
        members.setdefault(sid, []).append(row)
    first_new = len(known)
    order = sorted(range(first_new, len(items)), key=lambda r: (batch.times[r], items[r].id))
    neighbours = {row: (cols, sims) for row, cols, sims in batch.neighbours(order, window_days)}
    created: set[int] = set()
    changed: set[int] = set()  # known rows whose story was merged into another
    for row in order:
        cols, sims = neighbours[row]
        scores: dict[int, float] = {}
        clashing: set[int] = set()
        for j, cosine in zip(cols.tolist(), sims.tolist()):
            if j in story and (score := batch.score(row, j, cosine, window_days)) is not None:
                scores[j] = score.total
                if batch.clash(row, j):
                    clashing.add(j)
        fitting = _fitting_stories(row, scores, clashing, items, story, members, threshold)
        if not fitting:
            best = -row - 1  # a key no known story has; named at the end
            created.add(best)
            members[best] = []
        else:
            best = fitting[0]
            for other in fitting[1:]:
                # The newcomer fits two stories: they are one if they agree with each other as a whole, as a pair
                # would (an item published between the French and the English reports of one deal links what
                # neither matched).
                if other in members and best in members and batch.mean_score(members[best] + [row], members[other],
                                                                             window_days) >= MERGE:
                    best = _merge(best, other, story, members, created, changed, first_new)
        story[row] = best
        members[best].append(row)
    # A new story is named by its smallest member id, as a grouping of the same items in one pass would name it,
    # unless a known story already has that name (an item whose story was forgotten, then grouped again).
    rename = {}
    for sid in created:
        names = sorted(items[m].id for m in members[sid])
        rename[sid] = next((name for name in names if name not in taken), names[0])
    return {items[row].id: rename.get(story[row], story[row]) for row in (*sorted(changed), *order)}


def _fitting_stories(row: int, scores: dict[int, float], clashing: set[int], items: Sequence[StoryItem],
                     story: dict[int, int], members: dict[int, list[int]], threshold: float) -> list[int]:
    """Stories a newcomer fits, best first. A partner scores at least `threshold`, and among the story's recent
    members: the mean score of the better half reaches GUARD (one close partner in a story of other events is not
    enough, while a newcomer to a large story need only resemble part of it, as rewordings do); fewer
    members clash with the newcomer (other figures, other actors) than agree with it (a daily market report quotes
    new figures in the same words every day: each edition is its own event); and no member from the newcomer's
    own source scores under GUARD with it (an outlet that tells an event again does so in alike words, so two
    unlike items of one newsroom in one week, a launch and then a warranty, are two events).
    """
    fitting: list[int] = []
    source = items[row].source
    for j in sorted(scores, key=lambda j: (-scores[j], j)):
        if scores[j] < threshold:
            break
        sid = story[j]
        if sid in fitting:
            continue
        recent = members[sid][-_GUARD_MEMBERS:]
        best_half = sorted((scores.get(m, 0.0) for m in recent), reverse=True)[:(len(recent) + 1) // 2]
        if sum(best_half) / len(best_half) < GUARD:
            continue
        if sum(m in clashing for m in recent) >= sum(scores.get(m, 0.0) >= threshold for m in recent):
            continue
        if any(items[m].source == source and scores.get(m, 0.0) < GUARD for m in recent):
            continue
        fitting.append(sid)
    return fitting


def _merge(keep: int, gone: int, story: dict[int, int], members: dict[int, list[int]], created: set[int],
           changed: set[int], first_new: int) -> int:
    """Merge story `gone` into `keep`; the merged story keeps the smaller id of the known ones."""
    if gone not in created and (keep in created or gone < keep):
        keep, gone = gone, keep
    for m in members[gone]:
        story[m] = keep
        if m < first_new:
            changed.add(m)
    members[keep] = sorted(members[keep] + members.pop(gone))
    created.discard(gone)
    return keep


def group_stories(items: Sequence[StoryItem], *, window_days: float = WINDOW_DAYS,
                  threshold: float = THRESHOLD) -> dict[int, int]:
    """Map each item id to its story id, the smallest item id of its story (a lone item is its own story).

    The same function as a store's incremental pass (`extend_stories`), with nothing known yet.
    """
    return extend_stories([], items, window_days=window_days, threshold=threshold)


def story_sources(items: Sequence[StoryItem], groups: dict[int, int]) -> dict[int, set[str]]:
    """Map each story id to the distinct sources that told it (for "also reported by")."""
    out: dict[int, set[str]] = {}
    for it in items:
        out.setdefault(groups.get(it.id, it.id), set()).add(it.source)
    return out


def independent_sources(items: Sequence[StoryItem], groups: dict[int, int], *,
                        own: frozenset[str] = frozenset()) -> dict[int, set[str]]:
    """Map each story id to the outlets that told it independently: corroboration counts these only.

    A company's own newsroom (`own`: source ids) says what the company wants said, so it corroborates nothing; a
    syndicated copy (the same words as an earlier item of the story from another outlet: a wire story, a feed
    republished) counts with the outlet that wrote it.
    """
    out: dict[int, set[str]] = {}
    written: set[tuple[int, str]] = set()
    for it in sorted(items, key=lambda it: (it.published, it.id)):
        story = groups.get(it.id, it.id)
        told = out.setdefault(story, set())
        if it.source in own:
            continue
        key = (story, _fingerprint(it))
        if key not in written:
            written.add(key)
            told.add(it.source)
    return out


def _fingerprint(item: StoryItem) -> str:
    """The words of a text that a syndicated copy keeps: its body when it has one (a copy often changes the
    headline), else its title."""
    body = content_words(item.text[:_TEXT_CHARS])
    return " ".join(body[:60] if len(body) >= 12 else content_words(item.title) + body)
