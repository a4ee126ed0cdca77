#!/usr/bin/env python
"""Benchmark of `veille collect` over many feeds served from local HTTP servers.

Serves N realistic RSS 2.0 feeds (default 500 feeds of 20 entries, every response delayed 100 ms) from a child
process holding one ThreadingHTTPServer per loopback address (127.0.0.2 to 127.0.0.9 by default, the feeds spread
round-robin over them, as a real watch spreads over many hosts), then measures, each step in its own fresh process:

  (a) `veille collect --no-classify --format json` over the N feeds, on a fresh database;
  (b) a plain sequential loop of `feedparser.parse(url)` over the same URLs (the naive script);
  (c) a second (a) when nothing changed (every answer should be 304 Not Modified, no body parsed);
  (d) `feedparser.parse(body)` of the same N bodies from memory, in one process, no network (the CPU floor).

Targets (from the issue): (a) at least 10 times faster than (b) and within 2 times (d); (c) all 304, no body parsed,
under 30 % of (a); peak memory of (a) under 300 MB.

Wall times of (a) and (c) are the whole command, interpreter start-up and imports included (what a user waits for);
(b) and (d) time only their loop, measured inside their process, so both ratios against them are conservative.
Peak memory is the child's maximum resident set size, read from os.wait4().

This prints figures; it is not a test. It exits 0 whatever the figures, 1 when the run itself broke (a server that
cannot start, a command that crashed). Run it with the project's interpreter:

    .venv/bin/python bench/collect.py                 # 500 feeds, about 1.5 min (the naive loop takes most of it)
    .venv/bin/python bench/collect.py --feeds 50      # quick look
    .venv/bin/python bench/collect.py --baseline-sample 100   # time (b) on 100 URLs and extrapolate
"""

from __future__ import annotations

import argparse
import hashlib
import gzip
import html
import json
import math
import multiprocessing as mp
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import urllib.request
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from measure import run_measured, veille_command  # noqa: E402 (bench/ is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
# Fixed, safely in the past: bodies (and so ETags) are the same on every run.
BASE_DATE = datetime(2025, 6, 2, 8, 0, tzinfo=timezone.utc)
LAST_MODIFIED = format_datetime(BASE_DATE, usegmt=True)
TARGET_SPEEDUP_VS_NAIVE = 10.0
TARGET_FACTOR_VS_FLOOR = 2.0
TARGET_UNCHANGED_SHARE = 0.30
TARGET_PEAK_MB = 300.0


# -- feeds -------------------------------------------------------------------------------------------------------

