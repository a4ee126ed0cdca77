"""`veille items`: the collected items, filtered on the time they were first seen or published, searched.

Thin wrappers like watch/cli.py: parse options, call one library function, print the result; the table says what
it filtered on, when it was cut, and why it is empty.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from nlp.score import render_reasons, taxonomy_names
from watch.cli_support import counted, counted_fr, require_sources
from watch.errors import ConfigError
from watch.i18n import tr, user_language
from watch.output import emit, format_option

ITEM_FIELDS = ("id", "source", "sources", "url", "canonical_url", "title", "summary", "text", "lang", "author",
               "published_at", "published_estimated", "fetched_at", "first_seen", "origin", "hash",
               "labels", "entities", "actor", "score", "reasons", "why", "story", "credibility",
               "competitor", "themes", "entered_by", "entered_from", "attachment")
TABLE_LIMIT = 50  # items a table shows unless --limit says otherwise


def _display_names(obj) -> dict[str, str]:
    """Names to render reasons with: themes, competitors and labels in the reader's language."""
    names = taxonomy_names(user_language())
    try:
        config = obj.config
    except ConfigError:
        return names
    names.update({t.id: t.label for t in config.themes})
    names.update({c.id: c.name for c in config.competitors})
    return names


@click.group(invoke_without_command=True)
@click.option("--since", metavar="WHEN",
              help=tr("Vus pour la première fois (collectés) depuis 7d, 12h, 2w ou une date (2026-11-01).",
                      "First seen (collected) since 7d, 12h, 2w or a date (2026-11-01)."))
@click.option("--published", metavar="WHEN",
              help=tr("Publiés depuis 7d, 12h, 2w ou une date (2026-11-01).",
                      "Published since 7d, 12h, 2w or a date (2026-11-01)."))
@click.option("--source", metavar="ID", help=tr("Articles portés par cette source.", "Items carried by this source."))
@click.option("--search", metavar="TEXT", help=tr("Recherche plein texte, accents ignorés (rachete trouve rachète).",
                                                  "Full-text search, accents ignored (rachete finds rachète)."))
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help=tr(f"Au plus ce nombre d'articles (tableau : {TABLE_LIMIT}).",
                      f"At most this many items (table: {TABLE_LIMIT})."))
@format_option
@click.pass_context
def items(ctx: click.Context, since: str | None, published: str | None, source: str | None, search: str | None,
          limit: int | None, fmt: str) -> None:
    """Lister les articles collectés / list collected items (`veille items delete` erases some).

    Newest publication first. --since is on the time an item was first seen (collected), --published on its
    publication time.

    \b
    Exemples / examples:
      veille items --published 7d
      veille items --search "levée de fonds" --format json
      veille items --source veloce-news --format csv > veloce.csv
      veille items --format jsonl | jq .title
    """
    from watch.cli import handle_errors

    if ctx.invoked_subcommand:
        return
    handle_errors(_list_items)(ctx.obj, since, published, source, search, limit, fmt)


def _list_items(obj, since: str | None, published: str | None, source: str | None, search: str | None,
                limit: int | None, fmt: str) -> None:
    from watch.cli import err, parse_since

    first_seen, published_at = parse_since(since, "--since"), parse_since(published, "--published")
    cut = limit or (TABLE_LIMIT if fmt == "table" else None)
    with obj.store() as store:
        if source:
            require_sources([source], obj.config_if_any(), store)
        rows = store.items(since=first_seen, published=published_at, source=source, search=search,
                           limit=cut + 1 if cut else None)
        total = None if not cut or len(rows) <= cut else store.count_items(
            since=first_seen, published=published_at, source=source, search=search)
        everything = store.counts()["items"] if not rows else None
    rows = rows[:cut] if cut else rows
    if fmt == "table":
        for row in rows:
            row["date"] = (row["published_at"] or "")[:10] + ("~" if row["published_estimated"] else "")
            row["title"] = (row["title"] or "")[:90]
        emit(rows, fmt, table_columns=("id", "date", "source", "title"),
             wide_columns=("id", "date", "first_seen", "source", "lang", "origin", "title"),
             empty=_no_items(everything, source, first_seen, published_at, search, store.path))
        err.print(_items_said(len(rows), first_seen, published_at), markup=False)
    else:
        names = _display_names(obj)
        for row in rows:
            row["why"] = render_reasons(row["reasons"], user_language(), names) if row["reasons"] else ""
        emit(rows, fmt, columns=ITEM_FIELDS)
    if total is not None:
        err.print(tr(f"Liste coupée à {counted_fr(cut, 'article', 'articles')} sur {total} (les plus récemment "
                     f"publiés) ; --limit {total} (ou --format json) pour tout voir.",
                     f"List cut at {cut} of {total} items (the most recently published); --limit {total} (or "
                     "--format json) to see them all."), markup=False)


def _items_said(count: int, first_seen: datetime | None, published: datetime | None) -> str:
    """What the list holds and on which time it was filtered: collection and publication are different clocks."""
    said = counted(count, "article", "articles", "item", "items")
    agreed = "s" if count >= 2 else ""
    if first_seen:
        said += tr(f" vu{agreed} pour la première fois depuis le {_day(first_seen)} (date de collecte ; "
                   "--published filtre sur la date de publication)",
                   f" first seen since {_day(first_seen)} (collection time; --published filters on publication time)")
    if published:
        said += tr(f", publié{agreed} depuis le {_day(published)}", f", published since {_day(published)}")
    return said


def _no_items(everything: int | None, source: str | None, first_seen: datetime | None, published: datetime | None,
              search: str | None, database: Path) -> str:
    """Why the list is empty: an empty database, or the filters that left nothing."""
    if not everything:
        return tr(f"Aucun article : la base {database} est vide ; `veille collect` (ou `veille demo`) la remplit.",
                  f"No item: the database {database} is empty; `veille collect` (or `veille demo`) fills it.")
    asked = [part for part in (
        source and tr(f"source {source}", f"source {source}"),
        first_seen and tr(f"vus depuis le {_day(first_seen)}", f"first seen since {_day(first_seen)}"),
        published and tr(f"publiés depuis le {_day(published)}", f"published since {_day(published)}"),
        search and tr(f"recherche « {search} »", f"search \"{search}\"")) if part]
    return tr(f"Aucun article ne répond à : {', '.join(asked)} ({everything} en base).",
              f"No item matches: {', '.join(asked)} ({everything} in the database).")


def _day(when: datetime) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M")
