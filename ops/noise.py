"""Noise for synthetic feeds: the mistakes real source records carry.

Pure functions of their arguments and a `random.Random`, so a synthetic area is reproducible.
The rates at which `ops.synth` applies them live in one table, `NoiseRates`.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import random
import string
import unicodedata
from dataclasses import dataclass, fields
from pathlib import Path

from index.keys import swap_day_month

_DATA = Path(__file__).with_name("data")

# Letters next to each other on a UK keyboard: most real typos hit a neighbouring key.
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {}
for _row_index, _row in enumerate(_KEYBOARD_ROWS):
    for _col, _key in enumerate(_row):
        near = {_row[i] for i in (_col - 1, _col + 1) if 0 <= i < len(_row)}
        for other in (_row_index - 1, _row_index + 1):
            if 0 <= other < len(_KEYBOARD_ROWS):
                near |= {_KEYBOARD_ROWS[other][i] for i in (_col - 1, _col, _col + 1)
                         if 0 <= i < len(_KEYBOARD_ROWS[other])}
        _NEIGHBOURS[_key] = "".join(sorted(near))


@dataclass(frozen=True)
class NoiseRates:
    """How often each kind of noise or life event happens (a probability, 0..1).

    Per source record: typo, short_form, swap_dob, dob_typo, missing_upn, missing_nhs,
    invalid_id, format. Per family between the two census terms: move. Per child between the
    two terms: surname_change, transfer (a pupil moves school, with a CTF).
    """

    typo_rate: float = 0.02
    short_form_rate: float = 0.04
    swap_dob_rate: float = 0.005
    dob_typo_rate: float = 0.003
    move_rate: float = 0.05
    surname_change_rate: float = 0.01
    missing_upn_rate: float = 0.01
    missing_nhs_rate: float = 0.03
    transfer_rate: float = 0.02
    invalid_id_rate: float = 0.003
    format_rate: float = 0.05

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{field.name} must be between 0 and 1")

    @classmethod
    def none(cls) -> NoiseRates:
        """No noise and no life events: every source record states the truth."""
        return cls(**{field.name: 0.0 for field in fields(cls)})


def _is_letter(char: str) -> bool:
    return char.isalpha()


def _like(letter: str, model: str) -> str:
    return letter.upper() if model.isupper() else letter


def typo(text: str, rng: random.Random) -> str:
    """One keying error: substitute, insert, delete or transpose a letter.

    The result is exactly one Damerau-Levenshtein edit from `text` and never equal to it.
    Text with no letters is returned with one character substituted.
    """
    if not text:
        return rng.choice(string.ascii_lowercase)
    letters = [i for i, c in enumerate(text) if _is_letter(c)]
    if not letters:
        i = rng.randrange(len(text))
        return text[:i] + rng.choice("x" if text[i] != "x" else "y") + text[i + 1 :]
    pairs = [i for i in letters if i + 1 < len(text) and _is_letter(text[i + 1])
             and text[i] != text[i + 1]]
    operations = ["substitute", "insert"]
    if len(text) > 1:
        operations.append("delete")
    if pairs:
        operations.append("transpose")
    operation = rng.choice(operations)
    if operation == "transpose":
        i = rng.choice(pairs)
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    i = rng.choice(letters)
    if operation == "delete":
        return text[:i] + text[i + 1 :]
    base = text[i].lower()
    if operation == "insert":
        # Doubling a letter or hitting a neighbour as well: the usual insertions.
        extra = base if rng.random() < 0.5 else rng.choice(_NEIGHBOURS.get(base, "e"))
        return text[: i + 1] + _like(extra, text[i]) + text[i + 1 :]
    choices = [c for c in _NEIGHBOURS.get(base, string.ascii_lowercase) if c != base]
    return text[:i] + _like(rng.choice(choices), text[i]) + text[i + 1 :]


@functools.cache
def _short_forms() -> dict[str, tuple[str, ...]]:
    with (_DATA / "short_forms.csv").open(encoding="utf-8") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return {row["full"].casefold(): tuple(row["short_forms"].split()) for row in rows}


def short_forms(given_name: str) -> tuple[str, ...]:
    """Every short form a feed may write for this given name (none when it has none)."""
    return _short_forms().get(given_name.casefold(), ())


def short_form(given_name: str, rng: random.Random) -> str:
    """A short form of the given name (Alexander -> Alex), or the name unchanged if it has none."""
    forms = short_forms(given_name)
    return rng.choice(forms) if forms else given_name


def _valid_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def dob_typo(date: dt.date, rng: random.Random, *, not_after: dt.date | None = None) -> dt.date:
    """The date with one digit of YYYYMMDD changed, still a valid date (and not after
    `not_after` when given). The century digits are left alone: nobody mistypes 2014 as 1014.

    ValueError when no such date exists (only possible with `not_after`).
    """
    digits = date.strftime("%Y%m%d")
    candidates = []
    for position in range(2, 8):
        for replacement in "0123456789":
            if replacement == digits[position]:
                continue
            edited = digits[:position] + replacement + digits[position + 1 :]
            candidate = _valid_date(int(edited[:4]), int(edited[4:6]), int(edited[6:]))
            if candidate and (not_after is None or candidate <= not_after):
                candidates.append(candidate)
    if not candidates:
        raise ValueError("no one-digit variant of this date is allowed")
    return rng.choice(candidates)


def corrupt_identifier(value: str, rng: random.Random) -> str:
    """The identifier with one digit changed: for UPN, NHS number and ULN a single changed
    digit always breaks the check (their weights are non-zero modulo a prime)."""
    positions = [i for i, c in enumerate(value) if c.isdigit()]
    if not positions:
        raise ValueError("identifier has no digits")
    i = rng.choice(positions)
    replacement = rng.choice([d for d in "0123456789" if d != value[i]])
    return value[:i] + replacement + value[i + 1 :]


def strip_accents(text: str) -> str:
    """Zoë -> Zoe, Łukasz -> Lukasz: what a system without Unicode support writes."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_format(name: str, rng: random.Random) -> str:
    """The name as another system formats it: accents dropped, hyphen written as a space
    (or the other way round), or upper case. Always different from `name` when possible."""
    options = []
    plain = strip_accents(name)
    if plain != name:
        options.append(plain)
    if "-" in name:
        options.append(name.replace("-", " "))
    elif " " in name:
        options.append(name.replace(" ", "-"))
    if name.upper() != name:
        options.append(name.upper())
    return rng.choice(options) if options else name


