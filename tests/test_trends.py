"""Rising terms: a weak signal is flagged, a steady or rare term is not; ISO weeks across year boundaries."""

from __future__ import annotations

import html
import json
import math
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from nlp.trends import RisingTerm, iso_week, previous_weeks, rising_terms, sparkline, week_monday

SECTOR = Path(__file__).resolve().parents[1] / "watch" / "demo" / "sector.yaml"
WEEK = "2026-W10"
PAST = previous_weeks(WEEK, 8)


def series(past: list[int], now: int) -> dict[str, int]:
    """Weekly counts: ``past`` for the 8 previous weeks (oldest first), ``now`` for the current week."""
    return {**dict(zip(PAST, past)), WEEK: now}


# ---------------------------------------------------------------------------------------------------------------
# Weeks


@pytest.mark.parametrize(
    ("moment", "tz", "week"),
    [
        (datetime(2026, 3, 4, 12, tzinfo=timezone.utc), "Europe/Paris", "2026-W10"),
        (datetime(2025, 12, 29, 9, tzinfo=timezone.utc), "Europe/Paris", "2026-W01"),  # ISO year starts early
        (datetime(2021, 1, 3, 9, tzinfo=timezone.utc), "Europe/Paris", "2020-W53"),    # ...or late
        (datetime(2025, 12, 28, 23, 30, tzinfo=timezone.utc), "Europe/Paris", "2026-W01"),  # Monday in Paris
        (datetime(2025, 12, 28, 23, 30, tzinfo=timezone.utc), "UTC", "2025-W52"),          # still Sunday in UTC
        (datetime(2025, 12, 28, 23, 30), "Europe/Paris", "2026-W01"),                    # naive means UTC
    ],
)
def test_iso_week(moment: datetime, tz: str, week: str) -> None:
    assert iso_week(moment, tz) == week


def test_previous_weeks_crosses_year_boundaries() -> None:
    assert previous_weeks("2026-W01", 1) == ["2025-W52"]
    assert previous_weeks("2021-W01", 1) == ["2020-W53"]  # 2020 has 53 ISO weeks
    assert previous_weeks("2026-W02", 3) == ["2025-W51", "2025-W52", "2026-W01"]
    assert previous_weeks("2021-W02", 3) == ["2020-W52", "2020-W53", "2021-W01"]
    assert previous_weeks("2026-W10", 0) == []
    weeks = previous_weeks("2026-W10", 60)
    assert len(set(weeks)) == 60 and weeks[-1] == "2026-W09"
    mondays = [week_monday(w) for w in weeks + ["2026-W10"]]
    assert all(b - a == timedelta(weeks=1) for a, b in zip(mondays, mondays[1:]))


@pytest.mark.parametrize("bad", ["2026-10", "2026-W1", "2026-W54", "2025-W53", "W10-2026", ""])
def test_malformed_weeks_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        previous_weeks(bad, 1)


# ---------------------------------------------------------------------------------------------------------------
# Rising terms


def test_weak_signal_is_flagged_and_noise_is_not() -> None:
    counts = {
        ("batterie LFP", "term"): series([2] * 8, 9),      # flat at 2, then 9: flagged
        ("vélo cargo", "term"): series([10] * 8, 12),      # flat at 10, then 12: ordinary variation
        ("ZFE", "term"): series([0] * 8, 2),               # from nothing, but only 2 mentions: an anecdote
        ("VAE", "term"): series([100] * 8, 125),           # z 2.5 through sheer volume, yet +25 %: not flagged
    }
    rising = rising_terms(counts, WEEK)
    assert [r.term for r in rising] == ["batterie LFP"]
    lfp = rising[0]
    assert lfp == RisingTerm(term="batterie LFP", kind="term", count=9, baseline=2.0, ratio=3.6,
                             z=round(7 / math.sqrt(3), 3), weeks=(2, 2, 2, 2, 2, 2, 2, 2, 9))
    assert lfp.z > 4


