"""Story grouping: the demo sector's multi-outlet stories group, different events of one company stay apart."""

from __future__ import annotations

import html
import json
import random
import re
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from nlp.stories import (MOVE_LABELS, StoryItem, extend_stories, group_stories, independent_sources, pair_scores,
                         story_sources)
from nlp.story_words import numbers_in

ROOT = Path(__file__).resolve().parents[1]
SECTOR = ROOT / "watch" / "demo" / "sector.yaml"
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)

# What a classifier would attach to each demo entry: competitor ids / organisations, and taxonomy labels.
# Written by hand, including the traps a real classifier sets: Veloce's LFP range and VoltaCycles' warranty are
# labelled `launch` like the V9 and the Cargo L launched the same week.
ANNOTATIONS: dict[str, tuple[str, str]] = {
    # Cycle Hebdo (fr)
    "cyclehebdo/veloce-v9-ticket-entree": ("veloce", "launch pricing offer"),
    "cyclehebdo/voltacycles-batterie-lfp-biporteur": ("voltacycles", "launch technology"),
    "cyclehebdo/salon-lyon-batterie-lfp": ("rouleo", "technology"),
    "cyclehebdo/rouleo-ferme-bordeaux": ("rouleo", "expansion"),
    "cyclehebdo/veloce-rachete-kargo-lab": ("veloce|kargo lab|rouleo", "acquisition"),
    "cyclehebdo/destockage-remises-30-pourcent": ("", "economy"),
    "cyclehebdo/rouleo-famille-baisse-300-euros": ("rouleo", "pricing"),
    "cyclehebdo/bonus-velo-coup-de-rabot": ("", "regulation economy"),
    "cyclehebdo/rouleo-rappelle-1200-biporteurs": ("rouleo", "legal"),
    "cyclehebdo/voltacycles-leve-45-millions": ("voltacycles", "funding"),
    "cyclehebdo/marques-createurs-de-contenu": ("", "communication"),
    "cyclehebdo/veloce-s-affiche-metro-lyonnais": ("veloce", "campaign communication"),
    "cyclehebdo/penurie-mecaniciens-ateliers": ("", "economy"),
    "cyclehebdo/voltacycles-attaque-veloce-contrefacon": ("voltacycles|veloce", "legal technology"),
    "cyclehebdo/vae-marque-le-pas-troisieme-trimestre": ("", "economy"),
    "cyclehebdo/rouleo-supprime-40-postes": ("rouleo", "workforce"),
    "cyclehebdo/mobishare-marche-lyon": ("mobishare", "partnership"),
    "cyclehebdo/vae-reconditionne-primo-accedants": ("", "consumer offer"),
    "cyclehebdo/rouleo-levee-12-millions": ("rouleo", "funding"),
    "cyclehebdo/veloce-chiffre-affaires-48-millions": ("veloce", "results"),
    "cyclehebdo/seniors-moteur-marche-vae": ("", "demography consumer"),
    "cyclehebdo/ue-prolonge-antidumping": ("", "regulation"),
    # Bike Industry Weekly (en)
    "bikeindustry/dealers-prepare-lfp-service": ("", "technology"),
    "bikeindustry/voltacycles-bets-on-lfp": ("voltacycles", "launch technology"),
    "bikeindustry/connected-anti-theft-standard-kit": ("", "technology offer"),
    "bikeindustry/veloce-snaps-up-kargo-lab": ("veloce|kargo lab|rouleo", "acquisition"),
    "bikeindustry/cell-suppliers-lfp-orders-surge": ("", "technology"),
    "bikeindustry/voltacycles-to-hire-150-leipzig": ("voltacycles", "workforce"),
    "bikeindustry/belt-drives-one-in-four": ("", "technology offer"),
    "bikeindustry/distributor-survey-inventories": ("", "economy"),
    "bikeindustry/brands-pledge-spare-parts": ("", "csr regulation"),
    "bikeindustry/mobishare-appoints-ceo": ("mobishare", "leadership"),
    "bikeindustry/french-ebike-sales-slip-q3": ("", "economy"),
    "bikeindustry/speed-pedelecs-belgian-model": ("", "regulation"),
    "bikeindustry/voltacycles-revenue-growth-h1": ("voltacycles", "results"),
    "bikeindustry/chemistry-watch-lfp": ("", "technology"),
    "bikeindustry/couriers-scale-up-cargo-fleets": ("", "megatrend"),
    "bikeindustry/component-prices-ease": ("", "economy"),
    "bikeindustry/parents-drive-cargo-demand": ("", "consumer demography"),
    "bikeindustry/lifecycle-study-ebike-footprint": ("", "csr"),
    # Veloce newsroom (fr)
    "veloce/veloce-gamme-urbaine-batterie-lfp": ("veloce", "launch technology"),
    "veloce/veloce-lance-le-v9": ("veloce", "launch"),
    "veloce/veloce-recrute-60-saint-etienne": ("veloce", "workforce"),
    "veloce/veloce-acquisition-kargo-lab": ("veloce|kargo lab", "acquisition"),
    "veloce/veloce-site-assemblage-saint-etienne": ("veloce|kargo lab", "expansion"),
    "veloce/veloce-partenariat-flotte-verte": ("veloce|flotte verte", "partnership"),
    "veloce/veloce-campagne-lyon-sans-voiture": ("veloce", "campaign"),
    "veloce/veloce-nomination-claire-morand": ("veloce", "leadership"),
    "veloce/veloce-position-assignation-voltacycles": ("veloce|voltacycles", "legal"),
    "veloce/veloce-evolution-tarifs": ("veloce", "pricing"),
    "veloce/veloce-dix-ans-pieces-detachees": ("veloce", "csr offer"),
    "veloce/veloce-chiffre-affaires-annuel": ("veloce", "results"),
    "veloce/veloce-boutique-paris": ("veloce", "expansion"),
    # VoltaCycles press room (en)
    "voltacycles/five-year-warranty-lfp": ("voltacycles", "launch technology"),
    "voltacycles/introducing-volta-cargo-l": ("voltacycles", "launch"),
    "voltacycles/paris-flagship-store": ("voltacycles", "expansion"),
    "voltacycles/hiring-150-leipzig": ("voltacycles", "workforce"),
    "voltacycles/new-prices-france": ("voltacycles", "pricing"),
    "voltacycles/series-c-45-million": ("voltacycles", "funding"),
    "voltacycles/raillink-partnership": ("voltacycles|raillink europe", "partnership"),
    "voltacycles/legal-action-torque-sensor-patent": ("voltacycles|veloce", "legal"),
    "voltacycles/half-year-results": ("voltacycles", "results"),
    "voltacycles/ride-the-volt-campaign": ("voltacycles", "campaign"),
    "voltacycles/anna-keller-cto": ("voltacycles", "leadership"),
    "voltacycles/battery-take-back-programme": ("voltacycles", "csr"),
    # Observatoire national du cycle (fr)
    "observatoire/prix-moyen-vae-douze-mois": ("", "economy"),
    "observatoire/part-batteries-lfp": ("", "technology"),
    "observatoire/frequentation-cyclable-hausse": ("", "consumer"),
    "observatoire/portrait-acheteurs-vae": ("", "demography consumer"),
    "observatoire/velos-cargo-premier-semestre": ("", "economy"),
    "observatoire/ventes-troisieme-trimestre": ("", "economy"),
    "observatoire/emploi-filiere-fabrication": ("", "economy"),
    "observatoire/un-vae-sur-trois-assemble-en-france": ("", "economy"),
    "observatoire/vol-frein-achat-vae": ("", "consumer"),
    "observatoire/bilan-deuxieme-trimestre": ("", "economy"),
    # Le blog du vélotaf (fr)
    "velotaf/six-mois-batterie-lfp": ("", "technology consumer"),
    "velotaf/garer-velo-copropriete": ("", "consumer"),
    "velotaf/cinq-applis-velotaf": ("", "consumer"),
    "velotaf/velotaf-sous-la-pluie": ("", "consumer"),
    "velotaf/bonus-velo-acheter-maintenant": ("", "regulation consumer"),
    "velotaf/forfait-mobilites-employeur-oui": ("", "regulation consumer"),
    "velotaf/essai-longue-duree-veloce-v8": ("veloce", "offer consumer"),
    "velotaf/biporteur-ecole-six-mois": ("", "consumer"),
    "velotaf/assurance-vol-cinq-contrats": ("", "consumer"),
    "velotaf/mobishare-ou-velo-perso": ("mobishare", "consumer"),
    "velotaf/cout-revision-annuelle-vae": ("", "consumer economy"),
    "velotaf/reparer-soi-meme-son-vae": ("", "consumer"),
    "velotaf/pourquoi-je-suis-passe-au-velotaf": ("", "consumer"),
    # Euro Mobility News (en)
    "euromobility/battery-makers-pivot-to-lfp": ("voltacycles|veloce", "technology"),
    "euromobility/micromobility-funding-five-year-low": ("voltacycles", "economy"),
    "euromobility/mobishare-pulls-out-of-toulouse": ("mobishare", "expansion"),
    "euromobility/veloce-buys-kargo-lab": ("veloce|kargo lab", "acquisition"),
    "euromobility/fifteen-minute-city-zoning": ("", "megatrend"),
    "euromobility/france-trims-ebike-subsidy": ("", "regulation"),
    "euromobility/rouleo-recalls-cargo-bikes": ("rouleo", "legal"),
    "euromobility/voltacycles-raises-45m": ("voltacycles", "funding"),
    "euromobility/ebikes-outsell-electric-cars": ("", "megatrend economy"),
    "euromobility/veloce-names-claire-morand-ceo": ("veloce", "leadership"),
    "euromobility/low-emission-zones-spread": ("", "regulation megatrend"),
    "euromobility/mobishare-fined-location-data": ("mobishare", "legal"),
    "euromobility/mobishare-wins-lyon-contract": ("mobishare", "partnership"),
    "euromobility/ageing-europe-e-assist": ("", "demography"),
    "euromobility/household-budgets-big-ticket": ("", "economy"),
    "euromobility/cities-cargo-bike-loading-bays": ("", "megatrend regulation"),
    # Veille réglementaire mobilité (fr)
    "reglementation/passeport-numerique-batteries-vae": ("", "regulation technology"),
    "reglementation/revision-norme-en-15194": ("", "regulation"),
    "reglementation/zfe-calendrier-revise": ("", "regulation"),
    "reglementation/bonus-velo-plafond-300-euros": ("", "regulation"),
    "reglementation/avis-rappel-rouleo-famille": ("rouleo", "legal"),
    "reglementation/marquage-antivol-velos-occasion": ("", "regulation"),
    "reglementation/forfait-mobilites-plafond-800": ("", "regulation"),
    "reglementation/indice-reparabilite-velos-electriques": ("", "regulation csr"),
    "reglementation/plan-velo-250-millions": ("", "regulation"),
    "reglementation/debridage-controles-sanctions": ("", "regulation"),
    "reglementation/rep-collecte-batteries-vae": ("", "regulation csr"),
}

