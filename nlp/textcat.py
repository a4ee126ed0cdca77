"""The statistical half of the classifier: a spaCy `textcat_multilabel` (bag of words), trained on nlp/train/.

One bilingual model reads the lemmas of the language pipelines, folded (lower case, no accents): "rachète" and
"rachat", "buys" and "bought" are one feature each, so that ~800 examples teach more (on nlp/dev, lemmas gave
4.6 points of micro-F1 over surface words). The trained pipeline ships in nlp/model/ so that a fresh install classifies at once; `veille nlp train`
writes a new one under the data folder, which is then preferred.
"""

from __future__ import annotations

import functools
import json
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.training import Example

from spacy.tokens import Doc

from nlp.pipeline import STRONG, Pipelines, taxonomy

log = logging.getLogger(__name__)
SHIPPED_MODEL = Path(__file__).with_name("model")
TRAIN_DIR = Path(__file__).with_name("train")
DEV_DIR = Path(__file__).with_name("dev")
FLOORS_FILE = Path(__file__).with_name("eval_floors.json")
# Unigrams over a 2^16 hash table: on the dev set, bigrams and larger tables did worse with ~800 examples.
BOW = {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": False, "ngram_size": 1,
       "no_output_layer": False, "length": 2 ** 16}


@dataclass(frozen=True)
class Example_:
    """One labelled text of nlp/train or nlp/dev."""

    id: str
    lang: str
    title: str
    text: str
    labels: frozenset[str]


def load_examples(folder: Path) -> list[Example_]:
    examples = []
    for file in sorted(folder.glob("*.jsonl")):
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                examples.append(Example_(str(row["id"]), row.get("lang", ""), row.get("title", ""),
                                         row.get("text", ""), frozenset(row.get("labels", []))))
            except (ValueError, KeyError) as exc:
                raise ValueError(f"{file}:{number}: {exc}") from None
    return examples


RuleHits = dict[str, list[tuple[str, float, int]]]  # label -> [(phrase, lexicon weight, token index)]

# What carries the event: the title and the text's first sentences, up to this many words. A 2,000-word body must
# not outvote its headline, and the model was fitted on headlines with a lead of 20 to 90 words.
LEAD_WORDS = 60


def lead_end(doc: Doc, title_chars: int, limit: int = LEAD_WORDS) -> int:
    """The token index where the lead of a processed `title\ntext` doc ends: the title, then whole sentences of the
    text while they fit in `limit` words (the first one always, cut to `limit`)."""
    words, end = 0, 0
    for sent in doc.sents:
        if sent.end_char <= title_chars:
            end = sent.end
            continue
        count = sum(1 for t in sent if t.idx >= title_chars and not (t.is_punct or t.is_space))
        if words and words + count > limit:
            break
        if count > limit:
            kept = 0
            for token in sent:
                if token.idx >= title_chars and not (token.is_punct or token.is_space):
                    kept += 1
                    if kept > limit:
                        return token.i
            return sent.end
        words, end = words + count, sent.end
    return end


def model_input(doc: Doc, title_chars: int, end: int | None = None) -> str:
    """What the model reads from a processed `title\ntext` doc: the normalised lemmas of its lead, the title's
    twice (headlines carry the event)."""
    end = lead_end(doc, title_chars) if end is None else end
    title = [t.norm_ for t in doc[:end] if t.idx < title_chars and not (t.is_punct or t.is_space)]
    rest = [t.norm_ for t in doc[:end] if t.idx >= title_chars and not (t.is_punct or t.is_space)]
    return " ".join(title + title + rest)


def lead_hits(doc: Doc, end: int) -> RuleHits:
    """The rules' matches inside the lead only, for trends as for moves (measured on real news: a trend's words
    looked for over 150 words gave technology to a third of all articles, F1 0.51 against 0.63 over the lead)."""
    return {label: kept for label, matches in (doc._.rule_hits or {}).items()
            if (kept := [m for m in matches if m[2] < end])}


