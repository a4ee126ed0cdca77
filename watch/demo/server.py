"""Serve the demo sector (sector.yaml) over real local HTTP, with the standard library only.

The site is built once, when the server starts and its base URL is known:

- every feed (RSS 2.0 or Atom 1.0) at its ``path``;
- every outlet's home page at its ``site`` path, with an autodiscovery ``<link rel="alternate">`` and its headlines;
- every article at ``/<outlet>/<slug>.html`` (title, date, author and the summary as plain text);
- every site without a feed (``sites:``): paginated listing pages and article pages (watch/demo/sites.py);
- ``/`` (an index of the outlets) and ``/robots.txt``.

Responses behave like a well-run web server, so the feed reader can be shown working for real: ``ETag`` and
``Last-Modified`` on every page, ``304 Not Modified`` for ``If-None-Match`` / ``If-Modified-Since``, ``HEAD``, gzip
when the client accepts it, 404 for unknown paths and a redirect from ``/outlet`` to ``/outlet/``.

Run it in the foreground with ``python -m watch.demo.server`` (``--port 0`` picks any free port), or from code::

    with DemoServer(port=0) as server:
        httpx.get(server.base_url + "/veloce/rss.xml")
"""

from __future__ import annotations

import argparse
import email.utils
import errno
import gzip
import hashlib
import html
import logging
import socket
import socketserver
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from html.parser import HTMLParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

log = logging.getLogger(__name__)

SECTOR_FILE = Path(__file__).with_name("sector.yaml")  # also exported by watch.demo
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_BASE_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
# Atom ids must not change when the server moves to another port: tag URIs (RFC 4151) do not.
TAG_AUTHORITY = "tag:demo.veille.example,2024:"

CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
}
HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"


# --------------------------------------------------------------------------------------------------------------
# The sector file


@dataclass(frozen=True)
class Entry:
    slug: str
    title: str
    summary: str
    published: datetime
    author: str | None
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Outlet:
    """One feed of the sector and the web site around it."""

    path: str
    format: str
    title: str
    description: str
    site: str
    language: str
    entries: tuple[Entry, ...]  # newest first

    @property
    def name(self) -> str:
        """First path segment, under which the outlet's articles live (``/veloce/rss.xml`` -> ``veloce``)."""
        return self.path.strip("/").split("/")[0]

    def article_path(self, entry: Entry) -> str:
        return f"/{self.name}/{entry.slug}.html"

    @property
    def updated(self) -> datetime:
        return self.entries[0].published


def published_at(days_ago: int, hour: int, now: datetime) -> datetime:
    """Publication time of an entry: today's UTC midnight - days_ago + hour, never after ``now``.

    An entry dated today at an hour that has not come yet moves back one day, so nothing is in the future.
    """
    today = datetime.combine(now.astimezone(timezone.utc).date(), time(0), tzinfo=timezone.utc)
    when = today - timedelta(days=days_ago) + timedelta(hours=hour)
    if when > now:
        when -= timedelta(days=1)
    return when


@dataclass(frozen=True)
class WatchedPage:
    """A competitor page that changes between revisions (the page-change watch of the demo)."""

    path: str
    title: str
    site: str
    language: str
    intro: str
    revisions: tuple[tuple[tuple[tuple[str, str, str], ...], tuple[str, ...]], ...]  # (rows, notes) per revision


def load_watched_pages(sector_file: Path | str = SECTOR_FILE) -> list[WatchedPage]:
    """The `pages` of sector.yaml; raise ValueError on a malformed entry."""
    path = Path(sector_file)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    pages = []
    for i, page in enumerate(data.get("pages") or []):
        try:
            revisions = tuple((tuple(tuple(str(cell) for cell in row) for row in revision["rows"]),
                               tuple(str(note) for note in revision.get("notes") or ()))
                              for revision in page["revisions"])
            if not revisions or any(len(row) != 3 for rows, _ in revisions for row in rows):
                raise ValueError(f"{path}: pages[{i}]: revisions of rows [model, description, price] expected")
            pages.append(WatchedPage(page["path"], page["title"], page["site"], page["language"],
                                     page.get("intro", ""), revisions))
        except KeyError as exc:
            raise ValueError(f"{path}: pages[{i}]: missing key {exc}") from None
    return pages


