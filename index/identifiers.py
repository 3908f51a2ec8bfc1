"""Identifier validation: UPN, NHS number, ULN and the index's own child number.

Every identifier that enters the index passes through `validate`, which returns the canonical
form or raises `InvalidIdentifier` naming the scheme and the reason (never echoing the value,
which is personal data). Checksums come from python-stdnum where it has them; the UPN policy
(an unknown LA number is a warning, temporary UPNs end in a letter) is ours, as DESIGN.md says.
"""

from __future__ import annotations

import enum
import operator
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from stdnum import damm
from stdnum.gb import nhs as stdnum_nhs
from stdnum.gb import upn as stdnum_upn


class Scheme(enum.StrEnum):
    """Identifier schemes the index holds (the child number lives on the child itself)."""

    UPN = "upn"
    FORMER_UPN = "former_upn"
    NHS_NUMBER = "nhs_number"
    ULN = "uln"
    LA_REFERENCE = "la_reference"
    CHILD_NUMBER = "child_number"


class InvalidIdentifier(ValueError):
    """An identifier failed validation. The message names the scheme and reason, not the value."""

    def __init__(self, scheme: Scheme | str, reason: str) -> None:
        self.scheme = Scheme(scheme)
        self.reason = reason
        super().__init__(f"invalid {self.scheme.value}: {reason}")


@dataclass(frozen=True)
class Checked:
    """A validated identifier in canonical form, with any non-fatal warnings."""

    scheme: Scheme
    value: str
    warnings: tuple[str, ...] = ()


UPN_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"
_SEPARATORS = re.compile(r"[\s\-]")
_KNOWN_LA_NUMBERS: frozenset[int] = frozenset(stdnum_upn._la_numbers)


def _compact(value: str) -> str:
    return _SEPARATORS.sub("", value).upper()


def _digits(text: str) -> bool:
    """0-9 only: str.isdigit also accepts other scripts' digits (Arabic-Indic, superscripts)."""
    return text.isascii() and text.isdigit()


# The value of each character that may follow the check letter, and the weight of each position.
_UPN_VALUES: dict[str, int] = {**{str(d): d for d in range(10)}, **{c: i for i, c in enumerate(UPN_ALPHABET)}}
_UPN_WEIGHTS = range(2, 14)


def upn_check_letter(body: str) -> str:
    """Check letter for the 12 characters after it (positions 2..13 of the UPN): digits and
    letters of `UPN_ALPHABET` only (KeyError otherwise)."""
    values = _UPN_VALUES
    return UPN_ALPHABET[sum(map(operator.mul, _UPN_WEIGHTS, [values[c] for c in body])) % 23]


def _validate_upn(value: str, scheme: Scheme = Scheme.UPN) -> Checked:
    upn = _compact(value)
    if len(upn) != 13:
        raise InvalidIdentifier(scheme, f"must be 13 characters, got {len(upn)}")
    check, body, last = upn[0], upn[1:], upn[-1]
    if check not in UPN_ALPHABET:
        raise InvalidIdentifier(scheme, "first character must be a check letter (no I, O or S)")
    if not _digits(body[:-1]):
        raise InvalidIdentifier(scheme, "characters 2 to 12 must be digits")
    if not (_digits(last) or last in UPN_ALPHABET):
        raise InvalidIdentifier(scheme, "last character must be a digit or a letter other than I, O or S")
    if upn_check_letter(body) != check:
        raise InvalidIdentifier(scheme, "check letter does not match")
    warnings = []
    if int(body[:3]) not in _KNOWN_LA_NUMBERS:
        warnings.append(f"LA number {body[:3]} is not a known LA number")
    if not _digits(last):
        warnings.append("temporary UPN")
    return Checked(scheme, upn, tuple(warnings))


def _ten_digits(value: str, scheme: Scheme) -> str:
    digits = _compact(value)
    if len(digits) != 10 or not _digits(digits):
        raise InvalidIdentifier(scheme, "must be 10 digits")
    return digits


def _validate_nhs(value: str) -> Checked:
    digits = _ten_digits(value, Scheme.NHS_NUMBER)
    if not stdnum_nhs.is_valid(digits):
        raise InvalidIdentifier(Scheme.NHS_NUMBER, "check digit does not match")
    return Checked(Scheme.NHS_NUMBER, digits)


def _weighted_mod11(digits: str) -> int:
    return sum(int(d) * (11 - i) for i, d in enumerate(digits, start=1)) % 11


def _validate_uln(value: str) -> Checked:
    digits = _ten_digits(value, Scheme.ULN)
    if digits[0] == "0":
        raise InvalidIdentifier(Scheme.ULN, "must not start with 0")
    if _weighted_mod11(digits) != 10:
        raise InvalidIdentifier(Scheme.ULN, "check digit does not match")
    return Checked(Scheme.ULN, digits)


_LA_REFERENCE = re.compile(r"[A-Z0-9][A-Z0-9/\-]{0,29}")


