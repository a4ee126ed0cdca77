"""Page-change watch (`kind: page`): a competitor's pricing, catalogue or careers page checked on schedule.

The watched region (the CSS selector of the source's `page:` options, or else the page's main text) is read as
lines of text: whitespace folded, table cells joined with ` | `, and the configured noise (dates, counters,
tokens, the source's own patterns) masked. That normalised text is a snapshot. When a check finds a different
snapshot, a `page_change` item is created through `Store.ingest`, linked to the source's competitor and holding a
readable diff: prices before and after, lines added and removed. The first check stores a baseline; so does the
first check after the page options change (a new selector is not a change of the page).

Fetching is the feed reader's (`watch.feeds.download`): timeouts, size cap, conditional GET, Retry-After, backoff
and the `fetches` bookkeeping. A selector that matches nothing is a configuration problem reported on the source;
it never becomes an empty snapshot.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import html
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from watch.feeds import FeedTarget, backoff_seconds, download, http_client, skip_reason
from watch.i18n import tx, tx_in, tx_n_in, tx_p_in
from watch.models import PRICE_CHANGE, Entry, FetchOutcome, clean_entry, plain_text, utcnow

if TYPE_CHECKING:
    import httpx
    from lxml.html import HtmlElement

    from watch.config import CollectSettings, PageOptions, Source
    from watch.store import Store

log = logging.getLogger(__name__)
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, text/plain;q=0.5, */*;q=0.1"
MASK = "…"
SECTION_LINES = 30  # lines listed per section of a diff; the rest is counted

_MONTHS = (r"janv(?:ier|\.)?|f[ée]vr(?:ier|\.)?|mars|avr(?:il|\.)?|mai|juin|juil(?:let|\.)?|ao[uû]t|"
           r"sept(?:embre|\.)?|oct(?:obre|\.)?|nov(?:embre|\.)?|d[ée]c(?:embre|\.)?|"
           r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:tember)?|"
           r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?")
# Built-in noise, masked before two versions of a page are compared (PageOptions.ignore).
NOISE = {
    "dates": re.compile(
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
        r"|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"
        rf"|\b\d{{1,2}}(?:er|st|nd|rd|th)?\s+(?:{_MONTHS})\s+\d{{4}}\b"
        rf"|\b(?:{_MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b"
        r"|\b\d{1,2}(?::|h)\d{2}(?::\d{2})?\b"
        r"|\bil y a \d+\s*(?:s|sec|secondes?|min|minutes?|h|heures?|j|jours?|semaines?|mois|ans?)\b"
        r"|\b\d+\s*(?:seconds?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?)\s+ago\b"
        r"|\b1[5-9]\d{8}(?:\d{3})?\b",  # Unix timestamps (2017-2033), in seconds or milliseconds
        re.IGNORECASE),
    "counters": re.compile(
        r"\b\d(?:[\d.,]|[\s\u00a0\u202f](?=\d))*(?:\s?[kKM]\b)?(?=\s*(?:vues?|views?|visites?|visits?|visiteurs?|visitors?|lectures?|"
        r"reads?|commentaires?|comments?|avis|reviews?|likes?|j'aime|partages?|shares?|abonnés?|followers?|"
        r"personnes?|people|consultations?|téléchargements?|downloads?|en ligne|online|en stock|in stock|"
        r"restants?|left)\b)",
        re.IGNORECASE),
    "tokens": re.compile(
        r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
        r"|\b[0-9a-fA-F]{16,}\b"
        # base64-like: long, with digits, lower and upper case (a catalogue's upper-case SKUs are not tokens)
        r"|(?<![\w+/=])(?=[\w+/=]*\d)(?=[\w+/=]*[a-z])(?=[\w+/=]*[A-Z])[\w+/=]{24,}"),
}
_AMOUNT = r"\d{1,3}(?:[\s\u00a0\u202f.,']\d{3})*(?:[.,]\d{1,2})?(?!\d)|\d+(?:[.,]\d{1,2})?(?!\d)"
_CURRENCY = r"euros?|€|EUR|\$|USD|£|GBP|CHF"
PRICE = re.compile(rf"(?:(?:{_CURRENCY})\s?(?:{_AMOUNT}))|(?:(?<![\d,.])(?:{_AMOUNT})\s?(?:{_CURRENCY})(?![A-Za-z]))",
                   re.IGNORECASE)
_SPACES = re.compile(r"[\s\u00a0\u202f]+")

# Tags whose text is never part of a watched region; in main-text mode, the page's chrome is left out as well.
_SKIPPED = {"script", "style", "noscript", "template", "svg", "iframe", "object", "head", "select"}
_CHROME = {"nav", "header", "footer", "aside", "form"}
_BLOCKS = {"address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div", "dl", "dt",
           "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
           "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul"}
_CELLS = {"td", "th"}


class RegionError(Exception):
    """The watched region cannot be read from this page (selector matching nothing, not a web page)."""

    def __init__(self, message: str, configuration: bool = False):
        super().__init__(message)
        self.configuration = configuration  # the source's configuration is at fault, not the site


@dataclass
class PageChange:
    """What changed between two snapshots of a region."""

    prices: list[tuple[str, str, str]] = field(default_factory=list)  # (line shown, changed prices before, after)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def watch_pages(sources: Sequence[Source], store: Store, settings: CollectSettings, *, force: bool = False,
                progress: Callable[[FetchOutcome], None] | None = None) -> list[FetchOutcome]:
    """Check every page source; return one outcome per source, in order.

    Sources marked gone are skipped; sources in backoff are skipped unless `force`.
    """
    if not sources:
        return []
    return asyncio.run(_watch_all(list(sources), store, settings, force, progress))


async def _watch_all(sources: list[Source], store: Store, settings: CollectSettings, force: bool,
                     progress: Callable[[FetchOutcome], None] | None) -> list[FetchOutcome]:
    states = store.source_states()
    slots = asyncio.Semaphore(settings.per_host)  # a watch has few pages: one small pool, politely

    async def one(source: Source) -> FetchOutcome:
        outcome = FetchOutcome(source.id, source.url or "", utcnow())
        state = states.get(source.id) or {"status": "active", "failures": 0}
        reason = skip_reason(source.id, state, outcome.started_at, force)
        if reason:
            outcome.outcome, outcome.error = "skipped", reason
        else:
            started = time.perf_counter()
            async with slots:
                target = FeedTarget(source.id, source.url or "", "page_change", source.language)
                client = clients[urlsplit(target.url).netloc.lower()]
                body = await download(client, target, state, settings, outcome)
            if body is not None:
                # The store's connection belongs to this thread: pages are small and few, so they are
                # compared here rather than in a worker.
                try:
                    check_page(source, body, outcome, store)
                except Exception as exc:  # one unreadable page must not stop the collection of the others
                    log.exception("page %s", source.id)
                    outcome.outcome = "error"
                    outcome.error = tx("unreadable page: {name}: {exc}", name=exc.__class__.__name__, exc=exc)
            elif outcome.outcome == "not_modified" and (last := store.last_snapshot(source.id)) is not None:
                store.touch_snapshot(last["id"], outcome.started_at)  # seen again, unchanged: not old
            outcome.duration_ms = int((time.perf_counter() - started) * 1000)
            store.record_fetch(outcome, backoff_seconds)
            log.info("source=%s outcome=%s status=%s new=%d ms=%d %s", source.id, outcome.outcome,
                     outcome.http_status, outcome.new, outcome.duration_ms, outcome.error or outcome.warning)
        if progress:
            progress(outcome)
        return outcome

    # One client per host, as for feeds: a client's address policy allows its own source's host (watch.netguard).
    clients: dict[str, httpx.AsyncClient] = {}
    for source in sources:
        clients.setdefault(urlsplit(source.url or "").netloc.lower(), http_client(settings, accept=HTML_ACCEPT,
                                                                                  home=source.url or ""))
    try:
        return list(await asyncio.gather(*(one(s) for s in sources)))
    finally:
        await asyncio.gather(*(client.aclose() for client in clients.values()))


def check_page(source: Source, body: bytes, outcome: FetchOutcome, store: Store) -> None:
    """Compare a fetched page with its last snapshot; store a new snapshot and a page_change item if it changed."""
    options = source.page_options
    try:
        lines = normalise(region_lines(body, outcome.content_type, options.selector), options)
    except RegionError as exc:
        outcome.outcome, outcome.error = "error", str(exc)
        if exc.configuration:
            outcome.error = tx("configuration problem of source {id} in sources.yaml: {exc}", id=source.id, exc=exc)
        return
    outcome.entries = 1
    text = "\n".join(lines)
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    fingerprint = options_fingerprint(options)
    last = store.last_snapshot(source.id)
    if last is not None and last["options"] == fingerprint and last["hash"] == digest:
        store.touch_snapshot(last["id"], outcome.started_at)
        return
    canonical = None
    if last is not None and last["options"] == fingerprint:
        change = compare(last["text"].splitlines() if last["text"] else [], lines)
        canonical = f"urn:veille:page-change:{source.id}:{last['id']}-{digest[:16]}"
        entry = change_entry(source, change, outcome.final_url or source.url or "", canonical, outcome.started_at)
        counts = store.ingest(source.id, [entry], "page_change", outcome.started_at, source.language)
        outcome.new, outcome.updated = counts.new, counts.updated
    elif last is not None:
        outcome.warning = tx("page options changed: new baseline, no change reported")
    if not lines:
        outcome.warning = "; ".join(filter(None, [outcome.warning, tx("the watched region is empty")]))
    store.save_snapshot(source.id, outcome.final_url or source.url or "", outcome.started_at, fingerprint, digest,
                        text, len(lines), canonical)
    store.prune_snapshots(outcome.started_at - timedelta(days=options.retention_days), options.keep_last, source.id)


def options_fingerprint(options: PageOptions) -> str:
    """What decides how a page is read: a change here starts a new baseline rather than reporting a change."""
    material = "\x1f".join([options.selector or "", *options.ignore, "\x1e", *options.ignore_patterns])
    return hashlib.sha256(material.encode()).hexdigest()[:16]


# -- reading the region ------------------------------------------------------------------------------------


def region_lines(body: bytes, content_type: str, selector: str | None) -> list[str]:
    """The watched region of a page as lines of text (not yet normalised); RegionError when there is none."""
    from parsel import Selector
    from w3lib.encoding import html_to_unicode

    mime = content_type.split(";")[0].strip().lower()
    _, text = html_to_unicode(content_type, body)
    if mime == "text/plain" and not selector:
        return text.splitlines()
    if mime and not (mime in ("text/html", "application/xhtml+xml", "application/xml", "text/xml")):
        raise RegionError(tx("not a web page ({mime}): only HTML pages are watched", mime=mime))
    document = Selector(text=text, type="html")
    if selector:
        matches = document.xpath(selector) if selector.strip().startswith(("/", "(")) else document.css(selector)
        if not matches:
            raise RegionError(tx("page.selector {selector!r} matches nothing on the page; fix the selector (the "
                                "page's layout may have changed)", selector=selector), configuration=True)
        return [line for match in matches for line in _lines_of(match.root, skip=_SKIPPED)]
    for main in ("main", "[role=main]"):
        found = document.css(main)
        if found:
            return [line for match in found for line in _lines_of(match.root, skip=_SKIPPED)]
    body_element = document.css("body")
    root = body_element[0].root if body_element else document.root
    return _lines_of(root, skip=_SKIPPED | _CHROME)


def _lines_of(node: HtmlElement | str, skip: set[str]) -> list[str]:
    if isinstance(node, str):  # `::text` or `::attr()` selectors give strings
        return node.splitlines()
    parts: list[str] = []
    _walk(node, parts, skip, top=True)
    lines = []
    for line in "".join(parts).split("\n"):
        line = _SPACES.sub(" ", line).strip().strip("|").strip()
        line = re.sub(r"(?:\s*\|\s*)+", " | ", line)
        if line:
            lines.append(line)
    return lines


def _walk(element: HtmlElement, parts: list[str], skip: set[str], top: bool = False) -> None:
    tag = element.tag.lower() if isinstance(element.tag, str) else ""
    if tag and tag not in skip:
        block = tag in _BLOCKS
        if block:
            parts.append("\n")
        parts.append(element.text or "")
        for child in element:
            _walk(child, parts, skip)
        if tag in _CELLS:
            parts.append(" | ")
        if block:
            parts.append("\n")
    if not top:
        parts.append(element.tail or "")


def normalise(lines: list[str], options: PageOptions) -> list[str]:
    """Lines with whitespace folded and every ignored pattern masked; lines that were only noise are dropped."""
    patterns = [NOISE[name] for name in options.ignore] + [re.compile(p) for p in options.ignore_patterns]
    result = []
    for line in lines:
        for pattern in patterns:
            line = pattern.sub(MASK, line)
        line = _SPACES.sub(" ", line).strip()
        line = re.sub(rf"{MASK}(?:\s*{MASK})+", MASK, line)
        if line and line.strip(f"{MASK} |:-–") != "":
            result.append(line)
    return result


# -- the change --------------------------------------------------------------------------------------------


def compare(old: list[str], new: list[str]) -> PageChange:
    """Lines added and removed; a removed and an added line that differ by their prices become a price change."""
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    removed: list[str] = []
    added: list[str] = []
    blocks = []  # (first removed index, first added index, lines) of each replaced block
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace":
            blocks.append((len(removed), len(added), min(i2 - i1, j2 - j1)))
        if tag in ("replace", "delete"):
            removed.extend(old[i1:i2])
        if tag in ("replace", "insert"):
            added.extend(new[j1:j2])
    change = PageChange()
    paired: dict[int, int] = {}  # removed index -> added index

    def pair(i: int, j: int) -> None:
        if i not in paired and j not in paired.values() and _prices(removed[i]) != _prices(added[j]):
            paired[i] = j

    # The same line with other prices (a table row, "V9 : à partir de 2 790 €")…
    by_label: dict[str, list[int]] = {}
    for j, line in enumerate(added):
        if PRICE.search(line):
            by_label.setdefault(_label(line).casefold(), []).append(j)
    for i, line in enumerate(removed):
        if PRICE.search(line):
            for j in by_label.get(_label(line).casefold(), []):
                pair(i, j)
    # …or a line rewritten in place, at the same position of a replaced block, whose wording barely moved.
    for i_start, j_start, count in blocks:
        for k in range(count):
            i, j = i_start + k, j_start + k
            if PRICE.search(removed[i]) and PRICE.search(added[j]) and \
                    difflib.SequenceMatcher(None, _label(removed[i]), _label(added[j])).ratio() >= 0.8:
                pair(i, j)
    for i, j in sorted(paired.items(), key=lambda pair: pair[1]):
        change.prices.append(_price_change(removed[i], added[j]))
    paired_removed, paired_added = set(paired), set(paired.values())
    change.removed = [line for i, line in enumerate(removed) if i not in paired_removed]
    change.added = [line for j, line in enumerate(added) if j not in paired_added]
    return change


def _price_change(before: str, after: str) -> tuple[str, str, str]:
    """(the new line with each changed price written `old → new`, prices before, prices after)."""
    old, new = _prices(before), _prices(after)
    if len(old) != len(new):
        return f"{before} → {after}", " / ".join(old), " / ".join(new)
    shown, position = [], 0
    for k, match in enumerate(PRICE.finditer(after)):
        shown.append(after[position:match.start()])
        shown.append(match.group(0) if old[k] == new[k] else f"{old[k]} → {match.group(0)}")
        position = match.end()
    shown.append(after[position:])
    changed = [(o, n) for o, n in zip(old, new) if o != n]
    return "".join(shown), " / ".join(o for o, _ in changed), " / ".join(n for _, n in changed)


def _prices(line: str) -> list[str]:
    return [_SPACES.sub(" ", m.group(0)).strip() for m in PRICE.finditer(line)]


def _label(line: str) -> str:
    text = PRICE.sub("", line)
    text = re.sub(r"(?:\s*\|\s*)+", " | ", text)
    return _SPACES.sub(" ", text).strip(" |:-–").strip()


def _amount(price: str) -> float | None:
    digits = re.sub(rf"(?:{_CURRENCY})", "", price, flags=re.IGNORECASE)
    digits = re.sub(r"[\s\u00a0\u202f']", "", digits)
    decimal = re.search(r"[.,](\d{1,2})$", digits)
    whole = re.sub(r"[.,]", "", digits[: decimal.start()] if decimal else digits)
    try:
        return float(whole + ("." + decimal.group(1) if decimal else ""))
    except ValueError:
        return None


def _variation(before: str, after: str, lang: str) -> str:
    old, new = _amount(before), _amount(after)
    if "/" in before or "/" in after or not old or new is None:
        return ""
    percent = (new - old) / old * 100
    text = f"{percent:+.1f} %"
    return f" ({text.replace('.', ',') if lang == 'fr' else text.replace(' %', '%')})"


def change_entry(source: Source, change: PageChange, url: str, canonical: str, when: datetime) -> Entry:
    """The page_change item, written in the source's language: a one-line summary, the diff as lines of text
    (one per line, readable in `veille items` and e-mails) and as sanitised HTML."""
    lang = source.language
    prices = [line + _variation(before, after, source.language) for line, before, after in change.prices]
    sections = [(tx_in(lang, "Prices changed"), prices),
                (tx_in(lang, "Lines added"), ["+ " + line for line in change.added]),
                (tx_in(lang, "Lines removed"), ["− " + line for line in change.removed])]
    fragments, text_lines = [], []
    for heading, lines in sections:
        if not lines:
            continue
        shown = lines[:SECTION_LINES]
        if len(lines) > len(shown):
            shown.append(tx_p_in(lang, "page change", "… and {more} more", more=len(lines) - len(shown)))
        fragments.append(f"<h3>{heading}</h3><ul>" + "".join(f"<li>{html.escape(l)}</li>" for l in shown) + "</ul>")
        text_lines += [tx_in(lang, "{heading}:", heading=heading), *(f"  {plain_text(l)}" for l in shown)]
    summary = _summary(change, lang)
    headline = prices[0] if prices else (change.added or change.removed or [""])[0]
    title = tx_in(lang, "{name} : page changed", name=source.name) + (f" — {headline}" if headline else "")
    if len(title) > 160:
        title = title[:159] + "…"
    entry = clean_entry(Entry(url=url, title=title, text="".join(fragments) or f"<p>{summary}</p>", lang=source.language,
                              published=when, canonical=canonical, competitor=source.competitor,
                              themes=tuple(source.themes), categories=("page_change",) + (
                                  (PRICE_CHANGE,) if _price_moved(change) else ())))
    # clean_entry folds the text into one line; the diff reads better one change per line.
    return replace(entry, summary=summary, text="\n".join(text_lines) or summary, hash="")


def _price_moved(change: PageChange) -> bool:
    for _, before, after in change.prices:
        old, new = (_amount(before), _amount(after)) if "/" not in before + after else (None, None)
        if old is not None and new is not None and old != new:
            return True
    return False


def _summary(change: PageChange, lang: str) -> str:
    """"Nouveaux tarifs : 1 hausse de prix, 1 baisse de prix. 1 ligne ajoutée." — in the words analysts (and the
    NLP stage's pricing lexicon) use for a price move."""
    moves = {"up": 0, "down": 0, "other": 0}
    for _, before, after in change.prices:
        old, new = (_amount(before), _amount(after)) if "/" not in before + after else (None, None)
        moves["other" if old is None or new is None or old == new else "up" if new > old else "down"] += 1

    def counted(kind: str, n: int) -> str:
        if kind == "up":
            return tx_n_in(lang, "{n} price increase", "{n} price increases", n)
        if kind == "down":
            return tx_n_in(lang, "{n} price cut", "{n} price cuts", n)
        if kind == "other":
            return tx_n_in(lang, "{n} price changed", "{n} prices changed", n)
        if kind == "added":
            return tx_n_in(lang, "{n} line added", "{n} lines added", n)
        return tx_n_in(lang, "{n} line removed", "{n} lines removed", n)

    prices = ", ".join(counted(kind, n) for kind, n in moves.items() if n)
    lines = ", ".join(counted(kind, len(getattr(change, kind))) for kind in ("added", "removed") if getattr(change, kind))
    parts = []
    if prices:
        parts.append(tx_in(lang, "New pricing: {prices}.", prices=prices))
    if lines:
        parts.append(lines[0].upper() + lines[1:] + "." if not prices else lines + ".")
    return " ".join(parts) or tx_in(lang, "Lines reordered.")