def test_missing_weeks_count_zero_and_a_new_term_can_rise() -> None:
    # Rouléo spiked last week (16): the spike is in its baseline (mean 2), so 4 this week is not a rise.
    counts = {("kargo lab", "org"): {WEEK: 4}, ("rouleo", "competitor"): {PAST[-1]: 16, WEEK: 4}}
    rising = rising_terms(counts, WEEK)
    assert [(r.term, r.kind, r.baseline, r.weeks) for r in rising] == [
        ("kargo lab", "org", 0.0, (0, 0, 0, 0, 0, 0, 0, 0, 4))
    ]
    assert rising[0].z == 4.0  # (4 - 0) / sqrt(0 + 1): finite for a never-seen term, thanks to the +1
    # Weeks after the current one and before the baseline are ignored.
    later = {("kargo lab", "org"): {WEEK: 4, "2026-W11": 50, "2025-W40": 50}}
    assert rising_terms(later, WEEK)[0].weeks == (0, 0, 0, 0, 0, 0, 0, 0, 4)


def test_thresholds_are_parameters_and_results_sort_by_z() -> None:
    counts = {
        ("a", "term"): series([1] * 8, 6),   # z = 5 / sqrt(2) = 3.54
        ("b", "term"): series([0] * 8, 3),   # z = 3
        ("c", "term"): series([4] * 8, 10),  # z = 6 / sqrt(5) = 2.68, ratio 10 / 4.5 = 2.2
    }
    assert [r.term for r in rising_terms(counts, WEEK)] == ["a", "b", "c"]
    assert [r.term for r in rising_terms(counts, WEEK, min_ratio=2.5)] == ["a", "b"]
    assert [r.term for r in rising_terms(counts, WEEK, z_threshold=3.2)] == ["a"]
    assert [r.term for r in rising_terms(counts, WEEK, min_count=4)] == ["a", "c"]
    short = rising_terms(counts, WEEK, baseline_weeks=2)
    assert all(len(r.weeks) == 3 for r in short)
    with pytest.raises(ValueError):
        rising_terms(counts, WEEK, baseline_weeks=0)


def test_baseline_spans_the_new_year() -> None:
    counts = {("bonus vélo", "term"): {"2025-W50": 1, "2025-W51": 1, "2025-W52": 1, "2026-W01": 8}}
    rising = rising_terms(counts, "2026-W01", baseline_weeks=3)
    assert rising and rising[0].weeks == (1, 1, 1, 8) and rising[0].baseline == 1.0


def test_demo_sector_lfp_battery_rises() -> None:
    """The demo sector's built-in weak signal: LFP batteries, rare before the last two weeks."""
    now = datetime(2026, 3, 4, 12, tzinfo=timezone.utc)
    midnight = now.replace(hour=0)
    weekly: Counter[str] = Counter()
    data = yaml.safe_load(SECTOR.read_text(encoding="utf-8"))
    for feed in data["feeds"]:
        for entry in feed["entries"]:
            text = html.unescape(re.sub(r"<[^>]+>", " ", f"{entry['title']} {entry['summary']}")).lower()
            if "lfp" in text:
                published = midnight - timedelta(days=entry["days_ago"]) + timedelta(hours=entry["hour"])
                weekly[iso_week(min(published, now))] += 1
    rising = rising_terms({("lfp", "term"): weekly}, iso_week(now))
    assert [r.term for r in rising] == ["lfp"]
    assert rising[0].baseline < 1.5 and rising[0].count >= 5


# ---------------------------------------------------------------------------------------------------------------
# Sparklines


def test_sparkline() -> None:
    assert sparkline([0, 0, 0]) == "▁▁▁"
    assert sparkline([]) == ""
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([2, 2, 2, 2, 2, 2, 2, 2, 9]) == "▃▃▃▃▃▃▃▃█"
    assert sparkline([10, 10, 12]) == "▇▇█"          # from zero: a steady term does not look like a jump
    assert sparkline([0, 1, 100]) == "▁▂█"           # one mention is not drawn as none
    with pytest.raises(ValueError):
        sparkline([1, -1])


# ---------------------------------------------------------------------------------------------------------------
# From the store: `veille trends` reads the per-day counts the triggers keep, with the figures of a full count


