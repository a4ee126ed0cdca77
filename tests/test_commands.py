"""Commands that tell the truth in good French (issue 21): tables that fit 80 columns in the reader's language,
filters that say what they filter on, unknown sources refused, empty results explained, work without a
configuration, the demo from any folder, `sources add` and `sources check` rules.

The demo sector is collected once (into a temporary folder, as a newcomer would) for the table tests; the other
tests use the local fixture server of conftest.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.conftest import free_port, rss, rss_item, write_config
from watch.cli import main
from watch.display import HEADERS, VALUES, english_words

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def flat(text: str) -> str:
    """Messages wrap at the terminal's width: compare them on one line."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    """`veille demo` then `veille digest send` run from an empty folder, with no configuration named."""
    folder = tmp_path_factory.mktemp("anywhere")
    env = {"VEILLE_LANG": "fr", "VEILLE_CONFIG": None, "VEILLE_DB": None, "VEILLE_DEMO_URL": None,
           "VEILLE_SMTP_URL": None, "VEILLE_ARCHIVE": str(folder / "archive"), "COLUMNS": "80"}
    before = os.getcwd()
    os.chdir(folder)
    try:
        demo = run("demo", "--port", str(free_port()), env=env)
        send = run("digest", "send", env=env)
    finally:
        os.chdir(before)
    return folder, env, demo, send


def in_folder(folder: Path, *args: str, env: dict, lang: str = "fr", columns: int = 80):
    before = os.getcwd()
    os.chdir(folder)
    try:
        return run(*args, env={**env, "VEILLE_LANG": lang, "COLUMNS": str(columns)})
    finally:
        os.chdir(before)


def test_demo_runs_from_an_empty_folder_and_the_next_commands_work_there(demo_folder):
    folder, env, demo, send = demo_folder
    assert demo.exit_code == 0, demo.output + demo.stderr
    assert (folder / "sources.yaml").is_file() and "copiée" in demo.stderr
    assert (folder / "data" / "veille.db").is_file() and str(folder / "data" / "veille.db") in demo.stdout
    assert re.search(r"\b\d+ nouveaux articles, 0 mis à jour", demo.stdout)
    assert "Ensuite : veille items --published 7d" in demo.stdout
    assert send.exit_code == 0, send.output
    listed = in_folder(folder, "items", "--published", "7d", env=env)
    assert listed.exit_code == 0 and "publiés depuis le" in flat(listed.stderr)


COMMANDS = [("sources", "list"), ("status",), ("digest", "list")]


def words(text: str) -> list[str]:
    """The words of a rendered table, without its box drawing."""
    return [w for w in re.split(r"[\s\u2500-\u257f]+", text) if w]


def cells(table: str) -> list[tuple[str, str]]:
    """(header, cell text) of every table line of a rich table, headers merged over their lines."""
    found, headers = [], []
    header_lines: list[list[str]] = []
    for line in table.splitlines():
        if line.startswith("┃"):
            header_lines.append([part.strip() for part in line.strip("┃").split("┃")])
        elif line.startswith("┡"):
            headers = [" ".join(p for p in parts if p) for parts in zip(*header_lines)]
            found.extend(("", h) for h in headers)
            header_lines = []
        elif line.startswith("│") and headers:
            found.extend(zip(headers, (part.strip() for part in line.strip("│").split("│"))))
    return found


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_french_tables_fit_80_columns_and_keep_words_whole(demo_folder, command):
    folder, env, _, _ = demo_folder
    narrow = in_folder(folder, *command, env=env)
    wide = in_folder(folder, *command, "--wide", env=env)
    assert narrow.stdout.strip() and wide.stdout.strip()
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    whole = set(words(wide.stdout))
    split = {word for word in words(narrow.stdout) if word not in whole}
    assert not split, f"words cut at 80 columns: {sorted(split)}"
    assert max(len(line) for line in wide.stdout.splitlines()) > 80, "--wide shows every column, unwrapped"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_french_tables_have_no_english_header_or_value_left(demo_folder, command):
    folder, env, _, _ = demo_folder
    english = english_words() | {"every"}
    for view in ((), ("--wide",)):
        found = cells(in_folder(folder, *command, *view, env=env).stdout)
        assert found
        left = {cell for h, cell in found if h == "" and (cell.lower() in english or cell in HEADERS)}
        assert not left - {fr for fr, _ in HEADERS.values()}, f"English headers in French mode: {left}"
        enumerated = ("résultat", "état", "genre", "type", "rythme", "gravité")
        words = {w.strip(",") for h, cell in found if h in enumerated for w in cell.split()}
        assert not words & english, f"English values in French mode: {words & english}"


