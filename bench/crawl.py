#!/usr/bin/env python
"""Benchmark of the generic listing spider: pages per second, extraction quality and peak memory.

Serves N article pages (default 2,000) generated from known article bodies, as real news sites build them (menu,
breadcrumb, share buttons, a "read also" box inside the article, related links, newsletter, comments, footer; three
site templates, French and English), from one ThreadingHTTPServer per loopback address (127.0.0.2 to 127.0.0.9 by
default), each site listing its articles on paginated listing pages; every response is delayed 100 ms. Then, each
step in its own fresh process:

  (a) `veille collect --no-classify` over one `kind: spider` source whose start URLs are the sites' listing pages:
      the generic spider follows to every article, extracts it (spiders.extract) and stores it (Store.ingest);
  (b) a plain sequential loop over the same article URLs: an HTTP GET (urllib) then `trafilatura.extract(html)`.

Politeness delays are off for both (collect.crawl_delay: 0), for this benchmark only; robots.txt is still read.
Extraction quality is the token F1 of each extracted text against the known body (lower-cased word tokens,
multiset overlap), averaged over the articles. Targets (from the issue): (a) at least 5 times (b)'s pages per
second; mean F1 of (a) at least 0.90; peak memory of (a) under 500 MB.

Wall time of (a) is the whole command (start-up, the crawl's child process, listing pages included); (b) times its
loop only, so the ratio is conservative. Peak memory is the maximum RSS os.wait4() reports for the step's process,
which on Linux is the largest of it and of the children it waited for (the crawl runs in veille's child process).

    .venv/bin/python bench/crawl.py                        # 2,000 pages; (b) alone takes about 4 minutes
    .venv/bin/python bench/crawl.py --pages 500            # quicker
    .venv/bin/python bench/crawl.py --baseline-sample 200  # time (b) on 200 URLs and extrapolate
"""

from __future__ import annotations

import argparse
import html
import json
import multiprocessing as mp
import os
import platform
import random
import re
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from collect import EN, FR, _bind_all, print_table  # noqa: E402 (bench/ is on sys.path)
from measure import finish, run_measured, serve_until_stopped, veille_command  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BASE_DATE = datetime(2025, 6, 2, 8, 0, tzinfo=timezone.utc)
PER_LISTING = 50
TARGET_SPEEDUP = 5.0
TARGET_F1 = 0.90
TARGET_PEAK_MB = 500.0
_TOKENS = re.compile(r"\w+", re.UNICODE)


# -- the articles and their pages --------------------------------------------------------------------------------

def article(index: int) -> dict:
    """Article `index`: language, title, date and body paragraphs (the known text), deterministic."""
    rng = random.Random(f"veille-crawl-bench-{index}")
    lang = "fr" if index % 3 != 2 else "en"
    words = FR if lang == "fr" else EN
    actor, other = rng.sample(words["actors"], 2)
    move = rng.choice(words["moves"]).format(n=rng.randint(2, 90), other=other, price=rng.randint(9, 60) * 100,
                                             city=rng.choice(words["cities"]), pct=rng.randint(5, 30))
    title = " ".join(p for p in (actor[:1].upper() + actor[1:], move, rng.choice(words["tails"])) if p)
    paragraphs = []
    for _ in range(rng.randint(4, 8)):
        sentences = []
        for _ in range(rng.randint(2, 4)):
            text = [rng.choice(words["words"]) for _ in range(rng.randint(12, 26))]
            if rng.random() < 0.4:
                text[rng.randrange(len(text))] = rng.choice(words["actors"])
            sentences.append(" ".join(text).capitalize() + ".")
        paragraphs.append(" ".join(sentences))
    when = BASE_DATE - timedelta(hours=3 * index, minutes=rng.randint(0, 59))
    return {"lang": lang, "title": title, "paragraphs": paragraphs, "published": when,
            "author": rng.choice(["Claire Martin", "Jean Dupont", "Sam Taylor", "Nora Haddad"])}


def article_path(index: int) -> str:
    return f"/{2025 - index % 3}/{index % 12 + 1:02d}/article-{index}.html"


def listing_path(page: int) -> str:
    return "/news/" if page == 1 else f"/news/page/{page}/"


