"""The feed reader: RSS, Atom and JSON Feed sources fetched concurrently and ingested into the store.

feedparser has no timeout of its own, so bodies are fetched with httpx (timeouts, size cap, redirects, gzip,
conditional GET) and only then handed to `feedparser.parse(bytes)` in a worker thread, off the event loop. Which
addresses a fetch may reach and how far a body may inflate is `watch.netguard`'s rule, on every HTTP path.
Problems in the data are recorded on the source, never raised: one bad source never stops the others.
"""

from __future__ import annotations

import asyncio
import calendar
import email.utils
import json
import logging
import os
import re
import ssl
import time
from collections.abc import Callable
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import certifi
import feedparser
import httpx

from watch.config import CollectSettings
from watch.errors import SourceError
from watch.i18n import tx
from watch.lifeline import end_with
from watch.models import BACKOFF_CAP_S, Entry, FetchOutcome, backoff_seconds, clean_entry, utcnow  # noqa: F401 (re-exported)
from watch.netguard import (ACCEPT_ENCODING, AddressPolicy, AddressRefused, BodyRefused, client_options, drain, open_stream,
                            read_body)
from watch.store import Store

log = logging.getLogger(__name__)
ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
          "application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5")
DEMO_URL = "http://127.0.0.1:8765"  # where the demo sector's URLs point unless VEILLE_DEMO_URL says otherwise


@dataclass(frozen=True)
class FeedTarget:
    """One feed to read: a configured source, or an ad-hoc URL given on the command line."""

    source_id: str
    url: str
    origin: str = "feed"
    language: str | None = None


@dataclass
class ParsedFeed:
    entries: list[Entry] = field(default_factory=list)
    title: str = ""
    language: str | None = None
    warning: str = ""
    error: str = ""


PROCESS_POOL_FROM = 24  # feeds in one run from which parsing moves to worker processes


def _parser_pool(feeds: int, workers: int = 0) -> Executor:
    cores = min(os.cpu_count() or 1, 4)
    if feeds < PROCESS_POOL_FROM or cores < 2:
        return ThreadPoolExecutor(1, thread_name_prefix="veille-parse")
    # forkserver (or spawn), never fork: forking a process that runs an event loop and threads is unsafe.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(["watch.feeds"])
    # Each worker ends with this process, even one killed with SIGKILL (watch.lifeline).
    return ProcessPoolExecutor(workers or cores, mp_context=context, initializer=end_with, initargs=(os.getpid(),))


class _Parsers:
    """The parser pool, replaced when one of its processes dies (killed, out of memory): the run goes on.

    A dying process breaks every feed the pool held, not only the one it was reading: each of those is parsed again
    alone, in a process of its own, so that only a body that kills the parser by itself is an error on its source.
    """

    def __init__(self, feeds: int) -> None:
        self.feeds = feeds
        self.pool = _parser_pool(feeds)
        self.alone = asyncio.Semaphore(1)

    async def parse(self, loop: asyncio.AbstractEventLoop, body: bytes, content_type: str, url: str) -> ParsedFeed:
        pool = self.pool
        try:
            return await loop.run_in_executor(pool, parse_and_clean, body, content_type, url)
        except BrokenProcessPool:  # (a RuntimeError too: caught first)
            if pool is self.pool:  # the first task to see the breakage replaces the pool for every other one
                log.warning("a feed parser process stopped abruptly; starting a new one")
                pool.shutdown(wait=False, cancel_futures=True)
                self.pool = _parser_pool(self.feeds)
        except RuntimeError:
            # "cannot schedule new futures after shutdown": another task has just replaced the broken pool this
            # one was handed; the feed goes to the new pool.
            if pool is self.pool:
                raise
            return await self.parse(loop, body, content_type, url)
        async with self.alone:
            solo = _parser_pool(self.feeds, workers=1)
            try:
                return await loop.run_in_executor(solo, parse_and_clean, body, content_type, url)
            except BrokenProcessPool:
                return ParsedFeed(error=tx("the feed parser process stops abruptly on this feed (out of memory?)"))
            finally:
                solo.shutdown(wait=False)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def parse_and_clean(body: bytes, content_type: str = "", url: str = "") -> ParsedFeed:
    """parse_feed, then each entry sanitised (in the worker, so that this work is spread over the cores too)."""
    parsed = parse_feed(body, content_type, url)
    parsed.entries = [clean_entry(entry) for entry in parsed.entries]
    return parsed


