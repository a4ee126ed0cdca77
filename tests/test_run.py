"""`veille run` for real: the scheduler in its own process against the local HTTP server, short intervals, signals.

Each test starts the real command in a subprocess, reads its job lines (one per job, logfmt) and its database, and
stops it with a signal. Schedules of 1 second and `check_every: 1s` keep each test to a few seconds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import descendants, rss, rss_item, write_config
from watch.scheduler import lock_holder, parse_logfmt
from watch.store import Store

VEILLE = str(Path(sys.executable).parent / "veille")
FAST = "scheduler: {check_every: 1s, workers: 4}\nnlp: {models: false}\n"


class Run:
    """A `veille run` subprocess whose stderr (the job lines) goes to a file the test reads as it grows."""

    def __init__(self, config: Path, *args: str, name: str = "run"):
        self.stderr = config.parent / f"{name}.stderr"
        self.config = config
        env = {**os.environ, "VEILLE_LANG": "fr"}
        with open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen([VEILLE, "--config", str(config), "run", *args], stdout=subprocess.DEVNULL,
                                         stderr=err, env=env, cwd=config.parent)

    def text(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")

    def lines(self, **fields: str) -> list[dict[str, str]]:
        """Parsed log lines whose fields match (`job="collect:a"`, `outcome="ok"`)."""
        found = []
        for line in self.text().splitlines():
            parsed = parse_logfmt(line)
            if all(parsed.get(k) == v for k, v in fields.items()):
                found.append(parsed)
        return found

    def wait_for(self, count: int = 1, timeout: float = 20, **fields: str) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.lines(**fields)
            if len(found) >= count:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {count} line(s) {fields} in:\n{self.text()}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"veille run did not stop on {signum}:\n{self.text()}") from None


@pytest.fixture
def runs():
    started: list[Run] = []

    def start(config: Path, *args: str, name: str = "run") -> Run:
        run = Run(config, *args, name=name)
        started.append(run)
        return run

    yield start
    for run in started:  # a failed test must not leave a scheduler behind
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def veille(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([VEILLE, "--config", str(config), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "VEILLE_LANG": "fr", "COLUMNS": "160"}, cwd=config.parent)


def test_run_collects_each_source_on_its_schedule_classifies_and_stops_on_sigterm(server, tmp_path, runs):
    server.add("/a.xml", rss(rss_item(1, "Veloce rachète Rouléo"), rss_item(2, "Hausse des prix du VAE")))
    server.add("/b.xml", rss(rss_item(3, "Nouvelle piste cyclable à Lyon")))
    config = write_config(tmp_path, [{"id": "a", "url": server.url("/a.xml"), "schedule": {"every": "1s"}},
                                     {"id": "b", "url": server.url("/b.xml"), "schedule": {"every": "1h"}}], FAST)
    run = runs(config)
    first = run.wait_for(job="collect:a", outcome="ok")[0]
    assert (first["source"], first["new"], first["entries"]) == ("a", "2", "2")
    classified = run.wait_for(job="classify", outcome="ok", classified="3", timeout=120)[0]
    assert int(classified["classified"]) >= 2
    run.wait_for(3, job="collect:a")          # every second…
    assert len(run.lines(job="collect:b")) == 1  # …and b once: its next run is in an hour
    later = run.lines(job="collect:a")[1]
    assert later["fetch"] == "not_modified" and later["new"] == "0"  # conditional GET on the next runs
    assert run.stop(signal.SIGTERM) == 0
    assert run.lines(event="stopped")
    assert lock_holder(tmp_path / "veille.db") is None

    log_file = (tmp_path / "veille-run.log").read_text(encoding="utf-8")
    assert "job=collect:a source=a outcome=ok" in log_file  # the rotating file gets the same lines
    with Store.open(tmp_path / "veille.db") as store:
        jobs = {row["job"]: row for row in store.job_runs()}
        items = store.items()
    assert jobs["collect:a"]["runs"] >= 3 and jobs["collect:a"]["last_outcome"] == "ok"
    assert jobs["collect:b"]["runs"] == 1 and jobs["collect:b"]["last_success_at"]
    assert jobs["classify"]["last_outcome"] == "ok"
    assert len(items) == 3 and all(item["classified_at"] for item in items)


def test_second_scheduler_refuses_while_analysts_commands_keep_working(server, tmp_path, runs):
    server.add("/a.xml", rss(*(rss_item(n) for n in range(1, 30))), delay=0.2)
    server.add("/b.xml", rss(rss_item(100)))
    config = write_config(tmp_path, [{"id": "a", "url": server.url("/a.xml"), "schedule": {"every": "1s"}},
                                     {"id": "b", "url": server.url("/b.xml"), "schedule": {"every": "1d"}}], FAST)
    first = runs(config)
    first.wait_for(event="started")

    second = veille(config, "run")
    assert second.returncode == 2
    assert f"pid {first.proc.pid}" in second.stderr and "un seul `veille run` par base" in second.stderr
    assert "Traceback" not in second.stderr
    # The same database through another configuration file is refused too: the lock belongs to the database.
    other = tmp_path / "other.yaml"
    other.write_text(config.read_text(encoding="utf-8").replace("database: veille.db",
                                                                f"database: {tmp_path / 'veille.db'}"))
    assert veille(other, "run").returncode == 2

    # An analyst collects, lists and checks the status while the scheduler writes every second.
    for _ in range(2):
        collected = veille(config, "collect", "--no-classify", "--format", "json")
        assert collected.returncode == 0, collected.stderr
        assert {row["source"] for row in json.loads(collected.stdout)} == {"a", "b"}
    listed = veille(config, "items", "--format", "json")
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 30
    status = veille(config, "status", "--format", "json")
    report = json.loads(status.stdout)
    assert report["scheduler"]["pid"] == first.proc.pid
    jobs = {row["job"]: row for row in report["jobs"]}
    assert jobs["collect:b"]["next_run"] > jobs["collect:b"]["last_run"]
    assert first.wait_for(2, job="collect:a", outcome="ok")
    assert not first.lines(outcome="error")
    assert first.stop(signal.SIGINT) == 0


BAD = """
  - {id: c, name: C, url: "http://127.0.0.1:1/c.xml", themes: [t9], schedule: {cron: "0 2 * * *"}}
