#!/usr/bin/env python
"""Benchmark of digest building over a large database, against a plain baseline rendered by the same template.

Generates a veille database of N classified items (default 200,000) spread over `--weeks` weeks of first-seen
times (default 10, about 20,000 a week, as a watch of a few hundred sources collects), deterministically from a
seeded RNG: titles and summaries in French and English, the repo's demo sources, 1 to 3 labels of the taxonomy,
competitors for a third of the items (the actor for most of those), stories of 2-3 items for a fifth, a second
carrying source for some, noun-phrase terms for the rising trends, and scores with their reasons drawn around 40.
The items go through the real store (`Store.ingest` with each item's first-seen time, then `save_classification`
and `save_scores`, the methods the NLP stage writes with): only the classification is drawn instead of computed.

Then, each in its own fresh process on its own copy of the database, with the repo's sources.yaml (its five
audiences) pointing at the copy:

  (a) `digests.stage.build_digest` for each audience in turn (selection, sections, trends, source health, chart,
      rendering, storage of the digest, its items and deliveries, archive page, index and Atom feed), timed per
      audience; the process's peak memory. This is the first digest ever built on that database: the per-day
      counts behind the trends and the chart (nine weeks of them) are all computed;
  (a') the same in the steady state of a weekly watch: last week's digests were built first (untimed), so this
      week's starts at their cut-off and finds the earlier days counted;
  (b) the baseline: for each audience, one SQL query of the period's items ordered by score (`limit max_items`),
      rendered by the same template in one section, timed per audience;
  (c) information: `veille digest send` (no SMTP server: the five digests are built, archived and written as
      .eml), the whole command with interpreter start-up, on a fresh copy.

Targets (from the issue): under 2 seconds per audience and under 3 times the baseline; peak memory under 400 MB.
Peak memory is the maximum resident set size os.wait4() reports for the step's process. (a), (a2) and (b) run
`--repeat` times (default 3) and the table shows the median of each audience's time: on a shared machine one run
moves by tens of milliseconds, which is the size of the baseline itself.

This prints figures; it is not a test. It exits 0 whatever the figures, 1 when the run itself broke.

    .venv/bin/python bench/digest.py                  # 200,000 items (about 6 minutes, most of it building the db)
    .venv/bin/python bench/digest.py --items 20000    # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from measure import run_measured, veille_command  # noqa: E402 (bench/ is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
TARGET_SECONDS = 2.0
TARGET_RATIO = 3.0
TARGET_PEAK_MB = 400.0

COMPANIES = {"veloce": "Veloce", "rouleo": "Rouléo", "voltacycles": "VoltaCycles", "mobishare": "MobiShare"}
OTHERS = ["Cyclonova", "Moustache Bikes", "Decathlon", "VanMoof", "Cowboy", "Bosch eBike Systems", "Shimano"]
WORDS_FR = ["vélo cargo", "batterie", "prix", "livraison", "marché du VAE", "piste cyclable", "aide à l'achat",
            "usine", "autonomie", "moteur central", "location longue durée", "recyclage", "dernier kilomètre"]
WORDS_EN = ["cargo bike", "battery", "price", "delivery", "e-bike market", "bike lane", "subsidy", "plant",
            "range", "mid-drive motor", "leasing", "recycling", "last mile"]
VERBS_FR = ["annonce", "dévoile", "prépare", "confirme", "accélère sur", "revoit", "mise sur"]
VERBS_EN = ["announces", "unveils", "prepares", "confirms", "speeds up", "reviews", "bets on"]
MOVES = ["launch", "pricing", "partnership", "acquisition", "funding", "workforce", "leadership", "expansion",
         "results", "legal", "campaign"]
TRENDS = ["megatrend", "consumer", "offer", "technology", "communication", "demography", "economy", "regulation", "csr"]
PHRASES = [f"{a} {b}" for a in ("batterie", "vélo", "cargo", "prix", "aide", "usine", "battery", "fleet")
           for b in ("lfp", "solide", "longue", "urbain", "pliant", "public", "électrique", "recyclée")]


def generate(db: Path, config, count: int, weeks: int, seed: int, now: datetime) -> dict:
    """Store `count` classified items with first-seen times spread over `weeks` weeks before `now`."""
    from watch.models import Entry
    from watch.store import Store

    rng = random.Random(seed)
    sources = [s for s in config.sources]
    themes = {t.id: t for t in config.themes}
    span = weeks * 7 * 86400
    batch_size = 2000
    counts = {"items": 0, "stories": 0}
    started = time.perf_counter()
    with Store.open(db) as store:
        store.sync_sources(config.sources)
        for start in range(0, count, batch_size):
            size = min(batch_size, count - start)
            # One batch is one collection run: its items share their first-seen time.
            seen = now - timedelta(seconds=span * (1 - (start + size / 2) / count))
            by_source: dict[str, list] = {}
            drawn = []
            for n in range(start, start + size):
                source = rng.choice(sources)
                french = source.language == "fr"
                company = rng.choice(list(COMPANIES)) if rng.random() < 0.33 else None
                name = COMPANIES[company] if company else rng.choice(OTHERS)
                words, verbs = (WORDS_FR, VERBS_FR) if french else (WORDS_EN, VERBS_EN)
                title = f"{name} {rng.choice(verbs)} {rng.choice(words)} #{n}"
                summary = (f"{name} {rng.choice(verbs)} {rng.choice(words)} et {rng.choice(words)}. "
                           f"{rng.choice(words).capitalize()} : {rng.randint(2, 90)} %."
                           if french else
                           f"{name} {rng.choice(verbs)} {rng.choice(words)} and {rng.choice(words)}. "
                           f"{rng.choice(words).capitalize()}: {rng.randint(2, 90)}%.")
                published = seen - timedelta(hours=rng.uniform(0, 60))
                url = f"https://{source.id}.example/{n}"
                by_source.setdefault(source.id, []).append(Entry(url=url, title=title, summary=summary, guid=url,
                                                                 lang=source.language, published=published))
                drawn.append((url, source, company, rng))
            for source_id, entries in by_source.items():
                store.ingest(source_id, entries, "feed", fetched_at=seen)
            ids = dict(store.conn.execute(
                f"select canonical_url, id from items where canonical_url in ({','.join('?' * size)})",
                [d[0] for d in drawn]).fetchall())
            analyses, scores = [], []
            previous: list[int] = []
            for url, source, company, _ in drawn:
                item_id = ids[url]
                labels = rng.sample(TRENDS, rng.randint(0, 2)) + (rng.sample(MOVES, 1) if rng.random() < 0.45 else [])
                labels = labels or [rng.choice(TRENDS)]
                actor = company if company and rng.random() < 0.75 else None
                analyses.append({
                    "id": item_id, "lang": source.language, "lang_confidence": 1.0, "lang_how": "bench", "flags": [],
                    "labels": [{"axis": "moves" if l in MOVES else "trends", "label": l,
                                "score": round(rng.uniform(0.5, 1.0), 3), "by": "model"} for l in labels],
                    "entities": [{"text": COMPANIES[company], "label": "ORG", "competitor": company}] if company else [],
                    "actor": COMPANIES[actor] if actor else None, "actor_competitor": actor,
                    "terms": [(p, "phrase") for p in rng.sample(PHRASES, 3)] + [(l, "label") for l in labels],
                })
                score = max(0, min(100, round(rng.gauss(40, 18))))
                theme = rng.choice(source.themes) if source.themes else None
                reasons = [{"kind": "grade", "grade": source.reliability, "points": 8}]
                if theme in themes:
                    reasons.append({"kind": "theme", "id": theme, "priority": themes[theme].priority, "points": 15})
                if company:
                    reasons.append({"kind": "competitor", "id": company, "direct": True, "points": 25})
                story = item_id
                if previous and rng.random() < 0.2:
                    story = rng.choice(previous[-50:])
                    counts["stories"] += 1
                previous.append(item_id)
                scores.append((item_id, score, json.dumps(reasons), story, 6 if story == item_id else 3,
                               "default" if story == item_id else "corroboration"))
            store.save_classification(analyses)
            store.save_scores(scores)
            counts["items"] += size
            print(f"  {counts['items']:,} items stored ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        store.conn.execute("pragma wal_checkpoint(truncate)")  # copies below are of one complete file
    return counts


def write_config(path: Path, database: Path, archive: Path) -> None:
    """The repo's sources.yaml with `database:` and `delivery.archive` pointing into the work folder."""
    text = (ROOT / "sources.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^database:.*$", f"database: {database}", text, count=1)
    text = re.sub(r"(?m)^(\s+archive:).*$", rf"\1 {archive}", text, count=1)
    path.write_text(text, encoding="utf-8")