def load_sector(now: datetime, sector_file: Path | str = SECTOR_FILE) -> list[Outlet]:
    """Read sector.yaml into outlets with absolute publication dates; raise ValueError on a malformed file."""
    path = Path(sector_file)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("feeds"), list):
        raise ValueError(f"{path}: expected a mapping with a 'feeds' list")
    outlets: list[Outlet] = []
    seen_paths: set[str] = set()
    for i, feed in enumerate(data["feeds"]):
        where = f"{path}: feeds[{i}]"
        try:
            fmt = feed["format"]
            if fmt not in CONTENT_TYPES:
                raise ValueError(f"{where}: format must be rss or atom, not {fmt!r}")
            slugs: set[str] = set()
            entries = []
            for j, raw in enumerate(feed["entries"]):
                slug = raw["slug"]
                if slug in slugs:
                    raise ValueError(f"{where}.entries[{j}]: duplicate slug {slug!r}")
                slugs.add(slug)
                days_ago, hour = int(raw["days_ago"]), int(raw["hour"])
                if days_ago < 0 or not 0 <= hour <= 23:
                    raise ValueError(f"{where}.entries[{j}]: days_ago must be >= 0 and hour 0-23")
                entries.append(
                    Entry(
                        slug=slug,
                        title=str(raw["title"]),
                        summary=str(raw["summary"]),
                        published=published_at(days_ago, hour, now),
                        author=raw.get("author"),
                        categories=tuple(str(c) for c in raw.get("categories") or ()),
                    )
                )
            if not entries:
                raise ValueError(f"{where}: a feed needs at least one entry")
            entries.sort(key=lambda e: e.published, reverse=True)
            outlet = Outlet(
                path=feed["path"],
                format=fmt,
                title=feed["title"],
                description=feed.get("description") or feed["title"],
                site=feed["site"],
                language=feed["language"],
                entries=tuple(entries),
            )
        except KeyError as exc:
            raise ValueError(f"{where}: missing key {exc}") from None
        if outlet.path in seen_paths:
            raise ValueError(f"{where}: duplicate path {outlet.path!r}")
        seen_paths.add(outlet.path)
        outlets.append(outlet)
    return outlets


# --------------------------------------------------------------------------------------------------------------
# Building the site


@dataclass(frozen=True)
class Page:
    body: bytes
    content_type: str
    last_modified: datetime


def build_site(
    now: datetime | None = None,
    base_url: str = DEFAULT_BASE_URL,
    sector_file: Path | str = SECTOR_FILE,
) -> dict[str, tuple[bytes, str]]:
    """Every page of the demo site: path -> (body, content type). Links are absolute, under ``base_url``."""
    return {path: (page.body, page.content_type) for path, page in build_pages(now, base_url, sector_file).items()}


def build_pages(
    now: datetime | None = None,
    base_url: str = DEFAULT_BASE_URL,
    sector_file: Path | str = SECTOR_FILE,
    revision: int = 1,
) -> dict[str, Page]:
    """Like build_site, with each page's Last-Modified time (what the server needs).

    Watched pages are built at `revision` (1 = the first; past the last, the last).
    """
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    base = base_url.rstrip("/")
    outlets = load_sector(now, sector_file)
    pages: dict[str, Page] = {}
    for outlet in outlets:
        render = _rss if outlet.format == "rss" else _atom
        pages[outlet.path] = Page(render(outlet, base), CONTENT_TYPES[outlet.format], outlet.updated)
        pages[outlet.site] = Page(_outlet_page(outlet, base), HTML_TYPE, outlet.updated)
        for entry in outlet.entries:
            pages[outlet.article_path(entry)] = Page(_article_page(outlet, entry, base), HTML_TYPE, entry.published)
    # Sites without a feed, for the generic spider (imported here: sites.py builds on this module's names).
    from watch.demo.sites import site_pages

    pages.update(site_pages(now, base, sector_file))
    newest = max(outlet.updated for outlet in outlets)
    for watched in load_watched_pages(sector_file):
        pages[watched.path] = Page(_watched_page(watched, revision, base, now), HTML_TYPE, now)
    pages["/"] = Page(_index_page(outlets, base), HTML_TYPE, newest)
    pages["/robots.txt"] = Page(b"User-agent: *\nAllow: /\n", TEXT_TYPE, newest)
    return pages


