"""sources.yaml: validation with file:line and hints, interpolation, schedules, the repo's own demo configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from watch.config import cron_fields, load_config, parse_config
from watch.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

BROKEN = """\
company: {name: X}
themes:
  - {id: urban-mobility, label: U, priority: 5}
competitors:
  - {id: veloce, name: V, kind: direkt}
sources:
  - id: s1
    name: S1
    url: ftp://x
    reliabilty: B
    themes: [urban-mobilty]
  - id: s1
    name: S2
    url: "${VEILLE_TEST_UNSET}/feed"
    reliability: G
    competitor: velose
audiences:
  - id: dir
    recipients: [bad-address]
    interests: {labels: [aquisition]}
    schedule: {cron: "mon 02:30"}
"""


def test_every_problem_is_reported_at_once_with_its_line_and_hint():
    with pytest.raises(ConfigError) as caught:
        parse_config(BROKEN, "broken.yaml")
    found = {(p.line, p.field): p for p in reversed(caught.value.problems)}
    assert found[(3, "themes[0].priority")].message
    assert "direct" in found[(5, "competitors[0].kind")].hint
    assert "ftp" in found[(9, "sources[0].url")].message
    assert "'reliability'" in found[(10, "sources[0].reliabilty")].hint
    assert "'urban-mobility'" in found[(11, "sources[0].themes[0]")].hint
    assert "s1" in found[(12, "sources[1].id")].message
    assert "VEILLE_TEST_UNSET" in found[(14, "sources[1].url")].message
    assert "A, B, C, D, E, F" in found[(15, "sources[1].reliability")].hint
    assert "'veloce'" in found[(16, "sources[1].competitor")].hint
    assert "bad-address" in found[(19, "audiences[0].recipients")].message
    assert "'acquisition'" in found[(20, "audiences[0].interests.labels[0]")].hint
    assert "02:00" in found[(21, "audiences[0].schedule.cron")].message
    assert str(found[(10, "sources[0].reliabilty")]).startswith("broken.yaml:10: sources[0].reliabilty")


def test_messages_in_english_when_asked(monkeypatch):
    monkeypatch.setenv("VEILLE_LANG", "en")
    with pytest.raises(ConfigError) as caught:
        parse_config(BROKEN, "broken.yaml")
    assert any(p.hint == "did you mean 'reliability'?" for p in caught.value.problems)


@pytest.mark.parametrize("text, expected", [
    ("", "vide"),
    ("a: [\n", "YAML invalide"),
    ("- just\n- a list\n", "table"),
    ("company: {name: X}\ncompany: {name: Y}\n", "clé répétée"),
])
def test_unusable_files(text, expected):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "x.yaml")
    assert expected in str(caught.value)


def test_missing_file_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert "veille init" in str(caught.value)


def test_interpolation_with_defaults_and_environment(monkeypatch, tmp_path):
    text = ("company: {name: X}\nsources:\n"
            "  - {id: a, name: A, url: '${VEILLE_TEST_BASE:-http://127.0.0.1:9}/a.xml'}\n")
    assert parse_config(text).sources[0].url == "http://127.0.0.1:9/a.xml"
    monkeypatch.setenv("VEILLE_TEST_BASE", "https://feeds.example")
    assert parse_config(text).sources[0].url == "https://feeds.example/a.xml"


def test_relative_paths_resolve_from_the_files_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "sources.yaml"
    path.write_text("company: {name: X}\ndatabase: db/w.db\ndelivery: {archive: arch}\n", encoding="utf-8")
    config = load_config(path)
    assert config.database == tmp_path / "sub" / "db" / "w.db"
    assert config.delivery.archive == tmp_path / "sub" / "arch"


def test_config_from_environment_variable(monkeypatch, tmp_path):
    path = tmp_path / "elsewhere.yaml"
    path.write_text("company: {name: Ailleurs}\n", encoding="utf-8")
    monkeypatch.setenv("VEILLE_CONFIG", str(path))
    assert load_config().company.name == "Ailleurs"


@pytest.mark.parametrize("text, fields", [
    ("mon 07:30", {"minute": "30", "hour": "7", "day_of_week": "mon"}),
    ("daily 06:05", {"minute": "5", "hour": "6", "day_of_week": "*"}),
    ("mon-fri 18:00", {"hour": "18", "day_of_week": "mon-fri"}),
    ("30 7 * * mon", {"minute": "30", "hour": "7", "day_of_week": "mon"}),
])
def test_cron_forms(text, fields):
    parsed = cron_fields(text)
    assert {k: parsed[k] for k in fields} == fields


def test_schedule_needs_exactly_one_of_every_or_cron():
    text = "company: {name: X}\nsources:\n  - {id: a, name: A, url: 'http://x.example/f', schedule: {}}\n"
    with pytest.raises(ConfigError, match="every"):
        parse_config(text)
    good = parse_config(text.replace("{}", "{every: 90m}"))
    assert good.sources[0].schedule.interval_seconds == 5400


def test_the_repos_demo_configuration_is_valid():
    config = load_config(REPO / "sources.yaml")
    assert config.company.name
    assert len(config.sources) >= 8
    assert {s.language for s in config.sources} >= {"fr", "en"}
    assert all("${VEILLE_DEMO_URL:-http://127.0.0.1:8765}" in (REPO / "sources.yaml").read_text() for _ in [0])
    assert {a.role for a in config.audiences} >= {"direction", "marketing", "commercial", "rd", "partners"}


def test_starter_configuration_is_valid(tmp_path):
    from watch.config import write_starter

    config = load_config(write_starter(tmp_path))
    assert config.sources and config.audiences and config.themes


# -- hostile files (issue 15, item 3) -------------------------------------------------------------------------

# About 700 bytes: nine levels of nine aliases, 9**9 (387 million) values once expanded.
ALIAS_BOMB = "company: {name: X}\n" + "a: &a [" + ", ".join(['"lol"'] * 9) + "]\n" + "".join(
    f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 9) + "]\n" for previous, level in zip("abcdefgh", "bcdefghi"))


def test_alias_bomb_is_refused_quickly_with_its_line(tmp_path):
    import resource
    import subprocess
    import sys
    import time

    path = tmp_path / "sources.yaml"
    path.write_text(ALIAS_BOMB, encoding="utf-8")
    limit = 1_500_000_000  # the probe reached 5.9 GB: a bounded child, so that a regression cannot hurt

    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    started = time.monotonic()
    done = subprocess.run([str(Path(sys.executable).parent / "veille"), "--config", str(path), "sources", "check"],
                          capture_output=True, text=True, timeout=60, preexec_fn=bounded)
    assert time.monotonic() - started < 10
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"{path}:7: les alias YAML (*nom) d'ici se développent en plus de 100000 valeurs" in done.stderr, done.stderr


def test_anchors_used_as_templates_still_work_and_self_reference_is_refused():
    config = parse_config("company: {name: X}\nthemes:\n  - {id: t1, label: T, priority: 1, keywords: &k {fr: [vélo]}}\n"
                          "  - {id: t2, label: U, priority: 1, keywords: *k}\n")
    assert [t.keywords for t in config.themes] == [{"fr": ["vélo"]}] * 2
    with pytest.raises(ConfigError) as caught:
        parse_config("company: &c {name: X, again: *c}\n")
    assert "sources.yaml:1: alias YAML qui se contient lui-même" in str(caught.value.problems[0])


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("company: {name: X}\n" + "# remplissage\n" * 300_000, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value.problems[0])
    assert str(path) in message and "fichier trop gros (4200019 octets, plus de 4000000)" in message, message
