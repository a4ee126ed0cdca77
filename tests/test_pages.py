"""Page-change watch: pages fetched from a real local server, compared with their snapshots in a real database.

What is expected: the first check is a baseline; a real change (a price, a row) makes one `page_change` item with
a readable diff; noise the ignore patterns cover (dates, counters, tokens, the source's own patterns) makes
nothing; 404/500, a page over the size cap and a selector matching nothing are recorded on the source, never as a
snapshot; snapshots are pruned by age while the newest are kept.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from tests.conftest import write_config
from watch.cli import main
from watch.collect import collect
from watch.config import PageOptions, load_config, parse_config
from watch.errors import ConfigError
from watch.pages import compare, normalise, region_lines
from watch.store import Store

HTML = "text/html; charset=utf-8"
MODELS = [("Veloce V9", "85 Nm", "2 790 €"), ("Veloce V8", "70 Nm", "2 590 €"), ("Veloce V7", "60 Nm", "1 990 €")]


def pricing_page(models=MODELS, updated="12/03/2026 à 08:14", viewers="1 284", token="9f8a7c6d5e4b3a2f1e0d9c8b",
                 banner="Soldes d'hiver", extra="") -> str:
    rows = "".join(f"<tr><td>{m}</td><td>{t}</td><td>{p}</td></tr>" for m, t, p in models)
    return (f"<!DOCTYPE html><html lang='fr'><head><title>Tarifs</title><script>var t = '{token}';</script></head>"
            f"<body><nav><a href='/'>Accueil</a> <a href='/tarifs'>Tarifs</a> {banner}</nav>"
            f"<main><h1>Nos tarifs</h1><p>Tarifs mis à jour le {updated}</p>"
            f"<p>{viewers} personnes consultent cette page</p>"
            f"<table id='tarifs'><tr><th>Modèle</th><th>Moteur</th><th>Prix</th></tr>{rows}</table>"
            f"<p>Référence de session : {token}</p>{extra}</main>"
            f"<footer>© Veloce {banner}</footer></body></html>")


def page_source(server, page: dict | None = None, **fields) -> dict:
    return {"id": "veloce-tarifs", "name": "Veloce – Tarifs", "kind": "page", "url": server.url("/tarifs"),
            "type": "competitor", **({"page": page} if page is not None else {}), **fields}


def configure(tmp_path, server, page: dict | None = None, **fields):
    path = write_config(tmp_path, [page_source(server, page, **fields)],
                        extra="competitors:\n  - {id: veloce, name: Veloce}\n")
    return load_config(path)


def check(config, store, **options):
    report = collect(config, store, **options)
    return report.outcomes[-1]


NOISY = {"ignore": ["dates", "counters", "tokens"]}


def test_first_check_is_a_baseline_and_a_price_change_makes_one_item_with_a_readable_diff(server, store, tmp_path):
    server.add("/tarifs", pricing_page(), content_type=HTML)
    config = configure(tmp_path, server, NOISY, competitor="veloce", themes=["t1"])
    first = check(config, store)
    assert (first.outcome, first.new, first.entries) == ("ok", 0, 1)
    assert store.items() == [] and len(store.snapshots("veloce-tarifs")) == 1

    changed = [("Veloce V9", "85 Nm", "2 890 €"), ("Veloce V8", "70 Nm", "2 590 €"),
               ("Veloce V9 Cargo Pro", "90 Nm", "3 990 €")]
    server.add("/tarifs", pricing_page(changed, updated="14/03/2026 à 09:02", viewers="2 003",
                                       token="0a1b2c3d4e5f60718293a4b5"), content_type=HTML)
    second = check(config, store)
    assert (second.outcome, second.new) == ("ok", 1)
    [item] = store.items()
    assert item["origin"] == "page_change" and item["competitor"] == "veloce" and item["themes"] == ["t1"]
    assert item["url"] == server.url("/tarifs") and item["source"] == "veloce-tarifs" and item["lang"] == "fr"
    assert "Veloce V9 | 85 Nm | 2 790 € → 2 890 € (+3,6 %)" in item["text"]
    assert "+ Veloce V9 Cargo Pro | 90 Nm | 3 990 €" in item["text"]
    assert "− Veloce V7 | 60 Nm | 1 990 €" in item["text"]
    assert "2 003" not in item["text"] and "14/03" not in item["text"], "noise is not part of the diff"
    assert item["summary"] == "Nouveaux tarifs : 1 hausse de prix. 1 ligne ajoutée, 1 ligne retirée."
    assert item["categories"] == ["page_change", "price_change"]

    assert item["title"].startswith("Veloce – Tarifs : page modifiée — Veloce V9")
    assert "<li>" in item["html"] and "<script" not in item["html"]
    newest, baseline = store.snapshots("veloce-tarifs")
    assert newest["item_id"] == item["id"] and baseline["item_id"] is None
    assert "Veloce V9 | 85 Nm | 2 890 €" in newest["text"]

    third = check(config, store)
    assert (third.outcome, third.new) == ("not_modified", 0), "same page: conditional GET, nothing parsed"
    assert len(store.items()) == 1
    assert store.snapshots("veloce-tarifs")[0]["checked_at"] == third.started_at.isoformat()
    fetches = list(store.db["fetches"].rows_where("source = ?", ["veloce-tarifs"]))
    assert [f["outcome"] for f in fetches] == ["ok", "ok", "not_modified"]


def test_noise_covered_by_the_ignore_patterns_creates_nothing(server, store, tmp_path):
    server.add("/tarifs", pricing_page(extra="<p>Offre n° A-1234 valable 3 jours</p>"), content_type=HTML)
    config = configure(tmp_path, server, {**NOISY, "ignore_patterns": [r"Offre n° [A-Z]-\d+"]})
    check(config, store)
    server.add("/tarifs", pricing_page(updated="15/03/2026 à 10:41", viewers="15 872", token="ffeeddccbbaa99887766554433",
                                       extra="<p>Offre n° B-9876 valable 3 jours</p>"), content_type=HTML)
    again = check(config, store)
    assert (again.outcome, again.http_status, again.new) == ("ok", 200, 0), "fetched in full, compared, no change"
    assert store.items() == []
    [snapshot] = store.snapshots("veloce-tarifs")
    assert snapshot["checked_at"] == again.started_at.isoformat(), "an unchanged check moves checked_at only"
    assert "… valable 3 jours" in snapshot["text"].splitlines()


def test_without_ignore_patterns_the_same_noise_is_a_change(server, store, tmp_path):
    server.add("/tarifs", pricing_page(), content_type=HTML)
    config = configure(tmp_path, server)
    check(config, store)
    server.add("/tarifs", pricing_page(updated="15/03/2026 à 10:41"), content_type=HTML)
    assert check(config, store).new == 1


def test_main_text_leaves_navigation_and_footer_out(server, store, tmp_path):
    server.add("/tarifs", pricing_page(), content_type=HTML)
    config = configure(tmp_path, server, NOISY)
    check(config, store)
    server.add("/tarifs", pricing_page(banner="Livraison offerte"), content_type=HTML)
    assert check(config, store).new == 0, "the banner lives in <nav> and <footer>, outside the main text"


def test_a_selector_watches_only_its_region(server, store, tmp_path):
    server.add("/tarifs", pricing_page(), content_type=HTML)
    config = configure(tmp_path, server, {"selector": "#tarifs tr:not(:first-child)"})
    check(config, store)
    assert store.snapshots("veloce-tarifs")[0]["text"].splitlines() == [
        "Veloce V9 | 85 Nm | 2 790 €", "Veloce V8 | 70 Nm | 2 590 €", "Veloce V7 | 60 Nm | 1 990 €"]
    server.add("/tarifs", pricing_page(updated="16/03/2026 à 11:00"), content_type=HTML)
    assert check(config, store).new == 0, "the date is outside the selected rows"
    xpath = configure(tmp_path, server, {"selector": "//table[@id='tarifs']//td[3]/text()"})
    check(xpath, store)
    assert store.snapshots("veloce-tarifs")[0]["text"].splitlines() == ["2 790 €", "2 590 €", "1 990 €"]


def test_a_selector_matching_nothing_is_a_configuration_problem_on_the_source(server, store, tmp_path):
    server.add("/tarifs", pricing_page(), content_type=HTML)
    config = configure(tmp_path, server, {"selector": "table.prix"})
    outcome = check(config, store)
    assert outcome.outcome == "error"
    assert "veloce-tarifs" in outcome.error and "'table.prix'" in outcome.error and "configuration" in outcome.error
    assert store.snapshots("veloce-tarifs") == [], "no silent empty snapshot"
    state = store.source_state("veloce-tarifs")
    assert state["status"] == "failing" and "table.prix" in state["last_error"]


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors_are_recorded_with_backoff_and_no_snapshot(status, server, store, tmp_path):
    server.add("/tarifs", "oops", status=status, content_type="text/plain")
    config = configure(tmp_path, server)
    outcome = check(config, store)
    assert outcome.outcome == "error" and f"HTTP {status}" in outcome.error
    assert store.snapshots("veloce-tarifs") == []
    state = store.source_state("veloce-tarifs")
    assert state["failures"] == 1 and state["next_attempt_at"] > outcome.started_at.isoformat()
    skipped = check(config, store)
    assert skipped.outcome == "skipped" and server.routes["/tarifs"].hits == 1, "in backoff: not fetched again"


def test_a_50_mb_page_is_refused_at_the_size_cap(server, store, tmp_path):
    filler = "<p>" + "Veloce V9 2 790 € " * 40 + "</p>\n"
    body = ("<html><body><main>" + filler * (50_000_000 // len(filler)) + "</main></body></html>").encode()
    assert len(body) >= 49_000_000
    server.add("/tarifs", body, content_type=HTML)
    config = configure(tmp_path, server)  # collect.max_bytes: 200000 (tests/conftest.py)
    outcome = check(config, store)
    assert outcome.outcome == "error" and "200000" in outcome.error
    assert store.snapshots("veloce-tarifs") == [] and store.items() == []


def test_a_page_that_is_not_html_is_reported(server, store, tmp_path):
    server.add("/tarifs", b"%PDF-1.7 ...", content_type="application/pdf")
    outcome = check(configure(tmp_path, server), store)
    assert outcome.outcome == "error" and "application/pdf" in outcome.error


def test_changed_page_options_start_a_new_baseline_rather_than_a_change(server, store, tmp_path):
    server.add("/tarifs", pricing_page(), content_type=HTML)
    check(configure(tmp_path, server, NOISY), store)
    outcome = check(configure(tmp_path, server, {"selector": "#tarifs"}), store)
    assert (outcome.outcome, outcome.new) == ("ok", 0) and "référence" in outcome.warning
    assert len(store.snapshots("veloce-tarifs")) == 2 and store.items() == []


def test_a_region_that_comes_back_is_a_new_change_each_time(server, store, tmp_path):
    config = configure(tmp_path, server, NOISY)
    for models in (MODELS, MODELS[:2], MODELS, MODELS[:2]):
        server.add("/tarifs", pricing_page(models), content_type=HTML)
        check(config, store)
    assert [i["summary"] for i in store.items()] == ["1 ligne retirée.", "1 ligne ajoutée.", "1 ligne retirée."]


def test_snapshots_are_pruned_by_age_keeping_the_newest(tmp_path):
    with Store.open(tmp_path / "prune.db") as store:
        now = datetime(2026, 11, 1, tzinfo=timezone.utc)
        for source in ("a", "b"):
            for days in (400, 300, 200, 10):
                store.save_snapshot(source, "http://x.example/", now - timedelta(days=days), "o", f"h{days}", "t", 1)
        assert store.prune_snapshots(now - timedelta(days=365)) == 2, "the 400-day-old versions"
        assert store.prune_snapshots(now - timedelta(days=100), keep_last=2) == 2
        assert [s["hash"] for s in store.snapshots("a")] == ["h10", "h200"]
        assert store.prune_snapshots(now + timedelta(days=1), keep_last=0) == 2, "keep_last is at least 1"
        assert [s["hash"] for s in store.snapshots("b")] == ["h10"]


def test_collect_applies_the_sources_snapshot_retention(server, store, tmp_path):
    config = configure(tmp_path, server, {"keep_last": 2, "retention_days": 1})
    for n in range(4):
        server.add("/tarifs", pricing_page(MODELS[: n % 3 + 1]), content_type=HTML)
        check(config, store)
    # Every version was seen today: none is older than a day, so all four are still there…
    assert len(store.snapshots("veloce-tarifs")) == 4
    assert store.prune_snapshots(datetime.now(timezone.utc) + timedelta(days=2), 2, "veloce-tarifs") == 2
    assert len(store.snapshots("veloce-tarifs")) == 2


def test_prices_are_paired_by_their_line_and_the_variation_is_shown():
    before = ["Modèle | Prix", "Veloce V9 | 2 790 €", "V8 : à partir de 2 590 € ou 49 €/mois", "Casque | 89 €"]
    after = ["Modèle | Prix", "Veloce V9 | 2 890 €", "V8 : à partir de 2 290 € ou 49 €/mois", "Antivol | 89 €"]
    change = compare(before, after)
    assert change.prices == [("Veloce V9 | 2 790 € → 2 890 €", "2 790 €", "2 890 €"),
                             ("V8 : à partir de 2 590 € → 2 290 € ou 49 €/mois", "2 590 €", "2 290 €")]
    assert change.added == ["Antivol | 89 €"] and change.removed == ["Casque | 89 €"], "another product, not a price"


def test_normalise_masks_each_kind_of_noise():
    lines = ["Mis à jour le 3 mars 2026 à 14h05", "Updated March 3, 2026, 5 minutes ago", "12k views · 34 commentaires",
             "csrf AbCdEf0123456789GhIjKlMn", "Session 550e8400-e29b-41d4-a716-446655440000", "12 postes ouverts",
             "Batterie 630 Wh, 3 000 cycles", "Réf. VELOCE-V9-2026-URBAN"]
    masked = normalise(lines, PageOptions(ignore=["dates", "counters", "tokens"]))
    assert masked == ["Mis à jour le … à …", "Updated …, …", "… views · … commentaires", "csrf …", "Session …",
                      "12 postes ouverts", "Batterie 630 Wh, 3 000 cycles", "Réf. VELOCE-V9-2026-URBAN"]


def test_region_lines_join_table_cells_and_read_the_declared_charset():
    body = ("<html><head><meta charset='iso-8859-1'></head><body><main><table><tr><td>Vélo</td><td>1 990 €</td>"
            "</tr></table></main></body></html>").encode("iso-8859-1", errors="replace")
    assert region_lines(body, "text/html", None) == ["Vélo | 1 990 ?"]
    assert region_lines("<p>Prix</p><p>à partir de <b>2 790 €</b></p>".encode(), "text/html; charset=utf-8",
                        "p::text") == ["Prix", "à partir de "]


def test_page_options_are_validated_with_file_and_line():
    text = """company: {name: X}