"""


def test_reload_with_a_bad_configuration_keeps_the_old_jobs_and_a_fixed_file_applies(server, tmp_path, runs):
    server.add("/a.xml", rss(rss_item(1)))
    server.add("/b.xml", rss(rss_item(2)))
    config = write_config(tmp_path, [{"id": "a", "url": server.url("/a.xml"), "schedule": {"every": "1s"}}], FAST)
    good = config.read_text(encoding="utf-8")
    run = runs(config)
    run.wait_for(job="collect:a", outcome="ok")

    config.write_text(good.replace("sources:\n", "sources:" + BAD), encoding="utf-8")
    run.proc.send_signal(signal.SIGHUP)
    refused = run.wait_for(event="reload-refused")[0]
    assert refused["problems"] == "2"
    problems = [line["problem"] for line in run.wait_for(2, event="config-problem")]
    assert any(re.match(r".*sources.yaml:7: sources\[0\]\.themes\[0\]: thème inconnu 't9'", p) for p in problems)
    assert any("sources.yaml:7" in p and "02:00" in p for p in problems)
    # The old schedule goes on.
    seen = len(run.lines(job="collect:a"))
    run.wait_for(seen + 2, job="collect:a")
    assert not run.lines(job="collect:c")

    # Saving a valid file is enough (no signal): b joins, a keeps its rhythm.
    fixed = good.replace("sources:\n", "sources:\n  - " + json.dumps(
        {"id": "b", "name": "B", "url": server.url("/b.xml"), "schedule": {"every": "1h"}}) + "\n")
    config.write_text(fixed, encoding="utf-8")
    run.wait_for(event="schedule", reason="file changed", added="1", changed="0", removed="0")
    assert run.wait_for(job="collect:b", outcome="ok")[0]["new"] == "1"
    assert run.stop() == 0


def test_reload_refuses_an_alias_bomb_quickly_and_keeps_the_old_jobs(server, tmp_path, runs):
    from tests.test_config import ALIAS_BOMB

    server.add("/a.xml", rss(rss_item(1)))
    config = write_config(tmp_path, [{"id": "a", "url": server.url("/a.xml"), "schedule": {"every": "1s"}}], FAST)
    good = config.read_text(encoding="utf-8")
    run = runs(config)
    run.wait_for(job="collect:a", outcome="ok")

    config.write_text(good + ALIAS_BOMB.split("\n", 1)[1], encoding="utf-8")  # saved: the file watch reloads it
    refused = run.wait_for(event="reload-refused", timeout=15)[0]
    assert refused["problems"] == "1"
    problem = run.wait_for(event="config-problem")[0]["problem"]
    assert "sources.yaml:" in problem and "bombe d'alias" in problem, problem
    seen = len(run.lines(job="collect:a"))
    run.wait_for(seen + 1, job="collect:a")  # the old schedule goes on
    assert run.stop() == 0


def seed_runs(database: Path, **last_success: float) -> None:
    """Job rows as a previous scheduler left them: each job's last success, `hours` ago."""
    from datetime import timedelta

    from watch.models import utcnow

    with Store.open(database) as store:
        for job, hours in last_success.items():
            job = job.replace("__", ":")
            at = utcnow() - timedelta(hours=hours)
            store.record_job_run(job, job.split(":")[0], None, at, at, "ok")


