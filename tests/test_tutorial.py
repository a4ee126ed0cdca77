"""The tutorial stays true: every command docs/tutoriel.md shows runs, in order, on the demo sector, and
docs/tutorial.md (English) shows the same commands.

Commands in ```sh blocks run one after the other. A ```console block shows a session with its output: `$ ` lines
are commands, the rest what they print; there the scheduler step runs as the reader runs it, in several terminals
(`veille demo --serve` and `veille run` stay up, Ctrl-C stops them), and the lines and table rows it shows must
match what the commands printed, but for times, pids and paths.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from watch.config import load_config
from watch.scheduler import parse_logfmt

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
STAYS_UP = {"veille demo --serve", "veille run"}  # commands the reader leaves running in a terminal of their own
LOG_FIELDS = ("event", "signal", "job", "outcome", "fetch", "http", "new", "pages", "pending", "classified")
# What changes from one run to the next in what the commands print: times, weeks, pid and host, port, durations.
VARIABLE = [(r"\d\d-\d\d \d\d:\d\d", "<time>"), (r"\d{4}-W\d\d", "<week>"), (r"pid \d+ (sur|on) \S+", "pid <pid>"),
            (r"127\.0\.0\.1:\d+", "127.0.0.1:<port>"), (r"(?<![\w.])\d+\.\d+s\b", "<seconds>")]


def blocks(path: Path) -> list[tuple[str, str]]:
    """(kind, text) of the ```sh and ```console blocks, in order."""
    return re.findall(r"```(sh|console)\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL)


def commands_of(kind: str, block: str) -> list[str]:
    """The commands of a block, without their trailing comments: every line of a ```sh block, the `$ ` lines of a
    ```console block."""
    commands = []
    for line in block.splitlines():
        if kind == "console":
            line = line[2:] if line.startswith("$ ") else ""
        line = re.sub(r"\s+#\s.*$", "", line).strip()
        if line:
            commands.append(line)
    return commands


def shown_commands(path: Path) -> list[str]:
    return [command for kind, block in blocks(path) for command in commands_of(kind, block)]


def test_french_and_english_tutorials_show_the_same_commands():
    french, english = shown_commands(DOCS / "tutoriel.md"), shown_commands(DOCS / "tutorial.md")
    assert french == english
    assert french[0] == "veille init ma-veille" and french[-1].startswith("veille plan")
    assert all(command.startswith("veille ") for command in french)
    assert {"veille demo --serve", "veille run", "veille status"} <= set(french)


class Terminals:
    """The reader's terminals: commands that stay up run in the background until a Ctrl-C (SIGINT) stops them.

    Each method returns how to read what the command printed (a background command goes on printing)."""

    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder, self.env = folder, dict(env, COLUMNS="180")  # the width the tutorial's tables were shown at
        self.up: list[tuple[str, subprocess.Popen, Path]] = []

    def start(self, command: str):
        err = self.folder / f"terminal-{len(self.up)}.err"
        # SIGINT at its default, as in a terminal (a suite run as a background job would hand it on ignored).
        proc = subprocess.Popen(command.split(), cwd=self.folder, env=self.env, stdout=subprocess.DEVNULL,
                                stderr=open(err, "w"), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.up.append((command, proc, err))
        collected = sum(source.kind != "offline" for source in load_config(self.folder / "sources.yaml").sources)
        ready = {"veille demo --serve": lambda text: "Ctrl-C" in text,  # collected, classified, serving
                 "veille run": lambda text: text.count("job=collect:") >= collected}[command]
        deadline = time.monotonic() + 180
        while not ready(text := err.read_text(encoding="utf-8")):
            assert proc.poll() is None and time.monotonic() < deadline, (command, text[-3000:])
            time.sleep(0.2)
        if found := re.search(r"export (VEILLE_DEMO_URL)=(\S+)", text):  # another port than 8765: as it says
            self.env[found[1]] = found[2]
        return lambda: err.read_text(encoding="utf-8")

    def run(self, command: str):
        done = subprocess.run(command.split(), cwd=self.folder, env=self.env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
        return lambda: done.stdout + done.stderr

    def interrupt(self):
        """Ctrl-C in the last terminal still up: it must stop cleanly (exit 0)."""
        command, proc, err = self.up.pop()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, (command, err.read_text(encoding="utf-8")[-3000:])
        return lambda: err.read_text(encoding="utf-8")


def session(terminals: Terminals, block: str) -> None:
    """Run one ```console block; each line it shows must come out of its command (within half a minute)."""
    exchanges: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ ") or line == "^C":
            exchanges.append((line.removeprefix("$ "), []))
        else:
            exchanges[-1][1].append(line)
    for command, shown in exchanges:
        if command == "^C":
            printed = terminals.interrupt()
        else:
            printed = (terminals.start if command in STAYS_UP else terminals.run)(command)
        for line in shown:
            deadline = time.monotonic() + 30
            while not printed_line(line, printed()):
                assert time.monotonic() < deadline, (command, line, printed()[-3000:])
                time.sleep(0.2)


def printed_line(line: str, printed: str) -> bool:
    """A line the tutorial shows is among the printed ones: a log line by its fields (not its time, pid, paths or
    duration), a table row by its cells, any other line as it is; all but for what changes between runs."""
    def normal(text: str) -> str:
        for pattern, token in VARIABLE:
            text = re.sub(pattern, token, text)
        return text.strip()

    def cells(row: str) -> list[str]:
        return [normal(cell) for cell in re.split("[│┃]", row.strip().strip("│┃"))]

    if line.strip() in ("", "…") or line.startswith(("┏", "┡", "└")):  # elided, or a rule sized by the contents
        return True
    if " INFO " in line:
        wanted = {k: v for k, v in parse_logfmt(line).items() if k in LOG_FIELDS}
        return any(wanted == {k: v for k, v in parse_logfmt(out).items() if k in LOG_FIELDS}
                   for out in printed.splitlines())
    if line.startswith(("│", "┃")):
        return cells(line) in [cells(out) for out in printed.splitlines() if out.startswith(("│", "┃"))]
    return normal(line) in [normal(out) for out in printed.splitlines()]


def test_every_command_of_the_tutorial_runs_on_the_demo_sector(tmp_path):
    # The reader's folder: the repository's sources.yaml (its database goes to ./data, next to it).
    shutil.copy(REPO / "sources.yaml", tmp_path / "sources.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", VEILLE_LANG="fr", NO_COLOR="1")
    terminals = Terminals(tmp_path, env)
    try:
        for kind, block in blocks(DOCS / "tutoriel.md"):
            if kind == "console":
                session(terminals, block)
                continue
            for command in commands_of(kind, block):
                done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                                      timeout=300)
                assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
                assert (done.stdout + done.stderr).strip(), f"{command} printed nothing"
        assert not terminals.up, [command for command, _, _ in terminals.up]  # the tutorial stops what it starts
    finally:
        for _, proc, _ in terminals.up:  # a failed step must not leave a server or a scheduler behind
            proc.kill()
            proc.wait()
    starter_plan = (tmp_path / "ma-veille" / "plan.html").read_text(encoding="utf-8")
    assert "Preuve manquante" in starter_plan  # before any collection, the plan says what evidence is missing
    for gap in ("jamais collectée", "hors ligne sans aucune note", "aucune source institutionnelle",
                "toutes les sources sont en fr", "rôle(s) sans audience"):  # what step 1 says the plan finds
        assert gap in starter_plan, gap
    plan = ET.fromstring((tmp_path / "plan.html").read_text(encoding="utf-8").removeprefix("<!DOCTYPE html>"))
    assert plan.get("lang") == "fr"
    assert (tmp_path / "plan.md").read_text(encoding="utf-8").startswith("# Watch plan – Cyclonova")
