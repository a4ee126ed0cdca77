"""What each scheduled job does: one stage entry function each, and a result the scheduler logs and records.

The scheduler (watch.scheduler) decides when; these functions only combine the stages' entry functions, each on
its own database connection. Stages are imported inside the functions: `veille status` reads this module's
neighbours without loading spaCy, and a crawl is always a child process (the scheduler never imports Twisted).
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from watch.config import Config
from watch.i18n import tx
from watch.lifeline import child_env, end_with_parent
from watch.models import utcnow
from watch.schedule import JobSpec
from watch.store import Store


@dataclass
class JobResult:
    outcome: str                      # ok | error | skipped | pending | interrupted
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    found_new: bool = False           # a collection stored something new or changed: classification follows
    trigger: str | None = None        # what made it run besides its schedule (the collections a pass classifies)


def collect_source(config: Config, store: Store, spec: JobSpec, stop: threading.Event) -> JobResult:
    """One source, as `veille collect` would read it in a run over everything: backoff and HTTP 410 respected."""
    from watch.collect import collect

    source = config.source(spec.target)
    # A configuration holding only this source: collect() then applies backoff, which it skips for named sources.
    only = config.model_copy(update={"sources": [source]})
    report = collect(only, store, stop=stop)  # a stop ends a running crawl: SIGTERM, then SIGKILL after a grace
    if not report.outcomes:
        return JobResult("skipped", error="nothing to collect")
    fetch = report.outcomes[0]
    outcome = {"ok": "ok", "not_modified": "ok", "skipped": "skipped", "stopped": "interrupted"}.get(fetch.outcome,
                                                                                                    "error")
    counts = {"fetch": fetch.outcome, "http": fetch.http_status, "entries": fetch.entries, "new": fetch.new,
              "updated": fetch.updated, "pages": fetch.pages or None}
    return JobResult(outcome, counts, fetch.error or (fetch.warning if outcome == "error" else None) or None,
                     found_new=bool(fetch.new or fetch.updated))


def classify_items(config: Config, store: Store, stop: threading.Event) -> JobResult:
    """Classify what is waiting, in a child process that a stop terminates, then same-day alerts.

    The child holds the spaCy pipelines (hundreds of MB) only for the pass, so the scheduler stays small however
    long it runs; a SIGTERM there loses nothing written (each chunk of results is one transaction, and the items
    left are classified by the next pass). It runs in its own session, so that stopping it reaches the processes it
    may start for a large batch, and a Ctrl-C in the terminal reaches the scheduler only.
    """
    if not store.ids_to_classify():
        return JobResult("ok", {"classified": 0})  # nothing new: no pipelines to load, no stories to regroup
    child = subprocess.Popen([sys.executable, "-m", "watch.jobs", "classify", str(store.path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                             env=child_env())  # it ends with the scheduler, even one killed with SIGKILL
    # Pickled, not re-read from sources.yaml: the file may have changed since (or be invalid, the old schedule kept).
    pending_input: bytes | None = pickle.dumps(config)
    while True:
        try:
            out, err = child.communicate(pending_input, timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            pending_input = None  # sent with the first call
            if stop.is_set():
                _stop_group(child)
                return JobResult("interrupted", error=tx("classification stopped (SIGTERM); resumed at the next pass"))
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1])
    except (IndexError, ValueError):
        last = (err.decode(errors="replace").strip().splitlines() or [""])[-1]
        answer = {"error": tx("the classification process ended (exit code {returncode}): {last}", returncode=child.returncode, last=last)}
    if "error" in answer:
        return JobResult("error", error=answer["error"])
    if answer["classified"] and any(audience.alerts for audience in config.audiences):
        answer.update(send_alerts(config, store))
    return JobResult("ok", answer)


def _stop_group(child: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM to the child's session, SIGKILL after `grace` seconds."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            return
        try:
            child.communicate(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _classify_main(database: str) -> int:
    """`python -m watch.jobs classify DB`: the pickled configuration on stdin, the counts as JSON on stdout."""
    end_with_parent()
    config = pickle.loads(sys.stdin.buffer.read())  # from the parent scheduler only
    try:
        from nlp.stage import classify

        with Store.open(database) as store:
            report = classify(config, store)
    except Exception as exc:  # said to the parent, which records it as the job's error
        print(json.dumps({"error": str(exc) or type(exc).__name__}))
        return 1
    print(json.dumps({"classified": report.classified, "scored": report.scored, "stories": report.stories}))
    return 0


def send_alerts(config: Config, store: Store) -> dict[str, int]:
    """Same-day alerts for the audiences that asked for them, right after classification scored the new items."""
    from digests import run_alerts

    report = run_alerts(config, store)
    return {"alerts_sent": sum(r.sent for r in report.results),
            "alerts_pending": sum(r.pending for r in report.results)}


def _classify_in_child(config: Config, database: str, sender: multiprocessing.connection.Connection) -> None:
    try:
        from nlp.stage import classify

        with Store.open(database) as store:
            report = classify(config, store)
        sender.send({"classified": report.classified, "scored": report.scored, "stories": report.stories})
    except Exception as exc:  # said to the parent, which records it as the job's error
        sender.send({"error": str(exc) or type(exc).__name__})
    finally:
        sender.close()


def send_digest(config: Config, store: Store, spec: JobSpec, now: datetime | None = None) -> JobResult:
    """Build the audience's digest of the current period (once) and deliver it; a delivery the SMTP server did not
    take stays pending for the `deliveries` job."""
    from digests import run_digests

    report = run_digests(config, store, [spec.target], now=now)
    result = report.results[0]
    outcome = {"sent": "ok", "empty": "ok", "skipped": "ok", "pending": "pending"}.get(result.status, "error")
    counts = {"period": result.period, "status": result.status, "items": result.items, "built": int(result.built),
              "sent": result.sent, "pending": result.pending}
    error = result.error
    if report.smtp is None and result.pending:
        error = tx("VEILLE_SMTP_URL not set: digest written as .eml (one per recipient) beside its archive page")
    return JobResult(outcome, counts, error)


def retry_deliveries(config: Config, store: Store, digest_jobs: list[JobSpec], now: datetime) -> JobResult:
    """Deliver what an SMTP outage left pending: digests audience by audience, then same-day alerts.

    Each audience is run as of its digest's last due time, so that a retry never builds next period's digest ahead
    of its schedule (a digest missed altogether is built then: a catch-up).
    """
    waiting = {spec.target: len(store.pending_deliveries(spec.target)) for spec in digest_jobs}
    alerts = sum(len(store.pending_deliveries(a.id, "alert")) for a in config.audiences if a.alerts)
    pending = sum(waiting.values()) + alerts
    if not pending:
        return JobResult("ok", {"pending": 0})
    if not os.environ.get("VEILLE_SMTP_URL", "").strip():
        return JobResult("skipped", {"pending": pending}, tx("VEILLE_SMTP_URL not set: nothing to retry (digests "
                                                            "are written as .eml)"))
    sent = 0
    errors = []
    for spec in digest_jobs:
        if waiting[spec.target]:
            result = send_digest(config, store, spec, now=spec.last_fire(now) or now)
            sent += result.counts.get("sent") or 0
            if result.error:
                errors.append(f"{spec.target}: {result.error}")
    if alerts:
        counts = send_alerts(config, store)
        sent += counts["alerts_sent"]
    left = sum(len(store.pending_deliveries(spec.target)) for spec in digest_jobs) + sum(
        len(store.pending_deliveries(a.id, "alert")) for a in config.audiences if a.alerts)
    return JobResult("pending" if left else "ok", {"pending": pending, "sent": sent, "still_pending": left},
                     "; ".join(errors) or None)


def housekeeping(config: Config, store: Store, now: datetime | None = None) -> JobResult:
    """Retention (page snapshots, field notes, fetch history), then database upkeep."""
    from watch.offline import expire

    now = now or utcnow()
    snapshots = 0
    for source in config.sources:
        if source.kind == "page":
            options = source.page_options
            snapshots += store.prune_snapshots(now - timedelta(days=options.retention_days), options.keep_last,
                                               source.id)
    notes = len(expire(config, store, now=now))
    fetches = store.prune_fetches(now - timedelta(days=config.scheduler.fetches_retention_days))
    store.optimize()
    return JobResult("ok", {"snapshots_deleted": snapshots, "notes_expired": notes, "fetches_deleted": fetches})


if __name__ == "__main__" and sys.argv[1:2] == ["classify"]:
    sys.exit(_classify_main(sys.argv[2]))