def read_feeds(targets: list[FeedTarget], store: Store, settings: CollectSettings, *, force: bool = False,
               progress: Callable[[FetchOutcome], None] | None = None) -> list[FetchOutcome]:
    """Fetch, parse and ingest every target; return one outcome per target, in the targets' order.

    Sources marked gone (HTTP 410) are skipped; sources in backoff are skipped unless `force`.
    """
    return asyncio.run(_read_all(targets, store, settings, force, progress))


async def _read_all(targets: list[FeedTarget], store: Store, settings: CollectSettings, force: bool,
                    progress: Callable[[FetchOutcome], None] | None) -> list[FetchOutcome]:
    loop = asyncio.get_running_loop()
    overall = asyncio.Semaphore(settings.concurrency)
    states = store.source_states()
    hosts: dict[str, tuple[httpx.AsyncClient, asyncio.Semaphore]] = {}
    tls = ssl.create_default_context(cafile=certifi.where())  # built once: about 50 ms each (CA bundle)

    def host_of(url: str) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        # One small connection pool per host: httpcore scans every connection of a pool for each request,
        # which made one shared pool of 64 connections the main cost of a 500-feed run (profiled).
        key = urlsplit(url).netloc.lower()
        if key not in hosts:  # the first URL of a host is a configured one (or given on the command line)
            hosts[key] = (http_client(settings, tls, home=url), asyncio.Semaphore(settings.per_host))
        return hosts[key]

    # The store's connection is used from one thread only. Parsing is pure Python (feedparser): threads would
    # share one core, so a large run parses in worker processes; a small one is not worth their start-up.
    parser = _Parsers(len(targets))
    with ThreadPoolExecutor(1, thread_name_prefix="veille-store") as writer:

        async def one(target: FeedTarget) -> FetchOutcome:
            client, host_limit = host_of(target.url)
            outcome = await _read_one(client, target, store, settings, force, loop, writer, parser,
                                      (host_limit, overall), states)
            if progress:
                progress(outcome)
            return outcome

        try:
            return list(await asyncio.gather(*(one(t) for t in targets)))
        finally:
            await asyncio.gather(*(client.aclose() for client, _ in hosts.values()))
            parser.shutdown()


def http_client(settings: CollectSettings, tls: ssl.SSLContext | None = None, accept: str = ACCEPT,
                home: str | list[str] = ()) -> httpx.AsyncClient:
    """A client with the collection's timeouts, User-Agent and per-host connection limit, reaching only the
    addresses the policy allows for sources at `home` (redirects are followed by `download`, within the limit)."""
    limits = httpx.Limits(max_connections=settings.per_host, max_keepalive_connections=settings.per_host)
    policy = AddressPolicy(home, settings.allow_private)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout), limits=limits,
        **client_options(policy, limits, tls or ssl.create_default_context(cafile=certifi.where())),
        headers={"User-Agent": settings.user_agent, "Accept": accept, "Accept-Encoding": ACCEPT_ENCODING})


def skip_reason(source_id: str, state: dict, now: datetime, force: bool) -> str:
    """Why a source is not fetched now ('' when it is): gone (HTTP 410), or backing off unless `force`."""
    if state.get("status") == "gone":
        return tx("source gone (HTTP 410); `veille sources reset {source_id}` to collect it again", source_id=source_id)
    if not force and state.get("next_attempt_at") and state["next_attempt_at"] > now.isoformat():
        return tx("backing off after {failures} failure(s), until {next_attempt_at}", failures=state['failures'], next_attempt_at=state['next_attempt_at'])
    return ""


