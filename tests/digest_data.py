"""Test data for the digest stage: a small watch configuration and classified items with chosen scores.

Items go through the real store (`Store.ingest`, then `save_classification` and `save_scores`, the methods the NLP
stage writes with); only their labels, scores and stories are chosen by the test instead of computed by spaCy, so
that each selection rule can be checked on exact values. The NLP stage itself is exercised by the demo tests.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import free_port
from watch.config import Config, parse_config
from watch.models import Entry

TAXONOMY_AXIS = {"pricing": "moves", "acquisition": "moves", "launch": "moves", "campaign": "moves",
                 "partnership": "moves", "funding": "moves", "consumer": "trends", "technology": "trends",
                 "regulation": "trends", "communication": "trends", "offer": "trends", "economy": "trends"}

CONFIG = """\
company: {name: Testco, sector: vélos}
database: veille.db
themes:
  - {id: prices, label: Prix et marché, priority: 1, keywords: {fr: [prix, tarif], en: [price]}}
  - {id: batteries, label: Batteries, priority: 2, keywords: {fr: [batterie], en: [battery]}}
competitors:
  - {id: veloce, name: Veloce, kind: direct}
  - {id: rouleo, name: Rouléo, kind: direct}
sources:
  - {id: press, name: La Presse du cycle, url: "http://press.example/rss", reliability: B, themes: [prices]}
  - {id: trade, name: Trade Weekly, url: "http://trade.example/rss", language: en, reliability: A}
  - {id: notes, name: Notes de terrain, kind: offline, type: field, reliability: C, internal: true}
audiences:
  - id: direction
    role: direction
    name: Comité de direction
    recipients: [dg@testco.example, daf@testco.example]
    interests: {themes: [prices], labels: [acquisition, pricing, launch], competitors: [veloce, rouleo]}
    min_score: 50
    max_items: 6
    schedule: {cron: "mon 07:30"}
    alerts: {min_score: 85}
  - id: rd
    role: rd
    name: R&D team
    language: en
    recipients: [rd@testco.example]
    interests: {themes: [batteries], labels: [technology, regulation]}
    min_score: 40
    schedule: {cron: "tue 08:30"}
  - id: partners
    role: partners
    name: Partenaires
    external: true
    recipients: [partner@reseau.example]
    min_score: 30
    schedule: {cron: "fri 09:00"}
delivery:
  sender: veille@testco.example
  sender_name: Veille Testco
  unsubscribe: mailto:veille@testco.example
  unsubscribe_url: https://veille.testco.example/unsubscribe
  archive: archive
  retries: 1
  retry_backoff: 0.05
"""


def make_config(directory: Path, text: str = CONFIG) -> Config:
    (directory / "sources.yaml").write_text(text, encoding="utf-8")
    return parse_config(text, str(directory / "sources.yaml"), base=directory)


@pytest.fixture
def config(tmp_path) -> Config:
    """The test watch (import this fixture into a test module to use it)."""
    return make_config(tmp_path)


@dataclass
class Seed:
    """One item to store, already 'classified'."""

    title: str
    source: str = "press"
    score: int = 70
    labels: tuple[str, ...] = ()
    competitors: tuple[str, ...] = ()
    actor: str | None = None
    summary: str = "Résumé de l'article. Deuxième phrase. Troisième phrase qui ne sera pas reprise."
    url: str | None = None
    published: datetime | None = None
    story: int | None = None       # index (in the same seed call) of the item whose story this one joins
    extra_sources: tuple[str, ...] = ()
    lang: str = "fr"
    reasons: list[dict] = field(default_factory=list)
    terms: tuple[tuple[str, str], ...] = ()  # (term, kind) for the rising trends


def seed(store, seeds: list[Seed], now: datetime | None = None) -> list[int]:
    """Store the items through the real ingest path, then their classification and scores; return their ids.

    They are collected a minute before `now` (default: the present), so that a digest built "now" includes them.
    """
    now = (now or datetime.now(timezone.utc)) - timedelta(minutes=1)
    ids: list[int] = []
    for number, item in enumerate(seeds):
        url = item.url if item.url is not None else f"http://{item.source}.example/a/{abs(hash((item.title, number)))}"
        entry = Entry(url=url, title=item.title, summary=item.summary, guid=f"urn:test:{item.title}:{number}",
                      published=item.published or now - timedelta(days=1, hours=2))
        store.ingest(item.source, [entry], "offline" if item.source == "notes" else "feed", fetched_at=now)
        for extra in item.extra_sources:
            store.ingest(extra, [entry], "feed", fetched_at=now)
        row = store.conn.execute("select id from items where guid = ?", [entry.guid]).fetchone()
        ids.append(row[0])
    store.save_classification([{
        "id": item_id, "lang": item.lang, "lang_confidence": 1.0, "lang_how": "test", "flags": [], "terms": list(item.terms),
        "labels": [{"axis": TAXONOMY_AXIS[label], "label": label, "score": 0.9, "by": "model"} for label in item.labels],
        "entities": [{"text": c.title(), "label": "ORG", "competitor": c} for c in item.competitors],
        "actor": item.actor, "actor_competitor": item.actor,
    } for item_id, item in zip(ids, seeds)])
    rows = []
    for item_id, item in zip(ids, seeds):
        story = ids[item.story] if item.story is not None else item_id
        reasons = item.reasons or [{"kind": "grade", "grade": "B", "points": 8}]
        rows.append((item_id, item.score, json.dumps(reasons), story, 6, "default"))
    store.save_scores(rows)
    return ids


class SmtpRecorder:
    """aiosmtpd handler that keeps every message and refuses the addresses in `reject`."""

    def __init__(self, reject: set[str] | None = None, temporary: set[str] | None = None):
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.reject = reject or set()
        self.temporary = temporary or set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd's names)
        if address in self.reject:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        if address in self.temporary:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"

    def recipients(self) -> list[str]:
        return [r for _, rcpts, _ in self.messages for r in rcpts]


@pytest.fixture
def recorder():
    """A running SmtpRecorder server: (handler, port) (import this fixture into a test module to use it)."""
    handler = SmtpRecorder()
    server = smtp_server(handler)
    server.start()
    yield handler, server.port
    server.stop()


def smtp_server(handler: SmtpRecorder, port: int | None = None, **options):
    """A real SMTP server on 127.0.0.1 (aiosmtpd Controller); call .start() and .stop()."""
    from aiosmtpd.controller import Controller

    return Controller(handler, hostname="127.0.0.1", port=port or free_port(), **options)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with `cryptography` (installed with Scrapy)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context

