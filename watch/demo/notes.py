"""The demo's field notes: field-notes.csv (the documented CSV layout of `veille import`) with dates moved to now.

The shipped file keeps fixed dates, as a real export would; the demo imports a copy in which every date is moved
by the same number of days so that the newest note is yesterday's, like the rest of the demo sector (dated
relative to the day it runs). Line numbers are those of the shipped file.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

FIELD_NOTES = Path(__file__).with_name("field-notes.csv")


def dated_field_notes(folder: Path, today: date | None = None) -> Path:
    """Write the dated copy into `folder` (beside the database) and return its path."""
    rows = list(csv.reader(io.StringIO(FIELD_NOTES.read_text(encoding="utf-8"), newline="")))
    header, notes = rows[0], rows[1:]
    column = header.index("date")
    newest = max(date.fromisoformat(row[column]) for row in notes)
    shift = ((today or date.today()) - timedelta(days=1)) - newest
    for row in notes:
        row[column] = (date.fromisoformat(row[column]) + shift).isoformat()
    target = Path(folder) / "demo-field-notes.csv"
    with target.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, lineterminator="\n").writerows([header, *notes])
    return target
