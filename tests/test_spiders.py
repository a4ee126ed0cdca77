"""Spiders for real: Scrapy crawls in their child process against the local fixture server, into a real SQLite file.

Each crawl costs a process start (1-2 s), so one crawl checks many things: a site is built with every bad input the
issue lists (robots.txt disallow, 404, 500, a 50 MB page, a page without article text, a redirect off the allowed
domains) beside good articles, and the stored items and the recorded fetch are checked together.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from spiders.extract import extract_article
from spiders.jobs import CrawlJob, run_crawl
from tests.conftest import alive, descendants, rss, rss_item, write_config
from watch.collect import collect
from watch.config import load_config, parse_config
from watch.errors import ConfigError, UsageError
from watch.store import Store

REPO = Path(__file__).resolve().parents[1]
PAGES = Path(__file__).parent / "fixtures" / "pages"
HTML = "text/html; charset=utf-8"
BODY = ("Le fabricant nantais annonce une nouvelle gamme de vélos cargo électriques pour les familles et les "
        "professionnels de la livraison, assemblée en France avec des batteries de 720 Wh. ")


def spider_config(tmp_path: Path, sources: list[dict], **collect: object) -> Path:
    """write_config with spider sources and quick, still polite, crawl settings (AutoThrottle on, 50 ms delay)."""
    settings = {"timeout": 3, "connect_timeout": 2, "concurrency": 8, "per_host": 4, "max_bytes": 200000,
                "crawl_delay": 0.05, "retries": 1, "crawl_budget": 30, **collect}
    path = write_config(tmp_path, [{"kind": "spider", **s} for s in sources])
    text = path.read_text(encoding="utf-8")
    start = text.index("collect: {")
    end = text.index("}", start) + 1
    path.write_text(text[:start] + "collect: " + json.dumps(settings) + text[end:], encoding="utf-8")
    return path


def article(number: int | str, *, date: str | None = "2025-03-12T09:30:00+01:00", body: str = BODY) -> str:
    meta = f'<meta property="article:published_time" content="{date}">' if date else ""
    return (f'<html lang="fr"><head><title>Article {number} – Site</title>{meta}</head><body>'
            f'<nav><a href="/">Accueil</a> <a href="/news/">Actualités</a></nav><article><h1>Article {number}</h1>'
            f"<p>{body * 3}</p><p>Deuxième paragraphe de l'article {number}.</p></article>"
            "<footer>Mentions légales · Contact</footer></body></html>")


def listing(*links: str, next_page: str | None = None) -> str:
    items = "".join(f"<li>{link}</li>" for link in links)
    following = f'<a rel="next" href="{next_page}">Suivant</a>' if next_page else ""
    return f"<html><body><nav><a href='/'>Accueil</a></nav><ul class='news'>{items}</ul>{following}</body></html>"


def fetches(store: Store, source: str) -> list[dict]:
    return [dict(row) for row in store.db["fetches"].rows_where("source = ?", [source], order_by="id")]


# -- extraction (no crawl) ---------------------------------------------------------------------------------------


def test_extraction_keeps_the_article_and_drops_the_page_furniture():
    page = extract_article((PAGES / "article-jsonld.html").read_text(encoding="utf-8"), "http://example.org/a")
    assert page.title == "Veloce ouvre une usine à Lyon" and page.author == "Julie Martin"
    assert "60 000 vélos par an" in page.text and "second atelier dédié aux vélos cargo" in page.text
    for furniture in ("cookies", "Accueil", "À lire aussi", "La lettre du cycle", "Mentions légales", "Partager"):
        assert furniture not in page.text
    assert page.published == datetime(2025, 3, 12, 8, 30, tzinfo=timezone.utc) and page.date_from == "metadata"
    assert page.lang == "fr"


def test_dates_come_from_listing_then_metadata_then_text_and_never_from_the_future():
    html = (PAGES / "article-jsonld.html").read_text(encoding="utf-8")
    listed = datetime(2025, 3, 11, 7, 0, tzinfo=timezone.utc)
    assert extract_article(html, "http://x/a", listing_date=listed).published == listed
    future = datetime.now(timezone.utc) + timedelta(days=3)
    from_page = extract_article(html, "http://x/a", listing_date=future)
    assert from_page.date_from == "metadata", "a listing date in the future is not kept"

    text_only = extract_article((PAGES / "article-text-date.html").read_text(encoding="utf-8"), "http://x/b")
    assert (text_only.published.date(), text_only.date_from) == (datetime(2024, 6, 5).date(), "text")
    assert text_only.title == "Rouléo ouvre un atelier à Rennes"

    misdated = extract_article((PAGES / "article-future-date.html").read_text(encoding="utf-8"), "http://x/c")
    assert misdated.published.year == 2025 and misdated.date_from == "text"


def test_fallback_text_and_pages_without_article_text():
    short = extract_article((PAGES / "short-release.html").read_text(encoding="utf-8"), "http://x/d")
    assert short.text == "MobiShare déploiera 900 vélos à Grenoble." and short.text_from == "fallback"
    assert short.published.date() == datetime(2025, 2, 3).date()
    empty = extract_article((PAGES / "no-article.html").read_text(encoding="utf-8"), "http://x/e")
    assert empty.text == "" and empty.title == "Espace client"
    assert extract_article(b"", "http://x/f").text == ""


# -- configuration (no crawl) ------------------------------------------------------------------------------------


def test_spider_options_are_validated_with_file_and_line():
    text = """\