def _rfc3339(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _rss(outlet: Outlet, base: str) -> bytes:
    # Namespace prefixes are written literally (no ET.register_namespace: that is process-wide state).
    rss = ET.Element("rss", {"version": "2.0", "xmlns:atom": ATOM_NS, "xmlns:dc": DC_NS})
    channel = _sub(rss, "channel")
    _sub(channel, "title", outlet.title)
    _sub(channel, "link", base + outlet.site)
    _sub(channel, "description", outlet.description)
    _sub(channel, "language", outlet.language)
    _sub(channel, "lastBuildDate", email.utils.format_datetime(outlet.updated))
    _sub(channel, "generator", "veille demo server")
    _sub(channel, "atom:link", href=base + outlet.path, rel="self", type="application/rss+xml")
    for entry in outlet.entries:
        url = base + outlet.article_path(entry)
        item = _sub(channel, "item")
        _sub(item, "title", entry.title)
        _sub(item, "link", url)
        _sub(item, "guid", url, isPermaLink="true")
        _sub(item, "pubDate", email.utils.format_datetime(entry.published))
        if entry.author:
            _sub(item, "dc:creator", entry.author)
        for category in entry.categories:
            _sub(item, "category", category)
        _sub(item, "description", entry.summary)  # HTML, entity-escaped by the serialiser as RSS expects
    return _xml(rss)


def _atom(outlet: Outlet, base: str) -> bytes:
    feed = ET.Element("feed", {"xmlns": ATOM_NS, "xml:lang": outlet.language})
    _sub(feed, "id", TAG_AUTHORITY + outlet.path)
    _sub(feed, "title", outlet.title)
    _sub(feed, "subtitle", outlet.description)
    _sub(feed, "updated", _rfc3339(outlet.updated))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=base + outlet.path)
    _sub(feed, "link", rel="alternate", type="text/html", href=base + outlet.site)
    _sub(_sub(feed, "author"), "name", outlet.title)  # Atom requires an author; entries may name their own
    _sub(feed, "generator", "veille demo server")
    for entry in outlet.entries:
        element = _sub(feed, "entry")
        _sub(element, "id", TAG_AUTHORITY + outlet.article_path(entry))
        _sub(element, "title", entry.title)
        _sub(element, "link", rel="alternate", type="text/html", href=base + outlet.article_path(entry))
        _sub(element, "published", _rfc3339(entry.published))
        _sub(element, "updated", _rfc3339(entry.published))
        if entry.author:
            _sub(_sub(element, "author"), "name", entry.author)
        for category in entry.categories:
            _sub(element, "category", term=category)
        _sub(element, "summary", entry.summary, type="html")
    return _xml(feed)


