"""The language users read: French first, English when `VEILLE_LANG` (then `LANG`) says so."""

from __future__ import annotations

import os


def user_language() -> str:
    """'fr' or 'en', from VEILLE_LANG, then LANG; French when neither names English."""
    for name in ("VEILLE_LANG", "LANG"):
        value = os.environ.get(name, "").strip().lower()
        if value:
            return "en" if value.startswith("en") else "fr"
    return "fr"


def tr(fr: str, en: str) -> str:
    """Pick the French or English text of a message for the current user."""
    return en if user_language() == "en" else fr


def tr_in(lang: str, fr: str, en: str) -> str:
    """Pick the text for an explicit language (a document asked for with `--lang`), whatever the user's."""
    return en if lang == "en" else fr
