"""Rows out of the CLI as a table for people, or JSON, JSON lines and CSV for scripts.

Cells hold text from outside (titles, summaries, names): tables show it as plain text, CSV cells cannot start a
spreadsheet formula unless `--raw` asks for the stored values (watch.untrusted says why).
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from watch.untrusted import json_safe, plain, spreadsheet_safe

FORMATS = ("table", "json", "jsonl", "csv")
_RAW = "veille.raw"  # where --raw is kept in the click context, for emit to read


def _remember_raw(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    ctx.meta[_RAW] = value
    return value


raw_option = click.option("--raw", is_flag=True, expose_value=False, callback=_remember_raw,
                          help="With --format csv: cells exactly as stored, for another program (no quote before "
                               "= + - @, control characters kept). Other formats ignore it.")


def format_option(command):
    """--format, and --raw for CSV read by a program rather than a spreadsheet."""
    command = raw_option(command)
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                        help="table | json | jsonl | csv")(command)


def emit(rows: Sequence[dict[str, Any]], fmt: str = "table", *, columns: Sequence[str] | None = None,
         table_columns: Sequence[str] | None = None, title: str | None = None, out: TextIO | None = None,
         raw: bool | None = None) -> None:
    """Print rows; `columns` restricts machine formats, `table_columns` the (narrower) human table.

    `raw` (default: the command's --raw) writes CSV cells as stored.
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
        names = list(table_columns or columns or (rows[0].keys() if rows else []))
        table = Table(title=title, show_lines=False, expand=False)
        for name in names:
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(*(_cell(row.get(name)) for name in names))
        Console(file=out, soft_wrap=False).print(table)


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
