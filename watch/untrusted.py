"""Text that came from outside (feeds, pages, spreadsheets, field notes), made safe to show or to export.

Three dangers, three functions:
- `plain`: a terminal obeys escape sequences, so a title could set the window title, clear the screen or plant a
  hyperlink; bidi overrides make text read differently from what it is (CVE-2021-42574, "Trojan Source").
- `spreadsheet_safe`: a spreadsheet runs a cell that starts with = + - @ (or a tab or CR in front of one) as a
  formula, so an exported title could fetch a URL or start a program (OWASP, "CSV Injection").
- `shorten`: a message quoting a 100,000-character cell is unreadable; cut in the middle, the end (the hint) stays.
"""

from __future__ import annotations

import re

from watch.i18n import tx

# ECMA-48: CSI sequences, then the string controls (OSC, DCS, SOS, PM, APC) up to their terminator (BEL or ST; an
# unterminated one stops at the end of the line), then the other escape sequences; the 8-bit forms of each. What is
# left of C0 (but tab and newline), DEL, C1, and the bidi embeddings, overrides and isolates goes one by one.
_TERMINAL_CONTROLS = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
)
# Every sequence above starts with one of these.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Characters a spreadsheet reads as the start of a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Characters JSON leaves as they are although a terminal may obey them; written \uXXXX the data stays exact.
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain(text: str) -> str:
    """`text` without terminal escape sequences and control characters; tabs and line breaks stay (CR LF -> LF).

    A lone CR goes too: it sends the cursor back to overwrite what the line showed.
    """
    if not _CONTROL.search(text):  # nearly always: a character class is scanned much faster than the sequences
        return text
    return _TERMINAL_CONTROLS.sub("", text.replace("\r\n", "\n"))


def spreadsheet_safe(text: str) -> str:
    """`text` that a spreadsheet shows as text: a quote before a leading = + - @, tab or CR (OWASP)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def json_safe(document: str) -> str:
    """A JSON document with DEL, C1 and bidi controls written as escapes (json.dumps already escapes C0)."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", document)


def shorten(text: str, limit: int = 1000) -> str:
    """`text` cut in the middle to about `limit` characters, saying how many were cut."""
    if len(text) <= limit:
        return text
    head, tail = limit * 2 // 3, limit // 4
    cut = len(text) - head - tail
    return text[:head] + tx(" […{cut} characters cut…] ", cut=cut) + text[-tail:]
