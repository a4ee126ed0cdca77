"""Crawls as jobs for a child process: what to crawl, how to run it, and what it did.

This module is the parent's side and imports neither Scrapy nor Twisted (the scheduler relies on it). A job is
written to a JSON file; `python -m spiders.crawl JOB` runs it and appends one JSON line per event (page fetched,
problem met, items stored, end) to the job's event file, flushed as it goes, so that a crawl that crashes or is
killed still says what it did. Items reach the store from the child, through `Store.ingest`, as they are found:
a stopped crawl keeps them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from watch.config import CollectSettings, Config, Source, source_locations
from watch.i18n import N_, tx
from watch.lifeline import child_env
from watch.models import FetchOutcome, utcnow

log = logging.getLogger(__name__)
STARTUP_ALLOWANCE_S = 20.0  # a child's imports and start, on top of the crawl's own time budget
# After SIGTERM, time for the child to close the crawl. Short: its pipeline stores items within a second of finding
# them, so the grace only lets Scrapy close; a slow page in flight is not waited for (it is fetched next time).
GRACE_S = 3.0
SHOWN_PER_KIND = 2          # example URLs quoted per kind of problem


class StopFlag(Protocol):
    """What stops a running crawl: a threading.Event, or anything that says whether it is set."""

    def is_set(self) -> bool: ...


@dataclass
class CrawlJob:
    """One crawl: a source, the spider that reads it, where items go and how long it may take."""

    source: dict[str, Any]             # the Source, as its model dumps it (ad-hoc crawls make one up)
    spider: str                        # a spider name of spiders/, or `package.module:Class`
    db: str
    collect: dict[str, Any] = field(default_factory=dict)  # CollectSettings
    origin: str = "spider"
    budget: float = 300.0              # seconds; Scrapy closes the crawl then (CLOSESPIDER_TIMEOUT)
    where: dict[str, str] = field(default_factory=dict)    # sources.yaml:line of the source and its options
    pages: list[dict[str, Any]] = field(default_factory=list)  # full text: {"item_id", "url"} to read
    events: str | None = None          # JSON-lines file the child reports to; None: in memory (scrapy crawl)
    log_level: str = "WARNING"

    @property
    def source_id(self) -> str:
        return self.source["id"]

    def source_model(self) -> Source:
        return Source.model_validate(self.source)

    def settings(self) -> CollectSettings:
        return CollectSettings.model_validate(self.collect)

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, default=str), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> CrawlJob:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def job_for_source(config: Config, source: Source, db: str | os.PathLike, **options: Any) -> CrawlJob:
    """The job that crawls a configured source (kind: spider), with the configuration's network settings."""
    where = source_locations(config, source.id, ("follow", "next_page", "sitemap", "spider"))
    options.setdefault("spider", source.spider_name)
    return CrawlJob(source=source.model_dump(mode="json"), db=str(db), collect=config.collect.model_dump(mode="json"),
                    budget=source.time_budget or config.collect.crawl_budget, where=where, **options)


# -- the child's events ------------------------------------------------------------------------------------


class EventLog:
    """What a crawl reports, one event at a time: to the job's file when there is one, else kept in memory."""

    def __init__(self, path: str | None = None):
        self.path = path
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._start = time.monotonic()

    def emit(self, event_name: str, **values: Any) -> None:
        event = {"e": event_name, "s": round(time.monotonic() - self._start, 3), **values}  # s: seconds into the crawl
        with self._lock:
            if self.path:
                # Opened per event: a crash or SIGKILL loses nothing already written.
                with open(self.path, "a", encoding="utf-8") as out:
                    out.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
            else:
                self.events.append(event)


def read_events(path: str | os.PathLike) -> list[dict[str, Any]]:
    events = []
    try:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    break  # a line cut short by a kill: the end of what the child said
    except FileNotFoundError:
        pass
    return events


