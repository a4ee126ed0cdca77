"""The watch plan as a document: one self-contained, print-friendly HTML page, Markdown for a wiki, or JSON.

Jinja2 escapes every value: HTML with autoescape, Markdown with a finalizer that escapes what a wiki would
interpret (`|`, `*`, `_`, `[`, `<`…), so a hostile item title stays text in both.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from watch.i18n import translations, tx_in
from watch.plan import Plan

TEMPLATES = Path(__file__).with_name("templates")
FORMATS = ("html", "md", "json")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~])")


def render_plan(plan: Plan, fmt: str = "html") -> str:
    """The plan as text in `fmt` (html, md or json), in the plan's language."""
    if fmt == "json":
        return json.dumps(plan.as_json(), ensure_ascii=False, indent=2, default=str) + "\n"
    html = fmt == "html"
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=html, undefined=StrictUndefined,
                      finalize=None if html else _md_escape, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True, extensions=["jinja2.ext.i18n"])
    # Old-style gettext: `_()` only looks the text up; the templates' texts hold no placeholders to fill.
    env.install_gettext_translations(translations(plan.lang), newstyle=False)
    env.tests["link"] = lambda cell: isinstance(cell, dict) and "url" in cell
    env.filters["safe_url"] = _safe_url
    env.filters["md_link"] = _md_link
    say = functools.partial(tx_in, plan.lang)
    return env.get_template(f"plan.{fmt}.j2").render(plan=plan, findings=plan.findings, **_labels(say))


def _labels(say) -> dict[str, Any]:
    return {
        "status_names": {"met": say("✔ met"), "partial": say("◐ partly met"),
                         "unmet": say("✘ not met")},
        "severity_names": {"high": say("major"), "medium": say("significant"),
                           "low": say("minor")},
    }


def _safe_url(url: str) -> str:
    """Only http(s) addresses become links: `javascript:` or `data:` never does."""
    return url if isinstance(url, str) and re.match(r"^https?://", url, re.IGNORECASE) else ""


def _md_escape(value: Any) -> Any:
    if isinstance(value, Markup) or value is None:
        return value or ""
    text = " ".join(str(value).split())  # one line: a newline would end a table row
    return _MD_SPECIAL.sub(r"\\\1", text).replace("<", "&lt;").replace(">", "&gt;")


def _md_link(cell: dict[str, str]) -> Markup:
    url = _safe_url(cell["url"])
    text = _md_escape(cell["text"])
    if not url:
        return Markup(text)
    # Parentheses and spaces would end the link destination.
    return Markup(f"[{text}](<{url.replace('<', '%3C').replace('>', '%3E').replace(' ', '%20')}>)")
