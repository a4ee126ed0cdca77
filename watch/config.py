"""sources.yaml: the watch configuration, loaded once into frozen, typed models.

This is the only module that reads sources.yaml. Every problem is reported at once, each with file:line, the field
and a hint, as a ConfigError; `${VAR}` and `${VAR:-default}` are taken from the environment so that no secret has to
live in the file.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import re
import unicodedata
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from watch.errors import ConfigError, Problem, UsageError
from watch.i18n import N_, tx, user_language
from watch.yamlguard import MAX_ALIAS_EXPANSION, MAX_CONFIG_BYTES, expansion_problem

DEFAULT_CONFIG = "sources.yaml"
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
EMAIL_PATTERN = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
# The default sender, for a mail server on this machine (or the test server): valid as a sender though its domain
# has no dot; a relay that wants a real domain refuses it, and the delivery error then says to set delivery.sender.
DEFAULT_SENDER = "veille@localhost"
_LOCAL_SENDER = re.compile(r"^[^@\s<>,;\"]+@localhost$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_EVERY = re.compile(r"^\s*(\d+)\s*(s|m|min|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SHORT_CRON = re.compile(r"^\s*(?:(daily|[a-z]{3}(?:[-,][a-z]{3})*)\s+)?(\d{1,2}):(\d{2})\s*$")


def _header_text(value: str, use: str) -> str:
    """`value`, which goes into a mail header: refused with a line break (CR, LF, or one str.splitlines knows) or a
    control character, which would start a new header or be refused at each delivery."""
    if any(ord(ch) < 32 or ord(ch) == 127 or ch in "\x85\u2028\u2029" for ch in value):
        raise ValueError(tx("the name must fit on one line, without control characters ({use})", use=use))
    return value


class Model(BaseModel):
    # validate_default: a default passes the same checks as a written value, so a configuration validated again
    # (a copy, a child process) can never fail on a field it did not set.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class Company(Model):
    name: str
    sector: str = ""
    offer: dict[str, list[str]] = Field(default_factory=dict)


class CollectSettings(Model):
    """How the feed reader behaves on the network; defaults fit a watch of a few hundred sources."""

    concurrency: int = Field(64, ge=1, le=512)
    per_host: int = Field(6, ge=1, le=64)
    timeout: float = Field(20.0, gt=0, le=600)
    connect_timeout: float = Field(10.0, gt=0, le=120)
    max_bytes: int = Field(5_000_000, ge=1024)
    max_redirects: int = Field(5, ge=0, le=20)
    # true: fetches may reach any private address, not only a source's own host (watch.netguard); never metadata.
    allow_private: bool = False
    user_agent: str = "veille/0.1 (market-watch feed reader; +https://pypi.org/project/veille/)"
    # Crawls (kind: spider, full text of feeds): each runs in a child process (Scrapy's reactor cannot restart).
    crawl_delay: float = Field(1.0, ge=0, le=60)         # seconds between two requests to one site (AutoThrottle start)
    crawl_budget: float = Field(300.0, gt=0, le=86400)   # seconds one crawl may last; then it stops, keeping what it found
    crawl_processes: int = Field(2, ge=1, le=16)         # crawls running at once
    retries: int = Field(2, ge=0, le=10)                 # retries of a page after a network error or HTTP 5xx


class NlpSettings(Model):
    """How items are classified."""

    models: bool = True  # use installed spaCy model packages (fr_core_news_sm…); false: blank pipelines + rules
    # Processes that classify a large batch together (spaCy uses one core per process); each holds its own
    # pipelines (~300-600 MB). Small batches always run in one process.
    workers: int = Field(2, ge=1, le=16)


class Schedule(Model):
    """Either `every: 1h` (an interval) or `cron:` (`mon 07:30`, `daily 06:00` or five cron fields)."""

    every: str | None = None
    cron: str | None = None
    timezone: str = "Europe/Paris"

    @field_validator("every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        if value is not None and not _EVERY.match(value):
            raise ValueError(tx("unreadable duration, write e.g. 30m, 1h or 1d"))
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            fields = cron_fields(value)
            # Daylight-saving changes skip or repeat 02:00-03:00 local time: a job there runs 0 or 2 times.
            # Hour steps over the whole day (`*`, `*/2`) are periodic jobs and may cross it.
            if 2 in _named_hours(fields["hour"]):
                raise ValueError(tx("no time between 02:00 and 03:00 (daylight-saving change)"))
            from apscheduler.triggers.cron import CronTrigger  # the scheduler reads the same fields

            try:
                CronTrigger(**fields, timezone="UTC")
            except ValueError as exc:
                raise ValueError(tx("unreadable cron {value!r}: {exc}", value=value, exc=exc)) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(tx("unknown time zone {value!r}", value=value)) from None
        return value

    @model_validator(mode="after")
    def _one_of(self) -> Schedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError(tx("give either every or cron"))
        return self

    @property
    def interval_seconds(self) -> int | None:
        if self.every is None:
            return None
        number, unit = _EVERY.match(self.every).groups()
        return int(number) * _UNITS[unit]


def duration_seconds(text: str) -> int:
    """`30s`, `15m`, `1h`, `1d`, `1w` in seconds."""
    match = _EVERY.match(text)
    if not match:
        raise ValueError(tx("unreadable duration {text!r}, write e.g. 30m, 1h or 1d", text=text))
    number, unit = match.groups()
    return int(number) * _UNITS[unit]


def _duration(value: str) -> str:
    if duration_seconds(value) <= 0:
        raise ValueError(tx("a duration must be positive"))
    return value


Duration = Annotated[str, AfterValidator(_duration)]


class KindSchedules(Model):
    """How often a source is collected when it gives no `schedule`, per kind (field notes are not collected)."""

    feed: Duration = "1h"
    spider: Duration = "6h"
    page: Duration = "1d"


class SchedulerSettings(Model):
    """How `veille run` keeps the watch going: default rhythms, grace periods, logs."""

    defaults: KindSchedules = Field(default_factory=KindSchedules)
    classify: Duration = "15m"        # classification also runs after each collection that brings something new
    deliveries: Duration = "15m"      # digest deliveries left pending (SMTP server down) are retried this often
    housekeeping: Schedule = Field(default_factory=lambda: Schedule(cron="daily 04:30"))
    # A collection later than this (machine busy or asleep) is skipped: the next one replaces it. A digest later
    # than its grace is still sent once, as soon as the scheduler can (a brief is owed, a sample is not).
    collect_grace: Duration = "15m"
    digest_grace: Duration = "6h"
    workers: int = Field(4, ge=1, le=64)               # jobs running at the same time
    fetches_retention_days: int = Field(90, ge=1)      # fetch history kept (a source's state is kept regardless)
    log_file: Path | None = None                        # rotating job log; default: veille-run.log beside the database
    log_max_bytes: int = Field(5_000_000, ge=10_000)
    log_backups: int = Field(5, ge=0, le=100)
    check_every: Duration = "5s"      # how often sources.yaml is checked for changes (and the clock, after a sleep)


def cron_fields(text: str) -> dict[str, str]:
    """`mon 07:30` / `daily 06:00` / `30 7 * * mon` as APScheduler CronTrigger fields."""
    short = _SHORT_CRON.match(text.lower())
    if short:
        days, hour, minute = short.groups()
        if int(hour) > 23 or int(minute) > 59:
            raise ValueError(tx("invalid time in {text!r}", text=text))
        if days and days != "daily":
            for day in re.split(r"[-,]", days):
                if day not in _DAYS:
                    raise ValueError(tx("unknown day {day!r} (mon, tue, … sun)", day=day))
        dow = "*" if not days or days == "daily" else days
        return {"minute": str(int(minute)), "hour": str(int(hour)), "day": "*", "month": "*", "day_of_week": dow}
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(tx("unreadable cron {text!r}: write 'mon 07:30' or five fields '30 7 * * mon'", text=text))
    fields = dict(zip(("minute", "hour", "day", "month", "day_of_week"), parts))
    fields["day_of_week"] = _crontab_weekdays(fields["day_of_week"])
    return fields


def _crontab_weekdays(text: str) -> str:
    """Crontab weekday numbers (0 or 7 Sunday, 1 Monday) as names.

    APScheduler 3.x counts 0 as Monday (agronholm/apscheduler#286), so `30 7 * * 1` would run on Tuesdays if passed
    through. Names (`mon-fri`) and `*` are left as they are.
    """
    if not re.search(r"\d", text):
        return text
    days: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"(\*|\d)(?:-(\d))?(?:/(\d+))?", part.strip())
        if not match:
            raise ValueError(tx("unreadable day of week {text!r}: write 1-5 or mon-fri", text=text))
        start, end, step = match.groups()
        first, last = (0, 6) if start == "*" else (int(start), int(end) if end is not None else int(start))
        if last > 7 or first > last:
            raise ValueError(tx("day of week outside 0-7 in {text!r}", text=text))
        days.update(day % 7 for day in range(first, last + 1, int(step or 1)))
    cron_order = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
    return ",".join(cron_order[day] for day in sorted(days, key=lambda d: (d - 1) % 7))


def _named_hours(text: str) -> set[int]:
    """Hours a cron hour field names explicitly (`2`, `1-3`, `1,2`, `0-4/2`); empty for whole-day steps (`*`, `*/n`)."""
    hours: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?(?:/(\d+))?", part.strip())
        if match:
            start, end, step = match.groups()
            hours.update(range(int(start), int(end if end is not None else start) + 1, int(step or 1)))
    return hours


class Theme(Model):
    id: str = Field(pattern=ID_PATTERN)
    label: str                                             # in French, or the only language given
    names: dict[str, str] = Field(default_factory=dict)    # `label: {fr: …, en: …}`: the name in each language
    purpose: str = ""
    priority: int = Field(2, ge=1, le=3)
    keywords: dict[str, list[str]] = Field(default_factory=dict)
    indicators: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _label_per_language(cls, data: Any) -> Any:
        # An English brief must not show French theme names: `label` may give one name per language.
        if isinstance(data, dict) and isinstance(data.get("label"), dict):
            names = {str(k): str(v) for k, v in data["label"].items()}
            data = {**data, "label": names.get("fr") or next(iter(names.values()), ""), "names": names}
        return data

    def label_in(self, lang: str) -> str:
        return self.names.get(lang) or self.label


class Competitor(Model):
    id: str = Field(pattern=ID_PATTERN)
    name: str
    aliases: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)
    kind: Literal["direct", "indirect"] = "direct"


def _selector(value: str) -> str:
    """A CSS selector, or XPath when it starts with `/` or `(`, checked the way parsel will read the page."""
    from cssselect import SelectorError
    from lxml import etree
    from parsel.csstranslator import HTMLTranslator

    try:
        if value.strip().startswith(("/", "(")):
            etree.XPath(value)
        else:
            HTMLTranslator().css_to_xpath(value)  # parsel's translator knows `::text` and `::attr()`
    except (SelectorError, etree.XPathError) as exc:
        raise ValueError(tx("invalid selector {value!r}: {exc}", value=value, exc=exc)) from None
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(tx("invalid regular expression {value!r}: {exc}", value=value, exc=exc)) from None
    return value


class PageOptions(Model):
    """A page watch (`kind: page`): which region of the page is compared, what noise is ignored, how long
    snapshots are kept."""

    selector: Annotated[str, AfterValidator(_selector)] | None = None  # CSS or XPath; none: the main text
    ignore: list[Literal["dates", "counters", "tokens"]] = Field(default_factory=list)  # built-in kinds of noise
    ignore_patterns: list[Annotated[str, AfterValidator(_regex)]] = Field(default_factory=list)  # Python regexes
    retention_days: int = Field(365, ge=1)  # snapshots older than this are deleted…
    keep_last: int = Field(5, ge=1)         # …except the most recent ones (the last is the comparison baseline)


class OfflineOptions(Model):
    """Field notes (`kind: offline`): they may name people, so they are kept for a limited time."""

    retention_days: int | None = Field(730, ge=1)  # counted from the observation date; null keeps them forever


SourceKind = Literal["feed", "spider", "page", "offline"]
# Options that only mean something for one kind of source (checked with file:line in _kind_options).
SPIDER_OPTIONS = ("spider", "start_urls", "follow", "next_page", "max_pages", "max_depth", "max_articles",
                  "allowed_domains", "sitemap", "time_budget")
FEED_OPTIONS = ("fulltext",)
SourceType = Literal["press", "trade-press", "competitor", "institutional", "blog", "social", "field"]


class Source(Model):
    id: str = Field(pattern=ID_PATTERN)
    name: str
    kind: SourceKind = "feed"
    url: str | None = None
    language: str = Field("fr", pattern=r"^[a-z]{2}$")
    country: str = ""
    type: SourceType = "press"
    reliability: Literal["A", "B", "C", "D", "E", "F"] = "F"
    access: Literal["free", "paywall", "login"] = "free"
    legitimacy: str = ""
    themes: list[str] = Field(default_factory=list)
    competitor: str | None = None
    schedule: Schedule | None = None
    internal: bool = False
    notes: str = ""
    # kind: spider. `spider` names a spider of spiders/ (`scrapy list`) or a class `package.module:Class`;
    # without it, the generic `listing` spider (or `news-sitemap` when `sitemap` is given).
    spider: str | None = Field(None, pattern=r"^([a-z0-9][a-z0-9_-]*|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")
    start_urls: list[str] = Field(default_factory=list)  # more listing pages besides `url`
    follow: Annotated[str, AfterValidator(_selector)] | None = None     # CSS (or XPath) of the article links
    next_page: Annotated[str, AfterValidator(_selector)] | None = None  # the link to the next listing page
    max_pages: int = Field(5, ge=1, le=1000)        # listing pages read per crawl
    max_depth: int = Field(10, ge=1, le=50)         # links followed away from a start page (Scrapy DEPTH_LIMIT)
    max_articles: int = Field(200, ge=1, le=100000)  # article pages read per crawl
    allowed_domains: list[str] = Field(default_factory=list)  # default: the hosts of url and start_urls
    sitemap: str | None = None      # a (news) sitemap listing the articles, for sites without a feed
    time_budget: float | None = Field(None, gt=0, le=86400)  # seconds; default collect.crawl_budget
    # kind: feed. Fetch each new entry's page and keep its main text (feeds that ship only a teaser).
    fulltext: bool = False
    page: PageOptions | None = None        # kind: page
    offline: OfflineOptions | None = None  # kind: offline

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        return value.strip().lower().replace(" ", "-").replace("_", "-") if isinstance(value, str) else value

    @field_validator("url", "sitemap")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(tx("{value!r}: only http(s) addresses are collected", value=value))
        return value

    @field_validator("start_urls")
    @classmethod
    def _http_list(cls, value: list[str]) -> list[str]:
        for url in value:
            cls._http(url)
        return value

    @property
    def spider_name(self) -> str:
        """The spider that crawls this source: the one named, else the generic one its options call for."""
        return self.spider or ("news-sitemap" if self.sitemap and not self.follow else "listing")

    @model_validator(mode="after")
    def _url(self) -> Source:
        if self.kind != "offline" and not self.url:
            raise ValueError(tx("a {kind} source needs a url", kind=self.kind))
        for option in ("page", "offline"):
            if getattr(self, option) is not None and self.kind != option:
                raise ValueError(tx("`{option}:` options belong to `kind: {option}` sources (this one: {kind})", option=option, kind=self.kind))
        return self

    @property
    def page_options(self) -> PageOptions:
        return self.page or PageOptions()

    @property
    def offline_options(self) -> OfflineOptions:
        return self.offline or OfflineOptions()


def selector_problem(selector: str) -> str | None:
    """Why a CSS or XPath selector cannot work (for selectors given outside sources.yaml), or None."""
    if not selector.strip():
        return tx("empty selector")
    try:
        _selector(selector)
    except ValueError as exc:
        return str(exc)
    return None


class Interests(Model):
    themes: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    competitors: list[str] = Field(default_factory=list)


class Alerts(Model):
    """Same-day alerts: one short e-mail per new item scoring at least `min_score`, never at night unless `night`."""

    min_score: int = Field(85, ge=0, le=100)
    night: bool = False


SectionKind = Literal["items", "trends", "health"]


class Section(Model):
    """One part of a digest. Items go to the first `items` section whose filters they match (all filters given
    must match; none given matches everything); `trends` and `health` sections show rising terms and source health.
    """

    id: str = Field(pattern=ID_PATTERN)
    title: str | dict[str, str] | None = None  # text, or {fr: …, en: …}; default: the built-in title of the id
    kind: SectionKind = "items"
    labels: list[str] = Field(default_factory=list)
    themes: list[str] = Field(default_factory=list)
    competitors: list[str] = Field(default_factory=list)
    competitor_moves: bool = False  # only moves whose actor is a configured competitor
    source_types: list[SourceType] = Field(default_factory=list)
    max_items: int | None = Field(None, ge=1, le=500)
    layout: Literal["full", "compact"] = "full"
    group_by: Literal["competitor"] | None = None
    # Statistics of institutional sources that measure an indicator of a theme the audience follows (themes[].
    # indicators), shown with their figure; a declared need, so the audience's min_score does not hold them back.
    indicators: bool = False


class Audience(Model):
    id: str = Field(pattern=ID_PATTERN)
    role: Literal["direction", "marketing", "commercial", "rd", "partners", "custom"] = "custom"
    name: str = ""
    external: bool = False
    recipients: list[str] = Field(default_factory=list)
    language: Literal["fr", "en"] = "fr"
    interests: Interests = Field(default_factory=Interests)
    min_score: int = Field(50, ge=0, le=100)
    max_items: int = Field(15, ge=1, le=500)
    schedule: Schedule | None = None
    alerts: Alerts | None = None
    sections: list[Section] | None = None  # None: the default sections of the role (digests/sections.py)
    send_empty: bool = True                # send the short "nothing notable" brief when a period has no item
    empty_text: str | None = None          # its text (default: a sentence in the audience's language)

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        for address in value:
            if not EMAIL_PATTERN.match(address):
                raise ValueError(tx("invalid e-mail address {address!r}", address=address))
        return value

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return _header_text(value, tx("it is used in the e-mail subject"))


class Delivery(Model):
    sender: str = DEFAULT_SENDER
    sender_name: str = "Veille"
    reply_to: str | None = None
    unsubscribe: str | None = None       # mailto: address for List-Unsubscribe (default: the sender)
    unsubscribe_url: str | None = None   # https URL for one-click unsubscribe (RFC 8058)
    archive: Path = Path("data/archive")
    archive_url: str | None = None       # https URL where the archive is published (absolute links in the Atom feeds)
    retries: int = Field(3, ge=0, le=10)  # attempts after a transient SMTP failure, within one run
    retry_backoff: float = Field(2.0, ge=0, le=300)  # seconds before the first retry, doubled at each one

    @field_validator("sender", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not (EMAIL_PATTERN.match(value) or _LOCAL_SENDER.match(value)):
            raise ValueError(tx("invalid e-mail address {value!r}", value=value))
        return value

    @field_validator("unsubscribe")
    @classmethod
    def _mailto(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^mailto:[^@\s]+@[^@\s]+$", value):
            raise ValueError(tx("write mailto:address@example.org"))
        return value

    @field_validator("unsubscribe_url", "archive_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError(tx("the URL must be https://"))
        if value is not None and re.search(r"\s", value):
            raise ValueError(tx("space or line break in the URL (encode a space as %20)"))
        return value

    @field_validator("sender_name")
    @classmethod
    def _sender_name(cls, value: str) -> str:
        return _header_text(value, tx("it goes into the From header"))


class Config(Model):
    company: Company
    database: Path = Path("data/veille.db")
    collect: CollectSettings = Field(default_factory=CollectSettings)
    nlp: NlpSettings = Field(default_factory=NlpSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    themes: list[Theme] = Field(default_factory=list)
    competitors: list[Competitor] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    audiences: list[Audience] = Field(default_factory=list)
    delivery: Delivery = Field(default_factory=Delivery)
    path: Path | None = None

    def audience(self, audience_id: str) -> Audience:
        for audience in self.audiences:
            if audience.id == audience_id:
                return audience
        known = [a.id for a in self.audiences]
        close = difflib.get_close_matches(audience_id, known, n=1)
        raise UsageError(tx("unknown audience {audience_id!r}", audience_id=audience_id)
                         + (tx(" (did you mean {close!r}?)", close=close[0]) if close else
                            (tx(" (declared: {known})", known=", ".join(known)) if known
                             else tx(" (declared: none)"))))

    def source(self, source_id: str) -> Source:
        for source in self.sources:
            if source.id == source_id:
                return source
        raise KeyError(source_id)


def config_path(path: str | os.PathLike | None = None) -> Path:
    """The file to read: the argument, else $VEILLE_CONFIG, else ./sources.yaml."""
    return Path(path or os.environ.get("VEILLE_CONFIG") or DEFAULT_CONFIG)


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Read and validate a configuration file; raise ConfigError listing every problem."""
    file = config_path(path)
    try:
        if (size := file.stat().st_size) > MAX_CONFIG_BYTES:
            raise ConfigError([Problem(str(file), None, "", tx("file too large ({size} bytes, over "
                                                              "{max_config_bytes}): a watch configuration is far "
                                                              "smaller", size=size, max_config_bytes=MAX_CONFIG_BYTES),
                tx("check that it is the right file"))])
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(str(file), None, "", tx("configuration file not found"),
            tx("create one with `veille init DIR`, or pass --config / VEILLE_CONFIG"))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(file), None, "", tx("unreadable: {exc}", exc=exc))]) from None
    return parse_config(text, str(file), base=file.resolve().parent)


