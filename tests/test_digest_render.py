"""The digest as people read it: escaped content, safe links, WCAG AA colours, language, dates, chart, archive
with index and Atom feed, and (where Chromium is installed) the HTML rendered at phone and desktop widths.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from digests import run_digests
from digests.chart import AVERAGE, BACKGROUND, BAR, MUTED, TEXT, TRACK
from digests.periods import period_of
from digests.render import CONTRAST_PAIRS, PALETTE, Renderer, contrast, safe_url, short_summary
from digests.select import select
from tests.digest_data import config  # noqa: F401 (a fixture)
from tests.digest_data import Seed, make_config, seed

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def items(store):
    return seed(store, [
        Seed("Veloce &lt;b&gt;rachète&lt;/b&gt; Rouléo &amp; Cie", score=90, labels=("acquisition",),
             competitors=("veloce", "rouleo"), actor="veloce",
             reasons=[{"kind": "competitor", "id": "veloce", "direct": True, "points": 25},
                      {"kind": "move", "label": "acquisition", "competitor_move": True, "points": 28}]),
        Seed("Batteries : une norme européenne", source="trade", score=70, labels=("regulation", "technology"),
             reasons=[{"kind": "theme", "id": "batteries", "priority": 2, "points": 15, "themes": ["batteries"]},
                      {"kind": "story", "sources": 3, "points": 10}]),
        Seed("Hausse des prix de 5 %", score=75, labels=("pricing",), url="http://press.example/prix?a=1&b=2"),
    ])


def now() -> datetime:
    return datetime.now(timezone.utc) + timedelta(minutes=1)


def rendered(config, store, audience_id: str):
    audience = config.audience(audience_id)
    when = now()
    selection = select(config, store, audience, period_of(audience, when), when - timedelta(days=7), when)
    return Renderer(config, audience).digest(selection, "chart.test@testco.example")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_colour_passes_wcag_aa_on_its_background(scheme):
    colours = PALETTE[scheme]
    for foreground, background in CONTRAST_PAIRS:
        ratio = contrast(colours[foreground], colours[background])
        assert ratio >= 4.5, f"{scheme}: {foreground} on {background} is {ratio:.2f}:1"


def test_the_chart_colours_pass_wcag_aa_too():
    def hex_(rgb):
        return "#%02x%02x%02x" % rgb

    for colour in (TEXT, MUTED):
        assert contrast(hex_(colour), hex_(BACKGROUND)) >= 4.5
    assert contrast(hex_(BAR), hex_(TRACK)) >= 3 and contrast(hex_(AVERAGE), hex_(TRACK)) >= 3  # graphics: 3:1


def test_contrast_formula_matches_known_values():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#777777", "#ffffff"), 2) == 4.48  # the classic grey that just fails AA


def test_the_html_uses_only_palette_colours_and_declares_language_and_alt_text(config, store, items):
    message = rendered(config, store, "direction")
    colours = {c.lower() for c in re.findall(r"#[0-9a-fA-F]{6}\b", message.html)}
    assert colours <= {c for scheme in PALETTE.values() for c in scheme.values()}
    assert '<html lang="fr"' in message.html and 'name="color-scheme" content="light dark"' in message.html
    assert "prefers-color-scheme: dark" in message.html
    assert re.search(r'<table role="presentation" width="640"[^>]*max-width:640px', message.html)
    images = re.findall(r"<img [^>]*>", message.html)
    assert images and all('alt="' in tag and 'alt=""' not in tag for tag in images)
    assert 'src="cid:chart.test@testco.example"' in message.html
    english = rendered(config, store, "rd")
    assert '<html lang="en"' in english.html and "Why:" in english.html and "Regulation" in english.html


def test_feed_markup_stays_escaped_text(config, store, items):
    message = rendered(config, store, "direction")
    # The feed escaped its markup; the title is stored as text "<b>rachète</b> … & Cie" and shown as such.
    assert "Veloce &lt;b&gt;rachète&lt;/b&gt; Rouléo &amp; Cie" in message.html
    assert "<b>rachète</b>" not in message.html
    assert "Veloce <b>rachète</b> Rouléo & Cie" in message.text
    assert 'href="http://press.example/prix?a=1&amp;b=2"' in message.html


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html;base64,PHNjcmlwdD4=", "JaVaScRiPt:x",
                                 "//evil.example/x", "http://ok.example/\nx", "ftp://files.example/a"])
def test_a_link_that_is_not_http_is_never_rendered_as_a_link(config, store, items, url):
    # Ingestion keeps only http(s) links; this row stands for one written by another tool.
    store.conn.execute("update items set url = ? where id = ?", [url, items[0]])
    message = rendered(config, store, "direction")
    assert safe_url(url) is None
    hrefs = re.findall(r'href="([^"]*)"', message.html)
    assert all(href.startswith(("http://", "https://", "mailto:")) for href in hrefs)
    assert html.escape(url) not in hrefs
    assert "Veloce &lt;b&gt;rachète" in message.html  # the title is still there, as text, not a link
    assert not re.search(r"<a [^>]*>Veloce &lt;b&gt;rachète", message.html)


def test_each_item_shows_source_grade_date_summary_labels_reasons_and_corroboration(config, store, items):
    seed(store, [Seed("Veloce buys Rouléo", source="trade", score=60, labels=("acquisition",), story=None,
                      lang="en")])
    newest = store.conn.execute("select max(id) from items").fetchone()[0]
    store.save_scores([(newest, 60, "[]", items[0], 3, "corroboration")])
    text = rendered(config, store, "direction").text
    block = text.split("Veloce <b>rachète</b> Rouléo & Cie", 1)[1].split("\n\n", 1)[0]
    from zoneinfo import ZoneInfo

    from babel.dates import format_date

    published = datetime.fromisoformat(store.items()[-1]["published_at"]).astimezone(ZoneInfo("Europe/Paris"))
    days = (datetime.now(timezone.utc).astimezone(ZoneInfo("Europe/Paris")).date() - published.date()).days
    age = "aujourd'hui" if days == 0 else "hier" if days == 1 else f"il y a {days} jours"
    # The grade and the age in words, not "fiabilité B" and "(−12)".
    assert (f"La Presse du cycle, source habituellement fiable · "
            f"{format_date(published.date(), 'medium', locale='fr')} ({age})") in block
    assert format_date(published.date(), "medium", locale="fr").split()[1] in (
        "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")
    assert "Résumé de l'article. Deuxième phrase." in block and "Troisième" not in block
    assert "[Acquisition]" in block
    assert "Pourquoi\u00a0: Veloce (concurrent direct)\u00a0: acquisition." in block  # one short sentence
    assert "Également repris par Trade Weekly" in block  # the other source, named


def test_short_summary_keeps_one_or_two_sentences():
    assert short_summary("Une phrase. Deux phrases ! Trois ?") == "Une phrase. Deux phrases !"
    long = "mot " * 200
    assert len(short_summary(long)) <= 301 and short_summary(long).endswith("…")
    assert short_summary(None) == ""


def test_the_chart_is_a_png_with_its_text_equivalent(config, store, items):
    message = rendered(config, store, "rd")
    assert message.chart.startswith(b"\x89PNG")
    from PIL import Image
    import io

    image = Image.open(io.BytesIO(message.chart))
    assert image.width == 1200 and len(image.convert("L").getcolors()) > 20  # drawn, not blank
    assert "Regulation: 1 (average 0)" in message.text
    assert "<li>Regulation: 1 (average 0)</li>" in message.html
    assert "Items of the last 7 days; average: per week, over the 4 weeks before." in message.text


def test_archive_has_the_page_an_index_and_an_atom_feed_per_audience(config, store, items):
    report = run_digests(config, store, ["direction", "rd"], now=now())
    direction = report.results[0]
    folder = Path(config.delivery.archive) / "direction"
    page = (folder / f"{direction.period}.html").read_text(encoding="utf-8")
    assert "Veloce &lt;b&gt;rachète&lt;/b&gt;" in page and f'src="{direction.period}.png"' in page
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert f'href="{direction.period}.html"' in index and 'type="application/atom+xml"' in index
    feed = ET.parse(folder / "feed.atom").getroot()
    entries = feed.findall(f"{ATOM}entry")
    assert feed.tag == f"{ATOM}feed" and len(entries) == 1
    assert entries[0].find(f"{ATOM}link").get("href") == f"{direction.period}.html"
    content = entries[0].find(f"{ATOM}content")
    assert content.get("type") == "html" and "Veloce &lt;b&gt;rachète" in content.text
    assert "<script" not in content.text
    top = (Path(config.delivery.archive) / "index.html").read_text(encoding="utf-8")
    assert 'href="direction/index.html"' in top and 'href="rd/feed.atom"' in top


# -- headless rendering --------------------------------------------------------------------------------------

CHROMIUM = next((path for name in ("chromium", "chromium-browser", "google-chrome", "chrome")
                 if (path := shutil.which(name))), None)


def chromium(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--no-first-run", "--disable-extensions", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (CI installs Debian's chromium in .ci/run; "
                                             "locally: apt-get install chromium)")
@pytest.mark.parametrize("width", [375, 640])
def test_the_html_renders_without_horizontal_overflow(config, store, items, tmp_path, width):
    seed(store, [Seed("Un titre très long sans espace " + "x" * 120, score=80, labels=("pricing",),
                      url="http://press.example/" + "segment/" * 30)])
    result = run_digests(config, store, ["direction"], now=now()).results[0]
    page = result.path.read_text(encoding="utf-8").replace(
        f'src="{result.period}.png"', f'src="{result.path.with_suffix(".png").as_uri()}"')
    # Headless Chromium will not make a window narrower than 500 px: the page goes into an iframe of the width
    # to test, and the iframe's document reports its own widths.
    wrapper = tmp_path / f"wrapper-{width}.html"
    wrapper.write_text(
        f'<!DOCTYPE html><html><body style="margin:0;background:#ff00ff">'
        f'<iframe style="border:0;width:{width}px;height:2400px" srcdoc="{html.escape(page, quote=True)}" '
        "onload=\"var d=this.contentDocument.documentElement;"
        "document.body.setAttribute('data-widths', d.scrollWidth + '/' + d.clientWidth)\"></iframe></body></html>",
        encoding="utf-8")
    dom = chromium("--window-size=800,900", "--virtual-time-budget=5000", "--dump-dom", wrapper.as_uri())
    widths = re.search(r'data-widths="(\d+)/(\d+)"', dom.stdout)
    assert widths, dom.stderr[-2000:]
    scroll, client = map(int, widths.groups())
    assert client == width and scroll <= client, f"content {scroll}px wide in a {client}px viewport"

    shot = tmp_path / f"shot-{width}.png"
    chromium(f"--window-size={max(width, 500)},1200", f"--screenshot={shot}", wrapper.as_uri())
    from PIL import Image

    image = Image.open(shot).convert("RGB").crop((0, 0, width, 1200))
    colours = image.getcolors(maxcolors=1 << 16) or []
    assert len(colours) > 50, "the screenshot is blank"
    assert (255, 0, 255) not in {colour for _, colour in colours}, "the page does not fill its width"


def test_the_period_and_the_age_read_in_words(config):
    from digests.select import Selection

    def label(audience_id: str, period: str) -> str:
        audience = config.audience(audience_id)
        cutoff = datetime(2026, 12, 8, 7, 30, tzinfo=timezone.utc)
        return Renderer(config, audience).period_label(Selection(audience, period, cutoff - timedelta(days=7),
                                                                 cutoff, []))

    # Not "Semaine 50 · 2026 · 1–8 déc. 2026": the week's own days, the year once.
    assert label("direction", "2026-W50") == "semaine 50 (7–13 décembre 2026)"
    assert label("direction", "2026-W49") == "semaine 49 (30 novembre – 6 décembre 2026)"
    assert label("direction", "2026-W53") == "semaine 53 (28 décembre 2026 – 3 janvier 2027)"
    assert label("rd", "2026-W50") == "week 50 (December 7–13, 2026)"
    renderer = Renderer(config, config.audience("direction"))
    now = datetime(2026, 12, 8, 9, 0, tzinfo=timezone.utc)
    assert renderer.age("2026-11-26T10:00:00+00:00", now) == "il y a 12 jours"
    assert renderer.age("2026-12-07T23:30:00+00:00", now) == "aujourd'hui"  # 8 December in Paris already
    assert renderer.age("2026-12-07T10:00:00+00:00", now) == "hier"
    assert renderer.covers(datetime(2026, 12, 1, 6, tzinfo=timezone.utc), now) == "Articles repérés du 1er au 8 décembre"
    assert renderer.covers(datetime(2026, 11, 30, 6, tzinfo=timezone.utc), now) == \
        "Articles repérés du 30 novembre au 8 décembre"
    english = Renderer(config, config.audience("rd"))
    assert english.covers(datetime(2026, 12, 1, 6, tzinfo=timezone.utc), now) == "Items found from December 1 to 8"