def _validate_la_reference(value: str) -> Checked:
    ref = value.strip().upper()
    if not _LA_REFERENCE.fullmatch(ref):
        raise InvalidIdentifier(
            Scheme.LA_REFERENCE, "must be 1 to 30 letters, digits, '/' or '-'"
        )
    return Checked(Scheme.LA_REFERENCE, ref)


# The index's own child number. Numbers were once 9 digits of serial then a Damm check digit:
# serial numbers can be walked in order (try the next one), so they are no longer issued, and a
# search by one needs the child's name as well (index.search). New numbers are 10 characters of
# Crockford's base 32 (digits and letters without I, L, O, U): a letter, 8 random characters,
# then a check character; about 2.4e13 numbers, so a guess finds nobody. The first character is
# a letter so that a new number never looks like a serial one.
CHILD_NUMBER_SERIAL_DIGITS = 9
CHILD_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CHILD_NUMBER_LETTERS = CHILD_NUMBER_ALPHABET[10:]
_CHILD_NUMBER_RANDOM = 8
# Crockford's decoding of the letters people mistake for digits.
_CROCKFORD_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def make_child_number(serial: int) -> str:
    """The serial child number of a serial (1 .. 999,999,999), as issued before numbers were
    random: still valid, never issued now (see `new_child_number`)."""
    if not 0 < serial < 10**CHILD_NUMBER_SERIAL_DIGITS:
        raise ValueError("child number serial out of range")
    body = f"{serial:0{CHILD_NUMBER_SERIAL_DIGITS}d}"
    return body + damm.calc_check_digit(body)


def _gf32_double(value: int) -> int:
    """2 * value in GF(32) (polynomial x^5 + x^2 + 1)."""
    value <<= 1
    return value ^ 0b100101 if value & 0b100000 else value


def _base32_checksum(text: str) -> int:
    """Damm's algorithm over the quasigroup x * y = 2x + y of GF(32): 0 for a valid number. It
    catches every single wrong character and every swap of two neighbours, as the decimal Damm
    check does (python-stdnum's Damm takes decimal tables only)."""
    interim = 0
    for char in text:
        interim = _gf32_double(interim) ^ CHILD_NUMBER_ALPHABET.index(char)
    return interim


def new_child_number(choose: Callable[[str], str] = secrets.choice) -> str:
    """A new random child number (a letter, 8 random characters, a check character)."""
    body = choose(_CHILD_NUMBER_LETTERS) + "".join(
        choose(CHILD_NUMBER_ALPHABET) for _ in range(_CHILD_NUMBER_RANDOM))
    return body + CHILD_NUMBER_ALPHABET[_gf32_double(_base32_checksum(body))]


def is_serial_child_number(value: str) -> bool:
    """Is this (well-formed) child number a serial one, from before numbers were random?"""
    return _digits(_compact(value).translate(_CROCKFORD_ALIASES))


def _validate_child_number(value: str) -> Checked:
    number = _compact(value).translate(_CROCKFORD_ALIASES)
    if len(number) != CHILD_NUMBER_SERIAL_DIGITS + 1:
        raise InvalidIdentifier(Scheme.CHILD_NUMBER, "must be 10 characters")
    if _digits(number):
        if not damm.is_valid(number):
            raise InvalidIdentifier(Scheme.CHILD_NUMBER, "check digit does not match")
        return Checked(Scheme.CHILD_NUMBER, number)
    if not (number.isascii() and all(c in CHILD_NUMBER_ALPHABET for c in number)):
        raise InvalidIdentifier(Scheme.CHILD_NUMBER, "must be digits and letters other than I, L, O and U")
    if number[0] not in _CHILD_NUMBER_LETTERS:
        raise InvalidIdentifier(Scheme.CHILD_NUMBER, "must start with a letter, or be 10 digits")
    if _base32_checksum(number) != 0:
        raise InvalidIdentifier(Scheme.CHILD_NUMBER, "check character does not match")
    return Checked(Scheme.CHILD_NUMBER, number)


_VALIDATORS: dict[Scheme, Callable[[str], Checked]] = {
    Scheme.UPN: _validate_upn,
    Scheme.FORMER_UPN: lambda v: _validate_upn(v, Scheme.FORMER_UPN),
    Scheme.NHS_NUMBER: _validate_nhs,
    Scheme.ULN: _validate_uln,
    Scheme.LA_REFERENCE: _validate_la_reference,
    Scheme.CHILD_NUMBER: _validate_child_number,
}


def validate(scheme: Scheme | str, value: str) -> Checked:
    """Validate `value` as an identifier of `scheme`; canonical form or `InvalidIdentifier`."""
    try:
        scheme = Scheme(scheme)
    except ValueError:
        raise ValueError(f"unknown identifier scheme {scheme!r}") from None
    if not isinstance(value, str) or not value.strip():
        raise InvalidIdentifier(scheme, "is empty")
    if len(value) > 64:
        raise InvalidIdentifier(scheme, "is too long")
    return _VALIDATORS[scheme](value)


def is_valid(scheme: Scheme | str, value: str) -> bool:
    try:
        validate(scheme, value)
    except InvalidIdentifier:
        return False
    return True
