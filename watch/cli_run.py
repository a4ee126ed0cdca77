"""`veille run` and `veille status`: the scheduler, and what it is doing.

Thin wrappers like watch/cli.py: parse options, call one library function, print the result.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from datetime import datetime
from typing import Any

import click

from watch.errors import UsageError
from watch.i18n import tx
from watch.output import emit, format_option

SECTIONS = ("jobs", "sources", "digests")


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    from watch.config import duration_seconds

    try:
        return duration_seconds(value)
    except ValueError:
        raise UsageError(tx("--for {value!r} unreadable: write 30s, 10m, 2h", value=value)) from None


@click.command()
@click.option("--for", "run_for", metavar="DURATION",
              help=tx("Stop after this long (30s, 10m, 2h), as on SIGTERM: trials, soak tests."))
@click.option("--log-file", metavar="PATH",
              help=tx("Rotating job log (default: scheduler.log_file, else veille-run.log beside the database)."))
@click.pass_context
def run(ctx: click.Context, run_for: str | None, log_file: str | None) -> None:
    """Planifier la veille sans surveillance / keep the watch going unattended (the scheduler).

    Collects each source on its schedule, classifies after each collection, sends each audience's digest on its
    cron (time zone default Europe/Paris), retries pending deliveries, and does the housekeeping. Overdue jobs run
    once at start. One line per job on stderr and in a rotating log file.

    \b
    SIGTERM, SIGINT (Ctrl-C): no new job, running crawls stopped, running jobs waited for, exit 0.
    SIGHUP, or saving sources.yaml: schedule reloaded (an invalid file keeps the old one; errors logged).
    A second `veille run` on the same database refuses (exit 2); other commands keep working.

    \b
    Exemples / examples:
      veille run
      veille --config /etc/veille/sources.yaml run --log-file /var/log/veille/run.log
      veille run --for 10m             # essai de dix minutes / a ten-minute trial
    """
    from watch.cli_support import handle_errors
    from watch.scheduler import run_scheduler

    obj = ctx.obj
    verbose = ctx.parent.params.get("verbose", 0) if ctx.parent else 0

    @handle_errors
    def go() -> None:
        database = obj.db_path or os.environ.get("VEILLE_DB")
        sys.exit(run_scheduler(obj.config_path, database, run_for=_seconds(run_for), log_file=log_file,
                               verbose=verbose))

    go()


@click.command()
@click.option("--section", type=click.Choice(("all",) + SECTIONS), default="all", show_default=True,
              help=tx("Only jobs, sources or digests."))
@format_option
@click.pass_obj
def status(obj: Any, section: str, fmt: str) -> None:
    """État du planificateur / what the scheduler is doing.

    Whether `veille run` is up (pid, since when), each job's next run, last run, outcome, counts and error, each
    source's last outcome (failing sources with their error and backoff), the last digest of each audience and any
    delivery failure. Exit code 1 when something needs attention (a failing source, a failed job or delivery).

    \b
    Exemples / examples:
      veille status
      veille status --section sources --format json
      veille status --format jsonl | jq 'select(.outcome == "error")'
    """
    from watch.cli_support import err, handle_errors
    from watch.status import scheduler_status

    @handle_errors
    def go() -> None:
        with obj.store() as store:
            report = scheduler_status(obj.config, store)
        wanted = SECTIONS if section == "all" else (section,)
        if fmt == "json":
            document = {"scheduler": report.scheduler, **{name: getattr(report, name) for name in wanted}}
            click.echo(json.dumps(document, ensure_ascii=False, indent=2, default=str))
        elif fmt in ("jsonl", "csv"):
            rows = [{"section": name, **row} for name in wanted for row in getattr(report, name)]
            columns = list(dict.fromkeys(key for row in rows for key in row)) or ["section"]
            emit(rows, fmt, columns=columns)
        else:
            _print_tables(report, wanted, err)
        sys.exit(1 if report.attention else 0)

    go()


def _print_tables(report: Any, wanted: tuple[str, ...], err: Any) -> None:
    from rich.console import Console

    say = functools.partial(Console(highlight=False).print, markup=False)  # wrapped at the terminal's width
    holder = report.scheduler
    if holder:
        say(tx("Scheduler: running (pid {holder} on {holder2}, since {local})", holder=holder.get('pid'), holder2=holder.get('host'), local=_local(holder.get('since'))))
    else:
        say(tx("Scheduler: not running (veille run); next runs if it started now"))
    if "jobs" in wanted:
        rows = [{**job, "next_run": _local(job["next_run"]), "last_run": _local(job["last_run"]),
                 "duration": f"{job['duration_ms'] / 1000:.1f}s" if job["duration_ms"] is not None else "",
                 "counts": _counts(job["counts"]), "error": _short(job["error"])} for job in report.jobs]
        emit(rows, "table", title=tx("Jobs"), table_columns=("job", "schedule", "next_run", "outcome", "error"),
             wide_columns=("job", "schedule", "next_run", "last_run", "outcome", "duration", "counts", "error"))
    if "sources" in wanted:
        rows = [{**row, "last_success": _local(row["last_success"]), "backoff_until": _local(row["backoff_until"]),
                 "error": _short(row["error"])} for row in report.sources]
        emit(rows, "table", title=tx("Sources"),
             table_columns=("source", "status", "last_success", "failures", "error"),
             wide_columns=("source", "kind", "status", "last_success", "failures", "backoff_until", "error"))
        failing = [row["source"] for row in report.sources if row["status"] in ("failing", "gone")]
        if failing:
            err.print(tx("Failing: {failing}; `veille sources reset ID` once fixed", failing=', '.join(failing)), markup=False)
    if "digests" in wanted and report.digests:
        rows = [{**row, "next_run": _local(row["next_run"]), "sent_at": _local(row["sent_at"]),
                 "error": _short(row["error"])} for row in report.digests]
        emit(rows, "table", title=tx("Last digest per audience"),
             table_columns=("audience", "next_run", "period", "status", "items", "sent", "pending", "error"),
             wide_columns=("audience", "next_run", "period", "status", "items", "sent_at", "sent", "pending",
                           "failed", "error"))


def _local(value: str | None) -> str:
    """An ISO time in the machine's time zone, to the minute (the year only takes room in a table)."""
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone().strftime("%m-%d %H:%M")


def _short(text: str | None, limit: int = 70) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _counts(counts: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in counts.items() if value not in (None, "", 0) or key == "new")