# The stories told by several outlets in the demo sector (sector.yaml's header lists them).
EXPECTED_STORIES = {
    "kargo-lab": {"cyclehebdo/veloce-rachete-kargo-lab", "bikeindustry/veloce-snaps-up-kargo-lab",
                  "veloce/veloce-acquisition-kargo-lab", "euromobility/veloce-buys-kargo-lab"},
    "volta-series-c": {"cyclehebdo/voltacycles-leve-45-millions", "voltacycles/series-c-45-million",
                       "euromobility/voltacycles-raises-45m"},
    "bonus-velo": {"cyclehebdo/bonus-velo-coup-de-rabot", "reglementation/bonus-velo-plafond-300-euros",
                   "euromobility/france-trims-ebike-subsidy", "velotaf/bonus-velo-acheter-maintenant"},
    "rouleo-recall": {"cyclehebdo/rouleo-rappelle-1200-biporteurs", "euromobility/rouleo-recalls-cargo-bikes",
                      "reglementation/avis-rappel-rouleo-famille"},
    "q3-sales": {"cyclehebdo/vae-marque-le-pas-troisieme-trimestre", "bikeindustry/french-ebike-sales-slip-q3",
                 "observatoire/ventes-troisieme-trimestre"},
    "volta-cargo-l": {"cyclehebdo/voltacycles-batterie-lfp-biporteur", "bikeindustry/voltacycles-bets-on-lfp",
                      "voltacycles/introducing-volta-cargo-l"},
    "veloce-v9": {"cyclehebdo/veloce-v9-ticket-entree", "veloce/veloce-lance-le-v9"},
    "veloce-ceo": {"veloce/veloce-nomination-claire-morand", "euromobility/veloce-names-claire-morand-ceo"},
    "patent-suit": {"cyclehebdo/voltacycles-attaque-veloce-contrefacon",
                    "voltacycles/legal-action-torque-sensor-patent", "veloce/veloce-position-assignation-voltacycles"},
    "mobishare-lyon": {"cyclehebdo/mobishare-marche-lyon", "euromobility/mobishare-wins-lyon-contract"},
    "lyon-sans-voiture": {"cyclehebdo/veloce-s-affiche-metro-lyonnais", "veloce/veloce-campagne-lyon-sans-voiture"},
    "volta-h1-results": {"bikeindustry/voltacycles-revenue-growth-h1", "voltacycles/half-year-results"},
    "volta-hiring": {"bikeindustry/voltacycles-to-hire-150-leipzig", "voltacycles/hiring-150-leipzig"},
    "veloce-revenue": {"cyclehebdo/veloce-chiffre-affaires-48-millions", "veloce/veloce-chiffre-affaires-annuel"},
}


