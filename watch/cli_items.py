"""`veille items`: the collected items, filtered on the time they were first seen or published, searched.

Thin wrappers like watch/cli.py: parse options, call one library function, print the result; the table says what
it filtered on, when it was cut, and why it is empty.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from nlp.score import render_reasons, taxonomy_names
from watch.cli_support import require_sources
from watch.errors import ConfigError
from watch.i18n import tx, tx_n, user_language
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
              help=tx("First seen (collected) since 7d, 12h, 2w or a date (2026-11-01)."))
@click.option("--published", metavar="WHEN",
              help=tx("Published since 7d, 12h, 2w or a date (2026-11-01)."))
@click.option("--source", metavar="ID", help=tx("Items carried by this source."))
@click.option("--search", metavar="TEXT", help=tx("Full-text search, accents ignored (rachete finds rachète)."))
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help=tx("At most this many items (table: {table_limit}).", table_limit=TABLE_LIMIT))
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
    from watch.cli_support import handle_errors

    if ctx.invoked_subcommand:
        return
    handle_errors(_list_items)(ctx.obj, since, published, source, search, limit, fmt)


def _list_items(obj, since: str | None, published: str | None, source: str | None, search: str | None,
                limit: int | None, fmt: str) -> None:
    from watch.cli_support import err, parse_since

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
        err.print(tx_n("List cut at {n} of {total} items (the most recently published); --limit {total} (or "
                       "--format json) to see them all.",
                       "List cut at {n} of {total} items (the most recently published); --limit {total} (or "
                       "--format json) to see them all.", cut, total=total), markup=False)


def _items_said(count: int, first_seen: datetime | None, published: datetime | None) -> str:
    """What the list holds and on which time it was filtered: collection and publication are different clocks."""
    said = tx_n("{n} item", "{n} items", count)
    # The French participle agrees with the count ("1 article vu", "3 articles vus"): a plural form each.
    if first_seen:
        said += tx_n(" first seen since {day} (collection time; --published filters on publication time)",
                     " first seen since {day} (collection time; --published filters on publication time)", count,
                     day=_day(first_seen))
    if published:
        said += tx_n(", published since {day}", ", published since {day}", count, day=_day(published))
    return said


def _no_items(everything: int | None, source: str | None, first_seen: datetime | None, published: datetime | None,
              search: str | None, database: Path) -> str:
    """Why the list is empty: an empty database, or the filters that left nothing."""
    if not everything:
        return tx("No item: the database {database} is empty; `veille collect` (or `veille demo`) fills it.", database=database)
    asked = [part for part in (
        source and tx("source {source}", source=source),
        first_seen and tx("first seen since {day}", day=_day(first_seen)),
        published and tx("published since {day}", day=_day(published)),
        search and tx('search "{search}"', search=search)) if part]
    return tx("No item matches: {asked} ({everything} in the database).", asked=', '.join(asked), everything=everything)


def _day(when: datetime) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M")
