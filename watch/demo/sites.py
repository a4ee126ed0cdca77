"""The demo sector's web sites without a feed (``sites:`` in sector.yaml), for the generic listing spider.

Each site has paginated listing pages (``/rouleo/actualites/``, ``/rouleo/actualites/page/2/`` …, a ``rel="next"``
link, a ``<time datetime>`` beside each link) and article pages built like a real news page: navigation, breadcrumb,
the article, a "read also" box, a newsletter form and a footer, with JSON-LD. The spider must find the article text
in the middle of all that.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from watch.demo.server import HTML_TYPE, Page, published_at


@dataclass(frozen=True)
class SiteEntry:
    slug: str
    title: str
    author: str
    paragraphs: tuple[str, ...]
    published: datetime


@dataclass(frozen=True)
class Site:
    path: str
    title: str
    name: str
    language: str
    per_page: int
    entries: tuple[SiteEntry, ...]  # newest first

    def article_path(self, entry: SiteEntry) -> str:
        return f"{self.path}{entry.slug}.html"

    def listing_path(self, page: int) -> str:
        return self.path if page == 1 else f"{self.path}page/{page}/"

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.entries) // self.per_page))


def load_sites(now: datetime, sector_file: Path | str) -> list[Site]:
    """The ``sites`` of sector.yaml with absolute dates; raise ValueError on a malformed entry."""
    data = yaml.safe_load(Path(sector_file).read_text(encoding="utf-8")) or {}
    sites = []
    for i, raw in enumerate(data.get("sites") or []):
        try:
            entries = sorted((SiteEntry(e["slug"], str(e["title"]), str(e.get("author") or ""),
                                        tuple(str(p) for p in e["paragraphs"]),
                                        published_at(int(e["days_ago"]), int(e["hour"]), now))
                              for e in raw["entries"]), key=lambda e: e.published, reverse=True)
            sites.append(Site(raw["path"], raw["title"], raw.get("name") or raw["title"], raw["language"],
                              int(raw.get("per_page") or 10), tuple(entries)))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{sector_file}: sites[{i}]: missing or bad key {exc}") from None
    return sites


def site_pages(now: datetime, base: str, sector_file: Path | str) -> dict[str, Page]:
    pages: dict[str, Page] = {}
    for site in load_sites(now, sector_file):
        for number in range(1, site.pages + 1):
            shown = site.entries[(number - 1) * site.per_page: number * site.per_page]
            pages[site.listing_path(number)] = Page(_listing(site, number, shown, base), HTML_TYPE, shown[0].published)
        for entry in site.entries:
            pages[site.article_path(entry)] = Page(_article(site, entry, base), HTML_TYPE, entry.published)
    return pages


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _chrome(site: Site, base: str, title: str, main: str, head: str = "") -> bytes:
    """The page around the content: what every page of a real site repeats, and an extractor must leave out."""
    home = base + site.path.split("/actualites/")[0] + "/"
    menu = "".join(f'<li><a href="{_e(home + slug)}">{label}</a></li>'
                   for slug, label in (("", "Accueil"), ("velos/", "Nos vélos cargo"), ("pro/", "Professionnels"),
                                       ("revendeurs/", "Trouver un revendeur"), ("actualites/", "Actualités"),
                                       ("contact/", "Contact")))
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{site.language}">\n<head>\n<meta charset="utf-8">\n<title>{_e(title)}</title>\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n{head}'
        "<style>body{font-family:sans-serif}.cookie{position:fixed;bottom:0}</style>\n"
        "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}</script>\n"
        f"</head>\n<body>\n<header class=\"site-header\"><a class=\"logo\" href=\"{_e(home)}\">{_e(site.name)}</a>\n"
        f'<nav aria-label="Menu principal"><ul>{menu}</ul></nav>\n'
        '<form class="search" action="/recherche"><input name="q" placeholder="Rechercher"><button>OK</button></form>'
        "</header>\n"
        f"{main}"
        '<section class="newsletter"><h2>Restez informé</h2><p>Recevez nos actualités une fois par mois.</p>'
        '<form><input type="email" placeholder="Votre e-mail"><button>Je m\'abonne</button></form></section>\n'
        f'<footer><ul><li><a href="{_e(home)}mentions-legales/">Mentions légales</a></li>'
        f'<li><a href="{_e(home)}cgv/">CGV</a></li><li><a href="{_e(home)}presse/">Espace presse</a></li></ul>'
        f"<p>© {_e(site.name)} Mobilités SAS – Nantes – vélos cargo à assistance électrique</p></footer>\n"
        '<div class="cookie">Ce site utilise des cookies de mesure d\'audience. <button>Accepter</button></div>\n'
        "</body>\n</html>\n"
    ).encode("utf-8")


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def _listing(site: Site, number: int, shown: tuple[SiteEntry, ...], base: str) -> bytes:
    cards = "".join(
        f'<article class="news-card"><h2><a href="{_e(base + site.article_path(e))}">{_e(e.title)}</a></h2>\n'
        f'<time datetime="{_iso(e.published)}">{e.published:%d/%m/%Y}</time>\n<p>{_e(e.paragraphs[0][:160])}…</p>'
        "</article>\n" for e in shown)
    pager = []
    if number > 1:
        pager.append(f'<a rel="prev" href="{_e(base + site.listing_path(number - 1))}">Précédent</a>')
    pager.append(f"<span>Page {number} / {site.pages}</span>")
    if number < site.pages:
        pager.append(f'<a rel="next" class="next" href="{_e(base + site.listing_path(number + 1))}">Suivant</a>')
    main = (f"<main><h1>Actualités</h1>\n<div class=\"news-list\">\n{cards}</div>\n"
            f'<nav class="pagination">{" ".join(pager)}</nav></main>\n')
    return _chrome(site, base, f"Actualités – page {number} – {site.name}", main)


def _article(site: Site, entry: SiteEntry, base: str) -> bytes:
    url = base + site.article_path(entry)
    related = [e for e in site.entries if e is not entry][:3]
    data: dict[str, Any] = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": entry.title,
                            "datePublished": _iso(entry.published), "author": {"@type": "Organization",
                                                                              "name": entry.author or site.name},
                            "publisher": {"@type": "Organization", "name": site.name}, "inLanguage": site.language}
    head = (f'<link rel="canonical" href="{_e(url)}">\n'
            f'<meta property="og:title" content="{_e(entry.title)}">\n'
            f'<meta name="description" content="{_e(entry.paragraphs[0][:200])}">\n'
            f'<script type="application/ld+json">{json.dumps(data, ensure_ascii=False)}</script>\n')
    text = "".join(f"<p>{_e(p)}</p>\n" for p in entry.paragraphs)
    links = "".join(f'<li><a href="{_e(base + site.article_path(e))}">{_e(e.title)}</a></li>' for e in related)
    main = (
        f'<main><nav class="breadcrumb"><a href="{_e(base + site.path)}">Actualités</a> › {_e(entry.title)}</nav>\n'
        f"<article>\n<h1>{_e(entry.title)}</h1>\n"
        f'<p class="byline">{_e(entry.author)} – <time datetime="{_iso(entry.published)}">'
        f"{entry.published:%d/%m/%Y}</time></p>\n{text}"
        '<div class="share">Partager : <a href="#">LinkedIn</a> <a href="#">Facebook</a> <a href="#">X</a></div>\n'
        f"</article>\n<aside class=\"related\"><h2>À lire aussi</h2><ul>{links}</ul></aside></main>\n")
    return _chrome(site, base, f"{entry.title} – {site.name}", main, head)
