"""The feed reader end to end: real HTTP (the fixture server on 127.0.0.1), real parsing, a real SQLite store.

Every test drives `watch.collect.collect` with a configuration written by `write_config` and reads what happened
back from the store (items, the source's state, the `fetches` table). Nothing is mocked and nothing leaves the
machine. Reasons are checked in French (the default, see conftest) and, where it matters, in English.
"""

from __future__ import annotations

import base64
import email.utils
import os
import re
import signal
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import FIXTURES, descendants, rss, rss_item, write_config
from watch.collect import CollectReport, adhoc_source_id, collect
from watch.config import Config, load_config
from watch.feeds import BACKOFF_CAP_S, backoff_seconds
from watch.models import FetchOutcome, canonical_url

FEEDS = FIXTURES / "feeds"


# -- helpers -------------------------------------------------------------------------------------------------


def make_config(tmp_path: Path, sources: list[dict], **collect: object) -> Config:
    """A loaded configuration with the given feed sources; `collect` overrides write_config's network settings."""
    path = write_config(tmp_path, sources)
    if collect:
        text = path.read_text(encoding="utf-8")
        settings = {"timeout": 2, "connect_timeout": 2, "concurrency": 8, "per_host": 4, "max_bytes": 200000, **collect}
        line = "collect: {" + ", ".join(f"{k}: {v}" for k, v in settings.items()) + "}"
        text = re.sub(r"^collect: \{.*\}$", line, text, count=1, flags=re.MULTILINE)
        path.write_text(text, encoding="utf-8")
    return load_config(path)


def by_source(report: CollectReport) -> dict[str, FetchOutcome]:
    outcomes = {o.source_id: o for o in report.outcomes}
    assert len(outcomes) == len(report.outcomes), "one outcome per source"
    return outcomes


def titles(store, source: str | None = None) -> set[str]:
    return {item["title"] for item in store.items(source=source)}


def fetch_rows(store, source: str) -> list[dict]:
    return [row for row in store.db["fetches"].rows if row["source"] == source]


def assert_readable(reason: str, *words: str) -> None:
    """A reason a person can act on: non-empty, one line, no traceback or repr noise, and it says what happened."""
    assert reason and reason.strip(), "an empty reason"
    assert "Traceback" not in reason and "\n" not in reason, reason
    assert not re.search(r"<[a-zA-Z_.]+ object at 0x", reason), reason
    for word in words:
        assert re.search(word, reason, re.IGNORECASE), f"{word!r} not in {reason!r}"


def feed(*items: str, **kw: str) -> str:
    return rss(*items, **kw)


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


# -- 1. conditional GET ---------------------------------------------------------------------------------------


def test_conditional_get_second_run_is_not_modified(server, store, tmp_path):
    url = server.add("/cond.xml", feed(*(rss_item(n) for n in range(1, 6))))
    config = make_config(tmp_path, [{"id": "cond", "url": url}])

    first = by_source(collect(config, store))["cond"]
    assert (first.outcome, first.http_status, first.new, first.updated) == ("ok", 200, 5, 0)
    assert len(store.items()) == 5
    state = store.source_state("cond")
    assert state["etag"] and state["last_modified"], "validators are kept for the next run"

    second = by_source(collect(config, store))["cond"]
    assert (second.outcome, second.http_status, second.new, second.updated) == ("not_modified", 304, 0, 0)
    assert len(store.items()) == 5

    conditional = [headers for path, headers in server.requests if path == "/cond.xml"]
    assert len(conditional) == 2
    sent = {k.lower(): v for k, v in conditional[1].items()}
    assert sent.get("if-none-match") == state["etag"]
    assert sent.get("if-modified-since") == state["last_modified"]
    assert "if-none-match" not in {k.lower() for k in conditional[0]}, "the first request is unconditional"
    assert [r["outcome"] for r in fetch_rows(store, "cond")] == ["ok", "not_modified"]
    assert store.source_state("cond")["failures"] == 0


def test_changed_feed_is_fetched_in_full_after_304(server, store, tmp_path):
    url = server.add("/cond.xml", feed(rss_item(1), rss_item(2)))
    config = make_config(tmp_path, [{"id": "cond", "url": url}])
    collect(config, store)
    assert by_source(collect(config, store))["cond"].outcome == "not_modified"
    server.add("/cond.xml", feed(rss_item(1), rss_item(2), rss_item(3)))  # new body: new ETag
    third = by_source(collect(config, store))["cond"]
    assert (third.outcome, third.http_status, third.new) == ("ok", 200, 1)
    assert len(store.items()) == 3


# -- 2. bad inputs: recorded on their source, others still collected, earlier items kept --------------------


def _incompressible_feed(size: int) -> bytes:
    # Random text does not shrink under gzip, so the declared Content-Length itself is over the cap.
    noise = base64.b64encode(os.urandom(size)).decode()
    return feed(rss_item(1, description=noise)).encode()


