"""deploy/veille.service: its ExecStart starts the scheduler, its ExecReload reloads it, its KillSignal stops it.

The unit's /srv/veille paths are mapped to this checkout's virtual environment and a temporary watch, and its
commands run as systemd would run them (same arguments, working directory, environment). `systemd-analyze verify`
checks the file itself where systemd's tools are installed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import rss, rss_item, write_config
from watch.scheduler import parse_logfmt

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "deploy" / "veille.service"
PREFIX = "/srv/veille"


def read_unit(path: Path = UNIT) -> dict[str, dict[str, list[str]]]:
    """{section: {key: [values]}} (a key may repeat in a unit file)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def mapped(text: str, root: Path) -> str:
    """The unit's paths in this checkout: its venv's `veille`, the rest under a temporary root."""
    venv_bin = str(Path(sys.executable).parent)
    return text.replace(f"{PREFIX}/.venv/bin", venv_bin).replace(PREFIX, str(root))


def test_the_unit_says_how_to_run_reload_and_stop_veille():
    service = read_unit()["Service"]
    command = shlex.split(service["ExecStart"][0])
    assert command[0].endswith("/.venv/bin/veille") and command[-1] == "run" and "--config" in command
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["KillSignal"] == ["SIGTERM"] and service["KillMode"] == ["mixed"]
    assert service["Restart"] == ["on-failure"] and service["RestartPreventExitStatus"] == ["2"]
    assert any(value.startswith("-/") for value in service["EnvironmentFile"])  # secrets file, optional
    assert "VEILLE_SMTP_URL" not in "".join(v for values in service.values() for v in values)
    assert read_unit()["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verifies_the_unit(tmp_path):
    text = mapped(UNIT.read_text(encoding="utf-8"), tmp_path)
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
    text = text.replace("User=veille", f"User={user}").replace("Group=veille", f"Group={group}")
    copy = tmp_path / "veille.service"
    copy.write_text(text, encoding="utf-8")
    verified = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stderr
    assert "veille.service" not in verified.stderr, verified.stderr  # no warning about this unit


def test_execstart_runs_the_scheduler_execreload_reloads_it_and_killsignal_stops_it(server, tmp_path):
    server.add("/a.xml", rss(rss_item(1)))
    config = write_config(tmp_path, [{"id": "a", "url": server.url("/a.xml"), "schedule": {"every": "1h"}}],
                          "scheduler: {check_every: 1s}\n")
    service = read_unit()["Service"]
    command = shlex.split(mapped(service["ExecStart"][0], tmp_path))
    assert Path(command[0]).exists() and Path(command[command.index("--config") + 1]) == config
    environment = dict(os.environ)
    for assignment in shlex.split(" ".join(service["Environment"])):
        key, _, value = assignment.partition("=")
        environment[key] = value
    log = tmp_path / "journal"
    with open(log, "wb") as journal:
        main = subprocess.Popen(command, cwd=mapped(service["WorkingDirectory"][0], tmp_path), env=environment,
                                stdout=journal, stderr=subprocess.STDOUT)
    try:
        lines = wait_for(log, main, job="collect:a", outcome="ok")
        assert any(line.get("event") == "started" for line in lines)
        reload = shlex.split(service["ExecReload"][0].replace("$MAINPID", str(main.pid)))
        assert subprocess.run(reload, timeout=10).returncode == 0
        wait_for(log, main, event="schedule", reason="SIGHUP")
        main.send_signal(getattr(signal, service["KillSignal"][0]))
        assert main.wait(float(service["TimeoutStopSec"][0])) == 0
    finally:
        if main.poll() is None:
            main.kill()
            main.wait()
    assert any(line.get("event") == "stopped" for line in parsed(log))


def parsed(log: Path) -> list[dict[str, str]]:
    return [parse_logfmt(line) for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]


def wait_for(log: Path, process: subprocess.Popen, timeout: float = 30, **fields: str) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        lines = parsed(log)
        if any(all(line.get(k) == v for k, v in fields.items()) for line in lines):
            return lines
        time.sleep(0.1)
    raise AssertionError(f"no line {fields}:\n{log.read_text(errors='replace')}")
