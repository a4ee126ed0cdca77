"""The job plan of `veille run`: which jobs exist, when each runs, and which are overdue after a downtime.

Built from sources.yaml at every start and reload, with stable ids, so that nothing lives in an APScheduler job
store: `collect:<source>` for each collected source (its own schedule, else the default of its kind),
`classify`, `digest:<audience>` for each audience with a schedule, `deliveries` (retries of digests left pending)
and `housekeeping`. The last successful run of each job is kept in our database (`job_runs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from watch.config import Config, Schedule, cron_fields, duration_seconds

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

# Runs whose first fire is "as soon as the scheduler starts" when they never ran: collecting a new source, or
# classifying what is waiting, cannot be too early. A digest or housekeeping that never ran waits for its time.
RUN_AT_FIRST_START = ("collect", "classify", "deliveries")


@dataclass(frozen=True)
class JobSpec:
    id: str
    kind: str             # collect | classify | digest | deliveries | housekeeping
    target: str | None    # the source or audience id
    schedule: Schedule
    grace: int            # misfire grace, seconds

    @property
    def description(self) -> str:
        """`every 1h` or `mon 07:30 (Europe/Paris)`, as `veille status` shows it."""
        if self.schedule.every is not None:
            return f"every {self.schedule.every}"
        return f"{self.schedule.cron} ({self.schedule.timezone})"

    def trigger(self) -> BaseTrigger:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        zone = ZoneInfo(self.schedule.timezone)
        if self.schedule.every is not None:
            return IntervalTrigger(seconds=self.schedule.interval_seconds, timezone=zone)
        return CronTrigger(**cron_fields(self.schedule.cron), timezone=zone)

    def first_run(self, last_success: datetime | None, now: datetime) -> datetime:
        """When this job should first run in a scheduler starting `now`.

        Overdue (its time came while nothing ran it) means once, now: a week of downtime is one catch-up, not
        seven. Otherwise its rhythm goes on from the last success (an interval), or its next time (a cron).
        """
        trigger = self.trigger()
        if last_success is None:
            return now if self.kind in RUN_AT_FIRST_START else trigger.get_next_fire_time(None, now)
        if self.schedule.every is not None:
            due = last_success + timedelta(seconds=self.schedule.interval_seconds)
            return now if due <= now else due
        due = trigger.get_next_fire_time(None, last_success + timedelta(seconds=1))
        if due is not None and due <= now:
            return now
        return trigger.get_next_fire_time(None, now)

    def last_fire(self, now: datetime) -> datetime | None:
        """The most recent time this job was due, at or before `now` (None if never within a year)."""
        trigger = self.trigger()
        for days in (1, 8, 32, 367):
            fire = trigger.get_next_fire_time(None, now - timedelta(days=days))
            last = None
            while fire is not None and fire <= now:
                last = fire
                fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
            if last is not None:
                return last
        return None


def plan_jobs(config: Config) -> list[JobSpec]:
    """Every job the configuration asks for, in a stable order."""
    settings = config.scheduler
    collect_grace = duration_seconds(settings.collect_grace)
    digest_grace = duration_seconds(settings.digest_grace)
    jobs = []
    for source in config.sources:
        if source.kind == "offline":
            continue  # field notes are entered by people; their retention is applied by housekeeping
        schedule = source.schedule or Schedule(every=getattr(settings.defaults, source.kind))
        jobs.append(JobSpec(f"collect:{source.id}", "collect", source.id, schedule, collect_grace))
    jobs.append(JobSpec("classify", "classify", None, Schedule(every=settings.classify), collect_grace))
    scheduled = [a for a in config.audiences if a.schedule is not None]
    for audience in scheduled:
        jobs.append(JobSpec(f"digest:{audience.id}", "digest", audience.id, audience.schedule, digest_grace))
    if scheduled:
        jobs.append(JobSpec("deliveries", "deliveries", None, Schedule(every=settings.deliveries), digest_grace))
    jobs.append(JobSpec("housekeeping", "housekeeping", None, settings.housekeeping, digest_grace))
    return jobs
