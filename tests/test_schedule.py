"""The job plan of `veille run` (watch.schedule): jobs from the configuration, their times, catch-up after downtime.

Times are computed against an injected `now` with APScheduler's own triggers: no sleeping, no scheduler running.
The scheduler process itself is exercised in tests/test_run.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from watch.config import parse_config
from watch.errors import ConfigError
from watch.schedule import plan_jobs

PARIS = ZoneInfo("Europe/Paris")
CONFIG = """
company: {name: Testco}
themes: [{id: t1, label: Thème}]
scheduler:
  defaults: {feed: 2h, page: 12h}
  collect_grace: 10m
  digest_grace: 3h
sources:
  - {id: news, name: News, url: "http://127.0.0.1:1/a.xml"}
  - {id: weekly, name: Weekly, url: "http://127.0.0.1:1/b.xml", schedule: {cron: "mon 06:30"}}
  - {id: crawl, name: Crawl, kind: spider, url: "http://127.0.0.1:1/list", follow: "a.article"}
  - {id: prices, name: Prices, kind: page, url: "http://127.0.0.1:1/prix"}
  - {id: notes, name: Notes, kind: offline}
audiences:
  - {id: direction, role: direction, schedule: {cron: "mon 07:30"}}
  - {id: partners, role: partners, schedule: {cron: "30 8 * * 5", timezone: America/New_York}}
  - {id: on-demand, role: custom}
"""


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def plan():
    return {spec.id: spec for spec in plan_jobs(parse_config(CONFIG))}


def test_jobs_from_the_configuration_with_stable_ids_and_per_kind_defaults(plan):
    assert list(plan) == ["collect:news", "collect:weekly", "collect:crawl", "collect:prices", "classify",
                          "digest:direction", "digest:partners", "deliveries", "housekeeping"]
    assert plan["collect:news"].description == "every 2h"         # scheduler.defaults.feed
    assert plan["collect:crawl"].description == "every 6h"        # built-in default for spiders
    assert plan["collect:prices"].description == "every 12h"
    assert plan["collect:weekly"].description == "mon 06:30 (Europe/Paris)"
    assert plan["housekeeping"].description == "daily 04:30 (Europe/Paris)"
    # Explicit misfire grace: minutes for a collection (a sample), hours for a digest (a brief is owed).
    assert plan["collect:news"].grace == 600 and plan["classify"].grace == 600
    assert plan["digest:direction"].grace == 3 * 3600 and plan["deliveries"].grace == 3 * 3600
    # Same configuration, same plan: what a reload compares to keep unchanged jobs as they are.
    assert plan_jobs(parse_config(CONFIG)) == list(plan.values())


def test_weekly_paris_digest_stays_at_07_30_local_across_both_daylight_saving_changes(plan):
    trigger = plan["digest:direction"].trigger()
    fires, at = [], utc(2026, 3, 20)
    for _ in range(2):
        at = trigger.get_next_fire_time(None, at + timedelta(seconds=1))
        fires.append(at)
    # Summer time starts on Sunday 29 March 2026: 07:30 in Paris is 06:30 UTC before, 05:30 UTC after.
    assert [f.astimezone(PARIS).strftime("%a %H:%M") for f in fires] == ["Mon 07:30", "Mon 07:30"]
    assert [f.astimezone(timezone.utc).hour for f in fires] == [6, 5]
    autumn = trigger.get_next_fire_time(None, utc(2026, 10, 24))  # winter time from Sunday 25 October
    assert autumn.astimezone(PARIS).strftime("%Y-%m-%d %H:%M") == "2026-10-26 07:30"
    assert autumn.astimezone(timezone.utc).hour == 6


def test_an_audience_time_zone_and_crontab_weekday_numbers(plan):
    # `30 8 * * 5` is Friday as in crontab (APScheduler 3 alone would read 5 as Saturday).
    fire = plan["digest:partners"].trigger().get_next_fire_time(None, utc(2026, 11, 23))
    assert fire.astimezone(ZoneInfo("America/New_York")).strftime("%a %H:%M") == "Fri 08:30"


@pytest.mark.parametrize("cron, message", [
    ("0 2 * * *", "02:00"), ("30 1-3 * * mon", "02:00"), ("daily 02:15", "02:00"),
    ("61 7 * * *", "cron"), ("0 7 * * 8", "0-7"), ("mon 7h30", "cron"),
])
def test_schedules_that_cannot_work_are_refused_with_their_line(cron, message):
    text = CONFIG.replace('schedule: {cron: "mon 07:30"}', f'schedule: {{cron: "{cron}"}}')
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    problem = str(caught.value.problems[0])
    assert problem.startswith("sources.yaml:15: audiences[0].schedule.cron") and message in problem


def test_hourly_steps_may_cross_the_daylight_saving_hour():
    parse_config(CONFIG.replace('{cron: "mon 06:30"}', '{cron: "0 */2 * * *"}'))


NOW = utc(2026, 11, 25, 10, 0)  # a Wednesday


def test_never_run_jobs_collect_at_once_and_wait_for_their_time_otherwise(plan):
    assert plan["collect:news"].first_run(None, NOW) == NOW
    assert plan["collect:weekly"].first_run(None, NOW) == NOW  # a new source is read at the first start
    assert plan["classify"].first_run(None, NOW) == NOW
    first_digest = plan["digest:direction"].first_run(None, NOW)
    assert first_digest.astimezone(PARIS).strftime("%Y-%m-%d %H:%M") == "2026-11-30 07:30"
    assert plan["housekeeping"].first_run(None, NOW).astimezone(PARIS).strftime("%d %H:%M") == "26 04:30"


def test_an_interval_keeps_its_rhythm_across_a_restart_and_runs_once_when_overdue(plan):
    news = plan["collect:news"]
    assert news.first_run(NOW - timedelta(minutes=30), NOW) == NOW + timedelta(minutes=90)
    assert news.first_run(NOW - timedelta(hours=2), NOW) == NOW
    assert news.first_run(NOW - timedelta(days=9), NOW) == NOW


def test_a_digest_missed_for_weeks_is_caught_up_once_then_goes_back_to_its_day(plan):
    direction = plan["digest:direction"]
    sent_three_weeks_ago = utc(2026, 11, 2, 6, 30, 5)  # Monday 2 November 07:30 Paris
    assert direction.first_run(sent_three_weeks_ago, NOW) == NOW
    # After that catch-up the trigger's next time is next Monday, not the three missed ones.
    following = direction.trigger().get_next_fire_time(NOW, NOW)
    assert following.astimezone(PARIS).strftime("%Y-%m-%d %H:%M") == "2026-11-30 07:30"
    sent_this_monday = utc(2026, 11, 23, 6, 30, 2)
    assert direction.first_run(sent_this_monday, NOW) == following
    assert direction.last_fire(NOW) == utc(2026, 11, 23, 6, 30)


def test_audiences_without_a_schedule_and_field_notes_get_no_job(plan):
    assert "digest:on-demand" not in plan and "collect:notes" not in plan
    bare = parse_config("company: {name: X}\n")
    assert [spec.id for spec in plan_jobs(bare)] == ["classify", "housekeeping"]  # no digest: no retry job either
