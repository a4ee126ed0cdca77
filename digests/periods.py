"""Digest periods: named by ISO week (`2026-W48`) in the audience's time zone, or by day for daily audiences.

A digest covers the items first seen from the audience's previous cut-off to now (DESIGN.md), so the period name
only says which brief it is; building one per (audience, period) is what keeps a rerun from sending it twice.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from nlp.trends import iso_week, week_monday
from watch.config import Audience, cron_fields
from watch.errors import UsageError
from watch.i18n import tx

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def audience_zone(audience: Audience) -> str:
    return audience.schedule.timezone if audience.schedule else "Europe/Paris"


def is_daily(audience: Audience) -> bool:
    """True when the audience's schedule runs more than once a week (its digests are then named by day)."""
    schedule = audience.schedule
    if schedule is None:
        return False
    if schedule.every is not None:
        return (schedule.interval_seconds or 0) < 7 * 86400
    dow = cron_fields(schedule.cron)["day_of_week"]
    return dow == "*" or "-" in dow or "," in dow


def period_of(audience: Audience, when: datetime) -> str:
    zone = audience_zone(audience)
    if is_daily(audience):
        return when.astimezone(ZoneInfo(zone)).date().isoformat()
    return iso_week(when, zone)


def period_bounds(period: str, zone: str) -> tuple[datetime, datetime]:
    """[start, end) of a named period in UTC: an ISO week from Monday 00:00 local time, or one local day."""
    tz = ZoneInfo(zone)
    try:
        if _DAY.match(period):
            first = date.fromisoformat(period)
            days = 1
        else:
            first = week_monday(period)
            days = 7
    except ValueError:
        raise UsageError(tx("unreadable period {period!r}: write an ISO week like 2026-W47 or a day 2026-11-23", period=period)) from None
    start = datetime.combine(first, time(0), tz)
    end = datetime.combine(first + timedelta(days=days), time(0), tz)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)
