"""The event patterns of nlp/rules.yaml, run by the real spaCy pipelines: every example the file gives fires (or
does not), negations and wrong senses are ignored, and the pattern language compiles as the file's header says."""

from __future__ import annotations

import pytest
import yaml

from nlp.pipeline import RULES_FILE, build_pipeline, compile_pattern, taxonomy

RULES = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
EXAMPLES = [(lang, label, kind, text) for label, entry in RULES.items()
            for lang, sets in (entry.get("examples") or {}).items()
            for kind in ("fires", "not") for text in sets.get(kind, [])]


@pytest.fixture(scope="module")
def pipelines():
    return {lang: build_pipeline(lang, []) for lang in ("fr", "en")}


def test_every_label_has_patterns_and_examples_in_both_languages():
    assert set(RULES) == set(taxonomy())
    for label, entry in RULES.items():
        for lang in ("fr", "en"):
            assert entry["strong"][lang], (label, lang)
            assert entry["examples"][lang]["fires"] and entry["examples"][lang]["not"], (label, lang)


def test_no_pattern_is_listed_twice_for_a_label():
    # A phrase both strong and weak gets one learnt weight or the other, by set order: training was not repeatable.
    for label, entry in RULES.items():
        for lang in ("fr", "en"):
            phrases = [str(p) for strength in ("strong", "weak") for p in (entry.get(strength) or {}).get(lang, [])]
            assert len(phrases) == len(set(phrases)), (label, lang, sorted(p for p in set(phrases)
                                                                            if phrases.count(p) > 1))


@pytest.mark.parametrize("lang, label, kind, text", EXAMPLES, ids=[f"{e[0]}-{e[1]}-{e[2]}-{i}"
                                                                    for i, e in enumerate(EXAMPLES)])
def test_the_examples_of_rules_yaml(pipelines, lang, label, kind, text):
    hits = pipelines[lang](text)._.rule_hits
    assert (label in hits) == (kind == "fires"), hits.get(label)


@pytest.mark.parametrize("lang, text", [
    ("fr", "Veloce ne dévoile pas son nouveau vélo"),
    ("fr", "Le montant du rachat n'a pas été dévoilé"),
    ("en", "Acme did not unveil its new truck"),
    ("en", "Acme denies plans to launch a new truck"),
])
def test_a_negated_trigger_does_not_count(pipelines, lang, text):
    assert "launch" not in pipelines[lang](text)._.rule_hits


def test_the_same_trigger_counts_in_a_sentence_without_negation(pipelines):
    hits = pipelines["fr"]("Le montant n'a pas été dévoilé. Veloce dévoile son vélo.")._.rule_hits
    assert {start for _, _, start in hits["launch"]} == {9}


def test_a_wrong_sense_cancels_only_its_own_sentence(pipelines):
    doc = pipelines["fr"]("Le directeur de campagne du candidat parle. Veloce lance une campagne publicitaire.")
    assert doc._.rule_hits["campaign"] and all(start > 8 for _, _, start in doc._.rule_hits["campaign"])


def test_choices_gaps_and_split_words_compile_to_matcher_patterns():
    norms = {"baisser": [{"baisser"}], "prix": [{"prix"}], "tarif": [{"tarif"}], "s'offrir": [{"se"}, {"offrir"}]}
    assert compile_pattern("baisser … prix|tarif", norms) == [
        [{"NORM": {"IN": ["baisser"]}}, {"OP": "?"}, {"OP": "?"}, {"OP": "?"}, {"NORM": {"IN": ["prix", "tarif"]}}]]
    assert compile_pattern("s'offrir", norms) == [[{"NORM": {"IN": ["se"]}}, {"NORM": {"IN": ["offrir"]}}]]


def test_a_gap_lets_words_stand_between(pipelines):
    assert "pricing" in pipelines["fr"]("Bouygues baisse nettement le prix de sa box")._.rule_hits
