"""What the benchmarks share: run a command in a fresh process and read its wall time and peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path


def run_measured(cmd: list[str], env: dict, work: Path, name: str, timeout: float,
                 cpu: dict | None = None) -> tuple[float, int, float, str, str]:
    """Run `cmd` in a fresh process; return (wall s, exit code, peak RSS MB of that process, stdout, stderr).

    With `cpu` (a dict, Linux only), also fill cpu["main"] and cpu["all"]: CPU seconds of the process and of it
    plus every process it started, as /proc last showed them every 0.1 s (worker processes are not always reaped
    by it, so rusage cannot say; a process living under 0.1 s may be missed), and cpu["pss_peak_mb"]: the peak of
    their summed proportional set sizes (memory of all the processes, shared pages counted once).
    """
    out_path, err_path = work / f"{name}.out", work / f"{name}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=work)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        watcher = None
        if cpu is not None and Path("/proc/self/stat").exists():
            watcher = threading.Thread(target=_watch_cpu, args=(proc.pid, cpu), daemon=True)
            watcher.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        if watcher is not None:
            watcher.join(2)
            seen = cpu.pop("_seen", {})
            cpu["main"], cpu["all"] = seen.get(proc.pid, 0.0), sum(seen.values())
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return wall, proc.returncode, usage.ru_maxrss * scale / 1e6, out_path.read_text(errors="replace"), \
        err_path.read_text(errors="replace")


def _watch_cpu(root: int, cpu: dict) -> None:
    """Poll /proc until `root` ends: the last CPU time seen of each of its descendants, in cpu["_seen"]."""
    seen: dict[int, float] = cpu.setdefault("_seen", {})
    while True:
        table = proc_table()
        if table.get(root, (0, 0.0))[0] == 0:  # gone (reaped), or never seen
            return
        family = [root, *descendants(root, table)]
        for pid in family:
            seen[pid] = max(seen.get(pid, 0.0), table[pid][1])
        cpu["pss_peak_mb"] = max(cpu.get("pss_peak_mb", 0.0), sum(_pss_mb(pid) for pid in family))
        time.sleep(0.1)


def proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds so far) of every process, read from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    table = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
            except (OSError, IndexError, ValueError):
                continue
    return table


def descendants(pid: int, table: dict[int, tuple[int, float]] | None = None) -> list[int]:
    """Every process below `pid` (Linux), from `table` or a fresh read of /proc."""
    children: dict[int, list[int]] = {}
    for child, (parent, _) in (table if table is not None else proc_table()).items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _pss_mb(pid: int) -> float:
    """Proportional set size of a process (shared pages divided among their users), MB; 0 when unreadable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def veille_command() -> list[str]:
    """The project's `veille` next to this interpreter, or `python -m watch`."""
    script = Path(sys.executable).parent / "veille"
    return [str(script)] if script.exists() else [sys.executable, "-m", "watch"]


def finish(broke: list[str], work: Path, keep: bool, kept: str = "") -> int:
    """The end of a benchmark: say what broke, keep or remove the work directory; the exit code."""
    import shutil

    if broke:
        print("\n" + "\n".join(f"BROKEN: {b}" for b in broke), file=sys.stderr)
    if keep:
        print(f"\nkept: {work}{' (' + kept + ')' if kept else ''}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if broke else 0


def serve_until_stopped(servers: list, conn, info: dict, stop) -> None:
    """Serve each server from a daemon thread, send `info` to the parent on `conn`, stop when `stop` is set."""
    for server in servers:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    conn.send({"port": servers[0].server_address[1], "hosts": [s.server_address[0] for s in servers], **info})
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