async def _read_one(client: httpx.AsyncClient, target: FeedTarget, store: Store, settings: CollectSettings,
                    force: bool, loop: asyncio.AbstractEventLoop, writer: ThreadPoolExecutor,
                    parser: _Parsers, slots: tuple[asyncio.Semaphore, asyncio.Semaphore],
                    states: dict[str, dict]) -> FetchOutcome:
    """Fetch one feed while holding its host's slot and a global one (host first, so that tasks queued on a
    busy host do not hold global slots); parse and store after releasing them."""
    state = states.get(target.source_id) or {"status": "active", "failures": 0}
    outcome = FetchOutcome(target.source_id, target.url, utcnow())
    reason = skip_reason(target.source_id, state, outcome.started_at, force)
    if reason:
        outcome.outcome, outcome.error = "skipped", reason
        return outcome

    host_slot, global_slot = slots
    async with host_slot, global_slot:
        started = time.perf_counter()
        body = await download(client, target, state, settings, outcome)
    if body is not None:
        parsed = await parser.parse(loop, body, outcome.content_type, outcome.final_url or target.url)
        outcome.entries = len(parsed.entries)
        outcome.warning = parsed.warning
        if parsed.error:
            outcome.outcome, outcome.error = "error", parsed.error
        else:
            counts = await loop.run_in_executor(writer, lambda: store.ingest(
                target.source_id, parsed.entries, target.origin, outcome.started_at, target.language))
            outcome.new, outcome.updated = counts.new, counts.updated
            if counts.warnings:
                outcome.warning = "; ".join(filter(None, [outcome.warning, *_summarise(counts.warnings)]))
    outcome.duration_ms = int((time.perf_counter() - started) * 1000)
    await loop.run_in_executor(writer, store.record_fetch, outcome, backoff_seconds)
    log.info("source=%s outcome=%s status=%s new=%d updated=%d ms=%d %s", outcome.source_id, outcome.outcome,
             outcome.http_status, outcome.new, outcome.updated, outcome.duration_ms, outcome.error or outcome.warning)
    return outcome


async def download(client: httpx.AsyncClient, target: FeedTarget, state: dict, settings: CollectSettings,
                   outcome: FetchOutcome) -> bytes | None:
    """The response body, or None with the outcome set (not modified, gone, error).

    Conditional GET with the source's stored validators, size cap, overall deadline; any collector that fetches
    one URL per source (feeds, watched pages) goes through here.
    """
    headers = {}
    if state.get("etag"):
        headers["If-None-Match"] = state["etag"]
    if state.get("last_modified"):
        headers["If-Modified-Since"] = state["last_modified"]
    try:
        # httpx's read timeout is per read: a server that trickles bytes is cut by this overall deadline.
        return await asyncio.wait_for(_stream(client, target.url, headers, settings, outcome),
                                      timeout=settings.timeout * 3)
    except asyncio.TimeoutError:
        message = tx("no complete answer within {timeout:.0f} s", timeout=settings.timeout * 3)
    except (AddressRefused, BodyRefused) as exc:
        message = str(exc)
    except httpx.TooManyRedirects:
        message = tx("too many redirects (over {max_redirects}, a loop?)", max_redirects=settings.max_redirects)
    except httpx.TimeoutException:
        message = tx("timed out ({timeout:.0f} s): the server does not answer", timeout=settings.timeout)
    except httpx.ConnectError as exc:
        message = tx("cannot connect: {exc}", exc=exc)
        if target.url.startswith(os.environ.get("VEILLE_DEMO_URL") or DEMO_URL):
            message += tx(" (demo sector: start it with `veille demo --serve`)")
    except httpx.HTTPError as exc:
        message = tx("HTTP error: {name}: {exc}", name=exc.__class__.__name__, exc=exc)
    outcome.outcome, outcome.error = "error", message
    return None


