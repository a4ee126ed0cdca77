"""The digest commands of `veille`: preview, send, list and alerts, and the suppression list.

Thin wrappers like watch/cli.py: parse options, call one function of the digest stage, print the result.
The stage is imported inside each command so that `veille --help` does not load Babel and the templates.
"""

from __future__ import annotations

import sys
from datetime import datetime

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from watch.errors import UsageError
from watch.i18n import tx
from watch.output import FORMATS, emit, raw_option, wide_option

RESULT_COLUMNS = ("audience", "period", "status", "items", "sent", "pending", "failed", "suppressed", "error", "path")


def _format_option(default: str = "table"):
    option = click.option("--format", "fmt", type=click.Choice(FORMATS), default=default, show_default=True,
                          help="table | json | jsonl | csv")
    return lambda command: option(wide_option(raw_option(command)))


def _result_rows(report) -> list[dict]:
    return [{"audience": r.audience, "period": r.period, "status": r.status, "items": r.items, "sent": r.sent,
             "pending": r.pending, "failed": r.failed, "suppressed": r.suppressed, "error": r.error,
             "path": str(r.path) if r.path else None, "eml": [str(p) for p in r.eml]} for r in report.results]


def _say_where_it_went(report, err) -> None:
    if report.dry_run:
        err.print(tx("Dry run: nothing was stored or sent."))
    elif report.smtp is None:
        written = [str(p) for r in report.results for p in r.eml]
        err.print(tx("VEILLE_SMTP_URL is not set: nothing was sent, deliveries stay pending. Briefs written to "
                    "the archive (.html and .eml):"), markup=False)
        for path in [str(r.path) for r in report.results if r.path] + written:
            err.print(f"  {path}", markup=False, highlight=False)
    else:
        err.print(tx("SMTP server: {smtp}", smtp=report.smtp), markup=False)
    for result in report.results:
        if result.error and result.error != "night":
            err.print(f"{result.audience}: {result.error}", markup=False, highlight=False)


def _exit_code(report) -> int:
    """1 when a delivery failed (a recipient refused included), is uncertain, is held, or waits on a configured
    server that did not take it; 0 otherwise."""
    troubled = [r for r in report.results if r.status == "failed" or r.failed
                or (r.status in ("pending", "uncertain") and report.smtp and r.error)]
    return 1 if troubled and not report.dry_run else 0


@click.group()
def digest() -> None:
    """Bulletins par audience / digests for each audience (preview, send, list, alerts)."""


@digest.command()
@click.option("--audience", "audience_id", required=True, metavar="ID", help=tx("Audience id from sources.yaml."))
@click.option("--period", metavar="PERIOD", help=tx("ISO week (2026-W47) or day (2026-11-23); default: the "
                                                   "current one."))
@click.pass_obj
def preview(obj, audience_id: str, period: str | None) -> None:
    """Aperçu d'un bulletin / preview a digest: write its HTML and print the path (nothing is marked delivered).

    A period already built shows the digest as it was built; otherwise the selection is made now.

    \b
    Exemples / examples:
      veille digest preview --audience direction
      veille digest preview --audience rd --period 2026-W47
    """
    from digests import preview_digest
    from watch.cli_support import err, handle_errors

    @handle_errors
    def run() -> None:
        config = obj.config
        with obj.store() as store:
            shown = preview_digest(config, store, audience_id, period)
        err.print(tx("{audience_id} {period}: {items} item(s)", audience_id=audience_id, period=shown.period,
                     items=shown.items) + (tx(" (digest already built)") if shown.stored else ""), markup=False)
        click.echo(str(shown.path))

    run()


@digest.command()
@click.option("--audience", "audience_ids", multiple=True, metavar="ID", help=tx("Only this audience (repeatable)."))
@click.option("--dry-run", is_flag=True, help=tx("Select and count; store, archive and send nothing."))
@_format_option()
@click.pass_obj
def send(obj, audience_ids: tuple[str, ...], dry_run: bool, fmt: str) -> None:
    """Construire et envoyer les bulletins / build and send the digests.

    Each audience's digest of the current period is built once; every delivery still pending (an earlier SMTP
    outage included) is sent, and nothing twice. SMTP from VEILLE_SMTP_URL (smtp://user:password@host:587 with
    STARTTLS, or smtps://host:465); without it the digests are written to the archive as .html and .eml and the
    deliveries stay pending. Exit code 1 when a delivery failed or the server could not be reached.

    \b
    Exemples / examples:
      veille digest send
      veille digest send --audience direction --dry-run
      VEILLE_SMTP_URL=smtp://veille:secret@mail.example.org:587 veille digest send
    """
    from digests import run_digests
    from watch.cli_support import err, handle_errors

    @handle_errors
    def run() -> None:
        config = obj.config
        with obj.store() as store:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err,
                          transient=True) as bar:
                task = bar.add_task(tx("digests"), total=len(audience_ids or config.audiences))
                report = run_digests(config, store, list(audience_ids) or None, send=not dry_run,
                                     progress=lambda done, total, name: bar.update(task, completed=done, description=name))
        emit(_result_rows(report), fmt,
             table_columns=("audience", "period", "status", "items", "sent", "pending", "failed", "error"),
             title=tx("Digests"))
        _say_where_it_went(report, err)
        sys.exit(_exit_code(report))

    run()