def recorded_runs(database: Path) -> dict[str, int]:
    with Store.open(database) as store:
        return {row["job"]: row["runs"] for row in store.job_runs()}


def test_overdue_jobs_run_once_at_start_and_the_others_keep_their_rhythm(server, tmp_path, runs):
    server.add("/fresh.xml", rss(rss_item(1)))
    server.add("/stale.xml", rss(rss_item(2)))
    config = write_config(tmp_path, [
        {"id": "fresh", "url": server.url("/fresh.xml"), "schedule": {"every": "1h"}},
        {"id": "stale", "url": server.url("/stale.xml"), "schedule": {"every": "1h"}},
    ], FAST)
    # Down for three weeks: housekeeping (daily) missed 21 runs; `stale` is overdue; `fresh` ran 10 minutes ago.
    seed_runs(tmp_path / "veille.db", collect__fresh=1 / 6, collect__stale=2, housekeeping=21 * 24)
    run = runs(config)
    overdue = run.wait_for(event="schedule", reason="start")[0]["overdue"].split(",")
    assert "collect:stale" in overdue and "housekeeping" in overdue and "collect:fresh" not in overdue
    run.wait_for(job="housekeeping", outcome="ok")
    run.wait_for(job="collect:stale", outcome="ok")
    time.sleep(2)
    assert run.stop() == 0
    assert len(run.lines(job="housekeeping")) == 1  # once, not once per missed day
    assert not run.lines(job="collect:fresh")
    with Store.open(tmp_path / "veille.db") as store:
        jobs = {row["job"]: row for row in store.job_runs()}
    assert jobs["housekeeping"]["runs"] == 2  # the seeded run and the catch-up
    # Its next run is back on its daily time, 04:30 Paris.
    next_run = datetime.fromisoformat(jobs["housekeeping"]["next_run_at"])
    assert next_run.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M") == "04:30"
    fresh_next = jobs["collect:fresh"]["next_run_at"]
    assert fresh_next > jobs["collect:fresh"]["last_run_at"]