def _plain(summary: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", summary))).strip()


def load_demo(now: datetime = NOW) -> dict[str, StoryItem]:
    """The annotated demo entries as StoryItems, keyed 'outlet/slug'; dates as the demo server computes them."""
    data = yaml.safe_load(SECTOR.read_text(encoding="utf-8"))
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    items: dict[str, StoryItem] = {}
    for feed in data["feeds"]:
        outlet = feed["path"].strip("/").split("/")[0]
        for entry in feed["entries"]:
            key = f"{outlet}/{entry['slug']}"
            if key not in ANNOTATIONS:
                continue  # an entry added to the demo later: not annotated, not part of these measurements
            companies, labels = ANNOTATIONS[key]
            published = midnight - timedelta(days=entry["days_ago"]) + timedelta(hours=entry["hour"])
            items[key] = StoryItem(
                id=len(items) + 1, source=outlet, title=entry["title"], text=_plain(entry["summary"]),
                lang=feed["language"], published=published if published <= now else published - timedelta(days=1),
                companies=frozenset(c for c in companies.split("|") if c), labels=frozenset(labels.split()),
                url=f"http://demo.example/{key}.html")
    return items


def multi_item_stories(items: dict[str, StoryItem], groups: dict[int, int]) -> list[set[str]]:
    by_id = {it.id: key for key, it in items.items()}
    stories: dict[int, set[str]] = {}
    for item_id, story in groups.items():
        stories.setdefault(story, set()).add(by_id[item_id])
    return [keys for keys in stories.values() if len(keys) > 1]


@pytest.fixture(scope="module")
def demo() -> dict[str, StoryItem]:
    items = load_demo()
    missing = {key for story in EXPECTED_STORIES.values() for key in story} - set(items)
    assert not missing, f"demo entries renamed or removed from sector.yaml: {sorted(missing)}"
    return items


@pytest.fixture(scope="module")
def demo_groups(demo: dict[str, StoryItem]) -> dict[int, int]:
    return group_stories(list(demo.values()))


def story_of(items: dict[str, StoryItem], groups: dict[int, int], key: str) -> int:
    return groups[items[key].id]


# ---------------------------------------------------------------------------------------------------------------
# Text helpers


def test_move_labels_follow_the_taxonomy() -> None:
    taxonomy = yaml.safe_load((ROOT / "nlp" / "taxonomy.yaml").read_text(encoding="utf-8"))
    assert MOVE_LABELS == {move["id"] for move in taxonomy["moves"]}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("L'allemand VoltaCycles lève 45 millions d'euros", {"45000000"}),
        ("une levée de série C de 45 M€", {"45000000"}),
        ("VoltaCycles raises €45m to double output", {"45000000"}),
        ("closes €45 million Series C", {"45000000"}),
        ("Rouléo rappelle 1 200 biporteurs", {"1200"}),
        ("Rouléo rappelle 1\u202f200 biporteurs", {"1200"}),   # narrow no-break space, as typeset in French
        ("Rouleo recalls 1,200 cargo bikes", {"1200"}),
        ("un budget de 1,2 M€", {"1200000"}),                  # French decimal comma
        ("fined €1.2m", {"1200000"}),
        ("les VAE reculent de 6 %", {"6%"}),
        ("sales slip 6% in Q3", {"6%"}),
        ("Veloce dévoile le V9 au 3e trimestre, 2 modèles", set()),  # model names, ordinals, small counts
        ("passe de 400 € à 300 €", {"400", "300", "100"}),   # a change also gives its size
        ("from €1,000 to €700", {"1000", "700", "300"}),
        ("€2,590 instead of €2,990", {"2590", "2990", "400"}),
        ("un site de 6 000 m² et un brevet de 2019", {"6000", "2019"}),
    ],
)
def test_numbers_are_normalised(text: str, expected: set[str]) -> None:
    assert numbers_in(text) == expected