FR = {
    "actors": ["Vélocé", "Cyclonova", "Moustache Bikes", "Decathlon", "l'Ademe", "la Région Île-de-France",
               "Bosch eBike Systems", "Gazelle", "la Fédération des usagers de la bicyclette", "Cowboy",
               "Angell", "la SNCF", "Leroy Merlin", "Arcade Cycles", "Éco-Vélo SAS", "la métropole de Lyon"],
    "moves": ["lève {n} millions d'euros", "rachète {other}", "lance un vélo cargo à {price} €",
              "ouvre une usine à {city}", "baisse ses prix de {pct} %", "signe un partenariat avec {other}",
              "recrute {n}0 ingénieurs", "présente sa nouvelle batterie", "annonce un plan social",
              "double ses ventes au troisième trimestre", "s'implante en Allemagne", "publie ses résultats annuels"],
    "tails": ["pour accélérer en Europe", "face à la concurrence asiatique", "malgré un marché en recul", "",
              "dès la rentrée", "d'ici à 2027", "selon nos informations", "", "après deux années difficiles"],
    "cities": ["Lyon", "Nantes", "Roubaix", "Bordeaux", "Grenoble", "Strasbourg", "Toulouse", "Lille", "Angers"],
    "words": ["le", "marché", "du", "vélo", "électrique", "a", "connu", "une", "année", "contrastée", "selon",
              "les", "chiffres", "publiés", "par", "l'Union", "sport", "et", "cycle", "ventes", "ont", "reculé",
              "en", "volume", "mais", "progressé", "valeur", "grâce", "aux", "modèles", "cargo", "haut", "de",
              "gamme", "distributeurs", "s'inquiètent", "des", "stocks", "accumulés", "depuis", "la", "crise",
              "tandis", "que", "fabricants", "européens", "misent", "sur", "relocalisation", "assemblage",
              "collectivités", "financent", "pistes", "cyclables", "primes", "à", "l'achat", "entreprises",
              "proposent", "forfait", "mobilités", "durables", "salariés", "consommateurs", "attendent",
              "réparabilité", "batteries", "garantie", "prix", "moyen", "euros", "hausse", "baisse", "été"],
}
EN = {
    "actors": ["Veloce", "Cyclonova", "VanMoof", "Rad Power Bikes", "Shimano", "Specialized", "Giant",
               "the European Commission", "Trek", "Bosch eBike Systems", "Brompton", "Accell Group", "Tern",
               "the Netherlands", "Riese & Müller", "Lime"],
    "moves": ["raises ${n} million", "acquires {other}", "launches a ${price} cargo bike", "opens a plant in {city}",
              "cuts prices by {pct}%", "partners with {other}", "hires {n}0 engineers", "unveils a new battery",
              "announces layoffs", "doubles third-quarter sales", "expands into Germany", "reports annual results"],
    "tails": ["to speed up in Europe", "amid Asian competition", "despite a shrinking market", "",
              "this autumn", "by 2027", "sources say", "", "after two difficult years"],
    "cities": ["Porto", "Rotterdam", "Leipzig", "Taichung", "Portland", "Milan", "Gdansk", "Ghent", "Lyon"],
    "words": ["the", "e-bike", "market", "had", "a", "mixed", "year", "according", "to", "figures", "released",
              "by", "industry", "association", "sales", "fell", "in", "volume", "but", "rose", "value", "thanks",
              "premium", "cargo", "models", "retailers", "worry", "about", "inventory", "built", "up", "since",
              "the", "downturn", "while", "european", "makers", "bet", "on", "reshoring", "assembly", "cities",
              "fund", "bike", "lanes", "and", "purchase", "subsidies", "employers", "offer", "mobility",
              "allowances", "consumers", "expect", "repairable", "batteries", "longer", "warranties", "average",
              "price", "increase", "decline", "quarter", "growth", "supply", "chain", "demand", "urban"],
}


def feed_language(index: int) -> str:
    return "fr" if index % 3 != 2 else "en"  # two French feeds for one English feed, as in a French watch


def feed_body(index: int, entries: int) -> bytes:
    """The RSS 2.0 body of feed `index`: deterministic, ~0.6 KB per entry, French or English."""
    rng = random.Random(f"veille-bench-{index}")
    lang = feed_language(index)
    words = FR if lang == "fr" else EN
    site = f"https://www.site{index:04d}.example"
    cdata = index % 2 == 0  # half the feeds wrap descriptions in CDATA, half escape them
    channel = (f"{'Actualités' if lang == 'fr' else 'News'} du site {index}" if lang == "fr"
               else f"Site {index} news")
    items = []
    for j in range(entries):
        actor, other = rng.sample(words["actors"], 2)
        move = rng.choice(words["moves"]).format(n=rng.randint(2, 90), other=other, price=rng.randint(9, 60) * 100,
                                                 city=rng.choice(words["cities"]), pct=rng.randint(5, 30))
        title = " ".join(part for part in (actor[:1].upper() + actor[1:], move, rng.choice(words["tails"])) if part)
        when = BASE_DATE - timedelta(hours=7 * j + rng.randint(0, 6), minutes=rng.randint(0, 59))
        ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
        slug = "-".join(re.sub(r"[^a-z0-9]+", " ", ascii_title).split()[:7])
        link = f"{site}/{when:%Y/%m/%d}/{slug}-{index}-{j}/"
        text = [rng.choice(words["words"]) for _ in range(60)]
        text[0] = text[0].capitalize()
        text[8] = f"<strong>{text[8]}</strong>"
        text[20] = f'<a href="{site}/dossier/{rng.randint(1, 999)}">{text[20]}</a>'
        description = f"<p>{' '.join(text[:30])}.</p><p>{' '.join(text[30:]).capitalize()}.</p>"
        description = f"<![CDATA[{description}]]>" if cdata else html.escape(description, quote=False)
        category = rng.choice(["Industrie", "Marché", "Distribution", "Politiques publiques"] if lang == "fr"
                              else ["Industry", "Market", "Retail", "Policy"])
        items.append(
            f"    <item>\n      <title>{html.escape(title, quote=False)}</title>\n      <link>{link}</link>\n"
            f'      <guid isPermaLink="true">{link}</guid>\n      <pubDate>{format_datetime(when)}</pubDate>\n'
            f"      <dc:creator>{rng.choice(['Claire Martin', 'Jean Dupont', 'Sam Taylor', 'Nora Haddad'])}</dc:creator>\n"
            f"      <category>{category}</category>\n      <description>{description}</description>\n    </item>\n")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">\n'
        f"  <channel>\n    <title>{channel}</title>\n    <link>{site}/</link>\n"
        f"    <description>{'Le fil du site' if lang == 'fr' else 'The feed of site'} {index}</description>\n"
        f"    <language>{'fr-FR' if lang == 'fr' else 'en-US'}</language>\n"
        f"    <lastBuildDate>{LAST_MODIFIED}</lastBuildDate>\n"
        f'    <atom:link href="{site}/feed/" rel="self" type="application/rss+xml"/>\n'
        "    <generator>https://wordpress.org/?v=6.5</generator>\n"
        + "".join(items) + "  </channel>\n</rss>\n").encode("utf-8")


