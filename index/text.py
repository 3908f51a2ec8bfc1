"""Text as it may be stored: names and addresses without format or control characters.

A right-to-left override (U+202E), a zero-width space or joiner, a byte-order mark or a DEL in a
name displays one thing and holds another: it can make two records look alike that do not
match, hide a name from search, or turn a file or page the name is written into around. Ingest
(every feed, through `index.records`) and the API (`api.schemas`) both pass names and addresses
through `printable` before validating them.
"""

from __future__ import annotations

import unicodedata

# Unicode categories dropped: Cf format (bidirectional overrides and isolates, zero-width
# characters, soft hyphen, BOM), Cs surrogates, Co private use, Cn unassigned.
_DROPPED = frozenset({"Cf", "Cs", "Co", "Cn"})
# Categories that separate words: controls (tab, newline, DEL, C1) and line or paragraph
# separators become a space, so that 'Anne\\tMarie' stays two words.
_SPACED = frozenset({"Cc", "Zl", "Zp"})


def printable(value: object) -> object:
    """`value` with format characters removed and control characters made spaces (runs of
    spaces then folded to one, ends stripped); anything but a string unchanged, for the
    validator that follows to refuse."""
    if not isinstance(value, str):
        return value
    if value.isascii() and value.isprintable():
        return value  # the common case, at ingest speed
    kept = []
    for char in value:
        category = unicodedata.category(char)
        if category in _DROPPED:
            continue
        kept.append(" " if category in _SPACED else char)
    return " ".join("".join(kept).split())


__all__ = ["printable"]
