#!/usr/bin/env python
"""Soak test of `veille run`: the scheduler for ten minutes against the demo sector, every source due every 10-30 s.

The demo server (watch.demo) serves the demo sector's feeds and pricing page on 127.0.0.1; the repo's sources.yaml is
copied with each collected source's schedule set to `every: Ns`, N drawn from 10..30 (seeded), the direction
audience's digest every two minutes (no SMTP server: digests are written as .eml), housekeeping every three minutes,
and two injected faults: a source whose server never answers (killed at its 3 s timeout) and one answering HTTP 500.

  (ref) `veille collect` of the same sources on a fresh database, classification included: the process's peak
        memory (os.wait4) is the reference;
  (run) `veille run --for 10m` on another fresh database, sampled every 5 s from /proc: resident memory of the
        scheduler and of its child processes (classification, crawls), open file descriptors of the scheduler.
        Jobs and outcomes are read from its log lines and its `job_runs` table.

After it exits, any process still carrying the run's marker in its environment is an orphan.

Targets (from the issue): scheduler memory grows less than 20 % from the first minute to the last and stays under
twice the reference; no file-descriptor growth; zero orphan processes; zero failed jobs besides the injected faults.

This prints figures; it is not a test. It exits 0 whatever the figures, 1 when the run itself broke. Linux only
(/proc).

    .venv/bin/python bench/soak.py                  # 10 minutes (plus ~1 minute of reference)
    .venv/bin/python bench/soak.py --minutes 2      # quick look
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from measure import descendants, run_measured, veille_command  # noqa: E402 (bench/ is on sys.path)

REPO = Path(__file__).resolve().parents[1]
INJECTED = ("fault-hang", "fault-500")


class Faults(ThreadingHTTPServer):
    """/hang never answers (until the bench ends); /error answers 500."""

    daemon_threads = True

    def __init__(self) -> None:
        self.stopping = threading.Event()
        stopping = self.stopping

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/hang"):
                    stopping.wait(120)
                    return
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(("127.0.0.1", 0), Handler)


def soak_config(work: Path, demo_url: str, faults_url: str, seed: int) -> Path:
    data = yaml.safe_load((REPO / "sources.yaml").read_text(encoding="utf-8"))
    rng = random.Random(seed)
    data["database"] = str(work / "soak.db")
    data["delivery"]["archive"] = str(work / "archive")
    data.setdefault("collect", {})["timeout"] = 3
    for source in data["sources"]:
        if source.get("url"):
            source["url"] = source["url"].replace("${VEILLE_DEMO_URL:-http://127.0.0.1:8765}", demo_url)
        if source.get("kind", "feed") != "offline":
            source["schedule"] = {"every": f"{rng.randint(10, 30)}s"}
    for fault, path in zip(INJECTED, ("/hang", "/error")):
        data["sources"].append({"id": fault, "name": fault, "kind": "feed", "url": faults_url + path,
                                "schedule": {"every": f"{rng.randint(10, 30)}s"}})
    for audience in data["audiences"]:
        if audience["id"] == "direction":
            audience["schedule"] = {"every": "2m"}
    data["scheduler"] = {"housekeeping": {"every": "3m"}, "check_every": "5s"}
    path = work / "sources.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def proc_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def marked(marker: str) -> list[int]:
    """Processes whose environment carries the run's marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (config, databases, logs)")
    args = parser.parse_args()

    from watch.demo import DemoServer
    from watch.scheduler import parse_logfmt

    work = Path(tempfile.mkdtemp(prefix="veille-soak-"))
    faults = Faults()
    threading.Thread(target=faults.serve_forever, daemon=True).start()
    demo = DemoServer.find("127.0.0.1", 8765)
    try:
        config = soak_config(work, demo.base_url, f"http://127.0.0.1:{faults.server_address[1]}", args.seed)
        env = {**os.environ, "VEILLE_LANG": "en", "PYTHONUNBUFFERED": "1"}
        env.pop("VEILLE_SMTP_URL", None)
        env.pop("VEILLE_DB", None)

        ref_work = work / "reference"
        ref_work.mkdir()
        ref_wall, ref_code, ref_peak, _, ref_err = run_measured(
            veille_command() + ["--config", str(config), "--db", str(ref_work / "ref.db"), "collect", "--format", "json"],
            env, ref_work, "reference", timeout=900)
        print(f"reference: veille collect, exit {ref_code} (1 = the injected faults), {ref_wall:.1f} s, "
              f"peak {ref_peak:.0f} MB")

        marker = f"VEILLE_SOAK_MARK={uuid.uuid4().hex}"
        env[marker.split("=")[0]] = marker.split("=")[1]
        seconds = int(args.minutes * 60)
        stderr = work / "run.stderr"
        started = time.monotonic()
        with open(stderr, "wb") as err:
            run = subprocess.Popen(veille_command() + ["--config", str(config), "run", "--for", f"{seconds}s"],
                                   stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=work)
        samples = []  # (t, scheduler RSS MB, children RSS MB, fds, children)
        children_seen: set[int] = set()
        while run.poll() is None:
            kids = descendants(run.pid)
            children_seen.update(kids)
            try:
                fds = len(os.listdir(f"/proc/{run.pid}/fd"))
            except OSError:
                break
            samples.append((time.monotonic() - started, proc_rss_mb(run.pid), sum(proc_rss_mb(k) for k in kids),
                            fds, len(kids)))
            time.sleep(5)
        code = run.wait()
        wall = time.monotonic() - started
        time.sleep(2)
        orphans = marked(marker.split("=")[1])
    finally:
        faults.stopping.set()
        faults.shutdown()
        demo.stop()

    lines = [parse_logfmt(line) for line in stderr.read_text(encoding="utf-8", errors="replace").splitlines()]
    jobs = [line for line in lines if "job" in line and "outcome" in line]
    outcomes = Counter(line["outcome"] for line in jobs)
    failed = Counter(line["job"] for line in jobs if line["outcome"] in ("error", "missed"))
    unexpected = {job: n for job, n in failed.items() if job.removeprefix("collect:") not in INJECTED}
    kinds = Counter(line["job"].split(":")[0] for line in jobs if line["outcome"] != "still-running")
    with sqlite3.connect(work / "soak.db") as db:
        recorded = db.execute("select sum(runs), sum(errors) from job_runs").fetchone()

    first = [s for s in samples if s[0] <= 60] or samples[:1]
    last = [s for s in samples if s[0] >= wall - 60] or samples[-1:]
    mem_first = max(s[1] for s in first)
    mem_last = max(s[1] for s in last)
    mem_peak = max(s[1] for s in samples)
    total_peak = max(s[1] + s[2] for s in samples)
    fd_first, fd_last = max(s[3] for s in first), max(s[3] for s in last)
    growth = (mem_last - mem_first) / mem_first * 100 if mem_first else 0.0

    print(f"\nveille run --for {seconds}s: exit {code}, {wall:.0f} s, {len(samples)} samples, "
          f"{len(children_seen)} child process(es) over the run")
    print(f"jobs run: {sum(kinds.values())} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}); "
          f"recorded in job_runs: {recorded[0]} runs, {recorded[1]} errors")
    print(f"outcomes: {', '.join(f'{k} {n}' for k, n in sorted(outcomes.items()))}")
    print(f"failed jobs: {dict(failed)}; besides the injected faults: {unexpected or 'none'}")
    minutes = {}
    for t, rss, kids_rss, fds, _ in samples:
        minutes.setdefault(int(t // 60), []).append((rss, fds))
    print("scheduler RSS (max) / open fds per minute: "
          + ", ".join(f"{m + 1}: {max(r for r, _ in v):.0f} MB / {max(f for _, f in v)}" for m, v in sorted(minutes.items())))
    with open(work / "samples.csv", "w", encoding="utf-8") as out:
        out.write("seconds,scheduler_rss_mb,children_rss_mb,fds,children\n")
        out.writelines(f"{t:.0f},{rss:.1f},{kids:.1f},{fds},{n}\n" for t, rss, kids, fds, n in samples)
    print()
    print("| measure | value | target |")
    print("| --- | --- | --- |")
    print(f"| reference `veille collect` peak RSS | {ref_peak:.0f} MB | |")
    print(f"| scheduler RSS, first minute (max) | {mem_first:.0f} MB | |")
    print(f"| scheduler RSS, last minute (max) | {mem_last:.0f} MB | growth < 20 %: {growth:+.1f} % |")
    print(f"| scheduler RSS, peak | {mem_peak:.0f} MB | < 2x reference ({2 * ref_peak:.0f} MB): "
          f"{mem_peak / ref_peak:.2f}x |")
    print(f"| scheduler + children RSS, peak | {total_peak:.0f} MB | (classification runs in a child) |")
    print(f"| open file descriptors, first / last minute | {fd_first} / {fd_last} | no growth |")
    print(f"| processes left after exit (orphans) | {len(orphans)} | 0 |")
    print(f"| failed jobs besides the injected ones | {sum(unexpected.values())} | 0 |")
    if args.keep:
        print(f"\nkept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if code == 0 and ref_code in (0, 1) else 1


if __name__ == "__main__":
    sys.exit(main())