@digest.command("list")
@click.option("--audience", "audience_id", metavar="ID", help=tx("Only this audience."))
@click.option("--alerts", is_flag=True, help=tx("List same-day alerts instead of digests."))
@_format_option()
@click.pass_obj
def list_(obj, audience_id: str | None, alerts: bool, fmt: str) -> None:
    """Bulletins construits / built digests, newest first, with their deliveries.

    `uncertain` counts deliveries whose outcome is unknown (the SMTP server may have received the message when
    `veille digest send` was stopped): they are held until `held_until`, then sent again with the same Message-ID.

    \b
    Exemples / examples:
      veille digest list
      veille digest list --audience direction --format json
    """
    from watch.cli_support import handle_errors

    @handle_errors
    def run() -> None:
        with obj.store() as store:
            rows = store.digests_list(audience_id, kind="alert" if alerts else "digest")
        for row in rows:
            row["cutoff"] = (row["cutoff"] or "")[:16]
            row["sent_at"] = (row["sent_at"] or "")[:16]
            if row["held_until"] and fmt == "table":  # when the held deliveries are sent again, in local time
                row["held_until"] = datetime.fromisoformat(row["held_until"]).astimezone().strftime("%m-%d %H:%M")
        emit(rows, fmt, table_columns=("id", "audience", "period", "status", "items", "sent", "pending", "uncertain",
                                       "held_until", "last_error"),
             wide_columns=("id", "audience", "period", "cutoff", "status", "items", "sent", "pending", "uncertain",
                           "held_until", "failed", "sent_at", "last_error"),
             empty=tx("No digest built yet: `veille digest send` builds them (without an SMTP server, into the "
                     "archive).") if not alerts else
             tx("No alert sent yet."),
             title=tx("Alerts") if alerts else tx("Digests"))

    run()


@digest.command()
@click.option("--dry-run", is_flag=True, help=tx("Count the alerts due; store and send nothing."))
@_format_option()
@click.pass_obj
def alerts(obj, dry_run: bool, fmt: str) -> None:
    """Alertes du jour / same-day alerts: one e-mail per new item above an audience's alert threshold.

    The scheduler runs this after each classification; each item is alerted once, never at night
    (21:00-07:00 in the audience's time zone) unless its `alerts: {night: true}`.

    \b
    Exemples / examples:
      veille digest alerts
      veille digest alerts --dry-run --format json
    """
    from digests import run_alerts
    from watch.cli_support import err, handle_errors

    @handle_errors
    def run() -> None:
        with obj.store() as store:
            report = run_alerts(obj.config, store, send=not dry_run)
        emit(_result_rows(report), fmt, table_columns=("audience", "status", "items", "sent", "pending", "failed", "error"),
             title=tx("Alerts"))
        _say_where_it_went(report, err)
        sys.exit(_exit_code(report))

    run()


def _suppression(obj, email: str, add: bool) -> None:
    """Put an address on the suppression list, or take it off, and say what changed."""
    from digests.message import address_problem
    from watch.cli_support import handle_errors

    @handle_errors
    def run() -> None:
        problem = address_problem(email.strip())
        if problem:
            raise UsageError(f"{email!r}: {problem}")
        address = email.strip().lower()
        with obj.store() as store:
            changed = store.suppress(address) if add else store.unsuppress(address)
        if add:
            click.echo(tx("{address}: added to the suppression list", address=address) if changed
                       else tx("{address}: already on the suppression list", address=address))
        else:
            click.echo(tx("{address}: removed from the suppression list", address=address) if changed
                       else tx("{address}: not on the suppression list", address=address))

    run()


@click.command()
@click.argument("email")
@click.pass_obj
def unsubscribe(obj, email: str) -> None:
    """Ne plus rien envoyer à une adresse / stop sending to an address (suppression list, honoured at every send).

    \b
    Exemple / example:
      veille unsubscribe dg@cyclonova.example
    """
    _suppression(obj, email, add=True)


@click.command()
@click.argument("email")
@click.pass_obj
def resubscribe(obj, email: str) -> None:
    """Envoyer de nouveau à une adresse / send to an address again (remove it from the suppression list).

    \b
    Exemple / example:
      veille resubscribe dg@cyclonova.example
    """
    _suppression(obj, email, add=False)


COMMANDS = (digest, unsubscribe, resubscribe)
