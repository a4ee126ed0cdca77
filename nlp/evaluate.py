"""The evaluation gate: per-label precision, recall and F1 of the whole classifier (rules + model) on nlp/dev/.

Floors are pinned in nlp/eval_floors.json and may only be raised: `veille nlp eval` fails below them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nlp.classify import Classifier, TextInput
from nlp.pipeline import taxonomy
from nlp.textcat import FLOORS_FILE, Example_


@dataclass
class EvalReport:
    rows: list[dict] = field(default_factory=list)  # label, axis, support, precision, recall, f1
    micro_f1: float = 0.0
    macro_f1: float = 0.0
    floors: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.micro_f1 >= self.floors.get("micro_f1", 0) and self.macro_f1 >= self.floors.get("macro_f1", 0)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def evaluate(examples: Sequence[Example_], classifier: Classifier, floors_file: Path = FLOORS_FILE) -> EvalReport:
    axes = taxonomy()
    predicted = {a.id: {l["label"] for l in a.labels} for a in classifier.analyse(
        TextInput(e.id, e.text, e.title, e.lang) for e in examples)}
    report = EvalReport(floors=json.loads(floors_file.read_text()) if floors_file.exists() else {})
    totals = [0, 0, 0]
    for label, axis in axes.items():
        tp = sum(1 for e in examples if label in e.labels and label in predicted[e.id])
        fp = sum(1 for e in examples if label not in e.labels and label in predicted[e.id])
        fn = sum(1 for e in examples if label in e.labels and label not in predicted[e.id])
        totals = [totals[0] + tp, totals[1] + fp, totals[2] + fn]
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        report.rows.append({"label": label, "axis": axis, "support": tp + fn, "precision": round(precision, 3),
                            "recall": round(recall, 3), "f1": round(_f1(precision, recall), 3)})
    tp, fp, fn = totals
    report.micro_f1 = round(_f1(tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0), 3)
    supported = [r["f1"] for r in report.rows if r["support"]]
    report.macro_f1 = round(sum(supported) / len(supported), 3) if supported else 0.0
    return report
