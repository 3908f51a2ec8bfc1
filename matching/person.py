"""The matcher's view of a person: normalised, precomputed, immutable.

The same `Person` is built from an `index.ChildRecord` (ingest, benchmark), from a stored child
or from a row of a user's CSV list, so one comparison and scoring code serves all of them.
Everything expensive (folding, phonetic codes, nickname groups, postcode parts) is done once
here, not per comparison; repeated values are interned so a million people fit in memory.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from index import ChildRecord, InvalidIdentifier, Scheme, UndatedRecord, validate
from index.keys import fold, given_name_forms, name_tokens, phonetic, postcode_parts
from index.vocabulary import AddressStatus, Gender, NameKind

# Identifiers trusted enough for deterministic links (DESIGN.md): one person each, nationally.
TRUSTED_SCHEMES: tuple[Scheme, ...] = (Scheme.UPN, Scheme.NHS_NUMBER, Scheme.ULN)

# Longest value of each kind compared: longer input is not a name (and would slow comparison).
MAX_NAME = 100
MAX_LONG = 200
_EARLIEST_BIRTH = dt.date(1900, 1, 1)


class UnscorableRecord(ValueError):
    """A record the matcher cannot score. The message names the field and reason, no value."""


@dataclass(frozen=True, slots=True)
class Person:
    """One person, normalised for comparison. `ref` is the caller's key (child id, row id)."""

    ref: int | str
    given: str = ""  # first given name, folded and compact
    given_phonetic: str = ""
    given_forms: frozenset[str] = frozenset()  # the name and the full names it may be short for
    middle: str = ""  # all middle names, folded, space separated
    family: str = ""  # family name, folded and compact ('smithjones')
    family_tokens: frozenset[str] = frozenset()  # its parts ('smith', 'jones')
    family_phonetic: str = ""
    other_family: frozenset[str] = frozenset()  # former/alternative family names, compact
    dob: dt.date | None = None
    # The date of birth's digits (YYYYMMDD for a date; the digits as written for a date that is
    # not one, e.g. "2013-02-30"), and the birth year when either gives one: a date a list got
    # wrong is still compared, as text (matching.comparisons), and still blocks by year.
    dob_digits: str = ""
    birth_year: int = 0
    sex: str = ""  # 'f', 'm' or '' when unknown
    # Unit, sector, district, area; a postcode that is not a UK one is free text: its compact
    # text as the unit, and parts no other postcode can share (FREE_TEXT_POSTCODE).
    postcode: tuple[str, str, str, str] | None = None
    address: str = ""  # folded address lines and town, without the postcode
    ids: frozenset[tuple[str, str]] = frozenset()  # trusted (scheme, value) pairs
    shielded: bool = False

    def identifier(self, scheme: Scheme | str) -> str | None:
        for s, value in self.ids:
            if s == scheme:
                return value
        return None


_intern = functools.lru_cache(maxsize=200_000)(sys.intern)

# Trusted schemes by enum member or value string -> the value string (enum look-ups are slow).
_TRUSTED: dict[Scheme | str, str] = {
    **{s: s.value for s in TRUSTED_SCHEMES}, **{s.value: s.value for s in TRUSTED_SCHEMES}
}


@functools.lru_cache(maxsize=2)
def _today(_hour: int) -> dt.date:
    # Asked for once an hour, not once a record: a long run still sees the date change.
    return dt.date.today()


@functools.lru_cache(maxsize=100_000)
def _given(text: str) -> tuple[str, str, frozenset[str]]:
    tokens = name_tokens(text)
    if not tokens:
        return "", "", frozenset()
    return _intern(tokens[0]), _intern(phonetic(tokens[0])), given_name_forms(tokens[0])


@functools.lru_cache(maxsize=100_000)
def _family(text: str) -> tuple[str, frozenset[str], str]:
    tokens = name_tokens(text)
    if not tokens:
        return "", frozenset(), ""
    compact = "".join(tokens)
    # The phonetic key of the whole name: 'Smith-Jones' and 'Smith Jones' get the same key.
    return _intern(compact), frozenset(tokens), _intern(phonetic(compact))


@functools.lru_cache(maxsize=100_000)
def _middle(text: str) -> str:
    return _intern(" ".join(name_tokens(text)))


# One date object per date of birth (a few thousand), not one per person.
_date = functools.lru_cache(maxsize=65_536)(lambda date: date)


# Addresses repeat across a child's records (every feed reports the same home).
@functools.lru_cache(maxsize=200_000)
def _address(text: str) -> str:
    return _intern(fold(text))