THRESHOLD = 0.5  # a label is kept when its combined score reaches this
DEFAULT_CUT = 0.12  # model probability treated as even odds when a model ships no cuts.json (older models)
CUT_GRID = [round(0.04 + 0.01 * i, 2) for i in range(37)]  # 0.04 .. 0.40
FOLDS = 5
EPOCHS = 8  # training passes of the shipped model (nlp/model), so that `veille nlp train` remakes it
# A bag-of-words model says ~0.5 for words it never saw, so a bare name or a four-word headline would get many
# labels: its evidence is scaled down below this many words (a feed's title-only entry relies more on the rules).
FULL_EVIDENCE_WORDS = 8


# A rule's weight learnt from nlp/train is its precision there, pulled towards the lexicon's weight (strong 0.45,
# weak 0.3) by this many pseudo-matches: a phrase seen twice keeps most of its lexicon weight, one seen twenty
# times earns its own. A strong pattern (an event with its object, "baisser le prix de", guarded against negation
# and wrong senses) that was right most of the time on nlp/train may decide alone; a weak one ("lancer") stays under
# the threshold, so the model must lean the same way (measured on real news: letting weak words decide gave a move
# to a quarter of the sport and politics articles).
RULE_PRIOR_MATCHES = 4
RULE_WEIGHT_MAX = 0.6
WEAK_RULE_MAX = 0.45



@dataclass
class Model:
    """The trained bag-of-words pipeline and, per label, the probability it treats as even odds (its cut) and the
    weights of the rule phrases measured on the training set."""

    nlp: Language
    cuts: dict[str, float]
    rule_weights: dict[str, float] = field(default_factory=dict)  # "label|phrase" -> weight


@dataclass(frozen=True)
class Prepared:
    """An example as the classifier sees it: the model's input, the rules' matches, the evidence."""

    input: str
    hits: RuleHits
    evidence: float


def rule_score(matches: list[tuple[str, float, int]], weights: dict[str, float], label: str
               ) -> tuple[float, str, int]:
    """The rules' evidence for a label: (weight, phrase, token index of the best match), the learnt weight
    replacing the lexicon's. A trend, the topic of a text, shows in how many of its different words the text uses,
    each adding its weight as independent evidence (noisy-OR). A move adds up so only once one of its strong
    patterns matched ("relève son ticket d'entrée … coûte 200 € de plus … une hausse de prix"): weak words alone
    ("nouveau", "lancer", "accord") adding up gave a move to one off-topic article in seven (measured on real news,
    against one in eighteen)."""
    best = (0.0, "", 0)
    seen: dict[str, float] = {}
    for phrase, lexicon_weight, start in matches:
        weight = weights.get(f"{label}|{phrase}", lexicon_weight)
        seen[phrase] = max(weight, seen.get(phrase, 0.0))
        if weight > best[0]:
            best = (weight, phrase, start)
    if len(seen) > 1 and (_axes().get(label) == "trends" or any(m[1] >= STRONG for m in matches)):
        missing = 1.0
        for weight in seen.values():
            missing *= 1 - weight
        best = (min(TOPIC_MAX, 1 - missing), best[1], best[2])
    return best


@functools.lru_cache(maxsize=1)
def _axes() -> dict[str, str]:
    """label -> axis, read once (rule_score runs for every label of every item)."""
    return taxonomy()
TOPIC_MAX = 0.9


def learn_rule_weights(examples: Sequence[Example_], prepared: Sequence[Prepared]) -> dict[str, float]:
    """Each phrase's precision on the examples, smoothed towards its lexicon weight (see RULE_PRIOR_MATCHES)."""
    counts: dict[str, list] = {}
    for example, p in zip(examples, prepared):
        for label, matches in p.hits.items():
            for phrase, lexicon_weight in {(m[0], m[1]) for m in matches}:
                entry = counts.setdefault(f"{label}|{phrase}", [0, 0, lexicon_weight])
                entry[0] += label in example.labels
                entry[1] += 1
    return {key: round(min(RULE_WEIGHT_MAX if prior >= STRONG else WEAK_RULE_MAX,
                           (right + RULE_PRIOR_MATCHES * prior) / (seen + RULE_PRIOR_MATCHES)), 3)
            for key, (right, seen, prior) in counts.items()}