class _TextExtractor(HTMLParser):
    """Summary HTML -> paragraphs of plain text; script and style contents are dropped."""

    _BREAKS = {"p", "br", "div", "li"}
    _SKIPPED = {"script", "style"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._current: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in self._BREAKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BREAKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._current.append(data)

    def _flush(self) -> None:
        text = " ".join("".join(self._current).split())
        if text:
            self.paragraphs.append(text)
        self._current = []

    def close(self) -> None:
        super().close()
        self._flush()


def summary_text(summary: str) -> list[str]:
    """The paragraphs of an entry's summary as plain text (what an article page shows)."""
    extractor = _TextExtractor()
    extractor.feed(summary)
    extractor.close()
    return extractor.paragraphs


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _html_page(lang: str, title: str, head: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{_e(lang)}">\n<head>\n<meta charset="utf-8">\n<title>{_e(title)}</title>\n{head}</head>\n'
        f"<body>\n{body}</body>\n</html>\n"
    ).encode("utf-8")


def _autodiscovery(outlet: Outlet, base: str) -> str:
    kind = "application/rss+xml" if outlet.format == "rss" else "application/atom+xml"
    return f'<link rel="alternate" type="{kind}" title="{_e(outlet.title)}" href="{_e(base + outlet.path)}">\n'


def _date_label(when: datetime, lang: str) -> str:
    return when.strftime("%d/%m/%Y %H:%M UTC") if lang == "fr" else when.strftime("%Y-%m-%d %H:%M UTC")


def _outlet_page(outlet: Outlet, base: str) -> bytes:
    items = "".join(
        f'<li><a href="{_e(base + outlet.article_path(e))}">{_e(e.title)}</a> '
        f'<time datetime="{_rfc3339(e.published)}">{_date_label(e.published, outlet.language)}</time></li>\n'
        for e in outlet.entries
    )
    feed_label = "Flux" if outlet.language == "fr" else "Feed"
    body = (
        f"<header><h1>{_e(outlet.title)}</h1>\n<p>{_e(outlet.description)}</p>\n"
        f'<p><a href="{_e(base + outlet.path)}">{feed_label} {outlet.format.upper()}</a></p></header>\n'
        f"<main><ul>\n{items}</ul></main>\n"
    )
    return _html_page(outlet.language, outlet.title, _autodiscovery(outlet, base), body)


def _article_page(outlet: Outlet, entry: Entry, base: str) -> bytes:
    url = base + outlet.article_path(entry)
    paragraphs = summary_text(entry.summary)
    description = paragraphs[0] if paragraphs else entry.title
    head = (
        f'<link rel="canonical" href="{_e(url)}">\n'
        f'<meta name="description" content="{_e(description)}">\n'
        f'<meta property="og:title" content="{_e(entry.title)}">\n'
        f'<meta property="og:site_name" content="{_e(outlet.title)}">\n'
        f'<meta property="article:published_time" content="{_rfc3339(entry.published)}">\n'
        + (f'<meta name="author" content="{_e(entry.author)}">\n' if entry.author else "")
        + _autodiscovery(outlet, base)
    )
    byline = f" – {_e(entry.author)}" if entry.author else ""
    text = "".join(f"<p>{_e(p)}</p>\n" for p in paragraphs)
    body = (
        f'<p><a href="{_e(base + outlet.site)}">{_e(outlet.title)}</a></p>\n'
        f"<article>\n<h1>{_e(entry.title)}</h1>\n"
        f'<p class="meta"><time datetime="{_rfc3339(entry.published)}">'
        f"{_date_label(entry.published, outlet.language)}</time>{byline}</p>\n"
        f"{text}</article>\n"
    )
    return _html_page(outlet.language, f"{entry.title} – {outlet.title}", head, body)


def _watched_page(page: WatchedPage, revision: int, base: str, now: datetime) -> bytes:
    """A pricing page as a shop shows it, with what changes on every visit: the time it was generated, a
    visitor counter and a session token (noise that the page watch is configured to ignore)."""
    rows, notes = page.revisions[min(max(revision, 1), len(page.revisions)) - 1]
    token = hashlib.sha256(now.isoformat().encode()).hexdigest()[:24]
    visitors = f"{800 + int(now.timestamp()) % 1200:,}".replace(",", "\u202f")
    table = "".join(f"<tr><td>{_e(model)}</td><td>{_e(detail)}</td><td>{_e(price)}</td></tr>\n"
                    for model, detail, price in rows)
    body = (
        f'<header><p><a href="{_e(base + page.site)}">Veloce</a> · <a href="{_e(base + page.site)}">Actualités</a>'
        f" · Soldes : jusqu'à −{10 + int(now.timestamp()) % 3 * 5} % sur les accessoires</p></header>\n"
        f'<main>\n<h1>{_e(page.title)}</h1>\n<section class="tarifs">\n'
        f'<p class="maj">Tarifs mis à jour le {now:%d/%m/%Y} à {now:%H:%M}</p>\n<p>{_e(page.intro)}</p>\n'
        "<table>\n<tr><th>Modèle</th><th>Caractéristiques</th><th>Prix</th></tr>\n"
        f"{table}</table>\n" + "".join(f"<p>{_e(note)}</p>\n" for note in notes)
        + f'<p class="audience">{visitors} personnes consultent cette page</p>\n'
        f'<p class="session">Référence de session : {token}</p>\n</section>\n</main>\n'
        f"<footer><p>© Veloce SAS · Lyon</p></footer>\n"
    )
    return _html_page(page.language, page.title, f'<meta name="csrf-token" content="{token}">\n', body)


def _index_page(outlets: list[Outlet], base: str) -> bytes:
    rows = "".join(
        f'<li><a href="{_e(base + o.site)}">{_e(o.title)}</a> ({o.language}, {len(o.entries)} articles) – '
        f'<a href="{_e(base + o.path)}">{o.format.upper()}</a></li>\n'
        for o in outlets
    )
    head = "".join(_autodiscovery(o, base) for o in outlets)
    body = (
        "<h1>Secteur de démonstration veille : Cyclonova</h1>\n"
        "<p>Sources fictives servies en local (demo sector, fictional outlets served locally).</p>\n"
        f"<ul>\n{rows}</ul>\n"
    )
    return _html_page("fr", "veille – secteur de démonstration", head, body)


# --------------------------------------------------------------------------------------------------------------
# Serving it


@dataclass(frozen=True)
class _Resource:
    body: bytes
    gzipped: bytes
    content_type: str
    etag: str  # the quoted strong validator of the identity body; the gzip variant adds "-gz"
    last_modified: datetime

    @classmethod
    def of(cls, page: Page) -> _Resource:
        digest = hashlib.sha256(page.body).hexdigest()[:32]
        return cls(
            body=page.body,
            gzipped=gzip.compress(page.body, mtime=0),
            content_type=page.content_type,
            etag=f'"{digest}"',
            last_modified=page.last_modified.replace(microsecond=0),
        )


def _accepts_gzip(header: str | None) -> bool:
    """Whether an Accept-Encoding header allows gzip (an explicit ``gzip;q=0`` refuses it)."""
    weights: dict[str, float] = {}
    for part in (header or "").split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding:
            weights[coding.lower()] = q
    for coding in ("gzip", "x-gzip", "*"):
        if coding in weights:
            return weights[coding] > 0
    return False


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2), the gzip variant's tag counting as the same resource."""
    wanted = etag.strip('"')
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*":
            return True
        candidate = candidate.removeprefix("W/").strip('"').removesuffix("-gz")
        if candidate == wanted:
            return True
    return False


