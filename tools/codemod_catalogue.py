"""Rewrite inline French/English pairs into catalogue calls, and write the catalogue they need.

    python tools/codemod_catalogue.py [--check] [PATHS...]   (default: watch digests nlp spiders)

`tr("texte", "text")` becomes `tx("text")`, `tr_in(lang, fr, en)` becomes `tx_in(lang, en)`, and f-strings become
templates with named placeholders: `tr(f"{n} articles de {src}", f"{n} items from {src}")` becomes
`tx("{n} items from {src}", n=n, src=src)`, whose French msgstr is `"{n} articles de {src}"`. An English text given two
French ones gets a msgctxt (`t_p`). The French side of every rewritten pair is added to (or updated in)
watch/locale/fr/LC_MESSAGES/messages.po; the .pot is then regenerated with Babel's extractor, as `pybabel extract`
does. A call the codemod cannot rewrite safely (a non-literal argument, placeholders that differ between the two
languages) is left as it is and listed, for a person to convert.

Re-runnable: a file with no pair left is not touched, and entries already in the .po are kept.
"""

from __future__ import annotations

import argparse
import ast
import keyword
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from babel.messages.catalog import Catalog  # noqa: E402
from babel.messages.pofile import read_po, write_po  # noqa: E402

PO = ROOT / "watch" / "locale" / "fr" / "LC_MESSAGES" / "messages.po"
POT = ROOT / "watch" / "locale" / "messages.pot"
RESERVED = {"message", "lang", "context", "singular", "plural", "n"}
WIDTH = 118


class Unsafe(Exception):
    """A call left for a person: the reason is printed."""


def _name_for(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            return node.slice.value
        return _name_for(node.value)
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name) and node.func.id == "len" and node.args:
            return "n_" + _name_for(node.args[0])
        if isinstance(node.func, ast.Attribute) and node.func.attr in {"join", "get", "strip", "lower", "upper"}:
            target = node.func.value if node.func.attr != "join" else (node.args[0] if node.args else node.func.value)
            return _name_for(target)
        return _name_for(node.func)
    if isinstance(node, ast.BinOp):
        return _name_for(node.left)
    if isinstance(node, ast.IfExp):
        return _name_for(node.body)
    return "value"


def _clean(name: str) -> str:
    name = re.sub(r"\W+", "_", name).strip("_").lower() or "value"
    if name[0].isdigit() or keyword.iskeyword(name) or name in RESERVED:
        name += "_"
    return name


