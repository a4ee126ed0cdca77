"""Field notes and erasure on the command line: `veille add`, `veille import FILE.csv`, `veille items delete`.

Thin wrappers like watch/cli.py: parse options, call one function of watch.offline, print the result.
"""

from __future__ import annotations

import getpass
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

import click

from watch.errors import UsageError
from watch.i18n import tx
from watch.models import ORIGINS
from watch.output import emit, format_option

entered_by_option = click.option("--entered-by", metavar="NAME",
                                 help=tx("Who enters it (default $VEILLE_USER, else the login name); kept as "
                                        "provenance."))


def _entered_by(value: str | None) -> str:
    if value:
        return value
    try:
        return os.environ.get("VEILLE_USER") or getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "?"


@click.command("add")
@click.option("--text", required=True, help=tx("The observation; `-` reads it from standard input."))
@click.option("--source", "source_id", metavar="ID", help=tx("Offline source (`kind: offline`); optional when "
                                                            "there is one."))
@click.option("--author", metavar="NAME", help=tx("Who made the observation (default: who enters it)."))
@click.option("--date", "when", metavar="DATE", help=tx("Observation date, 2026-03-12 or 12/03/2026 (default: today)."))
@click.option("--title", help=tx("Title (default: the text's first sentence)."))
@click.option("--theme", "themes", multiple=True, metavar="ID", help=tx("Theme id (repeatable)."))
@click.option("--competitor", metavar="ID", help=tx("Competitor id the note is about."))
@click.option("--lang", metavar="CODE", help=tx("Language of the text (default: the source's)."))
@click.option("--ref", metavar="REF", help=tx("Your own reference: adding a note with the same ref again updates it."))
@click.option("--attach", "attachment", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=tx("A file kept with the note (photo, brochure, PDF), copied beside the database."))
@entered_by_option
@format_option
@click.pass_obj
def add(obj, text: str, source_id: str | None, author: str | None, when: str | None, title: str | None,
        themes: tuple[str, ...], competitor: str | None, lang: str | None, ref: str | None, attachment: Path | None,
        entered_by: str | None, fmt: str) -> None:
    """Enregistrer une observation de terrain / record a field observation.

    Trade show, customer visit, sales report, print magazine: the note becomes an item of origin `offline`,
    with who entered it and when. Unknown source, theme or competitor ids are refused with a suggestion.

    \b
    Exemples / examples:
      veille add --source salons --author "Claire Martin" --date 2026-03-12 --competitor veloce \\
                 --theme battery-tech --text "Au salon de Lyon, Veloce montrait un V9 à batterie LFP."
      echo "Le client hésite à cause du prix." | veille add --source terrain-commercial --text -
    """
    from watch.cli_support import handle_errors
    from watch.offline import NoteError, check_note, record_note

    @handle_errors
    def run() -> None:
        body = sys.stdin.read() if text == "-" else text
        who = _entered_by(entered_by)
        values = {"source": source_id or "", "text": body, "author": author or who,
                  "date": when or datetime.now().date().isoformat(), "title": title or "", "themes": list(themes),
                  "competitor": competitor or "", "lang": lang or "", "ref": ref or "",
                  "attachment": str(attachment) if attachment else ""}
        config = obj.config
        try:
            note = check_note(config, values)
        except NoteError as exc:
            raise UsageError(str(exc)) from None
        with obj.store() as store:
            result = record_note(config, store, note, who)
        emit([{"item": result.item, "status": result.status, "source": note.source, "date": note.date.date().isoformat(),
               "author": note.author, "title": result.title}], fmt)
        word = {"new": tx("recorded"), "updated": tx("updated")}.get(
            result.status, tx("already recorded"))
        click.echo(tx("Note {word}: item {item}.", word=word, item=result.item), err=True)

    run()


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--encoding", default="utf-8", show_default=True, help=tx("The file's encoding (cp1252 for old "
                                                                       "Excel files)."))
