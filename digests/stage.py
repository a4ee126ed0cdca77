"""The digest stage's entry functions: build each audience's digest once per period, deliver what is pending,
preview without delivering.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from digests.archive import archive_digest, audience_dir, write_page
from digests.deliver import DeliveryOutcome, deliver_pending
from digests.message import chart_cid, check_recipients
from digests.periods import audience_zone, period_bounds, period_of
from digests.render import Renderer
from digests.select import current_selection, select
from digests.smtp import Mailer, smtp_settings
from watch.config import Audience, Config
from watch.models import utcnow

log = logging.getLogger(__name__)


@dataclass
class AudienceResult:
    """What happened to one audience: status 'sent' | 'pending' | 'empty' | 'failed' | 'skipped'."""

    audience: str
    status: str
    items: int = 0
    error: str | None = None
    period: str | None = None
    digest_id: int | None = None
    built: bool = False        # built by this run (False: it existed already, or a dry run)
    sent: int = 0              # deliveries made by this run
    pending: int = 0           # deliveries still waiting after it
    failed: int = 0
    suppressed: int = 0
    path: Path | None = None   # the archived page
    eml: list[Path] = field(default_factory=list)


@dataclass
class DigestReport:
    results: list[AudienceResult] = field(default_factory=list)
    smtp: str | None = None    # the server used (no password), None when VEILLE_SMTP_URL is not set
    dry_run: bool = False


def run_digests(config: Config, store: Any, audience_ids: list[str] | None = None, now: datetime | None = None,
                send: bool = True, progress: Callable[[int, int, str], None] | None = None) -> DigestReport:
    """Build each audience's digest of the current period if not built yet, then deliver every pending delivery.

    `send=False` is a dry run: the selection is made and counted, nothing is stored, archived or sent.
    Recipients and the SMTP URL are checked before anything is sent (DeliveryError).
    """
    now = (now or utcnow()).astimezone(timezone.utc)  # stored and compared as UTC text
    audiences = [config.audience(a) for a in audience_ids] if audience_ids else list(config.audiences)
    check_recipients({a.id: list(a.recipients) for a in audiences})
    settings = smtp_settings()
    report = DigestReport(smtp=str(settings) if settings else None, dry_run=not send)
    mailer = Mailer(settings) if settings and send else None
    try:
        for index, audience in enumerate(audiences, 1):
            try:
                result = _run_audience(config, store, audience, now, send, mailer)
            except Exception as exc:  # one audience's problem must not keep the others from their brief
                log.exception("digest %s failed", audience.id)
                result = AudienceResult(audience.id, "failed", error=str(exc) or type(exc).__name__)
            log.info("digest %s %s: %s, %d item(s), %d sent, %d pending%s", audience.id, result.period, result.status,
                     result.items, result.sent, result.pending, f" ({result.error})" if result.error else "")
            report.results.append(result)
            if progress:
                progress(index, len(audiences), audience.id)
    finally:
        if mailer:
            mailer.close()
    return report


def _run_audience(config: Config, store: Any, audience: Audience, now: datetime, send: bool,
                  mailer: Mailer | None) -> AudienceResult:
    period = period_of(audience, now)
    digest = store.digest(audience.id, period)
    if not send:
        if digest is None:
            selection = current_selection(config, store, audience, period, now)
            return AudienceResult(audience.id, "pending" if audience.recipients else "skipped",
                                  items=selection.count, period=period)
        return _result(store, audience, digest, DeliveryOutcome(), built=False)
    built = False
    if digest is None:
        digest_id, built = build_digest(config, store, audience, period, now)
        digest = store.digest_by_id(digest_id)
    outcome = deliver_pending(config, store, audience.id, "digest", mailer)
    return _result(store, audience, digest, outcome, built)


def build_digest(config: Config, store: Any, audience: Audience, period: str, now: datetime) -> tuple[int, bool]:
    """Select, render, store and archive the audience's digest of `period` (once: (id, False) if it existed)."""
    selection = current_selection(config, store, audience, period, now)
    cid = chart_cid(audience.id, period, config.delivery.sender)
    rendered = Renderer(config, audience).digest(selection, cid)
    recipients = list(audience.recipients) if (selection.count or audience.send_empty) else []
    record = {"audience": audience.id, "kind": "digest", "period": period, "period_start": selection.since.isoformat(),
              "cutoff": now.isoformat(), "status": "pending" if recipients else "skipped", "items": selection.count,
              "language": audience.language, "subject": rendered.subject, "html": rendered.html,
              "text": rendered.text, "chart": rendered.chart}
    digest_id, created = store.create_digest(record, selection.item_rows(), recipients)
    if created:
        path = archive_digest(config, store, {**record, "id": digest_id}, rendered.chart_cid)
        store.update_digest(digest_id, archive_path=str(path))
    return digest_id, created


def digest_status(items: int, deliveries: list[dict[str, Any]]) -> str:
    statuses = [d["status"] for d in deliveries]
    if any(s in ("pending", "sending") for s in statuses):
        return "pending"
    if "uncertain" in statuses:
        return "uncertain"  # perhaps received: held until its claim expires (digests.deliver)
    if "failed" in statuses and "sent" not in statuses:
        return "failed"
    if items == 0:
        return "empty"
    if "sent" not in statuses:
        return "skipped"  # no recipient, or every one on the suppression list
    return "sent"


def _result(store: Any, audience: Audience, digest: dict[str, Any], outcome: DeliveryOutcome,
            built: bool) -> AudienceResult:
    deliveries = store.deliveries(digest["id"])
    status = digest_status(digest["items"], deliveries)
    if status != digest["status"]:
        store.update_digest(digest["id"], status=status)
    # Held deliveries wait too: a rerun right after a killed send must not say that nothing is left.
    waiting = len(store.pending_deliveries(audience.id)) + len(outcome.held)
    if waiting and status not in ("pending", "failed", "uncertain"):
        status = "pending"  # an older digest still waits for its server
    return AudienceResult(audience.id, status, items=digest["items"], period=digest["period"], digest_id=digest["id"],
                          built=built, sent=outcome.sent, pending=waiting, failed=outcome.failed,
                          suppressed=outcome.suppressed, error="; ".join(dict.fromkeys(outcome.errors)) or None,
                          path=Path(digest["archive_path"]) if digest.get("archive_path") else None, eml=outcome.eml)


@dataclass
class Preview:
    path: Path
    period: str
    items: int
    stored: bool  # the digest of that period was already built: the preview shows what was (or will be) sent


def preview_digest(config: Config, store: Any, audience_id: str, period: str | None = None,
                   now: datetime | None = None) -> Preview:
    """Write an audience's digest as HTML under the archive's preview/ folder; store and mark nothing."""
    now = (now or utcnow()).astimezone(timezone.utc)  # stored and compared as UTC text
    audience = config.audience(audience_id)
    current = period_of(audience, now)
    period = period or current
    cid = chart_cid(audience.id, period, config.delivery.sender)
    stored = store.digest(audience.id, period)
    if stored:
        page = {"html": stored["html"], "chart": stored["chart"]}
        items = stored["items"]
    else:
        if period == current:
            selection = current_selection(config, store, audience, period, now)
        else:
            start, end = period_bounds(period, audience_zone(audience))
            selection = select(config, store, audience, period, start, min(end, now))
        rendered = Renderer(config, audience).digest(selection, cid)
        page, items = {"html": rendered.html, "chart": rendered.chart}, selection.count
    path = write_page(audience_dir(config, audience.id) / "preview", period, page, cid)
    return Preview(path, period, items, stored is not None)