@functools.lru_cache(maxsize=64)
def _sex(text: str | None) -> str:
    return _SEX.get(fold(text or ""), "")


@functools.lru_cache(maxsize=100_000)
def _postcode(text: str) -> tuple[str, str, str, str] | None:
    parts = postcode_parts(text)
    if parts is not None:
        return parts
    compact = "".join(fold(text).split()).upper()
    if not compact:
        return None
    # Marked so that only the same free text agrees, at the unit level and never at a part.
    return (compact, *(f"{FREE_TEXT_POSTCODE * n}{compact}" for n in (1, 2, 3)))  # type: ignore[return-value]


FREE_TEXT_POSTCODE = "~"


@functools.lru_cache(maxsize=65_536)
def _digits_of(date: dt.date) -> str:
    return _intern(f"{date.year:04d}{date.month:02d}{date.day:02d}")


@functools.lru_cache(maxsize=65_536)
def _text_date(text: str) -> tuple[str, int]:
    """A date that is not one: its digits, and its year when it starts with a plausible one."""
    digits = "".join(c for c in text if c.isdigit())
    year = int(digits[:4]) if len(digits) >= 4 else 0
    this_year = _today(int(time.time() // 3600)).year
    return _intern(digits), (year if _EARLIEST_BIRTH.year <= year <= this_year else 0)


def _clip(value: str | None, field: str, limit: int) -> str:
    if value is None:
        return ""
    value = value.strip()
    if len(value) > limit:
        raise UnscorableRecord(f"{field} is longer than {limit} characters")
    return value


def make_person(
    ref: int | str,
    *,
    given_name: str | None = None,
    middle_names: str | None = None,
    family_name: str | None = None,
    other_family_names: Iterable[str] = (),
    date_of_birth: dt.date | None = None,
    sex: str | None = None,
    postcode: str | None = None,
    address: str | None = None,
    identifiers: Mapping[Scheme | str, str] | Iterable[tuple[Scheme | str, str]] = (),
    shielded: bool = False,
    date_text: str | None = None,
) -> Person:
    """A `Person` from plain values (already validated identifiers and dates). `date_text`: a
    date of birth that is not a date, compared as text; a postcode that is not a UK one is
    compared as free text.

    Raises `UnscorableRecord` when there is nothing to match on: no name and no trusted
    identifier (a missing date, postcode or identifier is simply missing: weight 0).
    """
    given, given_ph, forms = _given(_clip(given_name, "given_name", MAX_NAME))
    family, family_tokens, family_ph = _family(_clip(family_name, "family_name", MAX_NAME))
    middle = _middle(_clip(middle_names, "middle_names", MAX_LONG))
    others = frozenset(
        f for name in other_family_names if (f := _family(_clip(name, "former family name", MAX_NAME))[0])
        and f != family
    )
    pairs = identifiers.items() if isinstance(identifiers, Mapping) else identifiers
    ids = frozenset((_TRUSTED[s], v) for s, v in pairs if s in _TRUSTED and v)
    parts = _postcode(postcode) if postcode else None
    if date_of_birth is not None and not _EARLIEST_BIRTH <= date_of_birth <= _today(int(time.time() // 3600)):
        raise UnscorableRecord("date_of_birth is not a plausible date of birth")
    if not (given or family or ids):
        raise UnscorableRecord("no name and no trusted identifier: nothing to match on")
    if date_of_birth is not None:
        digits, year = _digits_of(date_of_birth), date_of_birth.year
    else:
        digits, year = _text_date(date_text) if date_text else ("", 0)
    return Person(
        ref=ref,
        given=given,
        given_phonetic=given_ph,
        given_forms=forms,
        middle=middle,
        family=family,
        family_tokens=family_tokens,
        family_phonetic=family_ph,
        other_family=others,
        dob=_date(date_of_birth) if date_of_birth is not None else None,
        dob_digits=digits,
        birth_year=year,
        sex=_sex(sex),
        postcode=parts,
        address=_address(_clip(address, "address", 2 * MAX_LONG)),
        ids=ids,
        shielded=shielded,
    )


_SEX = {"f": "f", "female": "f", "m": "m", "male": "m", Gender.FEMALE.value: "f", Gender.MALE.value: "m"}


def person_from_record(ref: int | str, record: ChildRecord | UndatedRecord) -> Person:
    """The matcher's view of a validated `ChildRecord` (current name, current address), or of
    an `UndatedRecord`, whose date of birth as sent is compared as text (missing: weight 0),
    as in a user's list (`person_from_row`)."""
    name = record.current_name  # None: a record kept for its trusted identifier alone
    others = [n.family_name for n in record.names if n.kind is not NameKind.CURRENT and n.family_name]
    address = next(
        (a for a in record.addresses if a.status is AddressStatus.CURRENT),
        record.addresses[0] if record.addresses else None,
    )
    lines = [address.line1, address.line2, address.line3, address.town] if address else []
    return make_person(
        ref,
        given_name=name.given_name if name else None,
        middle_names=name.middle_names if name else None,
        family_name=name.family_name if name else None,
        other_family_names=others,
        date_of_birth=record.date_of_birth,
        sex=record.gender.value,
        postcode=address.postcode if address else None,
        address=" ".join(line for line in lines if line),
        identifiers=[(i.scheme, i.value) for i in record.identifiers],
        shielded=record.shielded,
        date_text=record.date_of_birth_text if isinstance(record, UndatedRecord) else None,
    )


# Columns of a user's list (the `link` and `dedupe` commands), exactly as documented.
ROW_COLUMNS: tuple[str, ...] = (
    "id", "given_name", "middle_names", "family_name", "date_of_birth", "sex", "postcode",
    "address", "town", "upn", "nhs_number", "uln",
)


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


# A row's unusable value -> what is done with it, counted by (field, reason) in the caller's
# `warnings`: the row is kept and matched on everything else.
ROW_WARNINGS = {
    ("date_of_birth", "not a date in YYYY-MM-DD form"): "compared as text",
    ("date_of_birth", "not a real calendar date"): "compared as text",
    ("date_of_birth", "not a plausible date of birth"): "compared as text",
    ("postcode", "not a UK postcode"): "compared as free text",
    ("sex", "not one of F, M, U"): "treated as unknown",
    **{(s.value, "not valid"): "left out" for s in TRUSTED_SCHEMES},
}
_ROW_LIMITS = {"given_name": MAX_NAME, "family_name": MAX_NAME, "middle_names": MAX_LONG,
               "address": MAX_LONG, "town": MAX_NAME}


def person_from_row(ref: int | str, row: Mapping[str, str | None],
                    warnings: Counter[tuple[str, str]] | None = None) -> Person:
    """The matcher's view of one CSV row. Every row with a name or a trusted identifier is
    kept: a value that cannot be used as what it claims to be is compared as text (a date of
    birth that is not a date, a postcode that is not a UK one) or left out (an identifier whose
    check fails, an unknown sex), and counted in `warnings` by (field, reason) (`ROW_WARNINGS`);
    a blank cell is missing. `UnscorableRecord` (no name and no identifier) names no value.
    """
    def warn(field: str, reason: str) -> None:
        if warnings is not None:
            warnings[(field, reason)] += 1

    def cell(name: str) -> str | None:
        value = row.get(name)
        value = value.strip() or None if value is not None else None
        limit = _ROW_LIMITS.get(name)
        if value is not None and limit is not None and len(value) > limit:
            warn(name, f"longer than {limit} characters")
            return None
        return value

    dob_text = cell("date_of_birth")
    dob = None
    if dob_text:
        # fromisoformat alone also takes week dates ('2015-W01-1') and compact forms.
        if not _ISO_DATE.fullmatch(dob_text):
            warn("date_of_birth", "not a date in YYYY-MM-DD form")
        else:
            try:
                dob = dt.date.fromisoformat(dob_text)
            except ValueError:
                warn("date_of_birth", "not a real calendar date")
            else:
                if not _EARLIEST_BIRTH <= dob <= _today(int(time.time() // 3600)):
                    warn("date_of_birth", "not a plausible date of birth")
                    dob = None
    sex = cell("sex")
    if sex and fold(sex) not in _SEX and fold(sex) not in {"u", "unknown", "unspecified", "x"}:
        warn("sex", "not one of F, M, U")
        sex = None
    postcode = cell("postcode")
    if postcode and postcode_parts(postcode) is None:
        warn("postcode", "not a UK postcode")
    ids = []
    for scheme in TRUSTED_SCHEMES:
        value = cell(scheme.value)
        if value:
            try:
                ids.append((scheme, validate(scheme, value).value))
            except InvalidIdentifier:
                warn(scheme.value, "not valid")
    address = " ".join(v for v in (cell("address"), cell("town")) if v)
    return make_person(
        ref,
        given_name=cell("given_name"),
        middle_names=cell("middle_names"),
        family_name=cell("family_name"),
        date_of_birth=dob,
        sex=sex,
        postcode=postcode,
        address=address,
        identifiers=ids,
        date_text=dob_text if dob is None else None,
    )
