"""The real-news gate: the shipped classifier on real press it was never trained on (the shared measurement corpus,
kept outside the repository), against the floors pinned in nlp/real_floors.json. Rates of false moves are ceilings.

Skipped, with the reason, where the corpus is not beside the repository (VEILLE_NEWS_CORPUS may name it).
"""

from __future__ import annotations

import json

import pytest

from nlp.classify import Classifier
from nlp.realnews import REAL_FLOORS_FILE, corpus_folder, measure

pytestmark = pytest.mark.skipif(not (corpus_folder() / "fr_press").is_dir(),
                                reason=f"real-news corpus not found at {corpus_folder()} (set VEILLE_NEWS_CORPUS)")


@pytest.mark.timeout(600)
def test_the_classifier_holds_its_floors_on_real_news():
    report = measure(Classifier(None))
    floors = json.loads(REAL_FLOORS_FILE.read_text())
    assert set(floors) <= set(report.figures), "a measure of the floors file was not run"
    assert not report.failures, {k: (report.figures[k], floors[k]) for k in report.failures}
    per_label = {(r["set"], r["label"]): r for r in report.rows}
    assert per_label[("reuters", "acquisition")]["support"] > 1000  # the whole set was read
