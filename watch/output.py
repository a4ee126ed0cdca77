"""Rows out of the CLI as a table for people, or JSON, JSON lines and CSV for scripts.

Cells hold text from outside (titles, summaries, names): tables show it as plain text, CSV cells cannot start a
spreadsheet formula unless `--raw` asks for the stored values (watch.untrusted says why).
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from watch.display import header, value
from watch.i18n import tx, user_language
from watch.untrusted import json_safe, plain, spreadsheet_safe

FORMATS = ("table", "json", "jsonl", "csv")
_RAW = "veille.raw"  # where --raw is kept in the click context, for emit to read


def _remember_raw(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    ctx.meta[_RAW] = value
    return value


raw_option = click.option("--raw", is_flag=True, expose_value=False, callback=_remember_raw,
                          help=tx("With --format csv: cells exactly as stored, for another program (no quote "
                                 "before = + - @, control characters kept). Other formats ignore it."))


# A word longer than this (a URL, a path) may be folded: keeping it whole would crowd out every other column.
LONGEST_WHOLE_WORD = 24
_WIDE = "veille.wide"


def _remember_wide(ctx: click.Context, _param: click.Parameter, wide: bool) -> bool:
    ctx.meta[_WIDE] = wide
    return wide


# `--wide` travels in the click context rather than in every command's signature: emit() is where it matters.
wide_option = click.option("--wide", is_flag=True, expose_value=False, callback=_remember_wide,
                           help=tx("Table: every column, not fitted to the terminal's width."))


def format_option(command):
    """--format, with --raw for CSV read by a program rather than a spreadsheet and --wide for every column."""
    command = wide_option(raw_option(command))
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                        help="table | json | jsonl | csv")(command)


def emit(rows: Sequence[dict[str, Any]], fmt: str = "table", *, columns: Sequence[str] | None = None,
         table_columns: Sequence[str] | None = None, wide_columns: Sequence[str] | None = None,
         title: str | None = None, empty: str | None = None, out: TextIO | None = None,
         raw: bool | None = None) -> None:
    """Print rows; `columns` restricts machine formats, `table_columns` the (narrower) human table, `wide_columns`
    the table of `--wide`. In a table, headers and enumerated values are in the reader's language, and `empty`
    says why there is no row. `raw` (default: the command's --raw) writes CSV cells as stored.
    """
    out = out or sys.stdout
    if columns:
        rows = [{c: row.get(c) for c in columns} for row in rows]
    if fmt == "json":
        out.write(json_safe(json.dumps(list(rows), ensure_ascii=False, indent=2, default=str)) + "\n")
    elif fmt == "jsonl":
        for row in rows:
            out.write(json_safe(json.dumps(row, ensure_ascii=False, default=str)) + "\n")
    elif fmt == "csv":
        if raw is None:
            context = click.get_current_context(silent=True)
            raw = bool(context and context.meta.get(_RAW))
        names = list(columns or (rows[0].keys() if rows else []))
        writer = csv.DictWriter(out, fieldnames=names, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _text(v) if raw else _csv_cell(v) for k, v in row.items()})
    else:
        wide = _wide()
        narrow = list(table_columns or columns or (rows[0].keys() if rows else []))
        names = list(wide_columns or columns or (rows[0].keys() if rows else narrow)) if wide else narrow
        _table(rows, names, title, empty, out, wide)


def _wide() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().meta.get(_WIDE))


def _table(rows: Sequence[dict[str, Any]], names: list[str], title: str | None, empty: str | None, out: TextIO,
           wide: bool) -> None:
    lang = user_language()
    console = Console(file=out, soft_wrap=False)
    if not rows:
        if title:
            console.print(title, markup=False, highlight=False)
        console.print(empty or tx("(no rows)"), markup=False, highlight=False)
        return
    headers = [header(name, lang) for name in names]
    cells = [[value(name, plain(_text(row.get(name))), lang) for name in names] for row in rows]
    widths, hidden = _layout(headers, cells, None if wide else console.width)
    shown = [i for i in range(len(names)) if i not in hidden]
    table = Table(title=title, show_lines=False, expand=False)
    for i in shown:
        table.add_column(headers[i], width=widths[i], overflow="fold")
    for line in cells:
        table.add_row(*(Text(line[i]) for i in shown))
    if wide:
        console = Console(file=out, soft_wrap=False, width=sum(widths[i] for i in shown) + 3 * len(shown) + 1)
    console.print(table)
    hidden = {i for i in hidden if any(line[i] for line in cells)}  # an empty column hidden loses nothing
    if hidden:
        click.echo(tx("Columns hidden to fit {width} columns: {value}; --wide shows them.", width=console.width, value=', '.join((headers[i] for i in sorted(hidden)))), err=True)


def _layout(headers: list[str], cells: list[list[str]], width: int | None) -> tuple[list[int], set[int]]:
    """Column widths that keep every word whole (up to LONGEST_WHOLE_WORD letters) within `width`, and the columns
    left out when even that does not fit (the last ones: callers list columns by importance)."""
    count = len(headers)
    texts = [[headers[i]] + [line[i] for line in cells] for i in range(count)]
    longest_line = [max(len(part) for text in column for part in (text.splitlines() or [""])) for column in texts]
    if width is None:
        return longest_line, set()
    longest_word = [min(max((len(word) for text in column for word in re.split(r"\s+", text) if word), default=1),
                        LONGEST_WHOLE_WORD) for column in texts]
    widths = [max(1, word) for word in longest_word]
    hidden: set[int] = set()

    def room() -> int:  # rich's default box: a bar between columns and one space of padding each side
        kept = [i for i in range(count) if i not in hidden]
        return width - (3 * len(kept) + 1) - sum(widths[i] for i in kept)

    # Empty columns go first (nothing is lost), then the last ones.
    order = [i for i in reversed(range(count)) if not any(line[i] for line in cells)]
    order += [i for i in reversed(range(count)) if i not in order]
    while room() < 0 and len(hidden) < count - 1:
        hidden.add(order[len(hidden)])
    spare = room()
    # Whole cells on one line first for the columns that need little more; what is left goes to the long texts.
    for i in sorted((i for i in range(count) if i not in hidden), key=lambda i: longest_line[i] - widths[i]):
        grow = min(max(longest_line[i] - widths[i], 0), spare)
        widths[i] += grow
        spare -= grow
    return widths, hidden


def _cell(value: Any) -> Text:
    """A table cell: a Text, so that Rich reads no markup ([link=…], [/]) or emoji code in it."""
    return Text(plain(_text(value)))


def _csv_cell(value: Any) -> str:
    # A number stored as a number cannot carry a formula, and a spreadsheet should read -2.5 as a number: only
    # text is quoted, even text that looks like a number ("-2+3" is a formula).
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return str(value)
    return spreadsheet_safe(plain(_text(value)))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
