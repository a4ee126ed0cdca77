"""The classifier measured on real news that the project does not ship (the `corpus/news` folder of the team's
shared measurement data): French press feed items, English company-news sentences, Reuters documents and
MasakhaNEWS articles, each scored as `shared/eval/news.py` scores it.

These texts are for measurement only: they are never copied into the repository and nothing is trained on them.
Floors for each figure are pinned in nlp/real_floors.json and may only be raised; `veille nlp eval` and the test
suite fail below them.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nlp.classify import Classifier, TextInput

REAL_FLOORS_FILE = Path(__file__).with_name("real_floors.json")
# Next to the repository as the team lays it out (../shared/corpus/news), unless VEILLE_NEWS_CORPUS names another.
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "news"
SENTIVENT_MAP = {
    "Merger/Acquisition": "acquisition", "Product/Service.Launch": "launch", "Financing": "funding",
    "Investment": "funding", "FinancialReport": "results", "Revenue": "results", "Profit/Loss": "results",
    "Deal": "partnership", "Legal": "legal", "Facility.Open": "expansion", "Facility.Close": "expansion",
    "Employment.Start": "leadership", "Employment.End": "leadership",
}
SENTIVENT_SCORED = ["acquisition", "launch", "funding", "results", "partnership", "legal", "expansion"]
REUTERS_MAP = {"acq": "acquisition", "earn": "results"}
OFF_TOPIC = ("sports", "entertainment", "politics", "health")


@dataclass
class RealReport:
    figures: dict[str, float] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)  # set, label, support, precision, recall, f1
    floors: dict[str, float] = field(default_factory=dict)

    @property
    def failures(self) -> list[str]:
        """Figures on the wrong side of their floor (rates of false moves are ceilings)."""
        out = []
        for key, floor in self.floors.items():
            value = self.figures.get(key)
            if value is None:
                continue
            if (value > floor) if key.endswith("_rate") else (value < floor):
                out.append(key)
        return out


def corpus_folder() -> Path:
    return Path(os.environ.get("VEILLE_NEWS_CORPUS") or DEFAULT_CORPUS)


def _score(name: str, gold: list[set], pred: list[set], labels: Iterable[str], report: RealReport) -> float:
    f1s = []
    for label in labels:
        tp = sum(1 for g, p in zip(gold, pred) if label in g and label in p)
        fp = sum(1 for g, p in zip(gold, pred) if label not in g and label in p)
        fn = sum(1 for g, p in zip(gold, pred) if label in g and label not in p)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        report.rows.append({"set": name, "label": label, "support": tp + fn, "precision": round(precision, 3),
                            "recall": round(recall, 3), "f1": round(f1, 3)})
    return sum(f1s) / len(f1s) if f1s else 0.0


def _false_rate(gold: list[set], pred: list[set]) -> float:
    empty = [p for g, p in zip(gold, pred) if not g]
    return sum(1 for p in empty if p) / len(empty) if empty else 0.0


def _labels(analysis, axis: str) -> set[str]:
    return {l["label"] for l in analysis.labels if l["axis"] == axis}


def _detok(text: str) -> str:
    text = re.sub(r" ([,.;:!?%)])", r"\1", text)
    text = re.sub(r"([($]) ", r"\1", text)
    return text.replace(" 's", "'s").replace(" n't", "n't")


def measure(classifier: Classifier, folder: Path | None = None, floors_file: Path = REAL_FLOORS_FILE,
            progress: Callable[[str], None] | None = None) -> RealReport:
    """Every measure whose files are in `folder`; a missing set is skipped (its floors then do not apply)."""
    folder = folder or corpus_folder()
    report = RealReport(floors=json.loads(floors_file.read_text()) if floors_file.exists() else {})

    def analyse(inputs: list[TextInput]) -> list:
        return list(classifier.analyse(inputs))

    press = folder / "fr_press" / "entries.jsonl"
    if press.exists():
        progress and progress("fr_press")
        rows = [json.loads(line) for line in press.read_text(encoding="utf-8").splitlines() if line.strip()]
        out = analyse([TextInput(r["id"], r["summary"][:2000], r["title"], "fr") for r in rows])
        for axis, key, minimum in (("moves", "moves", 7), ("trends", "trends", 10)):
            gold = [set(r[key]) for r in rows]
            counts = Counter(label for g in gold for label in g)
            labels = sorted(label for label, c in counts.items() if c >= minimum)
            pred = [_labels(a, axis) for a in out]
            report.figures[f"frpress_{key}_macro_f1"] = _score(f"fr_press {key}", gold, pred, labels, report)
            if axis == "moves":
                report.figures["frpress_false_move_rate"] = _false_rate(gold, pred)
    sentences = folder / "en_sentivent_silver" / "sentences.tsv"
    if sentences.exists():
        progress and progress("sentivent")
        with sentences.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        gold = [{SENTIVENT_MAP[k] for k in filter(None, f"{r.get('types') or ''}|{r.get('subtypes') or ''}".split("|"))
                 if k in SENTIVENT_MAP} for r in rows]
        out = analyse([TextInput(f"s{i}", _detok(r["text"]), "", "en") for i, r in enumerate(rows)])
        pred = [_labels(a, "moves") for a in out]
        report.figures["sentivent_macro_f1"] = _score("sentivent", gold, pred, SENTIVENT_SCORED, report)
        report.figures["sentivent_false_move_rate"] = _false_rate(gold, pred)
    reuters = folder / "en_reuters_train" / "docs.jsonl"
    if reuters.exists():
        progress and progress("reuters")
        docs = [json.loads(line) for line in reuters.read_text(encoding="utf-8").splitlines() if line.strip()]
        out = analyse([TextInput(f"r{d['newid']}", " ".join(d["body"].split()), d["title"].title(), "en") for d in docs])
        gold = [{REUTERS_MAP[t] for t in d["topics"] if t in REUTERS_MAP} for d in docs]
        report.figures["reuters_macro_f1"] = _score("reuters", gold, [_labels(a, "moves") for a in out],
                                                    ["acquisition", "results"], report)
    inputs, cats = [], []
    for sub, code in (("fra", "fr"), ("eng", "en")):
        path = folder / "masakhanews_dev" / sub / "dev.tsv"
        if path.exists():
            with path.open(encoding="utf-8") as f:
                for row in csv.DictReader(f, delimiter="\t"):
                    inputs.append(TextInput(f"m{len(inputs)}", row["text"][:3000], row["headline"]))
                    cats.append((code, row["category"]))
    if inputs:
        progress and progress("masakhanews")
        out = analyse(inputs)
        report.figures["language_accuracy"] = sum(1 for a, (code, _) in zip(out, cats) if a.lang == code) / len(out)
        gold = [{"technology"} if c == "technology" else set() for _, c in cats]
        pred = [{"technology"} & _labels(a, "trends") for a in out]
        report.figures["technology_f1"] = _score("masakhanews", gold, pred, ["technology"], report)
        off = [a for a, (_, c) in zip(out, cats) if c in OFF_TOPIC]
        report.figures["offtopic_move_rate"] = sum(1 for a in off if _labels(a, "moves")) / len(off) if off else 0.0
    report.figures = {k: round(v, 3) for k, v in report.figures.items()}
    return report
