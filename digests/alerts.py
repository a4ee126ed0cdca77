"""Same-day alerts: a short e-mail per new item at or above an audience's alert threshold, once per item.

Called by the scheduler after each classification (and by `veille digest alerts`). An alert is stored like a
digest of one item (kind 'alert', period 'alert-<item id>'), so it is built once, delivered with the same
guarantees, and its item never reaches that audience again in a weekly digest. At night (21:00-07:00 in the
audience's time zone) nothing is sent unless `alerts: {night: true}`: the items wait for the morning run.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from digests.archive import archive_digest
from digests.deliver import deliver_pending
from digests.message import check_recipients
from digests.periods import audience_zone
from digests.render import Renderer
from digests.select import candidates
from digests.smtp import Mailer, smtp_settings
from digests.stage import AudienceResult, DigestReport
from watch.config import Config
from watch.models import utcnow

log = logging.getLogger(__name__)
WINDOW = timedelta(hours=24)   # items first seen this long ago or less can still raise an alert
FRESH = timedelta(days=2)      # and published no longer ago than this: an old article collected late is no alert
NIGHT_START, NIGHT_END = 21, 7


def is_night(now: datetime, zone: str) -> bool:
    hour = now.astimezone(ZoneInfo(zone)).hour
    return hour >= NIGHT_START or hour < NIGHT_END


def run_alerts(config: Config, store: Any, now: datetime | None = None, send: bool = True) -> DigestReport:
    """Build and deliver the alerts due now for every audience with an alert threshold; one result per audience."""
    now = (now or utcnow()).astimezone(timezone.utc)  # stored and compared as UTC text
    audiences = [a for a in config.audiences if a.alerts is not None]
    check_recipients({a.id: list(a.recipients) for a in audiences})
    settings = smtp_settings()
    report = DigestReport(smtp=str(settings) if settings else None, dry_run=not send)
    mailer = Mailer(settings) if settings and send else None
    try:
        for audience in audiences:
            if not audience.alerts.night and is_night(now, audience_zone(audience)):
                report.results.append(AudienceResult(audience.id, "skipped", error="night"))
                continue
            picks = [p for p in candidates(config, store, audience, now - WINDOW, now, audience.alerts.min_score,
                                           recency=False)
                     if p.age_days <= FRESH.total_seconds() / 86400]
            if not send:
                report.results.append(AudienceResult(audience.id, "pending" if picks else "empty", items=len(picks)))
                continue
            renderer = Renderer(config, audience)
            for pick in picks:
                rendered = renderer.alert(pick)
                record = {"audience": audience.id, "kind": "alert", "period": f"alert-{pick.id}",
                          "period_start": (now - WINDOW).isoformat(), "cutoff": now.isoformat(), "status": "pending",
                          "items": 1, "language": audience.language, "subject": rendered.subject,
                          "html": rendered.html, "text": rendered.text, "chart": None}
                rows = [(pick.id, "alert", 1, 1)] + [(folded, "alert", 1, 0) for folded in pick.folded]
                digest_id, created = store.create_digest(record, rows, list(audience.recipients))
                if created:
                    path = archive_digest(config, store, {**record, "id": digest_id}, None)
                    store.update_digest(digest_id, archive_path=str(path))
            outcome = deliver_pending(config, store, audience.id, "alert", mailer)
            waiting = len(store.pending_deliveries(audience.id, "alert")) + len(outcome.held)
            status = ("pending" if waiting else "failed" if outcome.failed and not outcome.sent
                      else "sent" if outcome.sent else "empty")
            report.results.append(AudienceResult(audience.id, status, items=len(picks), sent=outcome.sent,
                                                 pending=waiting, failed=outcome.failed, suppressed=outcome.suppressed,
                                                 error="; ".join(dict.fromkeys(outcome.errors)) or None, eml=outcome.eml))
            log.info("alerts %s: %d item(s), %d sent, %d pending", audience.id, len(picks), outcome.sent, waiting)
    finally:
        if mailer:
            mailer.close()
    return report