def parse_config(text: str, filename: str = DEFAULT_CONFIG, base: Path | None = None) -> Config:
    """Validate configuration text; paths inside it are resolved from `base` (the file's folder)."""
    problems: list[Problem] = []
    data, lines = _read_yaml(text, filename, problems)
    if problems:
        raise ConfigError(problems)
    if not isinstance(data, dict):
        raise ConfigError([Problem(filename, 1, "", tx("the file must be a mapping (key: value)"))])
    data = _interpolate(data, (), lines, filename, problems)
    for section in ("themes", "competitors", "sources", "audiences"):
        if section in data and data[section] is None:  # `sources:` with nothing under it yet
            data[section] = []
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, lines, filename))
    problems.extend(_cross_check(data, lines, filename))
    if problems:
        problems.sort(key=lambda p: p.line or 0)
        raise ConfigError(problems)
    base = base or Path.cwd()
    delivery = config.delivery.model_copy(update={"archive": base / config.delivery.archive})
    database = base / config.database
    log_file = base / config.scheduler.log_file if config.scheduler.log_file else database.parent / "veille-run.log"
    scheduler = config.scheduler.model_copy(update={"log_file": log_file})
    return config.model_copy(update={"database": database, "delivery": delivery, "scheduler": scheduler,
                                     "path": Path(filename)})