def test_a_hanging_source_times_out_is_recorded_and_the_others_go_on(server, tmp_path, runs):
    server.add("/hang.xml", hang=True)
    server.add("/ok.xml", rss(rss_item(1)))
    config = write_config(tmp_path, [{"id": "hang", "url": server.url("/hang.xml"), "schedule": {"every": "1s"}},
                                     {"id": "ok", "url": server.url("/ok.xml"), "schedule": {"every": "1s"}}],
                          FAST.replace("check_every: 1s", "check_every: 1s, collect_grace: 1m"))
    config.write_text(config.read_text().replace("timeout: 2,", "timeout: 1,"), encoding="utf-8")
    run = runs(config)
    failed = run.wait_for(job="collect:hang", outcome="error")[0]
    assert "délai" in failed["error"] or "timeout" in failed["error"].lower()
    run.wait_for(3, job="collect:ok", outcome="ok")   # not held up by the hanging one
    skipped = run.wait_for(job="collect:hang", outcome="skipped")[0]  # then backoff, not a retry every second
    assert "en attente" in skipped["error"]
    assert run.stop() == 0
    status = veille(config, "status", "--section", "sources", "--format", "json")
    assert status.returncode == 1  # something needs attention
    sources = {row["source"]: row for row in json.loads(status.stdout)["sources"]}
    assert sources["hang"]["status"] == "failing" and sources["hang"]["backoff_until"] and sources["hang"]["error"]
    assert sources["ok"]["status"] == "active"


