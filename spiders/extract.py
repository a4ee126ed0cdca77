"""An article page's main text, title, author and publication date; no Scrapy here, so anything can use it.

The text comes from trafilatura; when it finds nothing (a short press release, an unusual layout) the page's
paragraphs outside navigation, header, footer and asides are taken instead, then the meta description. The date
comes, in this order, from the listing or feed that linked to the page, from the page's JSON-LD and meta tags, then
from htmldate's search of the text; a date in the future is never kept.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import lxml.html
from lxml import etree

# trafilatura's text is taken as it is from this length on (its own threshold for a main text); below it, the
# paragraphs outside the page furniture are preferred, and a text shorter than MIN_TEXT is menu words, not an article.
TRUSTED_TEXT = 250
MIN_TEXT = 80
FUTURE_SLACK = timedelta(minutes=5)  # clocks of servers and ours differ a little
DATE_META = (
    # (attribute, value) of <meta> tags that carry the original publication time, most specific first
    ("property", "article:published_time"), ("itemprop", "datePublished"), ("name", "article:published_time"),
    ("name", "pubdate"), ("name", "publishdate"), ("name", "date"), ("name", "dc.date"), ("name", "dc.date.issued"),
    ("name", "dcterms.created"), ("property", "og:published_time"), ("name", "sailthru.date"), ("name", "parsely-pub-date"),
)
ARTICLE_TYPES = {"article", "newsarticle", "blogposting", "reportagenewsarticle", "analysisnewsarticle", "report",
                 "pressrelease", "webpage", "scholarlyarticle", "techarticle"}
_NOISE = (".//script", ".//style", ".//noscript", ".//nav", ".//header", ".//footer", ".//aside", ".//form",
          ".//*[@role='navigation' or @role='banner' or @role='contentinfo' or @role='complementary']")
_SPACES = re.compile(r"\s+")


@dataclass
class Article:
    """What a page says, as plain text; `date_from` tells which step found the date (listing, metadata, text)."""

    url: str
    title: str = ""
    text: str = ""
    summary: str = ""
    author: str = ""
    lang: str | None = None
    published: datetime | None = None
    date_from: str = ""
    text_from: str = ""  # trafilatura | fallback | description | "" (no text)


def extract_article(html: str | bytes, url: str, listing_date: datetime | None = None,
                    now: datetime | None = None) -> Article:
    """Extract one article page. Never raises on bad HTML: an unreadable page gives an empty Article."""
    now = now or datetime.now(timezone.utc)
    article = Article(url=url)
    tree = _parse(html)
    if tree is None:
        return article
    meta = _metadata(tree)
    article.title = meta.get("title", "")
    article.summary = meta.get("description", "")
    article.author = meta.get("author", "")
    article.lang = _language(tree.get("lang") or meta.get("lang"))
    article.text, article.text_from = _main_text(tree, url, article.summary)

    for how, when in (("listing", listing_date), ("metadata", meta.get("published"))):
        if _acceptable(when, now):
            article.published, article.date_from = _utc(when), how
            break
    else:
        found = _htmldate(html, now)
        if found is not None:
            article.published, article.date_from = found, "text"
    return article


def _parse(html: str | bytes) -> lxml.html.HtmlElement | None:
    if not html or not html.strip():
        return None
    try:
        if isinstance(html, str):
            # lxml refuses str input that declares an encoding; bytes keep the declared charset.
            html = html.encode("utf-8")
            parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True)
        else:
            parser = lxml.html.HTMLParser(remove_comments=True)
        tree = lxml.html.fromstring(html, parser=parser)
    except (etree.ParserError, ValueError):
        return None
    return tree if isinstance(tree, lxml.html.HtmlElement) else None


def _main_text(tree: lxml.html.HtmlElement, url: str, description: str) -> tuple[str, str]:
    import trafilatura  # imported here: half a second, paid only by the processes that extract

    try:
        text = trafilatura.extract(tree, url=url, include_comments=False, include_tables=True, deduplicate=False)
    except Exception:  # trafilatura on hostile HTML: fall back rather than lose the page
        text = None
    text = _without_heading(text.strip(), tree) if text else ""
    if len(text) >= TRUSTED_TEXT:
        return text, "trafilatura"
    # A short result: menu words on a page without an article, or a short release trafilatura cut into.
    fallback = _paragraphs(tree)
    if fallback:
        return fallback, "fallback"
    if len(text) >= MIN_TEXT:
        return text, "trafilatura"
    if description:
        return description, "description"
    return "", ""


def _without_heading(text: str, tree: lxml.html.HtmlElement) -> str:
    """The text without its first line when that line is the page's <h1>: the title is stored apart."""
    first, _, rest = text.partition("\n")
    heading = tree.find(".//h1")
    if rest and heading is not None and _SPACES.sub(" ", heading.text_content()).strip() == first.strip():
        return rest.strip()
    return text


