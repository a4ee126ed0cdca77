"""Rising terms: words, entities or labels mentioned far more this week than in the weeks before.

A watch has to flag the weak signal ("LFP battery" going from a mention a month to several a week) without
flagging the noise of a term that is always frequent. Each term is compared with its own trailing baseline, with a
score that treats weekly counts as Poisson draws: a jump from 10 to 12 is noise, a jump from 2 to 9 is not.

Weeks are ISO weeks named like ``2026-W47``, in the audience's time zone (the digests are named the same way), and
week arithmetic goes through dates so that year boundaries (52- and 53-week years) come out right.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
_WEEK = re.compile(r"(\d{4})-W(\d{2})")


@dataclass(frozen=True)
class RisingTerm:
    """A term flagged this week, with the figures that justify it (shown beside it in digests)."""

    term: str
    kind: str
    count: int                # mentions in the current week
    baseline: float           # mean weekly mentions over the baseline weeks
    ratio: float              # count / (baseline + 0.5)
    z: float                  # (count - baseline) / sqrt(baseline + 1)
    weeks: tuple[int, ...]    # counts of the baseline weeks then the current week, oldest first (a sparkline)


def iso_week(dt: datetime, tz: str = "Europe/Paris") -> str:
    """ISO week of a moment in the given time zone, as ``YYYY-Www``; naive datetimes are taken as UTC.

    The zone matters at the edges: Sunday 23:30 UTC is already Monday in Paris, so the item belongs to the next
    week of a Paris audience's digest.
    """
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    year, week, _ = dt.astimezone(ZoneInfo(tz)).isocalendar()
    return f"{year}-W{week:02d}"


def weekly_counts(store: Any, weeks: Sequence[str], kinds: Iterable[str] | None = None,
                  tz: str = "Europe/Paris") -> dict[tuple[str, str], dict[str, int]]:
    """{(term, kind): {ISO week: items}} over `weeks`, from the store's per-day counts (`Store.term_counts`).

    Days are UTC days of publication; a day goes to the week of its noon (UTC) in `tz`: for Europe/Paris, the
    day's own week.
    """
    if not weeks:
        return {}
    wanted = set(weeks)
    day, last = week_monday(min(wanted)) - timedelta(days=1), week_monday(max(wanted)) + timedelta(days=7)
    periods = {}
    while day <= last:
        week = iso_week(datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc), tz)
        if week in wanted:
            periods[day.isoformat()] = week
        day += timedelta(days=1)
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for term, kind, week, number in store.term_counts(periods, kinds):
        counts.setdefault((term, kind), {})[week] = number
    return counts


def week_monday(week: str) -> date:
    """The Monday that starts an ISO week ``YYYY-Www``; ValueError on a malformed or non-existent week."""
    match = _WEEK.fullmatch(week)
    if not match:
        raise ValueError(f"not an ISO week like 2026-W07: {week!r}")
    return date.fromisocalendar(int(match[1]), int(match[2]), 1)  # rejects W53 of a 52-week year


def previous_weeks(week: str, n: int) -> list[str]:
    """The ``n`` weeks before ``week`` (not including it), oldest first.

    Computed on dates, not on week numbers: 2026-W01 minus one is 2025-W52, and 2021-W01 minus one is 2020-W53.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    monday = week_monday(week)
    out = []
    for back in range(n, 0, -1):
        year, num, _ = (monday - timedelta(weeks=back)).isocalendar()
        out.append(f"{year}-W{num:02d}")
    return out


def sparkline(values: Sequence[int]) -> str:
    """One block per value, heights proportional to the value from zero (not from the minimum).

    From zero, a flat series of 10s does not look like a jump, and a term at 2 a week followed by 9 shows a low
    line and a tall bar. A week with any mention gets at least the second block, so "none" and "a few" differ.
    """
    if any(v < 0 for v in values):
        raise ValueError("sparkline values must be >= 0")
    top = max(values, default=0)
    if top == 0:
        return SPARK_BLOCKS[0] * len(values)
    last = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[0 if v == 0 else max(1, round(v * last / top))] for v in values)


def rising_terms(
    counts: Mapping[tuple[str, str], Mapping[str, int]],
    current_week: str,
    *,
    baseline_weeks: int = 8,
    min_count: int = 3,
    min_ratio: float = 2.0,
    z_threshold: float = 2.0,
) -> list[RisingTerm]:
    """Terms significantly more frequent in ``current_week`` than in their trailing baseline, by z descending.

    ``counts`` maps (term, kind) to {ISO week: count}; weeks absent from it count 0, weeks after the current one
    are ignored. A term is flagged when all three hold:

    - ``count >= min_count``: two mentions are an anecdote, whatever the baseline;
    - ``z = (count - mean) / sqrt(mean + 1) >= z_threshold``: under a Poisson model the weekly count varies by
      about sqrt(mean). The +1 keeps the score finite for a term never seen before (mean 0) and stops small
      baselines from exaggerating: 0 -> 3 scores 3, not infinity, and 0.25 -> 2 is not a 3.5-sigma event;
    - ``count >= min_ratio * (mean + 0.5)``: with a large baseline, z grows with volume (100 -> 125 is z 2.5) while
      the change is small; the ratio asks for a real multiplication, the +0.5 keeps it defined for new terms.
    """
    if baseline_weeks < 1:
        raise ValueError("baseline_weeks must be >= 1")
    past = previous_weeks(current_week, baseline_weeks)
    rising = []
    for (term, kind), by_week in counts.items():
        count = int(by_week.get(current_week, 0))
        if count < min_count:
            continue
        history = [int(by_week.get(week, 0)) for week in past]
        mean = sum(history) / baseline_weeks
        z = (count - mean) / math.sqrt(mean + 1)
        if z >= z_threshold and count >= min_ratio * (mean + 0.5):
            rising.append(RisingTerm(term=term, kind=kind, count=count, baseline=round(mean, 3),
                                     ratio=round(count / (mean + 0.5), 3), z=round(z, 3),
                                     weeks=(*history, count)))
    rising.sort(key=lambda r: (-r.z, -r.count, r.term, r.kind))
    return rising
