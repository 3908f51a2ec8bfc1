"""Which audit entries' search criteria could name a child: the criteria a purge erases.

A purged child's personal data must go from the audit trail too, and what a practitioner typed
into a search is personal data of the child searched for, whether the search found them or not.
`people` reads what the index held of the children about to be purged (before their rows are
deleted); `entries_naming` finds the entries whose criteria are still there and

1. concern one of the children (the search showed them: `audit_event_children`), or
2. name one of them (`names_child`): the identifier typed is one the child held (any scheme, or
   its child number); or the date of birth and postcode typed are both the child's; or the
   family name typed agrees with one the child held and, if a date of birth or postcode was
   typed, at least one of them agrees too (as the search's evidence rule would have found them);
   or a given name the child held (or a known short form of it) beside a postcode in their
   sector (the evidence rule lets a given name stand in for the family name there).
   A family name agrees when it has the same letters (case, accents, spaces and hyphens aside),
   shares a word with a double-barrelled name, sounds the same (Metaphone) or is a near
   misspelling (rapidfuzz ratio of at least `NAME_SIMILARITY`); a date of birth when it is the
   same or a likely slip (day and month swapped, one digit different); a postcode when it is
   in the same sector as one of the child's addresses.

The rule errs towards erasing: a search for another child of the same surname, born the same
day, loses its criteria too (its entry, actor, reason, outcome and results stay). A search whose
typed date of birth and postcode both disagree is for someone else and keeps its criteria; a
family name alone (a refused search) is compared by its letters and words only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import select
from sqlalchemy.orm import Session

from index import models as m
from index.identifiers import validate
from index.keys import compact_name, given_name_forms, name_tokens, phonetic
from index.records import normalise_postcode

NAME_SIMILARITY = 80.0  # rapidfuzz ratio (0-100) from which a typed family name is a misspelling
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")


@dataclass(frozen=True)
class Person:
    """What the index held of one child, in the forms criteria are compared in."""

    child_id: int
    family_names: frozenset[str]  # compact_name of each family name held
    family_words: frozenset[str]
    family_sounds: frozenset[str]
    date_of_birth: dt.date | None
    sectors: frozenset[str]  # postcode sectors of every address ('MK40 1')
    identifiers: frozenset[str]  # every identifier held and the child number, compacted
    given_names: frozenset[str] = frozenset()  # index.keys.given_name_forms of each given name


def _identifier(scheme: Any, value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return validate(str(scheme), value).value if scheme else None
    except ValueError:
        pass
    return _NOT_ALNUM.sub("", value).upper() or None


def _sector(postcode: Any) -> str | None:
    if not isinstance(postcode, str):
        return None
    try:
        return normalise_postcode(postcode)[:-2]
    except ValueError:
        return None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def people(session: Session, child_ids: Iterable[int]) -> list[Person]:
    """What is held of these children now (call before their rows are deleted)."""
    ids = sorted(set(child_ids))
    if not ids:
        return []
    names: dict[int, set[str]] = defaultdict(set)
    given: dict[int, set[str]] = defaultdict(set)
    for child_id, family, first in session.execute(
            select(m.ChildName.child_id, m.ChildName.family_name, m.ChildName.given_name)
            .where(m.ChildName.child_id.in_(ids))):
        if family:
            names[child_id].add(family)
        given[child_id] |= given_name_forms(first)
    sectors: dict[int, set[str]] = defaultdict(set)
    for child_id, postcode in session.execute(select(m.ChildAddress.child_id, m.ChildAddress.postcode)
                                              .where(m.ChildAddress.child_id.in_(ids))):
        if (sector := _sector(postcode)) is not None:
            sectors[child_id].add(sector)
    identifiers: dict[int, set[str]] = defaultdict(set)
    for child_id, scheme, value in session.execute(
            select(m.ChildIdentifier.child_id, m.ChildIdentifier.scheme, m.ChildIdentifier.value)
            .where(m.ChildIdentifier.child_id.in_(ids))):
        if (held := _identifier(getattr(scheme, "value", scheme), value)) is not None:
            identifiers[child_id].add(held)
    found = []
    for child_id, number, born in session.execute(
            select(m.Child.id, m.Child.child_number, m.Child.date_of_birth).where(m.Child.id.in_(ids))):
        held_numbers = {n for n in (_identifier("child_number", number),) if n}
        compact = {compact_name(n) for n in names[child_id]} - {""}
        words = {w for n in names[child_id] for w in name_tokens(n)}
        found.append(Person(
            child_id=child_id, family_names=frozenset(compact), family_words=frozenset(words),
            family_sounds=frozenset(phonetic(c) for c in compact), date_of_birth=born,
            sectors=frozenset(sectors[child_id]),
            identifiers=frozenset(identifiers[child_id] | held_numbers),
            given_names=frozenset(given[child_id])))
    return found


def _slips(born: dt.date) -> frozenset[dt.date]:
    """The date and its likely slips: day and month swapped, any one digit different."""
    found = {born}
    with contextlib.suppress(ValueError):  # no such date
        found.add(born.replace(month=born.day, day=born.month))
    text = born.isoformat()
    for i, char in enumerate(text):
        for digit in "0123456789" if char.isdigit() else "":
            with contextlib.suppress(ValueError):
                found.add(dt.date.fromisoformat(text[:i] + digit + text[i + 1:]))
    return frozenset(found)


class _Typed:
    """Criteria as typed, in the forms a Person holds: parsed once per entry, the costlier forms
    (sound, similarity) only for an entry that shares a key with someone."""

    def __init__(self, criteria: Mapping[str, Any]) -> None:
        family = criteria.get("family_name")
        self.family_text = family if isinstance(family, str) else ""
        self.identifier = _identifier(criteria.get("identifier_scheme"), criteria.get("identifier"))
        self.born = _date(criteria.get("date_of_birth"))
        self.sector = _sector(criteria.get("postcode"))
        self.family_words = frozenset(name_tokens(self.family_text))
        self.family = "".join(name_tokens(self.family_text))  # compact_name without a second fold
        first = criteria.get("given_name")
        self.given = first if isinstance(first, str) else ""

    @functools.cached_property
    def family_sound(self) -> str:
        return phonetic(self.family) if self.family else ""

    def family_agrees(self, person: Person) -> bool:
        if not self.family:
            return False
        if self.family in person.family_names or self.family_words & person.family_words:
            return True
        if self.family_sound in person.family_sounds:
            return True
        return any(fuzz.ratio(self.family, held) >= NAME_SIMILARITY for held in person.family_names)

    def names(self, person: Person, slips: frozenset[dt.date] | None = None) -> bool:
        if self.identifier is not None and self.identifier in person.identifiers:
            return True
        born_agrees = self.born is not None and person.date_of_birth is not None and self.born in (
            slips if slips is not None else _slips(person.date_of_birth))
        sector_agrees = self.sector is not None and self.sector in person.sectors
        if born_agrees and sector_agrees:
            return True
        if sector_agrees and self.given and given_name_forms(self.given) & person.given_names:
            return True
        if not self.family_agrees(person):
            return False
        return (self.born is None and self.sector is None) or born_agrees or sector_agrees


def names_child(criteria: Mapping[str, Any], person: Person) -> bool:
    """Could a search with these (allow-listed) criteria have been for this child? See the
    module's rule."""
    return _Typed(criteria).names(person)