# ---------------------------------------------------------------------------------------------------------------
# The demo sector's stories


def test_each_multi_outlet_story_is_grouped(demo: dict[str, StoryItem], demo_groups: dict[int, int]) -> None:
    for name, keys in EXPECTED_STORIES.items():
        stories = {story_of(demo, demo_groups, key) for key in keys}
        assert len(stories) == 1, f"{name} split into {len(stories)} stories"
        assert stories == {min(demo[key].id for key in keys)}  # the story id is its smallest item id


def test_no_other_story_forms(demo: dict[str, StoryItem], demo_groups: dict[int, int]) -> None:
    got = sorted(sorted(keys) for keys in multi_item_stories(demo, demo_groups))
    assert got == sorted(sorted(keys) for keys in EXPECTED_STORIES.values())
    alone = [key for key, it in demo.items() if demo_groups[it.id] == it.id and
             not any(key in keys for keys in EXPECTED_STORIES.values())]
    assert len(alone) == len(demo) - sum(len(keys) for keys in EXPECTED_STORIES.values())


@pytest.mark.parametrize(
    ("one", "other"),
    [
        # Same company, same week, different events.
        ("veloce/veloce-lance-le-v9", "veloce/veloce-gamme-urbaine-batterie-lfp"),       # two launches, 2 days
        ("cyclehebdo/veloce-v9-ticket-entree", "veloce/veloce-gamme-urbaine-batterie-lfp"),
        ("veloce/veloce-acquisition-kargo-lab", "veloce/veloce-site-assemblage-saint-etienne"),  # both name Kargo Lab
        ("euromobility/mobishare-fined-location-data", "euromobility/mobishare-wins-lyon-contract"),
        ("bikeindustry/voltacycles-revenue-growth-h1", "euromobility/mobishare-fined-location-data"),
        ("cyclehebdo/voltacycles-batterie-lfp-biporteur", "euromobility/battery-makers-pivot-to-lfp"),
        # Same company, further apart: the brief's examples.
        ("veloce/veloce-lance-le-v9", "veloce/veloce-acquisition-kargo-lab"),
        ("cyclehebdo/voltacycles-attaque-veloce-contrefacon", "cyclehebdo/voltacycles-leve-45-millions"),
        # One LFP topic, many events: a rising term is not a story.
        ("bikeindustry/dealers-prepare-lfp-service", "reglementation/passeport-numerique-batteries-vae"),
        ("velotaf/six-mois-batterie-lfp", "veloce/veloce-gamme-urbaine-batterie-lfp"),
    ],
)
def test_different_events_stay_apart(demo: dict[str, StoryItem], demo_groups: dict[int, int],
                                     one: str, other: str) -> None:
    assert story_of(demo, demo_groups, one) != story_of(demo, demo_groups, other)


