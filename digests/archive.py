"""The archive: every digest as an HTML page, an index page and an Atom feed per audience, and a top index.

Layout under `delivery.archive`::

    index.html                       the audiences
    <audience>/index.html            its digests, newest first
    <audience>/feed.atom             the same as an Atom feed, for any feed reader
    <audience>/<period>.html, .png   one digest (the chart as a file instead of the e-mail's cid: image)
    <audience>/<period>.<recipient>.eml   each recipient's e-mail, written when no SMTP server is configured
    <audience>/alerts/…              same-day alerts (not in the index)
    <audience>/preview/<period>.html `veille digest preview` (never in the index: nothing was delivered)
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from digests.render import PALETTE, environment, texts
from watch.config import Config

FEED_ENTRIES = 30


def _write(path: Path, data: bytes | str) -> Path:
    """Write through a temporary file so that a reader (or a crash) never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    if isinstance(data, str):
        temporary.write_text(data, encoding="utf-8")
    else:
        temporary.write_bytes(data)
    os.replace(temporary, path)
    return path


def audience_dir(config: Config, audience_id: str) -> Path:
    return Path(config.delivery.archive) / audience_id


def page_html(digest: dict[str, Any], cid: str | None, image_name: str) -> str:
    """The e-mail's HTML for a browser: the cid: image becomes the PNG beside the page."""
    html = digest["html"]
    return html.replace(f"cid:{cid}", image_name) if cid else html


def write_page(folder: Path, name: str, digest: dict[str, Any], cid: str | None) -> Path:
    if digest.get("chart"):
        _write(folder / f"{name}.png", digest["chart"])
    return _write(folder / f"{name}.html", page_html(digest, cid, f"{name}.png"))


def eml_name(period: str, recipient: str) -> str:
    """`2026-W50.dg@cyclonova.example`: one file per recipient, named so that a listing groups them by digest."""
    return f"{period}.{re.sub(r'[^A-Za-z0-9@._+-]', '_', recipient)}"


def write_eml(folder: Path, name: str, message: EmailMessage) -> Path:
    return _write(folder / f"{name}.eml", message.as_bytes())


def archive_digest(config: Config, store: Any, digest: dict[str, Any], cid: str | None) -> Path:
    """Save one digest's page and rebuild its audience's index and feed, and the top index."""
    folder = audience_dir(config, digest["audience"])
    if digest["kind"] == "alert":
        return write_page(folder / "alerts", digest["period"], digest, cid)
    page = write_page(folder, digest["period"], digest, cid)
    rebuild_indexes(config, store, digest["audience"])
    return page


def rebuild_indexes(config: Config, store: Any, audience_id: str) -> None:
    audience = next((a for a in config.audiences if a.id == audience_id), None)
    lang = audience.language if audience else "fr"
    digests = store.digests_list(audience_id)
    folder = audience_dir(config, audience_id)
    base = config.delivery.archive_url.rstrip("/") + f"/{audience_id}/" if config.delivery.archive_url else ""
    context = {"lang": lang, "t": texts(lang), "c": PALETTE["light"], "dark": PALETTE["dark"],
               "company": config.company.name, "audience": (audience.name if audience and audience.name else audience_id),
               "digests": digests, "base": base, "audience_id": audience_id}
    env = environment()
    _write(folder / "index.html", env.get_template("index.html").render(context))
    entries = []
    for row in digests[:FEED_ENTRIES]:
        stored = store.digest_by_id(row["id"])
        entries.append({**row, "content": page_html(stored, _cid_in(stored["html"]), f"{base}{row['period']}.png")})
    updated = max((row["created_at"] for row in digests), default=datetime.now(timezone.utc).isoformat())
    _write(folder / "feed.atom", env.get_template("feed.atom").render({**context, "entries": entries, "updated": updated}))
    audiences = [{"id": a.id, "name": a.name or a.id, "count": len(store.digests_list(a.id, limit=None))}
                 for a in config.audiences]
    _write(Path(config.delivery.archive) / "index.html",
           env.get_template("archive.html").render({**context, "audiences": audiences}))


def _cid_in(html: str) -> str | None:
    start = html.find('src="cid:')
    return html[start + 9:html.index('"', start + 9)] if start >= 0 else None
