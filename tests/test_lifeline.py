"""No process outlives a `veille collect`, `veille classify` or `veille run` killed with SIGKILL (issue #15).

Real `veille` processes on a local HTTP server: 30 feeds (enough for the feed parser to use worker processes,
through multiprocessing's forkserver and resource tracker), a spider source whose articles answer slowly (a crawl
child process), 1,500 stored items (enough for classification to start a helper process), and a scheduler in the
middle of a crawl. Each command is killed with SIGKILL while its children run; every process below it must be
gone within seconds, and `veille status` must not take the killed scheduler for a running one. Processes are
read from /proc (Linux).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import alive, descendants, rss, rss_item, write_config
from watch.models import Entry
from watch.store import Store

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")]
VEILLE = str(Path(sys.executable).parent / "veille")
HTML = "text/html; charset=utf-8"


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def wait_for(condition, seconds: float, what: str, proc: subprocess.Popen):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        assert proc.poll() is None, f"the command ended before {what}: {proc.communicate()}"
        time.sleep(0.1)
    raise AssertionError(f"no {what} after {seconds} s")


def kill_and_watch(proc: subprocess.Popen, below: list[int], seconds: float = 20) -> list[bytes]:
    """SIGKILL to the command; the command lines of the processes below it still running `seconds` later."""
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + seconds
    while (left := [pid for pid in below if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:  # the test leaves nothing behind either
        os.kill(pid, signal.SIGKILL)
    return [cmdline(pid) for pid in left]


def start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([VEILLE, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "VEILLE_LANG": "fr"})


def test_collect_killed_leaves_no_parser_worker_forkserver_or_crawl(server, tmp_path):
    sources = []
    for n in range(30):  # from 24 feeds in a run, parsing moves to worker processes
        # Half answer at once (the workers start on them), half after a while: the run is still going on.
        url = server.add(f"/feeds/{n}.xml", rss(*(rss_item(n * 10 + k) for k in range(3))), delay=0 if n % 2 else 30)
        sources.append({"id": f"feed{n:02d}", "url": url})
    server.add("/news/", "<html><body><ul>" + "".join(f'<li><a class="a" href="/n/{n}.html">{n}</a></li>'
                                                      for n in range(10)) + "</ul></body></html>", content_type=HTML)
    for n in range(10):
        server.add(f"/n/{n}.html", f"<html><body><article><h1>Article {n}</h1><p>{'Texte. ' * 40}</p></article>"
                                   "</body></html>", content_type=HTML, delay=60)
    sources.append({"id": "site", "kind": "spider", "url": server.url("/news/"), "follow": "a.a"})
    config = write_config(tmp_path, sources)
    text = config.read_text(encoding="utf-8").replace("timeout: 2,", "timeout: 60,")
    text = text.replace("concurrency: 8, per_host: 4", "concurrency: 32, per_host: 32, crawl_budget: 120")
    config.write_text(text, encoding="utf-8")
    proc = start("--config", str(config), "collect", "--no-classify", cwd=tmp_path)
    left = None
    try:
        def workers_and_crawl() -> list[int] | None:
            below = descendants(proc.pid)
            lines = [cmdline(pid) for pid in below]
            crawl = any(b"spiders.crawl" in line for line in lines)
            forkserver = [pid for pid, line in zip(below, lines) if b"forkserver" in line]
            workers = [pid for pid in forkserver for pid in descendants(pid)]
            return below if crawl and workers else None

        wait_for(workers_and_crawl, 60, "parser workers and crawl process", proc)
        time.sleep(1.0)  # the crawl's own children (if any) are up too
        below = descendants(proc.pid)
        assert any(b"resource_tracker" in cmdline(pid) for pid in below), [cmdline(p) for p in below]
    finally:
        if proc.poll() is None:
            left = kill_and_watch(proc, descendants(proc.pid))
    assert below
    # Before: the forkserver, the resource tracker, the parser workers and the crawl were still there.
    assert left == []


def test_classify_killed_leaves_no_helper_forkserver_or_tracker(tmp_path):
    config = write_config(tmp_path, [{"id": "press", "url": "http://press.example/rss.xml"}])
    now = datetime.now(timezone.utc)
    with Store.open(tmp_path / "veille.db") as store:
        # 1,500 items: classification starts a helper process (nlp.stage.PARALLEL_MIN_ITEMS).
        store.ingest("press", [Entry(url=f"http://press.example/a/{n}", title=f"Veloce lance un vélo cargo n°{n}",
                                     summary="Le fabricant annonce une gamme de vélos cargo électriques.",
                                     guid=f"urn:a:{n}", published=now - timedelta(hours=n % 48))
                               for n in range(1500)], "feed", fetched_at=now)
    proc = start("--config", str(config), "classify", cwd=tmp_path)
    left = below = None
    try:
        def helper() -> list[int] | None:
            below = descendants(proc.pid)
            forkserver = [pid for pid in below if b"forkserver" in cmdline(pid)]
            return below if any(descendants(pid) for pid in forkserver) else None

        wait_for(helper, 90, "classification helper", proc)
        below = descendants(proc.pid)
    finally:
        if proc.poll() is None:
            left = kill_and_watch(proc, descendants(proc.pid))
    assert len(below) >= 3, [cmdline(p) for p in below]  # forkserver, its helper, the resource tracker
    # Before: the helper (with its spaCy pipelines), the forkserver and the resource tracker were still there.
    assert left == []


def test_run_killed_during_a_crawl_leaves_no_crawl_and_status_says_it_is_stopped(server, tmp_path):
    server.add("/news/", "<html><body><ul>" + "".join(f'<li><a class="a" href="/n/{n}.html">{n}</a></li>'
                                                      for n in range(10)) + "</ul></body></html>", content_type=HTML)
    for n in range(10):
        server.add(f"/n/{n}.html", f"<html><body><article><h1>Article {n}</h1><p>{'Texte. ' * 40}</p></article>"
                                   "</body></html>", content_type=HTML, delay=60)
    config = write_config(tmp_path, [{"id": "site", "kind": "spider", "url": server.url("/news/"), "follow": "a.a",
                                      "schedule": {"every": "1h"}}],
                          "scheduler: {check_every: 1s, workers: 4}\nnlp: {models: false}\n")
    proc = start("--config", str(config), "run", cwd=tmp_path)
    left = below = None
    try:
        def crawl() -> list[int] | None:
            below = descendants(proc.pid)
            return below if any(b"spiders.crawl" in cmdline(pid) for pid in below) else None

        wait_for(crawl, 60, "crawl process", proc)
        time.sleep(1.0)
        below = descendants(proc.pid)
    finally:
        if proc.poll() is None:
            left = kill_and_watch(proc, descendants(proc.pid))
    assert below
    # Before: the crawl (in a session of its own) went on without its scheduler, for as long as its slow pages took.
    assert left == []
    status = subprocess.run([VEILLE, "--config", str(config), "status", "--format", "json"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=60)
    assert json.loads(status.stdout)["scheduler"] is None  # the lock went with the killed scheduler
