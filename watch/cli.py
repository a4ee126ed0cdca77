"""The `veille` command: thin wrappers that parse options, call one library function and print its result.

Library code raises VeilleError subclasses; only this module turns them into a message and an exit code
(0 all good, 1 some sources failed, 2 usage or configuration error). No traceback for a foreseeable problem.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from watch import config as config_mod
from watch.cli_support import (default_config, demo_config, err, feed_language, handle_errors, is_missing,
                               named_config, require_sources, stopped_by_signals)
from watch.collect import collect as run_collect
from watch.errors import ConfigError, UsageError
from watch.feeds import discover_feed
from watch.i18n import tx, tx_n
from watch.output import emit, format_option
from watch.store import Store
from watch.untrusted import plain

class Context:
    """What every command may need, built lazily: the configuration and the database."""

    def __init__(self, config_path: str | None, db_path: str | None):
        self.config_path = config_path
        self.db_path = db_path
        self._config: config_mod.Config | None = None

    @property
    def config(self) -> config_mod.Config:
        if self._config is None:
            config = config_mod.load_config(self.config_path)
            archive = os.environ.get("VEILLE_ARCHIVE")
            if archive:  # like VEILLE_DB: another archive folder without editing sources.yaml
                config = config.model_copy(update={"delivery": config.delivery.model_copy(
                    update={"archive": Path(archive)})})
            self._config = config
        return self._config

    def config_or_defaults(self) -> config_mod.Config:
        """The configuration, or the defaults when there is no sources.yaml here and none was named: for ad-hoc
        work that needs no watch (collect --url, items, trends)."""
        try:
            return self.config
        except ConfigError as exc:
            if named_config(self.config_path) or not is_missing(exc):
                raise
            return default_config()

    def config_if_any(self) -> config_mod.Config | None:
        """The configuration, or None where there is none (or it has problems): for checks that also work without."""
        try:
            return self.config
        except ConfigError:
            return None

    def store(self) -> Store:
        path = self.db_path or os.environ.get("VEILLE_DB")
        return Store.open(path or self.config_or_defaults().database)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--config", "config_path", metavar="PATH",
              help=tx("sources.yaml to use (default ./sources.yaml or $VEILLE_CONFIG)."))
@click.option("--db", "db_path", metavar="PATH",
              help=tx("SQLite database (default from sources.yaml, or $VEILLE_DB; without a configuration "
                     "data/veille.db under the current folder)."))
@click.option("-v", "--verbose", count=True, help=tx("More log lines on stderr (-vv for debug)."))
@click.version_option(package_name="veille", help=tx("Show the version and exit."))
@click.pass_context
def main(ctx: click.Context, config_path: str | None, db_path: str | None, verbose: int) -> None:
    """veille: veille marchés et concurrents / market and competitor watch.

    \b
    Exemples / examples:
      veille demo                      # secteur de démonstration, hors ligne
      veille collect                   # collecter toutes les sources
      veille items --since 7d --search rachat --format json
    """
    logging.basicConfig(level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(config_path, db_path)


@main.command()
@click.option("--source", "source_ids", multiple=True, metavar="ID",
              help=tx("Only this source (repeatable)."))
@click.option("--url", "urls", multiple=True, metavar="URL",
              help=tx("Ad-hoc feed not in the configuration (origin adhoc); works without a sources.yaml."))
@click.option("--follow", metavar="SELECTOR",
              help=tx("With --url: crawl it as a listing page and follow the article links this CSS (or XPath) "
                     "selector matches."))
@click.option("--no-classify", is_flag=True, help=tx("Store only; leave classification for later."))
@format_option
@click.pass_obj
@handle_errors
def collect(obj: Context, source_ids: tuple[str, ...], urls: tuple[str, ...], follow: str | None, no_classify: bool,
            fmt: str) -> None:
    """Collecter les sources / collect the sources.

    Exit code 0 when every source was read, 1 when some failed, 2 on a usage or configuration error, 130 when
    interrupted by Ctrl-C (143 by SIGTERM): running crawls are then stopped and recorded within a few seconds.

    \b
    Exemples / examples:
      veille collect
      veille collect --source veloce-news --source cyclehebdo
      veille collect --url https://example.org/feed.xml
      veille collect --url https://example.org/news/ --follow "article h2 a"
    """
    if follow and not urls:
        raise UsageError(tx("--follow goes with --url (the listing page to crawl)"))
    # Ad-hoc URLs alone need no watch configuration; named sources do.
    config = obj.config_or_defaults() if urls and not source_ids else obj.config
    with obj.store() as store, stopped_by_signals():
        total = len(source_ids) + len(urls) if (source_ids or urls) else len(config.sources)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=True) as bar:
            task = bar.add_task(tx("collecting"), total=total)
            try:
                report = run_collect(config, store, source_ids, urls, follow=follow,
                                     progress=lambda o: bar.update(task, advance=1, description=o.source_id))
            except KeyboardInterrupt:
                bar.stop()
                err.print(tx("Collection interrupted: the running crawls were stopped and recorded as 'stopped' "
                            "(veille sources list); items already stored are kept."), markup=False)
                raise
        if not no_classify and (report.new or report.updated):
            from watch.cli_nlp import run_classification

            classified = run_classification(config, store, console=err)
            err.print(tx("{classified} item(s) classified", classified=classified.classified))
    rows = [{"source": o.source_id, "outcome": o.outcome, "http": o.http_status, "pages": o.pages, "entries": o.entries,
             "new": o.new, "updated": o.updated, "ms": o.duration_ms, "problem": o.error or o.warning}
            for o in report.outcomes]
    emit(rows, fmt, title=tx("Collection"), table_columns=("source", "outcome", "new", "updated", "problem"))
    err.print(tx_n("{n} new item", "{n} new items", report.new) + ", "
              + tx_n("{n} updated", "{n} updated", report.updated) + ", "
              + tx_n("{n} source failed", "{n} sources failed", len(report.failed))
              + tx("; database: {path}", path=store.path), markup=False)
    sys.exit(1 if report.failed else 0)


@main.group()
def sources() -> None:
    """Gérer les sources / manage the sources (list, check, add, reset)."""


@sources.command("list")
@format_option
@click.pass_obj
@handle_errors
def sources_list(obj: Context, fmt: str) -> None:
    """Sources configurées et leur état / configured sources and their state.

    \b
    Exemple / example:
      veille sources list --format json
    """
    config = obj.config
    with obj.store() as store:
        store.sync_sources(config.sources)
        state = {row["id"]: row for row in store.sources_overview()}
    rows = []
    for source in config.sources:
        row = state.get(source.id, {})
        rows.append({"id": source.id, "kind": source.kind, "type": source.type, "lang": source.language,
                     "grade": source.reliability, "status": row.get("status"), "items": row.get("items", 0),
                     "last_success": (row.get("last_success_at") or "")[:16], "failures": row.get("failures", 0),
                     "last_error": row.get("last_error") or "", "url": source.url})
    emit(rows, fmt, table_columns=("id", "kind", "status", "items", "last_error"),
         wide_columns=("id", "kind", "type", "lang", "grade", "status", "items", "last_success", "failures",
                       "last_error", "url"))


@sources.command("check")
@click.pass_obj
@handle_errors
def sources_check(obj: Context) -> None:
    """Valider sources.yaml / validate sources.yaml (every problem, file:line, hint; exit 2 if any).

    Besides loading it, refuses a source language without a pipeline (fr and en have one) and warns about a
    source without a legitimacy note.

    \b
    Exemples / examples:
      veille sources check
      veille --config autre/sources.yaml sources check
    """
    from watch.source_rules import source_rules

    config = obj.config
    problems, warnings = source_rules(config)
    for warning in warnings:
        click.echo(tx("Warning: ") + str(warning), err=True)
    if problems:
        raise ConfigError(problems)
    counts = {k: len(getattr(config, k)) for k in ("themes", "competitors", "sources", "audiences")}
    click.echo(tx("{path} is valid: {themes} themes, {competitors} competitors, {sources} sources, {audiences} "
                 "audiences.", path=config.path, themes=counts['themes'], competitors=counts['competitors'], sources=counts['sources'], audiences=counts['audiences']))


@sources.command("reset")
@click.argument("source_ids", nargs=-1, required=True, metavar="ID...")
@click.pass_obj
@handle_errors
def sources_reset(obj: Context, source_ids: tuple[str, ...]) -> None:
    """Reprendre une source (410, échecs) / collect a source again (after 410, failures).

    \b
    Exemple / example:
      veille sources reset veloce-news
    """
    with obj.store() as store:
        require_sources(list(source_ids), obj.config_if_any(), store)
        for source_id in source_ids:
            if not store.reset_source(source_id):
                raise UsageError(tx("source {source_id!r} not in the database", source_id=source_id))
            click.echo(tx("{source_id}: reset, fetched in full at the next run", source_id=source_id))


@sources.command("add")
@click.argument("url")
@click.option("--id", "source_id", metavar="ID", help=tx("Source id (default: from the feed's title)."))
@click.option("--type", "source_type", default="press", show_default=True,
              type=click.Choice(["press", "trade-press", "competitor", "institutional", "blog", "social", "field"]),
              help=tx("Type of the source."))
@click.option("--reliability", default="F", show_default=True, type=click.Choice(list("ABCDEF")),
              help=tx("Admiralty grade of the source (F = cannot be judged yet)."))
@click.option("--language", metavar="CODE", help=tx("Language of the source (default: the one the feed declares, "
                                                   "else detected from its entries)."))
@click.option("--theme", "themes", multiple=True, metavar="ID",
              help=tx("Theme id this source covers (repeatable)."))
@click.pass_obj
@handle_errors
def sources_add(obj: Context, url: str, source_id: str | None, source_type: str, reliability: str,
                language: str | None, themes: tuple[str, ...]) -> None:
    """Trouver le flux d'une page et l'ajouter / find a page's feed and add it to sources.yaml.

    Autodiscovery (<link rel="alternate">, then usual paths such as /feed); the feed is fetched and checked,
    then a commented entry is added at the end of the sources list, keeping the file's comments. The language is
    the one the feed declares, else the one detected in its entries (fr or en).

    \b
    Exemple / example:
      veille sources add https://www.example.org/blog/ --type blog --theme urban-mobility
    """
    config = obj.config
    feed_url, parsed = discover_feed(url, config.collect)
    chosen = feed_language(parsed, language)
    entry = config_mod.append_source(config.path, feed_url, parsed.title, chosen.language,
                                     source_id=source_id, source_type=source_type, reliability=reliability,
                                     themes=list(themes), entries=len(parsed.entries))
    entries = tx_n("{n} entry", "{n} entries", len(parsed.entries))
    click.echo(tx("Source {entry!r} added to {path}: {feed_url} ({entries}, language {language} {how}). "
                  "Fill in reliability, country and legitimacy.", entry=entry, path=config.path, feed_url=feed_url,
                  entries=entries, language=chosen.language, how=chosen.how))


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help=tx("Overwrite an existing sources.yaml."))
@handle_errors
def init(directory: Path, force: bool) -> None:
    """Écrire une configuration de départ commentée / write a commented starter configuration.

    \b
    Exemple / example:
      veille init ma-veille && cd ma-veille && veille sources check
    """
    target = config_mod.write_starter(directory, force=force)
    click.echo(tx("Configuration written: {target}. Adapt it, then run `veille sources check`.", target=target))


DEMO_DIGESTS = ("direction", "marketing", "rd", "partners")


def _latest_by_origin(items: list[dict]) -> list[dict]:
    """One row per origin (feed, spider, page_change, offline…): how many items and the latest one."""
    rows: dict[str, dict] = {}
    for item in items:  # newest first
        row = rows.setdefault(item["origin"], {"origin": item["origin"], "items": 0, "source": item["source"],
                                               "latest": (item["title"] or "")[:70]})
        row["items"] += 1
    return list(rows.values())


@main.command()
@click.option("--serve", is_flag=True, help=tx("Keep the demo server running (Ctrl-C stops it)."))
@click.option("--port", type=int, default=8765, show_default=True,
              help=tx("Preferred port on 127.0.0.1."))
@click.option("--smtp", metavar="HOST:PORT",
              help=tx("Also send the four demo digests to this SMTP server (no TLS, no login)."))
@click.pass_obj
@handle_errors
def demo(obj: Context, serve: bool, port: int, smtp: str | None) -> None:
    """Secteur de démonstration hors ligne / the offline demo sector.

    Starts a local server for the demo sector's feeds, collects them over HTTP into the database, classifies
    them and previews the direction, marketing, R&D and partners digests into the archive (their paths are printed).
    With --smtp the four digests are sent to that server (for example `python -m aiosmtpd -n -l
    127.0.0.1:8025` prints what it receives). With --serve the server stays up for other commands.
    Runs from any folder: without a sources.yaml there, the demo sector's configuration is copied into it
    (database and archive under data/, or --db).

    \b
    Exemples / examples:
      veille demo
      veille demo --smtp 127.0.0.1:8025
      veille demo --serve          # then, in another terminal: veille collect
    """
    from watch.demo import DemoServer  # only this command needs the demo server
    from watch.demo.notes import dated_field_notes
    from watch.offline import import_notes

    if smtp and not re.fullmatch(r"[\w.-]+:\d{1,5}", smtp):
        raise UsageError(tx("--smtp {smtp!r}: write HOST:PORT, for example 127.0.0.1:8025", smtp=smtp))
    written = demo_config(obj.config_path)
    if written:
        err.print(tx("The demo sector's configuration was copied to {written}: the next commands read it from "
                    "this folder.", written=written), markup=False)
    # The demo's pricing page moves to its next revision once the database has seen it, so that the second run
    # shows a page change. Read with a throwaway context: the configuration's URLs are not known yet.
    with Context(obj.config_path, obj.db_path).store() as store:
        revision = 2 if store.counts()["page_snapshots"] else 1
    server = DemoServer.find("127.0.0.1", port, revision=revision)
    with server:
        # The demo configuration writes its URLs ${VEILLE_DEMO_URL:-http://127.0.0.1:8765}/...
        os.environ["VEILLE_DEMO_URL"] = server.base_url
        err.print(tx("Demo server: {base_url}", base_url=server.base_url))
        config = obj.config
        with obj.store() as store:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err,
                          transient=True) as bar:
                task = bar.add_task(tx("collecting"), total=len(config.sources))
                report = run_collect(config, store, progress=lambda o: bar.update(task, advance=1))
            notes = import_notes(config, store, dated_field_notes(store.path.parent), "demo")
            from watch.cli_nlp import run_classification

            classified = run_classification(config, store, console=err)
            counts = store.counts()
            latest = store.items(limit=5)
            by_origin = _latest_by_origin(store.items())
            changes = [store.items(source=o.source_id, limit=1)[0] for o in report.outcomes
                       if o.new and config.source(o.source_id).kind == "page"]
        rows = [{"source": o.source_id, "outcome": o.outcome, "entries": o.entries, "new": o.new,
                 "updated": o.updated, "problem": o.error or o.warning} for o in report.outcomes]
        emit(rows, "table", title=tx("Demo sector collection"),
             table_columns=("source", "outcome", "new", "problem"))
        emit([{"date": r["published_at"][:10], "source": r["source"], "title": r["title"][:80]} for r in latest],
             "table", title=tx("Latest items"))
        emit(by_origin, "table", title=tx("By origin (feed, spider, …)"))
        for change in changes:
            click.echo(tx("Page change detected") + f" ({change['source']}) : "
                       + plain(f"{change['title']}\n{change['text']}\n"))
        new_notes = notes.count("new") + notes.count("updated")
        kept = len(notes.rows) - new_notes
        click.echo(tx("Field notes: {imported} from {file} ({kept}); veille items --source salons",
                      imported=tx_n("{n} imported", "{n} imported", new_notes), file=notes.file,
                      kept=tx_n("{n} already there", "{n} already there", kept)))
        report_new = report.new + notes.count("new")
        click.echo(", ".join((tx_n("{n} new item", "{n} new items", report_new),
                              tx_n("{n} updated", "{n} updated", report.updated),
                              tx_n("{n} classified", "{n} classified", classified.classified)))
                   + tx("; {counted} from {counted2} in {path}\nNext: veille items --published 7d · veille items "
                       "--search acquisition · veille sources list", counted=tx_n("{n} item", "{n} items", counts['items']), counted2=tx_n("{n} source", "{n} sources", counts['sources']), path=store.path))
        _demo_digests(obj, smtp)
        if serve:
            err.print(tx("The server stays up on {base_url} (Ctrl-C stops it). In another terminal: export "
                        "VEILLE_DEMO_URL={base_url}", base_url=server.base_url), markup=False)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                err.print(tx("Server stopped."))
    sys.exit(1 if report.failed else 0)


def _demo_digests(obj: Context, smtp: str | None) -> None:
    """The demo's last step: the four briefs in the archive (previews), or sent to `smtp` (HOST:PORT)."""
    from digests import preview_digest, run_digests

    config = obj.config
    with obj.store() as store:
        if smtp:
            os.environ["VEILLE_SMTP_URL"] = f"smtp://{smtp}"
            report = run_digests(config, store, list(DEMO_DIGESTS))
            emit([{"audience": r.audience, "period": r.period, "status": r.status, "items": r.items, "sent": r.sent,
                   "error": r.error} for r in report.results], "table", title=tx("Digests sent"))
        paths = [preview_digest(config, store, audience_id) for audience_id in DEMO_DIGESTS]
    click.echo(tx("Demo digests (open them in a browser):"))
    for shown in paths:
        click.echo(f"  {shown.path}")


from watch.cli_digests import COMMANDS as _DIGEST_COMMANDS  # noqa: E402
from watch.cli_nlp import classify as _classify, label as _label, nlp as _nlp, trends as _trends  # noqa: E402

for _command in (_classify, _label, _nlp, _trends, *_DIGEST_COMMANDS):
    main.add_command(_command)

from watch.cli_items import items as _items  # noqa: E402
from watch.cli_offline import add as _add, delete as _delete, import_ as _import  # noqa: E402

main.add_command(_items)
main.add_command(_add)
main.add_command(_import)
_items.add_command(_delete)

from watch.cli_run import run as _run, status as _status  # noqa: E402

main.add_command(_run)
main.add_command(_status)

from watch.cli_plan import audit as _audit, plan as _plan  # noqa: E402

main.add_command(_plan)
sources.add_command(_audit)

if __name__ == "__main__":
    main()