def test_the_database_locked_for_a_few_seconds_delays_jobs_without_failing_them(server, tmp_path, runs):
    server.add("/a.xml", rss(rss_item(1)))
    config = write_config(tmp_path, [{"id": "a", "url": server.url("/a.xml"), "schedule": {"every": "1s"}}], FAST)
    run = runs(config)
    run.wait_for(job="collect:a", outcome="ok")
    server.routes["/a.xml"].body = rss(rss_item(1), rss_item(2)).encode()  # something to write
    locker = sqlite3.connect(tmp_path / "veille.db", isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock…
    time.sleep(3)
    locker.execute("COMMIT")           # …for three seconds
    locker.close()
    run.wait_for(job="collect:a", new="1")
    assert run.stop() == 0
    assert not run.lines(outcome="error") and not run.lines(event="not-recorded")
    with Store.open(tmp_path / "veille.db") as store:
        recorded = {row["job"]: row for row in store.job_runs()}["collect:a"]["runs"]
    assert recorded == len(run.lines(job="collect:a", source="a"))  # every run written, the locked ones too


def test_sigterm_during_a_slow_fetch_waits_for_it_and_leaves_whole_items(server, tmp_path, runs):
    server.add("/slow.xml", rss(*(rss_item(n) for n in range(1, 21))), delay=1)  # under the 2 s timeout
    config = write_config(tmp_path, [{"id": "slow", "url": server.url("/slow.xml"), "schedule": {"every": "1h"}}],
                          FAST)
    run = runs(config)
    run.wait_for(event="started")
    while not server.routes["/slow.xml"].hits:
        time.sleep(0.05)
    started = time.monotonic()
    assert run.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 15
    waited = run.lines(event="waiting")
    assert waited and "collect:slow" in waited[0]["jobs"]
    assert run.lines(job="collect:slow", outcome="ok", new="20")
    with Store.open(tmp_path / "veille.db") as store:
        items = store.items()
    assert len(items) == 20 and all(item["title"] and item["canonical_url"] for item in items)


def test_a_second_signal_exits_at_once(server, tmp_path, runs):
    server.add("/slow.xml", rss(rss_item(1)), delay=10)
    config = write_config(tmp_path, [{"id": "slow", "url": server.url("/slow.xml")}],
                          FAST.replace("check_every: 1s", "check_every: 1s"))
    config.write_text(config.read_text().replace("timeout: 2,", "timeout: 30,"), encoding="utf-8")
    run = runs(config)
    while not server.routes["/slow.xml"].hits:
        time.sleep(0.05)
    run.proc.send_signal(signal.SIGTERM)
    run.wait_for(event="waiting")
    started = time.monotonic()
    assert run.stop(signal.SIGTERM, timeout=5) == 1
    assert time.monotonic() - started < 3
    assert "Second signal" in run.text()


def test_status_without_a_scheduler_shows_what_a_start_would_do(server, tmp_path):
    server.add("/a.xml", rss(rss_item(1)))
    config = write_config(tmp_path, [{"id": "a", "url": server.url("/a.xml"), "schedule": {"every": "2h"}}], FAST)
    table = veille(config, "status")
    assert table.returncode == 0, table.stderr
    assert "arrêté" in table.stdout and "collect:a" in table.stdout
    rows = [json.loads(line) for line in veille(config, "status", "--format", "jsonl").stdout.splitlines()]
    jobs = {row["job"]: row for row in rows if row["section"] == "jobs"}
    assert set(jobs) == {"collect:a", "classify", "housekeeping"}
    assert jobs["collect:a"]["schedule"] == "every 2h" and jobs["collect:a"]["outcome"] is None
    csv = veille(config, "status", "--section", "sources", "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("section,source,kind,status") and csv[1].startswith("sources,a,feed,")


def test_the_scheduler_process_never_imports_twisted(server, tmp_path):
    server.add("/a.xml", rss(rss_item(1)))
    server.add("/list", "<html><body><a class='a' href='/art/1'>Un article</a></body></html>", content_type=HTML)
    server.add("/art/1", ARTICLE.format(n=1), content_type=HTML)
    config = write_config(tmp_path, [
        {"id": "a", "url": server.url("/a.xml"), "schedule": {"every": "1s"}},
        {"id": "crawl", "kind": "spider", "url": server.url("/list"), "follow": "a.a", "schedule": {"every": "1h"}},
    ], FAST)
    crawl_settings(config)
    script = (f"import sys\nfrom watch.cli import main\n"
              f"try:\n    main(['--config', {str(config)!r}, 'run', '--for', '8s'])\n"
              f"except SystemExit as exc:\n    code = exc.code\n"
              f"print('twisted' in sys.modules, 'scrapy' in sys.modules, code)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.stdout.split() == ["False", "False", "0"], done.stderr
    assert "job=collect:crawl source=crawl outcome=ok" in done.stderr  # a real crawl ran, in its child process


def digest_config(tmp_path: Path, server, extra: str = "") -> Path:
    """The digest tests' watch (tests/digest_data.py) with its feeds on the local server and fast scheduler settings."""
    from tests.digest_data import CONFIG

    server.add("/press.xml", rss())
    server.add("/trade.xml", rss())
    text = (CONFIG.replace("http://press.example/rss", server.url("/press.xml"))
            .replace("http://trade.example/rss", server.url("/trade.xml"))
            .replace("  retries: 1\n", "  retries: 0\n")
            + "scheduler: {check_every: 1s, deliveries: 2s, digest_grace: 1s}\nnlp: {models: false}\n" + extra)
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_digest_missed_during_downtime_is_sent_once_and_a_smtp_outage_is_retried(server, tmp_path, runs,
                                                                                    monkeypatch):
    from tests.digest_data import Seed, SmtpRecorder, seed, smtp_server
    from tests.conftest import free_port

    config = digest_config(tmp_path, server)
    with Store.open(tmp_path / "veille.db") as store:
        seed(store, [Seed("Veloce rachète Rouléo", score=90, labels=("acquisition",), competitors=("veloce",),
                          actor="veloce"), Seed("Rouléo baisse ses prix", score=80, labels=("pricing",))])
    # The scheduler was down for three weeks: direction's Monday brief was last sent three Mondays ago; the
    # collections ran a minute ago (not due), the other audiences' briefs are not due yet.
    seed_runs(tmp_path / "veille.db", digest__direction=21 * 24, collect__press=1 / 60, collect__trade=1 / 60)
    port = free_port()
    monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://127.0.0.1:{port}")  # nothing listens there yet: server down
    run = runs(config)
    down = run.wait_for(job="digest:direction")[0]
    assert down["outcome"] == "pending" and down["status"] == "pending" and down["built"] == "1"
    assert "127.0.0.1" in down["error"] or "connexion" in down["error"].lower() or "refused" in down["error"].lower()
    run.wait_for(job="deliveries", outcome="pending")  # retried every 2 s while the server is down

    recorder = SmtpRecorder()
    smtp = smtp_server(recorder, port=port)
    smtp.start()
    try:
        sent = run.wait_for(job="deliveries", outcome="ok", sent="2")[0]
        assert sent["still_pending"] == "0"
    finally:
        smtp.stop()
    assert sorted(recorder.recipients()) == ["daf@testco.example", "dg@testco.example"]
    status = json.loads(veille(config, "status", "--section", "digests", "--format", "json").stdout)
    direction = next(row for row in status["digests"] if row["audience"] == "direction")
    assert direction["status"] == "sent" and direction["sent"] == 2 and direction["pending"] == 0
    assert run.stop() == 0
    assert len(run.lines(job="digest:direction")) == 1  # once for the three missed Mondays
    assert not run.lines(job="digest:rd") and not run.lines(job="digest:partners")
    with Store.open(tmp_path / "veille.db") as store:
        assert len(store.digests_list("direction")) == 1


def test_a_digest_whose_time_passes_while_the_scheduler_is_frozen_is_caught_up_once(server, tmp_path, runs):
    config = digest_config(tmp_path, server)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('schedule: {cron: "mon 07:30"}', "schedule: {every: 4s}"), encoding="utf-8")
    seed_runs(tmp_path / "veille.db", collect__press=1 / 60, collect__trade=1 / 60)
    run = runs(config)
    first = run.wait_for(job="digest:direction")[0]
    assert first["outcome"] in ("ok", "pending")
    while not recorded_runs(tmp_path / "veille.db").get("digest:direction"):  # the run is over, not just logged
        time.sleep(0.05)
    os.kill(run.proc.pid, signal.SIGSTOP)  # the machine sleeps past two due times (grace: 1 s)
    time.sleep(10)
    os.kill(run.proc.pid, signal.SIGCONT)
    missed = run.wait_for(job="digest:direction", outcome="missed")[0]
    assert "grâce 1s" in missed["error"]
    run.wait_for(job="digest:direction", event="catch-up")
    run.wait_for(2, job="digest:direction", outcome=first["outcome"])
    assert run.stop() == 0
    assert len(run.lines(job="digest:direction", outcome="missed")) == 1  # two missed times, one catch-up


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads child processes from /proc")
def test_sigterm_during_classification_stops_its_process_and_leaves_no_orphan(server, tmp_path, runs):
    server.add("/many.xml", rss(*(rss_item(n, f"Veloce lance le modèle {n} à batterie LFP") for n in range(300))))
    config = write_config(tmp_path, [{"id": "many", "url": server.url("/many.xml"), "schedule": {"every": "1h"}}],
                          FAST)
    run = runs(config)
    run.wait_for(job="collect:many", outcome="ok", new="300")
    deadline = time.monotonic() + 20
    while not (children := descendants(run.proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children, "the classification runs in a child process"
    started = time.monotonic()
    assert run.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 10  # the pass is stopped, not waited for
    assert run.lines(job="classify", outcome="interrupted")
    time.sleep(0.5)
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]  # no orphan
    with sqlite3.connect(tmp_path / "veille.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("select count(*) from items").fetchone()[0] == 300
        # Whatever was classified was written whole (one transaction per chunk): language with the labels.
        assert db.execute("select count(*) from items where classified_at is not null and lang is null").fetchone()[0] == 0


HTML = "text/html; charset=utf-8"
ARTICLE = ("<html lang='fr'><head><title>Article {n}</title></head><body><article><h1>Article {n}</h1><p>"
           + "Le fabricant nantais annonce une nouvelle gamme de vélos cargo électriques pour les familles. " * 4
           + "</p></article></body></html>")


def crawl_settings(config: Path) -> None:
    """Quick, still polite, crawl settings for the spider sources of a test configuration."""
    text = config.read_text(encoding="utf-8")
    start = text.index("collect: {")
    end = text.index("}", start) + 1
    settings = {"timeout": 3, "connect_timeout": 2, "per_host": 1, "crawl_delay": 0.05, "retries": 0,
                "crawl_budget": 30}
    config.write_text(text[:start] + "collect: " + json.dumps(settings) + text[end:], encoding="utf-8")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads child processes from /proc")
def test_sigterm_during_a_crawl_stops_it_keeps_whole_items_and_leaves_no_orphan(server, tmp_path, runs):
    server.add("/news/", "<html><body>" + "".join(f"<a class='a' href='/n/{n}.html'>{n}</a>" for n in range(40))
               + "</body></html>", content_type=HTML)
    for n in range(40):
        server.add(f"/n/{n}.html", ARTICLE.format(n=n), content_type=HTML, delay=0.3)
    config = write_config(tmp_path, [{"id": "site", "kind": "spider", "url": server.url("/news/"), "follow": "a.a",
                                      "schedule": {"every": "1h"}}], FAST)
    crawl_settings(config)
    run = runs(config)
    deadline = time.monotonic() + 30
    while sum(route.hits for path, route in server.routes.items() if path.startswith("/n/")) < 3:
        assert time.monotonic() < deadline, run.text()
        time.sleep(0.1)
    crawlers = descendants(run.proc.pid)
    assert crawlers, "the crawl runs in a child process"
    assert run.stop(signal.SIGTERM) == 0
    stopped = run.lines(job="collect:site")[0]
    assert stopped["outcome"] == "interrupted" and stopped["fetch"] == "stopped"
    time.sleep(0.5)
    left = [Path(f"/proc/{pid}/stat").read_text() for pid in crawlers if Path(f"/proc/{pid}").exists()]
    assert not left  # no orphan
    kept = int(stopped["new"])
    with Store.open(tmp_path / "veille.db") as store:
        items = store.items()
    assert 1 <= kept < 40 and len(items) == kept  # what the crawl stored before the stop, each item whole
    assert all(item["title"].startswith("Article") and "vélos cargo" in item["text"] for item in items)


def test_a_crashing_spider_is_recorded_and_the_scheduler_goes_on(server, tmp_path, runs, monkeypatch):
    (tmp_path / "brokenspiders.py").write_text(
        "import os\nfrom spiders.base import SourceSpider\n\n"
        "class Crashing(SourceSpider):\n    name = 'crashing'\n\n"
        "    async def start(self):\n        os._exit(3)\n        yield\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), str(Path(__file__).resolve().parents[1])]))
    server.add("/", "<html><body>x</body></html>", content_type=HTML)
    server.add("/a.xml", rss(rss_item(1)))
    config = write_config(tmp_path, [
        {"id": "broken", "kind": "spider", "spider": "brokenspiders:Crashing", "url": server.url("/"), "follow": "a",
         "schedule": {"every": "1h"}},
        {"id": "a", "url": server.url("/a.xml"), "schedule": {"every": "1s"}}], FAST)
    crawl_settings(config)
    run = runs(config)
    crashed = run.wait_for(job="collect:broken", outcome="error", timeout=40)[0]
    assert "3" in crashed["error"]
    seen = len(run.lines(job="collect:a", outcome="ok"))
    run.wait_for(seen + 2, job="collect:a", outcome="ok")  # still scheduling
    assert run.stop() == 0


def test_a_broken_installation_fails_at_start_not_at_digest_time(server, tmp_path, monkeypatch):
    # A dependency missing from the environment, as after a partial upgrade (made here by shadowing the stage).
    broken = tmp_path / "broken"
    (broken / "digests").mkdir(parents=True)
    (broken / "digests" / "__init__.py").write_text('raise ImportError("No module named \'babel\'")\n')
    monkeypatch.setenv("PYTHONPATH", str(broken))
    config = digest_config(tmp_path, server)
    started = veille(config, "run")
    assert started.returncode == 2, started.stderr
    assert "digests" in started.stderr and "babel" in started.stderr and "réinstaller" in started.stderr
    assert "Traceback" not in started.stderr
    assert lock_holder(tmp_path / "veille.db") is None
