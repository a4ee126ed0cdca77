"""Deliver what is pending: one message per recipient, each delivery recorded as soon as the server answers.

Never twice: a delivery is claimed (status 'sending') before it is sent and marked 'sent' right after the server
accepts it, so a second process or a rerun skips it; its Message-ID is fixed before the first attempt, so a retry
after an ambiguous failure carries the same one. Never lost: a transient failure (server down, 4xx) leaves the
delivery pending for the next run; only a permanent refusal of that recipient (5xx) marks it failed, and the
others go on; a message our own configuration makes unsendable (a header refused) stays pending until it is
fixed. The suppression list is read at every send.

The one window SMTP cannot close (RFC 1047): the server has stored the message but its reply has not reached us
(the process killed, the connection lost). It opens only when the end of the message leaves: the delivery is
marked 'uncertain' just before, and 'sent' as soon as the reply comes. An uncertain delivery is never retried in
the same run; it is held until its claim expires (watch.store.CLAIM_MINUTES), then sent again with the same
Message-ID, by which a second copy can be recognised as the same message.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from digests.archive import audience_dir, eml_name, write_eml
from digests.message import build_message, new_message_id
from digests.smtp import Blocked, Mailer, Permanent, Transient, Uncertain
from watch.config import Config
from watch.errors import DeliveryError
from watch.i18n import tx
from watch.models import utcnow
from watch.store import CLAIM_MINUTES

log = logging.getLogger(__name__)


@dataclass
class DeliveryOutcome:
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    errors: list[str] = field(default_factory=list)
    eml: list[Path] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)  # claimed by another process, or uncertain: waits


def deliver_pending(config: Config, store: Any, audience_id: str, kind: str, mailer: Mailer | None) -> DeliveryOutcome:
    """Send the audience's pending deliveries of `kind` ('digest' or 'alert'); with no mailer, write .eml files.

    Claims expire by the clock (CLAIM_MINUTES), whatever moment a digest is built as of.
    """
    outcome = DeliveryOutcome()
    pending = store.pending_deliveries(audience_id, kind)
    if mailer is not None:
        outcome.held = store.held_deliveries(audience_id, kind)
        outcome.errors.extend(held_message(d) for d in outcome.held)
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
        except DeliveryError as exc:  # our configuration's fault, not the recipient's: pending until it is fixed
            error = tx("{exc}; the delivery stays pending: fix sources.yaml (veille sources check)", exc=exc)
            store.record_delivery(delivery["id"], "pending", error=error, attempted=False)
            outcome.errors.append(error)
            continue
        committed: list[str] = []  # when the end of the message left: the claim's new start
        status, error = _send_with_retries(mailer, message, config, recipient,
                                           on_commit=lambda: committed.append(store.mark_uncertain(delivery["id"])))
        if status == "uncertain":  # left as marked, claimed: held until the claim expires
            held = {**delivery, "status": "uncertain", "claimed_at": committed[-1]}
            outcome.held.append(held)
            outcome.errors.append(f"{recipient}: {error}; " + held_message(held))
            stop = mailer.unreachable = error  # a server that stalls on one message stalls on the next
            continue
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


def held_message(delivery: dict[str, Any]) -> str:
    """Why a delivery waits, and until when (its claim's expiry, in the machine's time zone)."""
    until = (datetime.fromisoformat(delivery["claimed_at"]) + timedelta(minutes=CLAIM_MINUTES)).astimezone()
    when = until.strftime("%Y-%m-%d %H:%M %Z")
    recipient = delivery["recipient"]
    if delivery["status"] == "uncertain":
        return tx("{recipient}: delivery uncertain (the server may have received the message without confirming "
                 "it), held until {when}, then sent again with the same Message-ID", recipient=recipient, when=when)
    return tx("{recipient}: being sent by another process (or by one that stopped), held until {when}", recipient=recipient, when=when)


def _send_with_retries(mailer: Mailer, message, config: Config, recipient: str,
                       on_commit=None) -> tuple[str, str | None]:
    """('sent', None), ('failed', server reply), ('uncertain', why) or ('pending', why), after retries with
    doubling delays (never after an uncertain attempt: the server may hold the message already)."""
    delay = config.delivery.retry_backoff
    error = None
    for attempt in range(config.delivery.retries + 1):
        if attempt:
            time.sleep(delay)
            delay *= 2
        try:
            mailer.send(message, config.delivery.sender, recipient, on_commit=on_commit)
            return "sent", None
        except Permanent as exc:
            return "failed", str(exc)
        except Uncertain as exc:
            return "uncertain", str(exc)
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