def child_build(config_path: str, now: str, steady: bool) -> dict:
    """(a): every audience's digest built in turn, each timed; `steady`: last week's were built first, untimed."""
    from digests.periods import period_of
    from digests.stage import build_digest
    from watch.config import load_config
    from watch.store import Store

    config = load_config(config_path)
    when = datetime.fromisoformat(now)
    times, items = {}, {}
    with Store.open(config.database) as store:
        if steady:
            before = when - timedelta(days=7)
            for audience in config.audiences:
                build_digest(config, store, audience, period_of(audience, before), before)
        for audience in config.audiences:
            started = time.perf_counter()
            digest_id, built = build_digest(config, store, audience, period_of(audience, when), when)
            times[audience.id] = time.perf_counter() - started
            items[audience.id] = store.digest_by_id(digest_id)["items"] if built else None
    return {"times": times, "items": items}


def child_baseline(config_path: str, now: str) -> dict:
    """(b): one SQL query of the period's items ordered by score, rendered by the same template."""
    from digests.periods import period_of
    from digests.render import Renderer
    from digests.select import Pick, SectionContent, Selection
    from watch.config import Section, load_config

    config = load_config(config_path)
    when = datetime.fromisoformat(now)
    since = when - timedelta(days=7)
    times, items = {}, {}
    conn = sqlite3.connect(config.database)
    conn.row_factory = sqlite3.Row
    for audience in config.audiences:
        started = time.perf_counter()
        rows = [dict(row) for row in conn.execute(
            "select * from items where first_seen >= ? and first_seen < ? order by score desc limit ?",
            [since.isoformat(), when.isoformat(), audience.max_items])]
        picks = []
        for row in rows:
            row.update(labels=[], companies=[], sources=[row["source"]])
            picks.append(Pick(row, row["score"], 0.0, set))
        section = SectionContent(Section(id="selection"), "Sélection", picks)
        Renderer(config, audience).digest(Selection(audience, period_of(audience, when), since, when, [section]), "c@x")
        times[audience.id] = time.perf_counter() - started
        items[audience.id] = len(picks)
    return {"times": times, "items": items}


