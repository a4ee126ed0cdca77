"""Stories through the real pipeline: the demo sector stored in a real SQLite file, classified by the real stage,
grouped, then read back by `veille nlp cluster` and by a digest. What the hand annotations of test_stories.py
cannot show: the stories the classifier's own companies and labels give."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from tests.test_stories import ROOT, load_demo
from watch.cli import main
from watch.config import load_config
from watch.models import Entry
from watch.store import Store

# Feed folders of the demo server whose source id in sources.yaml is not the folder's name.
SOURCE_IDS = {"veloce": "veloce-news", "voltacycles": "voltacycles-news"}
KARGO = ["cyclehebdo/veloce-rachete-kargo-lab", "bikeindustry/veloce-snaps-up-kargo-lab",
         "veloce/veloce-acquisition-kargo-lab", "euromobility/veloce-buys-kargo-lab"]
# Different events of one company in one week (or close to it), as the classifier sees them.
APART = [
    ("veloce/veloce-lance-le-v9", "veloce/veloce-acquisition-kargo-lab"),
    ("veloce/veloce-acquisition-kargo-lab", "veloce/veloce-site-assemblage-saint-etienne"),
    ("voltacycles/introducing-volta-cargo-l", "voltacycles/five-year-warranty-lfp"),
    ("euromobility/mobishare-fined-location-data", "euromobility/mobishare-wins-lyon-contract"),
    ("cyclehebdo/rouleo-rappelle-1200-biporteurs", "cyclehebdo/rouleo-famille-baisse-300-euros"),
    ("cyclehebdo/voltacycles-attaque-veloce-contrefacon", "cyclehebdo/voltacycles-leve-45-millions"),
]


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    """The annotated demo entries ingested into a fresh store and classified by `veille classify` (one pass)."""
    folder = tmp_path_factory.mktemp("stories")
    config_path = folder / "sources.yaml"
    config_path.write_text((ROOT / "sources.yaml").read_text(encoding="utf-8")
                           .replace("database: data/veille.db", "database: v.db"), encoding="utf-8")
    config = load_config(config_path)
    now = datetime.now(timezone.utc)
    ids = {}
    with Store.open(config.database) as store:
        store.sync_sources(config.sources)
        for key, item in load_demo(now).items():
            source = SOURCE_IDS.get(key.split("/")[0], key.split("/")[0])
            entry = Entry(url=item.url, title=item.title, summary=item.text, published=item.published)
            store.ingest(source, [entry], "feed", fetched_at=now - timedelta(minutes=5))
            ids[key] = store.conn.execute("select id from items where url = ?", [item.url]).fetchone()[0]
    result = run("--config", str(config_path), "classify")
    assert result.exit_code == 0, result.output
    with Store.open(config.database) as store:
        stories = {row["id"]: row["story"] for row in store.items()}
    return config_path, ids, stories


def test_the_four_press_items_on_kargo_lab_are_one_story(demo_store):
    _, ids, stories = demo_store
    assert len({stories[ids[key]] for key in KARGO}) == 1


@pytest.mark.parametrize(("one", "other"), APART)
def test_different_events_of_one_company_stay_apart(demo_store, one, other):
    _, ids, stories = demo_store
    assert stories[ids[one]] != stories[ids[other]]


def test_no_story_is_giant(demo_store):
    _, _, stories = demo_store
    sizes = {}
    for story in stories.values():
        sizes[story] = sizes.get(story, 0) + 1
    assert max(sizes.values()) <= 5  # the demo's largest story has four items (a fifth from Rouléo's own site)


def test_nlp_cluster_agrees_with_the_store(demo_store):
    """`veille items --format jsonl | veille nlp cluster -` gives the stories the store holds: one function."""
    config_path, _, stories = demo_store
    exported = run("--config", str(config_path), "items", "--format", "jsonl")
    assert exported.exit_code == 0, exported.output
    result = run("--config", str(config_path), "nlp", "cluster", "-", input=exported.stdout)
    assert result.exit_code == 0, result.output
    clustered = {row["id"]: row["story"] for row in map(json.loads, result.stdout.splitlines())}
    assert set(clustered) == set(stories)

    def partition(mapping):
        groups = {}
        for item, story in mapping.items():
            groups.setdefault(story, set()).add(item)
        return sorted(sorted(group) for group in groups.values())

    assert partition(clustered) == partition(stories)


def test_the_direction_brief_shows_the_kargo_story_once_in_french(demo_store):
    from digests.select import candidates

    config_path, ids, _ = demo_store
    config = load_config(config_path)
    direction = next(a for a in config.audiences if a.id == "direction")
    now = datetime.now(timezone.utc)
    with Store.open(config.database) as store:
        picks = candidates(config, store, direction, now - timedelta(days=1), now, 0)
    kargo = {ids[key] for key in KARGO}
    shown = [p for p in picks if p.id in kargo or kargo & set(p.folded)]
    assert len(shown) == 1
    pick = shown[0]
    assert pick.row["lang"] == "fr" and pick.row["source"] == "cyclehebdo"  # French, and not Veloce's own newsroom
    assert kargo - {pick.id} <= set(pick.folded)
    assert pick.also_sources == ["bikeindustry", "euromobility", "veloce-news"]
    # Corroboration counts independent outlets: Cycle Hebdo, Bike Industry Weekly, Euro Mobility News, not the
    # newsroom of the company that made the purchase.
    reasons = json.loads(pick.row["reasons"])
    assert [r["sources"] for r in reasons if r["kind"] == "story"] == [3]
    assert pick.row["credibility"] == 2  # Admiralty "probably true": three independent sources