def _template(node: ast.expr, names: dict[str, str]) -> tuple[str, list[str]]:
    """The template of one side and the expressions (as source) its placeholders stand for."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, []
    if not isinstance(node, ast.JoinedStr):
        raise Unsafe("argument is not a string literal")
    parts, exprs = [], []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(value.value.replace("{", "{{").replace("}", "}}"))
            continue
        source = ast.unparse(value.value)
        if source not in names:
            base = _clean(_name_for(value.value))
            name, k = base, 2
            while name in names.values():
                name, k = f"{base}{k}", k + 1
            names[source] = name
        field = names[source]
        if value.conversion != -1:
            field += "!" + chr(value.conversion)
        if value.format_spec is not None:
            spec = value.format_spec
            if not all(isinstance(v, ast.Constant) for v in spec.values):
                raise Unsafe("nested placeholder in a format spec")
            field += ":" + "".join(v.value for v in spec.values)
        parts.append("{" + field + "}")
        exprs.append(source)
    return "".join(parts), exprs


def _literal(text: str, indent: int) -> str:
    """A Python string literal, split into implicitly joined pieces when long."""
    single = repr_double(text)
    if len(single) + indent <= WIDTH:
        return single
    pieces, current = [], ""
    for word in re.split(r"(?<= )", text):
        if current and len(repr_double(current + word)) + indent > WIDTH - 4:
            pieces.append(current)
            current = ""
        current += word
    if current:
        pieces.append(current)
    return ("\n" + " " * indent).join(repr_double(p) for p in pieces)


def repr_double(text: str) -> str:
    body = repr(text)
    if body.startswith("'") and '"' not in text:
        body = '"' + body[1:-1].replace("\\'", "'") + '"'
    return body


def plan_file(path: Path):
    src = path.read_text(encoding="utf-8")
    tree = ast.parse(src)
    found, left = [], []
    # A pair written inside an f-string's placeholder must use the other quote, on one line (Python < 3.12).
    quote_of: dict[int, str] = {}
    for outer in ast.walk(tree):
        if isinstance(outer, ast.JoinedStr):
            opening = ast.get_source_segment(src, outer).lstrip("rRfFbBuU")[:1]
            for inner in ast.walk(outer):
                if inner is not outer:
                    quote_of.setdefault(id(inner), opening)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        # `say(fr, en)`: the language-bound helper of the plan and the audit (`say(message, **values)` after).
        said = (isinstance(node.func, ast.Name) and node.func.id == "say"
                or isinstance(node.func, ast.Attribute) and node.func.attr == "say") and len(node.args) == 2
        if not (said or isinstance(node.func, ast.Name) and node.func.id in {"tr", "tr_in"}):
            continue
        explicit = not said and node.func.id == "tr_in"
        args = node.args[1:] if explicit else node.args
        if len(args) != 2 or node.keywords:
            left.append((node.lineno, "unexpected arguments"))
            continue
        names: dict[str, str] = {}
        try:
            fr, fr_exprs = _template(args[0], names)
            en, en_exprs = _template(args[1], names)
        except Unsafe as exc:
            left.append((node.lineno, str(exc)))
            continue
        if set(fr_exprs) != set(en_exprs):
            left.append((node.lineno, "the two languages use different placeholders"))
            continue
        lang = ast.get_source_segment(src, node.args[0]) if explicit else None
        kwargs = [(names[e], e) for e in dict.fromkeys(en_exprs)]
        quote = quote_of.get(id(node))
        if quote and (("'" if quote == '"' else '"') in en or "\\" in en or "\n" in en
                      or any(quote in e or "\\" in e for e in en_exprs)):
            left.append((node.lineno, "inside an f-string, with a quote of its own"))
            continue
        found.append({"node": node, "quote": quote, "say": ast.get_source_segment(src, node.func) if said else None, "fr": fr, "en": en, "lang": lang, "kwargs": kwargs, "placeholders": bool(en_exprs)})
    return src, found, left


def offsets(src: str) -> list[int]:
    starts, total = [0], 0
    for line in src.splitlines(keepends=True):
        total += len(line)
        starts.append(total)
    return starts


def render(call: dict, context: str | None, column: int) -> str:
    func = "tx_in" if call["lang"] else "tx"
    if context:
        func = "tx_p_in" if call["lang"] else "tx_p"
    head = f"{call['say']}(" if call["say"] else f"{func}("
    lead = []
    if call["lang"]:
        lead.append(call["lang"])
    if context:
        lead.append(repr(context) if call["quote"] == '"' else repr_double(context))
    prefix = head + "".join(f"{a}, " for a in lead)
    if call["quote"]:
        other = "'" if call["quote"] == '"' else '"'
        text = other + call["en"] + other
    else:
        text = _literal(call["en"], column + len(prefix))
    kwargs = "".join(f", {name}={expr}" for name, expr in call["kwargs"])
    return prefix + text + kwargs + ")"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["watch", "digests", "nlp", "spiders"])
    parser.add_argument("--check", action="store_true", help="only list what would change")
    options = parser.parse_args(argv)
    files = sorted(p for arg in options.paths for p in ([Path(arg)] if Path(arg).is_file() else Path(arg).rglob("*.py")))
    plans = {}
    for path in files:
        src, found, left = plan_file(path)
        for line, why in left:
            print(f"{path}:{line}: left as it is: {why}")
        if found:
            plans[path] = (src, found)
    catalog = read_po(PO.open("rb"), locale="fr") if PO.exists() else Catalog(locale="fr", project="veille")
    # The gettext rule for French (0 and 1 singular), not CLDR's three forms that no French reader distinguishes.
    catalog.fuzzy, catalog.project, catalog.version = False, "veille", ""
    catalog._num_plurals, catalog._plural_expr = 2, "(n > 1)"
    # An English text with two French translations needs a msgctxt for each variant but the first one seen.
    french: dict[str, set[str]] = {}
    for message in catalog:
        if message.id and not message.context:
            french.setdefault(message.id, set()).add(message.string)
    for _, found in plans.values():
        for call in found:
            french.setdefault(call["en"], set()).add(call["fr"])
    print(f"{sum(len(f) for _, f in plans.values())} pairs in {len(plans)} files")
    if options.check:
        return 0
    for path, (src, found) in plans.items():
        starts = offsets(src)
        module = path.stem
        edits = []
        for call in found:
            node = call["node"]
            context = None
            if len(french[call["en"]]) > 1 and call["say"]:
                existing = catalog.get(call["en"])
                first = existing.string if existing is not None else sorted(
                    c["fr"] for _, f in plans.values() for c in f if c["en"] == call["en"])[0]
                if first != call["fr"]:
                    print(f"{path}:{node.lineno}: left as it is: say() of an English text with two French ones")
                    continue
            if len(french[call["en"]]) > 1 and not call["say"]:
                existing = catalog.get(call["en"])
                if existing is None or existing.string != call["fr"]:
                    context = module
                    k = 2
                    while (catalog.get(call["en"], context=context) is not None
                           and catalog.get(call["en"], context=context).string != call["fr"]):
                        context, k = f"{module}-{k}", k + 1
            if context is None and catalog.get(call["en"]) is None:
                catalog.add(call["en"], call["fr"], flags=["python-brace-format"] if call["placeholders"] else [])
            elif context is not None and catalog.get(call["en"], context=context) is None:
                catalog.add(call["en"], call["fr"], context=context,
                            flags=["python-brace-format"] if call["placeholders"] else [])
            begin = starts[node.lineno - 1] + _char_col(src, node.lineno, node.col_offset)
            end = starts[node.end_lineno - 1] + _char_col(src, node.end_lineno, node.end_col_offset)
            edits.append((begin, end, render(call, context, _char_col(src, node.lineno, node.col_offset))))
        # A pair inside another pair's placeholder waits for the next run (its text moves into a keyword).
        edits.sort()
        outer = [e for e in edits if not any(o[0] <= e[0] and e[1] <= o[1] and o != e for o in edits)]
        for begin, end, text in sorted(outer, reverse=True):
            src = src[:begin] + text + src[end:]
        src = fix_imports(src)
        path.write_text(src, encoding="utf-8")
    convert_templates(catalog)
    for path in files:
        convert_counted(path, catalog)
    PO.parent.mkdir(parents=True, exist_ok=True)
    with PO.open("wb") as handle:
        write_po(handle, catalog, width=WIDTH, sort_output=True, omit_header=False)
    return 0


def convert_counted(path: Path, catalog: Catalog) -> None:
    """`counted(n, "article", "articles", "item", "items")`, a plural chosen by hand, becomes
    `tx_n("{n} item", "{n} items", n)`: the catalogue's plural rule chooses (French: 0 and 1 singular)."""
    src = path.read_text(encoding="utf-8")
    edits = []
    for node in ast.walk(ast.parse(src)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "counted"
                and len(node.args) == 5 and all(isinstance(a, ast.Constant) and isinstance(a.value, str)
                                                for a in node.args[1:])):
            continue
        fr_one, fr_many, en_one, en_many = (f"{{n}} {a.value}" for a in node.args[1:])
        existing = catalog.get(en_one)
        if existing is not None and tuple(existing.string) != (fr_one, fr_many):
            print(f"{path}:{node.lineno}: left as it is: {en_one!r} has two French texts")
            continue
        if existing is None:
            catalog.add((en_one, en_many), (fr_one, fr_many), flags=["python-brace-format"])
        number = ast.get_source_segment(src, node.args[0])
        begin = _offset(src, node.lineno, node.col_offset)
        end = _offset(src, node.end_lineno, node.end_col_offset)
        edits.append((begin, end, f"tx_n({repr_double(en_one)}, {repr_double(en_many)}, {number})"))
    if not edits:
        return
    for begin, end, text in sorted(edits, reverse=True):
        src = src[:begin] + text + src[end:]
    path.write_text(fix_imports(src), encoding="utf-8")
    print(f"{path}: {len(edits)} counted() rewritten")