def feed_path(index: int) -> str:
    return f"/feeds/{index:04d}.xml"


def feed_urls(hosts: list[str], port: int, count: int) -> list[str]:
    """Feed i is served by host i mod len(hosts): neighbours in the list live on different hosts."""
    return [f"http://{hosts[i % len(hosts)]}:{port}{feed_path(i)}" for i in range(count)]


# -- servers (child process) -------------------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    request_queue_size = 512  # the default backlog of 5 would refuse connections under load
    daemon_threads = True
    allow_reuse_address = True


def _handler(bodies: list[bytes], etags: list[str], delay: float, stats: Counter, lock: threading.Lock,
             compressed: list[bytes] | None = None):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

        def log_message(self, *args) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            with lock:
                stats["connections"] += 1

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and status != 304:
                self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path.startswith("/_stats"):
                with lock:
                    snapshot = dict(stats)
                    snapshot["connections"] = max(snapshot.get("connections", 0) - 1, 0)  # not this one
                    if "reset" in self.path:
                        stats.clear()
                self._send(200, json.dumps(snapshot).encode(), {"Content-Type": "application/json"})
                return
            try:
                index = int(self.path.removeprefix("/feeds/").removesuffix(".xml"))
                body, etag = bodies[index], etags[index]
            except (ValueError, IndexError):
                self._send(404, b"not found", {"Content-Type": "text/plain"})
                return
            time.sleep(delay)
            host = self.server.server_address[0]
            validators = {"ETag": etag, "Last-Modified": LAST_MODIFIED, "Cache-Control": "max-age=300"}
            match = self.headers.get("If-None-Match")
            since = self.headers.get("If-Modified-Since")
            if (match and (match.strip() == "*" or etag in [t.strip() for t in match.split(",")])) or \
                    (not match and since == LAST_MODIFIED):
                status = 304
                self._send(304, headers=validators)
            else:
                status = 200
                headers = {"Content-Type": "application/rss+xml; charset=UTF-8", **validators}
                if compressed and "gzip" in (self.headers.get("Accept-Encoding") or ""):
                    body, headers["Content-Encoding"] = compressed[index], "gzip"
                self._send(200, body, headers)
            with lock:
                stats[f"status_{status}"] += 1
                stats[f"host_{host}"] += 1
                stats["bytes"] += len(body) if status == 200 else 0
                if match:
                    stats["conditional"] += 1

    return Handler