@dataclass(frozen=True)
class ListFaults:
    """How often a list from another service or from abroad gets a value wrong (per row): a date
    of birth that is not a date, a postcode garbled or foreign (half each), a date left blank."""

    invalid_date_rate: float = 0.04
    bad_postcode_rate: float = 0.05
    missing_date_rate: float = 0.03

    def __post_init__(self) -> None:
        for field in fields(self):
            if not 0.0 <= getattr(self, field.name) <= 1.0:
                raise ValueError(f"{field.name} must be between 0 and 1")


def invalid_date(date: dt.date, rng: random.Random) -> str:
    """The date as a careless list writes it, never a real date: day and month swapped where
    the day cannot be a month ('2013-13-05'), a day past the month's end ('2013-02-30'), or a
    month digit mistyped past 12 ('2013-15-05')."""
    options = []
    if date.day > 12:
        options.append(f"{date.year:04d}-{date.day:02d}-{date.month:02d}")
    month_end = {2: 30, 4: 31, 6: 31, 9: 31, 11: 31}
    if date.month in month_end:
        options.append(f"{date.year:04d}-{date.month:02d}-{month_end[date.month]:02d}")
    options.append(f"{date.year:04d}-{rng.choice((13, 14, 15, 16, 17, 18, 19, 20)):02d}-{date.day:02d}")
    return rng.choice(options)


# Postcodes of the places children arrive from (shapes only): France, Germany, Ireland (Eircode),
# Poland, the Netherlands, Romania, India.
_FOREIGN_POSTCODES = ("75008", "69003", "10115", "80331", "D02 X285", "T12 R2PX", "00-950", "31-042",
                      "1012 AB", "3511 LX", "010011", "400001", "560034")


def foreign_postcode(rng: random.Random) -> str:
    return rng.choice(_FOREIGN_POSTCODES)


def garbled_postcode(postcode: str, rng: random.Random) -> str:
    """The postcode keyed badly: a zero typed as the letter O (or the other way), a one as I,
    the inward part lost, or a character dropped."""
    compact = postcode.replace(" ", "")
    swaps = [i for i, c in enumerate(compact) if c in "01OI"]
    choice = rng.randrange(3)
    if choice == 0 and swaps:
        i = rng.choice(swaps)
        swap = {"0": "O", "O": "0", "1": "I", "I": "1"}[compact[i]]
        return compact[:i] + swap + compact[i + 1:]
    if choice == 1 and " " in postcode:
        return postcode.split(" ")[0] + " " + postcode.split(" ")[1][:1]
    i = rng.randrange(len(compact))
    return compact[:i] + compact[i + 1:]


__all__ = [
    "ListFaults",
    "NoiseRates",
    "corrupt_identifier",
    "dob_typo",
    "foreign_postcode",
    "garbled_postcode",
    "invalid_date",
    "name_format",
    "short_form",
    "short_forms",
    "strip_accents",
    "swap_day_month",
    "typo",
]
