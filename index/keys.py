"""Normalised and derived keys for names, dates of birth and postcodes.

Shared by the search backends (blocking keys) and by matching (comparison). Everything here is
a pure function of allow-listed values; nothing is stored that is not derivable from the store.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import jellyfish

from index.records import normalise_postcode

_NICKNAMES = Path(__file__).with_name("data") / "nicknames.csv"
_NOT_NAME_CHARS = re.compile(r"[^\w\s\-']", re.UNICODE)
_SPLIT = re.compile(r"[\s\-]+")
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "master", "sir", "rev", "prof"})


def fold(text: str) -> str:
    """Lower case, accents removed, punctuation dropped, apostrophes joined, spaces single.

    'Zoë O'Brien-Smith ' -> 'zoe obrien-smith'. Non-Latin letters are kept (case-folded).
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    cleaned = _NOT_NAME_CHARS.sub(" ", stripped.casefold()).replace("'", "").replace("_", " ")
    return " ".join(cleaned.split())


def name_tokens(text: str | None) -> list[str]:
    """The words of a name: hyphenated and double-barrelled parts split, titles dropped."""
    if not text:
        return []
    return [t for t in _SPLIT.split(fold(text)) if t and t not in _TITLES]


def compact_name(text: str | None) -> str:
    """A name with all separators removed: 'Smith-Jones' and 'Smith Jones' -> 'smithjones'."""
    return "".join(name_tokens(text))


def phonetic(token: str) -> str:
    """A phonetic code for one name word (Metaphone); the word itself when it has no Latin."""
    if not token.isascii():
        return token
    return jellyfish.metaphone(token) or token


@functools.cache
def _nickname_groups() -> dict[str, frozenset[str]]:
    groups: dict[str, set[str]] = {}
    with _NICKNAMES.open(encoding="utf-8") as handle:
        rows = (line for line in handle if line.strip() and not line.startswith("#"))
        for canonical, forms in csv.reader(rows):
            for form in (canonical, *forms.split()):
                groups.setdefault(form, set()).add(canonical)
    return {form: frozenset(c) for form, c in groups.items()}


def given_name_forms(name: str | None) -> frozenset[str]:
    """The first given name and the full names it may be short for: 'Alex' ->
    {'alex', 'alexander', 'alexandra', 'alexis'}."""
    tokens = name_tokens(name)
    if not tokens:
        return frozenset()
    first = tokens[0]
    return frozenset({first}) | _nickname_groups().get(first, frozenset())


def is_known_short_form(a: str, b: str) -> bool:
    """True when two given names share a nickname group (Alex ~ Alexander, Bill ~ William)."""
    return bool(given_name_forms(a) & given_name_forms(b))


def _valid_date(year: int, month: int, day: int) -> dt.date | None:
    if 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]:
        return dt.date(year, month, day)
    return None


def swap_day_month(date: dt.date) -> dt.date | None:
    """The date with day and month swapped, when that is a different valid date."""
    swapped = _valid_date(date.year, date.day, date.month)
    return swapped if swapped and swapped != date else None


def date_variants(date: dt.date) -> frozenset[dt.date]:
    """Dates a mistyped date of birth may really be: itself, day/month swapped, one digit of
    YYYYMMDD changed (valid dates only), and the days either side."""
    variants = {date, date - dt.timedelta(days=1), date + dt.timedelta(days=1)}
    if swapped := swap_day_month(date):
        variants.add(swapped)
    digits = date.strftime("%Y%m%d")
    for position in range(8):
        for replacement in "0123456789":
            if replacement == digits[position]:
                continue
            edited = digits[:position] + replacement + digits[position + 1 :]
            if edited[0] in "12" and (candidate := _parse_yyyymmdd(edited)):
                variants.add(candidate)
    return frozenset(variants)


def _parse_yyyymmdd(digits: str) -> dt.date | None:
    return _valid_date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


def date_distance(a: dt.date, b: dt.date) -> str:
    """How two dates of birth relate: exact, swapped, one_edit, close (within 31 days) or far."""
    if a == b:
        return "exact"
    if swap_day_month(a) == b:
        return "swapped"
    if _digit_edits(a, b) == 1:
        return "one_edit"
    if abs((a - b).days) <= 31:
        return "close"
    return "far"


def _digit_edits(a: dt.date, b: dt.date) -> int:
    return sum(x != y for x, y in zip(a.strftime("%Y%m%d"), b.strftime("%Y%m%d"), strict=True))


def date_likeness(a: dt.date, b: dt.date) -> str:
    """`date_distance` refined for ranking search results (matching keeps the coarser levels
    its model was trained on): 'next_day' when the dates are a day apart, whatever their digits
    (a date either side is its own mistake, see `date_variants`), and 'two_edits' for dates
    that are two mistakes apart (two digits, or a swap and a digit), which otherwise count as
    'far': a query and a stored record can each carry one."""
    if a != b and abs((a - b).days) == 1:
        return "next_day"
    level = date_distance(a, b)
    if level != "far":
        return level
    swapped = swap_day_month(a)
    edits = min(_digit_edits(a, b), 1 + _digit_edits(swapped, b) if swapped else 8)
    return "two_edits" if edits == 2 else "far"


def postcode_parts(postcode: str | None) -> tuple[str, str, str, str] | None:
    """(unit, sector, district, area) of a postcode: 'MK40 1AA', 'MK40 1', 'MK40', 'MK';
    None when it is not a UK postcode."""
    if not postcode:
        return None
    try:
        unit = normalise_postcode(postcode)
    except ValueError:
        return None
    outward, inward = unit.split(" ")
    area = outward[: 2 if outward[1].isalpha() else 1]
    return unit, f"{outward} {inward[0]}", outward, area


def unique(values: Iterable[str]) -> list[str]:
    """Values in first-seen order without repeats or blanks."""
    return list(dict.fromkeys(v for v in values if v))


def phonetic_codes(name: str | None) -> list[str]:
    """Phonetic codes of a whole name (separators removed) and of each of its words, so that
    'Smith-Jones', 'Smith Jones', 'Smith' and 'Jones' share a code."""
    tokens = name_tokens(name)
    whole = [phonetic("".join(tokens))] if len(tokens) > 1 else []
    return unique([*whole, *(phonetic(t) for t in tokens)])


def name_prefixes(name: str | None, length: int = 3) -> list[str]:
    """The first `length` letters of the whole name and of each word of at least that length:
    a typo late in a name keeps its prefix when it changes its phonetic code."""
    tokens = name_tokens(name)
    whole = "".join(tokens)
    return unique(t[:length] for t in [whole, *tokens] if len(t) >= length)