def test_chaining_guard_keeps_the_warranty_out_of_the_cargo_l_launch(demo: dict[str, StoryItem],
                                                                      demo_groups: dict[int, int]) -> None:
    """VoltaCycles' LFP warranty (labelled a launch, same week, "3,000 cycles") scores above the threshold with
    Cycle Hebdo's Cargo L article alone; single-link grouping would pull it into the Cargo L story."""
    warranty, fr = demo["voltacycles/five-year-warranty-lfp"], demo["cyclehebdo/voltacycles-batterie-lfp-biporteur"]
    scores = pair_scores(list(demo.values()))
    assert scores[(min(warranty.id, fr.id), max(warranty.id, fr.id))].total >= 0.5  # the trap is real
    assert demo_groups[warranty.id] == warranty.id  # and yet the warranty stays alone


def test_reposts_count_once(demo: dict[str, StoryItem]) -> None:
    original = demo["veloce/veloce-acquisition-kargo-lab"]
    repost = StoryItem(id=1000, source=original.source, title=original.title + " ", text=original.text[:120],
                       lang=original.lang, published=original.published + timedelta(hours=20),
                       companies=original.companies, labels=original.labels, url=original.url + "?utm=x")
    items = [*demo.values(), repost]
    groups = group_stories(items)
    story = groups[original.id]
    assert groups[repost.id] == story
    members = [it for it in items if groups[it.id] == story]
    assert len(members) == 5
    assert story_sources(items, groups)[story] == {"cyclehebdo", "bikeindustry", "veloce", "euromobility"}


def test_outside_the_window_items_stay_apart(demo: dict[str, StoryItem]) -> None:
    fr, en = demo["cyclehebdo/rouleo-rappelle-1200-biporteurs"], demo["euromobility/rouleo-recalls-cargo-bikes"]
    assert group_stories([fr, en])[en.id] == fr.id
    late = StoryItem(**{**en.__dict__, "published": fr.published + timedelta(days=6)})
    assert group_stories([fr, late]) == {fr.id: fr.id, late.id: late.id}
    assert group_stories([fr, late], window_days=7)[late.id] == fr.id
    # A repost (same source, same title) is subject to the window too: a weekly column keeps its title.
    again = StoryItem(**{**fr.__dict__, "id": 999, "published": fr.published + timedelta(days=10)})
    assert group_stories([fr, again]) == {fr.id: fr.id, again.id: again.id}


def test_story_sources_of_lone_items(demo: dict[str, StoryItem], demo_groups: dict[int, int]) -> None:
    sources = story_sources(list(demo.values()), demo_groups)
    lone = demo["velotaf/garer-velo-copropriete"]
    assert sources[lone.id] == {"velotaf"}
    kargo = story_of(demo, demo_groups, "veloce/veloce-acquisition-kargo-lab")
    assert len(sources[kargo]) == 4
    assert sum(len(s) for s in sources.values()) == len(demo)  # no repost in the demo: one source per item


# ---------------------------------------------------------------------------------------------------------------
# Headlines written for this test (not from the demo): rewording, two languages, traps


def _item(id: int, source: str, lang: str, day: float, title: str, text: str, companies: str, labels: str
          ) -> StoryItem:
    return StoryItem(id=id, source=source, title=title, text=text, lang=lang,
                     published=datetime(2026, 5, 4, 8, tzinfo=timezone.utc) + timedelta(days=day),
                     companies=frozenset(c for c in companies.split("|") if c), labels=frozenset(labels.split()))


