"""Classification: language, companies, labels with confidence and origin, and the acting company of each item.

`Classifier.analyse` works on any text, without a database (`veille nlp classify`); `classify` is the stage's entry
function: it reads the items not yet classified from the store, analyses them, scores them, groups stories and
writes everything back.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

from spacy.tokens import Doc

from nlp.language import detect_language
from nlp.pipeline import MAX_CHARS, STRONG, Pipelines, competitors_of, taxonomy
from nlp.text import fold
from nlp.textcat import (DEFAULT_CUT, THRESHOLD, combine, evidence_of, lead_end, lead_hits, load_model, model_input,
                         predict, rule_score)
from watch.lifeline import end_with

log = logging.getLogger(__name__)
PASSIVE = {"par", "by"}  # "racheté par Y" / "acquired by Y": the actor comes after the verb


@dataclass(frozen=True)
class TextInput:
    id: Any
    text: str
    title: str = ""
    lang: str | None = None  # declared (the source's language), used when detection is unsure


@dataclass
class Analysis:
    id: Any
    lang: str
    lang_confidence: float
    lang_how: str
    labels: list[dict] = field(default_factory=list)    # {"axis", "label", "score", "by"}
    entities: list[dict] = field(default_factory=list)  # {"text", "label", "competitor"}
    actor: str | None = None
    actor_competitor: str | None = None
    flags: list[str] = field(default_factory=list)
    terms: list[tuple[str, str]] = field(default_factory=list)  # (term, kind): phrase, entity, label

    def as_json(self) -> dict:
        return {"id": self.id, "lang": self.lang, "labels": self.labels, "entities": self.entities,
                "actor": self.actor, "actor_competitor": self.actor_competitor, "flags": self.flags}

    def as_record(self) -> dict:
        """Everything the store keeps of an analysis."""
        return {**self.as_json(), "lang_confidence": self.lang_confidence, "lang_how": self.lang_how,
                "terms": self.terms}


class Classifier:
    """Pipelines per language plus the trained model; build once, analyse many texts."""

    def __init__(self, config: Any = None, data_dir: Path | None = None, languages: Sequence[str] = ("fr", "en")):
        self._parts = (competitors_of(config), config.nlp.models if config else True, data_dir, tuple(languages))
        self._build(*self._parts)

    def _build(self, competitors: list[dict], use_models: bool, data_dir: Path | None, languages: tuple[str, ...]):
        self.pipelines = Pipelines(competitors, use_models=use_models)
        self.model = load_model(data_dir)
        self.axes = taxonomy()
        self.languages = languages

    def analyse(self, inputs: Iterable[TextInput], batch_size: int = 256, workers: int = 1) -> Iterator[Analysis]:
        """Analyses in input order. With `workers` > 1, helper processes (each with its own pipelines, built while
        this one builds its own) take batches ahead; this process analyses a batch itself only while the oldest
        one is not back, so that the helpers never wait for it (it also stores what comes out between two
        batches). spaCy runs on one core per process."""
        iterator = iter(inputs)
        if workers < 2:
            while batch := list(islice(iterator, batch_size)):
                yield from self._batch(batch)
            return
        ahead = 2 * (workers - 1)  # batches queued per round: a helper finishing one finds the next waiting
        with _helper_pool(self._parts, workers - 1) as pool:
            slots: deque = deque()  # in input order: a helper's future, or the analyses made here
            queued, exhausted = 0, False
            while True:
                while not exhausted and queued < ahead:
                    batch = list(islice(iterator, batch_size))
                    if not batch:
                        exhausted = True
                        break
                    slots.append(pool.submit(_analyse_in_helper, batch))
                    queued += 1
                if not slots:
                    return
                front = slots[0]
                if isinstance(front, list) or front.done():
                    slots.popleft()
                    if not isinstance(front, list):
                        queued -= 1
                        front = front.result()
                    yield from front
                    continue
                batch = [] if exhausted else list(islice(iterator, batch_size))
                if batch:
                    slots.append(self._batch(batch))
                else:
                    exhausted = True
                    slots.popleft()
                    queued -= 1
                    yield from front.result()

    def _batch(self, batch: list[TextInput]) -> list[Analysis]:
        results: list[Analysis | None] = [None] * len(batch)
        by_lang: dict[str, list[int]] = {}
        texts = []
        for index, item in enumerate(batch):
            body = f"{item.title}\n{item.text}" if item.title else (item.text or "")
            flags = []
            if len(body) > MAX_CHARS:
                body, flags = body[:MAX_CHARS], ["truncated"]
            lang, confidence, how = detect_language(body, self.languages, item.lang)
            results[index] = Analysis(item.id, lang, round(confidence, 3), how, flags=flags)
            by_lang.setdefault(lang, []).append(index)
            texts.append(body)
        docs: list[Doc | None] = [None] * len(batch)
        for lang, indexes in by_lang.items():
            nlp = self.pipelines.get(lang)
            flag = self.pipelines.flags.get(lang)
            for index, doc in zip(indexes, nlp.pipe((texts[i] for i in indexes), batch_size=64)):
                docs[index] = doc
                if flag:
                    results[index].flags.append(flag)
        # The model reads the lemmas the language pipelines produced (see nlp/textcat.py).
        ends = [lead_end(doc, len(item.title) if item.title else 0) for doc, item in zip(docs, batch)]
        probabilities = predict(self.model, (model_input(doc, len(item.title) if item.title else 0, end)
                                             for doc, item, end in zip(docs, batch, ends)))
        for analysis, doc, probability, end in zip(results, docs, probabilities, ends):
            self._fill(analysis, doc, probability, evidence_of(doc, end),
                       lead_hits(doc, end))
        return results  # type: ignore[return-value]

    def _fill(self, analysis: Analysis, doc: Doc, probabilities: dict[str, float], evidence: float,
              hits: dict[str, list]) -> None:
        weights = self.model.rule_weights if self.model else {}
        best = {label: rule_score(matches, weights, label) for label, matches in hits.items()}
        for label, axis in self.axes.items():
            score_of_rule, phrase, _ = best.get(label, (0.0, "", 0))
            # Rules and model combined (nlp/textcat.py); without a model, a rule stands alone (tests, broken
            # installs).
            if self.model:
                cut = self.model.cuts.get(label, DEFAULT_CUT)
                score = combine(score_of_rule, probabilities.get(label, 0.0), cut, evidence)
                model_alone = combine(0.0, probabilities.get(label, 0.0), cut, evidence)
            else:
                score, model_alone = (0.75 if score_of_rule >= STRONG else 0.0), 0.0
            if score < THRESHOLD:
                continue
            if not self.model:
                by = f"rule:{phrase}"
            elif score_of_rule > 0 and model_alone < THRESHOLD:
                by = f"rule+model:{phrase}"
            else:
                by = "model"
            analysis.labels.append({"axis": axis, "label": label, "score": round(score, 3), "by": by})
        analysis.labels.sort(key=lambda l: -l["score"])
        seen = set()
        for ent in doc.ents:
            key = (ent.text.lower(), ent.kb_id_)
            if key not in seen:
                seen.add(key)
                analysis.entities.append({"text": ent.text, "label": ent.label_, "competitor": ent.kb_id_ or None})
        analysis.terms = sorted({*((p, "phrase") for p in _phrases(doc)),
                                 *((e["competitor"] or fold(e["text"]), "entity") for e in analysis.entities),
                                 *((l["label"], "label") for l in analysis.labels)})
        moves = [l for l in analysis.labels if l["axis"] == "moves"]
        if moves:
            # The words that showed a move locate its actor: take those of the best move that has some.
            trigger = next((best[m["label"]][2] for m in moves if m["label"] in best), None)
            actor = _actor(doc, trigger)
            if actor is not None:
                analysis.actor, analysis.actor_competitor = actor.text, actor.kb_id_ or None


def _helper_pool(parts: tuple, workers: int) -> ProcessPoolExecutor:
    # forkserver (or spawn), never fork: the CLI's progress bar runs a thread, and forking a threaded process can
    # leave a lock held in the child.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        # Nothing preloaded: the helper imports spaCy itself. A forkserver holding spaCy too cost some 30 MB more
        # in all (its pages are copied as the helper touches them), and the two processes are near the 1 GB target.
        context.set_forkserver_preload([])
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_start_helper, initargs=(parts, os.getpid()))


# The one Classifier of a helper process, built by the pool's initializer; the main process never sets it.
_helper: Classifier | None = None


def _start_helper(parts: tuple, parent: int) -> None:
    global _helper
    end_with(parent)  # a helper outlives no classification, even one killed with SIGKILL
    _helper = Classifier.__new__(Classifier)
    _helper._parts = parts
    _helper._build(*parts)
    for lang in parts[3]:  # build the pipelines now, while the main process builds its own
        _helper.pipelines.get(lang)


def _analyse_in_helper(batch: list[TextInput]) -> list[Analysis]:
    assert _helper is not None, "helper process not initialised"
    return _helper._batch(batch)


PHRASE_POS = {"NOUN", "PROPN", "ADJ"}
# Nouns of time and quantity that every week's news carries: never a trend on their own.
GENERIC = {"mois", "annee", "an", "semaine", "jour", "fois", "moment", "debut", "fin", "cas", "part", "nombre",
           "month", "year", "week", "day", "time", "today", "end", "start", "number", "percent", "pourcent", "million",
           "milliard", "billion", "euro", "dollar"}


def _phrases(doc: Doc) -> set[str]:
    """Noun phrases without a parser: runs of nouns and adjectives holding a noun, from the tagger's POS.

    A pipeline without a tagger (blank English) gives its content words instead, two by two and alone.
    """
    found: set[str] = set()
    tagged = doc.has_annotation("POS")
    run: list = []
    for token in [*doc, None]:
        keep = token is not None and not token.is_stop and token.is_alpha and len(token) > 2 and (
            token.pos_ in PHRASE_POS if tagged else True) and token.norm_ not in GENERIC
        if keep:
            run.append(token)
            continue
        if run and (not tagged or any(t.pos_ in ("NOUN", "PROPN") for t in run)):
            words = [t.norm_ for t in run]
            if tagged:
                found.add(" ".join(words[:4]))
            else:
                found.update(words)
                found.update(f"{a} {b}" for a, b in zip(words, words[1:]))
        run = []
    return found


def _actor(doc: Doc, trigger: int | None):
    """The company that acts: after "par"/"by" in a passive, else the last one before the trigger in its sentence,
    else the first of the text."""
    orgs = list(doc.ents)
    if not orgs:
        return None
    if trigger is not None:
        sentence = doc[trigger].sent
        after = [e for e in orgs if e.start > trigger and e.start < sentence.end]
        if after and any(t.norm_ in PASSIVE for t in doc[trigger + 1:after[0].start]) and after[0].start - trigger <= 5:
            return after[0]
        before = [e for e in orgs if sentence.start <= e.start < trigger]
        if before:
            return before[-1]
        if after:
            return after[0]
    return orgs[0]


def classify_texts(inputs: Iterable[TextInput], config: Any = None, data_dir: Path | None = None,
                   progress: Callable[[int], None] | None = None) -> Iterator[Analysis]:
    """Analyse texts without a database (for `veille nlp classify` and for measuring)."""
    classifier = Classifier(config, data_dir)
    for analysis in classifier.analyse(inputs):
        if progress:
            progress(1)
        yield analysis