_CSS = "".join(f".c{n}{{margin:{n % 7}px;padding:{n % 5}px {n % 3}px;color:#{n * 7919 % 0xFFFFFF:06x}}}" for n in range(120))
_ICON = ('<svg width="16" height="16" viewBox="0 0 24 24" aria-hidden="true"><path d="M12 2C6.5 2 2 6.5 2 12s4.5 10 '
         '10 10 10-4.5 10-10S17.5 2 12 2zm0 18c-4.4 0-8-3.6-8-8s3.6-8 8-8 8 3.6 8 8-3.6 8-8 8z"/></svg>')


def _weight(index: int, lang: str) -> tuple[str, str]:
    """What makes real pages heavy without being the article: inline CSS, a state script, a mega-menu, a footer.

    About 18 KB a page; the HTML of news sites (before external scripts and images) often weighs more.
    """
    state = json.dumps({"page": {"id": index, "lang": lang, "section": "news", "tags": [f"t{n}" for n in range(40)]},
                        "ads": [{"slot": f"slot-{n}", "sizes": [[300, 250], [728, 90]]} for n in range(12)]})
    head = f"<style>{_CSS}</style><script>window.__STATE__ = {state};</script>"
    sections = ("Industrie", "Marché", "Distribution", "Politiques", "Technologie") if lang == "fr" else \
        ("Industry", "Market", "Retail", "Policy", "Technology")
    mega = "".join(f'<li class="c{n}"><span>{name}</span><ul>' + "".join(
        f'<li><a href="/{name.lower()}/{k}/">{name} {k}</a></li>' for k in range(10)) + "</ul></li>"
        for n, name in enumerate(sections))
    return head, f'<nav class="mega"><ul>{mega}</ul></nav>'


def _menu(lang: str) -> str:
    labels = (["Accueil", "Industrie", "Marché", "Distribution", "Politiques publiques", "Technologie", "Cargo",
               "Vidéos", "Podcasts", "Événements", "Emploi", "Annonces", "Abonnement", "Newsletter", "Contact"]
              if lang == "fr" else
              ["Home", "Industry", "Market", "Retail", "Policy", "Technology", "Cargo", "Videos", "Podcasts",
               "Events", "Jobs", "Classifieds", "Subscribe", "Newsletter", "Contact"])
    return "".join(f'<li><a href="/{label.lower()}/">{label}</a></li>' for label in labels)