company: {name: X}
sources:
  - id: site
    name: Site
    kind: spider
    url: http://example.org/news/
    follow: "a[href"
    fulltext: true
  - id: feed
    name: Feed
    url: http://example.org/feed.xml
    max_pages: 3
  - id: bare
    name: Bare
    kind: spider
    url: http://example.org/
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "s.yaml")
    found = {(p.line, p.field): p for p in caught.value.problems}
    assert "a[href" in found[(7, "sources[0].follow")].message
    assert "kind: feed" in found[(8, "sources[0].fulltext")].message
    assert "kind: spider" in found[(12, "sources[1].max_pages")].message
    assert "follow" in found[(13, "sources[2]")].message


# -- crawls ------------------------------------------------------------------------------------------------------


def test_listing_crawl_stores_articles_and_reports_every_bad_input(server, tmp_path):
    server.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    server.add("/news/", listing(
        '<a class="a" href="/news/1.html">Un</a> <time datetime="2025-03-01T08:00:00Z">1 mars</time>',
        '<a class="a" href="/news/2.html">Deux</a>',
        '<a class="a" href="/news/future.html">Futur</a>',
        '<a class="a" href="/private/secret.html">Privé</a>',
        '<a class="a" href="/gone.html">404</a>',
        '<a class="a" href="/broken.html">500</a>',
        next_page="/news/page/2/"), content_type=HTML)
    server.add("/news/page/2/", listing('<a class="a" href="/huge.html">Énorme</a>',
                                        '<a class="a" href="/huge-plain.html">Énorme, non compressée</a>',
                                        '<a class="a" href="/empty.html">Vide</a>',
                                        '<a class="a" href="/away.html">Ailleurs</a>',
                                        '<a class="a" href="https://elsewhere.example/x.html">Autre site</a>',
                                        next_page="/news/page/3/"), content_type=HTML)
    server.add("/news/page/3/", listing('<a class="a" href="/news/3.html">Trois</a>'), content_type=HTML)
    server.add("/news/1.html", article(1), content_type=HTML)
    server.add("/news/2.html", article(2), content_type=HTML)
    server.add("/news/3.html", article(3), content_type=HTML)
    server.add("/news/future.html", article("futur", date="2099-05-01T00:00:00Z"), content_type=HTML)
    server.add("/private/secret.html", article("secret"), content_type=HTML)
    server.add("/broken.html", "oops", status=500, content_type="text/plain")
    huge = b"<html><body><p>" + b"x" * 50_000_000 + b"</p></body></html>"
    server.add("/huge.html", huge, content_type=HTML)  # gzipped on the wire: refused while decompressing
    server.add("/huge-plain.html", huge, content_type=HTML, gzip=False)  # refused on its Content-Length
    server.add("/empty.html", (PAGES / "no-article.html").read_text(encoding="utf-8"), content_type=HTML)
    server.add("/away.html", redirect="http://localhost:9/elsewhere.html")
    config = load_config(spider_config(tmp_path, [{"id": "site", "url": server.url("/news/"), "follow": "a.a",
                                                   "max_pages": 2}]))
    with Store.open(config.database) as store:
        report = collect(config, store)
        items = {i["url"].rsplit("/", 1)[-1]: i for i in store.items()}
        fetch = fetches(store, "site")[-1]

    outcome = report.outcomes[0]
    assert outcome.outcome == "ok" and outcome.new == 4
    assert set(items) == {"1.html", "2.html", "future.html", "empty.html"}
    assert all(i["origin"] == "spider" and i["source"] == "site" for i in items.values())
    assert "nouvelle gamme de vélos cargo" in items["1.html"]["text"] and "Accueil" not in items["1.html"]["text"]
    assert items["1.html"]["published_at"] == "2025-03-01T08:00:00+00:00", "the listing date comes first"
    assert items["2.html"]["published_at"] == "2025-03-12T08:30:00+00:00", "then the page's meta tags"
    assert datetime.fromisoformat(items["future.html"]["published_at"]) <= datetime.now(timezone.utc)
    assert items["empty.html"]["text"] == "" and items["empty.html"]["title"] == "Espace client"

    assert server.routes["/private/secret.html"].hits == 0, "robots.txt is obeyed"
    assert server.routes["/news/page/3/"].hits == 0, "max_pages: 2 stops the pagination"
    warning = fetch["warning"]
    for expected in ("robots.txt : " + server.url("/private/secret.html"), server.url("/gone.html") + " (HTTP 404)",
                     server.url("/broken.html") + " (HTTP 500)", "2 page(s) trop grosse(s), abandonnée(s) : ",
                     "sans texte d'article : " + server.url("/empty.html"), "hors des domaines permis : "
                     + server.url("/away.html") + " (redirigée vers http://localhost:9/elsewhere.html"):
        assert expected in warning, expected
    assert server.routes["/broken.html"].hits == 2, "one retry after a 500 (collect.retries: 1)"
    assert server.url("/huge.html") in warning and server.url("/huge-plain.html") in warning
    assert fetch["outcome"] == "ok" and fetch["new"] == 4 and fetch["pages"] == 8 and fetch["error"] == ""

    with Store.open(config.database) as store:
        again = collect(config, store).outcomes[0]
    assert again.new == 0 and server.routes["/news/1.html"].hits == 1, "collected articles are not read again"