sources:
  - id: p
    name: P
    kind: page
    url: http://x.example/tarifs
    page:
      selector: "table..prix"
      ignore: [dates, countrs]
      ignore_patterns: ["ok", "Réf\\\\. [A-Z"]
      keep_lst: 2
  - {id: f, name: F, url: "http://x.example/f", page: {selector: main}}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "s.yaml")
    found = {(p.line, p.field): str(p) for p in caught.value.problems}
    assert "table..prix" in found[(8, "sources[0].page.selector")]
    assert "'counters'" in found[(9, "sources[0].page.ignore[1]")]
    assert "Réf" in found[(10, "sources[0].page.ignore_patterns[1]")]
    assert "'keep_last'" in found[(11, "sources[0].page.keep_lst")]
    assert "kind: page" in found[(12, "sources[1]")]


def test_collect_command_shows_the_page_change(server, tmp_path):
    server.add("/tarifs", pricing_page(), content_type=HTML)
    path = write_config(tmp_path, [page_source(server, NOISY)])
    runner = CliRunner()
    first = runner.invoke(main, ["--config", str(path), "collect", "--no-classify", "--format", "json"])
    assert first.exit_code == 0, first.output
    server.add("/tarifs", pricing_page(MODELS[:2]), content_type=HTML)
    second = runner.invoke(main, ["--config", str(path), "collect", "--no-classify", "--format", "json"])
    assert json.loads(second.stdout)[0]["new"] == 1
    items = json.loads(runner.invoke(main, ["--config", str(path), "items", "--format", "json"]).stdout)
    assert items[0]["origin"] == "page_change" and "Veloce V7" in items[0]["text"]


def test_a_page_change_whose_prices_moved_is_labelled_pricing(server, store, tmp_path):
    """The NLP stage (real pipelines) labels it pricing by construction; a change of lines only is not."""
    from nlp.stage import classify

    server.add("/tarifs", pricing_page(), content_type=HTML)
    config = configure(tmp_path, server, NOISY, competitor="veloce", themes=["t1"])
    check(config, store)
    server.add("/tarifs", pricing_page([("Veloce V8", "70 Nm", "2 290 €")]), content_type=HTML)
    check(config, store)
    server.add("/tarifs", pricing_page([("Veloce V8", "70 Nm", "2 290 €"), ("Veloce V10", "90 Nm", "3 290 €")]),
               content_type=HTML)
    check(config, store)
    classify(config, store)
    by_summary = {i["summary"]: {l["label"]: l["by"] for l in i["labels"]} for i in store.items()}
    priced = next(labels for summary, labels in by_summary.items() if "baisse de prix" in summary)
    assert priced["pricing"] == "page:prices"
    added = next(labels for summary, labels in by_summary.items() if "baisse" not in summary)
    assert added.get("pricing") != "page:prices"
