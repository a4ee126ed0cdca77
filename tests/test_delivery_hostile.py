"""Half-finished deliveries and hostile delivery settings (issue #15, items 8, 9, 10 and 13), against real SMTP
servers (aiosmtpd on 127.0.0.1) and real `veille` processes.

- A server that stores the message, then stalls before its reply: `veille digest send` killed meanwhile leaves the
  delivery 'uncertain', held until its claim expires (said by `digest list` and by a rerun, exit 1), then sent
  again once with the same Message-ID; a sender that gets no reply does not retry in the same run.
- A recipient refused with 550: `veille digest send` exits 1, as the README says.
- A sender name with CR/LF: refused by `veille sources check`; one that reaches delivery anyway (a configuration
  built in code) leaves the deliveries pending, and they go once it is fixed.
- A password with @, / or # not percent-encoded in VEILLE_SMTP_URL: said so, with how to encode it, before any
  connection.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from digests import run_digests
from digests.deliver import deliver_pending
from digests.smtp import REPLY_TIMEOUT_S, Mailer, smtp_settings
from digests.stage import build_digest
from tests.digest_data import recorder  # noqa: F401 (a fixture)
from tests.digest_data import CONFIG, Seed, SmtpRecorder, make_config, seed, smtp_server
from watch.cli import main
from watch.store import CLAIM_MINUTES, Store

VEILLE = str(Path(sys.executable).parent / "veille")


class StallingRecorder(SmtpRecorder):
    """Stores each message at the end of DATA, then holds its reply until `release` is set (a server busy scanning
    what it received, or one whose reply is lost on the way)."""

    def __init__(self) -> None:
        super().__init__()
        self.stored = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's names)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        self.stored.set()
        while not self.release.is_set():
            await asyncio.sleep(0.05)
        return "250 Message accepted for delivery"


@pytest.fixture
def project(tmp_path):
    config = make_config(tmp_path)
    with Store.open(config.database) as store:
        seed(store, [Seed("Batteries : une norme européenne", source="trade", score=70, labels=("regulation",))])
    return tmp_path / "sources.yaml", config


def cli(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def message_id(raw: bytes) -> str:
    return email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"]


def test_a_send_killed_while_the_server_holds_its_reply_is_uncertain_held_then_sent_once_again(project, monkeypatch):
    path, config = project
    handler = StallingRecorder()
    server = smtp_server(handler)
    server.start()
    env = {"VEILLE_SMTP_URL": f"smtp://127.0.0.1:{server.port}"}
    try:
        proc = subprocess.Popen([VEILLE, "--config", str(path), "digest", "send", "--audience", "rd"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env})
        try:
            assert handler.stored.wait(60), proc.communicate()
        finally:
            proc.kill()  # the server has the message; its reply is not there yet
            proc.wait(10)
        with Store.open(config.database) as store:
            [delivery] = store.deliveries(store.digests_list("rd")[0]["id"])
        # Before: 'sending', shown as pending, and `digest list` said nothing of the doubt.
        assert delivery["status"] == "uncertain" and delivery["message_id"] == message_id(handler.messages[0][2])
        claimed = datetime.fromisoformat(delivery["claimed_at"])
        until = claimed + timedelta(minutes=CLAIM_MINUTES)

        listed = json.loads(cli("--config", str(path), "digest", "list", "--audience", "rd", "--format", "json").stdout)
        assert (listed[0]["status"], listed[0]["uncertain"], listed[0]["pending"]) == ("uncertain", 1, 1)
        assert datetime.fromisoformat(listed[0]["held_until"]) == until
        table = cli("--config", str(path), "digest", "list", "--audience", "rd", env={"COLUMNS": "250"}).stdout
        assert "incertain" in table and until.astimezone().strftime("%H:%M") in table
        status = cli("--config", str(path), "status", "--section", "digests", "--format", "json")
        rd = next(row for row in json.loads(status.stdout)["digests"] if row["audience"] == "rd")
        assert status.exit_code == 1 and (rd["status"], rd["uncertain"]) == ("uncertain", 1)  # needs attention

        handler.release.set()  # the server answers again: the rerun must still not send a second copy
        rerun = cli("--config", str(path), "digest", "send", "--audience", "rd", "--format", "json", env=env)
        # Before: "pending: 0", exit 0, and nothing said.
        assert rerun.exit_code == 1, rerun.output
        row = json.loads(rerun.stdout)[0]
        assert row["pending"] == 1 and row["sent"] == 0 and row["status"] == "uncertain"
        assert "envoi incertain" in rerun.stderr and "retenu jusqu'à" in rerun.stderr
        assert until.astimezone().strftime("%Y-%m-%d %H:%M") in rerun.stderr
        assert len(handler.messages) == 1

        # Once the claim has expired, the rule of the README: sent again, once, with the same Message-ID. The claim
        # is moved back by CLAIM_MINUTES, in place of a quarter of an hour's wait.
        monkeypatch.setenv("VEILLE_SMTP_URL", env["VEILLE_SMTP_URL"])
        with Store.open(config.database) as store:
            with store.transaction() as conn:
                conn.execute("update deliveries set claimed_at = ? where id = ?",
                             [(claimed - timedelta(minutes=CLAIM_MINUTES, seconds=1)).isoformat(), delivery["id"]])
            later = run_digests(config, store, ["rd"]).results[0]
            again = run_digests(config, store, ["rd"]).results[0]
            [delivery] = store.deliveries(later.digest_id)
    finally:
        handler.release.set()
        server.stop()
    assert later.sent == 1 and again.sent == 0 and delivery["status"] == "sent"
    assert len(handler.messages) == 2 and len({message_id(raw) for _, _, raw in handler.messages}) == 1


def test_no_reply_to_a_whole_message_is_uncertain_and_not_sent_again_in_the_same_run(project):
    _, config = project
    handler = StallingRecorder()
    server = smtp_server(handler)
    server.start()
    try:
        with Store.open(config.database) as store:
            now = datetime.now(timezone.utc) + timedelta(minutes=1)
            build_digest(config, store, config.audience("rd"), "2026-W50", now)
            # A second where a real sender waits ten minutes (RFC 5321) for the reply to the end of a message.
            mailer = Mailer(smtp_settings(f"smtp://127.0.0.1:{server.port}"), timeout=30, reply_timeout=1)
            try:
                outcome = deliver_pending(config, store, "rd", "digest", mailer)
            finally:
                mailer.close()
            [delivery] = store.deliveries(store.digest("rd", "2026-W50")["id"])
    finally:
        handler.release.set()
        server.stop()
    # Before: the timeout was a transient failure, retried (`retries: 1`): two copies, and the delivery pending.
    assert len(handler.messages) == 1 and outcome.sent == 0 and len(outcome.held) == 1
    assert delivery["status"] == "uncertain" and "incertain" in outcome.errors[0]
    assert REPLY_TIMEOUT_S < CLAIM_MINUTES * 60  # a sender still waiting is never overtaken by another process


def test_digest_send_exits_1_when_a_recipient_is_refused(project):
    path, config = project
    handler = SmtpRecorder(reject={"dg@testco.example"})
    server = smtp_server(handler)
    server.start()
    with Store.open(config.database) as store:
        seed(store, [Seed("Hausse des prix de 5 %", score=75, labels=("pricing",))])
    try:
        result = cli("--config", str(path), "digest", "send", "--audience", "direction", "--format", "json",
                     env={"VEILLE_SMTP_URL": f"smtp://127.0.0.1:{server.port}"})
    finally:
        server.stop()
    row = json.loads(result.stdout)[0]
    assert (row["sent"], row["failed"]) == (1, 1) and "550" in row["error"]
    assert handler.recipients() == ["daf@testco.example"]
    assert result.exit_code == 1  # before: 0, though one recipient got nothing


def test_a_sender_name_with_a_line_break_is_refused_by_sources_check(tmp_path):
    text = CONFIG.replace("  sender_name: Veille Testco\n", '  sender_name: "Veille\\r\\nBcc: all@victim.example"\n')
    (tmp_path / "sources.yaml").write_text(text, encoding="utf-8")
    line = text.splitlines().index('  sender_name: "Veille\\r\\nBcc: all@victim.example"') + 1
    result = cli("--config", str(tmp_path / "sources.yaml"), "sources", "check")
    assert result.exit_code == 2, result.output  # before: 0, then every delivery of the period failed
    assert f"sources.yaml:{line}" in result.stderr and "sender_name" in result.stderr
    assert "une ligne" in result.stderr and "Traceback" not in result.output


def test_a_header_our_configuration_breaks_leaves_the_deliveries_pending_until_it_is_fixed(project, recorder,
                                                                                          monkeypatch):
    _, config = project
    handler, port = recorder
    # model_copy skips validation, as a configuration built in code could: the stage must not lose the delivery.
    broken = config.model_copy(update={"delivery": config.delivery.model_copy(
        update={"sender_name": "Veille\r\nBcc: all@victim.example"})})
    monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://127.0.0.1:{port}")
    with Store.open(config.database) as store:
        refused = run_digests(broken, store, ["rd"]).results[0]
        deliveries = store.deliveries(refused.digest_id)
        fixed = run_digests(config, store, ["rd"]).results[0]
    # Before: 'failed' (the recipient's fault, for good), and once the file was fixed nothing was sent.
    assert refused.status == "pending" and refused.failed == 0 and refused.pending == 1
    assert [d["status"] for d in deliveries] == ["pending"] and "sources.yaml" in refused.error
    assert fixed.sent == 1 and handler.recipients() == ["rd@testco.example"]


@pytest.mark.parametrize("password", ["s3cr@t/x", "s3cr#t", "s3/cr@t#1", "s3cr?t@x"])
def test_an_smtp_password_not_percent_encoded_is_said_so_before_any_connection(project, recorder, password):
    path, config = project
    handler, port = recorder
    result = cli("--config", str(path), "digest", "send",
                 env={"VEILLE_SMTP_URL": f"smtp://veille:{password}@127.0.0.1:{port}"})
    # Before: a part of the password was taken for the host ("unreachable smtp://veille@t:587", a DNS lookup).
    assert result.exit_code == 2, result.output
    assert "%40" in result.stderr and "%2F" in result.stderr and "getpass" in result.stderr
    assert password not in result.output and "Traceback" not in result.output
    assert handler.messages == []
    with Store.open(config.database) as store:
        assert store.digests_list() == []  # checked before anything was built
    encoded = smtp_settings(f"smtp://veille:{quote(password, safe='')}@127.0.0.1:25")  # as the message says
    assert (encoded.username, encoded.password, encoded.host) == ("veille", password, "127.0.0.1")
