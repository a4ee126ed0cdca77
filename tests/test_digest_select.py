"""Digest selection: interests, minimum score, recency, caps, sections, stories, never twice, internal sources."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from digests import run_alerts, run_digests
from digests.periods import period_bounds, period_of
from digests.select import select
from tests.digest_data import config  # noqa: F401 (a fixture)
from tests.digest_data import CONFIG, Seed, make_config, seed
from watch.errors import ConfigError


def now_plus(minutes: int = 1) -> datetime:
    return datetime.now(timezone.utc) + timedelta(minutes=minutes)


def selected(config, store, audience_id: str, now: datetime | None = None):
    audience = config.audience(audience_id)
    now = now or now_plus()
    return select(config, store, audience, period_of(audience, now), now - timedelta(days=7), now)


def titles(selection) -> list[str]:
    return [pick.row["title"] for pick in selection.picks]


def test_interests_minimum_score_ranking_and_cap(config, store):
    seed(store, [
        Seed("Veloce rachète Rouléo", score=90, labels=("acquisition",), competitors=("veloce", "rouleo"), actor="veloce"),
        Seed("Prix : un tarif à 55", score=55, labels=("pricing",)),
        Seed("Batteries solides : un prototype", score=80, labels=("technology",), source="trade"),
        Seed("Lancement sous le seuil", score=45, labels=("launch",)),
        *[Seed(f"Hausse de prix numéro {n}", score=60 + n, labels=("pricing",)) for n in range(7)],
    ])
    picked = selected(config, store, "direction")
    # Technology is outside the direction's interests, 45 is under its minimum of 50, and six is its maximum.
    assert titles(picked) == ["Veloce rachète Rouléo", "Hausse de prix numéro 6", "Hausse de prix numéro 5",
                              "Hausse de prix numéro 4", "Hausse de prix numéro 3", "Hausse de prix numéro 2"]
    rd = selected(config, store, "rd")
    assert "Batteries solides : un prototype" in titles(rd) and "Veloce rachète Rouléo" not in titles(rd)


def test_recency_lowers_the_score_of_old_news_collected_late(config, store):
    now = now_plus()
    seed(store, [
        Seed("Prix publiés il y a 5 jours", score=55, labels=("pricing",), published=now - timedelta(days=5)),
        Seed("Prix publiés il y a 9 jours", score=55, labels=("pricing",), published=now - timedelta(days=9)),
        Seed("Prix publiés il y a 30 jours", score=99, labels=("pricing",), published=now - timedelta(days=30)),
    ])
    picked = selected(config, store, "direction", now)
    # 9 days: 2 days past the first week, 2 points each: 55 - 4 = 51 still passes 50; 30 days is history.
    assert titles(picked) == ["Prix publiés il y a 5 jours", "Prix publiés il y a 9 jours"]
    assert [p.rank_score for p in picked.picks] == [55, 51]


def test_internal_sources_never_reach_an_external_audience(config, store):
    seed(store, [
        Seed("Note de terrain : un revendeur baisse ses prix", source="notes", score=90, labels=("pricing",)),
        Seed("Prix publics, aussi notés par un commercial", score=80, labels=("pricing",), extra_sources=("notes",)),
        Seed("Prix publics", score=70, labels=("pricing",), extra_sources=("trade",)),
    ])
    assert titles(selected(config, store, "partners")) == ["Prix publics"]
    assert selected(config, store, "partners").picks[0].also == 1
    # The same items reach an internal audience.
    assert titles(selected(config, store, "direction")) == ["Note de terrain : un revendeur baisse ses prix",
                                                           "Prix publics, aussi notés par un commercial",
                                                           "Prix publics"]


def test_a_story_is_shown_once_in_the_audience_language_with_the_other_sources(config, store):
    now = now_plus()
    ids = seed(store, [
        Seed("Veloce rachète Rouléo", score=80, labels=("acquisition",), competitors=("veloce",), actor="veloce",
             published=now - timedelta(days=1)),
        # The best-ranked item of the story is English, from the best-graded source, and the first report.
        Seed("Veloce buys Rouléo", source="trade", score=88, labels=("acquisition",), competitors=("veloce",),
             actor="veloce", story=0, lang="en", published=now - timedelta(days=2)),
        Seed("Rachat de Rouléo : les détails", score=78, labels=("acquisition",), competitors=("rouleo",), story=0,
             extra_sources=("notes",), published=now - timedelta(hours=20)),
    ])
    picked = selected(config, store, "direction")
    # A French audience reads the French item of the best grade (press: B), once; the story keeps its first date.
    assert titles(picked) == ["Veloce rachète Rouléo"]
    pick = picked.picks[0]
    assert pick.also == 2 and pick.also_sources == ["notes", "trade"]  # trade and notes told it besides press
    assert sorted(pick.folded) == sorted(ids[1:])
    assert {(row[0], row[3]) for row in picked.item_rows()} == {(ids[0], 1), (ids[1], 0), (ids[2], 0)}
    first = store.conn.execute("select published_at from items where id = ?", [ids[1]]).fetchone()[0]
    assert pick.earliest == first
    # The R&D team reads English: the same story through the English item (it is not in its interests by
    # label, so ask the selection directly with the direction's interests in English).
    english = config.audiences[0].model_copy(update={"id": "direction-en", "language": "en"})
    from digests.select import candidates

    shown = candidates(config, store, english, now - timedelta(days=7), now, 0)
    assert [p.row["title"] for p in shown] == ["Veloce buys Rouléo"]
    assert shown[0].also_sources == ["notes", "press"]


def test_a_story_without_the_audience_language_shows_the_best_graded_source(config, store):
    now = now_plus()
    seed(store, [
        Seed("Veloce buys Rouléo (press)", score=90, labels=("acquisition",), competitors=("veloce",), lang="en"),
        Seed("Veloce buys Rouléo (trade)", source="trade", score=70, labels=("acquisition",),
             competitors=("veloce",), story=0, lang="en"),
    ])
    assert titles(selected(config, store, "direction", now)) == ["Veloce buys Rouléo (trade)"]  # grade A over B


def test_default_sections_of_the_direction_and_rd(config, store):
    seed(store, [
        *[Seed(f"Veloce bouge {n}", score=90 - n, labels=("pricing",), competitors=("veloce",), actor="veloce")
          for n in range(4)],
        Seed("Rouléo lance un cargo", score=75, labels=("launch",), competitors=("rouleo",), actor="rouleo"),
        Seed("Rouléo recrute", score=60, labels=("launch",), competitors=("rouleo",), actor="rouleo"),
        Seed("Batterie : nouvelle chimie", source="trade", score=70, labels=("technology",)),
        Seed("Batterie : norme de sécurité", source="trade", score=65, labels=("regulation",)),
        Seed("Batterie : un kit plus léger", source="trade", score=62, labels=("offer",)),
    ])
    direction = selected(config, store, "direction")
    by_section = {s.spec.id: [p.row["title"] for p in s.items] for s in direction.sections}
    assert by_section["top"] == ["Veloce bouge 0", "Veloce bouge 1", "Veloce bouge 2", "Veloce bouge 3",
                                 "Rouléo lance un cargo"]
    assert by_section["competitors"] == ["Rouléo recrute"]
    assert [(s.spec.id, s.kind) for s in direction.sections] == [
        ("top", "items"), ("competitors", "items"), ("indicators", "items"), ("trends", "trends"), ("other", "items"),
        ("health", "health")]
    rd = selected(config, store, "rd")
    by_section = {s.spec.id: [p.row["title"] for p in s.items] for s in rd.sections}
    assert by_section["technology"] == ["Batterie : nouvelle chimie"]
    assert by_section["regulation"] == ["Batterie : norme de sécurité"]
    assert by_section["offer"] == ["Batterie : un kit plus léger"]
    assert rd.sections[0].title == "Technology"  # the audience reads English


def test_sections_from_the_configuration_replace_the_role_defaults(tmp_path, store):
    text = CONFIG.replace("    alerts: {min_score: 85}\n", """    alerts: {min_score: 85}
    sections:
      - {id: moves, title: {fr: "Qui fait quoi", en: Who does what}, competitor_moves: true, group_by: competitor}
      - {id: prix, title: Prix du marché, labels: [pricing], max_items: 1}