REWORDED = [
    _item(1, "presse-eco", "fr", 0.0, "Pedalis s'offre le motoriste Motiva",
          "Le fabricant bordelais Pedalis rachète Motiva, spécialiste des moteurs pédaliers, pour 30 millions "
          "d'euros. Les 85 salariés de Motiva rejoignent le groupe.", "pedalis|motiva", "acquisition"),
    _item(2, "bike-wire", "en", 0.4, "Pedalis buys mid-drive specialist Motiva in €30m deal",
          "E-bike maker Pedalis has agreed to acquire motor supplier Motiva for €30 million, bringing its 85 staff "
          "in-house.", "pedalis|motiva", "acquisition"),
    _item(3, "cycle-pro", "fr", 1.1, "Motiva passe sous pavillon Pedalis",
          "Rachat confirmé : Motiva, fournisseur de moteurs, intègre Pedalis dans une opération à 30 M€.",
          "pedalis|motiva", "acquisition"),
    _item(4, "presse-eco", "fr", 1.5, "Défaut de freinage : Pedalis rappelle 800 vélos",
          "Pedalis demande aux propriétaires de 800 vélos Urban 5 de faire contrôler leurs étriers de frein.",
          "pedalis", "legal"),
    _item(5, "bike-wire", "en", 2.0, "Pedalis recalls 800 e-bikes over brake fault",
          "Owners of 800 Urban 5 bikes are asked to have the brake calipers checked by a dealer.", "pedalis", "legal"),
    _item(6, "cycle-pro", "fr", 2.2, "Pedalis lance un VAE pliant à 1 990 €",
          "Nouveau modèle pliant chez Pedalis : moteur de 60 Nm, vendu 1 990 € dès juin.",
          "pedalis", "launch"),
    _item(7, "stats-velo", "fr", 0.5, "Belgique : les ventes de vélos cargo bondissent de 18 %",
          "Selon la fédération belge, 41 000 vélos cargo ont été vendus l'an dernier, soit 18 % de plus.",
          "", "economy"),
    _item(8, "bike-wire", "en", 1.0, "Belgian cargo-bike sales jump 18%",
          "Sales of cargo bikes in Belgium rose 18% to 41,000 units last year, the national federation said.",
          "", "economy"),
    _item(9, "stats-velo", "fr", 1.0, "Pays-Bas : les ventes de vélos cargo progressent de 7 %",
          "Aux Pays-Bas, 52 000 vélos cargo ont été vendus l'an dernier, en hausse de 7 %.", "", "economy"),
    _item(10, "bike-wire", "en", 2.5, "Pedalis unveils €4,500 electric cargo bike",
          "Pedalis has unveiled the Carry 2, a cargo e-bike with a 750 Wh battery and a 90 Nm motor, priced at "
          "€4,500.", "pedalis", "launch"),
]


def test_reworded_headlines_group_by_event() -> None:
    groups = group_stories(REWORDED)
    assert groups == {1: 1, 2: 1, 3: 1,   # acquisition told three ways, in two languages
                      4: 4, 5: 4,         # recall, FR and EN: same company and week as the acquisition
                      6: 6,               # a launch, same company and week: another event
                      7: 7, 8: 7,         # market figure without any company
                      9: 9,               # another country's cargo-bike sales, the same week
                      10: 10}             # another Pedalis launch, in English, two figures that disagree
    assert story_sources(REWORDED, groups) == {1: {"presse-eco", "bike-wire", "cycle-pro"},
                                               4: {"presse-eco", "bike-wire"}, 6: {"cycle-pro"},
                                               7: {"stats-velo", "bike-wire"}, 9: {"stats-velo"},
                                               10: {"bike-wire"}}


def test_edge_cases() -> None:
    assert group_stories([]) == {}
    assert story_sources([], {}) == {}
    one = REWORDED[0]
    assert group_stories([one]) == {1: 1}
    with pytest.raises(ValueError):
        group_stories([one, one])


# ---------------------------------------------------------------------------------------------------------------
# Incremental grouping: a pass groups only new items, and its stories are those of one pass over everything


