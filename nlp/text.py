"""Text normalisation shared by the NLP modules, without importing spaCy (the CLI imports it at start-up)."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lower case without accents, one character for one (offsets into the text stay valid)."""
    return "".join(unicodedata.normalize("NFD", ch)[0] for ch in text.lower()) if text else ""
