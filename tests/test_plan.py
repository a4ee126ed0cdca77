"""`veille plan` and `veille sources audit`: the nine criteria on the demo sector, gaps on weak configurations,
well-formed and escaped documents, and a headless Chromium rendering where Chromium is installed."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import free_port, rss, rss_item, write_config
from watch.cli import main
from watch.audit import is_online
from watch.config import load_config
from watch.models import Entry
from watch.plan import watch_plan
from watch.plan_render import render_plan
from watch.store import Store

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def codes(plan) -> set[str]:
    return {f.code for f in plan.findings}


def well_formed(html: str) -> ET.Element:
    """The page is written as well-formed XML (polyglot HTML), so a strict XML parser must accept it."""
    assert html.startswith("<!DOCTYPE html>")
    return ET.fromstring(html.removeprefix("<!DOCTYPE html>"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo sector collected and classified once for this module, as `make demo` leaves it."""
    folder = tmp_path_factory.mktemp("demo")
    db, archive = folder / "demo.db", folder / "archive"
    with pytest.MonkeyPatch.context() as patch:
        for name in ("VEILLE_CONFIG", "VEILLE_DB", "VEILLE_DEMO_URL", "VEILLE_SMTP_URL"):
            patch.delenv(name, raising=False)
        patch.setenv("VEILLE_ARCHIVE", str(archive))  # the demo's digest previews stay out of the repository
        patch.setenv("VEILLE_LANG", "fr")
        patch.chdir(REPO)
        result = run("--db", str(db), "demo", "--port", str(free_port()))
        assert result.exit_code == 0, result.output
    config = load_config(REPO / "sources.yaml")
    return config.model_copy(update={"delivery": config.delivery.model_copy(update={"archive": archive})}), db


@pytest.fixture
def demo_copy(demo, tmp_path):
    """A private copy of the demo database, for tests that add to it."""
    config, db = demo
    copy = tmp_path / "demo.db"
    with Store.open(db) as store:
        store.conn.execute("pragma wal_checkpoint(truncate)")
    shutil.copy(db, copy)
    return config, copy


def test_demo_sector_gives_every_point_declared_and_measured_evidence(demo):
    config, db = demo
    with Store.open(db) as store:
        plan = watch_plan(config, store)
    assert [p.number for p in plan.points] == list(range(1, 10))
    for point in plan.points:
        assert any(table.rows for table in point.declared), f"point {point.number} declares nothing"
        assert any(table.rows for table in point.evidence), f"point {point.number} has no evidence"
    assert plan.totals["items"] >= 100 and plan.totals["items_window"] > 0
    # The trends table counts each category per ISO week, and the rising terms find the demo's LFP batteries.
    trends = plan.points[6].evidence
    assert sum(row[-2] for row in trends[0].rows) > 0
    assert any("lfp" in str(row[0]).lower() for row in trends[-1].rows)


def test_demo_self_assessment_names_the_sectors_real_gaps(demo):
    config, db = demo
    with Store.open(db) as store:
        plan = watch_plan(config, store)
    found = {f.code: f for f in plan.findings}
    # Offline sources (field notes, trade fairs) are flagged exactly when the configuration has none.
    assert ("no-offline-source" in found) == all(is_online(s) for s in config.sources)
    # Competitors without a press room of their own in sources.yaml.
    without_source = {c.id for c in config.competitors} - {s.competitor for s in config.sources}
    assert set(found["competitor-no-own-source"].subjects) == without_source
    # Nobody corrected a label yet: the automatic sorting has never been checked by an analyst.
    assert "no-analyst-corrections" in found
    # And no false alarm on what the demo does have.
    for absent in ("no-themes", "no-audience", "theme-uncovered", "never-collected", "failing-source",
                   "audience-no-schedule", "audience-no-recipients", "no-legitimacy-note", "unclassified-items"):
        assert absent not in found, absent
    for finding in plan.findings:
        assert finding.message and finding.hint and finding.severity in ("high", "medium", "low")