def _compressible_feed(size: int) -> bytes:
    # Repetitive text gzips to a few kB: only counting the decoded bytes while streaming catches it.
    return feed(*(rss_item(n, description="x" * 1000) for n in range(size // 1000))).encode()


BAD_INPUTS = {
    # name: (route options, expected outcome, words the reason must contain)
    "html-page": (dict(body=(FEEDS / "html-page.html").read_bytes(), content_type="text/html; charset=utf-8"),
                  "error", [r"page HTML", r"flux"]),
    "empty-body": (dict(body=b""), "error", [r"vide"]),
    "blank-body": (dict(body=b"\n\n   \r\n"), "error", [r"vide"]),
    "not-xml-text": (dict(body=b"Service temporarily moved. Please come back later.", content_type="text/plain"),
                     "error", [r"pas un flux"]),
    "json-not-a-feed": (dict(body=b'{"status": "ok", "data": []}', content_type="application/json"),
                        "error", [r"JSON"]),
    "broken-json": (dict(body=b'{"version": "https://jsonfeed.org/version/1.1", "items": [', content_type="application/feed+json"),
                    "error", [r"JSON invalide"]),
    "http-500": (dict(body=b"oops", status=500, content_type="text/plain"), "error", [r"HTTP 500"]),
    "http-404": (dict(body=b"nope", status=404, content_type="text/plain"), "error", [r"HTTP 404"]),
    "hang": (dict(hang=True), "error", [r"délai dépassé|pas de réponse", r"2 s"]),
    "over-cap-declared": (dict(body=_incompressible_feed(250_000)), "error", [r"trop grosse", r"max_bytes"]),
    "over-cap-gzipped": (dict(body=_compressible_feed(400_000)), "error", [r"trop grosse", r"max_bytes"]),
    "redirect-loop": (dict(redirect="/loop-b"), "error", [r"redirections"]),
    "gone-410": (dict(body=b"", status=410, content_type="text/plain"), "gone", [r"410"]),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_is_recorded_and_does_not_stop_the_run(name, server, store, tmp_path):
    options, expected, words = BAD_INPUTS[name]
    victim = server.add("/victim.xml", feed(rss_item("v1", title="Avant la panne"), title="Victime"))
    good = server.add("/good.xml", feed(rss_item("g1")))
    config = make_config(tmp_path, [{"id": "victim", "url": victim}, {"id": "good", "url": good}])
    before = by_source(collect(config, store))
    assert before["victim"].new == 1 and before["good"].new == 1

    # Now the victim serves the bad input, and the good source has something new.
    server.add("/victim.xml", **options)
    server.add("/loop-b", redirect="/victim.xml")
    server.add("/good.xml", feed(rss_item("g1"), rss_item("g2", title="Toujours collecté")))
    started = time.monotonic()
    outcomes = by_source(collect(config, store))
    elapsed = time.monotonic() - started

    bad, fine = outcomes["victim"], outcomes["good"]
    assert bad.outcome == expected, (bad.outcome, bad.error)
    assert (bad.new, bad.updated) == (0, 0)
    assert_readable(bad.error, *words)
    assert (fine.outcome, fine.new) == ("ok", 1), "the other source of the run is still collected"
    assert "Toujours collecté" in titles(store, "good")
    assert "Avant la panne" in titles(store, "victim"), "items stored before are not lost"

    state = store.source_state("victim")
    assert state["last_error"] == bad.error
    assert state["status"] == ("gone" if expected == "gone" else "failing")
    last = fetch_rows(store, "victim")[-1]
    assert (last["outcome"], last["error"]) == (expected, bad.error)
    if name == "hang":
        assert elapsed < 10, f"a silent server held the run for {elapsed:.1f} s"
        assert bad.http_status is None
    if name == "redirect-loop":
        assert server.routes["/loop-b"].hits >= 2


def test_valid_feed_without_items_is_ok_not_an_error(server, store, tmp_path):
    url = server.add("/quiet.xml", feed())
    config = make_config(tmp_path, [{"id": "quiet", "url": url}])
    outcome = by_source(collect(config, store))["quiet"]
    assert (outcome.outcome, outcome.entries, outcome.new, outcome.error) == ("ok", 0, 0, "")
    assert store.source_state("quiet")["status"] == "active"


def test_reasons_follow_the_users_language(server, store, tmp_path, monkeypatch):
    monkeypatch.setenv("VEILLE_LANG", "en")
    html = server.add("/page", (FEEDS / "html-page.html").read_bytes(), content_type="text/html")
    empty = server.add("/empty.xml", b"")
    config = make_config(tmp_path, [{"id": "page", "url": html}, {"id": "empty", "url": empty}])
    outcomes = by_source(collect(config, store))
    assert_readable(outcomes["page"].error, r"HTML page served instead of a feed")
    assert_readable(outcomes["empty"].error, r"empty body")


def test_truncated_feed_keeps_complete_entries_with_a_warning(server, store, tmp_path):
    url = server.add("/cut.xml", (FEEDS / "truncated.xml").read_bytes())
    config = make_config(tmp_path, [{"id": "cut", "url": url}])
    outcome = by_source(collect(config, store))["cut"]
    # What the code does: feedparser reads up to the cut; the run is ok, with a readable warning.
    assert outcome.outcome == "ok" and not outcome.error
    assert_readable(outcome.warning, r"XML mal formé", r"lu quand même")
    assert titles(store) == {"Complet un", "Complet deux"}, "the cut-off third item is dropped"
    complete = {i["title"]: i for i in store.items()}
    assert complete["Complet deux"]["url"] == "http://example.org/cut/2"
    assert store.source_state("cut")["warning"] == outcome.warning
    assert fetch_rows(store, "cut")[-1]["warning"] == outcome.warning


# Regression: the half-read last entry of a cut body (title only, no link, no guid) was stored under a hash of its
# title, and became a duplicate when the feed came back whole.
def test_truncated_entry_does_not_leave_a_phantom_item(server, store, tmp_path):
    url = server.add("/cut.xml", (FEEDS / "truncated.xml").read_bytes())
    config = make_config(tmp_path, [{"id": "cut", "url": url}])
    collect(config, store)
    whole = feed(
        rss_item("c1", title="Complet un", link="http://example.org/cut/1", guid="urn:cut:1"),
        rss_item("c2", title="Complet deux", link="http://example.org/cut/2", guid="urn:cut:2"),
        rss_item("c3", title="Coupé en plein", link="http://example.org/cut/3", guid="urn:cut:3"))
    server.add("/cut.xml", whole)
    collect(config, store)
    assert sorted(i["title"] for i in store.items()) == ["Complet deux", "Complet un", "Coupé en plein"]


# -- charsets ----------------------------------------------------------------------------------------------

ACCENTED_TITLE = "Société rachète Vélocé à Noël"
ACCENTED_SUMMARY = "Été déjà là, ça coûte 12"  # every character exists in ISO-8859-1


def _accented_feed(encoding: str = "utf-8", declaration: str | None = "utf-8") -> bytes:
    text = feed(rss_item(1, title=ACCENTED_TITLE, description=ACCENTED_SUMMARY))
    if declaration is None:
        text = text.replace(' encoding="utf-8"', "")
    else:
        text = text.replace('encoding="utf-8"', f'encoding="{declaration}"')
    return text.encode(encoding)


CHARSETS = {
    # name: (body, Content-Type header, warning expected?)
    "latin1-body-declared-utf8-in-header": (_accented_feed("latin-1", None), "application/rss+xml; charset=utf-8", True),
    "latin1-body-utf8-header-latin1-declaration": (_accented_feed("latin-1", "iso-8859-1"), "application/rss+xml; charset=utf-8", True),
    "latin1-body-declared-utf8-everywhere": (_accented_feed("latin-1", "utf-8"), "application/rss+xml; charset=utf-8", True),
    "missing-charset-utf8": (_accented_feed("utf-8", "utf-8"), "application/rss+xml", False),
    "missing-charset-and-declaration-utf8": (_accented_feed("utf-8", None), "application/rss+xml", False),
    "missing-charset-latin1-declared-in-xml": (_accented_feed("latin-1", "iso-8859-1"), "application/rss+xml", False),
    "text-xml-without-charset-utf8": (_accented_feed("utf-8", "utf-8"), "text/xml", None),
    "no-content-type-at-all": (_accented_feed("utf-8", "utf-8"), "", None),
    # The reverse: UTF-8 bytes declared ISO-8859-1 (header or XML declaration) are read as UTF-8, with a warning.
    "utf8-body-declared-latin1-in-header": (_accented_feed("utf-8", "utf-8"), "application/rss+xml; charset=iso-8859-1", True),
    "utf8-body-declared-latin1-in-xml": (_accented_feed("utf-8", "iso-8859-1"), "application/rss+xml", True),
}


@pytest.mark.parametrize("name", list(CHARSETS))
def test_charset_problems_keep_french_accents(name, server, store, tmp_path):
    body, content_type, warned = CHARSETS[name]
    url = server.add("/charset.xml", body, content_type=content_type or None)
    config = make_config(tmp_path, [{"id": "charset", "url": url}])
    outcome = by_source(collect(config, store))["charset"]
    assert (outcome.outcome, outcome.new) == ("ok", 1), outcome.error
    [item] = store.items()
    assert item["title"] == ACCENTED_TITLE
    assert item["summary"] == ACCENTED_SUMMARY
    assert "Ã" not in item["title"] + item["summary"] and "\ufffd" not in item["title"] + item["summary"]
    if warned is True:
        assert_readable(outcome.warning, r"jeu de caractères")
    elif warned is False:
        assert not outcome.warning


# Regression: feedparser's per-field repair of UTF-8 read as ISO-8859-1 fails on values ending in "à" (C3 A0: the A0
# decodes to a no-break space that feedparser strips), so "déjà là" was stored as "dÃ©jÃ lÃ" without a warning.
@pytest.mark.parametrize("where", ["http-header", "xml-declaration"])
def test_utf8_body_declared_latin1_keeps_accents_at_the_end_of_a_field(where, server, store, tmp_path):
    text = feed(rss_item(1, title="Le vélo est déjà là", description="Résumé : voilà"))
    if where == "http-header":
        body, content_type = text.encode("utf-8"), "application/rss+xml; charset=iso-8859-1"
    else:
        body, content_type = text.replace('encoding="utf-8"', 'encoding="iso-8859-1"').encode("utf-8"), "application/rss+xml"
    url = server.add("/charset.xml", body, content_type=content_type)
    config = make_config(tmp_path, [{"id": "charset", "url": url}])
    outcome = by_source(collect(config, store))["charset"]
    assert outcome.outcome == "ok"
    assert_readable(outcome.warning, r"jeu de caractères", r"UTF-8")
    [item] = store.items()
    assert (item["title"], item["summary"]) == ("Le vélo est déjà là", "Résumé : voilà")


# -- dates ---------------------------------------------------------------------------------------------------


def test_invalid_date_is_stored_as_estimated(server, store, tmp_path):
    url = server.add("/dates.xml", feed(rss_item(1, title="Date illisible", date="le 32 brumaire, vers midi"),
                                        rss_item(2, title="Sans date", date=None),
                                        rss_item(3, title="Bonne date", date="Mon, 23 Nov 2026 10:00:00 GMT")))
    config = make_config(tmp_path, [{"id": "dates", "url": url}])
    before = datetime.now(timezone.utc).replace(microsecond=0)
    outcome = by_source(collect(config, store))["dates"]
    after = datetime.now(timezone.utc)
    assert (outcome.outcome, outcome.new) == ("ok", 3)
    items = {i["title"]: i for i in store.items()}
    for title in ("Date illisible", "Sans date"):
        item = items[title]
        assert item["published_estimated"] is True
        assert before <= iso(item["published_at"]) <= after, "an unknown date is estimated by the fetch time"
        assert item["published_at"] == item["fetched_at"]
    assert items["Bonne date"]["published_estimated"] is False
    assert items["Bonne date"]["published_at"] == "2026-11-23T10:00:00+00:00"


def test_future_date_is_clamped_never_in_the_future(server, store, tmp_path):
    future = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(days=400), usegmt=True)
    near = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(minutes=2), usegmt=True)
    url = server.add("/future.xml", feed(rss_item(1, title="Du futur", date=future),
                                         rss_item(2, title="Horloge en avance", date=near)))
    config = make_config(tmp_path, [{"id": "future", "url": url}])
    outcome = by_source(collect(config, store))["future"]
    now = datetime.now(timezone.utc)
    assert (outcome.outcome, outcome.new) == ("ok", 2)
    assert_readable(outcome.warning, r"date future")
    items = {i["title"]: i for i in store.items()}
    for item in items.values():
        assert iso(item["published_at"]) <= now
        assert iso(item["published_at"]) <= iso(item["fetched_at"])
    assert items["Du futur"]["published_estimated"] is True
    # A clock a few minutes fast is not a wrong date: clamped, but not flagged as estimated.
    assert items["Horloge en avance"]["published_estimated"] is False


def test_relative_links_are_resolved_against_the_feed_url(server, store, tmp_path):
    url = server.add("/news/rss.xml", feed(rss_item(1, title="Relatif", link="/articles/7?utm_source=rss"),
                                           rss_item(2, title="Voisin", link="voisin.html")))
    config = make_config(tmp_path, [{"id": "rel", "url": url}])
    collect(config, store)
    items = {i["title"]: i for i in store.items()}
    assert items["Relatif"]["url"] == server.url("/articles/7?utm_source=rss")
    assert items["Relatif"]["canonical_url"] == server.url("/articles/7")
    assert items["Voisin"]["url"] == server.url("/news/voisin.html")


def test_relative_links_under_relative_and_nested_xml_bases_are_resolved(server, store, tmp_path):
    body = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="/blog/">'
            '<title>Base</title><id>urn:base</id><updated>2026-11-20T10:00:00Z</updated>'
            '<entry><title>Sous base</title><id>urn:base:1</id><updated>2026-11-20T10:00:00Z</updated>'
            '<link href="billet.html"/><summary>Texte</summary></entry>'
            '<entry xml:base="2026/"><title>Imbriquée</title><id>urn:base:2</id>'
            '<updated>2026-11-20T10:00:00Z</updated><link href="billet.html"/><summary>Texte</summary></entry>'
            '<entry xml:base="https://autre.example/presse/"><title>Autre base</title><id>urn:base:3</id>'
            '<updated>2026-11-20T10:00:00Z</updated><link href="communique.html"/><summary>Texte</summary></entry>'
            '</feed>').encode()
    url = server.add("/feeds/atom.xml", body, content_type="application/atom+xml")
    collect(make_config(tmp_path, [{"id": "base", "url": url}]), store)
    items = {i["title"]: i["url"] for i in store.items()}
    assert items == {"Sous base": server.url("/blog/billet.html"), "Imbriquée": server.url("/blog/2026/billet.html"),
                     "Autre base": "https://autre.example/presse/communique.html"}


# Regression: relative links were resolved against the configured URL instead of the URL that answered.
def test_relative_links_after_a_redirect_use_the_final_url(server, store, tmp_path):
    server.add("/old/rss.xml", redirect="/new/rss.xml")
    server.add("/new/rss.xml", feed(rss_item(1, title="Déménagé", link="voisin.html")))
    config = make_config(tmp_path, [{"id": "moved", "url": server.url("/old/rss.xml")}])
    assert by_source(collect(config, store))["moved"].new == 1
    assert store.items()[0]["url"] == server.url("/new/voisin.html")


def test_published_at_is_utc_iso_and_offsets_are_converted(server, store, tmp_path):
    url = server.add("/offset.xml", feed(rss_item(1, title="Paris été", date="Mon, 23 Nov 2026 10:00:00 +0200"),
                                         rss_item(2, title="New York", date="Sun, 22 Nov 2026 20:30:00 -0500"),
                                         rss_item(3, title="Zulu", date="Mon, 23 Nov 2026 07:15:00 GMT")))
    config = make_config(tmp_path, [{"id": "offset", "url": url}])
    collect(config, store)
    items = {i["title"]: i["published_at"] for i in store.items()}
    assert items == {"Paris été": "2026-11-23T08:00:00+00:00", "New York": "2026-11-23T01:30:00+00:00",
                     "Zulu": "2026-11-23T07:15:00+00:00"}
    for value in items.values():
        assert iso(value).utcoffset() == timedelta(0)
    # Newest first, by the UTC instant.
    assert [i["title"] for i in store.items()] == ["Paris été", "Zulu", "New York"]


# -- duplicates, updates ----------------------------------------------------------------------------------------


def test_duplicate_guid_within_a_feed_is_stored_once_with_a_warning(server, store, tmp_path):
    item = rss_item(1, title="Répété", guid="urn:dup:1")
    url = server.add("/dup.xml", feed(item, rss_item(2), item))
    config = make_config(tmp_path, [{"id": "dup", "url": url}])
    outcome = by_source(collect(config, store))["dup"]
    assert (outcome.outcome, outcome.entries, outcome.new, outcome.updated) == ("ok", 3, 2, 0)
    assert_readable(outcome.warning, r"guid répété", r"urn:dup:1")
    assert sorted(i["title"] for i in store.items()) == ["Article 2", "Répété"]
    assert store.source_state("dup")["warning"] == outcome.warning


# Regression: distinct articles sharing one guid (some CMSs put the site URL in every <guid>) were collapsed into one
# item, overwritten by each next entry; the others were lost.
def test_guid_shared_by_different_articles_does_not_lose_them(server, store, tmp_path):
    shared = "http://example.org/"
    url = server.add("/lazy.xml", feed(*(rss_item(n, title=f"Article distinct {n}", guid=shared) for n in (1, 2, 3))))
    config = make_config(tmp_path, [{"id": "lazy", "url": url}])
    outcome = by_source(collect(config, store))["lazy"]
    assert_readable(outcome.warning, r"guid répété")
    assert sorted(i["title"] for i in store.items()) == ["Article distinct 1", "Article distinct 2", "Article distinct 3"]
    assert {i["url"] for i in store.items()} == {f"http://example.org/articles/{n}" for n in (1, 2, 3)}


def test_same_guid_with_changed_title_is_updated_in_place(server, store, tmp_path):
    url = server.add("/upd.xml", feed(rss_item(1, title="Titre provisoire"), rss_item(2)))
    config = make_config(tmp_path, [{"id": "upd", "url": url}])
    collect(config, store)
    [first] = [i for i in store.items() if i["guid"] == "urn:fixture:1"]
    time.sleep(1.1)  # fetch times have a one-second resolution
    server.add("/upd.xml", feed(rss_item(1, title="Titre définitif"), rss_item(2)))
    outcome = by_source(collect(config, store))["upd"]
    assert (outcome.new, outcome.updated) == (0, 1)
    assert len(store.items()) == 2
    [after] = [i for i in store.items() if i["guid"] == "urn:fixture:1"]
    assert after["id"] == first["id"]
    assert after["title"] == "Titre définitif"
    assert after["first_seen"] == first["first_seen"]
    assert after["updated_at"] and after["updated_at"] > first["first_seen"]
    assert after["hash"] != first["hash"]
    assert store.items(search="definitif")[0]["id"] == first["id"], "the search index follows the update"
    assert not store.items(search="provisoire")


def test_same_article_from_two_sources_is_one_item(server, store, tmp_path):
    a = server.add("/a.xml", feed(rss_item("a1", title="Vélocé lève 20 M€", guid="a-1",
                                           link="https://News.Example.com/velo/leve?utm_source=rss&amp;utm_medium=feed")))
    b = server.add("/b.xml", feed(rss_item("b1", title="Vélocé lève 20 M€", guid="b-77",
                                           link="https://news.example.com/velo/leve?utm_source=newsletter&amp;fbclid=XYZ#comments")))
    config = make_config(tmp_path, [{"id": "src-a", "url": a}, {"id": "src-b", "url": b}])
    report = collect(config, store)
    assert report.new == 1
    [item] = store.items()
    assert sorted(item["sources"]) == ["src-a", "src-b"]
    assert item["canonical_url"] == "https://news.example.com/velo/leve"
    assert [i["id"] for i in store.items(source="src-b")] == [item["id"]]
    # Collecting both again changes nothing.
    server.add("/a.xml", feed(rss_item("a1", title="Vélocé lève 20 M€", guid="a-1",
                                       link="https://news.example.com/velo/leve?utm_campaign=x")) + " ")
    again = collect(config, store)
    assert (again.new, again.updated) == (0, 0)
    assert len(store.items()) == 1


@pytest.mark.parametrize("url, expected", [
    ("HTTPS://News.EXAMPLE.com:443/Path/Art?utm_source=a&utm_medium=b&id=3#top", "https://news.example.com/Path/Art?id=3"),
    ("http://example.com:80/a?fbclid=abc&b=2&a=1", "http://example.com/a?a=1&b=2"),
    ("http://Example.com.:8080/a#frag", "http://example.com:8080/a"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com/a?UTM_Campaign=x&gclid=1&q=v%C3%A9lo", "https://example.com/a?q=v%C3%A9lo"),
])
def test_canonical_url(url, expected):
    assert canonical_url(url) == expected


# -- sanitising ------------------------------------------------------------------------------------------------


def test_hostile_html_is_sanitised(server, store, tmp_path):
    url = server.add("/evil.xml", (FEEDS / "sanitise.xml").read_bytes())
    config = make_config(tmp_path, [{"id": "evil", "url": url}])
    assert by_source(collect(config, store))["evil"].new == 2
    items = {i["guid"]: i for i in store.items()}
    for item in items.values():
        for column in ("title", "summary", "html", "text"):
            value = (item[column] or "").lower()
            for bad in ("<script", "alert(", "onclick", "onerror", "javascript:", "<iframe", "<style", "data:text"):
                assert bad not in value, f"{bad!r} reached {column} of {item['guid']}: {item[column]!r}"
    first = items["evil-1"]
    assert "<strong>important</strong>" in first["html"]
    assert 'href="https://safe.example/ok"' in first["html"]
    assert first["summary"].startswith("Texte important")
    assert "Corps caché" in first["text"]
    assert first["title"].startswith("Offre") and "spéciale" in first["title"]
    assert "Échappé" in items["evil-2"]["summary"]


# -- formats ---------------------------------------------------------------------------------------------------


def test_json_feed_1_1_parses(server, store, tmp_path):
    url = server.add("/feed.json", (FEEDS / "jsonfeed-1.1.json").read_bytes(), content_type="application/feed+json")
    config = make_config(tmp_path, [{"id": "jsonfeed", "url": url, "language": "en"}])
    outcome = by_source(collect(config, store))["jsonfeed"]
    assert (outcome.outcome, outcome.new, outcome.warning) == ("ok", 3, "")
    items = {i["title"]: i for i in store.items()}
    gamme = items["Nouvelle gamme urbaine"]
    assert gamme["url"] == "http://cyclonova.example/journal/gamme-urbaine"
    assert gamme["published_at"] == "2026-11-20T08:30:00+00:00" and gamme["published_estimated"] is False
    assert gamme["author"] == "Camille Martin, Léo Petit"
    assert gamme["lang"] == "fr", "the feed's language wins over the source's default"
    assert gamme["categories"] == ["vae", "gamme"]
    assert gamme["summary"] == "Trois modèles pour la ville."
    assert "<em>légers</em>" not in gamme["summary"] and gamme["text"] == "Trois modèles légers pour la ville."
    assert items["Note sans date"]["published_estimated"] is True
    assert items["Lien externe"]["url"] == "http://press.example/ext"
    assert items["Lien externe"]["published_at"] == "2026-11-22T07:00:00+00:00"


def test_atom_feed_parses_with_offsets_converted_to_utc(server, store, tmp_path):
    url = server.add("/atom.xml", (FEEDS / "atom-fr-offset.xml").read_bytes(), content_type="application/atom+xml")
    config = make_config(tmp_path, [{"id": "atom", "url": url, "language": "en"}])
    outcome = by_source(collect(config, store))["atom"]
    assert (outcome.outcome, outcome.new, outcome.warning) == ("ok", 2, "")
    items = {i["title"]: i for i in store.items()}
    cargo = items["Vélocé lance un vélo cargo"]
    assert cargo["url"] == "http://veloce.example/news/cargo"
    assert cargo["guid"] == "tag:veloce.example,2026:cargo"
    assert cargo["published_at"] == "2026-11-20T08:00:00+00:00"
    assert cargo["author"] == "Camille Martin"
    assert cargo["lang"] == "fr"
    assert "autonomie de 80 km" in cargo["text"]
    batteries = items["Baisse des prix des batteries"]
    assert batteries["published_at"] == "2026-11-21T15:30:00+00:00"
    assert batteries["published_estimated"] is False
    assert batteries["lang"] == "fr"


# Regression: RFC 4287 4.2.1, the feed's <author> applies to entries that name none.
def test_atom_entry_inherits_the_feed_author(server, store, tmp_path):
    url = server.add("/atom.xml", (FEEDS / "atom-fr-offset.xml").read_bytes(), content_type="application/atom+xml")
    config = make_config(tmp_path, [{"id": "atom", "url": url}])
    collect(config, store)
    items = {i["title"]: i for i in store.items()}
    assert items["Vélocé lance un vélo cargo"]["author"] == "Camille Martin"
    assert items["Baisse des prix des batteries"]["author"] == "Rédaction"


# -- search ----------------------------------------------------------------------------------------------------


def test_search_ignores_accents(server, store, tmp_path):
    url = server.add("/fts.xml", feed(rss_item(1, title="Vélocé rachète un concurrent"),
                                      rss_item(2, title="La Société Générale finance la filière"),
                                      rss_item(3, title="Salon du cycle", description="Rien à signaler.")))
    config = make_config(tmp_path, [{"id": "fts", "url": url}])
    collect(config, store)
    assert [i["title"] for i in store.items(search="rachete")] == ["Vélocé rachète un concurrent"]
    assert [i["title"] for i in store.items(search="societe")] == ["La Société Générale finance la filière"]
    assert [i["title"] for i in store.items(search="SOCIÉTÉ générale")] == ["La Société Générale finance la filière"]
    assert [i["title"] for i in store.items(search="velo")] == ["Vélocé rachète un concurrent"], "prefix on the last word"
    assert store.items(search="signaler")[0]["title"] == "Salon du cycle", "summaries are searched too"
    assert store.items(search='"unbalanced AND (') == []


# -- ad hoc ----------------------------------------------------------------------------------------------------


def test_adhoc_url_is_collected_with_origin_adhoc(server, store, tmp_path):
    configured = server.add("/configured.xml", feed(rss_item("c1")))
    url = server.add("/adhoc.xml", feed(rss_item("h1", title="Trouvé à la main"), rss_item("h2")))
    config = make_config(tmp_path, [{"id": "configured", "url": configured}])
    report = collect(config, store, urls=[url])
    source_id = adhoc_source_id(url)
    assert source_id == "adhoc-127-0-0-1"
    assert [o.source_id for o in report.outcomes] == [source_id], "only the URL is read, not the configured sources"
    assert report.new == 2
    items = store.items()
    assert {i["origin"] for i in items} == {"adhoc"}
    assert {i["source"] for i in items} == {source_id}
    assert "Trouvé à la main" in titles(store)
    assert server.routes["/configured.xml"].hits == 0
    assert store.source_state(source_id)["last_success_at"]


# -- 410, 429, backoff -----------------------------------------------------------------------------------------


def test_gone_source_is_skipped_until_reset(server, store, tmp_path):
    url = server.add("/gone.xml", feed(rss_item(1, title="Dernier article")))
    config = make_config(tmp_path, [{"id": "gone", "url": url}])
    collect(config, store)
    server.add("/gone.xml", status=410, content_type="text/plain")

    first = by_source(collect(config, store))["gone"]
    assert first.outcome == "gone" and first.http_status == 410
    assert store.source_state("gone")["status"] == "gone"
    hits = server.routes["/gone.xml"].hits

    for run in (lambda: collect(config, store), lambda: collect(config, store, source_ids=["gone"])):
        skipped = by_source(run())["gone"]
        assert skipped.outcome == "skipped"
        assert_readable(skipped.error, r"410", r"veille sources reset gone")
    assert server.routes["/gone.xml"].hits == hits, "a gone source is not requested again, even when named"
    assert "Dernier article" in titles(store)

    server.add("/gone.xml", feed(rss_item(1, title="Dernier article"), rss_item(2, title="Retour")))
    assert store.reset_source("gone") is True
    assert store.source_state("gone")["status"] == "active"
    back = by_source(collect(config, store))["gone"]
    assert (back.outcome, back.new) == ("ok", 1)
    assert store.source_state("gone")["status"] == "active"
    assert store.reset_source("no-such-source") is False


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_429_retry_after_is_honoured(form, server, store, tmp_path):
    wait = 7200
    value = str(wait) if form == "seconds" else email.utils.format_datetime(
        datetime.now(timezone.utc) + timedelta(seconds=wait), usegmt=True)
    url = server.add("/busy.xml", b"slow down", status=429, content_type="text/plain", headers={"Retry-After": value})
    other = server.add("/other.xml", feed(rss_item(1)))
    config = make_config(tmp_path, [{"id": "busy", "url": url}, {"id": "other", "url": other}])
    before = datetime.now(timezone.utc)
    outcomes = by_source(collect(config, store))
    busy = outcomes["busy"]
    assert busy.outcome == "error" and busy.http_status == 429
    assert_readable(busy.error, r"HTTP 429", r"réessayer dans")
    assert busy.retry_after == pytest.approx(wait, abs=5)
    state = store.source_state("busy")
    assert iso(state["next_attempt_at"]) >= before + timedelta(seconds=wait - 2)
    assert wait > backoff_seconds(1), "Retry-After, not the shorter backoff, sets the next attempt"
    assert outcomes["other"].new == 1

    skipped = by_source(collect(config, store))["busy"]
    assert skipped.outcome == "skipped" and server.routes["/busy.xml"].hits == 1


def test_backoff_seconds_grows_exponentially_and_is_capped():
    assert [backoff_seconds(n) for n in range(1, 6)] == [300, 600, 1200, 2400, 4800]
    assert backoff_seconds(0) == backoff_seconds(1)
    assert backoff_seconds(50) == BACKOFF_CAP_S == 24 * 3600


def test_failures_back_off_and_naming_a_source_forces_it(server, store, tmp_path):
    url = server.add("/flaky.xml", b"boom", status=500, content_type="text/plain")
    healthy = server.add("/healthy.xml", feed(rss_item(1)))
    config = make_config(tmp_path, [{"id": "flaky", "url": url}, {"id": "healthy", "url": healthy}])

    def next_attempt_in(state) -> float:
        return (iso(state["next_attempt_at"]) - iso(state["last_fetch_at"])).total_seconds()

    collect(config, store)
    state = store.source_state("flaky")
    assert (state["status"], state["failures"]) == ("failing", 1)
    assert backoff_seconds(1) <= next_attempt_in(state) <= backoff_seconds(1) + 5
    assert_readable(state["last_error"], r"HTTP 500")

    # A run over everything leaves the source alone while it backs off, and still reads the others.
    server.add("/healthy.xml", feed(rss_item(1), rss_item(2)))
    outcomes = by_source(collect(config, store))
    assert outcomes["flaky"].outcome == "skipped"
    assert_readable(outcomes["flaky"].error, r"en attente", r"1 échec")
    assert server.routes["/flaky.xml"].hits == 1
    assert outcomes["healthy"].new == 1
    assert store.source_state("flaky")["failures"] == 1, "a skipped run is not a failure"

    # Naming the source forces it; each failure doubles the wait.
    for failures in (2, 3):
        forced = by_source(collect(config, store, source_ids=["flaky"]))
        assert list(forced) == ["flaky"] and forced["flaky"].outcome == "error"
        state = store.source_state("flaky")
        assert state["failures"] == failures
        assert backoff_seconds(failures) <= next_attempt_in(state) <= backoff_seconds(failures) + 5
    assert server.routes["/flaky.xml"].hits == 3

    # Recovery clears the failures and the backoff.
    server.add("/flaky.xml", feed(rss_item("f1")))
    recovered = by_source(collect(config, store, source_ids=["flaky"]))["flaky"]
    assert (recovered.outcome, recovered.new) == ("ok", 1)
    state = store.source_state("flaky")
    assert (state["status"], state["failures"], state["next_attempt_at"], state["last_error"]) == ("active", 0, None, None)
    assert by_source(collect(config, store))["flaky"].outcome == "not_modified"
    assert [r["outcome"] for r in fetch_rows(store, "flaky")] == ["error", "error", "error", "ok", "not_modified"]


def _parser_workers() -> list[int]:
    """Feed parser processes of this test process: those below its children (its forkserver's), from /proc."""
    return [pid for child in descendants(os.getpid()) for pid in descendants(child)]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the parser processes through Linux's /proc")
def test_a_killed_parser_process_is_replaced_and_no_feed_is_lost(server, store, tmp_path, caplog):
    # 30 feeds make the reader parse in worker processes; one of them is killed as an out-of-memory killer would.
    sources = [{"id": f"f{n:02d}", "url": server.add(f"/many/{n}.xml", feed(*(rss_item(n * 10 + k) for k in range(5))),
                                                      delay=0.3)} for n in range(30)]
    killed: list[int] = []

    def kill_first_worker() -> None:
        deadline = time.monotonic() + 20
        while not killed and time.monotonic() < deadline:
            for pid in _parser_workers():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.02)

    killer = threading.Thread(target=kill_first_worker)
    killer.start()
    report = collect(make_config(tmp_path, sources), store)
    killer.join()
    assert killed, "no parser process was found to kill"
    assert "parser process stopped abruptly" in caplog.text
    assert {o.outcome for o in report.outcomes} == {"ok"}
    assert len(store.items()) == 150


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the parser processes through Linux's /proc")
def test_parser_processes_that_keep_dying_fail_only_the_feeds_they_held(server, store, tmp_path):
    # Every parser process is killed for a while (as a machine short of memory would): feeds parsed then are
    # errors on their sources, with a reason; the run ends normally and the others are stored.
    sources = [{"id": f"g{n:02d}", "url": server.add(f"/dying/{n}.xml", feed(*(rss_item(n * 10 + k) for k in range(5))),
                                                      delay=0.2 + 0.05 * n)} for n in range(30)]
    stop_killing = threading.Event()
    killed: list[int] = []

    def killer() -> None:
        timer = threading.Timer(1.0, stop_killing.set)  # from the first kill on, one more second of it
        while not stop_killing.is_set():
            for pid in _parser_workers():
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            if killed and not timer.is_alive() and not timer.finished.is_set():
                timer.start()
            time.sleep(0.01)
        timer.cancel()

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        report = collect(make_config(tmp_path, sources), store)
    finally:
        stop_killing.set()
        thread.join()
    assert killed
    outcomes = by_source(report)
    failed = {sid for sid, o in outcomes.items() if o.outcome != "ok"}
    assert all(re.search(r"arrête brutalement|stops abruptly", outcomes[sid].error) for sid in failed)
    assert len(failed) < 30
    assert len(store.items()) == 5 * (30 - len(failed))
