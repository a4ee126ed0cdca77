"""Deliver what is pending: one message per recipient, each delivery recorded as soon as the server answers.

Never twice: a delivery is claimed (status 'sending') before it is sent and marked 'sent' right after the server
accepts it, so a second process or a rerun skips it; its Message-ID is fixed before the first attempt, so a retry
after an ambiguous failure carries the same one. Never lost: a transient failure (server down, 4xx) leaves the
delivery pending for the next run; only a permanent refusal of that recipient (5xx) marks it failed, and the
others go on. The suppression list is read at every send.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digests.archive import audience_dir, eml_name, write_eml
from digests.message import build_message, new_message_id
from digests.smtp import Blocked, Mailer, Permanent, Transient
from watch.config import Config
from watch.errors import DeliveryError
from watch.models import utcnow

log = logging.getLogger(__name__)


@dataclass
class DeliveryOutcome:
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    errors: list[str] = field(default_factory=list)
    eml: list[Path] = field(default_factory=list)


def deliver_pending(config: Config, store: Any, audience_id: str, kind: str, mailer: Mailer | None) -> DeliveryOutcome:
    """Send the audience's pending deliveries of `kind` ('digest' or 'alert'); with no mailer, write .eml files."""
    outcome = DeliveryOutcome()
    pending = store.pending_deliveries(audience_id, kind)
    digests: dict[int, dict[str, Any]] = {}

    def digest_of(delivery: dict[str, Any]) -> dict[str, Any]:
        if delivery["digest_id"] not in digests:
            digests[delivery["digest_id"]] = store.digest_by_id(delivery["digest_id"])
        return digests[delivery["digest_id"]]

    if mailer is None:
        _write_eml(config, pending, digest_of, outcome)
        return outcome
    stop: str | None = mailer.unreachable  # already found down in this run: do not wait for it again
    for delivery in pending:
        recipient = delivery["recipient"]
        if stop:
            store.record_delivery(delivery["id"], "pending", error=stop, attempted=False)
            if stop not in outcome.errors:
                outcome.errors.append(stop)
            continue
        if store.is_suppressed(recipient):
            store.record_delivery(delivery["id"], "suppressed", error="suppression list", attempted=False)
            outcome.suppressed += 1
            continue
        if not store.claim_delivery(delivery):
            continue  # another process is sending it
        message_id = delivery["message_id"] or new_message_id(audience_id, delivery["period"], config.delivery.sender)
        store.set_message_id(delivery["id"], message_id)
        try:
            message = build_message(digest_of(delivery), config.delivery, [recipient], message_id, utcnow())
        except DeliveryError as exc:
            store.record_delivery(delivery["id"], "failed", error=str(exc))
            outcome.failed += 1
            outcome.errors.append(str(exc))
            continue
        status, error = _send_with_retries(mailer, message, config, recipient)
        store.record_delivery(delivery["id"], status, error=error, message_id=message_id)
        log.info("delivery %s %s %s: %s%s", audience_id, delivery["period"], recipient, status,
                 f" ({error})" if error else "")
        if status == "sent":
            outcome.sent += 1
        elif status == "failed":
            outcome.failed += 1
            outcome.errors.append(f"{recipient}: {error}")
        elif mailer.client is None:
            # Transient failures exhausted without a connection: the server is down; the rest waits too.
            stop = mailer.unreachable = error
            outcome.errors.append(error or "")
        else:
            outcome.errors.append(f"{recipient}: {error}")
    return outcome


def _send_with_retries(mailer: Mailer, message, config: Config, recipient: str) -> tuple[str, str | None]:
    """('sent', None), ('failed', server reply) or ('pending', why), after retries with doubling delays."""
    delay = config.delivery.retry_backoff
    error = None
    for attempt in range(config.delivery.retries + 1):
        if attempt:
            time.sleep(delay)
            delay *= 2
        try:
            mailer.send(message, config.delivery.sender, recipient)
            return "sent", None
        except Permanent as exc:
            return "failed", str(exc)
        except Blocked as exc:
            mailer.close()
            return "pending", str(exc)
        except Transient as exc:
            error = str(exc)
    return "pending", error


def _write_eml(config: Config, pending: list[dict[str, Any]], digest_of, outcome: DeliveryOutcome) -> None:
    """No SMTP server configured: each pending delivery is written as its own .eml beside the digest's page, the
    message that recipient would get (their address alone in To, their List-Unsubscribe): an operator who hands
    the files to a mail server shows no recipient the others."""
    for delivery in pending:
        digest = digest_of(delivery)
        message_id = delivery["message_id"] or new_message_id(digest["audience"], digest["period"], config.delivery.sender)
        message = build_message(digest, config.delivery, [delivery["recipient"]], message_id, utcnow())
        folder = audience_dir(config, digest["audience"]) / ("alerts" if digest["kind"] == "alert" else "")
        outcome.eml.append(write_eml(folder, eml_name(digest["period"], delivery["recipient"]), message))
