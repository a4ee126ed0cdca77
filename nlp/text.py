"""Text normalisation shared by the NLP modules, without importing spaCy (the CLI imports it at start-up)."""

from __future__ import annotations

import unicodedata


class _FoldedChars(dict):
    """Code point -> that character without its accents, computed on first sight (a table for str.translate)."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = unicodedata.normalize("NFD", chr(code))[0]
        return folded


_FOLDED = _FoldedChars()


def fold(text: str) -> str:
    """Lower case without accents, one character for one (offsets into the text stay valid)."""
    # str.translate with a memo, not a normalisation per character: this runs on every text classified.
    if not text:
        return ""
    lower = text.lower()
    return lower if lower.isascii() else lower.translate(_FOLDED)