PROBLEM_NAMES = {
    # kind: the line "N page(s) <name>: url, url", a msgid
    "robots": N_("{count} page(s) refused by robots.txt: "),
    "http": N_("{count} page(s) with an HTTP error: "),
    "too_large": N_("{count} page(s) too large, dropped: "),
    "offsite": N_("{count} page(s) redirected off the allowed domains: "),
    "refused_address": N_("{count} page(s) to a refused internal address: "),
    "no_text": N_("{count} page(s) without article text: "),
    "not_html": N_("{count} page(s) that are not HTML: "),
    "timeout": N_("{count} page(s) not answered in time: "),
    "network": N_("{count} page(s) unreachable: "),
    "error": N_("{count} page(s) with an extraction error: "),
    "empty_listing": N_("{count} page(s) of listing without article links: "),
    "ignored": N_("{count} page(s) dropped by Scrapy: "),
}


def summarise(job: CrawlJob, events: list[dict[str, Any]], outcome: FetchOutcome, *, exit_code: int | None = None,
              killed: str = "", log_tail: str = "") -> FetchOutcome:
    """Turn a crawl's events (and how its process ended) into the outcome recorded in `fetches`.

    The crawl failed (outcome error) when its start page could not be read, when the configuration cannot work
    (a selector that matches nothing), or when its process crashed or had to be killed; problems on single
    article pages are warnings: the crawl did its work and says what it could not read.
    """
    pages = [e for e in events if e["e"] == "page"]
    problems = [e for e in events if e["e"] == "problem"]
    closed = next((e for e in events if e["e"] == "closed"), None)
    outcome.pages = len(pages)
    outcome.bytes = sum(e.get("bytes", 0) for e in pages)
    outcome.http_status = pages[0].get("status") if pages else None
    for event in events:
        if event["e"] == "items":
            outcome.entries += event.get("entries", 0)
            outcome.new += event.get("new", 0)
            outcome.updated += event.get("updated", 0)

    errors = [p["detail"] for p in problems if p.get("config")]
    opened = next((e for e in events if e["e"] == "opened"), {})
    failed_starts = [p for p in problems if p.get("start")]
    if failed_starts and len({p["url"] for p in failed_starts}) >= opened.get("starts", 1):
        first = failed_starts[0]
        errors.append(tx("start page unreadable {url}: {detail}", url=first['url'], detail=first['detail']))
        problems = [p for p in problems if p is not first]
    warnings = _problem_summary([p for p in problems if not p.get("config")])

    seconds = f"{job.budget:.0f}"
    kept = tx("{new} new item(s) kept", new=outcome.new)
    if killed == "stop":
        outcome.outcome = "stopped"
        outcome.error = tx("stopped on request after {pages} page(s); {kept}", pages=outcome.pages, kept=kept)
    elif killed == "timeout":
        errors.insert(0, tx("no end after its {seconds} s budget: process stopped; {kept}", seconds=seconds, kept=kept))
    elif closed is None:
        detail = f" ({log_tail})" if log_tail else ""
        errors.insert(0, tx("the crawl process stopped unexpectedly (exit code {exit_code}){detail}; {kept}", exit_code=exit_code, detail=detail, kept=kept))
    elif closed.get("reason") == "closespider_timeout":
        warnings.insert(0, tx("time budget of {seconds} s reached: crawl stopped, {kept} (raise time_budget)", seconds=seconds, kept=kept))
    elif closed.get("reason") not in ("finished", None):
        warnings.insert(0, tx("crawl ended: {reason}", reason=closed['reason']))
    if outcome.outcome != "stopped":
        outcome.outcome = "error" if errors else "ok"
        outcome.error = "; ".join(errors)
    outcome.warning = "; ".join(warnings)
    return outcome


