"""The tutorial stays true: every command docs/tutoriel.md shows runs, in order, on the demo sector, and
docs/tutorial.md (English) shows the same commands."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def shown_commands(path: Path) -> list[str]:
    """The lines of the ```sh blocks, in order, without their trailing comments."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL):
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line:
                commands.append(line)
    return commands


def test_french_and_english_tutorials_show_the_same_commands():
    french, english = shown_commands(DOCS / "tutoriel.md"), shown_commands(DOCS / "tutorial.md")
    assert french == english
    assert french[0] == "veille init ma-veille" and french[-1].startswith("veille plan")
    assert all(command.startswith("veille ") for command in french)


def test_every_command_of_the_tutorial_runs_on_the_demo_sector(tmp_path):
    # The reader's folder: the repository's sources.yaml (its database goes to ./data, next to it).
    shutil.copy(REPO / "sources.yaml", tmp_path / "sources.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", VEILLE_LANG="fr", NO_COLOR="1")
    for command in shown_commands(DOCS / "tutoriel.md"):
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
        assert (done.stdout + done.stderr).strip(), f"{command} printed nothing"
    starter_plan = (tmp_path / "ma-veille" / "plan.html").read_text(encoding="utf-8")
    assert "Preuve manquante" in starter_plan  # before any collection, the plan says what evidence is missing
    for gap in ("jamais collectée", "hors ligne sans aucune note", "aucune source institutionnelle",
                "toutes les sources sont en fr", "rôle(s) sans audience"):  # what step 1 says the plan finds
        assert gap in starter_plan, gap
    plan = ET.fromstring((tmp_path / "plan.html").read_text(encoding="utf-8").removeprefix("<!DOCTYPE html>"))
    assert plan.get("lang") == "fr"
    assert (tmp_path / "plan.md").read_text(encoding="utf-8").startswith("# Watch plan – Cyclonova")
