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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from watch.errors import StoreError
from watch.i18n import tr
from watch.models import Entry, FetchOutcome, IngestCounts, canonical_url, content_hash, plain_text, sanitize_html, utcnow

if TYPE_CHECKING:
    from watch.config import Source

log = logging.getLogger(__name__)
DEFAULT_DB = "data/veille.db"
FETCH_COLUMNS = ("url", "duration_ms", "http_status", "outcome", "bytes", "entries", "new", "updated", "error", "warning")
BUSY_TIMEOUT_S = 30


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


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_initial", _m001_initial),
]


class Store:
    """A veille database. Open with `Store.open(path)`; use as a context manager to close it."""

    def __init__(self, db: sqlite_utils.Database, path: Path):
        self.db = db
        self.path = path

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
            store = cls(sqlite_utils.Database(conn), file)
            store.migrate()
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(tr(f"base {file} inutilisable : {exc}",
                                f"database {file} cannot be used: {exc}")) from None
        return store

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """A write transaction that takes the write lock up front (BEGIN IMMEDIATE)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def migrate(self) -> list[str]:
        applied = []
        with self.transaction() as db:
            if not db["_migrations"].exists():
                db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
            done = {row["name"] for row in db["_migrations"].rows}
            for name, migration in MIGRATIONS:
                if name not in done:
                    migration(db)
                    db["_migrations"].insert({"name": name, "applied_at": utcnow().isoformat()})
                    applied.append(name)
        return applied

    # -- sources -------------------------------------------------------------------------------------------

    def sync_sources(self, sources: Iterable[Source]) -> None:
        """Mirror the configured sources; a source marked gone comes back when its configuration changes."""
        now = utcnow().isoformat()
        with self.transaction() as db:
            for source in sources:
                config_hash = content_hash(source.model_dump_json(), "", "")
                row = self._source_row(source.id)
                values = {"id": source.id, "name": source.name, "kind": source.kind, "url": source.url or "",
                          "config_hash": config_hash, "updated_at": now}
                if row is None:
                    db["sources"].insert({**values, "status": "active", "failures": 0})
                elif row["config_hash"] != config_hash:
                    # A changed configuration is a fresh start: forget validators, backoff and a 410.
                    db["sources"].update(source.id, {**values, "status": "active", "failures": 0, "next_attempt_at": None,
                                                     "etag": None, "last_modified": None})
                else:
                    db["sources"].update(source.id, values)

    def ensure_source(self, source_id: str, name: str, kind: str, url: str) -> None:
        """Register a source that is not in the configuration (ad-hoc URLs, imports)."""
        if self._source_row(source_id) is None:
            with self.transaction() as db:
                db["sources"].insert({"id": source_id, "name": name, "kind": kind, "url": url, "status": "active",
                                      "failures": 0, "updated_at": utcnow().isoformat()}, ignore=True)

    def _source_row(self, source_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("select * from sources where id = ?", [source_id]))
        return rows[0] if rows else None

    def source_state(self, source_id: str) -> dict[str, Any]:
        return self._source_row(source_id) or {"id": source_id, "status": "active", "failures": 0}

    def reset_source(self, source_id: str) -> bool:
        """Forget a source's failures, backoff, 410 and validators: it is fetched in full at the next run."""
        if self._source_row(source_id) is None:
            return False
        with self.transaction() as db:
            db["sources"].update(source_id, {"status": "active", "failures": 0, "next_attempt_at": None,
                                             "etag": None, "last_modified": None, "last_error": None})
        return True

    def record_fetch(self, fetch: FetchOutcome, backoff: Callable[[int], float]) -> None:
        """Store one fetch attempt and move the source's state (validators, failures, backoff, gone)."""
        row = self.source_state(fetch.source_id)
        now = utcnow()
        update: dict[str, Any] = {"last_fetch_at": fetch.started_at.isoformat(), "last_status": fetch.http_status,
                                  "warning": fetch.warning or None}
        if fetch.outcome in ("ok", "not_modified"):
            update.update(status="active", failures=0, next_attempt_at=None, last_error=None,
                          last_success_at=now.isoformat())
            if fetch.outcome == "ok":
                update.update(etag=fetch.etag, last_modified=fetch.last_modified)
        elif fetch.outcome == "gone":
            update.update(status="gone", last_error=fetch.error)
        elif fetch.outcome == "error":
            failures = (row.get("failures") or 0) + 1
            delay = max(backoff(failures), fetch.retry_after or 0)
            update.update(status="failing", failures=failures, last_error=fetch.error,
                          next_attempt_at=(now + timedelta(seconds=delay)).isoformat())
        record = {name: getattr(fetch, name) for name in FETCH_COLUMNS}
        record["source"], record["started_at"] = fetch.source_id, fetch.started_at.isoformat()
        with self.transaction() as db:
            db["fetches"].insert(record)
            if row.get("name") is not None:
                db["sources"].update(fetch.source_id, update)

    def sources_overview(self) -> list[dict[str, Any]]:
        """Each known source with its state and item count, for `veille sources list`."""
        return list(self.db.query(
            "select s.*, (select count(*) from item_sources i where i.source = s.id) as items "
            "from sources s order by s.id"))

    # -- items ---------------------------------------------------------------------------------------------

    def ingest(self, source_id: str, entries: Iterable[Entry], origin: str,
               fetched_at: datetime | None = None, default_lang: str | None = None) -> IngestCounts:
        """The one path by which anything collected becomes an item: sanitised, deduplicated, traceable.

        One canonical URL (or one guid within a source) is one item; a changed item is updated in place and
        keeps its first-seen time; every source that carried it is recorded in item_sources.
        """
        fetched_at = fetched_at or utcnow()
        counts = IngestCounts()
        entries = list(entries)
        links_of_guid: dict[str, set[str]] = {}
        for entry in entries:
            if entry.guid:
                links_of_guid.setdefault(entry.guid, set()).add(canonical_url(entry.url) if entry.url else "")
        for guid, links in links_of_guid.items():
            if sum(1 for e in entries if e.guid == guid) > 1:
                counts.warnings.append(tr(f"guid répété dans le flux : {guid}", f"guid repeated in the feed: {guid}"))
        # A guid carried by different articles (some CMSs put the site URL in every <guid>) identifies nothing.
        shared = {guid for guid, links in links_of_guid.items() if len(links) > 1}
        with self.transaction() as db:
            for entry in entries:
                if entry.guid in shared:
                    entry = replace(entry, guid=None)
                row = self._item_values(source_id, entry, origin, fetched_at, default_lang, counts)
                if row is None:
                    continue
                existing = self._find_item(source_id, entry.guid, row["canonical_url"])
                if existing is None:
                    item_id = db["items"].insert(row).last_pk
                    counts.new += 1
                else:
                    item_id = existing["id"]
                    if existing["hash"] != row["hash"]:
                        changes = {k: row[k] for k in ("title", "summary", "html", "text", "author", "hash", "categories")}
                        changes["updated_at"] = fetched_at.isoformat()
                        if row["lang"]:
                            changes["lang"] = row["lang"]
                        if existing["published_estimated"] and not row["published_estimated"]:
                            changes.update(published_at=row["published_at"], published_estimated=0)
                        db["items"].update(item_id, changes)
                        counts.updated += 1
                    else:
                        counts.unchanged += 1
                db.execute(
                    "insert into item_sources (item_id, source, url, guid, first_seen, last_seen) values (?, ?, ?, ?, ?, ?) "
                    "on conflict (item_id, source) do update set last_seen = excluded.last_seen, "
                    "guid = coalesce(excluded.guid, item_sources.guid)",
                    [item_id, source_id, row["url"], entry.guid, fetched_at.isoformat(), fetched_at.isoformat()])
        return counts

    def _item_values(self, source_id: str, entry: Entry, origin: str, fetched_at: datetime,
                     default_lang: str | None, counts: IngestCounts) -> dict[str, Any] | None:
        title = plain_text(entry.title)
        html = sanitize_html(entry.summary or entry.text)
        summary = plain_text(entry.summary)
        text = plain_text(entry.text)
        if not (title or summary or text):
            counts.warnings.append(tr("article vide ignoré", "empty entry skipped") + f" ({entry.url or entry.guid})")
            return None
        url = entry.url if entry.url and entry.url.startswith(("http://", "https://")) else None
        if url:
            canonical = canonical_url(url)
        elif entry.guid and entry.guid.startswith(("http://", "https://")):
            url, canonical = entry.guid, canonical_url(entry.guid)
        else:
            # No usable link: the item is still kept, identified within its source.
            key = entry.guid or content_hash(title, summary, text)
            canonical = f"urn:veille:{source_id}:{key}"
        published, estimated = entry.published, 0
        if published is not None:
            # Stored in UTC; a date without a zone is taken as UTC (what feeds mean in practice).
            published = published.astimezone(timezone.utc) if published.tzinfo else published.replace(tzinfo=timezone.utc)
        if published is None:
            published, estimated = fetched_at, 1
        elif published > fetched_at + timedelta(minutes=5):
            counts.warnings.append(tr(f"date future ramenée à la collecte : {published.isoformat()}",
                                      f"future date clamped to fetch time: {published.isoformat()}"))
            published, estimated = fetched_at, 1
        elif published > fetched_at:
            published = fetched_at
        return {
            "canonical_url": canonical, "url": url or "", "source": source_id, "guid": entry.guid,
            "title": title, "summary": summary, "html": html, "text": text, "author": plain_text(entry.author),
            "lang": entry.lang or default_lang, "published_at": published.isoformat(), "published_estimated": estimated,
            "fetched_at": fetched_at.isoformat(), "first_seen": fetched_at.isoformat(), "updated_at": None,
            "origin": origin, "hash": content_hash(title, summary, text),
            "categories": json.dumps([plain_text(c) for c in entry.categories if c], ensure_ascii=False),
        }

    def _find_item(self, source_id: str, guid: str | None, canonical: str) -> dict[str, Any] | None:
        if guid:
            rows = list(self.db.query(
                "select i.* from item_sources s join items i on i.id = s.item_id where s.source = ? and s.guid = ?",
                [source_id, guid]))
            if rows:
                return rows[0]
        rows = list(self.db.query("select * from items where canonical_url = ?", [canonical]))
        return rows[0] if rows else None

    def items(self, since: datetime | None = None, source: str | None = None, search: str | None = None,
              limit: int | None = None) -> list[dict[str, Any]]:
        """Items newest first, with every source that carried them; `search` is full-text, accents ignored."""
        where, params = [], []
        if since:
            where.append("i.first_seen >= ?")
            params.append(since.isoformat())
        if source:
            where.append("i.id in (select item_id from item_sources where source = ?)")
            params.append(source)
        if search:
            where.append("i.id in (select rowid from items_fts where items_fts match ?)")
            params.append(fts_query(search))
        sql = "select i.* from items i"
        if where:
            sql += " where " + " and ".join(where)
        sql += " order by i.published_at desc, i.id desc"
        if limit:
            sql += f" limit {int(limit)}"
        try:
            rows = list(self.db.query(sql, params))
        except sqlite3.OperationalError as exc:
            raise StoreError(tr(f"recherche impossible : {exc}", f"search failed: {exc}")) from None
        by_item: dict[int, list[str]] = {}
        if rows:
            marks = ",".join("?" * len(rows))
            for link in self.db.query(f"select item_id, source from item_sources where item_id in ({marks}) "
                                      "order by first_seen", [r["id"] for r in rows]):
                by_item.setdefault(link["item_id"], []).append(link["source"])
        for row in rows:
            row["sources"] = by_item.get(row["id"], [row["source"]])
            row["published_estimated"] = bool(row["published_estimated"])
            row["categories"] = json.loads(row["categories"] or "[]")
        return rows

    def counts(self) -> dict[str, int]:
        return {table: self.db[table].count for table in ("sources", "items", "fetches")}


def fts_query(text: str) -> str:
    """User words as an FTS5 query: each word quoted (no syntax errors), all required, prefix on the last."""
    words = [w.replace('"', '""') for w in text.split() if w.strip()]
    if not words:
        return '""'
    return " ".join(f'"{w}"' for w in words[:-1]) + (" " if len(words) > 1 else "") + f'"{words[-1]}"*'
