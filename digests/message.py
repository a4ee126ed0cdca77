"""A stored digest as an e-mail: multipart/alternative (text, then HTML with its chart as a related CID image).

Headers are built by `email.message.EmailMessage`, which refuses CR/LF in a header value; addresses are checked
here first so that a bad one is reported with its name before anything is sent.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any
from urllib.parse import quote

from watch.config import Delivery
from watch.errors import DeliveryError
from watch.i18n import tx



class _AngleBracketsHeader(UnstructuredHeader):
    """List-Unsubscribe and Message-ID: <…> tokens folded between them, never inside, never encoded.

    The default folding turns a word longer than a line (a long unsubscribe URL) into an RFC 2047 encoded word,
    which no mail client reads as a URL (RFC 2369 wants the URIs as they are).
    """

    def fold(self, *, policy):  # noqa: A002 (the email package's signature)
        uris = re.findall(r"<[^<>]*>", str(self)) or [str(self)]
        return f"{self.name}: " + f",{policy.linesep} ".join(uris) + policy.linesep


_HEADERS = HeaderRegistry()
_HEADERS.map_to_type("list-unsubscribe", _AngleBracketsHeader)
_HEADERS.map_to_type("message-id", _AngleBracketsHeader)
MESSAGE_POLICY = policy.default.clone(header_factory=_HEADERS)
_ADDRESS = re.compile(r"^[^@\s<>,;\"()\[\]\\]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def address_problem(address: str) -> str | None:
    """Why `address` cannot be a recipient (None when it can)."""
    if any(ch in address for ch in "\r\n"):
        return tx("line break in the address (header injection)")
    if not _ADDRESS.match(address):
        return tx("invalid e-mail address")
    try:
        Address(addr_spec=address)
    except (ValueError, IndexError) as exc:
        return tx("invalid e-mail address ({exc})", exc=exc)
    return None


def check_recipients(recipients: dict[str, list[str]]) -> None:
    """Raise one DeliveryError naming every unusable address, per audience, before any message is sent."""
    problems = [f"{audience}: {address!r}: {problem}" for audience, addresses in recipients.items()
                for address in addresses if (problem := address_problem(address))]
    if problems:
        raise DeliveryError(tx("recipient(s) refused, nothing was sent:\n  ") + "\n  ".join(problems)
                            + tx("\n  (fix recipients in sources.yaml)"))


def chart_cid(audience: str, period: str, sender: str) -> str:
    return f"chart.{audience}.{period}@{sender.rsplit('@', 1)[-1]}"


def new_message_id(audience: str, period: str, sender: str) -> str:
    return make_msgid(idstring=f"{audience}.{period}", domain=sender.rsplit("@", 1)[-1])


def unsubscribe_headers(delivery: Delivery, recipient: str) -> dict[str, str]:
    """List-Unsubscribe (mailto, plus the HTTPS URL when configured) and List-Unsubscribe-Post (RFC 8058)."""
    mailto = delivery.unsubscribe or f"mailto:{delivery.sender}?subject=unsubscribe"
    links = [f"<{mailto}>"]
    headers = {}
    if delivery.unsubscribe_url:
        joiner = "&" if "?" in delivery.unsubscribe_url else "?"
        links.insert(0, f"<{delivery.unsubscribe_url}{joiner}email={quote(recipient, safe='')}>")
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    headers["List-Unsubscribe"] = ", ".join(links)
    return headers


def build_message(digest: dict[str, Any], delivery: Delivery, recipients: list[str], message_id: str,
                  when: datetime) -> EmailMessage:
    """The e-mail of a stored digest (subject, html, text, chart, language) for one or more recipients."""
    for address in recipients:
        problem = address_problem(address)
        if problem:
            raise DeliveryError(f"{address!r}: {problem}")
    message = EmailMessage(policy=MESSAGE_POLICY)
    try:
        message["Subject"] = digest["subject"]
        message["From"] = formataddr((delivery.sender_name, delivery.sender))
        message["To"] = ", ".join(recipients)
        if delivery.reply_to:
            message["Reply-To"] = delivery.reply_to
    except ValueError as exc:  # CR/LF in a header value: EmailMessage refuses it
        raise DeliveryError(tx("header refused for {audience} {period}: {exc}", audience=digest['audience'], period=digest['period'], exc=exc)) from None
    message["Date"] = format_datetime(when)
    message["Message-ID"] = message_id
    message["Content-Language"] = digest.get("language") or "fr"
    message["List-Id"] = f"<{digest['audience']}.veille.{delivery.sender.rsplit('@', 1)[-1]}>"
    message["Auto-Submitted"] = "auto-generated"
    if len(recipients) == 1:
        for name, value in unsubscribe_headers(delivery, recipients[0]).items():
            message[name] = value
    message.set_content(digest["text"], charset="utf-8")
    message.add_alternative(digest["html"], subtype="html", charset="utf-8")
    if digest.get("chart"):
        html_part = message.get_payload()[1]
        html_part.add_related(digest["chart"], maintype="image", subtype="png",
                              cid=f"<{chart_cid(digest['audience'], digest['period'], delivery.sender)}>",
                              filename="chart.png", disposition="inline")
    return message
