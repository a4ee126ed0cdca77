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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any


from watch.errors import StoreError
from watch.i18n import tr
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


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("001_initial", _m001_initial),
    ("002_classification", _m002_classification),
    ("003_terms", _m003_terms),
    ("004_pages_offline", _m004_pages_offline),
]


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
            raise StoreError(tr(f"base {file} inutilisable : {exc}",
                                f"database {file} cannot be used: {exc}")) from None
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

    def record_fetch(self, fetch: FetchOutcome, backoff: Callable[[int], float]) -> None:
        """Store one fetch attempt and move the source's state (validators, failures, backoff, gone)."""
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
            if row is not None:
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
                counts.warnings.append(tr(f"guid répété dans le flux : {guid}", f"guid repeated in the feed: {guid}"))
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
            links = []
            for row in rows:
                existing = (by_guid.get(row["guid"]) if row["guid"] else None) or by_url.get(row["canonical_url"])
                if existing is None:
                    item_id = conn.execute(INSERT_ITEM, [row[c] for c in ITEM_COLUMNS]).lastrowid
                    existing = by_url[row["canonical_url"]] = {"id": item_id, "hash": row["hash"],
                                                               "published_estimated": row["published_estimated"]}
                    counts.new += 1
                elif existing["hash"] != row["hash"]:
                    dated = existing["published_estimated"] and not row["published_estimated"]
                    new_date = row["published_at"] if dated else None
                    conn.execute(UPDATE_ITEM, [row["title"], row["summary"], row["html"], row["text"], row["author"],
                                               row["hash"], row["categories"], seen, row["lang"], new_date, new_date,
                                               existing["id"]])
                    existing.update(hash=row["hash"], published_estimated=0 if dated else existing["published_estimated"])
                    counts.updated += 1
                else:
                    counts.unchanged += 1
                links.append((existing["id"], source_id, row["url"], row["guid"], seen, seen))
            conn.executemany(
                "insert into item_sources (item_id, source, url, guid, first_seen, last_seen) values (?, ?, ?, ?, ?, ?) "
                "on conflict (item_id, source) do update set last_seen = excluded.last_seen, "
                "guid = coalesce(excluded.guid, item_sources.guid)", links)
        return counts

    def _existing(self, sql: str, keys: list[str], params: list | None = None) -> dict[str, dict]:
        """Rows keyed by their first column, for keys queried in chunks (SQLite limits bound parameters)."""
        found: dict[str, dict] = {}
        keys = list(dict.fromkeys(keys))
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            cursor = self.conn.execute(sql.format(",".join("?" * len(chunk))), [*(params or []), *chunk])
            for key, item_id, hash_, estimated in cursor:
                found.setdefault(key, {"id": item_id, "hash": hash_, "published_estimated": estimated})
        return found

    def _item_values(self, source_id: str, entry: Entry, origin: str, fetched_at: datetime,
                     default_lang: str | None, counts: IngestCounts) -> dict[str, Any] | None:
        title, summary, text = entry.title, entry.summary, entry.text
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
        if entry.canonical:
            canonical = entry.canonical
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
            "title": title, "summary": summary, "html": entry.html, "text": text, "author": entry.author,
            "lang": entry.lang or default_lang, "published_at": published.isoformat(), "published_estimated": estimated,
            "fetched_at": fetched_at.isoformat(), "first_seen": fetched_at.isoformat(), "origin": origin,
            "hash": content_hash(title, summary, text), "categories": json.dumps(list(entry.categories), ensure_ascii=False),
            "competitor": entry.competitor, "themes": json.dumps(list(entry.themes)) if entry.themes else None,
            "entered_by": entry.entered_by or None, "entered_from": entry.entered_from or None,
            "attachment": entry.attachment or None,
        }

    def items(self, since: datetime | None = None, source: str | None = None, search: str | None = None,
              limit: int | None = None) -> list[dict[str, Any]]:
        """Items newest first, with every source that carried them; `search` is full-text, accents ignored."""
        where, params = _item_conditions(since=since, source=source, search=search)
        sql = "select i.* from items i" + where + " order by i.published_at desc, i.id desc"
        if limit:
            sql += f" limit {int(limit)}"
        try:
            rows = self._rows(sql, params)
        except sqlite3.OperationalError as exc:
            raise StoreError(tr(f"recherche impossible : {exc}", f"search failed: {exc}")) from None
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
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
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

    # -- classification ------------------------------------------------------------------------------------

    def items_to_classify(self, since: datetime | None = None, everything: bool = False) -> list[dict[str, Any]]:
        """Items never classified (or changed since), or all of them / those first seen since a date."""
        where = ["1=1"] if everything or since else ["(i.classified_at is null or i.classified_at < coalesce(i.updated_at, ''))"]
        params: list[Any] = []
        if since:
            where.append("i.first_seen >= ?")
            params.append(since.isoformat())
        return self._rows("select i.id, i.title, i.summary, i.text, i.lang, i.source from items i where "
                          + " and ".join(where) + " order by i.id", params)

    def save_classification(self, results: Iterable[dict[str, Any]]) -> int:
        """Write analyses: labels (an analyst's corrections are kept), entities, language, actor, flags."""
        now = utcnow().isoformat()
        count = 0
        with self.transaction() as conn:
            for result in results:
                item_id = result["id"]
                conn.execute("delete from item_labels where item_id = ? and by != 'analyst'", [item_id])
                removed = {row[0] for row in conn.execute(
                    "select label from label_corrections where item_id = ? and action = 'remove'", [item_id])}
                conn.executemany(
                    "insert into item_labels (item_id, axis, label, score, by) values (?, ?, ?, ?, ?) "
                    "on conflict (item_id, label) do nothing",
                    [(item_id, l["axis"], l["label"], l["score"], l["by"]) for l in result["labels"] if l["label"] not in removed])
                conn.execute("delete from item_terms where item_id = ?", [item_id])
                conn.executemany("insert into item_terms (item_id, term, kind) values (?, ?, ?) on conflict do nothing",
                                 [(item_id, term, kind) for term, kind in result.get("terms", [])])
                conn.execute("delete from item_entities where item_id = ?", [item_id])
                conn.executemany("insert into item_entities (item_id, text, label, competitor) values (?, ?, ?, ?)",
                                 [(item_id, e["text"], e["label"], e["competitor"]) for e in result["entities"]])
                conn.execute("update items set lang = ?, lang_confidence = ?, lang_how = ?, actor = ?, actor_competitor = ?, "
                             "nlp_flags = ?, classified_at = ?, credibility = coalesce(credibility, 6) where id = ?",
                             [result["lang"], result["lang_confidence"], result["lang_how"], result["actor"],
                              result["actor_competitor"], json.dumps(result["flags"]), now, item_id])
                count += 1
        return count

    def classified_since(self, since: datetime) -> list[dict[str, Any]]:
        """Classified items first seen since a date, with their labels and competitors (for scores and stories)."""
        rows = self._rows("select i.id, i.source, i.title, i.text, i.summary, i.lang, i.published_at, i.first_seen, "
                          "i.actor, i.actor_competitor, i.credibility, i.credibility_by, i.story, i.url "
                          "from items i where i.classified_at is not null and i.first_seen >= ? order by i.id",
                          [since.isoformat()])
        ids = [r["id"] for r in rows]
        labels: dict[int, list[dict]] = {}
        competitors: dict[int, set[str]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
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

    def term_counts(self, since: datetime) -> list[tuple[str, str, str, int]]:
        """(term, kind, publication date, items) for items published since a date, for the rising terms."""
        return [tuple(row) for row in self.conn.execute(
            "select t.term, t.kind, substr(i.published_at, 1, 10) as day, count(*) from item_terms t "
            "join items i on i.id = t.item_id where i.published_at >= ? group by 1, 2, 3", [since.isoformat()])]

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
            raise StoreError(tr(f"recherche impossible : {exc}", f"search failed: {exc}")) from None

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
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    marks = ",".join("?" * len(chunk))
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

    def _tables_referencing_items(self) -> list[tuple[str, str]]:
        """(table, column) of every foreign key to items.id, including tables added by later stages."""
        found = []
        for (table,) in self.conn.execute("select name from sqlite_master where type = 'table'").fetchall():
            for row in self.conn.execute(f"PRAGMA foreign_key_list({table!r})").fetchall():
                if row[2] == "items" and table != "items":
                    found.append((table, row[3]))
        return found

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
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            yield from self._rows(sql.format(",".join("?" * len(chunk))), chunk)

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
                status = "pending" if row["status"] == "sending" else row["status"]  # sending: claimed, not yet sent
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


def fts_query(text: str) -> str:
    """User words as an FTS5 query: each word quoted (no syntax errors), all required, prefix on the last."""
    words = [w.replace('"', '""') for w in text.split() if w.strip()]
    if not words:
        return '""'
    return " ".join(f'"{w}"' for w in words[:-1]) + (" " if len(words) > 1 else "") + f'"{words[-1]}"*'
