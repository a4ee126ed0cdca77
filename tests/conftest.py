"""Shared fixtures: a real HTTP server on 127.0.0.1 serving fixtures, a fresh database, a configuration file."""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from watch.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "feeds"


@dataclass
class Route:
    """What the fixture server answers on one path."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0          # seconds before answering
    hang: bool = False          # never answer (until the server stops)
    redirect: str | None = None  # Location of a 302
    validators: bool = True     # send ETag / Last-Modified and honour conditional GET
    gzip: bool = True           # compress when the client accepts it (False: the body as it is, Content-Length its size)
    hits: int = 0


class FixtureServer:
    """A threaded HTTP server on 127.0.0.1 (or another loopback address) with a route table tests fill in; it
    counts hits per path."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.split("?")[0]
                server.requests.append((self.path, dict(self.headers)))
                route = server.routes.get(path)
                if route is None:
                    return self._send(404, b"not found", "text/plain")
                route.hits += 1
                if route.hang:
                    server._stop.wait(60)
                    return
                if route.delay:
                    time.sleep(route.delay)
                if route.redirect:
                    self.send_response(302)
                    self.send_header("Location", route.redirect)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = dict(route.headers)
                if route.validators and route.status == 200:
                    etag = '"' + hashlib.sha1(route.body).hexdigest()[:16] + '"'
                    headers.setdefault("ETag", etag)
                    headers.setdefault("Last-Modified", "Mon, 23 Nov 2026 08:00:00 GMT")
                    if self.headers.get("If-None-Match") == etag:
                        return self._send(304, b"", None, headers)
                body = route.body
                if route.gzip and "gzip" in (self.headers.get("Accept-Encoding") or "") and len(body) > 200:
                    body = gzip.compress(body)
                    headers["Content-Encoding"] = "gzip"
                self._send(route.status, body, route.content_type, headers)

            def _send(self, status: int, body: bytes, ctype: str | None, headers: dict | None = None) -> None:
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body and status != 304:
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://{host}:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def add(self, path: str, body: bytes | str = b"", **options: object) -> str:
        """Serve `body` at `path`; return its full URL."""
        self.routes[path] = Route(body=body.encode() if isinstance(body, str) else body, **options)
        return self.base + path

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> FixtureServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with FixtureServer() as running:
        yield running


@pytest.fixture
def store(tmp_path):
    with Store.open(tmp_path / "veille.db") as opened:
        yield opened


def rss(*items: str, title: str = "Fixture feed", language: str = "fr") -> str:
    """An RSS 2.0 document around item XML strings."""
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>{title}</title><link>http://example.org/</link><language>{language}</language>"
            + "".join(items) + "</channel></rss>")


def rss_item(n: int | str, title: str | None = None, link: str | None = None, date: str | None = "Mon, 23 Nov 2026 10:00:00 GMT",
             description: str = "Résumé de l'article.", guid: str | None = None) -> str:
    parts = [f"<title>{title or f'Article {n}'}</title>",
             f"<link>{link or f'http://example.org/articles/{n}'}</link>",
             f"<description>{description}</description>"]
    if date:
        parts.append(f"<pubDate>{date}</pubDate>")
    if guid is not False:
        parts.append(f"<guid>{guid or f'urn:fixture:{n}'}</guid>")
    return "<item>" + "".join(parts) + "</item>"


def write_config(directory: Path, sources: list[dict], extra: str = "") -> Path:
    """A minimal valid sources.yaml with the given feed sources; returns its path."""
    import json

    lines = ["company: {name: Testco, sector: tests}", "database: veille.db",
             "collect: {timeout: 2, connect_timeout: 2, concurrency: 8, per_host: 4, max_bytes: 200000}",
             "themes:", "  - {id: t1, label: Thème 1, priority: 1}", "sources:"]
    for source in sources:
        entry = {"name": source.get("id"), "kind": "feed", "language": "fr", "type": "press", "reliability": "B", **source}
        lines.append("  - " + json.dumps(entry, ensure_ascii=False))
    path = directory / "sources.yaml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, read from /proc (Linux)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents.setdefault(int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]), []).append(
                    int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """The process runs (a zombie has ended: it only waits for its parent, or init, to read its exit status)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """Tests never read the developer's configuration or database, never write into the repo's archive, never
    reach a real mail server, and speak French unless they say otherwise."""
    for name in ("VEILLE_CONFIG", "VEILLE_DB", "VEILLE_DEMO_URL", "VEILLE_SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VEILLE_ARCHIVE", str(tmp_path / "archive"))
    monkeypatch.setenv("VEILLE_LANG", "fr")
    os.environ.setdefault("NO_COLOR", "1")