def _bind_all(addresses: list[str], handler) -> tuple[list[_Server], list[str], list[str]]:
    """One server per address, all on one port; addresses that cannot be bound are reported and left out."""
    problems: list[str] = []
    for _attempt in range(20):
        servers: list[_Server] = []
        port = 0
        skipped: list[str] = []
        clash = False
        for address in addresses:
            try:
                server = _Server((address, port), handler)
            except OSError as exc:
                if port and exc.errno == 98:  # EADDRINUSE on a later address: try another port for all
                    clash = True
                    break
                skipped.append(f"{address}: {exc}")
                continue
            port = server.server_address[1]
            servers.append(server)
        if not clash:
            return servers, skipped, problems
        problems.append(f"port {port} taken on one address, retrying")
        for server in servers:
            server.server_close()
    raise OSError("no common free port for the loopback addresses")


def serve(addresses: list[str], feeds: int, entries: int, delay: float, conn, stop, gzipped: bool = False) -> None:
    """Child process: generate the bodies, serve them, say (port, hosts) on `conn`, run until `stop` is set."""
    try:
        bodies = [feed_body(i, entries) for i in range(feeds)]
        etags = ['"' + hashlib.sha1(body).hexdigest()[:20] + '"' for body in bodies]
        stats: Counter = Counter()
        compressed = [gzip.compress(body, 6, mtime=0) for body in bodies] if gzipped else None
        handler = _handler(bodies, etags, delay, stats, threading.Lock(), compressed)
        servers, skipped, _ = _bind_all(addresses, handler)
        if not servers:
            # Not Linux (only 127.0.0.1 is configured on lo elsewhere): one host rather than none.
            servers, more, _ = _bind_all(["127.0.0.1"], handler)
            skipped += more
        threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
                   for s in servers]
        for thread in threads:
            thread.start()
        conn.send({"port": servers[0].server_address[1], "hosts": [s.server_address[0] for s in servers],
                   "skipped": skipped, "bytes": sum(map(len, bodies))})
    except Exception as exc:  # the parent reports it and stops
        conn.send({"error": f"{exc.__class__.__name__}: {exc}"})
        return
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()


def server_stats(host: str, port: int, reset: bool = False) -> dict:
    url = f"http://{host}:{port}/_stats" + ("?reset" if reset else "")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return json.loads(response.read())


# -- measured children -------------------------------------------------------------------------------------------

def child_baseline(urls_file: str, sample: int) -> dict:
    """(b): the naive script. Fetches with feedparser's own urllib client, one URL after the other."""
    import feedparser

    urls = Path(urls_file).read_text().split()
    if sample:
        urls = urls[:sample]
    started = time.perf_counter()
    entries = bozo = 0
    for url in urls:
        parsed = feedparser.parse(url)
        entries += len(parsed.entries)
        bozo += bool(parsed.bozo)
    return {"seconds": time.perf_counter() - started, "feeds": len(urls), "entries": entries, "bozo": bozo}


def child_memory(feeds: int, entries: int, veille_options: bool) -> dict:
    """(d): parse the same bodies from memory; only the parsing is timed. `veille_options`: veille's parse_feed."""
    import feedparser

    bodies = [feed_body(i, entries) for i in range(feeds)]
    if veille_options:
        from watch.feeds import parse_feed

        def parse(body: bytes) -> int:
            return len(parse_feed(body, "application/rss+xml; charset=UTF-8", "").entries)
    else:
        def parse(body: bytes) -> int:
            return len(feedparser.parse(body).entries)
    parse(bodies[0])  # lazy imports inside feedparser happen once, outside the timing, as in a long run
    started = time.perf_counter()
    found = sum(parse(body) for body in bodies)
    return {"seconds": time.perf_counter() - started, "feeds": feeds, "entries": found}


# -- driver ------------------------------------------------------------------------------------------------------

class Step:
    def __init__(self, key: str, label: str):
        self.key, self.label = key, label
        self.wall: float | None = None
        self.peak_mb: float | None = None
        self.items: int | None = None
        self.note = ""
        self.ok = True