def article_page(index: int, articles: list[dict]) -> bytes:
    """A news page around the known body, in one of three site templates."""
    a = articles[index]
    fr = a["lang"] == "fr"
    rng = random.Random(index)
    esc = html.escape
    related = [articles[(index + k) % len(articles)] for k in (1, 2, 3, 5, 8, 13, 21, 34)]
    related_links = "".join(f'<li><a href="{article_path((index + k) % len(articles))}">{esc(r["title"])}</a></li>'
                            for k, r in zip((1, 2, 3, 5, 8, 13, 21, 34), related))
    read_also = (f'<div class="read-also"><strong>{"Lire aussi" if fr else "Read also"}</strong> : '
                 f'<a href="{article_path((index + 55) % len(articles))}">{esc(articles[(index + 55) % len(articles)]["title"])}</a></div>')
    body = []
    for n, paragraph in enumerate(a["paragraphs"]):
        words = paragraph.split(" ")
        if n == 0 and len(words) > 6:
            words[3] = f"<strong>{words[3]}</strong>"
            words[5] = f'<a href="/tag/{rng.randint(1, 99)}/">{words[5]}</a>'
        body.append(f"<p>{' '.join(words)}</p>")
        if n == 1:
            body.append(read_also)
    date_label = a["published"].strftime("%d/%m/%Y %H:%M") if fr else a["published"].strftime("%B %d, %Y")
    share = (f'<div class="share"><span>{"Partager" if fr else "Share"}</span> <a href="#">{_ICON}Facebook</a> '
             f'<a href="#">{_ICON}LinkedIn</a> <a href="#">{_ICON}X</a> <a href="#">{_ICON}E-mail</a></div>')
    heavy_head, mega = _weight(index, a["lang"])
    newsletter = (f'<section class="newsletter"><h2>{"La lettre du vélo" if fr else "The bike letter"}</h2>'
                  f'<p>{"Chaque vendredi, le meilleur de la semaine dans votre boîte." if fr else "Every Friday, the best of the week in your inbox."}</p>'
                  '<form><input type="email"><button>OK</button></form></section>')
    footer = (f'<footer>{mega}<ul>{_menu(a["lang"])}</ul><p>© 2025 {"Le Journal du Cycle" if fr else "Cycle Business"} – '
              f'{"Mentions légales · Confidentialité · Cookies · Plan du site" if fr else "Legal · Privacy · Cookies · Sitemap"}</p></footer>')
    comments = f'<div class="comments"><h3>{rng.randint(0, 40)} {"commentaires" if fr else "comments"}</h3></div>'
    ld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "headline": a["title"],
                     "datePublished": a["published"].isoformat(), "author": {"@type": "Person", "name": a["author"]}})
    template = index % 3
    head = (f'<meta charset="utf-8"><title>{esc(a["title"])} | {"Le Journal du Cycle" if fr else "Cycle Business"}</title>'
            f'<meta name="viewport" content="width=device-width"><meta property="og:title" content="{esc(a["title"])}">'
            '<link rel="stylesheet" href="/static/site.css"><script src="/static/ads.js" async></script>'
            "<script>window.dataLayer=window.dataLayer||[];dataLayer.push({'event':'pageview'});</script>" + heavy_head)
    if template == 0:  # a WordPress-like page: <article>, JSON-LD
        head += f'<script type="application/ld+json">{ld}</script>'
        main = (f'<main id="main"><nav class="breadcrumb"><a href="/">{"Accueil" if fr else "Home"}</a> › '
                f'<a href="/news/">News</a></nav><article class="post"><header><h1 class="entry-title">{esc(a["title"])}</h1>'
                f'<p class="byline">{esc(a["author"])} · <time datetime="{a["published"].isoformat()}">{date_label}</time></p>'
                f'</header><div class="entry-content">{"".join(body)}</div>{share}</article>'
                f'<aside class="related"><h2>{"À lire aussi" if fr else "Related"}</h2><ul>{related_links}</ul></aside></main>')
    elif template == 1:  # no <article>: divs only, date in a meta tag
        head += f'<meta property="article:published_time" content="{a["published"].isoformat()}">'
        main = (f'<div id="content"><div class="col-main"><div class="story"><h1>{esc(a["title"])}</h1>'
                f'<div class="story-meta">{"Par" if fr else "By"} {esc(a["author"])}, {date_label}</div>'
                f'<div class="story-body">{"".join(body)}</div>{share}{comments}</div></div>'
                f'<div class="col-side"><div class="widget"><h3>{"Les plus lus" if fr else "Most read"}</h3>'
                f"<ol>{related_links}</ol></div></div></div>")
    else:  # a <main> with a figure and its caption; the date only in the text
        main = (f'<main><section class="article-body"><h1>{esc(a["title"])}</h1>'
                f'<p class="dateline">{"Publié le" if fr else "Published"} {date_label}</p>'
                f'<figure><img src="/img/{index}.jpg" alt=""><figcaption>{"Photo" if fr else "Photo"} DR</figcaption></figure>'
                f'{"".join(body)}</section>{share}<section class="more"><h2>{"Sur le même sujet" if fr else "More on this"}</h2>'
                f"<ul>{related_links}</ul></section></main>")
    page = (f'<!DOCTYPE html><html lang="{a["lang"]}"><head>{head}</head><body>'
            f'<div class="cookie-consent">{"Ce site utilise des cookies." if fr else "This site uses cookies."} <button>OK</button></div>'
            f'<header class="site"><a class="logo" href="/">Logo</a><nav><ul>{_menu(a["lang"])}</ul></nav>{mega}'
            f'<form class="search"><input name="q"></form></header>{main}{newsletter}{footer}</body></html>')
    return page.encode("utf-8")


def listing_page(page: int, indexes: list[int], articles: list[dict], pages: int) -> bytes:
    shown = indexes[(page - 1) * PER_LISTING: page * PER_LISTING]
    cards = "".join(f'<li class="headline"><a href="{article_path(i)}">{html.escape(articles[i]["title"])}</a> '
                    f'<time datetime="{articles[i]["published"].isoformat()}"></time></li>' for i in shown)
    following = f'<a rel="next" href="{listing_path(page + 1)}">Next</a>' if page < pages else ""
    return (f"<!DOCTYPE html><html><head><title>News – page {page}</title></head><body><header><nav><ul>{_menu('en')}"
            f'</ul></nav></header><main><ul class="headlines">{cards}</ul><nav class="pager">{following}</nav></main>'
            "<footer>© 2025</footer></body></html>").encode("utf-8")


def sites(pages: int, hosts: int) -> list[list[int]]:
    """The article indexes each host serves (round-robin, so that neighbours live on different hosts)."""
    return [list(range(h, pages, hosts)) for h in range(hosts)]