def _offset(src: str, lineno: int, byte_col: int) -> int:
    return offsets(src)[lineno - 1] + _char_col(src, lineno, byte_col)


PAIR = re.compile(r'\bt\(\s*("(?:[^"\\]|\\.)*")\s*,\s*("(?:[^"\\]|\\.)*")\s*\)')
TEMPLATES = ("watch/templates",)


def convert_templates(catalog: Catalog) -> None:
    """`t("texte", "text")` in the plan's Jinja templates becomes `_("text")` (jinja2.ext.i18n, gettext-style)."""
    for folder in TEMPLATES:
        for path in sorted((ROOT / folder).glob("*.j2")):
            src = path.read_text(encoding="utf-8")

            def swap(match: re.Match) -> str:
                fr, en = ast.literal_eval(match.group(1)), ast.literal_eval(match.group(2))
                existing = catalog.get(en)
                if existing is not None and existing.string != fr:
                    print(f"{path}: left as it is: {en!r} has two French texts")
                    return match.group(0)
                if existing is None:
                    catalog.add(en, fr)
                return f"_({match.group(2)})"

            new = PAIR.sub(swap, src)
            if new != src:
                path.write_text(new, encoding="utf-8")
                print(f"{path}: rewritten")


def _char_col(src: str, lineno: int, byte_col: int) -> int:
    line = src.splitlines(keepends=True)[lineno - 1]
    return len(line.encode("utf-8")[:byte_col].decode("utf-8"))


def fix_imports(src: str) -> str:
    """`from watch.i18n import tr, ...` names what the file now calls."""
    tree = ast.parse(src)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "watch.i18n":
            old = ast.get_source_segment(src, node)
            names = [a.name for a in node.names if a.name in used]
            names += [n for n in ("tx", "tx_in", "tx_p", "tx_p_in", "tx_n", "tx_n_in") if n in used and n not in names]
            names = sorted(set(names), key=lambda n: (n != "tx", n))
            new = f"from watch.i18n import {', '.join(names)}" if names else ""
            src = src.replace(old, new, 1)
    return src


if __name__ == "__main__":
    raise SystemExit(main())