""")
    config = make_config(tmp_path, text)
    seed(store, [
        Seed("Prix A", score=80, labels=("pricing",)), Seed("Prix B", score=70, labels=("pricing",)),
        Seed("Rouléo rachète", score=60, labels=("acquisition",), competitors=("rouleo",), actor="rouleo"),
        Seed("Veloce rachète", score=65, labels=("acquisition",), competitors=("veloce",), actor="veloce"),
        Seed("Veloce lance", score=55, labels=("launch",), competitors=("veloce",), actor="veloce"),
    ])
    picked = selected(config, store, "direction")
    assert [(s.title, [p.row["title"] for p in s.items]) for s in picked.sections] == [
        ("Qui fait quoi", ["Veloce rachète", "Veloce lance", "Rouléo rachète"]),  # grouped by competitor
        ("Prix du marché", ["Prix A"]),  # one at most; Prix B fits no other section and is left out
    ]


def test_a_section_naming_an_unknown_label_is_a_config_error_with_its_line(tmp_path):
    text = CONFIG.replace("    alerts: {min_score: 85}\n", "    alerts: {min_score: 85}\n    sections:\n"
                          "      - {id: prix, labels: [priicing]}\n")
    with pytest.raises(ConfigError) as error:
        make_config(tmp_path, text)
    line = next(n for n, text in enumerate(text.splitlines(), 1) if "priicing" in text)
    assert f"sources.yaml:{line}" in str(error.value) and "'pricing'" in str(error.value)


def test_an_item_delivered_to_an_audience_never_reaches_it_again(config, store, tmp_path):
    now = now_plus()
    paris_morning = (now + timedelta(days=1)).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris")).replace(
        hour=10, minute=0, second=0, microsecond=0)
    if paris_morning - now > timedelta(hours=24):
        paris_morning -= timedelta(days=1)
    ids = seed(store, [
        Seed("Veloce rachète Rouléo", score=92, labels=("acquisition",), competitors=("veloce",), actor="veloce",
             published=now - timedelta(hours=1)),  # fresh: an alert takes items published in the last two days
        Seed("Prix en hausse", score=70, labels=("pricing",)),
    ])
    alerts = run_alerts(config, store, now=paris_morning)
    assert [(r.audience, r.items) for r in alerts.results] == [("direction", 1)]
    # Later, the same event from another outlet: the story already reached the direction.
    seed(store, [Seed("Veloce buys Rouléo", source="trade", score=90, labels=("acquisition",),
                      competitors=("veloce",), actor="veloce", story=None)], now=now)
    store.save_scores([(store.conn.execute("select max(id) from items").fetchone()[0], 90, "[]", ids[0], 3, "corroboration")])
    report = run_digests(config, store, ["direction"], now=paris_morning)
    digest = store.digest("direction", report.results[0].period)
    shown = [row["item_id"] for row in store.digest_item_ids(digest["id"])]
    assert shown == [ids[1]]
    again = run_alerts(config, store, now=paris_morning)
    assert again.results[0].items == 0  # once per item


def test_digest_is_built_once_per_audience_and_period(config, store):
    seed(store, [Seed("Veloce baisse ses prix", score=80, labels=("pricing",), competitors=("veloce",), actor="veloce")])
    now = now_plus()
    first = run_digests(config, store, ["direction"], now=now).results[0]
    assert first.built and first.items == 1 and first.status == "pending"  # no SMTP server configured
    seed(store, [Seed("Autre hausse de prix", score=80, labels=("pricing",))])
    second = run_digests(config, store, ["direction"], now=now + timedelta(hours=2)).results[0]
    assert not second.built and second.period == first.period and second.items == 1
    assert len(store.digests_list("direction")) == 1
    # Next week's digest takes what came after: here an item stamped before the cut-off (its fetch started
    # before) but stored after the digest was built, as a collection running at digest time does.
    later = run_digests(config, store, ["direction"], now=now + timedelta(days=7)).results[0]
    assert later.built and later.items == 1 and later.period != first.period


def test_an_empty_period_gives_a_short_brief_or_nothing_as_configured(tmp_path, store):
    text = CONFIG.replace("    schedule: {cron: \"tue 08:30\"}\n",
                          "    schedule: {cron: \"tue 08:30\"}\n    empty_text: Nothing to report, see you next week.\n")
    text = text.replace("    min_score: 30\n", "    min_score: 30\n    send_empty: false\n")
    config = make_config(tmp_path, text)
    report = run_digests(config, store, ["rd", "partners"], now=now_plus())
    rd, partners = report.results
    assert rd.status == "pending" and rd.items == 0
    assert "Nothing to report, see you next week." in store.digest_by_id(rd.digest_id)["text"]
    assert partners.status == "empty" and store.deliveries(partners.digest_id) == []


def test_periods_are_iso_weeks_in_the_audience_time_zone(config):
    audience = config.audience("direction")
    # Sunday 23:30 UTC is already Monday in Paris: the next ISO week there.
    assert period_of(audience, datetime(2026, 11, 29, 23, 30, tzinfo=timezone.utc)) == "2026-W49"
    start, end = period_bounds("2026-W49", "Europe/Paris")
    assert start == datetime(2026, 11, 29, 23, 0, tzinfo=timezone.utc) and end - start == timedelta(days=7)


def recount(store) -> dict:
    """day_counts computed from scratch, to compare with what the triggers kept."""
    rows = store.conn.execute(
        "select substr(i.published_at, 1, 10), t.kind, t.term, '', count(*) from items i join item_terms t "
        "on t.item_id = i.id group by 1, 2, 3 union all select substr(i.published_at, 1, 10), 'item_label', l.label, "
        "i.source, count(*) from items i join item_labels l on l.item_id = i.id group by 1, 3, 4").fetchall()
    return {tuple(row[:4]): row[4] for row in rows}


def kept(store) -> dict:
    return {tuple(row[:4]): row[4] for row in store.conn.execute("select day, kind, key, source, count from day_counts")}


def test_day_counts_follow_classification_corrections_and_dates(config, store):
    from watch.models import Entry

    now = datetime.now(timezone.utc)
    ids = seed(store, [Seed("Batterie LFP chez Veloce", labels=("technology", "launch"), terms=(("batterie lfp", "phrase"),)),
                       Seed("Prix", labels=("pricing",), terms=(("prix", "phrase"), ("pricing", "label")))])
    assert kept(store) == recount(store) and kept(store)
    store.correct_label(ids[0], "launch", "moves", remove=True)
    store.correct_label(ids[1], "economy", "trends")
    assert kept(store) == recount(store)
    # Reclassification rewrites terms and labels.
    store.save_classification([{"id": ids[1], "lang": "fr", "lang_confidence": 1.0, "lang_how": "test", "flags": [],
                                "terms": [("baisse de prix", "phrase")], "labels": [], "entities": [],
                                "actor": None, "actor_competitor": None}])
    assert kept(store) == recount(store)
    # A feed first without a date (estimated), then with a real one three days earlier: the counts move.
    entry = Entry(url="http://press.example/late", title="Sans date", summary="Texte.", guid="urn:late")
    store.ingest("press", [entry], "feed", fetched_at=now)
    late = store.conn.execute("select id from items where guid = 'urn:late'").fetchone()[0]
    store.save_classification([{"id": late, "lang": "fr", "lang_confidence": 1.0, "lang_how": "test", "flags": [],
                                "terms": [("sans date", "phrase")], "labels": [{"axis": "trends", "label": "economy",
                                                                                 "score": 0.9, "by": "model"}],
                                "entities": [], "actor": None, "actor_competitor": None}])
    store.ingest("press", [Entry(url="http://press.example/late", title="Sans date", summary="Texte corrigé.",
                                 guid="urn:late", published=now - timedelta(days=3))], "feed", fetched_at=now)
    day = (now - timedelta(days=3)).date().isoformat()
    assert kept(store) == recount(store) and kept(store)[(day, "phrase", "sans date", "")] == 1


def test_the_direction_digest_shows_rising_terms_and_failing_sources(config, store):
    from watch.models import FetchOutcome

    now = now_plus()
    # "batterie solide": once in each of the eight weeks before, then nine times in the last seven days.
    seed(store, [Seed(f"Batterie solide {n}", score=20, labels=("technology",), terms=(("batterie solide", "phrase"),),
                      published=now - timedelta(days=7 * week + 2)) for week in range(1, 9) for n in range(1)]
         + [Seed(f"Batterie solide, encore {n}", score=20, labels=("technology",),
                 terms=(("batterie solide", "phrase"),), published=now - timedelta(days=2, hours=n)) for n in range(9)]
         + [Seed("Prix stables", score=20, labels=("pricing",), terms=(("prix", "phrase"),),
                 published=now - timedelta(days=7 * week + 2)) for week in range(0, 9)])
    store.sync_sources(config.sources)
    # Trade Weekly fails three times and still fails; the press feed fails once, then answers again.
    first = now - timedelta(hours=5)
    for hours in (5, 4, 3):
        store.record_fetch(FetchOutcome("trade", "http://trade.example/rss", now - timedelta(hours=hours),
                                        outcome="error", error="HTTP 500"), backoff=lambda failures: 60)
    store.record_fetch(FetchOutcome("press", "http://press.example/rss", now - timedelta(hours=2), outcome="error",
                                    error="timeout"), backoff=lambda failures: 60)
    store.record_fetch(FetchOutcome("press", "http://press.example/rss", now - timedelta(hours=1), outcome="ok"),
                       backoff=lambda failures: 60)
    picked = selected(config, store, "direction", now)
    assert [(t.term, t.count) for t in picked.trends] == [("batterie solide", 9)]
    assert picked.health["total"] == 3 and [s["id"] for s in picked.health["failed"]] == ["trade", "press"]
    from babel.dates import format_datetime
    from zoneinfo import ZoneInfo

    from digests.render import Renderer

    text = Renderer(config, config.audience("direction")).digest(picked, "c@x").text
    # The trend's average and the chart's are one figure: the weekly mean of the 4 weeks before.
    assert "batterie solide : 9 (moyenne 1)" in text
    local = lambda moment: format_datetime(moment.astimezone(ZoneInfo("Europe/Paris")), "d MMM HH:mm", locale="fr")  # noqa: E731
    assert (f"2 sources sur 3 en échec sur la période : Trade Weekly (en échec depuis le {local(first)} · HTTP 500) "
            f"et La Presse du cycle (en échec le {local(now - timedelta(hours=2))}, rétablie depuis).") in text
