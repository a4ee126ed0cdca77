"""Offline sources: field notes from trade shows, customer visits, sales reports and print magazines.

People enter them, one with `veille add` (`record_note`) or many from a spreadsheet with `veille import FILE.csv`
(`import_notes`). Both become items of origin `offline` through `Store.ingest`, with their provenance: who entered
them, when (the item's fetched_at), from `veille add` or which file and line, and an optional attachment copied
next to the database. Field notes can name people: each offline source has a retention period (`expire`), and
`erase` deletes items on request, search index included.

CSV layout (header row required, columns in any order, `,` `;` or tab as separator, UTF-8):
    date, source, author, text            required
    title, themes, competitor, lang, ref, attachment    optional
French headers are accepted too (auteur, texte, titre, thèmes, concurrent, langue, réf, pièce jointe).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import io
import re
import shutil
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from watch.errors import UsageError
from watch.i18n import tx, tx_p
from watch.models import Entry, content_hash, utcnow
from watch.untrusted import shorten

if TYPE_CHECKING:
    from watch.config import Config, Source
    from watch.store import Store

REQUIRED = ("date", "source", "author", "text")
OPTIONAL = ("title", "themes", "competitor", "lang", "ref", "attachment")
# Headers as people write them (accents, case, spaces and underscores ignored) -> column.
ALIASES = {"auteur": "author", "texte": "text", "note": "text", "titre": "title", "theme": "themes",
           "concurrent": "competitor", "langue": "lang", "language": "lang", "reference": "ref",
           "piece jointe": "attachment", "fichier": "attachment", "observation": "text", "observateur": "author"}
LOCAL_TIME = ZoneInfo("Europe/Paris")  # a time typed without a zone is the French users' local time
MAX_TEXT = 50_000
MAX_CELL = 131_072  # characters in any CSV cell (the csv module's own default limit); the text is held to MAX_TEXT
MAX_ATTACHMENT = 20_000_000
MAX_PROBLEM = 400  # characters of a row's problem in the report
SHOWN_COLUMNS = 5  # unknown columns named in the message
ATTACHMENTS = "attachments"  # folder beside the database


@dataclass(frozen=True)
class FieldNote:
    """One observation as a person reported it, checked against the configuration."""

    source: str
    text: str
    author: str
    date: datetime
    title: str = ""
    themes: tuple[str, ...] = ()
    competitor: str | None = None
    lang: str | None = None
    ref: str | None = None
    attachment: Path | None = None


@dataclass
class NoteResult:
    line: int | None
    status: str  # new | updated | unchanged | duplicate | bad
    item: int | None = None
    title: str = ""
    problem: str = ""


@dataclass
class ImportReport:
    file: Path
    rows: list[NoteResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    @property
    def bad(self) -> list[NoteResult]:
        return [row for row in self.rows if row.status == "bad"]


class NoteError(ValueError):
    """A field note that cannot be recorded; the message says why and how to fix it."""


# -- checking a note ----------------------------------------------------------------------------------------


def check_note(config: Config, values: dict[str, Any], now: datetime | None = None, base: Path | None = None) -> FieldNote:
    """A FieldNote from raw values (CLI options or a CSV row); NoteError says what is wrong."""
    now = now or utcnow()
    source = _offline_source(config, (values.get("source") or "").strip())
    text = (values.get("text") or "").strip()
    if not text:
        raise NoteError(tx("empty text: a field note needs a text"))
    if len(text) > MAX_TEXT:
        raise NoteError(tx("text too long ({n_text} characters, at most {max_text})", n_text=len(text), max_text=MAX_TEXT))
    author = " ".join((values.get("author") or "").split())
    if not author:
        raise NoteError(tx("author missing: who made the observation?"))
    date = parse_date(values.get("date"), now)
    retention = source.offline_options.retention_days
    if retention and date < now - timedelta(days=retention):
        raise NoteError(tx("note of {date} older than the retention period of {id} ({retention} days): not imported", date=date.date(), id=source.id, retention=retention))
    themes = tuple(_known(t, [th.id for th in config.themes], tx("unknown theme"))
                   for t in _split_list(values.get("themes")))
    competitor = (values.get("competitor") or "").strip() or None
    if competitor:
        competitor = _known(competitor, [c.id for c in config.competitors], tx("unknown competitor"))
    lang = (values.get("lang") or "").strip().lower() or None
    if lang and not re.fullmatch(r"[a-z]{2}", lang):
        raise NoteError(tx("language {lang_!r} unreadable: two letters, fr or en", lang_=lang))
    attachment = None
    if values.get("attachment"):
        attachment = Path(str(values["attachment"]).strip()).expanduser()
        if base is not None and not attachment.is_absolute():
            attachment = base / attachment
        if not attachment.is_file():
            raise NoteError(tx("attachment not found: {attachment}", attachment=attachment))
        if attachment.stat().st_size > MAX_ATTACHMENT:
            raise NoteError(tx("attachment too large (over {max_attachment} MB): {attachment}", max_attachment=MAX_ATTACHMENT // 1000000, attachment=attachment))
    return FieldNote(source=source.id, text=text, author=author, date=date,
                     title=" ".join((values.get("title") or "").split()), themes=themes, competitor=competitor,
                     lang=lang, ref=(values.get("ref") or "").strip() or None, attachment=attachment)


def _offline_source(config: Config, source_id: str) -> Source:
    offline = [s for s in config.sources if s.kind == "offline"]
    if not source_id and len(offline) == 1:
        return offline[0]
    for source in config.sources:
        if source.id == source_id:
            if source.kind != "offline":
                raise NoteError(tx(
                    "source {source_id!r} is a {kind} source; field notes go to a `kind: offline` source ({offline})",
                    source_id=source_id, kind=source.kind,
                    offline=", ".join(s.id for s in offline) or tx_p("offline source", "none declared")))
            return source
    if not offline:
        raise NoteError(tx("no `kind: offline` source in the configuration: declare one in sources.yaml, for "
                          "example `- {id: trade-shows, name: Trade shows, kind: offline, type: field}`"))
    if not source_id:
        raise NoteError(tx("source missing: one of {value}", value=', '.join((s.id for s in offline))))
    return config.source(_known(source_id, [s.id for s in offline], tx("unknown source")))


def _known(value: str, known: list[str], what: str) -> str:
    value = value.strip()
    if value in known:
        return value
    close = difflib.get_close_matches(value, known, n=1)
    hint = (tx("did you mean {close!r}?", close=close[0]) if close else
            (tx("declared: {known}", known=", ".join(known)) if known else tx("declared: none")))
    raise NoteError(f"{what} {value!r} ({hint})")


def _split_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in re.split(r"[;,|]", str(value)) if part.strip()]


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S",
                 "%Y-%m-%d %H:%M:%S", "%d.%m.%Y")


def parse_date(value: Any, now: datetime | None = None) -> datetime:
    """2026-03-12, 12/03/2026 or with a time (Paris time unless a zone is given); never in the future."""
    now = now or utcnow()
    text = str(value or "").strip()
    if not text:
        raise NoteError(tx("date missing (YYYY-MM-DD or DD/MM/YYYY)"))
    when = None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                when = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if when is None:
        raise NoteError(tx("date {text!r} unreadable: write 2026-03-12 or 12/03/2026", text=text))
    if when.tzinfo is None:
        # A day alone is kept as that day (midnight UTC); a time is the users' local time.
        when = when.replace(tzinfo=timezone.utc) if len(text) <= 10 else when.replace(tzinfo=LOCAL_TIME)
    when = when.astimezone(timezone.utc)
    if when > now + timedelta(hours=1):
        raise NoteError(tx("date {text!r} is in the future", text=text))
    return min(when, now)


# -- recording ----------------------------------------------------------------------------------------------


def record_note(config: Config, store: Store, note: FieldNote, entered_by: str) -> NoteResult:
    """Store one field note entered by hand (`veille add`)."""
    return _store_notes(config, store, [(None, note)], entered_by, "veille add")[0]


def import_notes(config: Config, store: Store, path: str | Path, entered_by: str, encoding: str = "utf-8") -> ImportReport:
    """Load a CSV of field notes: bad rows are reported with their line and the valid rows are kept.

    A file that cannot be read as a whole (encoding, missing or unknown columns) raises UsageError and
    nothing is imported.
    """
    file = Path(path)
    rows = read_csv(file, encoding)
    report = ImportReport(file)
    now = utcnow()
    notes: list[tuple[int, FieldNote]] = []
    for line, values in rows:
        if isinstance(values, str):
            report.rows.append(NoteResult(line, "bad", problem=values))
            continue
        try:
            notes.append((line, check_note(config, values, now, base=file.resolve().parent)))
        except NoteError as exc:  # which may quote a whole cell
            report.rows.append(NoteResult(line, "bad", problem=shorten(str(exc), MAX_PROBLEM)))
    report.rows.extend(_store_notes(config, store, notes, entered_by, str(file.resolve())))
    report.rows.sort(key=lambda r: r.line or 0)
    return report


def _store_notes(config: Config, store: Store, notes: list[tuple[int | None, FieldNote]], entered_by: str,
                 origin_file: str) -> list[NoteResult]:
    """Ingest notes (grouped by source: one ingest per source) and say what became of each."""
    prepared: list[tuple[int | None, str, str, Entry]] = []
    first_line: dict[str, int | None] = {}
    results: list[NoteResult] = []
    for line, note in notes:
        guid = f"ref:{note.ref}" if note.ref else "note:" + content_hash(note.date.date().isoformat(), note.author, note.text)
        canonical = f"urn:veille:offline:{note.source}:{guid}"
        title = note.title or _title_from(note.text)
        if canonical in first_line:
            results.append(NoteResult(line, "duplicate", title=title, problem=tx("same note as line {first_line}", first_line=first_line[canonical])))
            continue
        first_line[canonical] = line
        source = config.source(note.source)
        entry = Entry(url=None, title=title, text=note.text, guid=guid, author=note.author,
                      lang=note.lang or source.language, published=note.date, canonical=canonical,
                      competitor=note.competitor, themes=note.themes, entered_by=entered_by,
                      entered_from=f"{origin_file}:{line}" if line else origin_file,
                      attachment=_keep_attachment(store, note.attachment) if note.attachment else "")
        prepared.append((line, canonical, note.source, entry))
    before = store.item_hashes(c for _, c, _, _ in prepared)
    by_source: dict[str, list[Entry]] = {}
    for _, _, source_id, entry in prepared:
        by_source.setdefault(source_id, []).append(entry)
    for source_id, entries in by_source.items():
        store.ingest(source_id, entries, "offline", utcnow(), config.source(source_id).language)
    after = store.item_hashes(c for _, c, _, _ in prepared)
    for line, canonical, _, entry in prepared:
        item, digest = after.get(canonical, (None, None))
        if canonical not in before:
            status = "new"
        else:
            status = "updated" if before[canonical][1] != digest else "unchanged"
        results.append(NoteResult(line, status, item, entry.title))
    return results


def _title_from(text: str) -> str:
    first = re.split(r"(?<=[.!?])\s", " ".join(text.split()), maxsplit=1)[0]
    return first if len(first) <= 100 else first[:99].rsplit(" ", 1)[0] + "…"


def _keep_attachment(store: Store, path: Path) -> str:
    """Copy an attachment beside the database (content-addressed); return its path relative to the database."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    safe = re.sub(r"[^\w.-]+", "_", unicodedata.normalize("NFKD", path.name).encode("ascii", "ignore").decode()) or "piece"
    relative = Path(ATTACHMENTS) / digest / safe
    target = store.path.parent / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return relative.as_posix()


