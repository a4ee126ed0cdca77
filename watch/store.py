"""The SQLite store: the only module that writes SQL.

WAL and a busy timeout let the scheduler and an analyst's CLI use the same file; every write runs in a
`BEGIN IMMEDIATE` transaction, because WAL alone still fails read-then-write transactions across processes
(they cannot upgrade a read lock, and SQLite answers SQLITE_BUSY at once instead of waiting).
Schema changes are numbered migrations recorded in the `_migrations` table.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any


from watch.errors import StoreError
from watch.i18n import tx
from watch.models import Entry, FetchOutcome, IngestCounts, canonical_url, clean_entry, content_hash, utcnow

if TYPE_CHECKING:
    import sqlite_utils

    from watch.config import Source

log = logging.getLogger(__name__)
DEFAULT_DB = "data/veille.db"
ITEM_COLUMNS = ("canonical_url", "url", "source", "guid", "title", "summary", "html", "text", "author", "lang",
                "published_at", "published_estimated", "fetched_at", "first_seen", "origin", "hash", "categories",
                "competitor", "themes", "entered_by", "entered_from", "attachment")
INSERT_ITEM = f"insert into items ({', '.join(ITEM_COLUMNS)}) values ({', '.join('?' * len(ITEM_COLUMNS))})"
UPDATE_ITEM = ("update items set title = ?, summary = ?, html = ?, text = ?, author = ?, hash = ?, categories = ?, "
               "updated_at = ?, lang = coalesce(?, lang), published_at = coalesce(?, published_at), "
               "published_estimated = case when ? is null then published_estimated else 0 end where id = ?")
FETCH_COLUMNS = ("url", "duration_ms", "http_status", "outcome", "bytes", "entries", "new", "updated", "error", "warning",
                 "pages")
BUSY_TIMEOUT_S = 30
CLAIM_MINUTES = 15  # a delivery 'sending' or 'uncertain' for longer belongs to a process that died


def _m001_initial(db: sqlite_utils.Database) -> None:
    db["sources"].create({
        "id": str, "name": str, "kind": str, "url": str, "config_hash": str, "status": str, "failures": int,
        "next_attempt_at": str, "etag": str, "last_modified": str, "last_fetch_at": str, "last_success_at": str,
        "last_status": int, "last_error": str, "warning": str, "updated_at": str,
    }, pk="id", defaults={"status": "active", "failures": 0})
    db["items"].create({
        "id": int, "canonical_url": str, "url": str, "source": str, "guid": str, "title": str, "summary": str,
        "html": str, "text": str, "author": str, "lang": str, "published_at": str, "published_estimated": int,
        "fetched_at": str, "first_seen": str, "updated_at": str, "origin": str, "hash": str, "categories": str,
    }, pk="id", not_null={"canonical_url", "source", "fetched_at", "first_seen", "origin", "hash"})
    db["items"].create_index(["canonical_url"], unique=True)
    db["items"].create_index(["first_seen"])
    db["items"].create_index(["published_at"])
    db["item_sources"].create({
        "item_id": int, "source": str, "url": str, "guid": str, "first_seen": str, "last_seen": str,
    }, pk=("item_id", "source"), foreign_keys=[("item_id", "items", "id")])
    db["item_sources"].create_index(["source", "guid"])
    db["fetches"].create({
        "id": int, "source": str, "url": str, "started_at": str, "duration_ms": int, "http_status": int,
        "outcome": str, "bytes": int, "entries": int, "new": int, "updated": int, "error": str, "warning": str,
    }, pk="id")
    db["fetches"].create_index(["source", "started_at"])
    # remove_diacritics 2: a search for "rachete" finds "rachète" (and "Société" matches "societe").
    db["items"].enable_fts(["title", "summary", "text"], create_triggers=True,
                           tokenize="unicode61 remove_diacritics 2")


def _m002_classification(db: sqlite_utils.Database) -> None:
    for column, kind in (("lang_confidence", float), ("lang_how", str), ("classified_at", str), ("score", int),
                         ("reasons", str), ("actor", str), ("actor_competitor", str), ("story", int),
                         ("credibility", int), ("credibility_by", str), ("nlp_flags", str)):
        db["items"].add_column(column, kind)
    db["items"].create_index(["classified_at"])
    db["items"].create_index(["story"])
    db["item_labels"].create({"item_id": int, "axis": str, "label": str, "score": float, "by": str},
                             pk=("item_id", "label"), foreign_keys=[("item_id", "items", "id")])
    db["item_labels"].create_index(["label"])
    db["item_entities"].create({"item_id": int, "text": str, "label": str, "competitor": str},
                               foreign_keys=[("item_id", "items", "id")])
    db["item_entities"].create_index(["item_id"])
    db["item_entities"].create_index(["competitor"])
    # Analysts' corrections: the feedback loop of `veille label`, used by `veille nlp train`.
    db["label_corrections"].create({"id": int, "item_id": int, "label": str, "action": str, "at": str}, pk="id")


def _m003_terms(db: sqlite_utils.Database) -> None:
    # Noun phrases, entities and labels of each item: weekly counts of these give the rising terms.
    db["item_terms"].create({"item_id": int, "term": str, "kind": str}, pk=("item_id", "term", "kind"),
                            foreign_keys=[("item_id", "items", "id")])
    db["item_terms"].create_index(["term", "kind"])


def _m004_pages_offline(db: sqlite_utils.Database) -> None:
    # What an item is about when its collector knows it (page watch, field notes), and where a field note
    # came from: who entered it, from `veille add` or which file and line, with its attachment.
    for column in ("competitor", "themes", "entered_by", "entered_from", "attachment"):
        db["items"].add_column(column, str)
    db["items"].create_index(["competitor"])
    db["items"].create_index(["author"])
    # Page watch: one row per version of a page's watched region (an unchanged check only moves checked_at).
    # `options` is the hash of the source's page options: a changed selector starts a new baseline.
    db["page_snapshots"].create({
        "id": int, "source": str, "url": str, "taken_at": str, "checked_at": str, "options": str, "hash": str,
        "text": str, "lines": int, "item_id": int,
    }, pk="id", not_null={"source", "taken_at", "hash"})
    db["page_snapshots"].create_index(["source", "taken_at"])


def _m005_digests(db: sqlite_utils.Database) -> None:
    # One row per built digest (kind 'digest', period '2026-W48') or same-day alert (kind 'alert', period
    # 'alert-<item id>'); (audience, period) is unique, which is what makes building idempotent. The rendered
    # message is kept so that a delivery retried next week sends exactly what was built.
    db["digests"].create({
        "id": int, "audience": str, "kind": str, "period": str, "period_start": str, "cutoff": str,
        "created_at": str, "status": str, "items": int, "archive_path": str, "language": str, "subject": str,
        "html": str, "text": str, "chart": bytes, "error": str, "updated_at": str,
    }, pk="id", not_null={"audience", "kind", "period", "cutoff", "created_at", "status"}, defaults={"kind": "digest"})
    db["digests"].create_index(["audience", "period"], unique=True)
    # Every item a digest carries (shown = 0: told by another item of the same story, shown in its place); an
    # item in any digest of an audience never reaches that audience again.
    db["digest_items"].create({"digest_id": int, "item_id": int, "section": str, "rank": int, "shown": int},
                              pk=("digest_id", "item_id"),
                              foreign_keys=[("digest_id", "digests", "id"), ("item_id", "items", "id")])
    db["digest_items"].create_index(["item_id"])
    db["deliveries"].create({
        "id": int, "digest_id": int, "recipient": str, "status": str, "attempts": int, "last_error": str,
        "sent_at": str, "message_id": str, "claimed_at": str, "updated_at": str,
    }, pk="id", foreign_keys=[("digest_id", "digests", "id")], defaults={"status": "pending", "attempts": 0})
    db["deliveries"].create_index(["digest_id", "recipient"], unique=True)
    db["deliveries"].create_index(["status"])
    db["suppressions"].create({"email": str, "added_at": str, "reason": str}, pk="email")
    # A digest reads a period's items best score first and usually stops after the first hundred: by this index
    # it never sorts the tens of thousands a period can hold.
    db["items"].create_index(["score", "first_seen"], index_name="idx_items_score_first_seen")
    # Items per UTC day of publication and term (the rising trends) or label and source (the digest chart), kept
    # up to date by triggers as terms and labels are written: a digest reads nine weeks of counts instead of
    # counting a million term rows each time.
    db.execute("create table day_counts (day text, kind text, key text, source text, count integer, "
               "primary key (day, kind, key, source)) without rowid")
    for statement in DAY_COUNT_TRIGGERS:
        db.execute(statement)
    db.execute("insert into day_counts (day, kind, key, source, count) select substr(i.published_at, 1, 10), t.kind, "
               "t.term, '', count(*) from items i cross join item_terms t on t.item_id = i.id group by 1, 2, 3")
    db.execute("insert into day_counts (day, kind, key, source, count) select substr(i.published_at, 1, 10), "
               "'item_label', l.label, i.source, count(*) from items i cross join item_labels l on l.item_id = i.id "
               "group by 1, 3, 4")


_UPSERT = "on conflict (day, kind, key, source) do update set count = count + 1"
# The day and source of the item a removed row belonged to: with kind and key, the primary key of day_counts.
_DAY_OF_OLD = "(select substr(published_at, 1, 10) from items where id = old.item_id)"
_SOURCE_OF_OLD = "(select source from items where id = old.item_id)"
DAY_COUNT_TRIGGERS = [
    f"""create trigger day_counts_term_added after insert on item_terms begin
        insert into day_counts (day, kind, key, source, count) select substr(i.published_at, 1, 10), new.kind,
        new.term, '', 1 from items i where i.id = new.item_id {_UPSERT}; end""",
    f"""create trigger day_counts_term_removed after delete on item_terms begin
        update day_counts set count = count - 1 where day = {_DAY_OF_OLD} and kind = old.kind and key = old.term
        and source = '';
        delete from day_counts where day = {_DAY_OF_OLD} and kind = old.kind and key = old.term and source = ''
        and count <= 0; end""",
    f"""create trigger day_counts_label_added after insert on item_labels begin
        insert into day_counts (day, kind, key, source, count) select substr(i.published_at, 1, 10), 'item_label',
        new.label, i.source, 1 from items i where i.id = new.item_id {_UPSERT}; end""",
    f"""create trigger day_counts_label_removed after delete on item_labels begin
        update day_counts set count = count - 1 where day = {_DAY_OF_OLD} and kind = 'item_label' and key = old.label
        and source = {_SOURCE_OF_OLD};
        delete from day_counts where day = {_DAY_OF_OLD} and kind = 'item_label' and key = old.label
        and source = {_SOURCE_OF_OLD} and count <= 0; end""",
    # A feed that gives a real date to an item first stored with an estimated one moves its counts.
    f"""create trigger day_counts_item_moved after update of published_at on items
        when substr(old.published_at, 1, 10) is not substr(new.published_at, 1, 10) begin
        update day_counts set count = count - 1 where day = substr(old.published_at, 1, 10) and source = ''
        and (kind, key) in (select kind, term from item_terms where item_id = new.id);
        update day_counts set count = count - 1 where day = substr(old.published_at, 1, 10) and kind = 'item_label'
        and source = new.source and key in (select label from item_labels where item_id = new.id);
        delete from day_counts where day = substr(old.published_at, 1, 10) and count <= 0;
        insert into day_counts (day, kind, key, source, count) select substr(new.published_at, 1, 10), kind, term,
        '', 1 from item_terms where item_id = new.id {_UPSERT};
        insert into day_counts (day, kind, key, source, count) select substr(new.published_at, 1, 10),
        'item_label', label, new.source, 1 from item_labels where item_id = new.id {_UPSERT}; end""",
]


def _m006_job_runs(db: sqlite_utils.Database) -> None:
    # `veille run`: one row per scheduled job (stable id such as collect:veloce-news, digest:direction). The last
    # successful run lives here, not in an APScheduler job store: jobs are rebuilt from sources.yaml at each start,
    # and this is what tells an overdue job (catch-up) and what `veille status` shows.
    db["job_runs"].create({
        "job": str, "kind": str, "target": str, "schedule": str, "active": int, "next_run_at": str,
        "last_run_at": str, "last_finished_at": str, "last_outcome": str, "last_success_at": str,
        "last_duration_ms": int, "last_counts": str, "last_error": str, "runs": int, "errors": int,
        "failures": int, "updated_at": str,
    }, pk="job", defaults={"active": 1, "runs": 0, "errors": 0, "failures": 0})
    db["fetches"].create_index(["started_at"])  # housekeeping deletes old fetches by date


def _m007_crawls(db: sqlite_utils.Database) -> None:
    # A crawl fetches many pages for one source: its fetch row says how many (a feed fetch leaves 0).
    db["fetches"].add_column("pages", int, not_null_default=0)


def _m008_term_counts_by_the_store(db: sqlite_utils.Database) -> None:
    # An item has some fifty terms, and the trigger's work per term row was 60 % of writing a classification
    # (measured): save_classification now adds each chunk's term counts to day_counts itself, in one batch.
    db.execute("drop trigger if exists day_counts_term_added")


def _m009_search_index_on_text_changes(db: sqlite_utils.Database) -> None:
    # sqlite-utils' trigger re-indexed an item's title, summary and text in the search index on every update of the
    # row, so writing a classification or a score re-indexed it twice: 40 % of storing a classification (measured).
    db.execute("drop trigger if exists items_au")
    db.execute("""create trigger items_au after update of title, summary, text on items
        when old.title is not new.title or old.summary is not new.summary or old.text is not new.text begin
        insert into items_fts (items_fts, rowid, title, summary, text)
            values ('delete', old.rowid, old.title, old.summary, old.text);
        insert into items_fts (rowid, title, summary, text) values (new.rowid, new.title, new.summary, new.text); end""")


def _m010_count_triggers_by_key(db: sqlite_utils.Database) -> None:
    # The triggers that count down removed terms and labels deleted emptied counts by kind and key alone, without
    # the day: a scan of all day_counts for every term row removed, so reclassifying 3,000 items took over 15
    # minutes (each row now goes by the table's primary key: day, kind, key, source).
    db.execute("drop trigger if exists day_counts_term_removed")
    db.execute("drop trigger if exists day_counts_label_removed")
    for statement in DAY_COUNT_TRIGGERS:
        if "day_counts_term_removed" in statement or "day_counts_label_removed" in statement:
            db.execute(statement)


def _m011_no_term_index(db: sqlite_utils.Database) -> None:
    # Nothing reads item_terms by term any more (the rising terms come from day_counts): its second index only
    # cost writing, 28 % of storing a classification (measured). Rows are still found by item.
    db.execute("drop index if exists idx_item_terms_term_kind")


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_initial", _m001_initial),
    ("002_classification", _m002_classification),
    ("003_terms", _m003_terms),
    ("004_pages_offline", _m004_pages_offline),
    ("005_digests", _m005_digests),
    ("006_job_runs", _m006_job_runs),
    ("007_crawls", _m007_crawls),
    ("008_term_counts_by_the_store", _m008_term_counts_by_the_store),
    ("009_search_index_on_text_changes", _m009_search_index_on_text_changes),
    ("010_count_triggers_by_key", _m010_count_triggers_by_key),
    ("011_no_term_index", _m011_no_term_index),
]


def _in_chunks(keys: list, size: int = 500) -> Iterator[tuple[list, str]]:
    """`keys` a chunk at a time, each with its "?,?,…" placeholders: SQLite limits the parameters of a statement."""
    for start in range(0, len(keys), size):
        chunk = keys[start:start + size]
        yield chunk, ",".join("?" * len(chunk))


def _merge_update(first: dict[str, Any], later: dict[str, Any]) -> None:
    """A feed that carries one article twice, changed: the later content, as UPDATE_ITEM would write it over the
    first (its URL, guid and first-seen time stay; a real date replaces an estimated one, never the reverse)."""
    for column in ("title", "summary", "html", "text", "author", "hash", "categories"):
        first[column] = later[column]
    first["lang"] = later["lang"] or first["lang"]
    if first["published_estimated"] and not later["published_estimated"]:
        first["published_at"], first["published_estimated"] = later["published_at"], 0


class Store:
    """A veille database. Open with `Store.open(path)`; use as a context manager to close it."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path
        self._db: sqlite_utils.Database | None = None

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils over the same connection, for migrations and table introspection.

        Imported on first use: sqlite-utils imports numpy when present (0.3 s), which a collection that only
        runs plain statements does not need.
        """
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    @classmethod
    def open(cls, path: str | os.PathLike | None = None) -> Store:
        file = Path(path or os.environ.get("VEILLE_DB") or DEFAULT_DB)
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves; sqlite-utils nests savepoints inside it.
            conn = sqlite3.connect(str(file), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
            conn.execute("PRAGMA journal_mode = wal")
            conn.execute("PRAGMA synchronous = normal")
            conn.execute("PRAGMA foreign_keys = on")
            conn.create_function("fold", 1, _fold, deterministic=True)
            store = cls(conn, file)
            store.migrate()
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(tx("database {file} cannot be used: {exc}", file=file, exc=exc)) from None
        return store

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock up front (BEGIN IMMEDIATE)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def migrate(self) -> list[str]:
        """Apply pending migrations, in order, each recorded in `_migrations`; return the names applied."""
        applied = []
        with self.transaction():
            self.conn.execute("create table if not exists _migrations (name text primary key, applied_at text)")
            done = {row[0] for row in self.conn.execute("select name from _migrations")}
            for name, migration in MIGRATIONS:
                if name not in done:
                    migration(self.db)
                    self._insert("_migrations", {"name": name, "applied_at": utcnow().isoformat()})
                    applied.append(name)
        return applied

    # -- sources -------------------------------------------------------------------------------------------

    def sync_sources(self, sources: Iterable[Source]) -> None:
        """Mirror the configured sources; a source marked gone comes back when its configuration changes."""
        now = utcnow().isoformat()
        with self.transaction():
            known = {row["id"]: row["config_hash"] for row in self._rows("select id, config_hash from sources")}
            for source in sources:
                config_hash = content_hash(source.model_dump_json(), "", "")
                values = {"name": source.name, "kind": source.kind, "url": source.url or "",
                          "config_hash": config_hash, "updated_at": now}
                if source.id not in known:
                    self._insert("sources", {"id": source.id, **values, "status": "active", "failures": 0})
                elif known[source.id] != config_hash:
                    # A changed configuration is a fresh start: forget validators, backoff and a 410.
                    self._update("sources", source.id, {**values, "status": "active", "failures": 0,
                                                        "next_attempt_at": None, "etag": None, "last_modified": None})

    def ensure_source(self, source_id: str, name: str, kind: str, url: str) -> None:
        """Register a source that is not in the configuration (ad-hoc URLs, imports)."""
        with self.transaction():
            if self._source_row(source_id) is None:
                self._insert("sources", {"id": source_id, "name": name, "kind": kind, "url": url, "status": "active",
                                         "failures": 0, "updated_at": utcnow().isoformat()})

    def _rows(self, sql: str, params: Iterable = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor]

    def _insert(self, table: str, values: dict[str, Any]) -> int:
        sql = f"insert into {table} ({', '.join(values)}) values ({', '.join('?' * len(values))})"
        return self.conn.execute(sql, list(values.values())).lastrowid

    def _update(self, table: str, key: str, values: dict[str, Any]) -> None:
        sql = f"update {table} set {', '.join(f'{name} = ?' for name in values)} where id = ?"
        self.conn.execute(sql, [*values.values(), key])

    def _source_row(self, source_id: str) -> dict[str, Any] | None:
        rows = self._rows("select * from sources where id = ?", [source_id])
        return rows[0] if rows else None

    def source_state(self, source_id: str) -> dict[str, Any]:
        return self._source_row(source_id) or {"id": source_id, "status": "active", "failures": 0}

    def source_states(self) -> dict[str, dict[str, Any]]:
        """Every source's state at once (a collection reads them all before it starts)."""
        return {row["id"]: row for row in self._rows("select * from sources")}

    def reset_source(self, source_id: str) -> bool:
        """Forget a source's failures, backoff, 410 and validators: it is fetched in full at the next run."""
        with self.transaction():
            if self._source_row(source_id) is None:
                return False
            self._update("sources", source_id, {"status": "active", "failures": 0, "next_attempt_at": None,
                                                "etag": None, "last_modified": None, "last_error": None})
        return True

    def record_fetch(self, fetch: FetchOutcome, backoff: Callable[[int], float], *, update_source: bool = True) -> None:
        """Store one fetch attempt and move the source's state (validators, failures, backoff, gone).

        `update_source=False` records a fetch that says nothing of the source's health (a feed's full-text pass).
        """
        now = utcnow()
        update: dict[str, Any] = {"last_fetch_at": fetch.started_at.isoformat(), "last_status": fetch.http_status,
                                  "warning": fetch.warning or None}
        record = {name: getattr(fetch, name) for name in FETCH_COLUMNS}
        record["source"], record["started_at"] = fetch.source_id, fetch.started_at.isoformat()
        with self.transaction():
            row = self._source_row(fetch.source_id)
            if fetch.outcome in ("ok", "not_modified"):
                update.update(status="active", failures=0, next_attempt_at=None, last_error=None,
                              last_success_at=now.isoformat())
                if fetch.outcome == "ok":
                    update.update(etag=fetch.etag, last_modified=fetch.last_modified)
            elif fetch.outcome == "gone":
                update.update(status="gone", last_error=fetch.error)
            elif fetch.outcome == "error":
                failures = ((row or {}).get("failures") or 0) + 1
                delay = max(backoff(failures), fetch.retry_after or 0)
                update.update(status="failing", failures=failures, last_error=fetch.error,
                              next_attempt_at=(now + timedelta(seconds=delay)).isoformat())
            self._insert("fetches", record)
            if row is not None and update_source:
                self._update("sources", fetch.source_id, update)

    def sources_overview(self) -> list[dict[str, Any]]:
        """Each known source with its state and item count, for `veille sources list`."""
        return self._rows(
            "select s.*, (select count(*) from item_sources i where i.source = s.id) as items "
            "from sources s order by s.id")

    # -- items ---------------------------------------------------------------------------------------------

    def ingest(self, source_id: str, entries: Iterable[Entry], origin: str,
               fetched_at: datetime | None = None, default_lang: str | None = None) -> IngestCounts:
        """The one path by which anything collected becomes an item: sanitised, deduplicated, traceable.

        One canonical URL (or one guid within a source) is one item; a changed item is updated in place and
        keeps its first-seen time; every source that carried it is recorded in item_sources.
        Plain sqlite3 statements here: this is the hot path of a collection (about 10,000 items per run).
        """
        fetched_at = fetched_at or utcnow()
        seen = fetched_at.isoformat()
        counts = IngestCounts()
        rows = []
        for entry in entries:
            row = self._item_values(source_id, clean_entry(entry), origin, fetched_at, default_lang, counts)
            if row is not None:
                rows.append(row)
        guid_rows: dict[str, list[dict]] = {}
        for row in rows:
            if row["guid"]:
                guid_rows.setdefault(row["guid"], []).append(row)
        for guid, same in guid_rows.items():
            if len(same) > 1:
                counts.warnings.append(tx("guid repeated in the feed: {guid}", guid=guid))
                if len({r["canonical_url"] for r in same}) > 1:
                    # A guid carried by different articles (some CMSs put the site URL in every <guid>)
                    # identifies nothing: those entries are matched by URL.
                    for r in same:
                        r["guid"] = None
        conn = self.conn
        with self.transaction():
            by_guid = self._existing("select s.guid, i.id, i.hash, i.published_estimated from item_sources s "
                                     "join items i on i.id = s.item_id where s.source = ? and s.guid in ({})",
                                     [r["guid"] for r in rows if r["guid"]], [source_id])
            by_url = self._existing("select canonical_url, id, hash, published_estimated from items "
                                    "where canonical_url in ({})", [r["canonical_url"] for r in rows])
            # Statements go in batches (executemany): each execute gives up and takes back the GIL, and the
            # collection's event loop holds it meanwhile, so one statement per row made a 500-feed run wait on
            # the GIL several times longer than SQLite worked (profiled).
            new: dict[str, dict] = {}  # canonical URL -> row to insert; a later duplicate in the feed replaces it
            updates, linked = [], []
            for row in rows:
                existing = (by_guid.get(row["guid"]) if row["guid"] else None) or by_url.get(row["canonical_url"])
                if existing is None:
                    pending = new.get(row["canonical_url"])
                    if pending is None:
                        new[row["canonical_url"]] = dict(row)
                        counts.new += 1
                    elif pending["hash"] != row["hash"]:
                        _merge_update(pending, row)  # as an update of a stored item would
                        counts.updated += 1
                    else:
                        counts.unchanged += 1
                    linked.append((row, None))
                    continue
                if existing["hash"] != row["hash"]:
                    dated = existing["published_estimated"] and not row["published_estimated"]
                    new_date = row["published_at"] if dated else None
                    updates.append([row["title"], row["summary"], row["html"], row["text"], row["author"], row["hash"],
                                    row["categories"], seen, row["lang"], new_date, new_date, existing["id"]])
                    existing.update(hash=row["hash"], published_estimated=0 if dated else existing["published_estimated"])
                    counts.updated += 1
                else:
                    counts.unchanged += 1
                linked.append((row, existing["id"]))
            conn.executemany(INSERT_ITEM, ([row[c] for c in ITEM_COLUMNS] for row in new.values()))
            conn.executemany(UPDATE_ITEM, updates)
            ids = {key: found["id"] for key, found in self._existing(
                "select canonical_url, id, hash, published_estimated from items where canonical_url in ({})",
                list(new)).items()}
            conn.executemany(
                "insert into item_sources (item_id, source, url, guid, first_seen, last_seen) values (?, ?, ?, ?, ?, ?) "
                "on conflict (item_id, source) do update set last_seen = excluded.last_seen, "
                "guid = coalesce(excluded.guid, item_sources.guid)",
                [(item_id or ids[row["canonical_url"]], source_id, row["url"], row["guid"], seen, seen)
                 for row, item_id in linked])
        return counts

    def _existing(self, sql: str, keys: list[str], params: list | None = None) -> dict[str, dict]:
        """Rows keyed by their first column, for keys queried in chunks (SQLite limits bound parameters)."""
        found: dict[str, dict] = {}
        keys = list(dict.fromkeys(keys))
        for chunk, marks in _in_chunks(keys):
            cursor = self.conn.execute(sql.format(marks), [*(params or []), *chunk])
            for key, item_id, hash_, estimated in cursor:
                found.setdefault(key, {"id": item_id, "hash": hash_, "published_estimated": estimated})
        return found

    def _item_values(self, source_id: str, entry: Entry, origin: str, fetched_at: datetime,
                     default_lang: str | None, counts: IngestCounts) -> dict[str, Any] | None:
        title, summary, text = entry.title, entry.summary, entry.text
        if not (title or summary or text):
            counts.warnings.append(tx("empty entry skipped") + f" ({entry.url or entry.guid})")
            return None
        digest = entry.hash or content_hash(title, summary, text)
        url = entry.url if entry.url and entry.url.startswith(("http://", "https://")) else None
        if url:
            canonical = entry.url_key or canonical_url(url)
        elif entry.guid and entry.guid.startswith(("http://", "https://")):
            url, canonical = entry.guid, entry.url_key or canonical_url(entry.guid)
        else:
            # No usable link: the item is still kept, identified within its source.
            canonical = f"urn:veille:{source_id}:{entry.guid or digest}"
        if entry.canonical:
            canonical = entry.canonical
        published, estimated = entry.published, 0
        if published is not None:
            # Stored in UTC; a date without a zone is taken as UTC (what feeds mean in practice).
            published = published.astimezone(timezone.utc) if published.tzinfo else published.replace(tzinfo=timezone.utc)
        if published is None:
            published, estimated = fetched_at, 1
        elif published > fetched_at + timedelta(minutes=5):
            counts.warnings.append(tx("future date clamped to fetch time: {isoformat}", isoformat=published.isoformat()))
            published, estimated = fetched_at, 1
        elif published > fetched_at:
            published = fetched_at
        return {
            "canonical_url": canonical, "url": url or "", "source": source_id, "guid": entry.guid,
            "title": title, "summary": summary, "html": entry.html, "text": text, "author": entry.author,
            "lang": entry.lang or default_lang, "published_at": published.isoformat(), "published_estimated": estimated,
            "fetched_at": fetched_at.isoformat(), "first_seen": fetched_at.isoformat(), "origin": origin,
            "hash": digest, "categories": json.dumps(list(entry.categories), ensure_ascii=False),
            "competitor": entry.competitor, "themes": json.dumps(list(entry.themes)) if entry.themes else None,
            "entered_by": entry.entered_by or None, "entered_from": entry.entered_from or None,
            "attachment": entry.attachment or None,
        }

    def known_urls(self, canonical_urls: Iterable[str]) -> set[str]:
        """Those of these canonical URLs that are already items (a crawl does not read them again)."""
        return set(self._existing("select canonical_url, id, hash, published_estimated from items "
                                  "where canonical_url in ({})", list(canonical_urls)))

    def items_needing_text(self, source_id: str, since: datetime) -> list[dict[str, Any]]:
        """Items of a source first seen or changed since a time: the pages a full-text pass should read."""
        return self._rows("select i.id, i.url, i.title from items i join item_sources s on s.item_id = i.id "
                          "where s.source = ? and i.url like 'http%' and (i.first_seen >= ? or i.updated_at >= ?) "
                          "order by i.id", [source_id, since.isoformat(), since.isoformat()])

    def attach_text(self, item_id: int, text: str) -> bool:
        """Give an item the main text of its page (a feed's full-text pass); False when the item is gone.

        The content hash is left as the feed made it: it says what the feed published, so the next reading of the
        same entry finds it unchanged and does not put the teaser back in place of the text. The item is marked
        updated, so that it is classified again on its full text.
        """
        with self.transaction() as conn:
            cursor = conn.execute("update items set text = ?, updated_at = ? where id = ?",
                                  [clean_entry(Entry(url=None, text=text)).text, utcnow().isoformat(), item_id])
        return cursor.rowcount > 0

    def items(self, since: datetime | None = None, source: str | None = None, search: str | None = None,
              limit: int | None = None, published: datetime | None = None) -> list[dict[str, Any]]:
        """Items newest first, with every source that carried them; `since` is on the time first seen, `published`
        on the publication time; `search` is full-text, accents ignored."""
        where, params = _item_conditions(since=since, source=source, search=search, published_from=published)
        sql = "select i.* from items i" + where + " order by i.published_at desc, i.id desc"
        if limit:
            sql += f" limit {int(limit)}"
        try:
            rows = self._rows(sql, params)
        except sqlite3.OperationalError as exc:
            raise StoreError(tx("search failed: {exc}", exc=exc)) from None
        by_item: dict[int, list[str]] = {}
        if rows:
            marks = ",".join("?" * len(rows))
            for link in self._rows(f"select item_id, source from item_sources where item_id in ({marks}) "
                                      "order by first_seen", [r["id"] for r in rows]):
                by_item.setdefault(link["item_id"], []).append(link["source"])
        labels: dict[int, list[dict]] = {}
        entities: dict[int, list[dict]] = {}
        if rows:
            ids = [r["id"] for r in rows]
            for chunk, marks in _in_chunks(ids):
                for row in self._rows(f"select * from item_labels where item_id in ({marks}) order by score desc", chunk):
                    labels.setdefault(row.pop("item_id"), []).append(row)
                for row in self._rows(f"select * from item_entities where item_id in ({marks})", chunk):
                    entities.setdefault(row.pop("item_id"), []).append(row)
        for row in rows:
            row["sources"] = by_item.get(row["id"], [row["source"]])
            row["published_estimated"] = bool(row["published_estimated"])
            row["categories"] = json.loads(row["categories"] or "[]")
            row["themes"] = json.loads(row.get("themes") or "[]")
            row["labels"] = labels.get(row["id"], [])
            row["entities"] = entities.get(row["id"], [])
            row["reasons"] = json.loads(row["reasons"]) if row.get("reasons") else []
        return rows

    def count_items(self, since: datetime | None = None, source: str | None = None, search: str | None = None,
                    published: datetime | None = None) -> int:
        """How many items `items()` would list without a limit."""
        where, params = _item_conditions(since=since, source=source, search=search, published_from=published)
        return self.conn.execute("select count(*) from items i" + where, params).fetchone()[0]

    # -- classification ------------------------------------------------------------------------------------

    def ids_to_classify(self, since: datetime | None = None, everything: bool = False) -> list[int]:
        """Items never classified (or changed since), or all of them / those first seen since a date: their ids."""
        where = ["1=1"] if everything or since else ["(i.classified_at is null or i.classified_at < coalesce(i.updated_at, ''))"]
        params: list[Any] = []
        if since:
            where.append("i.first_seen >= ?")
            params.append(since.isoformat())
        return [row[0] for row in self.conn.execute("select i.id from items i where " + " and ".join(where)
                                                    + " order by i.id", params)]

    def texts_to_classify(self, ids: list[int], chunk: int = 500) -> Iterator[dict[str, Any]]:
        """Id, title, summary, text, lang, source and categories (JSON) of these items, read a chunk at a time as they are consumed:
        a month of items is not held in memory while it is classified."""
        for part, marks in _in_chunks(ids, chunk):
            yield from self._rows("select i.id, i.title, i.summary, i.text, i.lang, i.source, i.categories from items i "
                                  "where i.id in "
                                  f"({marks}) order by i.id", part)

    def save_classification(self, results: Iterable[dict[str, Any]]) -> int:
        """Write analyses: labels (an analyst's corrections are kept), entities, language, actor, flags, terms.

        The day counts of the new terms are added here in one batch (there is no trigger on inserted terms:
        migration 008); removed terms and labels are counted down by triggers.
        """
        now = utcnow().isoformat()
        with self.transaction() as conn:
            # One analysis per item (the last): the counts below assume each item's terms are written once.
            results = list({r["id"]: r for r in results}.values())
            days: dict[int, str] = {}  # UTC day of publication, for the term counts
            removed: dict[int, set[str]] = {}  # labels an analyst removed: never written back
            # Statements per chunk of items, not per item: ten round trips per item were a third of the cost.
            for chunk, marks in _in_chunks([r["id"] for r in results]):
                days.update(conn.execute(f"select id, substr(published_at, 1, 10) from items where id in ({marks})",
                                         chunk))
                conn.execute(f"delete from item_labels where by != 'analyst' and item_id in ({marks})", chunk)
                conn.execute(f"delete from item_terms where item_id in ({marks})", chunk)
                conn.execute(f"delete from item_entities where item_id in ({marks})", chunk)
                for item_id, label in conn.execute(
                        f"select item_id, label from label_corrections where action = 'remove' and item_id in ({marks})",
                        chunk):
                    removed.setdefault(item_id, set()).add(label)
            labels, terms, entities, term_days = [], [], [], Counter()
            for result in results:
                item_id, dropped = result["id"], removed.get(result["id"], ())
                labels += [(item_id, l["axis"], l["label"], l["score"], l["by"]) for l in result["labels"]
                           if l["label"] not in dropped]
                own_terms = set(map(tuple, result.get("terms", [])))
                terms += [(item_id, term, kind) for term, kind in own_terms]
                if item_id in days:
                    term_days.update((days[item_id], kind, term) for term, kind in own_terms)
                entities += [(item_id, e["text"], e["label"], e["competitor"]) for e in result["entities"]]
            conn.executemany("insert into item_labels (item_id, axis, label, score, by) values (?, ?, ?, ?, ?) "
                             "on conflict (item_id, label) do nothing", labels)
            conn.executemany("insert into item_terms (item_id, term, kind) values (?, ?, ?)", terms)
            conn.executemany("insert into item_entities (item_id, text, label, competitor) values (?, ?, ?, ?)", entities)
            conn.executemany("update items set lang = ?, lang_confidence = ?, lang_how = ?, actor = ?, actor_competitor = ?, "
                             "nlp_flags = ?, classified_at = ?, credibility = coalesce(credibility, 6) where id = ?",
                             [(r["lang"], r["lang_confidence"], r["lang_how"], r["actor"], r["actor_competitor"],
                               json.dumps(r["flags"]), now, r["id"]) for r in results])
            conn.executemany("insert into day_counts (day, kind, key, source, count) values (?, ?, ?, '', ?) "
                             "on conflict (day, kind, key, source) do update set count = count + excluded.count",
                             [(*key, n) for key, n in term_days.items()])
        return len(results)

    def classified_since(self, since: datetime) -> list[dict[str, Any]]:
        """Classified items first seen since a date, with their labels and competitors (for scores and stories)."""
        rows = self._rows("select i.id, i.source, i.title, i.text, i.summary, i.lang, i.published_at, i.first_seen, "
                          "i.actor, i.actor_competitor, i.credibility, i.credibility_by, i.story, i.url, "
                          "i.themes as declared_themes from items i where i.classified_at is not null and i.first_seen >= ? order by i.id",
                          [since.isoformat()])
        ids = [r["id"] for r in rows]
        labels: dict[int, list[dict]] = {}
        competitors: dict[int, set[str]] = {}
        for chunk, marks in _in_chunks(ids):
            for row in self._rows(f"select * from item_labels where item_id in ({marks})", chunk):
                labels.setdefault(row["item_id"], []).append(row)
            for row in self._rows(f"select item_id, competitor, text from item_entities where item_id in ({marks})", chunk):
                competitors.setdefault(row["item_id"], set()).add(row["competitor"] or row["text"].lower())
        for row in rows:
            row["labels"] = labels.get(row["id"], [])
            row["companies"] = competitors.get(row["id"], set())
        return rows

    def save_scores(self, rows: Iterable[tuple[int, int, str, int, int, str]]) -> None:
        """(item id, score, reasons JSON, story id, credibility, credibility_by) for each item."""
        with self.transaction() as conn:
            conn.executemany("update items set score = ?, reasons = ?, story = ?, credibility = ?, credibility_by = ? "
                             "where id = ?", [(s, r, story, c, by, i) for i, s, r, story, c, by in rows])

    def correct_label(self, item_id: int, label: str, axis: str, remove: bool = False) -> bool:
        """An analyst's correction: kept through reclassification and used by `veille nlp train`."""
        with self.transaction() as conn:
            if conn.execute("select 1 from items where id = ?", [item_id]).fetchone() is None:
                return False
            conn.execute("insert into label_corrections (item_id, label, action, at) values (?, ?, ?, ?)",
                         [item_id, label, "remove" if remove else "add", utcnow().isoformat()])
            conn.execute("delete from item_labels where item_id = ? and label = ?", [item_id, label])
            if not remove:
                conn.execute("insert into item_labels (item_id, axis, label, score, by) values (?, ?, ?, 1.0, 'analyst')",
                             [item_id, axis, label])
        return True

    def corrected_items(self) -> list[dict[str, Any]]:
        """Items an analyst corrected, with their final label set (training data for `veille nlp train`)."""
        rows = self._rows("select distinct i.id, i.title, i.text, i.summary, i.lang from items i "
                          "join label_corrections c on c.item_id = i.id")
        for row in rows:
            row["labels"] = [r[0] for r in self.conn.execute("select label from item_labels where item_id = ?", [row["id"]])]
        return rows

    def term_counts(self, periods: Mapping[str, str],
                    kinds: Iterable[str] | None = None) -> list[tuple[str, str, str, int]]:
        """(term, kind, period, items) over the UTC days of publication that `periods` maps to a period (an ISO
        week for the rising terms); every kind of term (phrase, entity, label) unless `kinds` names some.

        Read from `day_counts`, kept as terms are written and removed (save_classification and the triggers of
        migration 005, which also counted the terms stored before it): one indexed read per day, summed by period
        here, instead of a join of every term of every item.
        """
        days = list(periods.items())
        if not days:
            return []
        sql = (f"with periods (day, period) as (values {','.join(['(?, ?)'] * len(days))}) "
               "select d.key, d.kind, p.period, sum(d.count) from periods p cross join day_counts d on d.day = p.day "
               "where d.source = '' and d.kind != 'item_label'")
        params: list[Any] = [value for day in days for value in day]
        if kinds is not None:
            kinds = list(kinds)
            sql += f" and d.kind in ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        return [tuple(row) for row in self.conn.execute(sql + " group by 1, 2, 3", params)]

    # -- page snapshots ------------------------------------------------------------------------------------

    def last_snapshot(self, source_id: str) -> dict[str, Any] | None:
        rows = self._rows("select * from page_snapshots where source = ? order by taken_at desc, id desc limit 1",
                          [source_id])
        return rows[0] if rows else None

    def snapshots(self, source_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """A page's stored versions, newest first."""
        sql = "select * from page_snapshots where source = ? order by taken_at desc, id desc"
        return self._rows(sql + (f" limit {int(limit)}" if limit else ""), [source_id])

    def save_snapshot(self, source_id: str, url: str, taken_at: datetime, options: str, hash_: str, text: str,
                      lines: int, item_canonical: str | None = None) -> int:
        """Store a new version of a page's watched region, linked to the page_change item that reports it."""
        with self.transaction() as conn:
            item_id = None
            if item_canonical:
                found = conn.execute("select id from items where canonical_url = ?", [item_canonical]).fetchone()
                item_id = found[0] if found else None
            return self._insert("page_snapshots", {
                "source": source_id, "url": url, "taken_at": taken_at.isoformat(), "checked_at": taken_at.isoformat(),
                "options": options, "hash": hash_, "text": text, "lines": lines, "item_id": item_id})

    def touch_snapshot(self, snapshot_id: int, checked_at: datetime) -> None:
        """The page was checked and its region had not changed."""
        with self.transaction() as conn:
            conn.execute("update page_snapshots set checked_at = ? where id = ?", [checked_at.isoformat(), snapshot_id])

    def prune_snapshots(self, older_than: datetime, keep_last: int = 1, source: str | None = None) -> int:
        """Delete snapshots last seen before `older_than`, keeping each page's `keep_last` newest; return how many.

        A version's age is the last time it was seen on the page (checked_at), not when it first appeared: the
        current version of a page that never changes is never old. `keep_last` is at least 1, since the newest
        version is what the next check compares against.
        """
        keep_last = max(int(keep_last), 1)
        sql = ("delete from page_snapshots where coalesce(checked_at, taken_at) < ? and id not in ("
               "select id from (select id, row_number() over (partition by source order by taken_at desc, id desc) "
               "as newest from page_snapshots) where newest <= ?)")
        params: list[Any] = [older_than.isoformat(), keep_last]
        if source is not None:
            sql += " and source = ?"
            params.append(source)
        with self.transaction() as conn:
            return conn.execute(sql, params).rowcount

    def item_hashes(self, canonicals: Iterable[str]) -> dict[str, tuple[int, str]]:
        """canonical URL -> (item id, content hash) of the items that exist."""
        found = self._existing("select canonical_url, id, hash, published_estimated from items "
                               "where canonical_url in ({})", list(canonicals))
        return {key: (row["id"], row["hash"]) for key, row in found.items()}

    # -- deletion (erasure requests, retention) --------------------------------------------------------------

    def attachments_in_use(self, paths: Iterable[str]) -> set[str]:
        paths = list(dict.fromkeys(paths))
        if not paths:
            return set()
        return {row[0] for row in self.conn.execute(
            f"select distinct attachment from items where attachment in ({','.join('?' * len(paths))})", paths)}

    def items_matching(self, *, ids: Iterable[int] = (), source: str | None = None, author: str | None = None,
                       published_from: datetime | None = None, published_to: datetime | None = None,
                       search: str | None = None, origin: str | None = None) -> list[dict[str, Any]]:
        """Items that every given criterion matches (all of them: an empty call matches every item).

        `author` matches the item's author or whoever entered it, case and accents ignored.
        """
        where, params = _item_conditions(ids=ids, source=source, author=author, published_from=published_from,
                                         published_to=published_to, search=search, origin=origin)
        sql = ("select i.id, i.source, i.origin, i.published_at, i.author, i.entered_by, i.entered_from, i.title, "
               "i.attachment from items i")
        try:
            return self._rows(sql + where + " order by i.id", params)
        except sqlite3.OperationalError as exc:
            raise StoreError(tx("search failed: {exc}", exc=exc)) from None

    def delete_items(self, ids: Iterable[int]) -> int:
        """Erase items for good: their rows, every row that points at them, their search index entries.

        For erasure requests, the text must not survive elsewhere in the file: freed pages are zeroed
        (secure_delete), the search index is rewritten without the deleted rows ('optimize' merges away its
        delete markers), and the write-ahead log, which still holds old page images, is checkpointed and emptied.
        """
        ids = list(dict.fromkeys(int(i) for i in ids))
        if not ids:
            return 0
        deleted = 0
        self.conn.execute("PRAGMA secure_delete = on")
        try:
            with self.transaction() as conn:
                referencing = self._tables_referencing_items()
                for chunk, marks in _in_chunks(ids):
                    self._redact_digests(conn, chunk)
                    for table, column in referencing:
                        conn.execute(f"delete from {table} where {column} in ({marks})", chunk)
                    conn.execute(f"delete from label_corrections where item_id in ({marks})", chunk)
                    conn.execute(f"update page_snapshots set item_id = null where item_id in ({marks})", chunk)
                    # The FTS delete trigger removes each row from items_fts.
                    deleted += conn.execute(f"delete from items where id in ({marks})", chunk).rowcount
                conn.execute("insert into items_fts(items_fts) values('optimize')")
        finally:
            self.conn.execute("PRAGMA secure_delete = off")
        busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        if busy:
            log.warning("erasure: another connection kept the write-ahead log busy; old pages leave it at the next checkpoint")
        return deleted

    def _redact_digests(self, conn: sqlite3.Connection, item_ids: list[int]) -> None:
        """Digests and alerts that carried erased items keep their rendered message in this file: replace it with a
        notice, and cancel their deliveries not yet made (the archive's copies are the caller's to remove)."""
        marks = ",".join("?" * len(item_ids))
        digest_ids = [row[0] for row in conn.execute(
            f"select distinct digest_id from digest_items where item_id in ({marks})", item_ids)]
        if not digest_ids:
            return
        notice = tx("This brief quoted an item erased on request: its content is no longer kept.")
        digest_marks = ",".join("?" * len(digest_ids))
        conn.execute(f"update digests set html = ?, text = ?, chart = null, updated_at = ? where id in ({digest_marks})",
                     [f"<p>{notice}</p>", notice, utcnow().isoformat(), *digest_ids])
        conn.execute(f"update deliveries set status = 'failed', last_error = 'content erased', claimed_at = null "
                     f"where digest_id in ({digest_marks}) and status in ('pending', 'sending', 'uncertain')", digest_ids)

    def _tables_referencing_items(self) -> list[tuple[str, str]]:
        """(table, column) of every foreign key to items.id, including tables added by later stages."""
        found = []
        for (table,) in self.conn.execute("select name from sqlite_master where type = 'table'").fetchall():
            for row in self.conn.execute(f"PRAGMA foreign_key_list({table!r})").fetchall():
                if row[2] == "items" and table != "items":
                    found.append((table, row[3]))
        return found

    # -- digests -------------------------------------------------------------------------------------------

    def digest_candidates(self, audience: str, since: datetime, until: datetime, min_score: int,
                          published_after: datetime, chunk: int = 250) -> Iterator[list[dict[str, Any]]]:
        """Scored items first seen in [since, until) that never reached `audience`, best score first, in chunks.

        The score floor is applied here (recency can only lower a score), and rows become dicts only as the
        caller asks for the next chunk: a digest usually needs the first one of a period of thousands of items.
        `add_item_details` adds labels, companies and sources to the rows it keeps.
        """
        cursor = self.conn.execute(
            f"select {_DIGEST_COLUMNS} from items i indexed by idx_items_score_first_seen "
            "where i.first_seen >= ? and i.first_seen < ? and i.score >= ? and i.published_at >= ? "
            # digest_items by item first: the audience's digests grow every week, an item's rows stay few.
            "and not exists (select 1 from digest_items di cross join digests d on d.id = di.digest_id "
            "where di.item_id = i.id and d.audience = ?) order by i.score desc, i.id",
            [_utc(since), _utc(until), min_score, _utc(published_after), audience])
        names = [d[0] for d in cursor.description]
        try:
            while rows := cursor.fetchmany(chunk):
                yield [dict(zip(names, row)) for row in rows]
        finally:
            cursor.close()

    def add_item_details(self, rows: list[dict[str, Any]]) -> None:
        """Add `labels` (best first), `companies` (competitor ids) and `sources` (carrying sources) to item rows."""
        queries = {"labels": "select item_id, axis, label, score, by from item_labels where item_id in ({}) "
                             "order by score desc",
                   "companies": "select distinct item_id, competitor from item_entities where competitor is not null "
                                "and item_id in ({})",
                   "sources": "select item_id, source from item_sources where item_id in ({}) order by first_seen"}
        found: dict[str, dict[int, list]] = {name: {} for name in queries}
        ids = [r["id"] for r in rows]
        for chunk, marks in _in_chunks(ids):
            for name, sql in queries.items():
                for row in self._rows(sql.format(marks), chunk):
                    item_id = row.pop("item_id")
                    found[name].setdefault(item_id, []).append(row if name == "labels" else next(iter(row.values())))
        for row in rows:
            for name in queries:
                row[name] = found[name].get(row["id"], [])
            row["sources"] = row["sources"] or [row["source"]]

    def delivered_stories(self, audience: str) -> set[int]:
        """Stories of which some item already reached `audience` (in a digest or an alert)."""
        return {row[0] for row in self.conn.execute(
            "select distinct i.story from digest_items di join digests d on d.id = di.digest_id "
            "join items i on i.id = di.item_id where d.audience = ? and i.story is not null", [audience])}

    def story_members(self, story_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        """Every item of each story, as `digest_candidates` gives them and with `add_item_details`, oldest first:
        a digest shows a story through the member that suits its audience (language, source grade)."""
        ids = list(dict.fromkeys(s for s in story_ids if s is not None))
        found: dict[int, list[dict[str, Any]]] = {}
        for chunk, marks in _in_chunks(ids):
            rows = self._rows(f"select {_DIGEST_COLUMNS} from items i where i.story in ({marks}) "
                              "order by i.published_at, i.id", chunk)
            self.add_item_details(rows)
            for row in rows:
                found.setdefault(row["story"], []).append(row)
        return found

    def story_sources(self, story_ids: Iterable[int]) -> dict[int, set[str]]:
        """Every source that carried an item of each story (for "also reported by N sources")."""
        ids = list(dict.fromkeys(s for s in story_ids if s is not None))
        found: dict[int, set[str]] = {}
        for chunk, marks in _in_chunks(ids):
            for story, source in self.conn.execute(
                    f"select distinct i.story, s.source from items i join item_sources s on s.item_id = i.id "
                    f"where i.story in ({marks})", chunk):
                found.setdefault(story, set()).add(source)
        return found

    def window_counts(self, first: str, last: str, kinds: Iterable[str], keys: Iterable[str] | None = None,
                      exclude_sources: Iterable[str] = ()) -> dict[tuple[str, str], int]:
        """{(kind, key): items} over the UTC days [first, last) of publication, from `day_counts`."""
        kinds = list(kinds)
        sql = (f"select kind, key, sum(count) from day_counts where day >= ? and day < ? "
               f"and kind in ({','.join('?' * len(kinds))})")
        params: list[Any] = [first, last, *kinds]
        excluded = list(exclude_sources)
        if excluded:
            sql += f" and source not in ({','.join('?' * len(excluded))})"
            params.extend(excluded)
        if keys is None:
            return {(kind, key): count for kind, key, count in self.conn.execute(sql + " group by 1, 2", params)}
        found: dict[tuple[str, str], int] = {}
        wanted = list(dict.fromkeys(keys))
        for chunk, marks in _in_chunks(wanted):
            for kind, key, count in self.conn.execute(sql + f" and key in ({marks}) group by 1, 2", [*params, *chunk]):
                found[(kind, key)] = count
        return found

    def failing_sources(self, min_failures: int = 3) -> list[dict[str, Any]]:
        """Sources whose last `min_failures` fetches or more failed in a row, or that answered 410 Gone."""
        return self._rows("select id, name, status, failures, last_error, last_success_at from sources "
                          "where failures >= ? or status = 'gone' order by failures desc, id", [min_failures])

    def failed_in(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Sources with a failed fetch in [since, until): how many, the first one in the window, the last error, and
        `failing_since` (the first failure after the last success) when the source is still failing now."""
        return self._rows(
            "select f.source as id, count(*) as failed, min(f.started_at) as first_failed, s.status, s.last_error, "
            "case when s.status in ('failing', 'gone') then (select min(g.started_at) from fetches g "
            "where g.source = f.source and g.outcome in ('error', 'gone') "
            "and g.started_at > coalesce(s.last_success_at, '')) end as failing_since "
            "from fetches f join sources s on s.id = f.source where f.outcome in ('error', 'gone') "
            "and f.started_at >= ? and f.started_at < ? group by f.source order by first_failed, f.source",
            [_utc(since), _utc(until)])

    def source_count(self) -> int:
        return self.conn.execute("select count(*) from sources").fetchone()[0]

    def last_digest(self, audience: str, kind: str = "digest") -> dict[str, Any] | None:
        rows = self._rows("select * from digests where audience = ? and kind = ? order by cutoff desc, id desc limit 1",
                          [audience, kind])
        return rows[0] if rows else None

    def digest(self, audience: str, period: str) -> dict[str, Any] | None:
        rows = self._rows("select * from digests where audience = ? and period = ?", [audience, period])
        return rows[0] if rows else None

    def digest_by_id(self, digest_id: int) -> dict[str, Any] | None:
        rows = self._rows("select * from digests where id = ?", [digest_id])
        return rows[0] if rows else None

    def create_digest(self, record: dict[str, Any], items: Iterable[tuple[int, str, int, int]],
                      recipients: Iterable[str]) -> tuple[int, bool]:
        """Store a built digest, its items (item id, section, rank, shown) and one pending delivery per recipient.

        Idempotent per (audience, period): when another process built it first, nothing is written and its id
        is returned with False.
        """
        now = utcnow().isoformat()
        with self.transaction() as conn:
            existing = conn.execute("select id from digests where audience = ? and period = ?",
                                    [record["audience"], record["period"]]).fetchone()
            if existing:
                return existing[0], False
            digest_id = self._insert("digests", {**record, "created_at": record.get("created_at") or now,
                                                 "updated_at": now})
            conn.executemany("insert into digest_items (digest_id, item_id, section, rank, shown) values (?, ?, ?, ?, ?)",
                             [(digest_id, *item) for item in items])
            conn.executemany("insert into deliveries (digest_id, recipient, status, attempts, updated_at) "
                             "values (?, ?, 'pending', 0, ?) on conflict do nothing",
                             [(digest_id, r, now) for r in dict.fromkeys(recipients)])
        return digest_id, True

    def update_digest(self, digest_id: int, **values: Any) -> None:
        with self.transaction():
            self._update("digests", digest_id, {**values, "updated_at": utcnow().isoformat()})

    def digest_item_ids(self, digest_id: int) -> list[dict[str, Any]]:
        return self._rows("select item_id, section, rank, shown from digest_items where digest_id = ? order by rank",
                          [digest_id])

    def deliveries(self, digest_id: int) -> list[dict[str, Any]]:
        return self._rows("select * from deliveries where digest_id = ? order by id", [digest_id])

    def pending_deliveries(self, audience: str, kind: str = "digest",
                           stale_before: datetime | None = None) -> list[dict[str, Any]]:
        """Deliveries not yet made for an audience's digests (or alerts), oldest digest first.

        A delivery left 'sending' or 'uncertain' by a process that died, claimed before `stale_before`, counts as
        pending again.
        """
        stale = _utc(stale_before or utcnow() - timedelta(minutes=CLAIM_MINUTES))
        return self._rows("select v.*, d.period, d.audience from deliveries v join digests d on d.id = v.digest_id "
                          "where d.audience = ? and d.kind = ? and (v.status = 'pending' or "
                          "(v.status in ('sending', 'uncertain') and v.claimed_at < ?)) order by d.cutoff, v.id",
                          [audience, kind, stale])

    def held_deliveries(self, audience: str, kind: str = "digest",
                        stale_before: datetime | None = None) -> list[dict[str, Any]]:
        """Deliveries claimed ('sending', 'uncertain') since `stale_before`: they wait for their claim to expire."""
        stale = _utc(stale_before or utcnow() - timedelta(minutes=CLAIM_MINUTES))
        return self._rows("select v.*, d.period, d.audience from deliveries v join digests d on d.id = v.digest_id "
                          "where d.audience = ? and d.kind = ? and v.status in ('sending', 'uncertain') "
                          "and v.claimed_at >= ? order by d.cutoff, v.id", [audience, kind, stale])

    def mark_uncertain(self, delivery_id: int) -> str:
        """The end of its message leaves now: until the server's reply is recorded, the delivery may have been
        made (status 'uncertain', its claim renewed from now). Return the claim's new time."""
        now = utcnow().isoformat()
        with self.transaction() as conn:
            conn.execute("update deliveries set status = 'uncertain', claimed_at = ?, updated_at = ? where id = ?",
                         [now, now, delivery_id])
        return now

    def claim_delivery(self, delivery: dict[str, Any]) -> bool:
        """Take a pending delivery for this process (status 'sending'); False when another process took it.

        The scheduler and an analyst's `veille digest send` may run at the same time: only one of them sends.
        """
        with self.transaction() as conn:
            cursor = conn.execute("update deliveries set status = 'sending', claimed_at = ? where id = ? and status = ? "
                                  "and coalesce(claimed_at, '') = coalesce(?, '')",
                                  [utcnow().isoformat(), delivery["id"], delivery["status"], delivery.get("claimed_at")])
        return cursor.rowcount == 1

    def record_delivery(self, delivery_id: int, status: str, *, error: str | None = None,
                        message_id: str | None = None, attempted: bool = True) -> None:
        """Move one delivery to pending (with the error of a transient failure), sent, failed or suppressed."""
        now = utcnow().isoformat()
        with self.transaction() as conn:
            conn.execute("update deliveries set status = ?, last_error = ?, attempts = attempts + ?, claimed_at = null, "
                         "message_id = coalesce(?, message_id), sent_at = case when ? = 'sent' then ? else sent_at end, "
                         "updated_at = ? where id = ?",
                         [status, error, 1 if attempted else 0, message_id, status, now, now, delivery_id])

    def set_message_id(self, delivery_id: int, message_id: str) -> None:
        """Fix a delivery's Message-ID before its first attempt, so that a retry carries the same one."""
        with self.transaction() as conn:
            conn.execute("update deliveries set message_id = ? where id = ? and message_id is null",
                         [message_id, delivery_id])

    def digests_list(self, audience: str | None = None, kind: str | None = "digest",
                     limit: int | None = None) -> list[dict[str, Any]]:
        """Stored digests newest first, with their delivery counts (no message bodies)."""
        stale = _utc(utcnow() - timedelta(minutes=CLAIM_MINUTES))
        where, params = [], [stale, stale, stale]
        if audience:
            where.append("d.audience = ?")
            params.append(audience)
        if kind:
            where.append("d.kind = ?")
            params.append(kind)
        sql = ("select d.id, d.audience, d.kind, d.period, d.period_start, d.cutoff, d.created_at, d.status, d.items, "
               "d.subject, d.archive_path, d.error, "
               "sum(v.status = 'sent') as sent, sum(v.status in ('pending', 'sending', 'uncertain')) as pending, "
               "sum(v.status = 'failed') as failed, "
               # Uncertain: the server may have the message (digests.deliver); once its claim has expired, it waits
               # to be sent again like any pending delivery.
               "sum(v.status = 'uncertain' and v.claimed_at >= ?) as uncertain, "
               "max(case when v.status in ('sending', 'uncertain') and v.claimed_at >= ? then v.claimed_at end) "
               "as held_since, sum(v.status in ('sending', 'uncertain') and v.claimed_at >= ?) as held, "
               "sum(v.status = 'suppressed') as suppressed, max(v.sent_at) as sent_at, max(v.attempts) as attempts, "
               "(select last_error from deliveries e where e.digest_id = d.id and e.last_error is not null "
               " order by e.updated_at desc limit 1) as last_error "
               "from digests d left join deliveries v on v.digest_id = d.id")
        if where:
            sql += " where " + " and ".join(where)
        sql += " group by d.id order by d.cutoff desc, d.id desc"
        if limit:
            sql += f" limit {int(limit)}"
        rows = self._rows(sql, params)
        for row in rows:
            for name in ("sent", "pending", "failed", "suppressed", "uncertain", "held"):
                row[name] = row[name] or 0
            since = row.pop("held_since")
            row["held_until"] = _utc(datetime.fromisoformat(since) + timedelta(minutes=CLAIM_MINUTES)) if since else None
            if row["uncertain"]:
                row["status"] = "uncertain"
            elif row["status"] == "uncertain":  # its claim has expired: it waits to be sent again
                row["status"] = "pending"
        return rows

    def digest_overview(self) -> list[dict[str, Any]]:
        """Per audience, its last digest: period, status, cutoff, sent_at, attempts, last error (`veille status`)."""
        latest = self._rows("select audience, max(cutoff) as cutoff from digests where kind = 'digest' group by audience")
        overview = []
        for row in latest:
            rows = self.digests_list(row["audience"], limit=1)
            if rows:
                digest = rows[0]
                overview.append({key: digest[key] for key in (
                    "audience", "period", "status", "cutoff", "items", "sent_at", "attempts", "last_error",
                    "sent", "pending", "failed", "uncertain", "held_until")})
        return sorted(overview, key=lambda r: r["audience"])

    def suppress(self, email: str, reason: str = "unsubscribe") -> bool:
        """Add an address to the suppression list; False when it was already there."""
        with self.transaction() as conn:
            cursor = conn.execute("insert into suppressions (email, added_at, reason) values (?, ?, ?) "
                                  "on conflict (email) do nothing", [email.strip().lower(), utcnow().isoformat(), reason])
        return cursor.rowcount > 0

    def unsuppress(self, email: str) -> bool:
        with self.transaction() as conn:
            cursor = conn.execute("delete from suppressions where email = ?", [email.strip().lower()])
        return cursor.rowcount > 0

    def is_suppressed(self, email: str) -> bool:
        return self.conn.execute("select 1 from suppressions where email = ?",
                                 [email.strip().lower()]).fetchone() is not None

    def suppressions(self) -> list[dict[str, Any]]:
        return self._rows("select * from suppressions order by email")

    # -- scheduled jobs (veille run) ---------------------------------------------------------------------------

    JOB_SUCCESS = ("ok",)  # outcomes that count as the job's last success (catch-up after downtime reads it)

    def set_job_plan(self, jobs: Iterable[dict[str, Any]]) -> None:
        """The scheduler's current jobs (job, kind, target, schedule, next_run_at); the others become inactive."""
        jobs = list(jobs)
        now = utcnow().isoformat()
        with self.transaction() as conn:
            conn.execute("update job_runs set active = 0, next_run_at = null")
            conn.executemany(
                "insert into job_runs (job, kind, target, schedule, next_run_at, active, updated_at) "
                "values (?, ?, ?, ?, ?, 1, ?) on conflict (job) do update set kind = excluded.kind, "
                "target = excluded.target, schedule = excluded.schedule, next_run_at = excluded.next_run_at, "
                "active = 1, updated_at = excluded.updated_at",
                [(j["job"], j["kind"], j.get("target"), j.get("schedule"), j.get("next_run_at"), now) for j in jobs])

    def record_job_run(self, job: str, kind: str, target: str | None, started_at: datetime, finished_at: datetime,
                       outcome: str, counts: dict[str, Any] | None = None, error: str | None = None,
                       next_run_at: datetime | None = None) -> None:
        """One run of a scheduled job: its outcome, counts, duration and error; success moves last_success_at."""
        success = outcome in self.JOB_SUCCESS
        values = {"kind": kind, "target": target, "last_run_at": started_at.isoformat(),
                  "last_finished_at": finished_at.isoformat(), "last_outcome": outcome,
                  "last_duration_ms": int((finished_at - started_at).total_seconds() * 1000),
                  "last_counts": json.dumps(counts or {}, ensure_ascii=False), "last_error": error or None,
                  "updated_at": utcnow().isoformat()}
        if next_run_at is not None:
            values["next_run_at"] = next_run_at.astimezone(timezone.utc).isoformat()
        with self.transaction() as conn:
            conn.execute("insert into job_runs (job, kind, target, active) values (?, ?, ?, 1) "
                         "on conflict (job) do nothing", [job, kind, target])
            assignments = ", ".join(f"{name} = ?" for name in values)
            conn.execute(
                f"update job_runs set {assignments}, runs = runs + 1, "
                "errors = errors + ?, failures = case when ? then 0 when ? then failures + 1 else failures end, "
                "last_success_at = case when ? then ? else last_success_at end where job = ?",
                [*values.values(), int(outcome == "error"), success, outcome == "error", success,
                 started_at.isoformat(), job])

    def job_runs(self, active_only: bool = True) -> list[dict[str, Any]]:
        """Scheduled jobs with their last run, last success and next run, for `veille status`."""
        rows = self._rows("select * from job_runs" + (" where active = 1" if active_only else "") + " order by job")
        for row in rows:
            row["last_counts"] = json.loads(row["last_counts"]) if row.get("last_counts") else {}
        return rows

    def last_successes(self) -> dict[str, datetime]:
        """Each job's last successful run (when it started), to find the jobs left overdue by a downtime."""
        return {job: datetime.fromisoformat(at) for job, at in
                self.conn.execute("select job, last_success_at from job_runs where last_success_at is not null")}

    def prune_fetches(self, older_than: datetime) -> int:
        """Delete fetch history older than a date (each source's state, failures and backoff stay in `sources`)."""
        with self.transaction() as conn:
            return conn.execute("delete from fetches where started_at < ?", [older_than.isoformat()]).rowcount

    def optimize(self) -> None:
        """Periodic upkeep: merge the search index, refresh the planner's statistics, empty the write-ahead log."""
        with self.transaction() as conn:
            conn.execute("insert into items_fts(items_fts) values('optimize')")
        self.conn.execute("PRAGMA optimize")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def counts(self) -> dict[str, int]:
        return {table: self.conn.execute(f"select count(*) from {table}").fetchone()[0]
                for table in ("sources", "items", "fetches", "page_snapshots")}

    # -- evidence for the watch plan and the sources audit (read only) --------------------------------------

    def has_table(self, name: str) -> bool:
        """Whether a table exists: the plan reads tables of stages that may not have run (or landed) yet."""
        return self.conn.execute("select 1 from sqlite_master where type = 'table' and name = ?",
                                 [name]).fetchone() is not None

    def published_since(self, since: datetime) -> list[dict[str, Any]]:
        """Items published since a date, without their HTML, with labels, competitors named and sources."""
        rows = self._rows(
            "select id, source, url, title, summary, substr(text, 1, 2000) as text, lang, published_at, "
            "published_estimated, fetched_at, first_seen, hash, origin, score, reasons, credibility, story, "
            "classified_at, actor_competitor, themes as declared_themes, competitor as declared_competitor "
            "from items where published_at >= ? order by published_at", [since.isoformat()])
        by_id = {row["id"]: row for row in rows}
        for row in rows:
            row.update(labels=[], competitors={row["declared_competitor"]} - {None}, sources=[])
            row["declared_themes"] = set(json.loads(row["declared_themes"] or "[]"))
        for link in self._for_items("select item_id, axis, label, score, by from item_labels where item_id in ({})", by_id):
            by_id[link.pop("item_id")]["labels"].append(link)
        for link in self._for_items("select item_id, competitor from item_entities "
                                    "where competitor is not null and item_id in ({})", by_id):
            by_id[link["item_id"]]["competitors"].add(link["competitor"])
        for link in self._for_items("select item_id, source from item_sources where item_id in ({}) order by first_seen", by_id):
            by_id[link["item_id"]]["sources"].append(link["source"])
        return rows

    def _for_items(self, sql: str, ids: Iterable[int]) -> Iterator[dict[str, Any]]:
        """Rows of `sql` (one `in ({})` over item ids), queried in chunks (SQLite limits bound parameters)."""
        ids = list(ids)
        for chunk, marks in _in_chunks(ids):
            yield from self._rows(sql.format(marks), chunk)

    def provenance(self) -> dict[str, Any]:
        """How traceable and how processed the stored items are, as counts over the whole store."""
        totals = self._rows(
            # A field note has no URL: who entered it and from where (`veille add`, file:line) is its address.
            "select count(*) as items, coalesce(sum(url like 'http%' or coalesce(entered_from, '') != ''), 0) as with_url, "
            "coalesce(sum(fetched_at is not null and fetched_at != ''), 0) as with_fetch_time, "
            "coalesce(sum(hash is not null and hash != ''), 0) as with_hash, "
            "coalesce(sum(published_estimated), 0) as estimated_dates, "
            "coalesce(sum(classified_at is not null), 0) as classified, "
            "coalesce(sum(score is not null), 0) as scored, coalesce(sum(credibility < 6), 0) as corroborated, "
            "min(published_at) as oldest, max(published_at) as newest, max(first_seen) as last_seen from items")[0]
        totals["origins"] = dict(self.conn.execute("select origin, count(*) from items group by 1 order by 2 desc").fetchall())
        totals["multi_source"] = self.conn.execute(
            "select count(*) from (select item_id from item_sources group by 1 having count(*) > 1)").fetchone()[0]
        totals["corrections"] = self.conn.execute("select count(*) from label_corrections").fetchone()[0]
        return totals

    def source_activity(self, since: datetime) -> dict[str, dict[str, Any]]:
        """Per source known to the store: its state, items carried (all, published since), fetches since,
        and how many of its items reached a digest (None while no digest table exists)."""
        activity = {row["id"]: {**row, "items": 0, "items_since": 0, "last_published": None, "fetches": 0,
                                "fetches_ok": 0, "in_digest": None} for row in self._rows("select * from sources")}
        blank = {"items": 0, "items_since": 0, "last_published": None, "fetches": 0, "fetches_ok": 0, "in_digest": None}
        for row in self._rows("select s.source, count(*) as items, coalesce(sum(i.published_at >= ?), 0) as items_since, "
                              "max(i.published_at) as last_published from item_sources s "
                              "join items i on i.id = s.item_id group by 1", [since.isoformat()]):
            activity.setdefault(row["source"], {"id": row["source"], **blank}).update(row)
        for row in self._rows("select source, count(*) as fetches, coalesce(sum(outcome in ('ok', 'not_modified')), 0) "
                              "as fetches_ok from fetches where started_at >= ? group by 1", [since.isoformat()]):
            activity.setdefault(row["source"], {"id": row["source"], **blank}).update(row)
        if self.has_table("digest_items") and self.conn.execute("select 1 from digest_items limit 1").fetchone():
            for source, count in self.conn.execute(
                    "select s.source, count(distinct s.item_id) from item_sources s "
                    "join digest_items d on d.item_id = s.item_id group by 1"):
                activity.setdefault(source, {"id": source, **blank})["in_digest"] = count
            for row in activity.values():
                row["in_digest"] = row["in_digest"] or 0
        for row in activity.values():
            row.pop("source", None)
        return activity

    def diffusion(self) -> dict[str, Any] | None:
        """What the digest stage built and delivered, per audience; None while its tables do not exist.

        Digests and same-day alerts share the `digests` table (column `kind`); deliveries of both are counted.
        """
        if not self.has_table("digests"):
            return None
        kinds = "kind" in {row[1] for row in self.conn.execute("pragma table_info(digests)")}
        is_digest = "kind = 'digest'" if kinds else "1"
        audiences = {row["audience"]: {**row, "sent": 0, "failed": 0, "pending": 0, "last_error": None, "last_sent": None}
                     for row in self._rows(
                         f"select audience, coalesce(sum({is_digest}), 0) as digests, coalesce(sum(not ({is_digest})), 0) "
                         f"as alerts, max(case when {is_digest} then period end) as last_period, "
                         f"max(case when {is_digest} then created_at end) as last_created, "
                         f"coalesce(sum(case when {is_digest} then items end), 0) as items from digests group by 1")}
        if self.has_table("deliveries"):
            for row in self._rows("select d.audience, v.status, count(*) as n, max(v.sent_at) as last_sent, "
                                  "max(case when v.last_error is not null and v.last_error != '' then v.last_error end) "
                                  "as last_error from deliveries v join digests d on d.id = v.digest_id group by 1, 2"):
                entry = audiences.setdefault(row["audience"], {"audience": row["audience"], "digests": 0, "alerts": 0,
                                                               "items": 0, "sent": 0, "failed": 0, "pending": 0})
                # sending: claimed, not yet sent; uncertain: perhaps sent, sent again once its claim expires
                status = "pending" if row["status"] in ("sending", "uncertain") else row["status"]
                if status in ("sent", "failed", "pending"):
                    entry[status] += row["n"]
                if status == "sent":
                    entry["last_sent"] = row["last_sent"]
                entry["last_error"] = row["last_error"] or entry.get("last_error")
        suppressed = (self.conn.execute("select count(*) from suppressions").fetchone()[0]
                      if self.has_table("suppressions") else 0)
        return {"audiences": audiences, "suppressed": suppressed}


def _item_conditions(*, ids: Iterable[int] = (), since: datetime | None = None, source: str | None = None,
                     author: str | None = None, published_from: datetime | None = None,
                     published_to: datetime | None = None, search: str | None = None,
                     origin: str | None = None) -> tuple[str, list[Any]]:
    """A `where` clause on items `i` (empty when nothing is asked) and its parameters."""
    conditions: list[tuple[str, list[Any]]] = []
    ids = list(ids)
    if ids:
        conditions.append((f"i.id in ({','.join('?' * len(ids))})", ids))
    if since:
        conditions.append(("i.first_seen >= ?", [since.isoformat()]))
    if source:
        conditions.append(("i.id in (select item_id from item_sources where source = ?)", [source]))
    if author:
        conditions.append(("(fold(i.author) = fold(?) or fold(i.entered_by) = fold(?))", [author, author]))
    if published_from:
        conditions.append(("i.published_at >= ?", [published_from.isoformat()]))
    if published_to:
        conditions.append(("i.published_at < ?", [published_to.isoformat()]))
    if origin:
        conditions.append(("i.origin = ?", [origin]))
    if search:
        conditions.append(("i.id in (select rowid from items_fts where items_fts match ?)", [fts_query(search)]))
    if not conditions:
        return "", []
    return " where " + " and ".join(c for c, _ in conditions), [p for _, params in conditions for p in params]


def _fold(text: str | None) -> str | None:
    """Lower case without accents ("Élise" = "elise"): how people are matched in an erasure request."""
    if text is None:
        return None
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold().strip()


# What a digest reads of an item (`digest_candidates`, `story_members`).
_DIGEST_COLUMNS = ("i.id, i.source, i.url, i.title, i.summary, i.lang, i.published_at, i.published_estimated, "
                   "i.first_seen, i.score, i.reasons, i.story, i.credibility, i.actor, i.actor_competitor, i.origin")


def _utc(moment: datetime) -> str:
    """A moment as stored: ISO 8601 in UTC (times are compared as text, so every one must use the same zone)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).isoformat()


def fts_query(text: str) -> str:
    """User words as an FTS5 query: each word quoted (no syntax errors), all required, prefix on the last."""
    words = [w.replace('"', '""') for w in text.split() if w.strip()]
    if not words:
        return '""'
    return " ".join(f'"{w}"' for w in words[:-1]) + (" " if len(words) > 1 else "") + f'"{words[-1]}"*'