def _paragraphs(tree: lxml.html.HtmlElement) -> str:
    """Paragraph text outside page furniture, from <article> or <main> when the page has one."""
    root = next((node for node in (tree.find(".//article"), tree.find(".//main"), tree.find(".//body"))
                 if node is not None), tree)
    root = copy.deepcopy(root)  # the caller's tree stays whole
    for path in _NOISE:
        for node in root.xpath(path):
            node.drop_tree()
    blocks = [_SPACES.sub(" ", p.text_content()).strip() for p in root.xpath(".//p|.//li|.//blockquote|.//td")]
    blocks = [b for b in blocks if len(b) >= 20]
    if not blocks:
        blocks = [_SPACES.sub(" ", root.text_content()).strip()]
    return "\n".join(b for b in blocks if b)


def _metadata(tree: lxml.html.HtmlElement) -> dict[str, Any]:
    """Title, description, author and publication time from JSON-LD, then meta tags, then the page itself."""
    found: dict[str, Any] = {}
    for node in _jsonld_objects(tree):
        kind = node.get("@type")
        kinds = {str(k).lower() for k in (kind if isinstance(kind, list) else [kind])}
        if not kinds & ARTICLE_TYPES:
            continue
        found.setdefault("title", _text(node.get("headline") or node.get("name")))
        found.setdefault("description", _text(node.get("description")))
        found.setdefault("author", _author(node.get("author")))
        found.setdefault("lang", _text(node.get("inLanguage")))
        when = _date(node.get("datePublished")) or _date(node.get("dateCreated"))
        if when and "published" not in found:
            found["published"] = when
    metas: dict[tuple[str, str], str] = {}
    for node in tree.iter("meta"):
        content = node.get("content")
        if content:
            for attribute in ("property", "name", "itemprop"):
                if node.get(attribute):
                    metas.setdefault((attribute, node.get(attribute).strip().lower()), content.strip())
    if "published" not in found:
        for key in DATE_META:
            when = _date(metas.get(key))
            if when:
                found["published"] = when
                break
    if "published" not in found:
        # <time itemprop="datePublished" datetime=...> or <time pubdate> inside the article: markup, not text search.
        for node in tree.xpath("//time[@itemprop='datePublished' or @pubdate][@datetime]"):
            when = _date(node.get("datetime"))
            if when:
                found["published"] = when
                break
    if not found.get("title"):
        heading = tree.find(".//h1")
        found["title"] = (metas.get(("property", "og:title")) or (_SPACES.sub(" ", heading.text_content()).strip()
                          if heading is not None else "") or _SPACES.sub(" ", tree.findtext(".//title") or "").strip())
    if not found.get("description"):
        found["description"] = metas.get(("name", "description")) or metas.get(("property", "og:description")) or ""
    if not found.get("author"):
        found["author"] = metas.get(("name", "author")) or metas.get(("property", "article:author")) or ""
    return {k: v for k, v in found.items() if v}


def _jsonld_objects(tree: lxml.html.HtmlElement) -> list[dict]:
    objects: list[dict] = []
    for script in tree.xpath("//script[@type='application/ld+json']"):
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        stack = [data]
        while stack:
            value = stack.pop()
            if isinstance(value, list):
                stack.extend(value)
            elif isinstance(value, dict):
                objects.append(value)
                if isinstance(value.get("@graph"), list):
                    stack.extend(value["@graph"])
    return objects


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return _SPACES.sub(" ", str(value)).strip() if isinstance(value, (str, int, float)) else ""


def _author(value: Any) -> str:
    values = value if isinstance(value, list) else [value]
    names = [v.get("name") if isinstance(v, dict) else v for v in values]
    return ", ".join(_text(n) for n in names if _text(n))


def parse_date(value: Any) -> datetime | None:
    """An ISO 8601 date or date-time (`Z`, offsets, a bare date), or None."""
    return _date(value)


def _date(value: Any) -> datetime | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?[+-]\d{4}", text):
        text = text[:-2] + ":" + text[-2:]  # +0100 -> +01:00 (fromissoformat before 3.11)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _utc(when: datetime) -> datetime:
    return when.astimezone(timezone.utc) if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _acceptable(when: datetime | None, now: datetime) -> bool:
    """A date worth keeping: present, and not in the future (a misconfigured page, a scheduled post)."""
    return when is not None and _utc(when) <= now + FUTURE_SLACK and when.year >= 1990


def _htmldate(html: str | bytes, now: datetime) -> datetime | None:
    from htmldate import find_date

    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
    try:
        # The document itself, never a URL: find_date would download a string that looks like one.
        found = find_date(html, extensive_search=True, original_date=True, max_date=now.strftime("%Y-%m-%d"))
    except Exception:  # htmldate on hostile HTML: no date rather than no article
        return None
    when = _date(found)
    return _utc(when) if _acceptable(when, now) else None


def _language(code: Any) -> str | None:
    if not isinstance(code, str):
        return None
    code = code.strip().lower().replace("_", "-").split("-")[0]
    return code if len(code) == 2 and code.isalpha() else None