# -- reading a CSV ------------------------------------------------------------------------------------------


def read_csv(file: Path, encoding: str = "utf-8") -> list[tuple[int, dict[str, str] | str]]:
    """(line, values by column) for each data row, or (line, problem) for a row that cannot be read.

    Raises UsageError for problems of the whole file: unreadable, wrong encoding, wrong columns. A bad row never
    stops the reading: every row after it is read.
    """
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise UsageError(tx("{file}: cannot read it ({strerror})", file=file, strerror=exc.strerror)) from None
    text = _decode(file, raw, encoding)
    if not text.strip():
        raise UsageError(tx("{file}: empty file", file=file))
    header_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = max(",;\t", key=header_line.count)
    # No field can be longer than the file: with this limit the parser never stops inside a field (after which it
    # would resume mid-row and misread what follows); a cell over MAX_CELL is refused below, row by row.
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        return _rows(file, text, delimiter)
    finally:
        csv.field_size_limit(limit)


def _rows(file: Path, text: str, delimiter: str) -> list[tuple[int, dict[str, str] | str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader)
    columns = _columns(file, header)
    rows: list[tuple[int, dict[str, str] | str]] = []
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # the reader starts afresh on the next line
            rows.append((line, tx("unreadable CSV line: {exc}", exc=exc)))
            continue
        if not any(cell.strip() for cell in cells):
            continue
        while len(cells) > len(columns) and not cells[-1].strip():
            cells.pop()  # trailing separators, as spreadsheets write them
        if len(cells) != len(columns):
            rows.append((line, tx("{n_cells} fields instead of {n_columns} (separator {delimiter!r}; quotes "
                                 "around a text that contains the separator?)", n_cells=len(cells), n_columns=len(columns), delimiter=delimiter)))
            continue
        huge = [(column, len(cell)) for column, cell in zip(columns, cells) if len(cell) > MAX_CELL]
        if huge:
            column, size = huge[0]
            rows.append((line, tx("{column} cell of {size} characters (at most {max_cell}): row skipped", column=column, size=size, max_cell=MAX_CELL)))
            continue
        rows.append((line, dict(zip(columns, cells))))
    return rows


# Byte order marks, UTF-32 first: its little-endian mark begins with UTF-16's.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def _decode(file: Path, raw: bytes, encoding: str) -> str:
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise UsageError(tx("unknown encoding {encoding!r}", encoding=encoding)) from None
    wide = codec.startswith(("utf-16", "utf-32"))
    bom = next((name for mark, name in _BOMS if raw.startswith(mark)), None)
    if bom and not wide:
        raise UsageError(tx("{file}: the file is {bom} (it starts with the byte order mark {hex}); read it with "
                           "--encoding {bom2}", file=file, bom=bom.upper(), hex=raw[:4 if bom == 'utf-32' else 2].hex(' ').upper(), bom2=bom))
    sample = raw[:4096]
    if sample and not bom and not wide and sample.count(0) * 4 >= len(sample):
        # UTF-16 without a mark: every other byte of Latin text is NUL, the odd ones when little-endian.
        guess = "utf-16-le" if sample[1::2].count(0) >= sample[0::2].count(0) else "utf-16-be"
        raise UsageError(tx("{file}: NUL bytes between the letters, the file looks like UTF-16 without a byte "
                           'order mark; read it with --encoding {guess}, or save it as "CSV UTF-8" from the '
                           "spreadsheet", file=file, guess=guess))
    try:
        text = raw.decode("utf-8-sig" if codec == "utf-8" else encoding)
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise UsageError(tx('{file}:{line}: the file is not {encoding} (byte 0x{raw:02x}); save it as "CSV UTF-8" '
                           "from the spreadsheet, or give its encoding: --encoding cp1252", file=file, line=line, encoding=encoding, raw=raw[exc.start])) from None
    return text.removeprefix("\ufeff")  # utf-16-le and -be keep the mark as a character


def _columns(file: Path, header: list[str]) -> list[str]:
    known = REQUIRED + OPTIONAL
    columns, unknown = [], []
    for name in header:
        folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().strip().lower()
        folded = re.sub(r"[\s_-]+", " ", folded)
        column = folded if folded in known else ALIASES.get(folded, ALIASES.get(folded.rstrip("s"), folded.rstrip("s")))
        if column not in known:
            unknown.append((name, folded))
        columns.append(column)
    layout = tx("expected columns: {required} (required), {optional} (optional)", required=', '.join(REQUIRED), optional=', '.join(OPTIONAL))
    problems = []
    if unknown:
        # A few are enough to see the mistake (a 10,000-column header would make a message of 89 KB).
        shown = [_unknown_column(name, folded, list(known) + list(ALIASES)) for name, folded in unknown[:SHOWN_COLUMNS]]
        if len(unknown) > SHOWN_COLUMNS:
            shown.append(tx("and {n_unknown} more", n_unknown=len(unknown) - SHOWN_COLUMNS))
        problems.append(tx("unknown column(s) {shown}", shown=', '.join(shown)))
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        problems.append(tx("required column(s) missing: {missing}", missing=', '.join(missing)))
    counts = Counter(columns)
    repeated = sorted(c for c in known if counts[c] > 1)
    if repeated:
        problems.append(tx("duplicate column(s): {repeated}", repeated=', '.join(repeated)))
    if problems:
        raise UsageError(f"{file}:1: " + " ; ".join(problems) + f" ({layout}) " +
                         tx("— nothing was imported"))
    return columns


def _unknown_column(name: str, folded: str, names: list[str]) -> str:
    close = difflib.get_close_matches(folded, names, n=1)
    shown = repr(name if len(name) <= 40 else name[:39] + "…")
    return shown + (tx(" (did you mean {aliases!r}?)", aliases=ALIASES.get(close[0], close[0])) if close else "")


# -- deleting -----------------------------------------------------------------------------------------------


def erase(store: Store, *, ids: Iterable[int] = (), source: str | None = None, author: str | None = None,
          date_from: datetime | None = None, date_to: datetime | None = None, search: str | None = None,
          origin: str | None = None, dry_run: bool = False) -> list[dict[str, Any]]:
    """Delete the items every given criterion matches (an erasure request); return them.

    At least one criterion is required: an erasure never empties the database by accident.
    """
    ids = list(ids)
    if not (ids or source or author or date_from or date_to or search or origin):
        raise UsageError(tx("say what to delete: --id, --source, --author, --from/--to or --search"))
    rows = store.items_matching(ids=ids, source=source, author=author, published_from=date_from,
                                published_to=date_to, search=search, origin=origin)
    if ids:
        missing = sorted(set(ids) - {row["id"] for row in rows})
        if missing and not (source or author or date_from or date_to or search or origin):
            raise UsageError(tx("unknown item(s): {map}; nothing was deleted", map=', '.join(map(str, missing))))
    if not dry_run and rows:
        _delete(store, rows)
    return rows


def expire(config: Config, store: Store, source_ids: Iterable[str] | None = None, now: datetime | None = None,
           dry_run: bool = False) -> list[dict[str, Any]]:
    """Delete field notes older than their source's retention period (counted from the observation date)."""
    now = now or utcnow()
    wanted = set(source_ids) if source_ids is not None else None
    rows: list[dict[str, Any]] = []
    for source in config.sources:
        retention = source.offline_options.retention_days if source.kind == "offline" else None
        if retention and (wanted is None or source.id in wanted):
            rows += store.items_matching(source=source.id, origin="offline",
                                         published_to=now - timedelta(days=retention))
    if not dry_run and rows:
        _delete(store, rows)
    return rows


def _delete(store: Store, rows: list[dict[str, Any]]) -> None:
    store.delete_items(row["id"] for row in rows)
    attachments = {row["attachment"] for row in rows if row.get("attachment")}
    for relative in attachments - store.attachments_in_use(attachments):
        target = store.path.parent / relative
        if target.is_file():
            target.unlink()
        if target.parent.is_dir() and not any(target.parent.iterdir()):
            target.parent.rmdir()