def combine(rule_score: float, probability: float, cut: float, evidence: float = 1.0) -> float:
    """Noisy-OR of the rules' evidence and the model's, the model's probability rescaled so that its cut counts
    as even odds: the bag-of-words model is under-confident with twenty labels and title-only training copies."""
    model_score = min(1.0, probability * evidence * THRESHOLD / cut)
    return 1 - (1 - rule_score) * (1 - model_score)


def evidence_of(doc: Doc, end: int | None = None) -> float:
    return min(1.0, sum(1 for t in doc[:end] if not (t.is_punct or t.is_space)) / FULL_EVIDENCE_WORDS)


def prepare(examples: Sequence[Example_], pipelines: Pipelines) -> list[Prepared]:
    """Labelled examples through the same language pipelines as classification."""
    prepared = []
    for example in examples:
        nlp = pipelines.get(example.lang if example.lang in ("fr", "en") else "en")
        doc = nlp(f"{example.title}\n{example.text}" if example.title else example.text)
        end = lead_end(doc, len(example.title))
        prepared.append(Prepared(model_input(doc, len(example.title), end), lead_hits(doc, end), evidence_of(doc, end)))
    return prepared


def _fit(texts: Sequence[str], examples: Sequence[Example_], epochs: int, seed: int) -> Language:
    labels = sorted(taxonomy())
    spacy.util.fix_random_seed(seed)
    nlp = spacy.blank("xx")
    textcat = nlp.add_pipe("textcat_multilabel", config={"model": BOW, "threshold": 0.5})
    for label in labels:
        textcat.add_label(label)
    data = [Example.from_dict(nlp.make_doc(text), {"cats": {label: float(label in e.labels) for label in labels}})
            for text, e in zip(texts, examples)]
    optimizer = nlp.initialize(lambda: data)
    rng = random.Random(seed)
    for epoch in range(epochs):
        rng.shuffle(data)
        losses: dict[str, float] = {}
        for batch in spacy.util.minibatch(data, size=16):
            nlp.update(batch, sgd=optimizer, losses=losses, drop=0.2)
        log.info("epoch %d loss %.3f", epoch, losses.get("textcat_multilabel", 0.0))
    return nlp


def _title_only(examples: Sequence[Example_], pipelines: Pipelines) -> tuple[list[Example_], list[str]]:
    """Each example also teaches with its title alone: many feeds carry only a headline, and a model that saw
    only full texts answers ~0.5 for every label on a short one."""
    copies = [replace(e, id=f"{e.id}-title", text="") for e in examples if e.title and e.text]
    return copies, [p.input for p in prepare(copies, pipelines)]