def test_two_passes_give_the_stories_of_one(demo: dict[str, StoryItem], demo_groups: dict[int, int]) -> None:
    ordered = sorted(demo.values(), key=lambda it: (it.published, it.id))
    early, late = ordered[: len(ordered) // 2], ordered[len(ordered) // 2:]
    first = group_stories(early)
    known = [StoryItem(**{**it.__dict__, "story": first[it.id]}) for it in early]
    changes = extend_stories(known, late)
    assert {it.id for it in late} <= set(changes)
    assert set(changes) - {it.id for it in late} <= {it.id for it in early}  # only merged stories move
    groups = {**first, **changes}
    for name, keys in EXPECTED_STORIES.items():
        assert len({groups[demo[key].id] for key in keys}) == 1, name
    assert sorted(sorted(keys) for keys in multi_item_stories(demo, groups)) == \
        sorted(sorted(keys) for keys in multi_item_stories(demo, demo_groups))


def test_a_story_grows_over_days_one_item_at_a_time() -> None:
    """Each report is a day after the previous one: the first and the last are a week apart, beyond the window,
    and the story still holds them all, since each newcomer meets the story's recent members."""
    days = [_item(20 + n, f"outlet-{n}", "en", 1.5 * n, f"Pedalis recall of Urban 5 bikes widens, update {n}",
                  "Pedalis recalls 800 Urban 5 e-bikes over a brake caliper fault; dealers check the calipers.",
                  "pedalis", "legal") for n in range(6)]
    known: list[StoryItem] = []
    for item in days:
        story = extend_stories(known, [item])[item.id]
        known.append(StoryItem(**{**item.__dict__, "story": story}))
    assert {it.story for it in known} == {20}


def test_an_item_forgotten_then_grouped_again_keeps_other_stories_apart() -> None:
    """A known story may be named after an item that is new again (its story was reset): no two stories share
    a name."""
    acquisition, recall = REWORDED[0], REWORDED[3]
    known = [StoryItem(**{**REWORDED[1].__dict__, "story": acquisition.id})]
    changes = extend_stories(known, [acquisition, recall])
    assert changes[acquisition.id] == acquisition.id and changes[recall.id] == recall.id


# ---------------------------------------------------------------------------------------------------------------
# Bad input: none crashes a pass, none becomes a giant story


def test_items_without_title_or_text_stay_alone() -> None:
    empty = [_item(100 + n, f"feed-{n}", "", 0.0, "", "", "", "") for n in range(5)]
    assert group_stories(empty) == {it.id: it.id for it in empty}
    mixed = [*empty, *REWORDED]
    groups = group_stories(mixed)
    assert all(groups[it.id] == it.id for it in empty) and groups[2] == groups[3] == 1


@pytest.mark.parametrize("title", ["Communiqué de presse", "Édito", "Revue de presse de la semaine"])
def test_identical_generic_titles_from_unrelated_feeds_stay_apart(title: str) -> None:
    bodies = ["", "Le groupe publie ses résultats annuels.", "Nouvelle boutique à Lille.", "",
              "Nomination d'un directeur commercial.", "Lancement d'un casque connecté."]
    items = [_item(200 + n, f"feed-{n}", "fr", 0.1 * n, title, body, "", "") for n, body in enumerate(bodies)]
    assert group_stories(items) == {it.id: it.id for it in items}


def test_a_companys_weekly_column_does_not_swallow_its_news(demo: dict[str, StoryItem]) -> None:
    """Veloce's newsroom publishes a weekly round-up that names each of the week's news in a line."""
    news = [demo[key] for key in ("veloce/veloce-acquisition-kargo-lab", "veloce/veloce-lance-le-v9",
                                  "veloce/veloce-recrute-60-saint-etienne", "veloce/veloce-campagne-lyon-sans-voiture")]
    base = max(it.published for it in news)
    columns = [StoryItem(id=900 + week, source="veloce", title="La semaine de Veloce",
                         text=" ".join(it.title + "." for it in news), lang="fr",
                         published=base + timedelta(days=7 * week, hours=2), companies=frozenset({"veloce", "kargo lab"}),
                         labels=frozenset({"acquisition", "launch", "workforce", "campaign"})) for week in range(3)]
    items = [*demo.values(), *columns]
    groups = group_stories(items)
    assert all(groups[c.id] == c.id for c in columns)  # neither a story of its own news nor of the other weeks'
    kargo = {groups[demo[key].id] for key in EXPECTED_STORIES["kargo-lab"]}
    assert len(kargo) == 1


def test_thousands_of_items_in_one_day_make_no_giant_story() -> None:
    """3,000 generated items published within one day (a noisy day of many feeds): the pass ends in seconds and
    no story takes in more than a handful of items."""
    rng = random.Random(14)
    vocabulary = [f"{rng.choice('bcdfglmprstv')}{rng.choice('aeiou')}{rng.choice('nrst')}{rng.choice('aeiou')}"
                  f"{rng.choice('lmnrx')}" for _ in range(3000)]
    common = vocabulary[:30]  # words every outlet uses
    items = []
    for n in range(3000):
        words = rng.sample(common, 4) + rng.sample(vocabulary[30:], 6)
        items.append(StoryItem(id=n, source=f"feed-{n % 300}", title=" ".join(words[:6]).capitalize(),
                               text=" ".join(words) + f" {rng.randint(10, 10_000)}", lang=rng.choice(["fr", "en"]),
                               published=NOW - timedelta(minutes=rng.uniform(0, 1440)),
                               companies=frozenset(), labels=frozenset()))
    begin = time.perf_counter()
    groups = group_stories(items)
    assert time.perf_counter() - begin < 30
    sizes = Counter(groups.values())
    assert max(sizes.values()) <= 3


def test_missing_unreadable_and_future_dates_count_as_first_seen_at_the_latest_now() -> None:
    from nlp.stage import story_item

    row = {"id": 1, "source": "feed", "title": "Titre", "summary": None, "text": None, "lang": "fr", "url": None,
           "companies": [], "labels": [], "first_seen": "2026-03-01T10:00:00+00:00"}
    assert story_item({**row, "published_at": None}, NOW).published == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
    assert story_item({**row, "published_at": "hier"}, NOW).published == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
    assert story_item({**row, "published_at": "2099-01-01T00:00:00"}, NOW).published == NOW
    assert story_item({**row, "published_at": None, "first_seen": None}, NOW).published == NOW
    assert story_item({**row, "published_at": "2026-03-02T08:00:00"}, NOW).published.tzinfo is not None


def test_independent_sources_leave_out_newsrooms_and_syndicated_copies(demo: dict[str, StoryItem],
                                                                        demo_groups: dict[int, int]) -> None:
    kargo = story_of(demo, demo_groups, "veloce/veloce-acquisition-kargo-lab")
    wire = demo["euromobility/veloce-buys-kargo-lab"]
    copy = StoryItem(**{**wire.__dict__, "id": 5000, "source": "regional-daily", "title": "Veloce rachète Kargo Lab",
                        "published": wire.published + timedelta(hours=3)})
    items = [*demo.values(), copy]
    groups = group_stories(items)
    assert groups[copy.id] == kargo
    told = independent_sources(items, groups, own=frozenset({"veloce"}))[kargo]
    assert told == {"cyclehebdo", "bikeindustry", "euromobility"}  # not the newsroom, not the copy
    assert story_sources(items, groups)[kargo] == told | {"veloce", "regional-daily"}


# ---------------------------------------------------------------------------------------------------------------
# veille nlp cluster


def test_nlp_cluster_reports_an_unreadable_line_and_groups_the_others() -> None:
    from click.testing import CliRunner

    from watch.cli import main

    rows = [json.dumps({"id": "fr", "title": "Pedalis rachète Motiva pour 30 millions d'euros", "source": "a",
                        "text": "Le fabricant Pedalis rachète le motoriste Motiva pour 30 millions d'euros.",
                        "published_at": "2026-05-04T08:00:00+00:00"}),
            "{not json",
            json.dumps(["a list"]),
            json.dumps({"id": "en", "title": "Pedalis buys Motiva in €30m deal", "source": "b",
                        "text": "Pedalis buys motor maker Motiva for €30 million.", "published_at": "2026-05-04T09:00"}),
            json.dumps({"id": "late", "title": "Pedalis rachète Motiva pour 30 millions d'euros", "source": "c",
                        "published_at": "2999-01-01T00:00:00+00:00"}),
            json.dumps({"id": "bare"})]
    result = CliRunner().invoke(main, ["--config", str(ROOT / "sources.yaml"), "nlp", "cluster", "-"],
                                input="\n".join(rows) + "\n", catch_exceptions=False)
    assert result.exit_code == 1
    assert "-:2:" in result.stderr and "-:3:" in result.stderr and "-:4:" not in result.stderr
    stories = {row["id"]: row["story"] for row in map(json.loads, result.stdout.splitlines())}
    assert stories == {"fr": "fr", "en": "fr", "late": "late", "bare": "bare"}  # a future date counts as now


def test_a_daily_report_in_the_same_words_is_a_new_event_each_day() -> None:
    """A market column writes the same sentence every day with new figures: each day is its own event; two
    outlets quoting the same day's figures tell one."""
    days = [(0, "1,2", "4 012"), (1, "0,4", "3 996"), (2, "2,1", "4 080"), (3, "0,9", "4 043")]
    items = [_item(300 + n, f"wire-{n % 2}", "fr", day, f"L'indice des ventes de VAE gagne {pct} % à {level} points",
                   f"L'indice hebdomadaire des ventes de vélos électriques gagne {pct} % et termine à {level} points.",
                   "", "economy") for n, (day, pct, level) in enumerate(days)]
    same_day = _item(310, "other-wire", "fr", 0.1, "Ventes de VAE : l'indice progresse de 1,2 % à 4 012 points",
                     "L'indice des ventes de vélos électriques progresse de 1,2 %, à 4 012 points.", "", "economy")
    groups = group_stories([*items, same_day])
    assert groups[same_day.id] == groups[300]
    assert len({groups[it.id] for it in items}) == len(items)