def _read_yaml(text: str, filename: str, problems: list[Problem]) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML keeping the line of every key and list element, so errors can point at them."""
    # libyaml's loader when present: six times faster on a watch of hundreds of sources, same line marks.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    lines: dict[tuple, int] = {}
    try:
        node = loader.get_single_node()
        if node is None:
            problems.append(Problem(filename, 1, "", tx("the file is empty"),
                                    tx("`veille init` writes a commented example")))
            return None, lines
        if (bomb := expansion_problem(node)) is not None:
            line, values = bomb
            problems.append(Problem(filename, line, "", tx("YAML alias inside its own anchor") if values < 0 else
                tx("the YAML aliases (*name) here expand to over {max_alias_expansion} values (an alias bomb?)",
                   max_alias_expansion=MAX_ALIAS_EXPANSION),
                tx("write the values out, or reuse fewer anchors (&name)")))
            return None, lines
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(Problem(filename, mark.line + 1 if mark else None, "",
                                tx("invalid YAML: {getattr}", getattr=getattr(exc, 'problem', exc)),
                                tx("check indentation and quotes")))
        return None, lines
    finally:
        loader.dispose()
    _node_lines(node, (), lines, filename, problems)
    return data, lines


def _node_lines(node: yaml.Node, path: tuple, lines: dict, filename: str, problems: list[Problem]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(Problem(filename, key_node.start_mark.line + 1, _dotted(path + (key,)),
                                        tx("duplicate key"), tx("keep it once")))
            seen.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _node_lines(value_node, path + (key,), lines, filename, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _node_lines(child, path + (index,), lines, filename, problems)


def _interpolate(value: Any, path: tuple, lines: dict, filename: str, problems: list[Problem]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, path + (k,), lines, filename, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, path + (i,), lines, filename, problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found is None or (found == "" and default is not None):
            if default is None:
                problems.append(Problem(filename, _line(lines, path), _dotted(path),
                                        tx("environment variable {name} is not set", name=name),
                                        tx("export it, or write ${{{name}:-value}}", name=name)))
                return ""
            return default
        return found

    return _VAR.sub(substitute, value)


def _line(lines: dict, path: tuple) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def _dotted(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _field_names(loc: tuple) -> list[str]:
    """The fields a model accepts at `loc` (for did-you-mean on unknown keys)."""
    model: Any = Config
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            inner = getattr(candidate, "__args__", (candidate,))
            found = next((c for c in (candidate, *inner) if isinstance(c, type) and issubclass(c, BaseModel)), None)
            if found:
                model = found
                break
        else:
            return []
    return list(getattr(model, "model_fields", {}))


# Pydantic's errors a French reader gets in French (English keeps Pydantic's own, more precise, message).
_PYDANTIC_MESSAGES = {
    "less_than_equal": N_("must be less than or equal to {le}"),
    "greater_than_equal": N_("must be greater than or equal to {ge}"),
    "greater_than": N_("must be greater than {gt}"),
    "int_parsing": N_("an integer is expected"),
    "int_type": N_("an integer is expected"),
    "float_parsing": N_("a number is expected"),
    "bool_parsing": N_("true or false expected"),
    "string_type": N_("a text is expected"),
    "list_type": N_("a list is expected"),
    "dict_type": N_("a table (key: value) is expected"),
    "model_type": N_("a table (key: value) is expected"),
    "string_pattern_mismatch": N_("invalid format"),
}


def _pydantic_problems(exc: ValidationError, lines: dict, filename: str) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and "[" in part))
        message = error["msg"].removeprefix("Value error, ")
        hint = ""
        if error["type"] == "extra_forbidden":
            known = [name for name in _field_names(loc[:-1]) if name != "path"]
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            message = tx("unknown field")
            hint = tx("did you mean {close!r}?", close=close[0]) if close else \
                tx("known fields: {known}", known=', '.join(known))
        elif error["type"] == "missing":
            message = tx("required field missing")
        elif error["type"] in _PYDANTIC_MESSAGES and user_language() != "en":
            message = tx(_PYDANTIC_MESSAGES[error["type"]], **error.get("ctx", {}))
        elif error["type"] == "literal_error":
            expected = re.findall(r"'([^']*)'", error["ctx"].get("expected", ""))
            close = difflib.get_close_matches(str(error.get("input")), expected, n=1)
            message = tx("value {error!r} not recognised", error=error.get('input'))
            hint = (tx("did you mean {close!r}?", close=close[0]) if close
                    else tx("possible values: ") + ", ".join(expected))
        elif error["type"] == "string_pattern_mismatch" and loc and loc[-1] == "spider":
            hint = tx("the name of a spider of spiders/ (`scrapy list`), or module:Class")
        elif error["type"] == "string_pattern_mismatch" and loc and loc[-1] == "id":
            hint = tx("lower-case letters, digits and dashes, e.g. 'veloce-news'")
        problems.append(Problem(filename, _line(lines, loc), _dotted(loc), message, hint))
    return problems


def taxonomy_labels() -> list[str]:
    """Label ids of nlp/taxonomy.yaml, read as data (the config must not import the NLP stage)."""
    spec = importlib.util.find_spec("nlp")
    if spec is None or not spec.submodule_search_locations:
        return []
    file = Path(list(spec.submodule_search_locations)[0]) / "taxonomy.yaml"
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    return [label["id"] for axis in ("trends", "moves") for label in data.get(axis, [])]


def _cross_check(data: dict, lines: dict, filename: str) -> list[Problem]:
    """Ids must be unique in their namespace and every reference must name something declared.

    Runs on the raw data, so that these problems are reported together with the field errors.
    """
    problems: list[Problem] = []

    def entries(section: str) -> list[tuple[int, dict]]:
        value = data.get(section)
        return [(i, e) for i, e in enumerate(value) if isinstance(e, dict)] if isinstance(value, list) else []

    def ids(section: str) -> list[str]:
        return [str(e["id"]) for _, e in entries(section) if e.get("id") is not None]

    def check(path: tuple, kind: str, values: Any, known: list[str]) -> None:
        if values is None:
            return
        for j, value in (enumerate(values) if isinstance(values, list) else [(None, values)]):
            if str(value) in known:
                continue
            where = path + ((j,) if j is not None else ())
            close = difflib.get_close_matches(str(value), known, n=1)
            hint = (tx("did you mean {close!r}?", close=close[0]) if close else
                    (tx("declared: {known}", known=", ".join(known)) if known else tx("declared: none")))
            problems.append(Problem(filename, _line(lines, where), _dotted(where),
                                    f"{kind} {value!r}", hint))

    for section in ("themes", "competitors", "sources", "audiences"):
        seen: set[str] = set()
        for index, entry in entries(section):
            if entry.get("id") in seen:
                problems.append(Problem(filename, _line(lines, (section, index, "id")), f"{section}[{index}].id",
                                        tx("duplicate id {id!r}", id=entry['id']),
                                        tx("each id must be unique")))
            seen.add(entry.get("id"))

    theme, competitor = tx("unknown theme"), tx("unknown competitor")
    label = tx("unknown label")
    theme_ids, competitor_ids, labels = ids("themes"), ids("competitors"), taxonomy_labels()
    for i, source in entries("sources"):
        problems.extend(_kind_options(i, source, lines, filename))
        check(("sources", i, "themes"), theme, source.get("themes"), theme_ids)
        check(("sources", i, "competitor"), competitor, source.get("competitor"), competitor_ids)
    for i, audience in entries("audiences"):
        interests = audience.get("interests")
        if isinstance(interests, dict):
            check(("audiences", i, "interests", "themes"), theme, interests.get("themes"), theme_ids)
            check(("audiences", i, "interests", "competitors"), competitor, interests.get("competitors"), competitor_ids)
            if labels:
                check(("audiences", i, "interests", "labels"), label, interests.get("labels"), labels)
        sections = audience.get("sections")
        for j, section in enumerate(sections if isinstance(sections, list) else []):
            if isinstance(section, dict):
                where = ("audiences", i, "sections", j)
                check(where + ("themes",), theme, section.get("themes"), theme_ids)
                check(where + ("competitors",), competitor, section.get("competitors"), competitor_ids)
                if labels:
                    check(where + ("labels",), label, section.get("labels"), labels)
    return problems


def _kind_options(index: int, source: dict, lines: dict, filename: str) -> list[Problem]:
    """Options of one kind set on a source of another kind, and a listing spider without its selector."""
    problems = []
    kind = source.get("kind", "feed")
    for names, wanted in ((SPIDER_OPTIONS, "spider"), (FEED_OPTIONS, "feed")):
        for name in names:
            if name in source and kind != wanted:
                problems.append(Problem(filename, _line(lines, ("sources", index, name)), f"sources[{index}].{name}",
                                        tx("option only for kind: {wanted} sources", wanted=wanted),
                                        tx("remove it, or write kind: {wanted}", wanted=wanted)))
    if kind == "spider" and source.get("spider") in (None, "listing") and not source.get("follow") \
            and not source.get("sitemap"):
        problems.append(Problem(filename, _line(lines, ("sources", index)), f"sources[{index}]",
                                tx("the generic spider needs `follow` (selector of the article links) or a `sitemap`"),
                                tx('for example follow: "article h2 a"')))
    return problems


def source_locations(config: Config, source_id: str, options: tuple[str, ...] = ()) -> dict[str, str]:
    """`{"source": "sources.yaml:40", "follow": "sources.yaml:44"}`: where a source and its options are written,
    for messages about them (options the source does not write are left out)."""
    if config.path is None:
        return {}
    try:
        data, lines = _read_yaml(Path(config.path).read_text(encoding="utf-8"), str(config.path), [])
    except OSError:
        return {}
    for index, entry in enumerate((data or {}).get("sources") or [] if isinstance(data, dict) else []):
        if isinstance(entry, dict) and entry.get("id") == source_id:
            found = {"source": f"{config.path}:{_line(lines, ('sources', index))}"}
            found.update({o: f"{config.path}:{_line(lines, ('sources', index, o))}" for o in options if o in entry})
            return found
    return {}


def append_source(path: str | os.PathLike, url: str, title: str, language: str | None, *, source_id: str | None = None,
                  source_type: str = "press", reliability: str = "F", themes: list[str] | None = None,
                  entries: int = 0) -> str:
    """Append a commented feed source to the file's `sources` list, keeping every comment; return its id.

    The file is edited as text at the end of the sources block (PyYAML would drop comments on a round trip),
    then validated; an edit that would make the file invalid is rolled back.
    """
    file = Path(path)
    original = file.read_text(encoding="utf-8")
    data = yaml.safe_load(original) or {}
    taken = {s.get("id") for s in data.get("sources") or [] if isinstance(s, dict)}
    base_id = source_id or re.sub(r"[^a-z0-9]+", "-", _ascii(title or url.split("//")[-1]).lower()).strip("-")[:40] or "feed"
    new_id, n = base_id, 2
    while new_id in taken:
        if source_id:
            raise ConfigError([Problem(str(file), None, "sources", tx("id {source_id!r} already exists", source_id=source_id),
                                       tx("choose another with --id"))])
        new_id, n = f"{base_id}-{n}", n + 1
    fields = {"id": new_id, "name": title or new_id, "kind": "feed", "url": url, "language": language or "fr",
              "country": "", "type": source_type, "reliability": reliability, "access": "free", "legitimacy": "",
              "themes": themes or []}
    lines = [tx("# Added by `veille sources add` on {day} ({entries} entries when checked) : fill in country, "
                "reliability (A-F) and legitimacy.", day=date.today(), entries=entries)]
    for index, (key, value) in enumerate(fields.items()):
        rendered = json.dumps(value, ensure_ascii=False)
        lines.append(("- " if index == 0 else "  ") + f"{key}: {rendered}")
    text = _insert_in_sources(original, lines)
    temporary = file.with_suffix(file.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    try:
        load_config(temporary)
    except ConfigError as exc:
        temporary.unlink()
        raise ConfigError([Problem(str(file), None, "sources", tx("the addition would make the file invalid; "
                                                                 "nothing was changed"))]
                          + exc.problems) from None
    temporary.replace(file)
    return new_id


def _insert_in_sources(text: str, entry_lines: list[str]) -> str:
    root = yaml.compose(text)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    sources = None
    if isinstance(root, yaml.MappingNode):
        sources = next((v for k, v in root.value if k.value == "sources"), None)
    if isinstance(sources, yaml.SequenceNode) and sources.value and not sources.flow_style:
        indent = " " * max(sources.value[0].start_mark.column - 2, 0)
        last = sources.value[-1].end_mark
        at = last.line if last.column == 0 else last.line + 1
        # The last entry's node runs up to the next key: comments and blank lines before it introduce what
        # follows (the audiences), so the new entry goes above them.
        while at - 1 > sources.value[-1].start_mark.line and (not lines[at - 1].strip()
                                                               or lines[at - 1].lstrip().startswith("#")):
            at -= 1
        return "".join(lines[:at] + [indent + line + "\n" for line in entry_lines] + lines[at:])
    block = ["sources:\n"] + ["  " + line + "\n" for line in entry_lines]
    if isinstance(sources, yaml.SequenceNode) and not sources.value:
        # `sources: []`: the empty list is replaced by a block list.
        start = sources.start_mark.line
        key_line = lines[start]
        lines[start] = key_line[:key_line.index("sources")] + "".join(block)
        return "".join(lines)
    return "".join(lines) + "\n" + "".join(block)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def write_starter(directory: str | os.PathLike, force: bool = False) -> Path:
    """Write the commented starter configuration into `directory`/sources.yaml."""
    target = Path(directory) / DEFAULT_CONFIG
    if target.exists() and not force:
        raise UsageError(tx("{target} already exists (--force overwrites it)", target=target))
    target.parent.mkdir(parents=True, exist_ok=True)
    starter = Path(__file__).with_name("templates") / "starter.yaml"
    target.write_text(starter.read_text(encoding="utf-8"), encoding="utf-8")
    return target