def choose_cuts(examples: Sequence[Example_], prepared: Sequence[Prepared], titles: dict[str, str], *,
                epochs: int, seed: int, folds: int = FOLDS) -> dict[str, float]:
    """Per-label cuts from out-of-fold predictions on the training set itself (never on nlp/dev).

    Each fold's model is trained on the other folds (with their title-only copies), and its rule weights learnt
    there; it predicts the held-out examples, the rules' scores are added as classification does, and each label gets the cut of best F1, averaged
    over its neighbours on the grid so that a lucky spike on ~50 positives does not decide.
    """
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    probabilities: list[dict[str, float]] = [{} for _ in examples]
    rules: list[dict[str, float]] = [{} for _ in examples]  # rule scores with weights learnt on the other folds
    for fold in range(folds):
        held = set(order[fold::folds])
        train_idx = [i for i in range(len(examples)) if i not in held]
        texts = [prepared[i].input for i in train_idx] + [titles[examples[i].id] for i in train_idx
                                                          if examples[i].id in titles]
        labelled = [examples[i] for i in train_idx] + [examples[i] for i in train_idx if examples[i].id in titles]
        nlp = _fit(texts, labelled, epochs, seed)
        weights = learn_rule_weights([examples[i] for i in train_idx], [prepared[i] for i in train_idx])
        held_idx = sorted(held)
        for i, doc in zip(held_idx, nlp.pipe([prepared[i].input for i in held_idx], batch_size=256)):
            probabilities[i] = dict(doc.cats)
            rules[i] = {label: rule_score(matches, weights, label)[0] for label, matches in prepared[i].hits.items()}
    cuts = {}
    totals = [0, 0, 0]  # tp, fp, fn at the chosen cuts: the out-of-fold micro-F1, logged to compare set-ups
    for label in sorted(taxonomy()):
        f1s, counts = [], []
        for cut in CUT_GRID:
            tp = fp = fn = 0
            for e, p, prob, rule in zip(examples, prepared, probabilities, rules):
                predicted = combine(rule.get(label, 0.0), prob.get(label, 0.0), cut, p.evidence) >= THRESHOLD
                truth = label in e.labels
                tp, fp, fn = tp + (predicted and truth), fp + (predicted and not truth), fn + (truth and not predicted)
            f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
            counts.append((tp, fp, fn))
        smooth = [sum(f1s[max(0, k - 2):k + 3]) / len(f1s[max(0, k - 2):k + 3]) for k in range(len(f1s))]
        best = max(range(len(CUT_GRID)), key=lambda k: (smooth[k], -abs(CUT_GRID[k] - DEFAULT_CUT)))
        cuts[label] = CUT_GRID[best]
        totals = [t + c for t, c in zip(totals, counts[best])]
        log.info("cut %s %.2f (out-of-fold F1 %.3f)", label, cuts[label], f1s[best])
    tp, fp, fn = totals
    log.info("out-of-fold micro-F1 %.3f over %d examples", 2 * tp / (2 * tp + fp + fn) if tp else 0.0, len(examples))
    return cuts


def train(examples: Sequence[Example_], out_dir: Path, pipelines: Pipelines, *, epochs: int = EPOCHS,
          seed: int = 0, folds: int = FOLDS) -> Model:
    """Train the bag-of-words model on `examples`, choose its per-label cuts by cross-validation, save both."""
    prepared = prepare(examples, pipelines)
    copies, copy_inputs = _title_only(examples, pipelines)
    titles = {c.id.removesuffix("-title"): text for c, text in zip(copies, copy_inputs)}
    cuts = choose_cuts(examples, prepared, titles, epochs=epochs, seed=seed, folds=folds) if folds > 1 else {}
    nlp = _fit([p.input for p in prepared] + copy_inputs, [*examples, *copies], epochs, seed)
    weights = learn_rule_weights(examples, prepared)
    out_dir.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out_dir)
    (out_dir / "cuts.json").write_text(json.dumps(cuts, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (out_dir / "rule_weights.json").write_text(json.dumps(weights, indent=1, sort_keys=True, ensure_ascii=False)
                                               + "\n", encoding="utf-8")
    return Model(nlp, cuts, weights)


def load_model(data_dir: Path | None = None) -> Model | None:
    """The retrained model under the data folder if there is one, else the shipped one, else None."""
    for candidate in ([data_dir / "model"] if data_dir else []) + [SHIPPED_MODEL]:
        if (candidate / "config.cfg").exists():
            extra = [json.loads(f.read_text(encoding="utf-8")) if f.exists() else {}
                     for f in (candidate / "cuts.json", candidate / "rule_weights.json")]
            return Model(spacy.load(candidate), *extra)
    return None


def predict(model: Model | None, inputs: Iterable[str]) -> list[dict[str, float]]:
    """Label probabilities for model inputs (see `model_input`); empty dicts without a model."""
    texts = list(inputs)
    if model is None:
        return [{} for _ in texts]
    return [dict(doc.cats) for doc in model.nlp.pipe(texts, batch_size=256)]
