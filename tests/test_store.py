"""The store: migrations, the single ingest path, provenance, search, and two processes writing at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from watch.errors import StoreError
from watch.models import Entry, canonical_url
from watch.store import Store, fts_query

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def test_open_creates_schema_in_wal_mode_and_migrations_run_once(tmp_path):
    path = tmp_path / "sub" / "v.db"
    with Store.open(path) as store:
        assert store.migrate() == []  # already applied by open()
        assert {"sources", "items", "item_sources", "fetches", "items_fts"} <= set(store.db.table_names())
    conn = sqlite3.connect(path)  # any SQLite tool opens it
    assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert conn.execute("select count(*) from _migrations").fetchone()[0] >= 1


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, not sqlite " * 200)
    with pytest.raises(StoreError, match="notes.txt"):
        Store.open(path)


def test_new_then_unchanged_then_updated_in_place(store):
    entry = Entry(url="https://News.Example/a?utm_source=rss#top", title="Veloce lance le V9", summary="Un VAE.",
                  guid="g1", published=NOW - timedelta(days=1))
    first = store.ingest("s1", [entry], "feed", NOW)
    assert (first.new, first.updated) == (1, 0)
    again = store.ingest("s1", [entry], "feed", NOW + timedelta(hours=1))
    assert (again.new, again.updated, again.unchanged) == (0, 0, 1)
    changed = Entry(url=entry.url, title="Veloce lance le V9 à 2 990 €", summary="Un VAE.", guid="g1",
                    published=entry.published)
    later = NOW + timedelta(hours=2)
    assert store.ingest("s1", [changed], "feed", later).updated == 1
    [item] = store.items()
    assert item["title"] == "Veloce lance le V9 à 2 990 €"
    assert item["first_seen"] == NOW.isoformat()
    assert item["canonical_url"] == "https://news.example/a"


def test_same_article_from_two_sources_is_one_item_listing_both(store):
    store.ingest("s1", [Entry(url="https://x.example/a?utm_medium=feed", title="T")], "feed", NOW)
    store.ingest("s2", [Entry(url="https://X.example/a?fbclid=abc", title="T")], "feed", NOW)
    [item] = store.items()
    assert item["sources"] == ["s1", "s2"]
    assert store.items(source="s2")[0]["id"] == item["id"]


def test_dates_missing_future_and_offsets(store):
    entries = [Entry(url="https://x.example/none", title="sans date"),
               Entry(url="https://x.example/future", title="futur", published=NOW + timedelta(days=30)),
               Entry(url="https://x.example/ok", title="ok", published=datetime(2026, 11, 20, 10, tzinfo=timezone(timedelta(hours=2))))]
    counts = store.ingest("s1", entries, "feed", NOW)
    assert any("2026-12-23" in w for w in counts.warnings)
    rows = {r["title"]: r for r in store.items()}
    assert rows["sans date"]["published_at"] == NOW.isoformat() and rows["sans date"]["published_estimated"]
    assert rows["futur"]["published_at"] == NOW.isoformat() and rows["futur"]["published_estimated"]
    assert rows["ok"]["published_at"] == "2026-11-20T08:00:00+00:00" and not rows["ok"]["published_estimated"]


def test_untrusted_html_is_sanitised_before_storage(store):
    store.ingest("s1", [Entry(url="https://x.example/a", title="<b>Titre</b> &amp; co",
                              summary='<p onclick="steal()">Texte <script>alert(1)</script><a href="javascript:x()">lien</a></p>')],
                 "feed", NOW)
    row = store.db.execute("select title, summary, html from items").fetchone()
    assert row[0] == "Titre & co"
    assert "alert" not in row[1] and "script" not in row[2] and "onclick" not in row[2] and "javascript" not in row[2]
    assert "Texte" in row[1]


def test_empty_entries_are_skipped_with_a_warning(store):
    counts = store.ingest("s1", [Entry(url="https://x.example/empty")], "feed", NOW)
    assert counts.new == 0 and counts.warnings


def test_search_ignores_accents_and_case(store):
    store.ingest("s1", [Entry(url="https://x.example/1", title="Veloce rachète la Société Rouléo"),
                        Entry(url="https://x.example/2", title="Hausse des prix")], "feed", NOW)
    assert [r["url"] for r in store.items(search="rachete")] == ["https://x.example/1"]
    assert len(store.items(search="SOCIETE rouleo")) == 1
    assert len(store.items(search='prix"; drop table items; --')) == 0  # quoted, never SQL
    assert fts_query("levée de") == '"levée" "de"*'


def test_the_search_index_follows_text_changes_only(store):
    entry = Entry(url="https://x.example/1", title="Veloce rachète Rouléo", summary="Un accord.")
    store.ingest("s1", [entry], "feed", NOW)
    item_id = store.items()[0]["id"]
    before = store.conn.total_changes  # counts rows written by triggers too
    store.save_scores([(item_id, 70, "[]", item_id, 6, "")])
    assert store.conn.total_changes - before == 1  # the item row alone: the search index is not rewritten
    store.ingest("s1", [Entry(url="https://x.example/1", title="Veloce cède Rouléo", summary="Un accord.")], "feed",
                 NOW + timedelta(hours=1))
    assert store.items(search="rachete") == []
    assert [r["id"] for r in store.items(search="cede rouleo")] == [item_id]
    store.conn.execute("insert into items_fts(items_fts, rank) values('integrity-check', 1)")  # raises if out of step


def test_canonical_url_rules():
    assert canonical_url("HTTPS://WWW.Example.COM:443/a/b?b=2&utm_campaign=x&a=1#frag") == "https://www.example.com/a/b?a=1&b=2"
    assert canonical_url("http://example.com") == "http://example.com/"
    assert canonical_url("http://example.com:8080/x?gclid=1") == "http://example.com:8080/x"


def _writer(path: str, source: str, count: int, queue) -> None:
    try:
        with Store.open(path) as store:
            for i in range(count):
                store.ingest(source, [Entry(url=f"https://{source}.example/{i}", title=f"{source} {i}")], "feed")
        queue.put("ok")
    except Exception as exc:  # reported to the parent, which fails the test with it
        queue.put(repr(exc))


def test_two_processes_write_at_the_same_time(tmp_path):
    path = str(tmp_path / "shared.db")
    Store.open(path).close()
    queue = multiprocessing.get_context("spawn").Queue()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(path, name, 150, queue)) for name in ("scheduler", "analyst")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert sorted(queue.get(timeout=5) for _ in workers) == ["ok", "ok"]
    with Store.open(path) as store:
        assert store.counts()["items"] == 300


def test_an_article_twice_in_one_feed_keeps_its_first_url_and_real_date(store):
    # A feed listing one article twice (the second copy edited, undated, with a tracking parameter): one item, the
    # later text, the first URL, and the real date kept over the fetch time.
    when = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
    counts = store.ingest("presse", [
        Entry(url="https://ex.example/a", title="A v1", summary="premier texte", published=when, lang="fr"),
        Entry(url="https://ex.example/a?utm_source=rss", title="A v2", summary="texte corrigé"),
    ], "feed")
    assert (counts.new, counts.updated) == (1, 1)
    [item] = store.items()
    assert (item["title"], item["summary"], item["url"]) == ("A v2", "texte corrigé", "https://ex.example/a")
    assert (item["published_at"], item["published_estimated"], item["lang"]) == (when.isoformat(), False, "fr")