def _not_modified_since(header: str, last_modified: datetime) -> bool:
    try:
        since = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since is None:
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    return last_modified <= since


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "VeilleDemo/1.0"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, send_body: bool) -> None:
        path = unquote(urlsplit(self.path).path) or "/"
        resource = self.server.resources.get(path)
        if resource is None:
            if path + "/" in self.server.resources:
                self._send_empty(HTTPStatus.MOVED_PERMANENTLY, Location=path + "/")
            else:
                self._send_simple(HTTPStatus.NOT_FOUND, b"Not found\n", send_body)
            return

        use_gzip = _accepts_gzip(self.headers.get("Accept-Encoding"))
        etag = resource.etag[:-1] + '-gz"' if use_gzip else resource.etag
        validators = {
            "ETag": etag,
            "Last-Modified": email.utils.format_datetime(resource.last_modified, usegmt=True),
            "Cache-Control": "no-cache",
            "Vary": "Accept-Encoding",
        }
        if_none_match = self.headers.get("If-None-Match")
        if_modified_since = self.headers.get("If-Modified-Since")
        # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110 §13.2.2).
        if (if_none_match is not None and _etag_matches(if_none_match, resource.etag)) or (
            if_none_match is None
            and if_modified_since is not None
            and _not_modified_since(if_modified_since, resource.last_modified)
        ):
            self.send_response(HTTPStatus.NOT_MODIFIED)
            for name, value in validators.items():
                self.send_header(name, value)
            self.end_headers()
            return

        body = resource.gzipped if use_gzip else resource.body
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", resource.content_type)
        self.send_header("Content-Length", str(len(body)))
        if use_gzip:
            self.send_header("Content-Encoding", "gzip")
        for name, value in validators.items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _send_simple(self, status: HTTPStatus, body: bytes, send_body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", TEXT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _send_empty(self, status: HTTPStatus, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (name fixed by the base class)
        log.debug("%s - " + format, self.address_string(), *args)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_port = False  # never share a port with another process: a taken port must fail to bind
    resources: dict[str, _Resource]

    def __init__(self, address: tuple[str, int]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.resources = {}
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can hang offline.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class DemoServer:
    """The demo site on a local port, served from a daemon thread.

    ``DemoServer(port=0)`` takes any free port; ``base_url`` is known once started. Use it as a context manager,
    or call ``start()`` and ``stop()``. ``now`` fixes the clock the entry dates are computed from (tests).
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        sector_file: Path | str = SECTOR_FILE,
        now: datetime | None = None,
        revision: int = 1,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.sector_file = Path(sector_file)
        self.now = now
        self.revision = revision
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def find(
        cls,
        host: str = DEFAULT_HOST,
        preferred: int = DEFAULT_PORT,
        *,
        sector_file: Path | str = SECTOR_FILE,
        now: datetime | None = None,
        revision: int = 1,
    ) -> DemoServer:
        """A started server on ``preferred`` port, or on any free port if that one is taken."""
        try:
            return cls(host, preferred, sector_file=sector_file, now=now, revision=revision).start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            log.info("port %s is taken on %s; using a free port instead", preferred, host)
            return cls(host, 0, sector_file=sector_file, now=now, revision=revision).start()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the demo server is not started")
        return self._httpd.server_port

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> DemoServer:
        """Bind, build the site for the bound address, serve in the background. Does nothing if running."""
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self.host, self.requested_port))
        try:
            host = f"[{self.host}]" if ":" in self.host else self.host
            pages = build_pages(self.now, f"http://{host}:{httpd.server_port}", self.sector_file, self.revision)
            httpd.resources = {path: _Resource.of(page) for path, page in pages.items()}
        except BaseException:
            httpd.server_close()
            raise
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="veille-demo-server", daemon=True
        )
        self._thread.start()
        log.info("demo server listening on %s (%d pages)", self.base_url, len(httpd.resources))
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._httpd is not None else f"{self.host}:{self.requested_port} (stopped)"
        return f"<DemoServer {where}>"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m watch.demo.server",
        description="Serve the demo sector's feeds and pages on a local port until Ctrl-C.",
        epilog="Example: python -m watch.demo.server --port 0",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port; 0 = any free port (default %(default)s)")
    parser.add_argument("--revision", type=int, default=1, help="version of the watched pages (default %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    server = (DemoServer.find(args.host, args.port, revision=args.revision) if args.port
              else DemoServer(args.host, 0, revision=args.revision).start())
    print(f"Demo sector served at {server.base_url}/")
    print(f"  export VEILLE_DEMO_URL={server.base_url}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
