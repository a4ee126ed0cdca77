"""Offline sources: field notes entered with `veille add` or imported from CSV, and erased on request.

Everything runs through the real CLI (click's CliRunner) on a real SQLite file. Expected: notes become items of
origin `offline` with their provenance; bad rows are reported by line while the valid rows of the same file are
kept; a file with wrong columns or encoding is refused as a whole; unknown ids get a did-you-mean; deletion leaves
no trace of the text in the search index, the classification tables or the database file; retention deletes old
notes; `veille collect` skips offline sources with a note.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from watch.cli import main
from watch.store import Store

CONFIG = """\
company: {name: Cyclonova}
database: veille.db
themes:
  - {id: battery-tech, label: Batteries}
  - {id: pricing-market, label: Prix}
competitors:
  - {id: veloce, name: Veloce}
  - {id: rouleo, name: Rouléo}
sources:
  - {id: salons, name: Salons professionnels, kind: offline, type: field, reliability: B}
  - {id: terrain, name: Remontées commerciales, kind: offline, type: field, offline: {retention_days: 90}}
  - {id: feed, name: Un flux, url: "http://127.0.0.1:9/feed.xml"}
"""


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def veille(config: Path, *args: str, input: str | None = None, env: dict | None = None):
    return CliRunner().invoke(main, ["--config", str(config), *args], input=input,
                              env={"VEILLE_USER": "analyste", **(env or {})}, catch_exceptions=False)


def items(config: Path, *args: str) -> list[dict]:
    return json.loads(veille(config, "items", "--format", "json", *args).stdout)


def days_ago(n: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=n)).date().isoformat()


def test_veille_add_records_a_note_with_its_provenance(config, tmp_path):
    photo = tmp_path / "stand veloce.jpg"
    photo.write_bytes(b"\xff\xd8\xff fake jpeg bytes")
    result = veille(config, "add", "--source", "salons", "--author", "Claire Martin", "--date", days_ago(3),
                    "--competitor", "veloce", "--theme", "battery-tech", "--attach", str(photo),
                    "--text", "Au salon de Lyon, Veloce montrait un V9 à batterie LFP. Prix annoncé : 2 990 €.")
    assert result.exit_code == 0, result.output
    [item] = items(config)
    assert item["origin"] == "offline" and item["source"] == "salons" and item["author"] == "Claire Martin"
    assert item["entered_by"] == "analyste" and item["entered_from"] == "veille add"
    assert item["competitor"] == "veloce" and item["themes"] == ["battery-tech"]
    assert item["title"] == "Au salon de Lyon, Veloce montrait un V9 à batterie LFP."
    assert item["published_at"].startswith(days_ago(3)) and not item["published_estimated"]
    assert item["fetched_at"], "when it was entered"
    stored = tmp_path / item["attachment"]
    assert stored.read_bytes() == photo.read_bytes() and stored.name == "stand_veloce.jpg"

    again = veille(config, "add", "--source", "salons", "--author", "Claire Martin", "--date", days_ago(3),
                   "--text", "Au salon de Lyon, Veloce montrait un V9 à batterie LFP. Prix annoncé : 2 990 €.")
    assert "déjà enregistrée" in again.stderr and len(items(config)) == 1


def test_veille_add_reads_the_text_from_stdin_and_defaults_to_today(config):
    result = veille(config, "add", "--source", "terrain", "--text", "-", "--format", "json",
                    input="Le client Vélo&Co hésite : Rouléo propose -15 % sur le Famille.\n")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["status"] == "new" and row["author"] == "analyste" and row["date"] == datetime.now().date().isoformat()
    assert items(config)[0]["text"] == "Le client Vélo&Co hésite : Rouléo propose -15 % sur le Famille."


@pytest.mark.parametrize("args, expected", [
    (["--competitor", "velose"], "concurrent inconnu 'velose' (vouliez-vous dire 'veloce' ?)"),
    (["--theme", "batery-tech"], "thème inconnu 'batery-tech' (vouliez-vous dire 'battery-tech' ?)"),
    (["--source", "salon"], "source inconnue 'salon' (vouliez-vous dire 'salons' ?)"),
    (["--source", "feed"], "la source 'feed' est de type feed"),
    (["--date", "31/02/2026"], "date '31/02/2026' illisible"),
    (["--date", "2099-01-01"], "dans le futur"),
    (["--lang", "français"], "langue 'français' illisible"),
])
def test_veille_add_refuses_unknown_ids_with_a_suggestion(config, args, expected):
    base = {"--source": "salons", "--text": "Une note."}
    for option, value in zip(args[::2], args[1::2]):
        base[option] = value
    result = veille(config, "add", *[part for pair in base.items() for part in pair])
    assert result.exit_code == 2 and expected in result.stderr, result.stderr
    assert "Traceback" not in result.output and items(config) == []


def test_veille_add_needs_the_source_when_there_are_several(config):
    result = veille(config, "add", "--text", "Sans source.")
    assert result.exit_code == 2 and "salons, terrain" in result.stderr


GOOD_AND_BAD = """\
date;source;auteur;titre;texte;thèmes;concurrent;réf
{d1};salons;Paul Durand;;Veloce recrute dix commerciaux pour l'Ouest.;pricing-market;veloce;S-1
{d2};salons;Paul Durand;;Date impossible.;;;S-2
{d1};salonz;Paul Durand;;Source mal écrite.;;;S-3
{d3};salons;Inès Roy;Stand Rouléo;"Rouléo montrait le Famille,
sur deux lignes; prix 3 990 €.";battery-tech;rouleo;S-4
{d4};terrain;Jeanne Petit;;Trop ancienne pour la conservation de 90 jours.;;;T-1
{d3};terrain;Jeanne Petit;;Le client attend la batterie LFP;batery-tech;;T-2
{d1};terrain;;;Sans auteur.;;;T-3
{d1};terrain;Jeanne Petit;;Une remontée valide du terrain.;;;T-4
{d1};terrain;Jeanne Petit;;Une remontée valide du terrain.;;;T-4
{d1};terrain;Jeanne Petit;;trop;de;champs;ici;en;plus
"""


def test_import_reports_bad_rows_by_line_and_keeps_the_valid_ones(config, tmp_path):
    csv_file = tmp_path / "notes.csv"
    csv_file.write_text(GOOD_AND_BAD.format(d1=days_ago(2), d2="2026-13-45", d3=days_ago(5), d4=days_ago(400)),
                        encoding="utf-8")
    result = veille(config, "import", str(csv_file), "--format", "json")
    assert result.exit_code == 1, result.output
    rows = {row["line"]: row for row in json.loads(result.stdout)}
    assert {line for line, row in rows.items() if row["status"] == "new"} == {2, 5, 10}
    bad = {line: row["problem"] for line, row in rows.items() if row["status"] == "bad"}
    assert set(bad) == {3, 4, 7, 8, 9, 12}
    assert "2026-13-45" in bad[3] and "'salons'" in bad[4] and "90 jours" in bad[7] and "'battery-tech'" in bad[8]
    assert "auteur manquant" in bad[9] and "10 champs au lieu de 8" in bad[12]
    assert rows[11]["status"] == "duplicate" and "ligne 10" in rows[11]["problem"]
    assert "3 nouvelle(s)" in result.stderr and "6 ligne(s) en erreur" in result.stderr

    stored = {i["title"]: i for i in items(config)}
    famille = stored["Stand Rouléo"]
    assert famille["text"] == "Rouléo montrait le Famille, sur deux lignes; prix 3 990 €."
    assert famille["entered_from"] == f"{csv_file.resolve()}:5" and famille["author"] == "Inès Roy"
    assert famille["competitor"] == "rouleo" and famille["themes"] == ["battery-tech"]
    assert stored["Veloce recrute dix commerciaux pour l'Ouest."]["entered_by"] == "analyste"

    table = veille(config, "import", str(csv_file))
    assert table.exit_code == 1 and "0 nouvelle(s)" in table.stderr, "importing again adds nothing"
    assert "│ 3 " in table.stdout and "│ 2 " not in table.stdout, "the table lists the rows not imported"
    assert len(items(config)) == 3


def test_import_with_a_ref_updates_a_corrected_note(config, tmp_path):
    csv_file = tmp_path / "notes.csv"
    csv_file.write_text(f"date,source,author,text,ref\n{days_ago(1)},salons,Paul,Première version,A-1\n", encoding="utf-8")
    veille(config, "import", str(csv_file))
    csv_file.write_text(f"date,source,author,text,ref\n{days_ago(1)},salons,Paul,Version corrigée,A-1\n", encoding="utf-8")
    result = veille(config, "import", str(csv_file), "--format", "json")
    assert json.loads(result.stdout)[0]["status"] == "updated"
    assert [i["text"] for i in items(config)] == ["Version corrigée"]


@pytest.mark.parametrize("header, expected", [
    ("date,source,writer,text", "colonne(s) inconnue(s) 'writer'"),
    ("date,source,texte", "colonne(s) obligatoire(s) absente(s) : author"),
    ("date,source,author,text,auteur", "colonne(s) en double : author"),
    ("date,source,author,txt", "'txt' (vouliez-vous dire 'text' ?)"),
])
def test_import_refuses_a_file_with_wrong_columns_and_imports_nothing(config, tmp_path, header, expected):
    csv_file = tmp_path / "colonnes.csv"
    csv_file.write_text(header + f"\n{days_ago(1)},salons,Paul,Une note\n", encoding="utf-8")
    result = veille(config, "import", str(csv_file))
    assert result.exit_code == 2 and expected in result.stderr and "colonnes.csv:1" in result.stderr, result.stderr
    assert "date, source, author, text" in result.stderr, "the expected layout is shown"
    assert items(config) == []


def test_import_refuses_a_file_that_is_not_utf8_and_reads_it_with_its_encoding(config, tmp_path):
    csv_file = tmp_path / "excel.csv"
    csv_file.write_bytes(f"date;source;auteur;texte\n{days_ago(1)};salons;Paul;Vu au salon\n"
                         f"{days_ago(1)};salons;André;Café et vélos électriques\n".encode("cp1252"))
    result = veille(config, "import", str(csv_file))
    assert result.exit_code == 2 and "excel.csv:3" in result.stderr and "0xe9" in result.stderr
    assert "--encoding cp1252" in result.stderr and items(config) == []
    assert veille(config, "import", str(csv_file), "--encoding", "cp1252").exit_code == 0
    assert {i["author"] for i in items(config)} == {"Paul", "André"}


def test_import_accepts_a_bom_and_tab_separators_and_refuses_an_empty_file(config, tmp_path):
    csv_file = tmp_path / "tabs.csv"
    csv_file.write_text(f"\ufeffDate\tSource\tAuthor\tText\n{days_ago(1)}\tsalons\tPaul\tNote\n", encoding="utf-8")
    assert veille(config, "import", str(csv_file)).exit_code == 0 and len(items(config)) == 1
    empty = tmp_path / "empty.csv"
    empty.write_text("\n", encoding="utf-8")
    result = veille(config, "import", str(empty))
    assert result.exit_code == 2 and "vide" in result.stderr


def test_import_keeps_an_attachment_named_relative_to_the_file(config, tmp_path):
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "brochure.pdf").write_bytes(b"%PDF-1.7 brochure")
    csv_file = tmp_path / "notes.csv"
    csv_file.write_text(f"date,source,author,text,attachment\n{days_ago(1)},salons,Paul,Brochure V9,scans/brochure.pdf\n"
                        f"{days_ago(1)},salons,Paul,Sans fichier,scans/absent.pdf\n", encoding="utf-8")
    result = veille(config, "import", str(csv_file), "--format", "json")
    rows = json.loads(result.stdout)
    assert rows[1]["status"] == "bad" and "absent.pdf" in rows[1]["problem"]
    [item] = items(config)
    assert (tmp_path / item["attachment"]).read_bytes() == b"%PDF-1.7 brochure"


def _db_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.glob("veille.db*"))


def test_items_delete_erases_the_text_everywhere(config, tmp_path):
    photo = tmp_path / "carte.jpg"
    photo.write_bytes(b"carte de visite")
    veille(config, "add", "--source", "salons", "--author", "Zéphyrine Quimper", "--attach", str(photo),
           "--text", "Zéphyrine Quimper, acheteuse chez Vélo&Co, veut le V9 en Xylophonium.")
    veille(config, "add", "--source", "salons", "--author", "Paul", "--text", "Une autre note sur le V9.")
    [named] = [i for i in items(config) if i["author"] == "Zéphyrine Quimper"]
    with Store.open(tmp_path / "veille.db") as store:  # classification rows, as `veille classify` writes them
        store.save_classification([{"id": named["id"], "labels": [{"axis": "moves", "label": "launch", "score": 0.9,
                                                                   "by": "model"}],
                                    "entities": [{"text": "Vélo&Co", "label": "ORG", "competitor": None}],
                                    "terms": [("xylophonium", "phrase")], "lang": "fr", "lang_confidence": 1.0,
                                    "lang_how": "model", "actor": None, "actor_competitor": None, "flags": []}])
        store.correct_label(named["id"], "pricing", "moves")
    assert "Xylophonium".encode() in _db_bytes(tmp_path)
    assert [i["id"] for i in items(config, "--search", "xylophonium")] == [named["id"]]

    dry = veille(config, "items", "delete", "--search", "Zéphyrine", "--dry-run")
    assert dry.exit_code == 0 and "rien n'a été supprimé" in dry.stderr and len(items(config)) == 2
    refused = veille(config, "items", "delete", "--author", "ZEPHYRINE quimper", input="n\n")
    assert refused.exit_code == 1 and len(items(config)) == 2, "answering no deletes nothing"
    done = veille(config, "items", "delete", "--author", "Zéphyrine Quimper", input="y\n")
    assert done.exit_code == 0 and "1 article(s) supprimé(s)" in done.stderr

    assert [i["author"] for i in items(config)] == ["Paul"]
    assert items(config, "--search", "xylophonium") == []
    with Store.open(tmp_path / "veille.db") as store:
        for table in ("item_sources", "item_labels", "item_entities", "item_terms", "label_corrections"):
            assert store.conn.execute(f"select count(*) from {table} where item_id = ?", [named["id"]]).fetchone()[0] == 0
        store.conn.execute("create virtual table temp.vocab using fts5vocab(main, items_fts, 'row')")
        assert store.conn.execute("select count(*) from temp.vocab where term = 'xylophonium'").fetchone()[0] == 0
    assert "Xylophonium".encode() not in _db_bytes(tmp_path), "no copy of the text left in the file or its WAL"
    assert "Zéphyrine".encode() not in _db_bytes(tmp_path)
    assert not (tmp_path / named["attachment"]).exists(), "the attachment is deleted with the note"


def test_items_delete_by_id_source_and_date_range(config, tmp_path):
    for n, age in enumerate((40, 20, 10, 1)):
        veille(config, "add", "--source", "salons" if n % 2 else "terrain", "--author", "Paul",
               "--date", days_ago(age), "--text", f"Note numéro {n}.")
    ids = {i["text"]: i["id"] for i in items(config)}
    result = veille(config, "items", "delete", "--from", days_ago(25), "--to", days_ago(10), "--yes", "--format", "json")
    assert sorted(r["text"] if "text" in r else r["title"] for r in json.loads(result.stdout)) == [
        "Note numéro 1.", "Note numéro 2."], "both ends of the range are included"
    assert veille(config, "items", "delete", "--id", str(ids["Note numéro 0."]), "--yes").exit_code == 0
    assert veille(config, "items", "delete", "--source", "salons", "--yes").exit_code == 0
    assert items(config) == []
    assert veille(config, "items", "delete", "--id", "999", "--yes").exit_code == 2
    nothing = veille(config, "items", "delete")
    assert nothing.exit_code == 2 and "--author" in nothing.stderr, "a criterion is required"


def test_retention_deletes_old_notes_at_collection_and_on_request(config, tmp_path):
    veille(config, "add", "--source", "terrain", "--author", "Paul", "--date", days_ago(10), "--text", "Récente.")
    veille(config, "add", "--source", "salons", "--author", "Paul", "--date", days_ago(200), "--text", "Salon ancien.")
    with Store.open(tmp_path / "veille.db") as store:  # a note entered 100 days ago is now past 90 days
        store.conn.execute("update items set published_at = ? where text = 'Récente.'",
                           [(datetime.now(timezone.utc) - timedelta(days=100)).isoformat()])
    listed = veille(config, "items", "delete", "--expired", "--dry-run", "--format", "json")
    assert [r["title"] for r in json.loads(listed.stdout)] == ["Récente."]
    result = veille(config, "collect", "--source", "terrain", "--source", "salons", "--format", "json")
    outcomes = {o["source"]: o for o in json.loads(result.stdout)}
    assert outcomes["terrain"]["outcome"] == "skipped" and "veille import" in outcomes["terrain"]["problem"]
    assert "1 note(s) supprimée(s)" in outcomes["terrain"]["problem"]
    assert "supprimée" not in outcomes["salons"]["problem"], "salons keeps notes 730 days by default"
    assert [i["text"] for i in items(config)] == ["Salon ancien."]
    assert result.exit_code == 0, "skipping an offline source is not a failure"
    assert veille(config, "items", "delete", "--expired", "--source", "salons").exit_code == 2


def test_english_messages(config):
    result = veille(config, "add", "--source", "salons", "--competitor", "velose", "--text", "x",
                    env={"VEILLE_LANG": "en"})
    assert "unknown competitor 'velose' (did you mean 'veloce'?)" in result.stderr