async def _stream(client: httpx.AsyncClient, url: str, headers: dict, settings: CollectSettings,
                  outcome: FetchOutcome) -> bytes | None:
    async with open_stream(client, url, headers, settings.max_redirects) as response:
        outcome.http_status = response.status_code
        outcome.content_type = response.headers.get("content-type", "")
        outcome.final_url = str(response.url)
        if response.status_code >= 300:
            await drain(response)
        if response.status_code == 304:
            outcome.outcome = "not_modified"
            return None
        if response.status_code == 410:
            outcome.outcome = "gone"
            outcome.error = tx("HTTP 410: the source no longer exists; it will not be collected again")
            return None
        if response.status_code >= 400:
            outcome.outcome = "error"
            outcome.error = f"HTTP {response.status_code} {response.reason_phrase}".strip()
            if response.status_code in (429, 503):
                outcome.retry_after = _retry_after(response.headers.get("retry-after"))
                if outcome.retry_after:
                    outcome.error += tx(" (retry after {retry_after:.0f} s)", retry_after=outcome.retry_after)
            return None
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_bytes:
            return _too_big(outcome, settings)
        body = await read_body(response, settings.max_bytes)
        outcome.bytes = len(body)
        outcome.etag = response.headers.get("etag")
        outcome.last_modified = response.headers.get("last-modified")
        return body


def _too_big(outcome: FetchOutcome, settings: CollectSettings) -> None:
    outcome.outcome = "error"
    outcome.error = tx("response too large (over {max_bytes} bytes): dropped; raise collect.max_bytes if the "
                      "source is trusted", max_bytes=settings.max_bytes)
    return None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - datetime.now(timezone.utc)).total_seconds(), 0.0)


def _summarise(warnings: list[str], keep: int = 3) -> list[str]:
    more = len(warnings) - keep
    return warnings[:keep] + ([tx("… and {more} more", more=more)] if more > 0 else [])


def parse_feed(body: bytes, content_type: str = "", url: str = "") -> ParsedFeed:
    """Entries of an RSS, Atom, RDF or JSON Feed body; never raises, says why a body is not a feed."""
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        return ParsedFeed(error=tx("empty body"))
    if stripped[:1] in (b"{", b"["):
        return _parse_json_feed(stripped)
    content_type, charset_note = _trust_utf8(body, content_type)
    try:
        # Sanitising is left to the store (nh3), once, for every collector. The base URL is given only to a feed
        # that has xml:base attributes (they may be relative, and nest): feedparser joins it to the base of every
        # element it opens, which was a third of its time (profiled); _entry resolves the links of the others.
        headers = {"content-type": content_type, **({"content-location": url} if url and b"xml:base" in body else {})}
        parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # feedparser is meant never to raise; a broken body must not stop the run.
        return ParsedFeed(error=tx("unreadable feed: {exc}", exc=exc))
    language = _language(parsed.feed.get("language"))
    # RFC 4287 4.2.1: an Atom feed's author is the author of entries that name none.
    feed_author = parsed.feed.get("author", "") if parsed.get("version", "").startswith("atom") else ""
    raw_entries = parsed.entries
    problem = _bozo_reason(parsed) if parsed.get("bozo") else ""
    if problem and not charset_note and "XML" in problem:
        # In a cut or ill-formed document the last entry may be half read: without link or id it cannot be
        # matched again when the feed comes back whole, and would become a phantom duplicate.
        raw_entries = [e for e in raw_entries if e.get("link") or e.get("id")]
    entries = [_entry(e, language, feed_author, url) for e in raw_entries]
    title = parsed.feed.get("title", "")
    if charset_note:
        problem = "; ".join(filter(None, [charset_note, problem if "CharacterEncoding" not in problem else ""]))
    if not entries and not parsed.get("version"):
        head = stripped[:512].lower()
        if b"<html" in head or b"<!doctype html" in head:
            return ParsedFeed(title=title, error=tx("HTML page served instead of a feed; `veille sources add URL` "
                                                   "finds a page's feed"))
        return ParsedFeed(title=title, error=tx("not an RSS/Atom feed: {problem}",
                                                   problem=problem or tx("unknown format")))
    if problem and not entries:
        return ParsedFeed(title=title, error=tx("invalid feed with no entry: {problem}", problem=problem))
    warning = tx("imperfect feed, read anyway: {problem}", problem=problem) if problem else ""
    return ParsedFeed(entries=entries, title=title, language=language, warning=warning)


