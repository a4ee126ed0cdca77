"""What moves between the stages: entries found by a collector, fetch outcomes, and the rules every item obeys.

Collectors (feed reader, spiders, offline import) produce `Entry` objects; `watch.store.Store.ingest` is the one
path by which they become items. Canonical URLs, sanitising and content hashes are defined here, once, so that every
collector follows the same dedup and provenance rules.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import nh3

ORIGINS = ("feed", "spider", "page_change", "offline", "adhoc")
BACKOFF_BASE_S = 300
BACKOFF_CAP_S = 24 * 3600

# Query parameters that only track a click; two URLs that differ by them are the same article.
TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|igshid|yclid|_hsenc|_hsmi|"
    r"mkt_tok|oly_anon_id|oly_enc_id|vero_id|wt_mc|xtor|at_medium|at_campaign|ncid|cmpid|ito|sr_share|ref_src)$",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")
# Tags kept in stored HTML; everything else (script, style, iframe, event handlers) is removed by nh3.
SAFE_TAGS = {"a", "p", "br", "strong", "b", "em", "i", "u", "ul", "ol", "li", "blockquote", "q", "code", "pre",
             "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "figure", "figcaption",
             "sub", "sup", "abbr", "cite", "time", "span", "div", "hr"}


# The category of a page_change item whose prices moved (watch/pages.py writes it): the NLP stage labels such an item
# pricing by construction, from what the watch observed on the competitor's page rather than from its words.
PRICE_CHANGE = "price_change"

@dataclass(frozen=True)
class Entry:
    """One article as a collector found it, before it is stored. Text fields may still hold untrusted HTML."""

    url: str | None
    title: str = ""
    summary: str = ""
    text: str = ""
    guid: str | None = None
    author: str = ""
    lang: str | None = None
    published: datetime | None = None
    categories: tuple[str, ...] = ()
    canonical: str | None = None  # identity when it is not the URL: each change of one watched page is a new item
    competitor: str | None = None  # configured competitor it is about (page watch, field notes)
    themes: tuple[str, ...] = ()   # configured themes named by whoever entered it (field notes)
    entered_by: str = ""           # field notes: who entered it…
    entered_from: str = ""         # …and from where: `veille add`, or FILE:LINE of an import
    attachment: str = ""           # field notes: stored attachment, relative to the database's folder
    html: str = ""       # sanitised HTML of the summary (or text); set by clean_entry
    clean: bool = False  # set only by clean_entry: every text field is safe to store
    # Set by clean_entry, so that a collector's worker processes compute them rather than the store's one thread.
    # Code that changes title, summary, text or url after cleaning must reset them to "" (the store then computes).
    hash: str = ""       # content_hash of the cleaned title, summary and text
    url_key: str = ""    # canonical_url of the url (or of a guid that is a URL)


@dataclass
class FetchOutcome:
    """What one fetch of one source gave; recorded in the `fetches` table and on the source."""

    source_id: str
    url: str
    started_at: datetime
    outcome: str = "ok"  # ok | not_modified | error | gone | skipped | stopped (a crawl stopped on request)
    http_status: int | None = None
    duration_ms: int = 0
    bytes: int = 0
    entries: int = 0
    new: int = 0
    updated: int = 0
    error: str = ""
    warning: str = ""
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None
    content_type: str = ""
    final_url: str = ""  # after redirects: the base for relative links
    pages: int = 0       # pages a crawl fetched (spiders); a feed is one page


@dataclass
class IngestCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)


def backoff_seconds(failures: int) -> float:
    """5 min, 10 min, 20 min … capped at a day: a failing source is retried forever, ever more rarely."""
    return float(min(BACKOFF_BASE_S * 2 ** max(failures - 1, 0), BACKOFF_CAP_S))


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters, sorted query."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if port and not (scheme == "http" and port == 80) and not (scheme == "https" and port == 443):
        host = f"{host}:{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING_PARAMS.match(k)]
    path = parts.path or "/"
    return urlunsplit((scheme, host, path, urlencode(sorted(query)), ""))


def sanitize_html(fragment: str) -> str:
    """Untrusted HTML reduced to a safe subset: no script, style, event handler, or non-http(s) link."""
    if not fragment:
        return ""
    return nh3.clean(fragment, tags=SAFE_TAGS, attributes={"a": {"href", "title"}, "abbr": {"title"}, "time": {"datetime"}},
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer nofollow").strip()


def plain_text(fragment: str) -> str:
    """Text of an HTML fragment, entities decoded, whitespace folded: what search, NLP and e-mails read."""
    if not fragment:
        return ""
    if "<" in fragment or "&" in fragment:
        # Block-level tags become spaces so that words of adjacent paragraphs do not stick together.
        fragment = re.sub(r"<(?:br|/p|/div|/li|/h\d|/tr)\b[^>]*>", " ", fragment, flags=re.IGNORECASE)
        fragment = html.unescape(nh3.clean(fragment, tags=set(), clean_content_tags={"script", "style"}))
    return _SPACES.sub(" ", fragment).strip()


_BLOCK_TAGS = re.compile(r"<(?:br|/p|/div|/li|/h\d|/tr|/blockquote|/pre|/td|/th)\b[^>]*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^>]*>")


def clean_entry(entry: Entry) -> Entry:
    """The entry with plain-text fields and sanitised HTML, ready to store; collectors may call it in workers.

    The store calls it on every entry not yet cleaned, so nothing unsanitised is ever stored.
    """
    if entry.clean:
        return entry
    html_fragment = sanitize_html(entry.summary or entry.text)
    # Tags of sanitised HTML are only the safe ones: stripping them is enough to get its text.
    from_html = _SPACES.sub(" ", html.unescape(_ANY_TAG.sub("", _BLOCK_TAGS.sub(" ", html_fragment)))).strip()
    summary = from_html if entry.summary else ""
    text = plain_text(entry.text) if entry.summary else from_html
    title = plain_text(entry.title)
    link = entry.url if entry.url and entry.url.startswith(("http://", "https://")) else entry.guid
    return replace(entry, title=title, summary=summary, text=text, author=plain_text(entry.author),
                   categories=tuple(c for c in (plain_text(c) for c in entry.categories) if c), html=html_fragment,
                   clean=True, hash=content_hash(title, summary, text),
                   url_key=canonical_url(link) if link and link.startswith(("http://", "https://")) else "")


def content_hash(title: str, summary: str, text: str) -> str:
    """Hash of what a reader sees; a changed hash means the item was updated at its source."""
    digest = hashlib.sha256("\x1f".join(_SPACES.sub(" ", part).strip() for part in (title, summary, text)).encode())
    return digest.hexdigest()[:32]
