"""`veille digest preview|send|list|alerts`, `veille unsubscribe|resubscribe`, and same-day alerts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from digests import run_alerts
from tests.digest_data import CONFIG, Seed, SmtpRecorder, make_config, seed, smtp_server
from watch.cli import main
from watch.store import Store

PARIS = ZoneInfo("Europe/Paris")


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def project(tmp_path):
    config = make_config(tmp_path)
    with Store.open(config.database) as store:
        seed(store, [
            # Published an hour ago: fresh enough for a same-day alert (two days at most) until tomorrow.
            Seed("Veloce rachète Rouléo", score=92, labels=("acquisition",), competitors=("veloce",), actor="veloce",
                 published=datetime.now(timezone.utc) - timedelta(hours=1)),
            Seed("Batteries : une norme européenne", source="trade", score=70, labels=("regulation",)),
            Seed("Hausse des prix de 5 %", score=75, labels=("pricing",)),
        ])
    return tmp_path / "sources.yaml", config


def test_preview_writes_the_html_and_marks_nothing(project):
    path, config = project
    result = run("--config", str(path), "digest", "preview", "--audience", "direction")
    assert result.exit_code == 0, result.output
    page = result.stdout.strip()
    assert page.endswith(".html") and "/direction/preview/" in page
    assert "Veloce rachète Rouléo" in open(page, encoding="utf-8").read()
    assert "2 article(s)" in result.stderr
    with Store.open(config.database) as store:
        assert store.digests_list() == []  # nothing built, nothing delivered
    again = run("--config", str(path), "digest", "preview", "--audience", "direction")
    assert again.stdout == result.stdout


def test_preview_of_a_past_week_and_bad_arguments(project):
    path, _ = project
    past = run("--config", str(path), "digest", "preview", "--audience", "rd", "--period", "2020-W10")
    assert past.exit_code == 0 and past.stdout.strip().endswith("rd/preview/2020-W10.html")
    assert "0 item(s)" in past.stderr or "0 article(s)" in past.stderr
    bad = run("--config", str(path), "digest", "preview", "--audience", "rd", "--period", "2026-W60")
    assert bad.exit_code == 2 and "2026-W47" in bad.stderr and "Traceback" not in bad.output
    unknown = run("--config", str(path), "digest", "preview", "--audience", "directoin")
    assert unknown.exit_code == 2 and "'direction'" in unknown.stderr


def test_send_without_smtp_archives_and_says_so_then_list_shows_pending(project):
    path, _ = project
    result = run("--config", str(path), "digest", "send", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["audience"]: r["status"] for r in rows} == {"direction": "pending", "rd": "pending", "partners": "pending"}
    assert "VEILLE_SMTP_URL n'est pas défini" in result.stderr and ".eml" in result.stderr
    listed = json.loads(run("--config", str(path), "digest", "list", "--format", "json").stdout)
    assert {r["audience"]: (r["items"], r["pending"], r["sent"]) for r in listed} == {
        # The partners are external and name no competitor: Veloce's acquisition is not for them.
        "direction": (2, 2, 0), "rd": (1, 1, 0), "partners": (2, 1, 0)}
    csv_out = run("--config", str(path), "digest", "list", "--format", "csv").stdout
    assert csv_out.splitlines()[0].startswith("id,audience,kind,period")


def test_send_dry_run_stores_nothing(project):
    path, config = project
    result = run("--config", str(path), "digest", "send", "--audience", "direction", "--dry-run", "--format", "json")
    assert json.loads(result.stdout)[0]["items"] == 2 and "rien n'a été enregistré" in result.stderr
    with Store.open(config.database) as store:
        assert store.digests_list() == []


def test_send_to_a_real_server_then_again_sends_nothing_twice(project, monkeypatch):
    path, _ = project
    handler = SmtpRecorder()
    server = smtp_server(handler)
    server.start()
    try:
        env = {"VEILLE_SMTP_URL": f"smtp://127.0.0.1:{server.port}"}
        first = run("--config", str(path), "digest", "send", "--format", "json", env=env)
        second = run("--config", str(path), "digest", "send", "--format", "json", env=env)
    finally:
        server.stop()
    assert first.exit_code == 0 and second.exit_code == 0
    assert sum(r["sent"] for r in json.loads(first.stdout)) == 4 and len(handler.messages) == 4
    assert sum(r["sent"] for r in json.loads(second.stdout)) == 0


def test_send_exits_1_when_the_server_is_down(project):
    from tests.conftest import free_port

    path, _ = project
    result = run("--config", str(path), "digest", "send", env={"VEILLE_SMTP_URL": f"smtp://127.0.0.1:{free_port()}"})
    assert result.exit_code == 1 and "direction: serveur SMTP injoignable" in result.stderr


def test_invalid_recipient_in_the_configuration_is_reported_before_anything(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(CONFIG.replace("rd@testco.example", "rd@@testco"), encoding="utf-8")
    result = run("--config", str(path), "digest", "send")
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "rd@@testco" in text)
    assert result.exit_code == 2 and f"sources.yaml:{line}" in result.stderr and "rd@@testco" in result.stderr


def test_unsubscribe_and_resubscribe(project):
    path, config = project
    assert "ajoutée" in run("--config", str(path), "unsubscribe", "DG@testco.example").stdout
    assert "déjà" in run("--config", str(path), "unsubscribe", "dg@testco.example").stdout
    with Store.open(config.database) as store:
        assert store.is_suppressed("dg@testco.example")
    bad = run("--config", str(path), "unsubscribe", "dg@testco.example\nBcc: x@y.z")
    assert bad.exit_code == 2 and "injection" in bad.stderr
    assert "retirée" in run("--config", str(path), "resubscribe", "dg@testco.example").stdout
    english = run("--config", str(path), "resubscribe", "dg@testco.example", env={"VEILLE_LANG": "en"})
    assert "not on the suppression list" in english.stdout


# -- same-day alerts -----------------------------------------------------------------------------------------

def next_local(hour: int) -> datetime:
    """The next moment at `hour`:00 in Paris after now (so that items stored now are in the last 24 hours)."""
    local = datetime.now(timezone.utc).astimezone(PARIS)
    moment = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if moment <= local:
        moment += timedelta(days=1)
    return moment.astimezone(timezone.utc)


def test_alerts_go_once_per_item_above_the_threshold_and_never_at_night(project, monkeypatch):
    _, config = project
    handler = SmtpRecorder()
    server = smtp_server(handler)
    server.start()
    monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
    try:
        with Store.open(config.database) as store:
            night = run_alerts(config, store, now=next_local(23))
            assert [(r.audience, r.status, r.error) for r in night.results] == [("direction", "skipped", "night")]
            assert handler.messages == []
            day = run_alerts(config, store, now=next_local(10))
            assert [(r.audience, r.status, r.items, r.sent) for r in day.results] == [("direction", "sent", 1, 2)]
            again = run_alerts(config, store, now=next_local(10) + timedelta(minutes=5))
            assert again.results[0].items == 0 and len(handler.messages) == 2
    finally:
        server.stop()
    subjects = {m[2].split(b"\r\nSubject: ", 1)[-1].split(b"\r\n", 1)[0] for m in handler.messages}
    assert len(subjects) == 1 and b"Alerte" in next(iter(subjects))


def test_alerts_at_night_when_configured(tmp_path):
    config = make_config(tmp_path, CONFIG.replace("alerts: {min_score: 85}", "alerts: {min_score: 85, night: true}"))
    with Store.open(config.database) as store:
        seed(store, [Seed("Veloce rachète Rouléo", score=92, labels=("acquisition",), competitors=("veloce",),
                          actor="veloce", published=datetime.now(timezone.utc) - timedelta(hours=1)),
                     Seed("Sous le seuil d'alerte", score=84, labels=("acquisition",), competitors=("veloce",),
                          actor="veloce")])
        result = run_alerts(config, store, now=next_local(23)).results[0]
        assert result.status == "pending" and result.items == 1  # no SMTP here: written as .eml, pending
        assert result.eml and result.eml[0].parent.name == "alerts"
    listed = json.loads(run("--config", str(tmp_path / "sources.yaml"), "digest", "list", "--alerts",
                            "--format", "json").stdout)
    assert [(r["audience"], r["kind"], r["items"]) for r in listed] == [("direction", "alert", 1)]


def test_digest_alerts_command(project):
    path, _ = project
    result = run("--config", str(path), "digest", "alerts", "--dry-run", "--format", "json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert rows[0]["audience"] == "direction" and rows[0]["status"] in ("pending", "skipped")