class _Lookup:
    """The people indexed by what a criterion could share with them, so that each entry of the
    trail is compared with a few candidates rather than the whole batch (a date of birth under
    each of its slips: a slip is symmetric, so the date typed is looked up as it is)."""

    def __init__(self, found: list[Person]) -> None:
        self.by_key: dict[tuple[str, Any], list[Person]] = defaultdict(list)
        self.slips: dict[int, frozenset[dt.date]] = {}
        for person in found:
            keys: set[tuple[str, Any]] = {("id", i) for i in person.identifiers}
            keys |= {("sector", s) for s in person.sectors}
            keys |= {("word", w) for w in person.family_words} | {("name", n) for n in person.family_names}
            if person.date_of_birth is not None:
                self.slips[person.child_id] = _slips(person.date_of_birth)
                keys |= {("born", d) for d in self.slips[person.child_id]}
            for key in keys:
                self.by_key[key].append(person)

    def names_anyone(self, typed: _Typed) -> bool:
        keys: list[tuple[str, Any]] = [("word", w) for w in typed.family_words]
        keys += [("born", typed.born), ("id", typed.identifier), ("sector", typed.sector),
                 ("name", typed.family)]
        seen: set[int] = set()
        for key in keys:
            for person in self.by_key.get(key, ()):
                if person.child_id not in seen:
                    seen.add(person.child_id)
                    if typed.names(person, self.slips.get(person.child_id)):
                        return True
        return False


def entries_naming(session: Session, found: list[Person]) -> set[int]:
    """The sequence numbers of entries with criteria still held that concern or name any of
    these children (the module's rule)."""
    if not found:
        return set()
    event, link = m.AuditEvent, m.AuditEventChild
    ids = [p.child_id for p in found]
    seqs: set[int] = set()
    for start in range(0, len(ids), 1000):
        seqs.update(session.scalars(
            select(link.seq).join(event, event.seq == link.seq)
            .where(link.child_id.in_(ids[start:start + 1000]), event.criteria.is_not(None))))
    lookup = _Lookup(found)
    rows = session.execute(select(event.seq, event.criteria).where(event.criteria.is_not(None))
                           .execution_options(yield_per=5000))
    for seq, stored in rows:
        if seq in seqs:
            continue
        try:
            criteria = json.loads(stored)
        except ValueError:
            continue  # not ours to judge: `audit verify` reports an edited entry
        if isinstance(criteria, dict) and lookup.names_anyone(_Typed(criteria)):
            seqs.add(seq)
    return seqs
