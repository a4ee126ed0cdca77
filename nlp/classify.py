"""Classification: language, companies, labels with confidence and origin, and the acting company of each item.

`Classifier.analyse` works on any text, without a database (`veille nlp classify`); `classify` is the stage's entry
function: it reads the items not yet classified from the store, analyses them, scores them, groups stories and
writes everything back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from spacy.tokens import Doc

from nlp.language import detect_language
from nlp.pipeline import MAX_CHARS, STRONG, Pipelines, competitors_of, taxonomy
from nlp.text import fold
from nlp.textcat import load_model, model_input, predict

log = logging.getLogger(__name__)
THRESHOLD = 0.5
# The bag-of-words model is under-confident (many labels, title-only training copies), so its probability is
# scaled by 0.5 / MODEL_CUT (capped at 1) before it meets the rules and the 0.5 threshold. The cut was chosen on a
# fifth of nlp/train/ held out from training (plateau from 0.08 to 0.15), never on nlp/dev/.
MODEL_CUT = 0.12
# A bag-of-words model says ~0.5 for words it never saw, so a bare name or a four-word headline would get many
# labels: its evidence is scaled down below this many words (a feed's title-only entry relies more on the rules).
FULL_EVIDENCE_WORDS = 8
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
        self.pipelines = Pipelines(competitors_of(config), use_models=config.nlp.models if config else True)
        self.model = load_model(data_dir)
        self.axes = taxonomy()
        self.languages = tuple(languages)

    def analyse(self, inputs: Iterable[TextInput], batch_size: int = 256) -> Iterator[Analysis]:
        iterator = iter(inputs)
        while batch := list(islice(iterator, batch_size)):
            yield from self._batch(batch)

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
        probabilities = predict(self.model, (model_input(doc, len(item.title) if item.title else 0)
                                             for doc, item in zip(docs, batch)))
        for analysis, doc, probability in zip(results, docs, probabilities):
            words = sum(1 for t in doc if not (t.is_punct or t.is_space))
            evidence = min(1.0, words / FULL_EVIDENCE_WORDS)
            self._fill(analysis, doc, {label: p * evidence for label, p in probability.items()})
        return results  # type: ignore[return-value]

    def _fill(self, analysis: Analysis, doc: Doc, probabilities: dict[str, float]) -> None:
        hits = doc._.rule_hits or {}
        for label, axis in self.axes.items():
            rule_score, phrase, _ = hits.get(label, (0.0, "", 0))
            model_score = min(1.0, probabilities.get(label, 0.0) * THRESHOLD / MODEL_CUT) if self.model else 0.0
            # Noisy-OR of two kinds of evidence; without a model, a rule stands alone (tests, broken installs).
            if self.model:
                score = 1 - (1 - rule_score) * (1 - model_score)
            else:
                score = 0.75 if rule_score >= STRONG else 0.0
            if score < THRESHOLD:
                continue
            if not self.model:
                by = f"rule:{phrase}"
            elif rule_score > 0 and model_score < THRESHOLD:
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
            trigger = next((hits[m["label"]][2] for m in moves if m["label"] in hits), None)
            actor = _actor(doc, trigger)
            if actor is not None:
                analysis.actor, analysis.actor_competitor = actor.text, actor.kb_id_ or None


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
