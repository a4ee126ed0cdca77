"""The gettext catalogue (watch/locale): every text the code shows has its French, and no pair is left inline.

The msgids are extracted with Babel's own extractor and the mapping in babel.cfg, as `pybabel extract` (and
`make catalogue`) does, so what this test reads is what a translator regenerates.
"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from watch.i18n import translations, tx_in, tx_n_in, tx_p_in

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "watch" / "locale"
PACKAGES = ("watch", "digests", "nlp", "spiders")
# The keywords of the Makefile's `catalogue` target, in the form Babel's extractor takes.
KEYWORDS = {"tx": None, "tx_in": (2,), "tx_n": (1, 2), "tx_n_in": (2, 3), "tx_p": ((1, "c"), 2),
            "tx_p_in": ((2, "c"), 3), "NC_": ((1, "c"), 2), "N_": None, "say": None, "_": None}
CALLS = {"tx": 0, "tx_in": 1, "tx_n": 0, "tx_n_in": 1, "tx_p": 1, "tx_p_in": 2, "NC_": 1, "N_": 0}


def _method_map() -> list[tuple[str, str]]:
    found = re.findall(r"^\[(\w+):\s*([^\]]+)\]", (ROOT / "babel.cfg").read_text(encoding="utf-8"), re.MULTILINE)
    return [(pattern.strip(), method) for method, pattern in found]


@pytest.fixture(scope="module")
def extracted() -> dict[tuple[str | None, str], tuple[str, int]]:
    """(msgctxt, msgid) -> (file, line) of every text the sources hand to the catalogue."""
    found = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            ROOT, method_map=_method_map(), keywords=KEYWORDS):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault((context, msgid), (filename, lineno))
    return found


@pytest.fixture(scope="module")
def french():
    with (LOCALE / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale="fr")


def _fields(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:  # not a template: a text with a lone brace, shown as it is
        return {"<not a template>"}


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_the_extraction_finds_the_code_s_texts(extracted):
    # A floor, so that a broken babel.cfg (nothing extracted) cannot pass the checks below vacuously.
    assert len(extracted) > 700
    assert (None, "Alerts") in extracted and (None, "Watch plan") in extracted  # Python, then a template


def test_every_msgid_has_a_french_translation(extracted, french):
    missing = [f"{where[0]}:{where[1]}: {msgid!r}" for (context, msgid), where in extracted.items()
               if french.get(msgid, context=context) is None
               or not all(french.get(msgid, context=context).string if isinstance(
                   french.get(msgid, context=context).string, tuple) else [french.get(msgid, context=context).string])]
    assert not missing, "no French text (make catalogue, then translate):\n" + "\n".join(missing)


def test_no_fuzzy_no_obsolete_and_no_unused_entry(extracted, french):
    assert not [m.id for m in french if m.id and m.fuzzy], "fuzzy entries are not shown: check and unmark them"
    assert not french.obsolete, "obsolete entries: run `make catalogue`"
    unused = [m.id for m in french if m.id and (m.context, m.id if isinstance(m.id, str) else m.id[0]) not in extracted]
    assert not unused, f"entries no code uses: {unused[:10]}"


def test_the_template_is_in_step_with_the_code(extracted):
    with (LOCALE / "messages.pot").open("rb") as handle:
        pot = read_po(handle)
    ids = {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in pot if m.id}
    assert ids == set(extracted), "messages.pot is stale: run `make catalogue`"


def test_placeholders_are_the_same_in_msgid_and_msgstr(french):
    wrong = []
    for message in french:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set().union(*(_fields(i) for i in ids))
        for text in strings:
            got = _fields(text)
            # A plural form may leave the count out ("un seul article"), never add or rename a placeholder.
            if got - expected or (expected - got - {"n"}):
                wrong.append(f"{ids[0]!r}: {sorted(expected)} vs {text!r}")
        if expected - {"<not a template>"} and "python-brace-format" not in message.flags:
            wrong.append(f"{ids[0]!r}: placeholders without the python-brace-format flag")
    assert not wrong, "\n".join(wrong)


def test_every_text_handed_to_the_catalogue_is_extractable(extracted):
    """A tx() call inside an f-string, or with a computed msgid, would be shown untranslated: Babel cannot see it."""
    hidden = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CALLS):
                continue
            index = CALLS[node.func.id]
            if len(node.args) <= index or not isinstance(node.args[index], ast.Constant):
                continue  # a msgid held in a variable (marked with N_ where it is written)
            context = None
            if node.func.id in ("tx_p", "tx_p_in", "NC_"):
                context = node.args[index - 1].value
            if (context, node.args[index].value) not in extracted:
                hidden.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.args[index].value!r}")
    assert not hidden, "\n".join(hidden)


def _is_text(node: ast.expr) -> bool:
    return isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(node.value, str)


def test_no_inline_french_english_pair_is_left():
    pairs = []
    for path in _sources():
        source = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                args = node.args[1:] if name == "tr_in" else node.args
                if name in ("tr", "tr_in", "say", "tx", "tx_in") and len(args) >= 2 and all(map(_is_text, args[:2])):
                    pairs.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        assert "def tr(" not in source and "def tr_in(" not in source, path
    for template in (ROOT / "watch" / "templates").glob("*.j2"):
        for number, line in enumerate(template.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\bt\(\s*\"[^\"]*\"\s*,", line):
                pairs.append(f"{template.relative_to(ROOT)}:{number}")
    assert not pairs, "inline pairs: move them to the catalogue (tools/codemod_catalogue.py)\n" + "\n".join(pairs)


def test_texts_are_read_in_the_asked_language():
    assert tx_in("fr", "Alerts") == "Alertes" and tx_in("en", "Alerts") == "Alerts"
    assert tx_in("fr", "{address}: added to the suppression list", address="a@b.fr") == \
        "a@b.fr : ajoutée à la liste de suppression"
    # French counts 0 and 1 in the singular, English only 1.
    assert [tx_n_in("fr", "{n} new item", "{n} new items", n) for n in (0, 1, 2)] == \
        ["0 nouvel article", "1 nouvel article", "2 nouveaux articles"]
    assert [tx_n_in("en", "{n} new item", "{n} new items", n) for n in (0, 1, 2)] == \
        ["0 new items", "1 new item", "2 new items"]
    # One English word, two French ones: the msgctxt tells them apart.
    assert tx_in("fr", "kind") == "genre" and tx_p_in("fr", "competitor", "kind") == "type"
    assert translations("fr") is translations("fr")  # read once, then cached
