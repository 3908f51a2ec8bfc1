"""CSV as spreadsheets and exporters save it: the text, the delimiter, the header, the cells.

Service feeds (`ingest.service_feed`) and people's own lists (`childindex link`, `dedupe`) are
mostly saved from Excel or an MIS report, and the same columns come in several spellings:

- text: UTF-8 with or without a byte-order mark, or UTF-16 with one (Excel's "Unicode text");
  anything else is not guessed (Windows-1252 and UTF-8 look alike in an ASCII header, and a
  wrong guess garbles names silently): the error says how to save the file instead;
- delimiter: a comma, or a semicolon or tab when the header line splits into known column
  names by it and not by a comma (Excel where the decimal mark is a comma; "Unicode text");
- header: a column's name in any case, with spaces or hyphens for underscores and padding
  ("Date of Birth", " NHS Number "), is that column; empty columns at the right (cells Excel
  once held) are not columns;
- cells: a cell holding only a spreadsheet's "no value" (N/A, #N/A, NULL, -) is empty, and a
  date written day first (10/02/2024, as Excel writes it in an English locale) is that date.

Only the spelling is forgiven: a column that is not in the documented list is still refused by
name, and a value that is not what its column holds is still rejected or left out by the caller.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from collections.abc import Collection, Iterator, Sequence
from typing import BinaryIO

DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}

# What to tell someone whose file is not UTF-8 or UTF-16 (usually Excel's plain "CSV" on Windows).
SAVE_AS = 'save it from the spreadsheet as "CSV UTF-8 (Comma delimited)" and send it again'


def text_lines(handle: BinaryIO, errors: str = "strict") -> Iterator[str]:
    """The file's lines as text, line ends kept (for `csv.reader`), from UTF-8 (a byte-order
    mark or none) or UTF-16 with a byte-order mark. Decoded a line at a time, so lines before a
    badly encoded one are read; that one raises `UnicodeDecodeError` (with errors="strict")."""
    head = handle.read(2)
    handle.seek(0)
    if head in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        yield from io.TextIOWrapper(handle, encoding="utf-16", errors=errors, newline="")
        return
    for number, raw in enumerate(handle):
        yield (raw.removeprefix(codecs.BOM_UTF8) if number == 0 else raw).decode("utf-8", errors)


def first_line(head: bytes) -> str | None:
    """The first line of a file's opening bytes as text (UTF-8 or UTF-16 with its mark), or None
    if it is neither. Only the first line is decoded: a header in ASCII is readable even when a
    later row is not (that row's own error says where)."""
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        text = head[: len(head) // 2 * 2].decode("utf-16", errors="replace")
        return text.splitlines()[0] if text.strip() else ""
    line = head.removeprefix(codecs.BOM_UTF8).split(b"\n", 1)[0]
    try:
        return line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return None


_SEPARATORS = re.compile(r"[\s_-]+")


def column_key(name: str) -> str:
    """A header name as the documented column it spells: case, padding, and spaces or hyphens
    for underscores do not matter ("Date of Birth" -> "date_of_birth")."""
    return _SEPARATORS.sub("_", name.strip().casefold()).strip("_")


def header_names(cells: Sequence[str]) -> list[str]:
    """The header's column names (`column_key`), without empty names at the right."""
    names = [column_key(cell) for cell in cells]
    while names and not names[-1]:
        names.pop()
    return names


def sniff_delimiter(line: str, known: Collection[str]) -> str:
    """The delimiter that splits a header line into the most known column names (a comma when
    none does better)."""
    def known_count(delimiter: str) -> int:
        cells = next(csv.reader([line], delimiter=delimiter), [])
        return sum(column_key(cell) in known for cell in cells)

    best = max(DELIMITERS, key=lambda d: (known_count(d), d == ","))
    return best if known_count(best) > 0 else ","


def fit_row(cells: list[str], width: int) -> list[str] | None:
    """A row's cells to the header's width: empty cells beyond it (Excel's untouched columns)
    are dropped; None when a row is short or has a value beyond the header."""
    if len(cells) == width:
        return cells
    if len(cells) > width and not any(cell.strip() for cell in cells[width:]):
        return cells[:width]
    return None


# A cell holding only one of these says "no value" (compared case-insensitively).
# Not "NA" or "Nil": both are given names.
NO_VALUE = frozenset({"n/a", "#n/a", "null", "-", "--", "not known", "unknown"})


def cell_text(text: str) -> str:
    """A cell's value: whitespace (line breaks in quoted cells too) folded to one space, and a
    spreadsheet's "no value" made empty."""
    text = " ".join(text.split())
    return "" if text.casefold() in NO_VALUE else text


_DAY_FIRST = re.compile(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})")


def iso_date(text: str) -> str:
    """A date written day first (10/02/2024, 1.2.2024) as YYYY-MM-DD; anything else unchanged
    (for the caller to read or reject). Never month first: an English LA's spreadsheet writes
    the day first, and a real date is never guessed from an impossible one."""
    match = _DAY_FIRST.fullmatch(text)
    if match is None:
        return text
    day, month, year = (int(part) for part in match.groups())
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return text


def code_text(text: str) -> str:
    """A code word as typed ("Health Visitor", "health-visitor") in its documented form."""
    return column_key(text)