# -- servers (child process) -------------------------------------------------------------------------------------

def serve(addresses: list[str], pages: int, delay: float, conn, stop) -> None:
    """Child process: bind one server per address, build every site's pages, say (port, hosts), serve until stop."""
    routes: dict[tuple[int, str], bytes] = {}
    host_of: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(delay)
            if self.path == "/robots.txt":
                body, status, kind = b"User-agent: *\nAllow: /\n", 200, "text/plain"
            else:
                body = routes.get((host_of[self.server.server_address[0]], self.path))
                status, kind = (200, "text/html; charset=utf-8") if body else (404, "text/plain")
            body = body or b"not found"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    try:
        servers, skipped, _ = _bind_all(addresses, Handler)
        if not servers:  # not Linux (only 127.0.0.1 on lo elsewhere): one host rather than none
            servers, _, _ = _bind_all(["127.0.0.1"], Handler)
        host_of.update({server.server_address[0]: n for n, server in enumerate(servers)})
        articles = [article(i) for i in range(pages)]
        for host, indexes in enumerate(sites(pages, len(servers))):
            count = max(1, -(-len(indexes) // PER_LISTING))
            for page in range(1, count + 1):
                routes[(host, listing_path(page))] = listing_page(page, indexes, articles, count)
            for i in indexes:
                routes[(host, article_path(i))] = article_page(i, articles)
        article_bytes = sum(len(body) for (_, path), body in routes.items() if not path.startswith("/news/"))
    except Exception as exc:  # the parent reports it and stops
        conn.send({"error": f"{exc.__class__.__name__}: {exc}"})
        return
    serve_until_stopped(servers, conn, {"bytes": article_bytes, "skipped": skipped}, stop)


# -- measured steps ----------------------------------------------------------------------------------------------

def _pss(pid: int, page: int) -> int:
    """Proportional set size in bytes (pages shared by forked workers counted once in all), else RSS."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
    except (OSError, IndexError, ValueError):
        return 0


class TreeUsage:
    """Memory and CPU of this process's descendants (but `exclude`), read from /proc every 0.2 s.

    wait4 sees one process (and the children it waited for); a crawl is veille, its crawl process, a forkserver and
    the extraction workers the forkserver forked, which the crawl never waits for. `peak_mb` is the largest sum of
    their proportional set sizes; `cpu_s` the sum of each one's user + system time at its last sample (a process
    ending between two samples loses at most 0.2 s). Linux only; elsewhere both stay None.
    """

    def __init__(self, exclude: int):
        self.exclude = exclude
        self.peak_mb: float | None = None
        self._ticks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def cpu_s(self) -> float | None:
        return sum(self._ticks.values()) / os.sysconf("SC_CLK_TCK") if self._ticks else None

    def __enter__(self) -> TreeUsage:
        if Path("/proc/self/statm").exists():
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.wait(0.2):
            stats: dict[int, list[str]] = {}
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    except (OSError, IndexError):
                        continue
            wanted, frontier = set(), {os.getpid()}
            while frontier:
                frontier = {pid for pid, fields in stats.items()
                            if int(fields[1]) in frontier and pid != self.exclude}
                wanted |= frontier
            for pid in wanted:  # fields after the name: state, ppid, … utime (12th), stime (13th)
                ticks = int(stats[pid][11]) + int(stats[pid][12])
                self._ticks[pid] = max(self._ticks.get(pid, 0), ticks)
            self.peak_mb = max(self.peak_mb or 0.0, sum(_pss(pid, page) for pid in wanted) / 1e6)


def tokens(text: str) -> Counter:
    return Counter(_TOKENS.findall(text.lower()))


def token_f1(extracted: str, known: str) -> float:
    got, want = tokens(extracted), tokens(known)
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def child_baseline(urls_file: str, sample: int) -> dict:
    """(b): GET + trafilatura.extract, one URL after the other; returns the texts for the F1."""
    import urllib.request

    import trafilatura

    urls = Path(urls_file).read_text().split()[:sample or None]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    texts = {}
    started = time.perf_counter()
    for url in urls:
        with opener.open(url, timeout=30) as response:
            texts[url] = trafilatura.extract(response.read().decode("utf-8")) or ""
    return {"seconds": time.perf_counter() - started, "texts": texts}


def write_config(path: Path, hosts: list[str], port: int, pages: int) -> None:
    per_host = max(1, -(-pages // len(hosts)))
    listings = [f"http://{h}:{port}{listing_path(1)}" for h in hosts]
    source = {"id": "bench-sites", "name": "Bench sites", "kind": "spider", "url": listings[0],
              "start_urls": listings[1:], "follow": "ul.headlines a", "max_pages": -(-per_host // PER_LISTING) * len(hosts),
              "max_depth": 50, "max_articles": pages, "allowed_domains": hosts, "language": "fr", "type": "press",
              "reliability": "C"}
    settings = {"crawl_delay": 0, "crawl_budget": 3600}
    path.write_text("# Written by bench/crawl.py\ncompany: {name: Bench, sector: e-bikes}\ndatabase: bench.db\n"
                    f"collect: {json.dumps(settings)}\nsources:\n  - {json.dumps(source)}\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/crawl.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=2000, metavar="N", help="article pages (default 2000)")
    parser.add_argument("--hosts", type=int, default=8, metavar="H", help="loopback addresses 127.0.0.2.. (default 8)")
    parser.add_argument("--delay", type=float, default=0.1, metavar="S", help="seconds each response waits (default 0.1)")
    parser.add_argument("--baseline-sample", type=int, default=0, metavar="K",
                        help="time (b) on K URLs and extrapolate its pages per second (default: all N)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (config, db, logs)")
    parser.add_argument("--child", choices=["baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--urls-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child_baseline(args.urls_file, args.baseline_sample), ensure_ascii=False))
        return 0
    if args.pages < 1 or not 1 <= args.hosts <= 250 or args.delay < 0:
        parser.error("--pages and --hosts must be positive (hosts <= 250), --delay >= 0")
    import scrapy
    import trafilatura

    work = Path(tempfile.mkdtemp(prefix="veille-crawl-bench-"))
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "veille_config", "veille_db")}
    env["VEILLE_LANG"] = "en"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    ctx = mp.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe()
    stop = ctx.Event()
    addresses = [f"127.0.0.{2 + i}" for i in range(args.hosts)]
    server = ctx.Process(target=serve, args=(addresses, args.pages, args.delay, child_conn, stop), daemon=True)
    server.start()
    broke: list[str] = []
    rows, targets = [], []
    try:
        if not parent_conn.poll(300):
            raise RuntimeError("the servers did not start within 300 s")
        info = parent_conn.recv()
        if "error" in info:
            raise RuntimeError(f"the servers could not start: {info['error']}")
        hosts, port = info["hosts"], info["port"]
        articles = [article(i) for i in range(args.pages)]
        known = {}
        for h, indexes in enumerate(sites(args.pages, len(hosts))):
            for i in indexes:
                known[f"http://{hosts[h]}:{port}{article_path(i)}"] = "\n".join(articles[i]["paragraphs"])
        urls = list(known)
        random.Random(0).shuffle(urls)  # the loop does not get one host's pages in a row
        (work / "urls.txt").write_text("\n".join(urls) + "\n")
        config, db = work / "sources.yaml", work / "bench.db"
        write_config(config, hosts, port, args.pages)
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        print(f"machine : {platform.machine()}, {usable} usable CPU(s), Python {platform.python_version()}; "
              f"Scrapy {scrapy.__version__}, trafilatura {trafilatura.__version__}")
        print(f"pages   : {args.pages} articles ({info['bytes'] / args.pages / 1024:.1f} KiB each on average, 3 site "
              f"templates, fr/en) on {len(hosts)} host(s) {hosts[0]}..{hosts[-1]} port {port}, listed {PER_LISTING} per "
              f"listing page; every response delayed {args.delay * 1000:.0f} ms; politeness delay off")
        print(f"work dir: {work}" + ("" if args.keep else " (removed at the end; --keep keeps it)"), flush=True)

        # (a) the generic spider through veille collect
        print("  .. (a) veille collect (generic spider)", file=sys.stderr, flush=True)
        veille = veille_command() + ["--config", str(config), "--db", str(db)]
        with TreeUsage(exclude=server.pid) as tree:
            wall, rc, peak, out, err = run_measured(veille + ["collect", "--no-classify", "--format", "json"], env,
                                                    work, "a", 600 + args.pages * 2)
        with sqlite3.connect(db) as conn:
            stored = dict(conn.execute("select url, text from items"))
            fetch = conn.execute("select outcome, pages, error, warning from fetches order by id desc limit 1").fetchone()
        if rc != 0 or not stored:
            broke.append(f"(a) exited {rc}: {err.strip()[-600:]} {fetch}")
        f1_a = [token_f1(stored.get(url, ""), body) for url, body in known.items()]
        rate_a = len(stored) / wall
        cpu_a = f"{tree.cpu_s / max(len(stored), 1) * 1000:.1f}" if tree.cpu_s is not None else "-"
        rows.append(["(a) generic spider + extraction", f"{wall:.1f}", f"{len(stored)}", f"{rate_a:.1f}",
                     f"{sum(f1_a) / len(f1_a):.3f}", cpu_a, f"{peak:.0f}"])

        # (b) the plain loop
        sample = min(args.baseline_sample or args.pages, args.pages)
        print(f"  .. (b) GET + trafilatura loop over {sample} URL(s), about {sample * (args.delay + 0.02):.0f} s",
              file=sys.stderr, flush=True)
        me = [sys.executable, str(Path(__file__).resolve())]
        with TreeUsage(exclude=server.pid) as tree_b:
            _, rc, peak_b, out, err = run_measured(me + ["--child", "baseline", "--urls-file", str(work / "urls.txt"),
                                                         "--baseline-sample", str(sample)], env, work, "b", 600 + sample)
        try:
            result = json.loads(out.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            broke.append(f"(b) exited {rc}: {err.strip()[-600:]}")
        else:
            f1_b = [token_f1(text, known[url]) for url, text in result["texts"].items()]
            rate_b = len(result["texts"]) / result["seconds"]
            cpu_b = f"{tree_b.cpu_s / len(result['texts']) * 1000:.1f}" if tree_b.cpu_s is not None else "-"
            rows.append(["(b) sequential GET + trafilatura", f"{result['seconds']:.1f}", f"{len(result['texts'])}",
                         f"{rate_b:.1f}", f"{sum(f1_b) / len(f1_b):.3f}", cpu_b, f"{peak_b:.0f}"])
            targets.append(["(a) vs (b): pages per second", f"{rate_a / rate_b:.1f}x", f">= {TARGET_SPEEDUP:.0f}x",
                            "PASS" if rate_a / rate_b >= TARGET_SPEEDUP else "FAIL"])
        mean_f1 = sum(f1_a) / len(f1_a)
        targets.append(["(a): mean token F1", f"{mean_f1:.3f}", f">= {TARGET_F1:.2f}", "PASS" if mean_f1 >= TARGET_F1 else "FAIL"])
        targets.append(["(a): peak memory, largest process", f"{peak:.0f} MB", f"< {TARGET_PEAK_MB:.0f} MB",
                        "PASS" if peak < TARGET_PEAK_MB else "FAIL"])
        if tree.peak_mb is not None:
            targets.append(["(a): peak memory, all its processes", f"{tree.peak_mb:.0f} MB", f"< {TARGET_PEAK_MB:.0f} MB",
                            "PASS" if tree.peak_mb < TARGET_PEAK_MB else "FAIL"])
        low = sorted(zip(f1_a, known))[:3]
        print(f"\nfetch of (a): outcome {fetch[0]}, {fetch[1]} pages; {fetch[3] or fetch[2] or 'no problem'}")
        print("lowest F1 of (a): " + ", ".join(f"{score:.2f} {url.rsplit('/', 1)[-1]}" for score, url in low))
    except (RuntimeError, OSError, sqlite3.Error) as exc:
        broke.append(str(exc))
    finally:
        stop.set()
        server.join(10)
        if server.is_alive():
            server.terminate()
    if rows:
        print("\nSteps ((a): the whole command, start-up and listing pages included; (b): its loop only)")
        print_table(["step", "wall s", "pages", "pages/s", "mean F1", "CPU ms/page", "peak MB"], rows,
                    right={1, 2, 3, 4, 5, 6})
        print("  CPU ms/page: user + system time of all the step's processes (veille, its crawl process, the "
              "extraction workers) per page, start-up included; unlike the rates, it hardly depends on what else the "
              "machine runs")
    if targets:
        print("\nTargets")
        print_table(["target", "measured", "goal", "result"], targets, right={1})
    if args.baseline_sample and args.baseline_sample < args.pages:
        print(f"\nNOTE: (b) was timed on {min(args.baseline_sample, args.pages)} URLs; its pages per second are "
              "compared as measured.")
    return finish(broke, work, args.keep, "sources.yaml, bench.db, urls.txt, <step>.out/.err")


if __name__ == "__main__":
    sys.exit(main())
