"""`veille demo`: the bundled sector collected offline over real local HTTP, and the README tour run for real."""

from __future__ import annotations

import json
import re
import shlex
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import free_port
from watch.cli import main
from watch.demo import DemoServer
from watch.store import Store

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_demo_collects_the_sector_with_recent_items_and_history(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    db = tmp_path / "demo.db"
    result = run("--db", str(db), "demo", "--port", str(free_port()))
    assert result.exit_code == 0, result.output + result.stderr
    assert str(db) in result.stdout
    with Store.open(db) as store:
        items = store.items()
        fetches = list(store.db["fetches"].rows)
    assert len(items) >= 100 and {i["lang"] for i in items} >= {"fr", "en"}
    assert all(f["outcome"] == "ok" for f in fetches) and len(fetches) == 10, "8 feeds, the site, the pricing page"
    crawled = [i for i in items if i["source"] == "rouleo-site"]
    assert len(crawled) == 8 and {i["origin"] for i in crawled} == {"spider"}, "the competitor site, page by page"
    assert all(len(i["text"]) > 150 and "Accueil" not in i["text"] and not i["published_estimated"] for i in crawled)
    assert "robot" in result.stdout and "rouleo-site" in result.stdout  # origin spider, in French
    notes = [i for i in items if i["origin"] == "offline"]
    assert len(notes) == 8 and {n["source"] for n in notes} == {"salons", "terrain-commercial", "presse-imprimee"}
    assert all(n["entered_by"] == "demo" and n["entered_from"].endswith(f"demo-field-notes.csv:{k}")
               for n, k in zip(sorted(notes, key=lambda n: n["entered_from"]), range(2, 10)))
    assert "Notes de terrain : 8 importées" in result.stdout
    now = datetime.now(timezone.utc)
    published = [datetime.fromisoformat(i["published_at"]) for i in items]
    assert all(p <= now for p in published)
    assert sum(p >= now - timedelta(days=7) for p in published) >= 15
    weeks = {(now - p).days // 7 for p in published}
    assert set(range(10)) <= weeks, "ten weeks of history give rising trends a baseline"


def test_second_demo_run_shows_a_page_change_and_the_third_nothing_new(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    db = tmp_path / "demo.db"
    port = str(free_port())
    first = run("--db", str(db), "demo", "--port", port)
    assert "Changement de page" not in first.stdout, "the first run stores the page's baseline"
    again = run("--db", str(db), "demo", "--port", port)
    assert again.exit_code == 0
    assert re.search(r"\b1 nouvel article,", again.stdout), "the feeds give nothing new, the pricing page changed"
    assert "Changement de page détecté (veloce-tarifs)" in again.stdout
    assert "2 790 € → 2 890 € (+3,6 %)" in again.stdout and "+ Kargo Lab T3 Pro" in again.stdout
    with Store.open(db) as store:
        [change] = [i for i in store.items() if i["origin"] == "page_change"]
        assert change["competitor"] == "veloce" and change["classified_at"]
    third = run("--db", str(db), "demo", "--port", port)
    assert re.search(r"\b0 nouvel article,", third.stdout), "new noise on the page (time, counter, token) is ignored"


def test_demo_server_answers_conditional_get_and_advertises_its_feeds():
    import urllib.request

    with DemoServer(port=0) as server:
        with urllib.request.urlopen(server.base_url + "/veloce/") as page:
            assert 'type="application/rss+xml"' in page.read().decode()
        with urllib.request.urlopen(server.base_url + "/veloce/rss.xml") as feed:
            etag = feed.headers["ETag"]
        request = urllib.request.Request(server.base_url + "/veloce/rss.xml", headers={"If-None-Match": etag})
        try:
            urllib.request.urlopen(request)
            raise AssertionError("expected 304")
        except urllib.error.HTTPError as answer:
            assert answer.code == 304


def test_a_stopped_demo_server_says_how_to_start_it(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("VEILLE_DEMO_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    result = run("--db", str(tmp_path / "x.db"), "collect", "--source", "veloce-news", "--format", "json")
    assert result.exit_code == 1
    outcome = json.loads(result.stdout)[0]
    assert outcome["outcome"] == "error" and "veille demo --serve" in outcome["problem"]


def test_readme_tour_commands_run(tmp_path, monkeypatch):
    """Every `veille …` line of the README's tour runs against the demo sector and exits 0."""
    monkeypatch.chdir(REPO)
    db = tmp_path / "tour.db"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    tour = readme.split("## Tour", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("#")[0].strip() for line in tour.splitlines() if line.startswith("veille ")]
    assert len(commands) >= 4
    with DemoServer(port=0) as server:
        env = {"VEILLE_DEMO_URL": server.base_url}
        assert run("--db", str(db), "collect", env=env).exit_code == 0
        for command in commands:
            words = shlex.split(command)[1:]
            if "--serve" in words:
                continue  # blocks by design; the demo command itself is tested above
            words = shlex.split(command.split("|")[0])[1:]  # the part before a pipe is veille's
            result = run("--db", str(db), *words, env=env)
            assert result.exit_code == 0, (command, result.output, result.stderr)
            assert result.stdout.strip(), command


def test_demo_ends_with_four_readable_briefs_then_sends_them_with_smtp(tmp_path, monkeypatch):
    from tests.digest_data import SmtpRecorder, smtp_server

    monkeypatch.chdir(REPO)
    db = tmp_path / "demo.db"
    port = str(free_port())
    bad = run("--db", str(db), "demo", "--port", port, "--smtp", "nowhere")
    assert bad.exit_code == 2 and "HÔTE:PORT" in bad.stderr and "Serveur de démonstration" not in bad.stderr
    first = run("--db", str(db), "demo", "--port", port)
    assert first.exit_code == 0, first.output + first.stderr
    paths = [line.strip() for line in first.stdout.splitlines() if line.strip().endswith(".html")]
    assert [Path(p).parent.parent.name for p in paths] == ["direction", "marketing", "rd", "partners"]
    assert all(Path(p).is_relative_to(tmp_path / "archive") for p in paths)  # VEILLE_ARCHIVE, set by conftest
    pages = {Path(p).parent.parent.name: Path(p).read_text(encoding="utf-8") for p in paths}
    assert '<html lang="fr"' in pages["direction"] and '<html lang="en"' in pages["rd"]
    assert '<html lang="fr"' in pages["partners"]
    for page in pages.values():
        assert page.count('class="v-link"') >= 5, "a brief with items, each linked to its source"
        assert "Rien de notable" not in page and "Nothing notable" not in page
    assert "L&#39;essentiel" in pages["direction"] and "État des sources" in pages["direction"]
    with Store.open(db) as store:
        assert store.digests_list() == []  # previews deliver nothing

    # Again, with an SMTP server: the four briefs are sent, and shown again at the same paths.
    handler = SmtpRecorder()
    server = smtp_server(handler)
    server.start()
    try:
        again = run("--db", str(db), "demo", "--port", port, "--smtp", f"127.0.0.1:{server.port}")
    finally:
        server.stop()
    assert again.exit_code == 0, again.output + again.stderr
    assert [line.strip() for line in again.stdout.splitlines() if line.strip().endswith(".html")] == paths
    # sources.yaml: direction and the partners have two recipients each, marketing and R&D one each.
    assert sorted(handler.recipients()) == sorted(["direction@cyclonova.example", "dg@cyclonova.example",
                                                   "marketing@cyclonova.example", "rd@cyclonova.example",
                                                   "veille@reseau-revendeurs.example",
                                                   "direction@atelier-partenaire.example"])
