"""`veille run`: the long-running scheduler that keeps the watch going unattended.

APScheduler 3.x with its in-memory job store, rebuilt from sources.yaml at each start (watch.schedule): one
instance per job, coalescing, explicit misfire grace. The main thread only waits for signals and watches the
configuration file; jobs run in a thread pool, each on its own database connection (watch.jobs).

- SIGTERM / SIGINT: no new job starts, running crawls are told to stop (SIGTERM to their child processes), the
  running jobs are waited for, exit 0. A second signal exits at once.
- SIGHUP, or a change to sources.yaml: the schedule is rebuilt; an invalid file keeps the old one, every problem
  logged.
- One scheduler per database: a lock file beside it (flock, released by the kernel if the process dies).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import importlib
import importlib.util
import json
import logging
import logging.handlers
import os
import re
import select
import signal
import socket
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from watch import jobs
from watch.config import Config, duration_seconds, load_config
from watch.errors import ConfigError, VeilleError
from watch.i18n import tx
from watch.models import utcnow
from watch.schedule import JobSpec, plan_jobs
from watch.store import Store

log = logging.getLogger(__name__)


def now() -> datetime:
    """The time to the microsecond (job durations; watch.models.utcnow() rounds to the second for stored items)."""
    return datetime.now(timezone.utc)


class SchedulerError(VeilleError):
    """The scheduler cannot start (exit code 2: restarting it would not help)."""

    exit_code = 2


class SchedulerRunning(SchedulerError):
    """Another `veille run` already schedules this database."""


# -- one scheduler per database ----------------------------------------------------------------------------------

def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".run.lock")


class RunLock:
    """An exclusive flock on `<database>.run.lock`, holding who took it (pid, host, start, configuration).

    The file is never deleted (deleting a lock file lets two processes lock two different files); an empty or
    unlocked file means no scheduler.
    """

    def __init__(self, database: Path):
        self.database = database
        self.path = lock_path(database)
        self.fd: int | None = None

    def acquire(self, config_path: Path | None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = lock_holder(self.database) or {}
            who = f"pid {holder.get('pid', '?')}, {holder.get('host', '?')}, {holder.get('since', '?')}"
            raise SchedulerRunning(tx("a scheduler is already running on {database} ({who}): one `veille run` per "
                                     "database. Stop it (systemctl stop veille, or kill PID) before starting "
                                     "another; collect, items, status and the other commands work while it runs.", database=self.database, who=who)) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": utcnow().isoformat(timespec="seconds"),
                "config": str(Path(config_path).resolve()) if config_path else None}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def lock_holder(database: Path) -> dict[str, Any] | None:
    """Who runs the scheduler of this database (pid, host, since, config), or None when none does."""
    path = lock_path(database)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 4096).decode(errors="replace")
            try:
                return json.loads(text)
            except ValueError:
                return {"pid": None}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# -- processes left by crawls ----------------------------------------------------------------------------------------

def become_subreaper() -> bool:
    """Have the processes our crawls leave behind re-parented to us rather than to PID 1 (Linux).

    A crawl or classification process may exit before the workers it started; their orphans go to PID 1, which in
    a container is often not an init that reaps them. As a subreaper, the scheduler reaps them (reap_orphans).
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER


def reap_orphans(kill: bool = False) -> int:
    """Reap the orphans re-parented to us; with `kill`, end those still running first. Return how many.

    Only processes of another session that do not lead it: the crawl and classification processes we start lead
    their own session and are waited for by whoever started them (reaping them here would steal their exit code).
    """
    me, mine = os.getpid(), os.getsid(0)
    count = 0
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else ():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid, state, ppid, session = int(entry.name), fields[0], int(fields[1]), int(fields[3])
        if ppid != me or session in (mine, pid):
            continue
        try:
            if state != "Z" and kill:
                os.kill(pid, signal.SIGKILL)
            if state == "Z" or kill:
                os.waitpid(pid, 0)
                count += 1
        except (ProcessLookupError, ChildProcessError):
            continue
    return count


# -- logs ----------------------------------------------------------------------------------------------------------

class _Formatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds")