def test_digests_built_and_delivered_are_the_evidence_of_diffusion(demo_copy, tmp_path, monkeypatch):
    """The digest stage for real: every audience's brief built, sent to a real SMTP server that refuses one
    recipient; the plan reads what was delivered."""
    from digests import run_digests
    from tests.digest_data import SmtpRecorder, smtp_server

    config, db = demo_copy
    config = config.model_copy(update={"delivery": config.delivery.model_copy(update={"archive": tmp_path / "archive"})})
    refused = config.audiences[0].recipients[0]
    handler = SmtpRecorder(reject={refused})
    server = smtp_server(handler)
    server.start()
    try:
        monkeypatch.setenv("VEILLE_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
        with Store.open(db) as store:
            report = run_digests(config, store)
            plan = watch_plan(config, store)
    finally:
        server.stop()
    built = {r.audience: r for r in report.results}
    table = next(t for t in plan.points[8].evidence if t.caption.startswith("Bulletins construits"))
    rows = {row[0]: dict(zip(("audience", "digests", "alerts", "period", "built", "sent", "failed", "pending", "error"), row))
            for row in table.rows}
    for audience in config.audiences:
        row = rows[audience.id]
        assert row["digests"] == 1 and row["period"] == built[audience.id].period
        assert row["sent"] + row["failed"] + row["pending"] == len(audience.recipients)
    assert rows[config.audiences[0].id]["failed"] == 1 and "550" in rows[config.audiences[0].id]["error"]
    assert sum(row["sent"] for row in rows.values()) == len(handler.recipients())
    found = codes(plan)
    assert "deliveries-failed" in found and plan.points[8].status == "unmet"
    assert not {"no-digest", "no-smtp", "audience-no-digest"} & found
    shares = {row[0]: row[-1] for row in plan.points[3].evidence[-1].rows}
    assert any(share not in ("–", "0%") for share in shares.values()), "the share of items that reached a digest"


def test_plan_html_is_one_well_formed_self_contained_french_page(demo):
    config, db = demo
    with Store.open(db) as store:
        html = render_plan(watch_plan(config, store), "html")
    root = well_formed(html)
    assert root.get("lang") == "fr"
    assert "Les sources sont légitimes, diversifiées et complémentaires" in html
    assert "Auto-évaluation" in html and "@media print" in html
    # Self-contained: no stylesheet, script, image or font fetched from elsewhere.
    assert not root.findall(".//{*}script") and not root.findall(".//{*}link") and not root.findall(".//{*}img")
    assert "url(" not in html
    sections = [s for s in root.iter() if s.tag.endswith("section") and (s.get("id") or "").startswith("point-")]
    assert [s.get("id") for s in sections] == [f"point-{n}" for n in range(1, 10)]


def test_plan_in_english_and_markdown(demo):
    config, db = demo
    with Store.open(db) as store:
        plan = watch_plan(config, store, lang="en")
    html = render_plan(plan, "html")
    assert well_formed(html).get("lang") == "en"
    assert "The sources are legitimate, diversified and complementary" in html and "Vérifier" not in html
    markdown = render_plan(plan, "md")
    assert markdown.startswith("# Watch plan – Cyclonova")
    assert markdown.count("\n## ") == 11  # summary, nine points, self-assessment
    for line in markdown.splitlines():
        if line.startswith("|"):
            assert line.endswith("|"), line
    data = json.loads(render_plan(plan, "json"))
    assert [p["status"] for p in data["points"]] == [p.status for p in plan.points]
    assert {f["code"] for f in data["findings"]} == codes(plan)


def test_hostile_item_text_stays_text_in_html_and_markdown(demo_copy):
    config, db = demo_copy
    # Feeds escape markup as entities: once stored as plain text, the title holds a real <script> tag.
    title = 'Veloce &lt;script&gt;alert("x")&lt;/script&gt; prix | *remise* [lien](javascript:alert(1))'
    with Store.open(db) as store:
        store.ingest("cyclehebdo", [Entry(url="https://hostile.example/a?x=1&y=2", title=title,
                                          summary="Veloce baisse ses prix de 10 %.",
                                          published=datetime.now(timezone.utc) - timedelta(hours=1))], "feed")
        store.conn.execute("update items set score = 100, classified_at = ?, reasons = '[]' where url like "
                           "'https://hostile.example/%'", [datetime.now(timezone.utc).isoformat()])
        assert '<script>alert("x")</script>' in store.items(search="remise")[0]["title"]
        plan = watch_plan(config, store)
    html = render_plan(plan, "html")
    well_formed(html)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript:' not in html
    assert 'href="https://hostile.example/a?x=1&amp;y=2"' in html
    markdown = render_plan(plan, "md")
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
    assert r"\[lien\](javascript:alert(1))" in markdown and r"\*remise\*" in markdown and r"prix \|" in markdown


def test_empty_database_shows_the_declared_side_and_says_what_evidence_is_missing(tmp_path):
    config = load_config(REPO / "sources.yaml")
    with Store.open(tmp_path / "empty.db") as store:
        plan = watch_plan(config, store)
    for point in plan.points:
        assert any(table.rows for table in point.declared), point.number
    assert all(p.missing for p in plan.points if p.number in (1, 2, 3, 5, 6, 7, 8, 9))
    assert "veille collect" in plan.points[0].missing[0]
    assert all(p.status != "met" for p in plan.points if p.missing), "declarations alone do not meet a criterion"
    found = {f.code: f for f in plan.findings}
    assert set(found["never-collected"].subjects) == {s.id for s in config.sources if is_online(s)}
    offline = {s.id for s in config.sources if not is_online(s)}
    assert set(found["offline-empty"].subjects if offline else ()) == offline  # notes are entered, not collected
    assert "no-digest" in found
    well_formed(render_plan(plan, "html"))
    render_plan(plan, "md")


WEAK = """\
company: {name: Petiteco}
database: veille.db
themes:
  - {id: prix, label: Prix, priority: 1, purpose: fixer nos prix, keywords: {fr: [prix]}, indicators: [prix moyen]}
  - {id: reglementation, label: Réglementation, priority: 1, keywords: {fr: [décret]}}
sources:
  - {id: seule, name: Seule source, url: "URL", language: fr, country: FR, type: press, themes: [prix]}
"""


@pytest.fixture
def weak(server, tmp_path):
    server.add("/feed.xml", rss(rss_item(1, "Le prix du VAE baisse", date=None), rss_item(2, "Un décret sur les vélos", date=None)))
    path = tmp_path / "sources.yaml"
    path.write_text(WEAK.replace("URL", server.url("/feed.xml")), encoding="utf-8")
    return path


def test_weak_configuration_names_every_gap_without_crashing(weak):
    config = load_config(weak)
    with Store.open(config.database) as store:
        before = watch_plan(config, store)
    found = {f.code: f for f in before.findings}
    assert found["no-audience"].severity == "high"
    assert found["theme-uncovered"].subjects == ("reglementation",)
    assert "aucune source ne couvre le thème reglementation" in found["theme-uncovered"].message
    assert found["theme-single-source"].subjects == ("prix",)
    assert found["never-collected"].subjects == ("seule",)
    assert {"no-offline-source", "one-source-type", "no-institutional-source", "one-language",
            "no-legitimacy-note", "unjudged-sources", "no-competitors", "theme-no-purpose",
            "theme-no-indicators"} <= set(found)
    assert before.points[7].status == "unmet" and before.points[3].status == "unmet"

    assert run("--config", str(weak), "collect", "--no-classify").exit_code == 0
    with Store.open(config.database) as store:
        after = watch_plan(config, store)
    found = {f.code: f for f in after.findings}
    assert "never-collected" not in found
    assert "unclassified-items" in found and "nothing-categorised" in found
    assert "estimated-dates" in found  # the feed gave no dates: they were estimated at fetch time
    assert after.points[0].evidence and not after.points[0].missing
    well_formed(render_plan(after, "html"))
    result = run("--config", str(weak), "plan", "--format", "md")
    assert result.exit_code == 0 and "aucune source ne couvre le thème reglementation" in result.stdout


def test_a_configuration_with_nothing_but_a_company_names_its_gaps(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text("company: {name: Vide}\n", encoding="utf-8")
    config = load_config(path)
    with Store.open(config.database) as store:
        plan = watch_plan(config, store, lang="en")
    assert {"no-themes", "no-sources", "no-audience", "no-competitors", "no-unsubscribe"} <= codes(plan)
    assert [p.status for p in plan.points if p.number in (1, 4, 8)] == ["unmet"] * 3
    well_formed(render_plan(plan, "html"))
    result = run("--config", str(path), "sources", "audit")
    assert result.exit_code == 0 and "Aucune source déclarée" in result.stdout and "aucune source déclarée" in result.stdout


def test_sources_audit_reports_health_and_formats(server, tmp_path):
    server.add("/ok.xml", rss(rss_item(1, "Veloce baisse ses prix")))
    server.add("/broken.xml", "oops", status=500, content_type="text/plain")
    config = write_config(tmp_path, [{"id": "ok", "url": server.url("/ok.xml"), "themes": ["t1"],
                                      "legitimacy": "flux public"},
                                     {"id": "broken", "url": server.url("/broken.xml"), "reliability": "F"}])
    assert run("--config", str(config), "collect", "--no-classify").exit_code == 1
    report = json.loads(run("--config", str(config), "sources", "audit", "--format", "json").stdout)
    rows = {row["id"]: row for row in report["sources"]}
    assert rows["ok"]["status"] == "active" and rows["ok"]["success_rate"] == 1.0 and rows["ok"]["items"] == 1
    assert rows["broken"]["status"] == "failing" and rows["broken"]["success_rate"] == 0.0
    assert "HTTP 500" in rows["broken"]["last_error"] and rows["broken"]["backoff_until"]
    assert rows["ok"]["robots"] and rows["ok"]["digest_share"] is None
    assert {"failing-source", "no-legitimacy-note", "unjudged-sources"} <= set(rows["broken"]["findings"])
    assert report["diversity"]["online"] == {"online": 2, "offline": 0}
    assert report["diversity"]["themes"]["t1"]["sources"] == ["ok"]
    messages = [r["message"] for r in report["recommendations"]]
    assert any("broken" in m and "HTTP 500" in m for m in messages)

    csv_out = run("--config", str(config), "sources", "audit", "--format", "csv").stdout
    assert csv_out.splitlines()[0].startswith("id,name,kind,type") and len(csv_out.splitlines()) == 3
    table = run("--config", str(config), "sources", "audit", env={"VEILLE_LANG": "en", "COLUMNS": "200"})
    assert table.exit_code == 0 and "Recommendations" in table.stdout and "failing-source" in table.stdout


def test_plan_command_writes_the_file_and_picks_the_format_from_its_name(weak, tmp_path):
    out = tmp_path / "out" / "plan.md"
    result = run("--config", str(weak), "plan", "--out", str(out), "--lang", "en")
    assert result.exit_code == 0 and str(out) in result.stdout
    assert out.read_text(encoding="utf-8").startswith("# Watch plan – Petiteco")
    html = tmp_path / "plan.html"
    assert run("--config", str(weak), "plan", "--out", str(html)).exit_code == 0
    assert well_formed(html.read_text(encoding="utf-8")).get("lang") == "fr"
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = run("--config", str(weak), "plan", "--out", str(blocker / "plan.html"))
    assert result.exit_code == 2 and "a-file" in result.stderr and "Traceback" not in result.output
    result = run("--config", str(tmp_path / "missing.yaml"), "plan")
    assert result.exit_code == 2 and "veille init" in result.stderr


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Rows of an 8-bit RGB(A) PNG (what Chromium writes), unfiltered, without any imaging library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0
    size = 4 if colour == 6 else 3
    raw, stride, rows, previous = zlib.decompress(idat), width * size, [], bytearray(width * size)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - size] if x >= size else 0
            up, corner = previous[x], previous[x - size] if x >= size else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, size, rows


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium "
                                                   "(`apt-get install chromium` to run this test)")
def test_chromium_renders_the_plan_headless_to_a_non_blank_page_and_prints_it(demo, tmp_path):
    config, db = demo
    with Store.open(db) as store:
        page = tmp_path / "plan.html"
        page.write_text(render_plan(watch_plan(config, store), "html"), encoding="utf-8")
    common = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--user-data-dir={tmp_path / 'profile'}"]
    shot, pdf = tmp_path / "plan.png", tmp_path / "plan.pdf"
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=900,1200", page.as_uri()],
                   capture_output=True, timeout=90, check=True)
    width, size, rows = _png_pixels(shot.read_bytes())
    inked = sum(1 for row in rows for x in range(0, len(row), size) if min(row[x:x + 3]) < 200)
    assert inked > 0.01 * width * len(rows), "the screenshot is blank"
    subprocess.run([*common, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()],
                   capture_output=True, timeout=90, check=True)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    assert pages >= 10, "each point and the self-assessment start a printed page"
