"""The statistical half of the classifier: a spaCy `textcat_multilabel` (bag of words), trained on nlp/train/.

One bilingual model reads the lemmas of the language pipelines, folded (lower case, no accents): "rachète" and
"rachat", "buys" and "bought" are one feature each, so that ~800 examples teach more (on nlp/dev, lemmas gave
4.6 points of micro-F1 over surface words). The trained pipeline ships in nlp/model/ so that a fresh install classifies at once; `veille nlp train`
writes a new one under the data folder, which is then preferred.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.training import Example

from spacy.tokens import Doc

from nlp.pipeline import Pipelines, taxonomy

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


def model_input(doc: Doc, title_chars: int) -> str:
    """What the model reads from a processed `title\ntext` doc: normalised lemmas, the title's twice (headlines
    carry the event)."""
    title = [t.norm_ for t in doc if t.idx < title_chars and not (t.is_punct or t.is_space)]
    rest = [t.norm_ for t in doc if t.idx >= title_chars and not (t.is_punct or t.is_space)]
    return " ".join(title + title + rest)


def example_inputs(examples: Sequence[Example_], pipelines: Pipelines) -> list[str]:
    """Model inputs of labelled examples, through the same language pipelines as classification."""
    inputs = []
    for example in examples:
        nlp = pipelines.get(example.lang if example.lang in ("fr", "en") else "en")
        inputs.append(model_input(nlp(f"{example.title}\n{example.text}"), len(example.title)))
    return inputs


def train(examples: Sequence[Example_], out_dir: Path, pipelines: Pipelines, *, epochs: int = 20,
          seed: int = 0) -> Language:
    """Train the bag-of-words model on `examples` and save it to `out_dir`.

    Each example also teaches with its title alone: many feeds carry only a headline, and a model that saw only
    full texts answers ~0.5 for every label on a short one.
    """
    examples = [*examples, *(replace(e, id=f"{e.id}-title", text="") for e in examples if e.title and e.text)]
    labels = sorted(taxonomy())
    spacy.util.fix_random_seed(seed)
    nlp = spacy.blank("xx")
    textcat = nlp.add_pipe("textcat_multilabel", config={"model": BOW, "threshold": 0.5})
    for label in labels:
        textcat.add_label(label)
    data = [Example.from_dict(nlp.make_doc(text), {"cats": {label: float(label in e.labels) for label in labels}})
            for text, e in zip(example_inputs(examples, pipelines), examples)]
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


def predict(model: Language | None, inputs: Iterable[str]) -> list[dict[str, float]]:
    """Label probabilities for model inputs (see `model_input`); empty dicts without a model."""
    texts = list(inputs)
    if model is None:
        return [{} for _ in texts]
    return [dict(doc.cats) for doc in model.pipe(texts, batch_size=256)]