def setup_logging(log_file: Path, max_bytes: int, backups: int, verbose: int = 0) -> None:
    """Job lines (and the stages' warnings) to stderr and to a rotating file, one line each."""
    formatter = _Formatter("%(asctime)s %(levelname)s %(message)s")
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    for handler in (logging.StreamHandler(sys.stderr),
                    logging.handlers.RotatingFileHandler(log_file, maxBytes=max_bytes, backupCount=backups,
                                                         encoding="utf-8")):
        handler.setFormatter(formatter)
        root.addHandler(handler)
    # The stages' own INFO lines (each request, each source, each job submitted) repeat what the job lines say:
    # warnings only, unless -v / -vv.
    root.setLevel((logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)])
    log.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    # APScheduler's warnings (a run skipped because the previous one is still going, a run missed) are said by our
    # own job lines, with the job's outcome recorded.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def logfmt(**fields: Any) -> str:
    """`job=collect:a outcome=ok new=3 error="timed out"`: one line, readable, and split by any log tool."""
    parts = []
    for key, value in fields.items():
        if value is None or value == "":
            continue
        text = str(value).replace("\n", " ")
        if not text or any(c in text for c in ' "=\\'):
            text = json.dumps(text, ensure_ascii=False)
        parts.append(f"{key}={text}")
    return " ".join(parts)


