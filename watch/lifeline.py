"""Child processes end with the process that started them, even when that one is killed with SIGKILL.

Without this, a `veille collect` or `veille classify` killed with SIGKILL leaves its worker pools running for good:
each pool worker holds a copy of the write end of the forkserver's liveness pipe and of the resource tracker's
pipe, so neither sees the end of its parent, and the workers themselves wait on a queue they can write to
(issue #15). PR_SET_PDEATHSIG does not fit here: it follows the parent *thread* (prctl(2)), and our pools are
started from worker threads that end long before the pool; the parent of a forkserver's worker is the forkserver,
not veille. So each child watches the process that matters through a pidfd (Linux 5.3+; it becomes readable when
that process ends), or by looking every second where there is none, and ends itself.

Imports nothing of veille: pool workers and crawl processes call it first.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time

PARENT_ENV = "VEILLE_PARENT_PID"  # set by a process for the child it starts with subprocess (child_env)
GRACE_S = 3.0  # from SIGTERM (a clean stop: a crawl stores what it holds within a second) to SIGKILL, as spiders.jobs


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child started with subprocess that calls end_with_parent() first."""
    return {**(os.environ if env is None else env), PARENT_ENV: str(os.getpid())}


def end_with_parent(grace: float = GRACE_S) -> None:
    """In a child started with child_env(): end when the process that started it ends."""
    pid = os.environ.pop(PARENT_ENV, "")  # popped: this process's own children are given its pid, not this one
    if pid.isdigit():
        end_with(int(pid), grace)


def end_with(pid: int, grace: float = GRACE_S) -> None:
    """End this process when process `pid` ends: SIGTERM to itself at once (its handlers stop it cleanly), then,
    `grace` seconds later if it still runs, SIGKILL to its process group when it leads one (the workers and
    forkserver it started), else to itself. Also the initializer of our process pools."""
    threading.Thread(target=_watch, args=(pid, grace), name="veille-lifeline", daemon=True).start()


def _watch(pid: int, grace: float) -> None:
    _wait_for_end(pid)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)


def _wait_for_end(pid: int) -> None:
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # ended before we looked
    except (AttributeError, OSError):  # no pidfd here (not Linux, an older kernel, a sandbox refusing it)
        while _running(pid):
            time.sleep(1.0)
        return
    try:
        poller = select.poll()
        poller.register(handle, select.POLLIN)
        while not poller.poll():
            pass
    finally:
        os.close(handle)


def _running(pid: int) -> bool:
    """The process runs: it exists and is not a zombie (a killed parent its own parent has not reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc: kill(0) said it exists