@pytest.mark.parametrize("command,header", [(("sources", "list"), "kind"), (("status",), "outcome"),
                                            (("digest", "list"), "pending")], ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_english_tables_use_english_words_and_machine_formats_stay_english(demo_folder, command, header):
    folder, env, _, _ = demo_folder
    table = in_folder(folder, *command, env=env, lang="en").stdout
    assert header in {cell for h, cell in cells(table) if h == ""}
    assert "état" not in table and "en attente" not in table
    document = in_folder(folder, *command, "--format", "json", env=env).stdout  # French user, machine format
    text = json.dumps(json.loads(document))
    assert "état" not in text and "en attente" not in text and "flux" not in text


def test_status_in_french_says_schedules_and_states_in_french(demo_folder):
    folder, env, _, _ = demo_folder
    status = in_folder(folder, "status", "--wide", env=env).stdout
    assert "toutes les heures" in status and "every" not in status and "active" in status
    assert "prochain" in status and "next_run" not in status
    sources = in_folder(folder, "sources", "list", env=env).stdout
    assert "flux" in sources and "hors ligne" in sources and "articles" in sources, "the items column fits"
    wide = in_folder(folder, "sources", "list", "--wide", env=env).stdout
    assert "presse pro" in wide and "trade-press" not in wide


def test_french_plan_has_no_english_kind_left(demo_folder):
    folder, env, _, _ = demo_folder
    plan = in_folder(folder, "plan", "--format", "md", env=env).stdout
    assert "| flux (en ligne) |" in plan and "presse pro" in plan
    for english in (r"\bevery \d", r"\bonline\b", r"\boffline\b", r"\| phrase \|", r"\btrade-press\b", r"\| free \|"):
        assert not re.search(english, plan), english


@pytest.fixture
def two_feeds(server, tmp_path):
    server.add("/old.xml", rss(rss_item(1, "Veloce rachète Rouléo", date="Mon, 07 Sep 2026 10:00:00 GMT"),
                               rss_item(2, "Hausse des prix du VAE", date="Tue, 08 Sep 2026 10:00:00 GMT")))
    return write_config(tmp_path, [{"id": "velo-news", "url": server.url("/old.xml")}])


def test_items_since_says_it_filters_on_first_seen_and_published_on_publication(two_feeds):
    assert run("--config", str(two_feeds), "collect", "--no-classify").exit_code == 0
    seen = run("--config", str(two_feeds), "items", "--since", "1d")
    assert "Veloce rachète Rouléo" in seen.stdout, "collected today, published in September"
    assert "2 articles vus pour la première fois depuis le" in flat(seen.stderr) and "--published" in seen.stderr
    published = run("--config", str(two_feeds), "items", "--published", "7d")
    assert published.exit_code == 0 and "Veloce" not in published.stdout
    assert "Aucun article ne répond à : publiés depuis le" in flat(published.stdout)
    assert "(2 en base)" in flat(published.stdout)
    both = json.loads(run("--config", str(two_feeds), "items", "--published", "2026-09-08", "--format", "json").stdout)
    assert [i["title"] for i in both] == ["Hausse des prix du VAE"]


def test_a_cut_list_says_so_and_how_to_see_more(two_feeds):
    run("--config", str(two_feeds), "collect", "--no-classify")
    cut = run("--config", str(two_feeds), "items", "--limit", "1")
    assert "Liste coupée à 1 article sur 2 (les plus récemment publiés) ; --limit 2" in flat(cut.stderr)
    whole = run("--config", str(two_feeds), "items", "--limit", "2")
    assert "coupée" not in whole.stderr


@pytest.mark.parametrize("command", [("items", "--source", "velo-new"), ("items", "delete", "--source", "velo-new"),
                                     ("collect", "--source", "velo-new"), ("sources", "reset", "velo-new")],
                         ids=" ".join)
def test_an_unknown_source_is_refused_everywhere_with_did_you_mean(two_feeds, command):
    run("--config", str(two_feeds), "collect", "--no-classify")
    result = run("--config", str(two_feeds), *command)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "source inconnue 'velo-new' (vouliez-vous dire 'velo-news' ?)" in result.stderr
    english = run("--config", str(two_feeds), *command, env={"VEILLE_LANG": "en"})
    assert "unknown source 'velo-new' (did you mean 'velo-news'?)" in english.stderr


def test_empty_results_say_why(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    empty = run("items")
    assert empty.exit_code == 0 and "Aucun article : la base" in flat(empty.stdout) and "est vide" in flat(empty.stdout)
    trends = run("trends", "--kind", "label")
    assert trends.exit_code == 0 and "Aucune étiquette en hausse en semaine" in flat(trends.stdout)
    assert "--min-count" in trends.stdout
    english = run("trends", "--kind", "label", env={"VEILLE_LANG": "en"})
    assert "No rising label in week" in flat(english.stdout)


def test_collect_url_works_without_a_configuration(server, tmp_path, monkeypatch):
    url = server.add("/feed.xml", rss(rss_item(1, "Cargo bikes rise"), rss_item(2, "Un vélo cargo de plus")))
    monkeypatch.chdir(tmp_path)
    result = run("collect", "--url", url, "--no-classify", "--format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    assert json.loads(result.stdout)[0]["new"] == 2
    assert (tmp_path / "data" / "veille.db").is_file() and not (tmp_path / "sources.yaml").exists()
    listed = json.loads(run("items", "--format", "json").stdout)
    assert {i["title"] for i in listed} == {"Cargo bikes rise", "Un vélo cargo de plus"}
    elsewhere = run("--db", str(tmp_path / "other.db"), "collect", "--url", url, "--no-classify")
    assert elsewhere.exit_code == 0 and (tmp_path / "other.db").is_file()
    assert "2 nouveaux articles, 0 mis à jour, 0 source en échec" in flat(elsewhere.stderr)
    watch_commands = run("sources", "list")
    assert watch_commands.exit_code == 2 and "créez-en un avec `veille init DOSSIER`" in watch_commands.stderr


ENGLISH_BLOG = [rss_item(n, title, description=text) for n, (title, text) in enumerate([
    ("Why cargo bikes win the last mile", "Delivery companies are replacing vans with electric cargo bikes."),
    ("Our first year of bike commuting", "We rode to work every day and learned a lot about batteries."),
    ("The best locks for your e-bike", "A good lock is worth the money when your bike costs that much."),
], 1)]


def block_config(tmp_path: Path) -> Path:
    """A configuration written as people write it: block entries, then the audiences' commented section."""
    path = tmp_path / "sources.yaml"
    path.write_text("company: {name: Testco}\ndatabase: veille.db\nthemes:\n  - {id: t1, label: Thème 1}\n"
                    "sources:\n  - id: a\n    name: A\n    url: http://example.org/a.xml\n    language: fr\n"
                    "    legitimacy: flux public\n\n"
                    "# --- Audiences : qui reçoit quoi ---\n# (commentaire sur les audiences)\naudiences: []\n",
                    encoding="utf-8")
    return path


def test_sources_add_detects_the_language_and_inserts_inside_sources(server, tmp_path):
    # A feed that declares no language: the entries are English.
    feed = rss(*ENGLISH_BLOG, title="Cargo blog").replace("<language>fr</language>", "")
    server.add("/blog/feed.xml", feed)
    config = block_config(tmp_path)
    result = run("--config", str(config), "sources", "add", server.url("/blog/feed.xml"), "--type", "blog")
    assert result.exit_code == 0, result.output + result.stderr
    assert "langue en détectée dans 3 articles" in result.stdout
    text = config.read_text(encoding="utf-8")
    added = yaml.safe_load(text)["sources"][-1]
    assert added["id"] == "cargo-blog" and added["language"] == "en"
    assert text.index("cargo-blog") < text.index("# --- Audiences"), "the entry belongs to sources:, above the audiences"
    assert text.index("legitimacy: flux public") < text.index("cargo-blog")
    # Declared first: a feed saying <language>fr</language> is French, whatever its words.
    server.add("/fr.xml", rss(*ENGLISH_BLOG, title="Blog declared"))
    declared = run("--config", str(config), "sources", "add", server.url("/fr.xml"))
    assert yaml.safe_load(config.read_text())["sources"][-1]["language"] == "fr"
    assert "déclarée par le flux" in declared.stdout


def test_sources_check_refuses_a_language_without_pipeline_and_warns_on_empty_legitimacy(tmp_path):
    config = block_config(tmp_path)
    text = config.read_text(encoding="utf-8").replace(
        "    legitimacy: flux public\n", "    legitimacy: flux public\n  - id: b\n    name: B\n"
        "    url: http://example.org/b.xml\n    language: de\n    legitimacy: \"\"\n")
    config.write_text(text, encoding="utf-8")
    result = run("--config", str(config), "sources", "check")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{config}:14: sources[1].language: langue 'de' sans chaîne de traitement" in result.stderr
    assert "fr, en" in result.stderr
    assert f"Attention : {config}:15: sources[1].legitimacy: note de légitimité vide" in result.stderr
    config.write_text(text.replace("language: de", "language: en"), encoding="utf-8")
    fixed = run("--config", str(config), "sources", "check")
    assert fixed.exit_code == 0 and "note de légitimité vide (source b)" in fixed.stderr
    assert "est valide" in fixed.stdout


HELP_DUMP = """
import json, click
from watch.cli import main

def walk(group, prefix=()):
    if not prefix:
        yield (), group
    for name, command in group.commands.items():
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from walk(command, prefix + (name,))

print(json.dumps({" ".join(path + (param.opts[-1],)): param.help for path, command in walk(main)
                  for param in command.params if isinstance(param, click.Option)}))
"""


def test_every_option_has_help_in_french_and_in_english():
    """Help is picked at import time from the user's language: each language in its own interpreter."""
    helps = {}
    for lang in ("fr", "en"):
        out = subprocess.run([sys.executable, "-c", HELP_DUMP], capture_output=True, text=True, check=True,
                             env={**os.environ, "VEILLE_LANG": lang}, cwd=REPO)
        helps[lang] = json.loads(out.stdout)
    missing = sorted(option for option, text in helps["fr"].items() if not text)
    assert not missing, f"options without help: {missing}"
    neutral = {text for text in helps["en"].values() if text and text.startswith("table |") and "(" not in text}
    untranslated = sorted(option for option, text in helps["fr"].items()
                          if text == helps["en"][option] and text not in neutral)
    assert not untranslated, f"options whose help is in English only: {untranslated}"
    assert helps["fr"]["items --since"].startswith("Vus pour la première fois")
    assert helps["en"]["items --since"].startswith("First seen")


def test_the_catalogue_gives_every_word_in_both_languages():
    for key, (fr, en) in {**HEADERS, **VALUES}.items():
        assert fr and en, key
    assert {"outcome", "entries", "pending", "not_modified", "medium", "low", "free", "trade-press"} <= english_words()
