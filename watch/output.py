"""Rows out of the CLI as a table for people, or JSON, JSON lines and CSV for scripts."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import click
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "json", "jsonl", "csv")
format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                             help="table | json | jsonl | csv")


def emit(rows: Sequence[dict[str, Any]], fmt: str = "table", *, columns: Sequence[str] | None = None,
         table_columns: Sequence[str] | None = None, title: str | None = None, out: TextIO | None = None) -> None:
    """Print rows; `columns` restricts machine formats, `table_columns` the (narrower) human table."""
    out = out or sys.stdout
    if columns:
        rows = [{c: row.get(c) for c in columns} for row in rows]
    if fmt == "json":
        json.dump(list(rows), out, ensure_ascii=False, indent=2, default=str)
        out.write("\n")
    elif fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    elif fmt == "csv":
        names = list(columns or (rows[0].keys() if rows else []))
        writer = csv.DictWriter(out, fieldnames=names, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    else:
        names = list(table_columns or columns or (rows[0].keys() if rows else []))
        table = Table(title=title, show_lines=False, expand=False)
        for name in names:
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(*(_cell(row.get(name)) for name in names))
        Console(file=out, soft_wrap=False).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