@entered_by_option
@format_option
@click.pass_obj
def import_(obj, file: Path, encoding: str, entered_by: str | None, fmt: str) -> None:
    """Importer des notes de terrain (CSV) / import field notes from a CSV file.

    Header row, then one note per row; separator `,` `;` or tab. Required columns: date, source, author, text;
    optional: title, themes (separated by `;`), competitor, lang, ref, attachment (path relative to the file).
    French headers work too (auteur, texte, titre, thèmes, concurrent, langue, réf, pièce jointe).
    Bad rows are reported with their line number and the valid rows are kept (exit code 1); a file with wrong
    columns or encoding is refused as a whole (exit code 2). Importing the same file again adds nothing.
    The table shows the rows that were not imported; json, jsonl and csv show every row.

    \b
    Exemples / examples:
      veille import notes-salon.csv
      veille import export-crm.csv --encoding cp1252 --format json
    """
    from watch.cli_support import handle_errors
    from watch.offline import import_notes

    @handle_errors
    def run() -> None:
        config = obj.config
        with obj.store() as store:
            report = import_notes(config, store, file, _entered_by(entered_by), encoding)
        rows = [{"line": r.line, "status": r.status, "item": r.item, "title": r.title, "problem": r.problem}
                for r in report.rows]
        if fmt == "table":
            if report.bad:
                emit([r for r in rows if r["status"] == "bad"], fmt, columns=("line", "problem"),
                     title=tx("Rows not imported"))
        else:
            emit(rows, fmt)
        click.echo(tx("{file}: {count} new, {count2} updated, {count3} already there, {n_bad} bad row(s)", file=file, count=report.count('new'), count2=report.count('updated'), count3=report.count('unchanged') + report.count('duplicate'), n_bad=len(report.bad)), err=True)
        sys.exit(1 if report.bad else 0)

    run()


def _moment(value: str | None, option: str, end: bool = False) -> datetime | None:
    """A --from/--to value: a date (a --to day is included whole), a date-time, or 30d / 2w before now."""
    from watch.cli_support import parse_since

    if not value:
        return None
    try:
        when = parse_since(value)
    except UsageError:
        raise UsageError(tx("{option} {value!r} unreadable: write 2026-03-12 or 30d", option=option, value=value)) from None
    if end and len(value.strip()) == 10 and value.count("-") == 2:
        when += timedelta(days=1)
    return when


@click.command("delete")
@click.option("--id", "ids", type=int, multiple=True, metavar="N", help=tx("Item id (repeatable)."))
@click.option("--source", metavar="ID", help=tx("Items carried by this source."))
@click.option("--author", metavar="NAME", help=tx("Items by this author, or entered by this person."))
@click.option("--from", "date_from", metavar="DATE", help=tx("Published (observed) on or after this date."))
@click.option("--to", "date_to", metavar="DATE", help=tx("Published (observed) on or before this date."))
@click.option("--search", metavar="TEXT", help=tx("Items whose text contains these words (a person's name)."))
@click.option("--origin", type=click.Choice(ORIGINS), help=tx("Only items of this origin."))
@click.option("--expired", is_flag=True, help=tx("Field notes past their source's retention period (alone)."))
@click.option("--dry-run", is_flag=True, help=tx("Show what would be deleted; delete nothing."))
@click.option("--yes", is_flag=True, help=tx("Do not ask for confirmation."))
@format_option
@click.pass_obj
def delete(obj, ids: tuple[int, ...], source: str | None, author: str | None, date_from: str | None,
           date_to: str | None, search: str | None, origin: str | None, expired: bool, dry_run: bool, yes: bool,
           fmt: str) -> None:
    """Supprimer des articles (demande d'effacement) / delete items (erasure request).

    Criteria combine (all must match). Deletion is for good: the item, its sources, labels, entities and terms,
    its entry in the full-text index and its attachment; the database file keeps no copy of the text.

    \b
    Exemples / examples:
      veille items delete --author "Claire Martin" --dry-run
      veille items delete --source salons --from 2025-01-01 --to 2025-06-30 --yes
      veille items delete --id 42 --id 43 --yes
      veille items delete --expired --yes
    """
    from watch.cli_support import handle_errors
    from watch.offline import erase, expire

    @handle_errors
    def run() -> None:
        if expired and (ids or source or author or date_from or date_to or search or origin):
            raise UsageError(tx("--expired is used alone"))
        with obj.store() as store:
            if source:
                from watch.cli_support import require_sources

                require_sources([source], obj.config_if_any(), store)
            if expired:
                rows = expire(obj.config, store, dry_run=True)
            else:
                rows = erase(store, ids=ids, source=source, author=author, date_from=_moment(date_from, "--from"),
                             date_to=_moment(date_to, "--to", end=True), search=search, origin=origin, dry_run=True)
            shown = [{**row, "published_at": (row["published_at"] or "")[:10], "title": (row["title"] or "")[:70]}
                     for row in rows]
            if fmt == "table":
                emit(shown, fmt, table_columns=("id", "source", "origin", "published_at", "author", "title"))
            else:
                emit(rows, fmt)
            if not rows or dry_run:
                click.echo(tx("{n_rows} item(s) to delete; nothing was deleted (--dry-run)", n_rows=len(rows)) if dry_run
                           else tx("no item matches; nothing was deleted"), err=True)
                return
            if not yes:
                click.confirm(tx("Delete these {n_rows} item(s) for good?", n_rows=len(rows)), abort=True, err=True)
            if expired:
                done = expire(obj.config, store)
            else:
                done = erase(store, ids=[row["id"] for row in rows])
        click.echo(tx("{n_done} item(s) deleted, search index included.", n_done=len(done)), err=True)

    run()
