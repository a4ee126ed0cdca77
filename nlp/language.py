"""Language of an item, detected offline (py3langid) among the configured languages.

Short or mixed texts are unreliable: below the confidence threshold the source's declared language is kept.
"""

from __future__ import annotations

from functools import lru_cache

THRESHOLD = 0.80
MIN_LETTERS = 12  # fewer letters than this says nothing about a language
# The first few hundred characters (title and lead) decide as well as the whole text, at a fraction of the cost.
SAMPLE_CHARS = 600


@lru_cache(maxsize=8)
def _identifier(languages: tuple[str, ...]):
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if languages:
        identifier.set_languages(list(languages))
    return identifier


def detect_language(text: str, languages: tuple[str, ...] = ("fr", "en"), fallback: str | None = None) -> tuple[str, float, str]:
    """(language, confidence, how) where how is 'detected' or 'declared' (the fallback was kept)."""
    sample = text[:SAMPLE_CHARS]
    if sum(ch.isalpha() for ch in sample) < MIN_LETTERS:
        return (fallback or languages[0], 0.0, "declared")
    lang, confidence = _identifier(tuple(sorted(languages))).classify(sample)
    if confidence < THRESHOLD and fallback:
        return fallback, float(confidence), "declared"
    return lang, float(confidence), "detected"