def copy_synced(source: Path, target: Path) -> None:
    """Copy a database and flush it to disk: otherwise the first checkpoint of the measured process (its first
    fsync) pays for writing out the whole freshly copied file, hundreds of megabytes."""
    shutil.copy(source, target)
    with open(target, "rb+") as handle:
        os.fsync(handle.fileno())


def median_run(runs: list[dict]) -> dict:
    """One step's runs as one: the median time per audience and of the process, the largest peak memory."""
    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    first = runs[0]["result"]
    result = first
    if isinstance(first, dict) and "times" in first:
        result = {**first, "times": {a: median([r["result"]["times"][a] for r in runs]) for a in first["times"]}}
    return {"wall": median([r["wall"] for r in runs]), "peak": max(r["peak"] for r in runs), "result": result}


def last_json(out: str) -> dict | None:
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/digest.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200_000, metavar="N", help="items to generate (default 200000)")
    parser.add_argument("--weeks", type=int, default=10, metavar="W", help="weeks of first-seen times (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (dbs, archives, logs)")
    parser.add_argument("--master", metavar="DB", help="reuse the database a --keep run generated (master.db)")
    parser.add_argument("--repeat", type=int, default=3, metavar="N",
                        help="runs of (a), (a2) and (b), each on a fresh copy in a fresh process; medians shown (default 3)")
    parser.add_argument("--child", choices=["build", "steady", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = (child_baseline(args.config, args.now) if args.child == "baseline"
                  else child_build(args.config, args.now, steady=args.child == "steady"))
        print(json.dumps(result))
        return 0

    from watch.config import load_config

    work = Path(tempfile.mkdtemp(prefix="veille-bench-digest-"))
    try:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        master = work / "master.db"
        write_config(work / "master.yaml", master, work / "archive-master")
        print(f"bench/digest.py: {args.items:,} items over {args.weeks} weeks, seed {args.seed}; work in {work}")
        started = time.perf_counter()
        if args.master:
            shutil.copy(args.master, master)
            with sqlite3.connect(master) as conn:
                last = conn.execute("select max(first_seen), count(*) from items").fetchone()
            now = datetime.fromisoformat(last[0]).replace(microsecond=0) + timedelta(minutes=1)
            print(f"database {args.master} reused: {last[1]:,} items, digests at {now.isoformat()}")
        else:
            counts = generate(master, load_config(work / "master.yaml"), args.items, args.weeks, args.seed, now)
            print(f"database built in {time.perf_counter() - started:.0f} s: {counts['items']:,} items, "
                  f"{counts['stories']:,} joined to a story; {master.stat().st_size / 1e6:.0f} MB")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("VEILLE_SMTP_URL", None)
        steps = {}
        for name in ("build", "steady", "baseline", "send"):
            runs = []
            for attempt in range(1 if name == "send" else args.repeat):
                tag = f"{name}-{attempt}"
                db = work / f"{tag}.db"
                copy_synced(master, db)  # every run starts from the same database, in a fresh process
                write_config(work / f"{tag}.yaml", db, work / f"archive-{tag}")
                if name == "send":
                    cmd = [*veille_command(), "--config", str(work / f"{tag}.yaml"), "digest", "send", "--format", "json"]
                else:
                    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--config",
                           str(work / f"{tag}.yaml"), "--now", now.isoformat()]
                wall, code, peak, out, err = run_measured(cmd, env, work, tag, timeout=1800)
                if code != 0:
                    print(f"step {tag} failed (exit {code}):\n{err[-3000:]}")
                    return 1
                runs.append({"wall": wall, "peak": peak, "result": last_json(out) if name != "send" else json.loads(out)})
                db.unlink()
            steps[name] = median_run(runs)

        build, steady, baseline = steps["build"]["result"], steps["steady"]["result"], steps["baseline"]["result"]
        rows = []
        for audience, seconds in build["times"].items():
            base = baseline["times"][audience]
            rows.append((audience, steady["items"][audience], seconds, steady["times"][audience], base))
        print()
        print(f"{'audience':<12} {'items':>5} {'(a) first s':>12} {'(a2) weekly s':>14} {'(b) baseline s':>15} "
              f"{'(a)/(b)':>8} {'(a2)/(b)':>9}")
        print(f"{'-' * 12} {'-' * 5} {'-' * 12} {'-' * 14} {'-' * 15} {'-' * 8} {'-' * 9}")
        for audience, items, first, weekly, base in rows:
            print(f"{audience:<12} {items if items is not None else '-':>5} {first:>12.3f} {weekly:>14.3f} "
                  f"{base:>15.3f} {first / base:>8.1f} {weekly / base:>9.1f}")
        totals = [sum(r[i] for r in rows) for i in (2, 3, 4)]
        print(f"{'all':<12} {'':>5} {totals[0]:>12.3f} {totals[1]:>14.3f} {totals[2]:>15.3f} "
              f"{totals[0] / totals[2]:>8.1f} {totals[1] / totals[2]:>9.1f}")
        print()
        print(f"peak memory: (a) {steps['build']['peak']:.0f} MB, (a2) {steps['steady']['peak']:.0f} MB, "
              f"(b) {steps['baseline']['peak']:.0f} MB; process wall time (a) {steps['build']['wall']:.1f} s, "
              f"(a2) {steps['steady']['wall']:.1f} s (last week's digests included), (b) {steps['baseline']['wall']:.1f} s")
        send = steps["send"]
        print(f"(c) `veille digest send` (no SMTP: archived and written as .eml), whole command: {send['wall']:.1f} s, "
              f"peak {send['peak']:.0f} MB; statuses "
              + ", ".join(f"{r['audience']} {r['status']} {r['items']}" for r in send["result"]))
        print()
        peak = max(steps["build"]["peak"], steps["steady"]["peak"])
        for name, column in (("first digest (a)", 2), ("weekly digest (a2)", 3)):
            slowest = max(rows, key=lambda r: r[column])
            ratio = max(rows, key=lambda r: r[column] / r[4])
            print(f"target, {name}: slowest audience {slowest[0]} {slowest[column]:.2f} s < {TARGET_SECONDS:.0f} s: "
                  f"{'met' if slowest[column] < TARGET_SECONDS else 'NOT MET'}; largest ratio to (b) {ratio[0]} "
                  f"{ratio[column] / ratio[4]:.1f} < {TARGET_RATIO:.0f}: "
                  f"{'met' if ratio[column] / ratio[4] < TARGET_RATIO else 'NOT MET'}")
        print(f"target: peak memory {peak:.0f} MB < {TARGET_PEAK_MB:.0f} MB: {'met' if peak < TARGET_PEAK_MB else 'NOT MET'}")
        return 0
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