_LATIN = {"iso-8859-1", "latin-1", "latin1", "iso8859-1", "windows-1252", "cp1252", "us-ascii", "ascii"}


def _trust_utf8(body: bytes, content_type: str) -> tuple[str, str]:
    """A body that is valid UTF-8 with non-ASCII bytes but declared Latin-1 is UTF-8 (a common server mistake).

    feedparser would decode it as Latin-1 and repair fields one by one, which fails on some words ("déjà là").
    """
    declared = ""
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type, re.IGNORECASE)
    if match:
        declared = match.group(1).lower()
    else:
        xml = re.match(rb"\s*<\?xml[^>]*encoding=[\"']([\w.:-]+)", body[:200])
        declared = xml.group(1).decode("ascii").lower() if xml else ""
    if declared not in _LATIN or body.isascii():
        return content_type, ""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return content_type, ""
    mime = (content_type.split(";")[0].strip() or "application/xml")
    return f"{mime}; charset=utf-8", tx("charset declared {declared} but content is UTF-8: read as UTF-8", declared=declared)


def _bozo_reason(parsed: feedparser.FeedParserDict) -> str:
    exc = parsed.get("bozo_exception")
    name = exc.__class__.__name__ if exc else "?"
    if name == "CharacterEncodingOverride":
        return tx("declared charset is wrong, read as {parsed}", parsed=parsed.get('encoding'))
    if name in ("SAXParseException", "SAXException") or "not well-formed" in str(exc):
        return tx("ill-formed XML ({exc})", exc=exc)
    return f"{name}: {exc}"


def _language(code: str | None) -> str | None:
    if not code:
        return None
    code = code.strip().lower().replace("_", "-").split("-")[0]
    return code if len(code) == 2 and code.isalpha() else None


def _published(struct: time.struct_time | None) -> datetime | None:
    if not struct:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        return None


def _entry(raw: feedparser.FeedParserDict, feed_language: str | None, feed_author: str = "", base: str = "") -> Entry:
    contents = raw.get("content") or []
    body = max((c.get("value", "") for c in contents), key=len, default="")
    summary = raw.get("summary", "")
    if summary == body:
        body = ""
    # dict.get: FeedParserDict maps a missing published_parsed to updated_parsed with a DeprecationWarning.
    when = _published(dict.get(raw, "published_parsed")) or _published(dict.get(raw, "updated_parsed"))
    tags = tuple(t.get("term") or t.get("label") or "" for t in raw.get("tags") or [])
    language = _language(raw.get("language")) or _language((contents[0].get("language") if contents else None)) or feed_language
    link = raw.get("link")
    if link and base and not link.startswith(("http://", "https://")):
        link = urljoin(base, link)  # relative to the feed's xml:base if it had one, then to the feed's URL
    return Entry(url=link, title=raw.get("title", ""), summary=summary, text=body, guid=raw.get("id") or None,
                 author=raw.get("author") or feed_author, lang=language, published=when, categories=tuple(t for t in tags if t))


