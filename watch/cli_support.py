"""What several commands share beyond parsing: errors turned into messages and exit codes, signals, times given
as `--since`, working without a sources.yaml, the demo's configuration, known sources.

An analyst's ad-hoc work (`veille collect --url`, `veille items`, `veille trends`) needs no configuration: without a
sources.yaml (and none named by --config or VEILLE_CONFIG) the defaults apply, the database under the current
folder (data/veille.db) unless --db says otherwise. Commands about the watch itself (sources, status, digests) still
ask for its configuration.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from watch import config as config_mod
from watch.collect import refuse_unknown_sources
from watch.errors import ConfigError, UsageError, VeilleError
from watch.untrusted import plain, shorten
from watch.i18n import tx, tx_n
from watch.source_rules import PIPELINE_LANGUAGES

if TYPE_CHECKING:
    from watch.feeds import ParsedFeed
    from watch.store import Store

DEMO_CONFIG = Path(__file__).with_name("demo") / "sources.yaml"  # the repo's sources.yaml, shipped with the package
_DEFAULTS = "company: {name: veille}\n"


def named_config(config_path: str | None) -> bool:
    """A configuration file was asked for (--config or VEILLE_CONFIG), rather than ./sources.yaml by default."""
    return bool(config_path or os.environ.get("VEILLE_CONFIG"))


def is_missing(exc: ConfigError) -> bool:
    """The configuration file does not exist (as opposed to a file with problems)."""
    return len(exc.problems) == 1 and exc.problems[0].line is None and not Path(exc.problems[0].file).exists()


def default_config() -> config_mod.Config:
    """The configuration of a folder without sources.yaml: every default, paths from the current folder."""
    config = config_mod.parse_config(_DEFAULTS, tx("(defaults)"), base=Path.cwd())
    return config.model_copy(update={"path": None})


def demo_config(config_path: str | None) -> Path | None:
    """Make sure the demo has its configuration; return the file written when it had to copy the demo's own.

    A named file, or a sources.yaml in the current folder (the repo's is the demo sector), is used as it is.
    Anywhere else the demo sector's configuration is copied to ./sources.yaml, so that the commands the demo
    suggests next work from the same folder.
    """
    target = Path(config_mod.DEFAULT_CONFIG)
    if named_config(config_path) or target.exists():
        return None
    shutil.copyfile(DEMO_CONFIG, target)
    return target.resolve()


def known_sources(config: config_mod.Config | None, store: Store) -> list[str]:
    """Ids a --source may name: the configured sources, and those the database knows (ad-hoc hosts, old ids)."""
    configured = [s.id for s in config.sources] if config else []
    return configured + [row["id"] for row in store.sources_overview() if row["id"] not in configured]


def require_sources(source_ids: list[str], config: config_mod.Config | None, store: Store) -> None:
    """Refuse an unknown source id with the closest known one, as `veille collect --source` does."""
    refuse_unknown_sources([s for s in source_ids if s], known_sources(config, store))


@dataclass(frozen=True)
class FeedLanguage:
    language: str
    how: str   # how it was chosen, for the message: "déclarée par le flux", "détectée dans 12 articles"


def feed_language(parsed: ParsedFeed, asked: str | None = None) -> FeedLanguage:
    """The language of a new feed source: the one asked for, else the one the feed declares (when there is a
    pipeline for it), else the one the project's detector finds in its entries' titles and summaries."""
    if asked:
        if asked not in PIPELINE_LANGUAGES:
            raise UsageError(tx("--language {asked!r}: supported languages {pipeline_languages}", asked=asked, pipeline_languages=', '.join(PIPELINE_LANGUAGES)))
        return FeedLanguage(asked, tx("as asked"))
    if parsed.language in PIPELINE_LANGUAGES:
        return FeedLanguage(parsed.language, tx("declared by the feed"))
    from nlp.language import detect_language

    text = re.sub(r"<[^>]*>", " ", " ".join(f"{e.title or ''}. {e.summary or ''}" for e in parsed.entries))
    language, _confidence, how = detect_language(text, PIPELINE_LANGUAGES)
    if how != "detected":
        return FeedLanguage(language, tx("by default: too little text to tell"))
    count = len(parsed.entries)
    return FeedLanguage(language, tx_n("detected in {n} entry", "detected in {n} entries", count))


err = Console(stderr=True, highlight=False)


def handle_errors(func):
    """Foreseeable problems become a readable message and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            click.echo(tx("Invalid configuration ({n_problems} problem(s)):", n_problems=len(exc.problems)), err=True)
            for problem in exc.problems:
                click.echo(f"  {shorten(plain(str(problem)))}", err=True)
            sys.exit(exc.exit_code)
        except VeilleError as exc:  # may quote a file's or a server's text: plain, and short enough to read
            click.echo(tx("Error: ") + shorten(plain(str(exc)), 2000), err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt as exc:  # Ctrl-C, or a signal turned into one by stopped_by_signals
            click.echo(tx("Interrupted."), err=True)
            sys.exit(128 + getattr(exc, "signum", signal.SIGINT))

    return wrapper


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM received by a command that stops what it started before it exits (128 + signal)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def stopped_by_signals():
    """SIGTERM ends the command as Ctrl-C does: an exception in the main thread, so that the crawls it started are
    stopped and recorded. Python's default for SIGTERM is to die on the spot, and the crawl processes, in sessions
    of their own, would outlive it. A second signal during the stop (a few seconds at most) is noted, not obeyed."""
    received: list[int] = []

    def interrupt(signum: int, _frame: object) -> None:
        received.append(signum)
        if len(received) == 1:
            raise Interrupted(signum)
        os.write(2, tx("Stopping…\n").encode())

    # A signal ignored by whoever started us (`veille collect &` in a script ignores SIGINT) stays ignored.
    previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGINT, signal.SIGTERM)
                if signal.getsignal(signum) != signal.SIG_IGN}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def parse_since(value: str | None, option: str = "--since") -> datetime | None:
    """`7d`, `12h`, `2w`, `30m` before now, or an ISO date/time (UTC when no zone is given)."""
    if not value:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", value)
    now = datetime.now(timezone.utc)
    if match:
        number, unit = int(match.group(1)), match.group(2)
        return now - timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: number})
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(tx("{option} {value!r} unreadable: write 7d, 12h, 2w or a date 2026-11-01", option=option, value=value)) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