def write_config(path: Path, urls: list[str], settings: dict) -> None:
    lines = ["# Written by bench/collect.py", "company: {name: Bench, sector: e-bikes}", "database: bench.db",
             "collect:"]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in settings.items()]
    lines.append("sources:")
    for i, url in enumerate(urls):
        lang = feed_language(i)
        lines.append(f'  - {{id: feed-{i:04d}, name: "Site {i}", kind: feed, url: "{url}", language: {lang}, '
                     f"type: press, reliability: C}}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def db_counts(db: Path) -> dict:
    with sqlite3.connect(db) as conn:
        return {
            "items": conn.execute("select count(*) from items").fetchone()[0],
            "fetches": dict(conn.execute("select outcome, count(*) from fetches group by outcome").fetchall()),
        }


def collect_rows(stdout: str) -> list[dict]:
    try:
        rows = json.loads(stdout)
    except json.JSONDecodeError:
        return []
    return rows if isinstance(rows, list) else []


def mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_table(headers: list[str], rows: list[list[str]], right: set[int]) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/collect.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Wall time and peak memory of `veille collect` over N local feeds, against a naive "
                    "feedparser loop and the in-memory parsing floor. Prints figures; exits 0 unless the run broke.",
        epilog="Steps: (a) veille collect --no-classify on a fresh database; (b) sequential feedparser.parse(url); "
               "(c) (a) again, nothing changed; (d) feedparser.parse(body) from memory.\n"
               "Targets: (a) >= 10x faster than (b), <= 2x (d); (c) all 304, no body parsed, < 30% of (a); "
               "(a) peak < 300 MB.")
    parser.add_argument("--feeds", type=int, default=500, metavar="N", help="number of feeds (default 500)")
    parser.add_argument("--entries", type=int, default=20, metavar="E", help="entries per feed (default 20)")
    parser.add_argument("--delay", type=float, default=0.1, metavar="S",
                        help="seconds every response is delayed, 304s included (default 0.1)")
    parser.add_argument("--hosts", type=int, default=8, metavar="H",
                        help="loopback addresses 127.0.0.2 ... 127.0.0.(H+1) serving the feeds (default 8)")
    parser.add_argument("--concurrency", type=int, default=None, metavar="C",
                        help="collect.concurrency written to sources.yaml (default: veille's default)")
    parser.add_argument("--per-host", type=int, default=None, metavar="P",
                        help="collect.per_host written to sources.yaml (default: veille's default)")
    parser.add_argument("--baseline-sample", type=int, default=0, metavar="K",
                        help="time (b) on the first K URLs only and extrapolate to N (default 0: all N)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (config, db, logs)")
    parser.add_argument("--gzip", action="store_true",
                        help="serve the feeds gzip-compressed to clients that accept it (measures body decoding)")
    parser.add_argument("--child", choices=["baseline", "memory", "memory-veille"], help=argparse.SUPPRESS)
    parser.add_argument("--urls-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:  # a measured step, started by the driver below
        if args.child == "baseline":
            result = child_baseline(args.urls_file, args.baseline_sample)
        else:
            result = child_memory(args.feeds, args.entries, args.child == "memory-veille")
        print(json.dumps(result))
        return 0

    if args.feeds < 1 or args.entries < 1 or args.hosts < 1 or args.hosts > 250 or args.delay < 0:
        parser.error("--feeds, --entries and --hosts must be positive (hosts <= 250), --delay >= 0")
    try:
        import feedparser
        import httpx
        from watch.config import CollectSettings
    except ImportError as exc:
        print(f"cannot import the project ({exc}): run with its interpreter, e.g. .venv/bin/python bench/collect.py",
              file=sys.stderr)
        return 1
    defaults = CollectSettings()
    settings = {"concurrency": args.concurrency or defaults.concurrency, "per_host": args.per_host or defaults.per_host,
                "timeout": defaults.timeout, "connect_timeout": defaults.connect_timeout}

    work = Path(tempfile.mkdtemp(prefix="veille-bench-"))
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "veille_config", "veille_db")}
    env["VEILLE_LANG"] = "en"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    addresses = [f"127.0.0.{2 + i}" for i in range(args.hosts)]
    ctx = mp.get_context("spawn")  # a clean process: no inherited threads or imports
    parent_conn, child_conn = ctx.Pipe()
    stop = ctx.Event()
    server = ctx.Process(target=serve, args=(addresses, args.feeds, args.entries, args.delay, child_conn, stop, args.gzip),
                         name="veille-bench-servers", daemon=True)
    broke: list[str] = []
    steps = {key: Step(key, label) for key, label in [
        ("startup", "start-up: veille --version (info)"),
        ("a", "(a) veille collect, fresh db"),
        ("b", "(b) sequential feedparser.parse(url)"),
        ("c", "(c) veille collect, nothing changed"),
        ("d", "(d) feedparser.parse(body), memory"),
        ("d2", "(d2) veille parse_feed(body), memory (info)"),
    ]}
    cpu_a: dict = {}  # CPU seconds of (a)'s processes
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    server.start()
    try:
        if not parent_conn.poll(120):
            raise RuntimeError("the feed servers did not start within 120 s")
        info = parent_conn.recv()
        if "error" in info:
            raise RuntimeError(f"the feed servers could not start: {info['error']}")
        hosts, port = info["hosts"], info["port"]
        urls = feed_urls(hosts, port, args.feeds)
        (work / "urls.txt").write_text("\n".join(urls) + "\n")
        config, db = work / "sources.yaml", work / "bench.db"
        write_config(config, urls, settings)
        cpus = os.cpu_count()

        print(f"machine  : {platform.machine()}, {usable} usable CPU(s) of {cpus}, {platform.system()} "
              f"{platform.release()}; Python {platform.python_version()} ({platform.python_implementation()}); "
              f"feedparser {feedparser.__version__}, httpx {httpx.__version__}")
        print(f"feeds    : {args.feeds} RSS 2.0 feeds x {args.entries} entries, {info['bytes'] / args.feeds / 1024:.1f} KiB "
              f"each on average, every response delayed {args.delay * 1000:.0f} ms"
              + (", sent gzip-compressed (--gzip)" if args.gzip else ""))
        print(f"servers  : one ThreadingHTTPServer per host in a child process, port {port}, {len(hosts)} host(s): "
              f"{hosts[0]} .. {hosts[-1]} (round-robin)")
        for problem in info["skipped"]:
            print(f"           WARNING could not bind {problem}")
        print(f"collect  : {', '.join(f'{k}={v}' for k, v in settings.items())} (veille's defaults unless given)")
        in_flight = min(settings["concurrency"], settings["per_host"] * len(hosts), args.feeds)
        print(f"floor    : at most {in_flight} requests in flight, so (a) and (c) wait at least "
              f"{math.ceil(args.feeds / in_flight) * args.delay:.2f} s on the network; (b) at least {args.feeds * args.delay:.0f} s")
        print(f"work dir : {work}" + ("" if args.keep else " (removed at the end; --keep keeps it)"))
        print(flush=True)

        veille = veille_command() + ["--config", str(config), "--db", str(db)]
        me = [sys.executable, str(Path(__file__).resolve())]
        budget = 300 + args.feeds * (args.delay + 0.5)

        def progress(text: str) -> None:
            print(f"  .. {text}", file=sys.stderr, flush=True)

        # start-up cost, for reading (a) and (c): the same imports as collect, no work
        step = steps["startup"]
        progress(step.label)
        step.wall, rc, step.peak_mb, _, err = run_measured(veille_command() + ["--version"], env, work, "startup", 120)
        if rc != 0:
            broke.append(f"veille --version exited {rc}: {err.strip()[-300:]}")

        # (a)
        step = steps["a"]
        progress(step.label)
        server_stats(hosts[0], port, reset=True)
        step.wall, rc, step.peak_mb, out, err = run_measured(
            veille + ["collect", "--no-classify", "--format", "json"], env, work, "a", budget, cpu=cpu_a)
        stats = server_stats(hosts[0], port, reset=True)
        rows = collect_rows(out)
        if rc not in (0, 1) or not rows:
            broke.append(f"(a) veille collect exited {rc}: {err.strip()[-500:]}")
        counts = db_counts(db) if db.exists() else {"items": 0, "fetches": {}}
        step.items = counts["items"]
        outcomes = Counter(r.get("outcome") for r in rows)
        full = sum(1 for r in rows if r.get("outcome") == "ok" and r.get("entries") == args.entries)
        step.ok = rc == 0 and step.items == args.feeds * args.entries and full == args.feeds
        step.note = (f"{step.items}/{args.feeds * args.entries} items stored; outcomes {dict(outcomes)}; "
                     f"server: {stats.get('status_200', 0)} x 200, {stats.get('status_304', 0)} x 304, "
                     f"{sum(1 for k in stats if k.startswith('host_'))} hosts, {stats.get('connections', 0)} TCP connections")
        errors = [r for r in rows if r.get("outcome") != "ok"]
        if errors:
            step.note += f"; first problem: {errors[0].get('source')}: {errors[0].get('problem')}"

        # (c)
        step = steps["c"]
        progress(step.label)
        step.wall, rc, step.peak_mb, out, err = run_measured(
            veille + ["collect", "--no-classify", "--format", "json"], env, work, "c", budget)
        stats = server_stats(hosts[0], port, reset=True)
        rows = collect_rows(out)
        if rc not in (0, 1) or not rows:
            broke.append(f"(c) veille collect exited {rc}: {err.strip()[-500:]}")
        after = db_counts(db) if db.exists() else {"items": 0, "fetches": {}}
        step.items = after["items"] - counts["items"]
        outcomes = Counter(r.get("outcome") for r in rows)
        parsed = sum(r.get("entries") or 0 for r in rows)
        step.ok = (outcomes.get("not_modified", 0) == args.feeds == len(rows) and parsed == 0
                   and stats.get("status_304", 0) == args.feeds and stats.get("status_200", 0) == 0)
        step.note = (f"outcomes {dict(outcomes)}; {parsed} entries parsed; server: {stats.get('status_200', 0)} x 200, "
                     f"{stats.get('status_304', 0)} x 304 ({stats.get('conditional', 0)} conditional requests), "
                     f"{stats.get('connections', 0)} TCP connections")

        # (b)
        step = steps["b"]
        sample = min(args.baseline_sample or args.feeds, args.feeds)
        progress(f"{step.label} over {sample} URL(s), about {sample * (args.delay + 0.04):.0f} s")
        wall, rc, step.peak_mb, out, err = run_measured(
            me + ["--child", "baseline", "--urls-file", str(work / "urls.txt"), "--baseline-sample", str(sample)],
            env, work, "b", budget)
        server_stats(hosts[0], port, reset=True)
        try:
            result = json.loads(out.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            broke.append(f"(b) exited {rc}: {err.strip()[-500:]}")
        else:
            step.wall = result["seconds"] * args.feeds / result["feeds"]
            step.items = round(result["entries"] * args.feeds / result["feeds"])
            step.ok = result["entries"] == result["feeds"] * args.entries
            step.note = (f"loop only ({wall:.2f} s with start-up); {result['entries']} entries from {result['feeds']} URLs"
                         + (f"; EXTRAPOLATED from {result['feeds']} to {args.feeds} URLs ({result['seconds']:.2f} s measured)"
                            if result["feeds"] != args.feeds else ""))

        # (d) and (d2)
        for key, mode in (("d", "memory"), ("d2", "memory-veille")):
            step = steps[key]
            progress(step.label)
            wall, rc, step.peak_mb, out, err = run_measured(
                me + ["--child", mode, "--feeds", str(args.feeds), "--entries", str(args.entries)], env, work, key, budget)
            try:
                result = json.loads(out.strip().splitlines()[-1])
            except (json.JSONDecodeError, IndexError):
                broke.append(f"({key}) exited {rc}: {err.strip()[-500:]}")
                continue
            step.wall, step.items = result["seconds"], result["entries"]
            step.ok = result["entries"] == args.feeds * args.entries
            step.note = f"parsing only ({wall:.2f} s with start-up and generating the bodies)"
            if key == "d":
                step.note = "feedparser defaults; " + step.note
            else:
                step.note = "sanitize_html=False, resolve_relative_uris=False + Entry objects; " + step.note
    except (RuntimeError, OSError) as exc:
        broke.append(str(exc))
    finally:
        stop.set()
        server.join(10)
        if server.is_alive():
            server.terminate()
            server.join(5)

    if all(s.wall is None for s in steps.values()):
        print("\n".join(f"BROKEN: {b}" for b in broke), file=sys.stderr)
        return 1

    print("Steps (wall: (a), (c), start-up are whole commands; (b), (d), (d2) their timed loop only; peak: max RSS "
          "of the step's process; items: stored in the db for (a), new in the db for (c), entries parsed otherwise)")
    print_table(["step", "wall s", "peak MB", "items", "checks"],
                [[s.label, secs(s.wall), mb(s.peak_mb), "-" if s.items is None else s.items, "ok" if s.ok else "FAIL"]
                 for s in steps.values()], right={1, 2, 3})
    print()
    for s in steps.values():
        if s.note:
            print(f"  {s.label.split(' ')[0]:<9} {s.note}")
    print()

    a, b, c, d = (steps[k] for k in "abcd")
    targets = []

    def target(name: str, measured: str, goal: str, passed: bool | None) -> None:
        targets.append([name, measured, goal, "n/a" if passed is None else ("PASS" if passed else "FAIL")])

    both = a.wall is not None and b.wall is not None
    target("(a) vs (b): speed-up", f"{b.wall / a.wall:.1f}x" if both else "-", f">= {TARGET_SPEEDUP_VS_NAIVE:.0f}x",
           (b.wall / a.wall >= TARGET_SPEEDUP_VS_NAIVE and a.ok) if both else None)
    both = a.wall is not None and d.wall is not None
    target("(a) vs (d): factor over the CPU floor", f"{a.wall / d.wall:.2f}x" if both else "-",
           f"<= {TARGET_FACTOR_VS_FLOOR:.0f}x", (a.wall / d.wall <= TARGET_FACTOR_VS_FLOOR and a.ok) if both else None)
    target("(c): all 304, no body parsed", "yes" if c.ok else "no", "yes", c.ok if c.wall is not None else None)
    both = a.wall is not None and c.wall is not None
    target("(c) vs (a): share", f"{c.wall / a.wall:.0%}" if both else "-", f"< {TARGET_UNCHANGED_SHARE:.0%}",
           (c.wall / a.wall < TARGET_UNCHANGED_SHARE) if both else None)
    target("(a): peak memory", f"{a.peak_mb:.0f} MB" if a.peak_mb is not None else "-", f"< {TARGET_PEAK_MB:.0f} MB",
           a.peak_mb < TARGET_PEAK_MB if a.peak_mb is not None else None)
    print("Targets")
    print_table(["target", "measured", "goal", "result"], targets, right={1})
    if cpu_a.get("all") and a.wall is not None:
        # What bounds (a) on this machine: its processes' CPU time shared over the usable cores.
        floor = cpu_a["all"] / usable
        print(f"\nCPU of (a): {cpu_a['all']:.1f} s in all its processes ({cpu_a['main']:.1f} s in the main one, the "
              f"rest in the parser processes), so on {usable} core(s) (a) cannot take less than {floor:.2f} s; "
              f"cores busy {cpu_a['all'] / a.wall / usable:.0%} of its wall time."
              + (f" A {TARGET_SPEEDUP_VS_NAIVE:.0f}x speed-up over (b) needs {b.wall / TARGET_SPEEDUP_VS_NAIVE:.2f} s."
                 if b.wall is not None else ""))
    if b.wall is not None and args.baseline_sample and args.baseline_sample < args.feeds:
        print(f"\nNOTE: (b) was timed on {min(args.baseline_sample, args.feeds)} URLs and EXTRAPOLATED to {args.feeds}.")
    if broke:
        print("\n" + "\n".join(f"BROKEN: {b}" for b in broke), file=sys.stderr)
    if args.keep:
        print(f"\nkept: {work} (sources.yaml, bench.db, urls.txt, <step>.out/.err)")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if broke else 0


if __name__ == "__main__":
    sys.exit(main())