def scanned(store, now: datetime, weeks: set[str]) -> dict[tuple[str, str], dict[str, int]]:
    """The weekly counts as `veille trends` first computed them: every term of every item published in the nine
    weeks before now, each day put in the ISO week of its noon (UTC) in Paris."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for term, kind, day, number in store.conn.execute(
            "select t.term, t.kind, substr(i.published_at, 1, 10), count(*) from item_terms t join items i "
            "on i.id = t.item_id where i.published_at >= ? group by 1, 2, 3",
            [(now - timedelta(weeks=9, days=1)).isoformat()]):
        week = iso_week(datetime.fromisoformat(day).replace(hour=12, tzinfo=timezone.utc))
        if week in weeks:
            counts.setdefault((term, kind), {}).setdefault(week, 0)
            counts[(term, kind)][week] += number
    return counts


def test_trends_from_day_counts_equal_a_full_count_of_the_terms(tmp_path, store, monkeypatch):
    from click.testing import CliRunner

    from nlp.stage import classify
    from nlp.trends import weekly_counts
    from tests.conftest import write_config
    from watch.cli import main
    from watch.config import load_config
    from watch.models import Entry

    path = write_config(tmp_path, [{"id": "press", "url": "http://press.example/rss"},
                                   {"id": "trade", "url": "http://trade.example/rss"}],
                        "nlp: {models: false}\ncompetitors:\n  - {id: veloce, name: Veloce, kind: direct}\n"
                        "  - {id: rouleo, name: Rouléo, kind: direct}\n")
    config = load_config(path)
    now = datetime.now(timezone.utc)
    monday = datetime.fromisoformat(week_monday(iso_week(now)).isoformat()).replace(tzinfo=ZoneInfo("Europe/Paris"))
    fillers = ["Le marché du vélo cargo recule à Lyon", "Rouléo ouvre une boutique à Nantes",
               "Les pistes cyclables progressent en ville", "Prix des vélos électriques en hausse de 5 %"]
    entries: dict[str, list[Entry]] = {"press": [], "trade": []}
    for back in range(1, 10):  # the eight weeks of the baseline, and one before it
        start = monday - timedelta(weeks=back)
        for n, title in enumerate(["Veloce teste une batterie solide"] + fillers):
            entries["press" if n % 2 else "trade"].append(Entry(
                url=f"http://press.example/{back}/{n}", title=title, summary=f"{title}. Semaine {back}.",
                published=start + timedelta(days=n % 7, hours=9 + n)))
    spread = max(now - monday, timedelta(minutes=10)) / 8
    for n in range(7):  # this week: the weak signal, from the start of the week to now
        entries["press"].append(Entry(url=f"http://press.example/0/{n}", title=f"Veloce et la batterie solide ({n})",
                                      summary="Veloce annonce une batterie solide pour ses vélos cargo.",
                                      published=min(monday + spread * (n + 1), now - timedelta(minutes=1))))
    # No date: stored as seen now, then dated three weeks back by the feed (its counts move to that week).
    entries["trade"].append(Entry(url="http://trade.example/late", guid="urn:late", title="Batterie solide : essai",
                                  summary="Une batterie solide à l'essai chez Rouléo."))
    for source_id, batch in entries.items():
        store.ingest(source_id, batch, "feed", fetched_at=now)
    classify(config, store)
    store.ingest("trade", [Entry(url="http://trade.example/late", guid="urn:late", title="Batterie solide : essai",
                                 summary="Une batterie solide à l'essai chez Rouléo.",
                                 published=now - timedelta(weeks=3))], "feed", fetched_at=now)
    erased = store.conn.execute("select id from items where url = 'http://press.example/0/6'").fetchone()[0]
    store.delete_items([erased])

    weeks = [*previous_weeks(iso_week(now), 8), iso_week(now)]  # what `veille trends` reads by default
    full = scanned(store, now, set(weeks))
    kept = weekly_counts(store, weeks)
    assert kept == full and len(full) > 20
    assert weekly_counts(store, weeks, ["entity"]) == {key: value for key, value in full.items() if key[1] == "entity"}
    expected = rising_terms(full, iso_week(now))
    assert ("batterie solide", "phrase") in {(r.term, r.kind) for r in expected}
    assert ("veloce", "entity") in {(r.term, r.kind) for r in expected}
    assert rising_terms(kept, iso_week(now)) == expected

    monkeypatch.setenv("VEILLE_LANG", "en")
    shown = CliRunner().invoke(main, ["--config", str(path), "trends", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert [(r["term"], r["kind"], r["count"], r["weeks"]) for r in json.loads(shown.output)] == [
        (r.term, r.kind, r.count, list(r.weeks)) for r in expected]
    only = CliRunner().invoke(main, ["--config", str(path), "trends", "--kind", "entity", "--format", "json"])
    assert [r["term"] for r in json.loads(only.output)] == [r.term for r in expected if r.kind == "entity"]