def _parse_json_feed(body: bytes) -> ParsedFeed:
    """JSON Feed 1.0/1.1 (jsonfeed.org), which feedparser does not read."""
    try:
        data = json.loads(body.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        return ParsedFeed(error=tx("invalid JSON: {exc}", exc=exc))
    if not isinstance(data, dict) or "jsonfeed.org" not in str(data.get("version", "")):
        return ParsedFeed(error=tx("JSON that is not a JSON Feed (no jsonfeed.org version)"))
    language = _language(data.get("language"))
    entries = []
    for item in data.get("items") or []:
        if not isinstance(item, dict):
            continue
        authors = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
        html_body = item.get("content_html") or item.get("content_text") or ""
        entries.append(Entry(
            url=item.get("url") or item.get("external_url"), title=str(item.get("title") or ""),
            summary=str(item.get("summary") or ""), text=str(html_body), guid=str(item["id"]) if item.get("id") else None,
            author=", ".join(str(a.get("name", "")) for a in authors if isinstance(a, dict)),
            lang=_language(item.get("language")) or language,
            published=_iso_date(item.get("date_published")) or _iso_date(item.get("date_modified")),
            categories=tuple(str(t) for t in item.get("tags") or [])))
    return ParsedFeed(entries=entries, title=str(data.get("title") or ""), language=language)


def _iso_date(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(timezone.utc) if when.tzinfo else when.replace(tzinfo=timezone.utc)


FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json",
              "application/json", "text/xml", "application/xml"}
COMMON_FEED_PATHS = ("feed", "rss", "rss.xml", "atom.xml", "feed.xml", "index.xml", "feed.json", "/feed", "/rss.xml")


class _FeedLinks(HTMLParser):
    """`<link rel="alternate" type="application/rss+xml" href=...>` of a web page (feed autodiscovery)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("link", "a"):
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        rel = values.get("rel", "").lower().split()
        if "alternate" in rel and values.get("type", "").lower().split(";")[0].strip() in FEED_TYPES and values.get("href"):
            self.links.append(values["href"])


def discover_feed(url: str, settings: CollectSettings) -> tuple[str, ParsedFeed]:
    """The feed behind `url`: the URL itself if it is a feed, else the page's advertised feed, else a usual path."""
    return asyncio.run(_discover(url, settings))


async def _discover(url: str, settings: CollectSettings) -> tuple[str, ParsedFeed]:
    tried: list[str] = []
    async with http_client(settings, home=url) as client:
        body, content_type, final = await _get(client, url, settings)
        parsed = parse_feed(body, content_type, final)
        if not parsed.error:
            return final, parsed
        finder = _FeedLinks()
        try:
            finder.feed(body.decode("utf-8", errors="replace"))
        except Exception:  # a broken page still lets us try the usual paths
            pass
        candidates = [urljoin(final, link) for link in finder.links]
        candidates += [urljoin(final if final.endswith("/") else final + "/", path) for path in COMMON_FEED_PATHS]
        for candidate in dict.fromkeys(candidates):
            tried.append(candidate)
            try:
                body, content_type, found = await _get(client, candidate, settings)
            except SourceError:
                continue
            parsed = parse_feed(body, content_type, found)
            if not parsed.error:
                return found, parsed
    raise SourceError(tx("no feed found for {url} (tried: {tried}…)", url=url, tried=', '.join(tried[:6])))


async def _get(client: httpx.AsyncClient, url: str, settings: CollectSettings) -> tuple[bytes, str, str]:
    try:
        async with open_stream(client, url, {}, settings.max_redirects) as response:
            if response.status_code >= 400:
                raise SourceError(f"{url}: HTTP {response.status_code}")
            body = await read_body(response, settings.max_bytes)
            return body, response.headers.get("content-type", ""), str(response.url)
    except (AddressRefused, BodyRefused) as exc:
        raise SourceError(f"{url}: {exc}") from None
    except httpx.HTTPError as exc:
        raise SourceError(f"{url}: {exc.__class__.__name__}: {exc}") from None
