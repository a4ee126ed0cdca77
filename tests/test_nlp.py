"""The NLP stage with real spaCy pipelines: companies, inflections, actors, bad input, the store path, the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from nlp.classify import Classifier, TextInput
from nlp.evaluate import evaluate
from nlp.pipeline import taxonomy
from nlp.textcat import Example_
from watch.cli import main
from watch.config import load_config
from watch.models import Entry

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def config():
    return load_config(REPO / "sources.yaml")


@pytest.fixture(scope="module")
def classifier(config):
    return Classifier(config)


def analyse(classifier, text, title="", lang=None):
    return next(classifier.analyse([TextInput(1, text, title, lang)]))


def labels(analysis):
    return {l["label"] for l in analysis.labels}


@pytest.mark.parametrize("text", ["VELOCE annonce un partenariat", "Vélocé SAS annonce un partenariat",
                                  "veloce bikes annonce un partenariat", "Selon veloce.example, le partenariat…"])
def test_competitor_aliases_across_accents_and_case(classifier, text):
    assert {e["competitor"] for e in analyse(classifier, text).entities} >= {"veloce"}


@pytest.mark.parametrize("title, lang", [
    ("Veloce rachète la start-up Kargo Lab", "fr"),
    ("Veloce a racheté la start-up Kargo Lab", "fr"),
    ("Rachat de Kargo Lab par Veloce", "fr"),
    ("Veloce rachètera Kargo Lab d'ici l'été", "fr"),
    ("Veloce acquires cargo-bike start-up Kargo Lab", "en"),
    ("Veloce acquired Kargo Lab last week", "en"),
    ("Veloce agrees to acquire Kargo Lab", "en"),
])
def test_acquisition_in_french_and_english_inflections(classifier, title, lang):
    analysis = analyse(classifier, "", title)
    assert analysis.lang == lang
    assert "acquisition" in labels(analysis)


def test_a_move_with_its_actor_even_in_the_passive(classifier):
    active = analyse(classifier, "", "Rouléo rachète son concurrent lyonnais Kargo Lab")
    assert active.actor_competitor == "rouleo"
    passive = analyse(classifier, "", "Kargo Lab racheté par Veloce pour 12 millions d'euros")
    assert "acquisition" in labels(passive) and passive.actor_competitor == "veloce"


def test_competitor_move_versus_another_companys_move(classifier):
    ours = analyse(classifier, "La start-up lève 45 millions d'euros pour doubler sa production.", "VoltaCycles lève 45 millions")
    other = analyse(classifier, "La start-up lève 45 millions d'euros pour doubler sa production.", "Kalipso lève 45 millions")
    assert "funding" in labels(ours) and "funding" in labels(other)
    assert ours.actor_competitor == "voltacycles"
    assert other.actor_competitor is None


def test_labels_carry_a_score_and_what_produced_them(classifier):
    analysis = analyse(classifier, "Le groupe annonce une hausse de 8 % de ses tarifs au 1er janvier.", "Veloce relève ses prix")
    pricing = next(l for l in analysis.labels if l["label"] == "pricing")
    assert pricing["axis"] == "moves" and 0.5 <= pricing["score"] <= 1 and pricing["by"]


@pytest.mark.parametrize("text, title", [("", ""), ("", "Veloce"), ("<p><b></b></p>&nbsp;", ""), ("!!!", "…")])
def test_empty_or_nearly_empty_input_never_crashes(classifier, text, title):
    analysis = analyse(classifier, text, title, lang="fr")
    assert analysis.lang == "fr" and analysis.lang_how == "declared"


def test_huge_text_is_truncated_and_flagged(classifier):
    analysis = analyse(classifier, "Veloce rachète Rouléo. " * 50_000)
    assert "truncated" in analysis.flags and "acquisition" in labels(analysis)


def test_language_without_pipeline_is_classified_and_flagged(config):
    german = Classifier(config, languages=("fr", "en", "de"))
    analysis = next(german.analyse([TextInput(1, "Das Unternehmen übernimmt den Konkurrenten und baut seine "
                                                 "Marktposition in Deutschland weiter aus.", "Übernahme")]))
    assert analysis.lang == "de" and "blank_pipeline" in analysis.flags


def test_mixed_language_text_gets_one_language(classifier):
    analysis = analyse(classifier, "Le CEO a annoncé: we will hire 200 engineers in Lyon next year, "
                                   "une bonne nouvelle pour la région.", lang="fr")
    assert analysis.lang in ("fr", "en")


def test_evaluation_figures_on_a_known_set(classifier):
    examples = [Example_("a", "fr", "Veloce rachète Rouléo", "", frozenset({"acquisition"})),
                Example_("b", "en", "Football: the club wins again", "", frozenset())]
    report = evaluate(examples, classifier)
    row = next(r for r in report.rows if r["label"] == "acquisition")
    assert row["support"] == 1 and row["recall"] == 1.0
    assert report.floors == {"micro_f1": 0.77, "macro_f1": 0.79}


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_the_eval_gate_passes_on_the_dev_set():
    """The gate of the issue, run as CI runs it: the shipped model on nlp/dev/ against the pinned floors."""
    result = run("nlp", "eval", "--no-real", "--format", "json")
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert result.exit_code == 0, summary
    assert summary["passed"] and summary["micro_f1"] >= summary["floors"]["micro_f1"]
    rows = json.loads(result.stdout)
    assert len(rows) == 20 and all(r["support"] >= 15 for r in rows)


def test_cross_validated_training_writes_cuts_and_rule_weights(tmp_path):
    """`train` on a small set: the model, one cut per label from out-of-fold predictions, rule weights."""
    from nlp.pipeline import Pipelines
    from nlp.textcat import CUT_GRID, RULE_WEIGHT_MAX, TRAIN_DIR, load_examples, load_model, train

    examples = [e for e in load_examples(TRAIN_DIR) if e.lang == "en"][:300]
    train(examples, tmp_path / "model", Pipelines([]), epochs=2, folds=2)
    model = load_model(tmp_path)
    assert set(model.cuts) == set(taxonomy()) and all(c in CUT_GRID for c in model.cuts.values())
    assert model.rule_weights and all(0 < w <= RULE_WEIGHT_MAX for w in model.rule_weights.values())


def test_nlp_classify_reads_and_writes_json_lines():
    lines = "\n".join(json.dumps(row) for row in [
        {"id": "a", "text": "Le fabricant annonce le rachat de son concurrent.", "title": "Veloce rachète Rouléo"},
        {"id": 2, "title": "VoltaCycles raises €45m in a Series C round", "text": ""}]) + "\n"
    result = run("--config", str(REPO / "sources.yaml"), "nlp", "classify", "-", input=lines)
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", 2]
    assert {"lang", "labels", "entities", "actor"} <= set(out[0])
    assert "acquisition" in {l["label"] for l in out[0]["labels"]} and out[1]["lang"] == "en"
    bad = run("nlp", "classify", "-", input='not json\n{"id": 7, "title": "Veloce rachète Rouléo"}\n[1]\n'
                                             '{"id": 8, "text": 12}\n')
    assert bad.exit_code == 1 and "-:1" in bad.stderr and "-:3" in bad.stderr and "-:4" in bad.stderr
    assert [json.loads(line)["id"] for line in bad.stdout.splitlines()] == [7]


def test_nlp_cluster_groups_reworded_headlines():
    rows = [{"id": 1, "title": "Veloce met la main sur la start-up nantaise Kargo Lab", "text": "Montant non communiqué.",
             "source": "a", "published_at": "2026-11-20T08:00:00+00:00"},
            {"id": 2, "title": "Veloce snaps up French cargo-bike start-up Kargo Lab", "text": "Terms were not disclosed.",
             "source": "b", "published_at": "2026-11-20T15:00:00+00:00"},
            {"id": 3, "title": "Rouléo rappelle 1 200 biporteurs", "text": "Un défaut de fourche.", "source": "c",
             "published_at": "2026-11-20T09:00:00+00:00"}]
    result = run("--config", str(REPO / "sources.yaml"), "nlp", "cluster", "-",
                 input="\n".join(json.dumps(r) for r in rows) + "\n")
    stories = {json.loads(line)["id"]: json.loads(line)["story"] for line in result.stdout.splitlines()}
    assert stories[1] == stories[2] != stories[3]


def test_classify_the_store_scores_groups_and_keeps_corrections(tmp_path):
    from watch.store import Store

    config_path = tmp_path / "sources.yaml"
    config_path.write_text((REPO / "sources.yaml").read_text().replace("database: data/veille.db", "database: v.db"),
                           encoding="utf-8")
    config = load_config(config_path)
    now = datetime.now(timezone.utc)
    with Store.open(config.database) as store:
        store.sync_sources(config.sources)
        store.ingest("cyclehebdo", [Entry(url="https://a.example/1", title="Veloce met la main sur Kargo Lab",
                                          summary="Le fabricant lyonnais rachète la start-up nantaise.", published=now)], "feed")
        store.ingest("euromobility", [Entry(url="https://b.example/1", title="Veloce snaps up Kargo Lab",
                                            summary="The Lyon e-bike maker acquires the Nantes start-up.", published=now)], "feed")
    result = run("--config", str(config_path), "classify")
    assert result.exit_code == 0, result.output
    with Store.open(config.database) as store:
        items = store.items()
        assert all("acquisition" in {l["label"] for l in i["labels"]} for i in items)
        assert items[0]["story"] == items[1]["story"] and items[0]["credibility"] == 3
        assert all(i["score"] > 50 and any(r["kind"] == "competitor" for r in i["reasons"]) for i in items)
        item_id = items[0]["id"]
    assert run("--config", str(config_path), "label", str(item_id), "acquisition", "--remove").exit_code == 0
    with Store.open(config.database) as store:  # the "why" follows the correction at once, without a new pass
        corrected = next(i for i in store.items() if i["id"] == item_id)
        assert not any(r["kind"] == "move" for r in corrected["reasons"])
    assert run("--config", str(config_path), "label", str(item_id), "pricing").exit_code == 0
    with Store.open(config.database) as store:
        corrected = next(i for i in store.items() if i["id"] == item_id)
        assert {r["label"] for r in corrected["reasons"] if r["kind"] == "move"} == {"pricing"}
    assert run("--config", str(config_path), "label", str(item_id), "pricing", "--remove").exit_code == 0
    assert run("--config", str(config_path), "label", str(item_id), "csr").exit_code == 0
    assert run("--config", str(config_path), "label", str(item_id), "aquisition").exit_code == 2
    run("--config", str(config_path), "classify", "--all")
    with Store.open(config.database) as store:
        kept = {l["label"]: l["by"] for l in next(i for i in store.items() if i["id"] == item_id)["labels"]}
    assert "acquisition" not in kept and kept["csr"] == "analyst"


def test_helper_processes_give_the_same_analyses_in_the_same_order(classifier):
    # Small batches so that the helper and this process both take several, and the helper's queue fills.
    rows = [json.loads(line) for name in ("fr", "en") for line in (REPO / "nlp" / "dev" / f"{name}.jsonl")
            .read_text(encoding="utf-8").splitlines()[:24]]
    inputs = [TextInput(r["id"], r["text"], r["title"]) for r in rows]
    alone = [a.as_record() for a in classifier.analyse(inputs, batch_size=4)]
    together = [a.as_record() for a in classifier.analyse(inputs, batch_size=4, workers=2)]
    assert [a["id"] for a in together] == [r["id"] for r in rows]
    assert together == alone


TRICKY = ["  espaces en tête et  doubles  ", "Aujourd'hui, M. Dupont (Vélocé) a dit : « c'est-à-dire » !",
          "aujourd'hui.\n\nL'entreprise\tva-t-elle racheter Kargo ? 3,5 M€ à 10 h 30…",
          "Mr. Smith doesn't agree: it's 5 p.m.) :) see https://veloce.example/a?b=1 (e-mail: a@b.fr)",
          "\n", " ", "", "N°1 ex-PDG d'Éco-Vélo, vis-à-vis 1er/2e trimestres... C'EST L'ÉTÉ"]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_word_cache_gives_exactly_spacys_tokens(lang):
    import spacy

    from nlp.pipeline import WordCache, build_pipeline

    texts = []
    for path in sorted((REPO / "nlp").glob(f"*/{lang}*.jsonl")):  # every text of the training and dev sets
        for line in path.read_text(encoding="utf-8").splitlines():
            example = json.loads(line)
            texts.append(f"{example.get('title', '')}\n{example.get('text', '')}")
    texts = TRICKY + texts + TRICKY  # the second time round, from a warm cache
    nlp = build_pipeline(lang, [], use_models=False)
    assert isinstance(nlp.tokenizer, WordCache)
    plain = spacy.blank(lang).tokenizer
    for text in texts:
        assert [(t.text, t.whitespace_, t.norm_) for t in nlp.make_doc(text)] == [
            (t.text, t.whitespace_, t.norm_) for t in plain(text)]
    assert len(texts) > 600


def test_the_word_cache_passes_settings_to_spacy_and_can_be_copied():
    import pickle

    import spacy

    from nlp.pipeline import WordCache

    cache = WordCache(spacy.blank("en").tokenizer)
    assert [t.text for t in cache("I don't know")] == ["I", "do", "n't", "know"]
    cache.rules = {}  # set on spaCy's tokenizer, whose cache empties: the new rules apply at once
    assert cache.tokenizer.rules == {} and [t.text for t in cache("I don't know")] == ["I", "don't", "know"]
    copied = pickle.loads(pickle.dumps(cache))
    assert [t.text for t in copied("I don't know")] == ["I", "don't", "know"]
