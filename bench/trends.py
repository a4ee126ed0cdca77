#!/usr/bin/env python
"""Benchmark of `veille trends` (rising terms) over a large database: per-day counts against a count of every term.

Generates a veille database of N classified items (default 200,000) published over `--weeks` weeks (default 10),
deterministically from a seeded RNG, through the real store: `Store.ingest`, then `Store.save_classification`,
which keeps `day_counts`. Each item has the terms the NLP stage writes: 3 noun phrases of a common
vocabulary (64 phrases) and 6 of a long tail (30,000 phrases drawn by a Zipf law, as real noun phrases are), 0 to 2
companies and 1 to 3 labels, about 11 terms per item. Only the classification is drawn instead of computed.

Then, each in its own fresh process, `--repeat` times (default 3, the median shown):

  (a) the rising terms as `veille trends` now computes them: `Store.term_counts` (from `day_counts`), weekly
      counts, `rising_terms`; timed from the query to the result;
  (b) the baseline, as it computed them before: a join of every term of every item published in the nine weeks
      (`item_terms` with `items`), then the same weekly counts and `rising_terms`;
  (c) information: `veille trends --format json`, the whole command with interpreter start-up.

(a) and (b) must find the same rising terms (the script says so, and breaks when they differ). Peak memory is the
maximum resident set size os.wait4() reports for the step's process.

This prints figures; it is not a test. It exits 0 whatever the figures, 1 when the run itself broke.

    .venv/bin/python bench/trends.py                   # 200,000 items
    .venv/bin/python bench/trends.py --items 20000     # quick look
    .venv/bin/python bench/trends.py --keep            # keep the database (then --master DB reuses it)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from measure import finish, run_measured, veille_command  # noqa: E402 (bench/ is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HEAD = [f"{a} {b}" for a in ("batterie", "vélo", "cargo", "prix", "aide", "usine", "battery", "fleet")
        for b in ("lfp", "solide", "longue", "urbain", "pliant", "public", "électrique", "recyclée")]
SYLLABLES = ["ba", "ve", "lo", "ca", "ri", "mo", "tu", "ne", "sa", "po", "li", "de", "ru", "fa", "gi", "xo"]
COMPANIES = [f"company-{n}" for n in range(50)]
LABELS = ["launch", "pricing", "partnership", "acquisition", "funding", "technology", "consumer", "economy",
          "regulation", "offer", "communication", "campaign"]


def long_tail(rng: random.Random, size: int) -> list[str]:
    """`size` distinct made-up two-word phrases ("baveli rutu")."""
    words = [a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES]
    return [f"{words[n // len(words)]} {words[n % len(words)]}" for n in rng.sample(range(len(words) ** 2), size)]


def generate(db: Path, count: int, weeks: int, seed: int, now: datetime) -> None:
    """Store `count` classified items published over `weeks` weeks before `now`, a batch of 5,000 at a time."""
    from watch.models import Entry
    from watch.store import Store

    rng = random.Random(seed)
    tail = long_tail(rng, 30_000)
    zipf = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(tail))))
    span = weeks * 7 * 86400
    started = time.perf_counter()
    with Store.open(db) as store:
        store.ensure_source("press", "Press", "feed", "https://press.example/rss")
        for start in range(0, count, 5000):
            size = min(5000, count - start)
            entries = []
            for n in range(start, start + size):
                url = f"https://press.example/{n}"
                published = now - timedelta(seconds=rng.uniform(60, span))
                entries.append(Entry(url=url, guid=url, title=f"{rng.choice(HEAD)} #{n}", summary="Résumé.",
                                     lang="fr", published=published))
            store.ingest("press", entries, "feed", fetched_at=now)
            ids = [row[0] for row in store.conn.execute(
                f"select id from items where guid in ({','.join('?' * size)})", [e.guid for e in entries])]
            analyses = []
            for item_id in ids:
                labels = rng.sample(LABELS, rng.randint(1, 3))
                terms = {(p, "phrase") for p in rng.sample(HEAD, 3) + rng.choices(tail, cum_weights=zipf, k=6)}
                terms |= {(c, "entity") for c in rng.sample(COMPANIES, rng.randint(0, 2))}
                terms |= {(label, "label") for label in labels}
                analyses.append({"id": item_id, "lang": "fr", "lang_confidence": 1.0, "lang_how": "bench", "flags": [],
                                 "labels": [{"axis": "trends", "label": label, "score": 0.9, "by": "model"}
                                            for label in labels],
                                 "entities": [], "actor": None, "actor_competitor": None, "terms": sorted(terms)})
            store.save_classification(analyses)
            print(f"  {start + size:,} items stored ({time.perf_counter() - started:.0f} s)", file=sys.stderr,
                  flush=True)
        store.conn.execute("pragma wal_checkpoint(truncate)")


def child(db: str, now: str, path: str) -> dict:
    """(a) or (b) in this process: the rising terms of the week of `now`, with the time they took."""
    from nlp.trends import iso_week, previous_weeks, rising_terms, weekly_counts
    from watch.store import Store

    when = datetime.fromisoformat(now)
    current = iso_week(when)
    weeks = [*previous_weeks(current, 8), current]  # what `veille trends` reads with its default eight weeks
    with Store.open(db) as store:
        started = time.perf_counter()
        if path == "day_counts":
            counts = weekly_counts(store, weeks)
        else:  # as `veille trends` did before: the former Store.term_counts, then each day's week
            rows = store.conn.execute(
                "select t.term, t.kind, substr(i.published_at, 1, 10), count(*) from item_terms t "
                "join items i on i.id = t.item_id where i.published_at >= ? group by 1, 2, 3",
                [(when - timedelta(weeks=9, days=1)).isoformat()])
            counts = defaultdict(Counter)
            for term, kind, day, number in rows:
                noon = datetime.fromisoformat(day).replace(hour=12, tzinfo=timezone.utc)
                counts[(term, kind)][iso_week(noon)] += number
        rising = rising_terms(counts, current)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": sum(len(by_week) for by_week in counts.values()),
            "rising": [[r.term, r.kind, r.count, list(r.weeks)] for r in rising]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/trends.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200_000, metavar="N", help="items to generate (default 200000)")
    parser.add_argument("--weeks", type=int, default=10, metavar="W", help="weeks of publication times (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--repeat", type=int, default=3, metavar="N", help="runs of each step (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and its database")
    parser.add_argument("--master", metavar="DB", help="reuse the database a --keep run generated (master.db)")
    parser.add_argument("--child", choices=["day_counts", "scan"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.db, args.now, args.child)))
        return 0

    work = Path(tempfile.mkdtemp(prefix="veille-bench-trends-"))
    master = work / "master.db"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    started = time.perf_counter()
    if args.master:
        shutil.copy(args.master, master)
        print(f"bench/trends.py: database {args.master} reused; work in {work}")
    else:
        print(f"bench/trends.py: {args.items:,} items over {args.weeks} weeks, seed {args.seed}; work in {work}")
        generate(master, args.items, args.weeks, args.seed, now)
        print(f"database built in {time.perf_counter() - started:.0f} s; {master.stat().st_size / 1e6:.0f} MB")
    (work / "sources.yaml").write_text(f"company: {{name: Bench}}\ndatabase: {master}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VEILLE_LANG": "en"}
    with open(master, "rb") as warm:  # in the page cache before any step: the first one measured pays no more
        while warm.read(1 << 20):
            pass
    steps: dict[str, list[dict]] = {"day_counts": [], "scan": [], "command": []}
    broke: list[str] = []
    for attempt in range(args.repeat):
        for name in steps:
            if name == "command":
                cmd = [*veille_command(), "--config", str(work / "sources.yaml"), "trends", "--format", "json"]
            else:
                cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--db", str(master),
                       "--now", now.isoformat()]
            wall, code, peak, out, err = run_measured(cmd, env, work, f"{name}-{attempt}", timeout=1800)
            if code != 0:
                broke.append(f"{name} exited {code}: {err[-2000:]}")
                return finish(broke, work, args.keep)
            result = json.loads(out) if name == "command" else json.loads(out.strip().splitlines()[-1])
            steps[name].append({"wall": wall, "peak": peak, "result": result})

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    new, scan = steps["day_counts"], steps["scan"]
    same = new[0]["result"]["rising"] == scan[0]["result"]["rising"]
    command = [[r["term"], r["kind"], r["count"], r["weeks"]] for r in steps["command"][0]["result"]]
    if not same or command != new[0]["result"]["rising"]:
        broke.append("the two paths (or the command) found different rising terms")
    print()
    print(f"{'step':<44} {'week counts':>11} {'computation s':>14} {'process s':>10} {'peak MB':>8}")
    print(f"{'-' * 44} {'-' * 11} {'-' * 14} {'-' * 10} {'-' * 8}")
    for label, runs in (("(a) from day_counts (veille trends now)", new), ("(b) baseline: join of every term", scan)):
        print(f"{label:<44} {runs[0]['result']['rows']:>11,} {median([r['result']['seconds'] for r in runs]):>14.3f} "
              f"{median([r['wall'] for r in runs]):>10.2f} {max(r['peak'] for r in runs):>8.0f}")
    runs = steps["command"]
    print(f"{'(c) veille trends --format json':<44} {'':>11} {'':>14} {median([r['wall'] for r in runs]):>10.2f} "
          f"{max(r['peak'] for r in runs):>8.0f}")
    ratio = median([r["result"]["seconds"] for r in scan]) / median([r["result"]["seconds"] for r in new])
    print(f"\n(b)/(a): {ratio:.0f}x; same rising terms: {'yes' if same else 'NO'} "
          f"({len(new[0]['result']['rising'])} terms)")
    return finish(broke, work, args.keep, "master.db")


if __name__ == "__main__":
    sys.exit(main())