_FIELD = re.compile(r'([\w:.-]+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_logfmt(line: str) -> dict[str, str]:
    """The fields of a job line (the reverse of logfmt), for scripts and tests reading the log."""
    return {key: json.loads(value) if value.startswith('"') else value for key, value in _FIELD.findall(line)}


def preflight(plan: list[JobSpec]) -> None:
    """Load the stages the plan will run now, so that a broken installation fails at start, not on Monday at 07:30.

    The NLP stage is only looked up: it runs in a child process, and loading spaCy here would cost hundreds of MB.
    """
    needed = {"collect": "watch.collect", "digest": "digests", "deliveries": "digests"}
    for module in dict.fromkeys(needed[spec.kind] for spec in plan if spec.kind in needed):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise SchedulerError(tx("module {module} cannot be loaded: {exc}; reinstall veille (make, or pip "
                                   "install -e . in its environment)", module=module, exc=exc)) from None
    if importlib.util.find_spec("nlp.stage") is None:
        raise SchedulerError(tx("the NLP stage (nlp.stage) cannot be found; reinstall veille"))


# -- the scheduler --------------------------------------------------------------------------------------------------

class Scheduler:
    """One `veille run` process. `run()` blocks until a signal (or `run_for` seconds) and returns the exit code."""

    def __init__(self, config: Config, *, database: Path | None = None, run_for: float | None = None,
                 log_file: Path | None = None, verbose: int = 0):
        self.config = config
        self.config_path = config.path
        self.database = Path(database or config.database)
        self.pinned_database = database is not None  # --db / VEILLE_DB: a reload never moves it
        self.run_for = run_for
        self.log_file = Path(log_file or config.scheduler.log_file)
        self.verbose = verbose
        self.specs: dict[str, JobSpec] = {}
        self.stopping = threading.Event()  # set on SIGTERM/SIGINT: running crawls stop, no job starts
        self._signals: list[int] = []  # every signal received, appended by the handler
        self._seen = 0                 # how many of them the main loop has read
        self._running: collections.Counter[str] = collections.Counter()  # job id: instances running
        self._lock = threading.Lock()  # guards the running counts and the classification flags
        self._idle = threading.Condition(self._lock)  # notified when a job ends
        self._classify_pending = False
        self._classify_triggers: list[str] = []  # the collections whose items the next pass classifies
        self._classifying = False
        self._classify_woken = False  # a wake-up of the classify job is on its way
        self._fingerprint = self._config_fingerprint()
        self._aps = None

    # -- life cycle

    def run(self) -> int:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        lock = RunLock(self.database)
        lock.acquire(self.config_path)
        try:
            setup_logging(self.log_file, self.config.scheduler.log_max_bytes, self.config.scheduler.log_backups,
                          self.verbose)
            become_subreaper()
            preflight(plan_jobs(self.config))
            with Store.open(self.database) as store:  # migrations, once, before any job
                store.sync_sources(self.config.sources)
            self._aps = BackgroundScheduler(
                timezone=timezone.utc,
                executors={"default": ThreadPoolExecutor(self.config.scheduler.workers)},
                job_defaults={"coalesce": True, "max_instances": 1})
            self._aps.add_listener(self._on_missed, EVENT_JOB_MISSED)
            self._aps.add_listener(self._on_busy, EVENT_JOB_MAX_INSTANCES)
            self._aps.add_listener(self._on_error, EVENT_JOB_ERROR)
            wake_read, wake_write = os.pipe()
            os.set_blocking(wake_write, False)
            previous = self._install_signals(wake_write)
            try:
                self._apply(plan_jobs(self.config), "start")
                self._aps.start()
                log.info(logfmt(event="started", pid=os.getpid(), jobs=len(self.specs), database=self.database,
                                config=self.config_path, log=self.log_file))
                self._main_loop(wake_read)
                self._shutdown()
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
                signal.set_wakeup_fd(-1)
                os.close(wake_read)
                os.close(wake_write)
        finally:
            lock.release()
        return 0

    def _install_signals(self, wake_fd: int) -> dict[int, Any]:
        # The handlers only note the signal: the main loop, woken through the pipe, does the work (a handler that
        # took a lock the interrupted code holds would deadlock).
        def note(signum: int, _frame: Any) -> None:
            if signum != signal.SIGHUP and any(s != signal.SIGHUP for s in self._signals):
                os.write(2, tx("Second signal: exiting now.\n").encode())
                os._exit(1)
            self._signals.append(signum)

        signal.set_wakeup_fd(wake_fd)
        return {signum: signal.signal(signum, note) for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}

    def _main_loop(self, wake_fd: int) -> None:
        check_every = max(duration_seconds(self.config.scheduler.check_every), 1)
        deadline = time.monotonic() + self.run_for if self.run_for else None
        while True:
            timeout = check_every if deadline is None else max(min(check_every, deadline - time.monotonic()), 0)
            ready, _, _ = select.select([wake_fd], [], [], timeout)
            if ready:
                try:
                    os.read(wake_fd, 512)
                except BlockingIOError:
                    pass
            # The handler only appends: read up to a length taken first, so that a signal arriving meanwhile is
            # read at the next round (the wake-up pipe brings us back) rather than lost.
            received = len(self._signals)
            signals, self._seen = self._signals[self._seen:received], received
            if any(s != signal.SIGHUP for s in signals):
                name = signal.Signals(next(s for s in signals if s != signal.SIGHUP)).name
                log.info(logfmt(event="stopping", signal=name))
                return
            if deadline is not None and time.monotonic() >= deadline:
                log.info(logfmt(event="stopping", reason=f"--for {self.run_for:g}s elapsed"))
                return
            fingerprint = self._config_fingerprint()
            if signal.SIGHUP in signals or fingerprint != self._fingerprint:
                self._fingerprint = fingerprint
                self._reload("SIGHUP" if signal.SIGHUP in signals else "file changed")
            # Waits inside APScheduler run on the monotonic clock, which stands still while the machine sleeps:
            # waking it each round makes it look at the wall clock again.
            self._aps.wakeup()
            reap_orphans()

    def _shutdown(self) -> None:
        with self._lock:
            self.stopping.set()  # crawls get SIGTERM (watch.collect), queued jobs will not start
        self._aps.pause()
        # Wait for the running jobs here, not in APScheduler's shutdown(wait=True): that one holds the job store's
        # lock while it waits, and a job finishing would need it to read its next run time.
        with self._idle:
            running = sorted(job_id for job_id, count in self._running.items() if count)
            if running:
                log.info(logfmt(event="waiting", jobs=",".join(running)))
            while any(self._running.values()):
                self._idle.wait()
        self._aps.shutdown(wait=True)
        left = reap_orphans(kill=True)
        log.info(logfmt(event="stopped", pid=os.getpid(), orphans_reaped=left or None))

    def _config_fingerprint(self) -> tuple | None:
        try:
            stat = Path(self.config_path).stat()
        except (OSError, TypeError):
            return None
        return stat.st_mtime_ns, stat.st_size, stat.st_ino

    # -- the plan

    def _reload(self, why: str) -> None:
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            log.error(logfmt(event="reload-refused", reason=why, problems=len(exc.problems),
                             kept=f"{len(self.specs)} jobs"))
            for problem in exc.problems:
                log.error(logfmt(event="config-problem", problem=str(problem)))
            return
        if not self.pinned_database and config.database != self.config.database:
            log.error(logfmt(event="reload-refused", reason=why, problem=tx("the database moves from {database} "
                                                                           "to {database2}: restart veille run", database=self.config.database, database2=config.database)))
            return
        self.config = config
        try:
            with Store.open(self.database) as store:
                store.sync_sources(config.sources)
            self._apply(plan_jobs(config), why)
        except Exception as exc:  # the database locked past its busy timeout: the next change or SIGHUP retries
            log.error(logfmt(event="reload-failed", reason=why, error=str(exc) or type(exc).__name__))
            self._fingerprint = None

    def _apply(self, plan: list[JobSpec], why: str) -> None:
        """Make the scheduler's jobs those of the plan; a job whose schedule did not change keeps its next run."""
        current = now()
        with Store.open(self.database) as store:
            successes = store.last_successes()
            # The new specs first: a job added below may start at once and looks its spec up.
            previous, self.specs = self.specs, {spec.id: spec for spec in plan}
            removed = [job_id for job_id in previous if job_id not in self.specs]
            for job_id in removed:
                self._aps.remove_job(job_id)
            added, changed, overdue = [], [], []
            for spec in plan:
                old = previous.get(spec.id)
                if old == spec:
                    continue
                (changed if old else added).append(spec.id)
                first = spec.first_run(successes.get(spec.id), current)
                if first <= current:
                    overdue.append(spec.id)
                # Two classification instances: a wake-up arriving while a pass ends is not dropped (see below).
                self._aps.add_job(self._execute, trigger=spec.trigger(), args=[spec.id], id=spec.id, name=spec.id,
                                  misfire_grace_time=spec.grace, coalesce=True,
                                  max_instances=2 if spec.kind == "classify" else 1,
                                  next_run_time=first, replace_existing=True)
            store.set_job_plan(self._plan_rows())
        log.info(logfmt(event="schedule", reason=why, jobs=len(plan), added=len(added), changed=len(changed),
                        removed=len(removed), overdue=",".join(overdue)))

    def _plan_rows(self) -> list[dict[str, Any]]:
        rows = []
        for spec in self.specs.values():
            next_run = self._next_run(spec.id)
            rows.append({"job": spec.id, "kind": spec.kind, "target": spec.target, "schedule": spec.description,
                         "next_run_at": next_run.astimezone(timezone.utc).isoformat() if next_run else None})
        return rows

    def _next_run(self, job_id: str) -> datetime | None:
        job = self._aps.get_job(job_id) if self._aps else None
        return job.next_run_time if job is not None else None

    # -- running one job

    @contextlib.contextmanager
    def _slot(self, job_id: str) -> Iterator[bool]:
        """Count a job as running, unless the stop has come (then it must not start: False)."""
        with self._lock:
            allowed = not self.stopping.is_set()
            if allowed:
                self._running[job_id] += 1
        if not allowed:
            yield False
            return
        try:
            yield True
        finally:
            with self._idle:
                self._running[job_id] -= 1
                self._idle.notify_all()

    def _execute(self, job_id: str) -> None:
        spec = self.specs.get(job_id)
        with self._slot(job_id) as allowed:
            if spec is None or not allowed:
                return  # removed by a reload while queued, or queued when the stop came
            started = now()
            try:
                with Store.open(self.database) as store:
                    result = self._dispatch(spec, self.config, store, started)
            except Exception as exc:  # a job's failure is recorded and logged; the scheduler goes on
                log.debug("job %s failed", job_id, exc_info=True)
                result = jobs.JobResult("error", error=str(exc) or type(exc).__name__)
            if result is not None:
                self._record(spec, started, result)
                if result.found_new:
                    self._classify_after(job_id)

    def _dispatch(self, spec: JobSpec, config: Config, store: Store, started: datetime) -> jobs.JobResult:
        if spec.kind == "collect":
            return jobs.collect_source(config, store, spec, self.stopping)
        if spec.kind == "classify":
            return self._classification(store)  # None: the running pass takes the new items
        if spec.kind == "digest":
            return jobs.send_digest(config, store, spec)
        if spec.kind == "deliveries":
            digests = [s for s in self.specs.values() if s.kind == "digest"]
            return jobs.retry_deliveries(config, store, digests, started)
        if spec.kind == "housekeeping":
            return jobs.housekeeping(config, store, started)
        raise ValueError(f"unknown job kind {spec.kind}")

    def _record(self, spec: JobSpec, started: datetime, result: jobs.JobResult) -> None:
        """The job's log line, and its row in job_runs."""
        finished = now()
        counts = {k: v for k, v in result.counts.items() if v is not None}
        target_key = {"collect": "source", "digest": "audience"}.get(spec.kind, "target")
        log.log(logging.ERROR if result.outcome == "error" else logging.INFO,
                logfmt(job=spec.id, **{target_key: spec.target}, trigger=result.trigger, outcome=result.outcome,
                       **counts,
                       duration=f"{(finished - started).total_seconds():.2f}s", error=result.error))
        try:
            with Store.open(self.database) as store:
                store.record_job_run(spec.id, spec.kind, spec.target, started, finished, result.outcome, counts,
                                     result.error, self._next_run(spec.id))
        except Exception as exc:  # the database locked for longer than its busy timeout: the log line remains
            log.error(logfmt(job=spec.id, event="not-recorded", error=str(exc)))

    # -- classification after each collection

    def _classify_after(self, collect_job: str) -> None:
        """Wake the classification job now for what a collection brought (the flag first: a pass that is running
        sees it and loops once more)."""
        with self._lock:
            self._classify_pending = True
            self._classify_triggers.append(collect_job)
            if self._classifying or self._classify_woken:
                return  # the running pass loops once more, or the pass already woken takes these items too
            self._classify_woken = True
        if "classify" in self.specs:
            self._aps.modify_job("classify", next_run_time=now())

    def _classification(self, store: Store) -> jobs.JobResult | None:
        """Classification passes for as long as collections keep bringing items; None when another pass runs.

        One pass at a time: a collection that ends during a pass only raises the flag, and the running pass loops
        once more. The job allows two instances so that a wake arriving while a pass is finishing is not dropped.
        """
        with self._lock:
            self._classify_pending = True
            self._classify_woken = False
            if self._classifying:
                return None
            self._classifying = True
        total: dict[str, Any] = {}
        triggers: list[str] = []
        try:
            while True:
                with self._lock:
                    if not self._classify_pending or self.stopping.is_set():
                        self._classifying = False
                        break
                    self._classify_pending = False
                    triggers += self._classify_triggers
                    self._classify_triggers = []
                result = jobs.classify_items(self.config, store, self.stopping)
                for key, value in result.counts.items():
                    total[key] = total.get(key, 0) + value if isinstance(value, int) else value
                if result.outcome != "ok":
                    with self._lock:
                        self._classifying = False
                    return jobs.JobResult(result.outcome, total, result.error,
                                          trigger=",".join(dict.fromkeys(triggers)) or None)
        except BaseException:
            with self._lock:
                self._classifying = False
            raise
        return jobs.JobResult("ok", total, trigger=",".join(dict.fromkeys(triggers)) or None)

    # -- APScheduler events

    def _on_missed(self, event: Any) -> None:
        spec = self.specs.get(event.job_id)
        with self._slot(event.job_id) as allowed:
            if spec is None or not allowed:
                return
            late = now() - event.scheduled_run_time
            result = jobs.JobResult("missed", error=tx("late by {late} (grace {grace}s)", late=late, grace=spec.grace))
            self._record(spec, now(), result)
            if spec.kind in ("digest", "housekeeping"):
                # A brief is owed even late (the machine slept past its time): once, now. A collection is only
                # a sample: the next one replaces it.
                self._aps.modify_job(spec.id, next_run_time=now())
                log.info(logfmt(job=spec.id, event="catch-up"))

    def _on_busy(self, event: Any) -> None:
        log.info(logfmt(job=event.job_id, outcome="still-running", note=tx("the previous run is not over: this "
                                                                          "one is skipped")))

    def _on_error(self, event: Any) -> None:
        log.error(logfmt(job=event.job_id, outcome="error", error=repr(event.exception)))


def run_scheduler(config_path: str | None, database: str | None = None, run_for: float | None = None,
                  log_file: str | None = None, verbose: int = 0) -> int:
    """Entry function of `veille run`: load the configuration, take the database's lock, schedule until stopped."""
    config = load_config(config_path)
    return Scheduler(config, database=Path(database) if database else None, run_for=run_for,
                     log_file=Path(log_file) if log_file else None, verbose=verbose).run()
