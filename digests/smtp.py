"""SMTP from `VEILLE_SMTP_URL`: `smtp://` (STARTTLS when the server offers it), `smtps://` (TLS from the start),
optional `user:password@`. Failures are sorted into transient (retry later) and permanent (the server said no).

Certificates are verified against the system's trust store (`SSL_CERT_FILE` names another one).
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from watch.errors import DeliveryError
from watch.i18n import tx

TIMEOUT_S = 30
# The reply to the end of a message: the server is storing it. RFC 5321 §4.5.3.2.6 asks for 10 minutes, because
# giving up sooner is how a message ends up delivered twice. Shorter than a claim (watch.store.CLAIM_MINUTES), so
# that no other process takes over a delivery while its sender still waits.
REPLY_TIMEOUT_S = 600
ENCODE_COMMAND = 'python3 -c "import getpass, urllib.parse; print(urllib.parse.quote(getpass.getpass(), safe=\'\'))"'


@dataclass(frozen=True)
class SmtpSettings:
    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:  # never the password
        user = f"{self.username}@" if self.username else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}"


class Transient(Exception):
    """Try again later: connection refused or lost, timeout, 4xx reply."""


class Permanent(Exception):
    """The server refused this recipient or message for good (5xx reply): retrying would not help."""


class Blocked(Exception):
    """Nothing can be sent in this session (login or TLS refused, sender refused): every delivery waits."""


class Uncertain(Exception):
    """The message went out whole but no reply came (connection lost, timeout): the server may have stored it.

    SMTP cannot tell (RFC 1047): sending it again may make a second copy, not sending it may lose it.
    """


class _Committing:
    """smtplib's client, with a call just before the end of the message leaves (the final dot, which commits it)."""

    on_commit: Callable[[], None] | None = None
    committed = False  # the end of the current message has left
    reply_timeout: float = REPLY_TIMEOUT_S
    _in_data = False

    def data(self, msg):
        self._in_data = True
        try:
            return super().data(msg)
        finally:
            self._in_data = False
            if self.sock is not None:
                self.sock.settimeout(self.timeout)

    def send(self, s):
        # In DATA, smtplib sends the command as text, then the whole message with its final dot as bytes.
        if self._in_data and isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            if self.on_commit:
                self.on_commit()
            self.committed = True
            if self.sock is not None:
                self.sock.settimeout(self.reply_timeout)
        return super().send(s)


class _Client(_Committing, smtplib.SMTP):
    pass


class _ClientSSL(_Committing, smtplib.SMTP_SSL):
    pass


def smtp_settings(url: str | None = None) -> SmtpSettings | None:
    """Settings from the URL (default `$VEILLE_SMTP_URL`); None when none is configured."""
    url = url if url is not None else os.environ.get("VEILLE_SMTP_URL", "")
    if not url.strip():
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        parts, port = None, None
    after_host = parts is not None and (parts.path not in ("", "/") or parts.query or parts.fragment)
    if "@" in url and (parts is None or after_host):
        # urlsplit ends the host at the first / ? or #: a password holding one becomes a host (and a DNS lookup).
        raise DeliveryError(tx(
            "VEILLE_SMTP_URL unreadable: a @ / # ? or : in the password (or user name) must be percent-encoded "
            "(@ → %40, / → %2F, # → %23, ? → %3F, : → %3A), for example "
            "smtp://veille:p%40ss%2F1@mail.example.org:587 for the password p@ss/1. To encode yours without "
            "showing it: {command}", command=ENCODE_COMMAND))
    if parts is None or parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise DeliveryError(tx("VEILLE_SMTP_URL unreadable: write smtp://host:587, smtps://host:465 or "
                              "smtp://user:password@host:587"))
    default = 465 if parts.scheme == "smtps" else 587
    return SmtpSettings(parts.scheme, parts.hostname, port or default,
                        unquote(parts.username) if parts.username else None,
                        unquote(parts.password) if parts.password else None)


