"""The language users read, and every user-facing text through one gettext catalogue (Babel).

English is the source language (the msgids); French lives in `watch/locale/fr/LC_MESSAGES/messages.po`, which a
translator edits without reading Python. French first: the default stays French, English when `VEILLE_LANG` (then
`LANG`) says so. Placeholders are named (`tx("{n} items from {src}", n=n, src=src)`) so that a translation may
reorder them.

The `.po` is read at run time with `babel.messages.pofile.read_po` and cached, rather than compiled to `.mo`: an
editable install (`pip install -e .`, `make test`) has no build step that would compile it, and a stale `.mo` beside
an edited `.po` would silently show old texts.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


def user_language() -> str:
    """'fr' or 'en', from VEILLE_LANG, then LANG; French when neither names English."""
    for name in ("VEILLE_LANG", "LANG"):
        value = os.environ.get(name, "").strip().lower()
        if value:
            return "en" if value.startswith("en") else "fr"
    return "fr"


@functools.lru_cache(maxsize=None)
def translations(lang: str) -> NullTranslations:
    """The catalogue of one language; English, the source language, needs none."""
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if lang == "en" or not po.exists():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    # Fuzzy entries are a translator's unchecked guess: gettext leaves them out, and so do we.
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def _fill(text: str, values: dict) -> str:
    # Only a message with placeholders is a template: a plain one may hold braces as they are.
    return text.format(**values) if values else text


def N_(message: str) -> str:  # noqa: N802 - the gettext name translators' tools know
    """Mark a text for the catalogue where it is defined; it is translated where it is shown."""
    return message


def tx_in(lang: str, message: str, /, **values) -> str:
    """The text of `message` (its English msgid) in an explicit language (a document asked for with `--lang`)."""
    return _fill(translations(lang).gettext(message), values)


def tx(message: str, /, **values) -> str:
    """The text of `message` (its English msgid) for the current user."""
    return tx_in(user_language(), message, **values)


def tx_n_in(lang: str, singular: str, plural: str, n: int, /, **values) -> str:
    """A counted text in an explicit language: the catalogue's plural rule picks the form (French: 0 and 1 singular).

    `n` is always available to the template as `{n}`."""
    return translations(lang).ngettext(singular, plural, n).format(n=n, **values)


def tx_n(singular: str, plural: str, n: int, /, **values) -> str:
    """A counted text for the current user (see `tx_n_in`)."""
    return tx_n_in(user_language(), singular, plural, n, **values)


def tx_p_in(lang: str, context: str, message: str, /, **values) -> str:
    """Like `t_in`, for a short English text that needs two French words (msgctxt tells them apart)."""
    return _fill(translations(lang).pgettext(context, message), values)


def tx_p(context: str, message: str, /, **values) -> str:
    """Like `t`, with a msgctxt (see `tx_p_in`)."""
    return tx_p_in(user_language(), context, message, **values)



def NC_(context: str, message: str) -> str:  # noqa: N802 - the gettext family's marker names
    """Like `N_`, for a text with a msgctxt (`tx_p_in(lang, context, message)` where it is shown)."""
    return message
