"""The statistical half of the classifier: a spaCy `textcat_multilabel` (bag of words), trained on nlp/train/.

One bilingual model reads the folded text (lower case, no accents), so that French and English examples teach the
same label. The trained pipeline ships in nlp/model/ so that a fresh install classifies at once; `veille nlp train`
writes a new one under the data folder, which is then preferred.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.training import Example

from nlp.pipeline import fold, taxonomy

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


def model_text(title: str, text: str) -> str:
    """What the model reads: title and text, folded; the title twice, as headlines carry the event."""
    return fold(f"{title}. {title}. {text}" if title else text)[:5000]


def train(examples: Sequence[Example_], out_dir: Path, *, epochs: int = 20, seed: int = 0) -> Language:
    """Train the bag-of-words model on `examples` and save it to `out_dir`."""
    labels = sorted(taxonomy())
    spacy.util.fix_random_seed(seed)
    nlp = spacy.blank("xx")
    textcat = nlp.add_pipe("textcat_multilabel", config={"model": BOW, "threshold": 0.5})
    for label in labels:
        textcat.add_label(label)
    data = [Example.from_dict(nlp.make_doc(model_text(e.title, e.text)),
                              {"cats": {label: float(label in e.labels) for label in labels}}) for e in examples]
    optimizer = nlp.initialize(lambda: data)
    rng = random.Random(seed)
    for epoch in range(epochs):
        rng.shuffle(data)
        losses: dict[str, float] = {}
        for batch in spacy.util.minibatch(data, size=16):
            nlp.update(batch, sgd=optimizer, losses=losses, drop=0.2)
        log.info("epoch %d loss %.3f", epoch, losses.get("textcat_multilabel", 0.0))
    out_dir.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out_dir)
    return nlp


def load_model(data_dir: Path | None = None) -> Language | None:
    """The retrained model under the data folder if there is one, else the shipped one, else None."""
    for candidate in ([data_dir / "model"] if data_dir else []) + [SHIPPED_MODEL]:
        if (candidate / "config.cfg").exists():
            return spacy.load(candidate)
    return None


def predict(model: Language | None, texts: Iterable[tuple[str, str]]) -> list[dict[str, float]]:
    """Label probabilities for (title, text) pairs; empty dicts without a model."""
    pairs = list(texts)
    if model is None:
        return [{} for _ in pairs]
    return [dict(doc.cats) for doc in model.pipe((model_text(t, x) for t, x in pairs), batch_size=256)]