class Mailer:
    """One SMTP session, opened on first use and reopened after a lost connection."""

    def __init__(self, settings: SmtpSettings, timeout: float = TIMEOUT_S, reply_timeout: float = REPLY_TIMEOUT_S):
        self.settings = settings
        self.timeout = timeout
        self.reply_timeout = reply_timeout
        self.client: smtplib.SMTP | None = None
        self.unreachable: str | None = None  # set by the caller once retries could not reach the server

    def open(self) -> None:
        if self.client is not None:
            return
        settings = self.settings
        context = ssl.create_default_context()
        try:
            if settings.scheme == "smtps":
                client: smtplib.SMTP = _ClientSSL(settings.host, settings.port, timeout=self.timeout, context=context)
            else:
                client = _Client(settings.host, settings.port, timeout=self.timeout)
                client.ehlo()
                if client.has_extn("starttls"):
                    client.starttls(context=context)
                    client.ehlo()
                elif settings.username:
                    client.close()
                    raise Blocked(tx("{settings} does not offer STARTTLS: the password is not sent in clear", settings=settings))
            if settings.username:
                _login(client, settings.username, settings.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise Blocked(tx("login refused by {settings}: {reply}", settings=settings, reply=_reply(exc))) from None
        except (ssl.SSLError, ssl.CertificateError) as exc:
            raise Blocked(tx("TLS failed with {settings}: {exc}", settings=settings, exc=exc)) from None
        except smtplib.SMTPResponseException as exc:
            raise (Blocked if exc.smtp_code >= 500 else Transient)(f"{settings}: {_reply(exc)}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise Transient(tx("SMTP server unreachable {settings}: {exc}", settings=settings, exc=exc)) from None
        client.reply_timeout = self.reply_timeout
        self.client = client

    def send(self, message: EmailMessage, sender: str, recipient: str,
             on_commit: Callable[[], None] | None = None) -> None:
        """Send to one recipient; raise Transient or Permanent with the server's reply, Uncertain when the message
        went out whole and no reply came. `on_commit` is called just before the end of the message is sent."""
        self.open()
        client = self.client
        client.on_commit, client.committed = on_commit, False
        try:
            refused = client.send_message(message, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(recipient, (550, b"refused"))
            error = f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
            raise (Permanent if code >= 500 else Transient)(error) from None
        except smtplib.SMTPSenderRefused as exc:
            raise Blocked(tx("sender {sender} refused: {reply} (set delivery.sender in sources.yaml to an address "
                            "of your domain that this server accepts)", sender=sender, reply=_reply(exc))) from None
        except smtplib.SMTPResponseException as exc:  # a reply, even after the final dot: the server knows
            if exc.smtp_code == 421:  # the server is closing the session: reconnect next time
                self.close()
            raise (Permanent if exc.smtp_code >= 500 else Transient)(_reply(exc)) from None
        except (OSError, smtplib.SMTPException) as exc:  # timeout, connection lost or reset: no reply
            self.close()
            if client.committed:
                raise Uncertain(tx("no reply from the server to the message sent whole: {exc}", exc=exc)) from None
            if isinstance(exc, smtplib.SMTPServerDisconnected):
                raise Transient(tx("SMTP connection lost: {exc}", exc=exc)) from None
            raise Transient(tx("sending interrupted: {exc}", exc=exc)) from None
        finally:
            client.on_commit = None
        if refused:
            code, reply = refused[recipient]
            raise Permanent(f"{code} {reply!r}")

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (OSError, smtplib.SMTPException):
                self.client.close()
            self.client = None


def _login(client: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH PLAIN when offered (one exchange, inside TLS), else smtplib's choice.

    smtplib.login tries the next mechanism after a refusal, and its AUTH LOGIN with an initial response leaves
    some servers waiting: a wrong password would then hang until the timeout instead of failing at once.
    """
    mechanisms = client.esmtp_features.get("auth", "").upper().split()
    if "PLAIN" in mechanisms:
        client.user, client.password = username, password
        client.auth("PLAIN", client.auth_plain)
    else:
        client.login(username, password)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {text}"