def _problem_summary(problems: list[dict[str, Any]]) -> list[str]:
    counts = Counter(p["kind"] for p in problems)
    lines = []
    for kind, count in counts.most_common():
        name = PROBLEM_NAMES.get(kind)
        examples = [f"{p['url']} ({p['detail']})" if p.get("detail") and kind in ("http", "network", "error", "offsite", "ignored",
                                                                               "refused_address")
                    else p["url"] for p in problems if p["kind"] == kind][:SHOWN_PER_KIND]
        more = "…" if count > SHOWN_PER_KIND else ""
        head = tx(name, count=count) if name else tx("{count} page(s) {kind}: ", count=count, kind=kind)
        lines.append(head + ", ".join(examples) + more)
    return lines


# -- running a job in its child process ----------------------------------------------------------------------


def run_crawl(job: CrawlJob, *, stop: StopFlag | None = None, python: str | None = None,
              allowance: float = STARTUP_ALLOWANCE_S, grace: float = GRACE_S) -> FetchOutcome:
    """Run one crawl in a child process and return what it did; never raises for what the crawl met.

    The child has the job's time budget (it stops itself then, keeping what it found) plus a start-up allowance;
    past that it is terminated, then killed. When `stop` is set meanwhile, the child gets SIGTERM (Scrapy closes
    the crawl and the pipeline stores what it holds), then SIGKILL after a short grace period.
    """
    outcome = FetchOutcome(job.source_id, job.source.get("url") or "", utcnow())
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="veille-crawl-") as work:
        folder = Path(work)
        job.events = str(folder / "events.jsonl")
        job.dump(folder / "job.json")
        # child_env: the crawl ends with this process, even one killed with SIGKILL (watch.lifeline).
        env = child_env({**os.environ, "SCRAPY_SETTINGS_MODULE": "spiders.settings", "PYTHONUNBUFFERED": "1"})
        with open(folder / "crawl.log", "wb") as log_file:
            try:
                child = subprocess.Popen([python or sys.executable, "-m", "spiders.crawl", str(folder / "job.json")],
                                         stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)  # a Ctrl-C in the terminal reaches us, not the child
            except OSError as exc:
                outcome.outcome, outcome.error = "error", tx("crawl could not start: {exc}", exc=exc)
                return outcome
            killed = _supervise(child, job.budget + allowance, stop, grace)
        log_tail = _last_error((folder / "crawl.log").read_text(encoding="utf-8", errors="replace"))
        summarise(job, read_events(job.events), outcome, exit_code=child.returncode, killed=killed, log_tail=log_tail)
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    log.info("crawl source=%s spider=%s outcome=%s pages=%d new=%d updated=%d ms=%d %s", job.source_id, job.spider,
             outcome.outcome, outcome.pages, outcome.new, outcome.updated, outcome.duration_ms,
             outcome.error or outcome.warning)
    return outcome


def _supervise(child: subprocess.Popen, deadline_s: float, stop: StopFlag | None, grace: float) -> str:
    """Wait for the child; '' when it ended by itself, 'stop' or 'timeout' when it had to be ended."""
    deadline = time.monotonic() + deadline_s
    try:
        while True:
            try:
                child.wait(timeout=0.1)
                return ""
            except subprocess.TimeoutExpired:
                pass
            reason = "stop" if stop is not None and stop.is_set() else "timeout" if time.monotonic() > deadline else ""
            if reason:
                _terminate(child, grace)
                return reason
    except BaseException:  # Ctrl-C or an error in the caller: the child, in its own session, must not outlive it
        _terminate(child, grace)
        raise


def _terminate(child: subprocess.Popen, grace: float) -> None:
    """SIGTERM (Scrapy closes the crawl cleanly), then SIGKILL after the grace period; then SIGKILL to what is left of
    its process group (extraction workers, multiprocessing's forkserver and resource tracker, which ignores SIGTERM):
    none of it may outlive the crawl."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(child.pid, sig)  # its own session: the child and anything it started
        except ProcessLookupError:
            return
        try:
            child.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)


def _last_error(log_text: str) -> str:
    """The last line of a crashed child's log that says what went wrong, for the recorded error."""
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line or "Traceback" in line:
            return line[-300:]
    return lines[-1][-300:] if lines else ""