def test_configuration_problems_time_budget_sitemaps_and_custom_spiders(server, tmp_path):
    """Four sources crawled in one collection (two child processes at a time)."""
    server.add("/list/", listing('<a href="/n/1.html">Un</a>'), content_type=HTML)
    server.add("/n/1.html", article(1), content_type=HTML)
    server.add("/slow/", listing(*(f'<a class="s" href="/slow/{n}.html">{n}</a>' for n in range(12))), content_type=HTML)
    for n in range(12):
        server.add(f"/slow/{n}.html", article(f"lent {n}"), content_type=HTML, delay=0.6)
    server.add("/sitemap-index.xml", f"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>{server.url('/sitemap-news.xml')}</loc></sitemap></sitemapindex>""", content_type="application/xml")
    server.add("/sitemap-news.xml", f"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>{server.url('/sm/a.html')}</loc><news:news><news:publication><news:name>Site</news:name>
<news:language>fr</news:language></news:publication><news:publication_date>2025-04-02T10:00:00+02:00</news:publication_date>
<news:title>Titre du sitemap</news:title></news:news></url>
<url><loc>{server.url('/sm/b.html')}</loc></url></urlset>""", content_type="application/xml")
    server.add("/sm/a.html", f"<html><body><p>{BODY * 3}</p></body></html>", content_type=HTML)
    server.add("/sm/b.html", article("b"), content_type=HTML)
    server.add("/inline/", "<html><body>" + "".join(
        f"<article><h2>Brève {n}</h2><time datetime='2025-05-0{n}T09:00:00Z'></time><p>{BODY}</p></article>"
        for n in (1, 2)) + "</body></html>", content_type=HTML)
    path = spider_config(tmp_path, [
        {"id": "wrong-selector", "url": server.url("/list/"), "follow": "article.news h2 a"},
        {"id": "slow", "url": server.url("/slow/"), "follow": "a.s", "time_budget": 2},
        {"id": "sitemap", "url": server.url("/"), "sitemap": server.url("/sitemap-index.xml")},
        {"id": "briefs", "url": server.url("/inline/"), "spider": "inline"},
    ], per_host=1)
    config = load_config(path)
    with Store.open(config.database) as store:
        report = {o.source_id: o for o in collect(config, store).outcomes}
        items = store.items()

    wrong = report["wrong-selector"]
    assert wrong.outcome == "error"
    assert "'wrong-selector'" in wrong.error and f"{path}:" in wrong.error and "article.news h2 a" in wrong.error
    assert server.routes["/n/1.html"].hits == 0

    slow = report["slow"]
    assert slow.outcome == "ok" and "budget de 2 s atteint" in slow.warning
    assert 0 < slow.new < 12, "stopped by its time budget, keeping what it had found"
    assert len([i for i in items if i["source"] == "slow"]) == slow.new

    by_url = {i["url"]: i for i in items}
    mapped = by_url[server.url("/sm/a.html")]
    assert mapped["title"] == "Titre du sitemap" and mapped["published_at"] == "2025-04-02T08:00:00+00:00"
    assert server.url("/sm/b.html") in by_url and report["sitemap"].outcome == "ok"

    briefs = [i for i in items if i["source"] == "briefs"]
    assert sorted(i["title"] for i in briefs) == ["Brève 1", "Brève 2"]
    assert {i["published_at"][:10] for i in briefs} == {"2025-05-01", "2025-05-02"}


def test_stop_ends_a_running_crawl_and_keeps_what_it_found(server, tmp_path):
    server.add("/news/", listing(*(f'<a class="a" href="/n/{n}.html">{n}</a>' for n in range(30))), content_type=HTML)
    for n in range(30):
        server.add(f"/n/{n}.html", article(n), content_type=HTML, delay=0.3)
    config = load_config(spider_config(tmp_path, [{"id": "site", "url": server.url("/news/"), "follow": "a.a"}],
                                       per_host=1))
    stop = threading.Event()
    result = {}
    with Store.open(config.database) as store:
        worker = threading.Thread(target=lambda: result.setdefault("report", collect(config, store, stop=stop)))
        worker.start()
        with Store.open(config.database) as watcher:
            deadline = time.monotonic() + 30
            while watcher.counts()["items"] < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
        stop.set()
        worker.join(30)
        outcome = result["report"].outcomes[0]
        kept = store.counts()["items"]
        fetch = fetches(store, "site")[-1]
    assert outcome.outcome == "stopped" and "arrêtée sur demande" in outcome.error
    assert 2 <= kept < 30 and outcome.new == kept, "what the crawl stored before the stop is kept"
    assert fetch["outcome"] == "stopped" and fetch["new"] == kept


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the crawl's processes from /proc (Linux)")
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_collect_stops_its_crawl_at_once_keeps_what_it_stored_and_leaves_no_process(
        server, tmp_path, signum, code):
    """Ctrl-C (or SIGTERM) on `veille collect` while the site has gone slow: every fourth article answers after a
    minute, so the crawl soon waits on two of them, which Scrapy's own graceful close would wait for too."""
    server.add("/news/", listing(*(f'<a class="a" href="/n/{n}.html">{n}</a>' for n in range(40))), content_type=HTML)
    for n in range(40):
        server.add(f"/n/{n}.html", article(n), content_type=HTML, delay=60 if n % 4 == 0 else 0.1)
    config = spider_config(tmp_path, [{"id": "site", "url": server.url("/news/"), "follow": "a.a"}],
                           per_host=2, timeout=120, crawl_budget=120)
    veille = str(Path(sys.executable).parent / "veille")
    # SIGINT as a terminal hands it over (a suite run as a script's background job would pass it on ignored).
    proc = subprocess.Popen([veille, "--config", str(config), "collect", "--no-classify"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "VEILLE_LANG": "fr"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        slow = [route for path, route in server.routes.items() if path.startswith("/n/") and route.delay > 1]
        deadline = time.monotonic() + 60
        while sum(route.hits for route in slow) < 2 or not stored(tmp_path):
            assert time.monotonic() < deadline and proc.poll() is None, "the crawl reached no slow article"
            time.sleep(0.1)
        time.sleep(1.5)  # the pipeline writes what it holds within a second
        before = stored(tmp_path)
        below = descendants(proc.pid)
        assert any(b"spiders.crawl" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in below)
        started = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code and took < 8, (took, err)  # was: about 10 s, and SIGTERM left the crawl running
    assert "Collecte interrompue" in err and "Traceback" not in err
    deadline = time.monotonic() + 5
    while (left := [pid for pid in below if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in left]
    with Store.open(tmp_path / "veille.db") as store:
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        items = store.items()
        fetch = fetches(store, "site")[-1]
    assert len(items) >= before >= 1 and fetch["new"] == len(items)  # nothing stored before the stop is lost
    assert all(item["title"].startswith("Article") and "vélos cargo" in item["text"] for item in items)
    assert fetch["outcome"] == "stopped" and "arrêtée sur demande" in fetch["error"]


def stored(directory: Path) -> int:
    """Items in the database that a running `veille collect` writes (0 before the store is created)."""
    try:
        db = sqlite3.connect(f"file:{directory / 'veille.db'}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0
    try:
        return db.execute("select count(*) from items").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def test_a_crashing_or_hanging_spider_never_takes_the_caller_down(server, tmp_path, monkeypatch):
    """Spiders named by `module:Class`, from a module on PYTHONPATH (as a user's own package would be)."""
    (tmp_path / "brokenspiders.py").write_text('''
import os, time
import scrapy
from spiders.base import SourceSpider

class Crashing(SourceSpider):
    name = "crashing"
    async def start(self):
        os._exit(3)
        yield

class Hanging(SourceSpider):
    name = "hanging"
    async def start(self):
        yield scrapy.Request(self.source.url, callback=self.parse)
    def parse(self, response):
        time.sleep(600)  # blocks the reactor: Scrapy cannot even close the crawl
''', encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), str(REPO)]))
    server.add("/", "<html><body>x</body></html>", content_type=HTML)
    source = {"id": "x", "name": "x", "kind": "spider", "url": server.url("/"), "follow": "a"}
    db = str(tmp_path / "veille.db")
    Store.open(db).close()
    crashed = run_crawl(CrawlJob(source=source, spider="brokenspiders:Crashing", db=db, budget=5))
    assert crashed.outcome == "error" and "code 3" in crashed.error
    started = time.monotonic()
    hung = run_crawl(CrawlJob(source=source, spider="brokenspiders:Hanging", db=db, budget=1), allowance=3, grace=1)
    assert hung.outcome == "error" and "budget" in hung.error and time.monotonic() - started < 15
    unknown = run_crawl(CrawlJob(source=source, spider="nosuchspider", db=db, budget=5))
    assert unknown.outcome == "error" and "listing" in unknown.error, "says which spiders exist"


def test_adhoc_listing_from_the_cli_and_the_parent_never_imports_twisted(server, tmp_path):
    """`veille collect --url URL --follow SELECTOR` in a fresh process, which must not load Scrapy or Twisted."""
    server.add("/press/", listing('<a class="p" href="/press/1.html">Un</a>'), content_type=HTML)
    server.add("/press/1.html", article("presse"), content_type=HTML)
    config = write_config(tmp_path, [])
    script = f"""
import json, sys
from watch.cli import main
try:
    main(["--config", {str(config)!r}, "collect", "--url", {server.url('/press/')!r}, "--follow", "a.p",
          "--no-classify", "--format", "json"])
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "twisted": "twisted" in sys.modules, "scrapy": "scrapy" in sys.modules}}), file=sys.stderr)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    facts = json.loads(done.stderr.strip().splitlines()[-1])
    assert facts == {"code": 0, "twisted": False, "scrapy": False}, done.stderr
    rows = json.loads(done.stdout)
    assert rows[0]["source"].startswith("adhoc-127-0-0-1") and rows[0]["new"] == 1
    with Store.open(tmp_path / "veille.db") as store:
        (item,) = store.items()
    assert item["origin"] == "adhoc" and item["title"] == "Article presse"


def test_follow_needs_a_url_and_a_readable_selector(tmp_path):
    config = load_config(write_config(tmp_path, []))
    with Store.open(config.database) as store, pytest.raises(UsageError, match="sélecteur"):
        collect(config, store, urls=["http://example.org/"], follow="a[")


def test_fulltext_feeds_get_the_text_of_new_entries_politely(server, tmp_path):
    server.add("/robots.txt", "User-agent: *\nDisallow: /members/\n", content_type="text/plain")
    feed = rss(rss_item(1, "Veloce ouvre une usine", link=server.url("/a/1.html"), description="Un teaser."),
               rss_item(2, "Article réservé", link=server.url("/members/2.html"), description="Autre teaser."))
    server.add("/feed.xml", feed, validators=False)
    server.add("/a/1.html", (PAGES / "article-jsonld.html").read_text(encoding="utf-8"), content_type=HTML)
    server.add("/members/2.html", article(2), content_type=HTML)
    path = write_config(tmp_path, [{"id": "news", "url": server.url("/feed.xml"), "fulltext": True}])
    config = load_config(path)
    with Store.open(config.database) as store:
        outcome = collect(config, store).outcomes[0]
        items = {i["title"]: i for i in store.items()}
        assert "60 000 vélos par an" in items["Veloce ouvre une usine"]["text"]
        assert items["Article réservé"]["text"] == "", "robots.txt keeps the feed's teaser only"
        assert outcome.outcome == "ok" and "texte intégral : 1/2" in outcome.warning
        assert "robots.txt" in outcome.warning and server.routes["/members/2.html"].hits == 0
        assert [f["outcome"] for f in fetches(store, "news")] == ["ok", "ok"], "the feed, then its full-text pass"

        again = collect(config, store).outcomes[0]  # the same feed read again (no validators: parsed again)
        text = store.items(search="usine")[0]["text"]
    assert again.new == again.updated == 0 and "60 000 vélos par an" in text, "the teaser does not come back"


def test_scrapy_list_and_scrapy_crawl_work_from_the_repository(server, tmp_path):
    listed = subprocess.run([str(Path(sys.executable).parent / "scrapy"), "list"], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert listed.returncode == 0 and set(listed.stdout.split()) >= {"listing", "news-sitemap", "fulltext", "inline"}

    server.add("/news/", listing('<a class="a" href="/news/1.html">Un</a>'), content_type=HTML)
    server.add("/news/1.html", article(1), content_type=HTML)
    path = spider_config(tmp_path, [{"id": "site", "url": server.url("/news/"), "follow": "a.a"}])
    # -s: Scrapy's own way to set a setting; here the extraction worker starts with the first article request.
    crawled = subprocess.run([str(Path(sys.executable).parent / "scrapy"), "crawl", "listing", "-a", "source=site",
                              "-s", "EXTRACT_PROCESSES=1", "-s", "EXTRACT_PROCESSES_FROM=1"],
                             capture_output=True, text=True, cwd=REPO, timeout=60,
                             env={**os.environ, "VEILLE_CONFIG": str(path)})
    assert crawled.returncode == 0, crawled.stderr[-2000:]
    with Store.open(tmp_path / "veille.db") as store:
        (item,) = store.items()
        assert item["title"] == "Article 1" and "nouvelle gamme de vélos cargo" in item["text"]
        (fetch,) = fetches(store, "site")
    assert fetch["outcome"] == "ok" and fetch["new"] == 1 and fetch["pages"] == 2
    assert "article extraction moves to 1 worker process" in crawled.stderr, "started, then shut down with the crawl"


def test_extraction_runs_in_a_worker_process():
    """What a large crawl does with its pages: extract_article in a worker process, its Article sent back."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    html = (PAGES / "article-jsonld.html").read_text(encoding="utf-8")
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        page = pool.submit(extract_article, html, "http://example.org/a").result(timeout=60)
    assert page == extract_article(html, "http://example.org/a") and page.date_from == "metadata"
