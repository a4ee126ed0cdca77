"""Delivery against a real SMTP server (aiosmtpd on 127.0.0.1): plain, STARTTLS with login, a rejected recipient,
the server down then up, the suppression list, no SMTP configured, and bad input refused before anything is sent.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime, timedelta, timezone

import pytest

from digests import run_digests
from digests.message import build_message
from tests.conftest import free_port
from tests.digest_data import config, recorder  # noqa: F401 (fixtures)
from tests.digest_data import Seed, SmtpRecorder, make_config, seed, self_signed, smtp_server, tls_context
from watch.errors import DeliveryError

RECIPIENTS = {"direction": ["dg@testco.example", "daf@testco.example"], "rd": ["rd@testco.example"],
              "partners": ["partner@reseau.example"]}


@pytest.fixture
def items(store):
    return seed(store, [
        Seed("Veloce rachète Rouléo &lt;script&gt;alert(1)&lt;/script&gt;", score=90, labels=("acquisition",),
             competitors=("veloce",), actor="veloce"),
        Seed("Batteries : une norme européenne", source="trade", score=70, labels=("regulation",)),
        Seed("Hausse des prix de 5 %", score=75, labels=("pricing",)),
    ])


def now() -> datetime:
    return datetime.now(timezone.utc) + timedelta(minutes=1)


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_plain_smtp_delivers_each_recipient_once_with_text_html_and_chart(config, store, items, recorder, monkeypatch):
    handler, port = recorder
    monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://127.0.0.1:{port}")
    report = run_digests(config, store, now=now())
    assert {r.audience: r.status for r in report.results} == {"direction": "sent", "rd": "sent", "partners": "sent"}
    assert sorted(handler.recipients()) == sorted(sum(RECIPIENTS.values(), []))
    again = run_digests(config, store, now=now() + timedelta(hours=1))
    assert [r.sent for r in again.results] == [0, 0, 0] and len(handler.messages) == 4

    mail_from, rcpts, raw = next(m for m in handler.messages if m[1] == ["dg@testco.example"])
    message = parsed(raw)
    assert mail_from == "veille@testco.example" and message["To"] == "dg@testco.example"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html_part = message.get_body(("html",))
    html = html_part.get_content()
    images = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert len(images) == 1 and images[0].get_content().startswith(b"\x89PNG")
    cid = images[0]["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html
    assert "Veloce rachète Rouléo <script>alert(1)</script>" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert message["Message-ID"] and message["Date"]
    assert message["List-Unsubscribe"] == ("<https://veille.testco.example/unsubscribe?email=dg%40testco.example>, "
                                           "<mailto:veille@testco.example>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    stored = store.deliveries(report.results[0].digest_id)
    assert {d["recipient"]: (d["status"], d["attempts"]) for d in stored} == {
        "dg@testco.example": ("sent", 1), "daf@testco.example": ("sent", 1)}
    assert message["Message-ID"] in {d["message_id"] for d in stored}


def test_starttls_with_login(config, store, items, tmp_path, monkeypatch):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = self_signed(tmp_path)
    logins = []

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"veille", b"s3cr&t")
        logins.append((mechanism, ok, session.ssl is not None))
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    handler = SmtpRecorder()
    server = smtp_server(handler, tls_context=tls_context(cert, key), require_starttls=True,
                         authenticator=authenticate, auth_required=True)
    server.start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts our self-signed certificate
        monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://veille:s3cr%26t@127.0.0.1:{server.port}")
        report = run_digests(config, store, ["rd"], now=now())
        assert report.results[0].status == "sent", report.results[0].error
        assert handler.recipients() == ["rd@testco.example"]
        assert logins and all(ok and tls for _, ok, tls in logins)
        assert "s3cr" not in (report.smtp or "")

        monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://veille:wrong@127.0.0.1:{server.port}")
        refused = run_digests(config, store, ["direction"], now=now()).results[0]
        assert refused.status == "pending" and "535" in refused.error  # login refused: nothing lost, nothing sent
        assert all(d["status"] == "pending" for d in store.deliveries(refused.digest_id))
    finally:
        server.stop()


def test_a_rejected_recipient_does_not_block_the_others(config, store, items, monkeypatch):
    handler = SmtpRecorder(reject={"dg@testco.example"})
    server = smtp_server(handler)
    server.start()
    try:
        monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
        result = run_digests(config, store, ["direction"], now=now()).results[0]
    finally:
        server.stop()
    assert handler.recipients() == ["daf@testco.example"]
    assert result.status == "sent" and result.failed == 1 and "550" in result.error
    status = {d["recipient"]: (d["status"], d["last_error"]) for d in store.deliveries(result.digest_id)}
    assert status["daf@testco.example"] == ("sent", None)
    assert status["dg@testco.example"][0] == "failed" and "mailbox unavailable" in status["dg@testco.example"][1]


def test_server_down_then_up_delivers_everything_exactly_once(config, store, items, monkeypatch):
    port = free_port()
    monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://127.0.0.1:{port}")
    down = run_digests(config, store, now=now())
    assert [r.status for r in down.results] == ["pending"] * 3
    assert all("injoignable" in r.error for r in down.results)
    pending = [d for r in down.results for d in store.deliveries(r.digest_id)]
    assert len(pending) == 4 and {d["status"] for d in pending} == {"pending"}
    overview = {row["audience"]: row for row in store.digest_overview()}  # what `veille status` shows
    assert set(overview) == {"direction", "rd", "partners"}
    assert overview["direction"]["status"] == "pending" and "injoignable" in overview["direction"]["last_error"]
    assert overview["direction"]["attempts"] == 1 and overview["direction"]["sent_at"] is None

    handler = SmtpRecorder(temporary={"rd@testco.example"})  # up again, one mailbox answers 451 this time
    server = smtp_server(handler, port=port)
    server.start()
    try:
        up = run_digests(config, store, now=now() + timedelta(hours=3))
        assert [r.built for r in up.results] == [False] * 3  # the same digests, not new ones
        assert {r.audience: r.status for r in up.results} == {"direction": "sent", "rd": "pending", "partners": "sent"}
        handler.temporary.clear()
        last = run_digests(config, store, now=now() + timedelta(hours=4))
        assert [r.status for r in last.results] == ["sent"] * 3
        run_digests(config, store, now=now() + timedelta(hours=5))
    finally:
        server.stop()
    assert sorted(handler.recipients()) == sorted(sum(RECIPIENTS.values(), []))  # each exactly once
    overview = {row["audience"]: row for row in store.digest_overview()}
    assert {a: (row["status"], row["pending"]) for a, row in overview.items()} == {
        "direction": ("sent", 0), "rd": ("sent", 0), "partners": ("sent", 0)}
    assert all(row["sent_at"] for row in overview.values())
    rd = store.deliveries(last.results[1].digest_id)[0]
    assert rd["status"] == "sent" and rd["attempts"] == 2  # 451, then sent (the down server was tried once, for
    # the first delivery of the run; the others waited without trying)


def test_suppressed_addresses_get_nothing_until_resubscribed(config, store, items, recorder, monkeypatch):
    handler, port = recorder
    monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://127.0.0.1:{port}")
    assert store.suppress("DG@testco.example") and not store.suppress("dg@testco.example")
    result = run_digests(config, store, ["direction"], now=now()).results[0]
    assert handler.recipients() == ["daf@testco.example"] and result.suppressed == 1
    assert store.unsuppress("dg@testco.example")
    assert run_digests(config, store, ["direction"], now=now()).results[0].sent == 0  # that digest stays suppressed


def test_without_smtp_the_digest_is_archived_as_eml_and_html_and_stays_pending(config, store, items):
    report = run_digests(config, store, ["direction"], now=now())
    result = report.results[0]
    assert report.smtp is None and result.status == "pending" and result.pending == 2
    assert result.path.exists() and result.path.suffix == ".html"
    # One message per recipient, as sent mail would be: each file shows its recipient alone, with their own
    # unsubscribe link, so that an operator handing the files to a mail server shows no one the others.
    assert sorted(eml.name for eml in result.eml) == sorted(
        f"{result.period}.{address}.eml" for address in ("dg@testco.example", "daf@testco.example"))
    messages = {message["To"]: message for message in (parsed(eml.read_bytes()) for eml in result.eml)}
    assert set(messages) == {"dg@testco.example", "daf@testco.example"}
    for address, message in messages.items():
        assert message["Cc"] is None and message["Bcc"] is None
        assert message["List-Unsubscribe"].startswith(
            f"<https://veille.testco.example/unsubscribe?email={address.replace('@', '%40')}>")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert [p.get_content_type() for p in message.walk()].count("image/png") == 1
    assert len({message["Message-ID"] for message in messages.values()}) == 2
    page = result.path.read_text(encoding="utf-8")
    assert "cid:" not in page and f'src="{result.period}.png"' in page
    assert (result.path.parent / f"{result.period}.png").read_bytes().startswith(b"\x89PNG")


def test_an_invalid_recipient_is_reported_before_anything_is_sent(config, store, items, recorder, monkeypatch):
    handler, port = recorder
    monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://127.0.0.1:{port}")
    rd = config.audience("rd")
    # model_copy skips validation, as a configuration built in code could: the stage checks again.
    broken = config.model_copy(update={"audiences": [config.audience("direction"), rd.model_copy(
        update={"recipients": ["rd@testco.example\r\nBcc: all@victim.example"]}),
        config.audience("partners").model_copy(update={"recipients": ["not-an-address"]})]})
    with pytest.raises(DeliveryError) as error:
        run_digests(broken, store, now=now())
    assert "rd: 'rd@testco.example\\r\\nBcc: all@victim.example'" in str(error.value)
    assert "partners: 'not-an-address'" in str(error.value)
    assert handler.messages == [] and store.digests_list() == []


def test_a_subject_with_a_line_break_is_refused(config):
    digest = {"audience": "direction", "period": "2026-W48", "subject": "Veille\r\nBcc: all@victim.example",
              "text": "x", "html": "<p>x</p>", "chart": None, "language": "fr"}
    with pytest.raises(DeliveryError, match="en-tête refusé"):
        build_message(digest, config.delivery, ["dg@testco.example"], "<a@b>", now())
    with pytest.raises(DeliveryError):
        build_message({**digest, "subject": "ok"}, config.delivery, ["dg@testco.example\nBcc: x@y.z"], "<a@b>", now())


def test_audience_names_with_line_breaks_are_refused_in_the_configuration(tmp_path):
    from tests.digest_data import CONFIG
    from watch.errors import ConfigError

    with pytest.raises(ConfigError, match="une ligne"):
        make_config(tmp_path, CONFIG.replace("name: Comité de direction", 'name: "Comité\\r\\nBcc: x@y.z"'))


def test_an_unreadable_smtp_url_is_reported_before_anything(config, store, items, monkeypatch):
    monkeypatch.setenv("VEILLE_SMTP_URL", "smtp:/nowhere")
    with pytest.raises(DeliveryError, match="VEILLE_SMTP_URL"):
        run_digests(config, store, now=now())
    assert store.digests_list() == []


def test_a_delivery_taken_by_another_process_is_not_sent_twice(config, store, items, recorder, monkeypatch):
    handler, port = recorder
    result = run_digests(config, store, ["rd"], now=now()).results[0]  # built, pending (no SMTP yet)
    delivery = store.pending_deliveries("rd")[0]
    assert store.claim_delivery(delivery)  # another `veille digest send` took it
    assert not store.claim_delivery(delivery)
    monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://127.0.0.1:{port}")
    assert run_digests(config, store, ["rd"], now=now()).results[0].sent == 0 and handler.messages == []
    # Its process died: after a quarter of an hour the delivery is pending again.
    stale = store.pending_deliveries("rd", stale_before=datetime.now(timezone.utc) + timedelta(minutes=16))
    assert [d["id"] for d in stale] == [delivery["id"]] and result.digest_id == delivery["digest_id"]


def test_message_ids_are_kept_across_retries(config, store, items, monkeypatch):
    port = free_port()
    monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://127.0.0.1:{port}")
    down = run_digests(config, store, ["rd"], now=now()).results[0]
    first_id = store.deliveries(down.digest_id)[0]["message_id"]
    assert re.fullmatch(r"<[^@\s]+\.rd\.\d{4}-W\d{2}@testco\.example>", first_id)
    handler = SmtpRecorder()
    server = smtp_server(handler, port=port)
    server.start()
    try:
        run_digests(config, store, ["rd"], now=now())
    finally:
        server.stop()
    assert parsed(handler.messages[0][2])["Message-ID"] == first_id


def test_erasing_an_item_redacts_the_digests_that_quoted_it(config, store, items):
    result = run_digests(config, store, ["direction"], now=now()).results[0]  # no SMTP: pending
    assert "Veloce rachète Rouléo" in store.digest_by_id(result.digest_id)["html"]
    store.delete_items([items[0]])
    digest = store.digest_by_id(result.digest_id)
    assert "Veloce" not in digest["html"] + digest["text"] and "effacé à la demande" in digest["text"]
    assert digest["chart"] is None
    assert {(d["status"], d["last_error"]) for d in store.deliveries(result.digest_id)} == {("failed", "content erased")}
    assert items[0] not in {row["item_id"] for row in store.digest_item_ids(result.digest_id)}


class LocalSenderRefused(SmtpRecorder):
    """A relay that wants a sender of a real domain, as most do: MAIL FROM <…@localhost> is refused."""

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802 (aiosmtpd's names)
        if address.endswith("@localhost"):
            return "553 5.7.1 sender address rejected: domain not found"
        envelope.mail_from = address
        return "250 OK"


def without_sender(directory):
    from tests.digest_data import CONFIG

    text = CONFIG.replace("  sender: veille@testco.example\n", "").replace(
        "  unsubscribe: mailto:veille@testco.example\n", "")
    return make_config(directory, text)


def test_a_configuration_without_sender_validates_again_and_delivers_from_the_default(tmp_path, store, items,
                                                                                       recorder, monkeypatch):
    from click.testing import CliRunner

    from watch.cli import main
    from watch.config import Config, Delivery

    handler, port = recorder
    config = without_sender(tmp_path)
    assert config.delivery.sender == "veille@localhost"
    # Validated again, as a copy sent to a child process is: the default passes the checks of a written value.
    assert Config.model_validate(config.model_dump()) == config
    assert Delivery.model_validate({"sender": "veille@localhost"}).sender == "veille@localhost"
    check = CliRunner().invoke(main, ["--config", str(tmp_path / "sources.yaml"), "sources", "check"])
    assert check.exit_code == 0, check.output
    monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://127.0.0.1:{port}")
    result = run_digests(config, store, ["rd"], now=now()).results[0]
    assert result.status == "sent" and result.sent == 1
    mail_from, rcpts, raw = handler.messages[0]
    message = parsed(raw)
    assert mail_from == "veille@localhost" and rcpts == ["rd@testco.example"]
    assert message["From"] == "Veille Testco <veille@localhost>"
    assert "<mailto:veille@localhost?subject=unsubscribe>" in message["List-Unsubscribe"]


def test_a_relay_refusing_the_default_sender_says_to_set_delivery_sender(tmp_path, store, items, monkeypatch):
    handler = LocalSenderRefused()
    server = smtp_server(handler)
    server.start()
    try:
        monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
        refused = run_digests(without_sender(tmp_path), store, ["rd"], now=now()).results[0]
        assert handler.messages == [] and refused.status == "pending" and refused.pending == 1
        assert "veille@localhost" in refused.error and "553" in refused.error and "delivery.sender" in refused.error
        # With a sender of the company's domain, the same delivery goes at the next run, once.
        fixed = run_digests(make_config(tmp_path), store, ["rd"], now=now()).results[0]
    finally:
        server.stop()
    assert fixed.sent == 1 and [m[0] for m in handler.messages] == ["veille@testco.example"]
