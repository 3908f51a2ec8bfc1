"""Which audit entries' search criteria could name a child: the criteria a purge erases.

A purged child's personal data must go from the audit trail too, and what a practitioner typed
into a search is personal data of the child searched for, whether the search found them or not.
`people` reads what the index held of the children about to be purged (before their rows are
deleted); `entries_naming` finds the entries whose criteria are still there and

1. concern one of the children (the search showed them: `audit_event_children`), or
2. name one of them (`names_child`): the identifier typed is one the child held (any scheme, or
   its child number); or the date of birth and postcode typed are both the child's; or the
   family name typed agrees with one the child held and, if a date of birth or postcode was
   typed, at least one of them agrees too (as the search's evidence rule would have found them).
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

import datetime as dt
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
from index.keys import compact_name, name_tokens, phonetic
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
    for child_id, family in session.execute(select(m.ChildName.child_id, m.ChildName.family_name)
                                            .where(m.ChildName.child_id.in_(ids))):
        if family:
            names[child_id].add(family)
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
            identifiers=frozenset(identifiers[child_id] | held_numbers)))
    return found


def _dates_agree(typed: dt.date, held: dt.date | None) -> bool:
    if held is None:
        return False
    if typed == held:
        return True
    if typed.year == held.year and (typed.day, typed.month) == (held.month, held.day):
        return True
    a, b = typed.isoformat(), held.isoformat()
    return sum(x != y for x, y in zip(a, b, strict=True)) == 1


def _family_agrees(typed: str, person: Person) -> bool:
    compact = compact_name(typed)
    if not compact:
        return False
    if compact in person.family_names or set(name_tokens(typed)) & person.family_words:
        return True
    if phonetic(compact) in person.family_sounds:
        return True
    return any(fuzz.ratio(compact, held) >= NAME_SIMILARITY for held in person.family_names)


def names_child(criteria: Mapping[str, Any], person: Person) -> bool:
    """Could a search with these (allow-listed) criteria have been for this child? See the
    module's rule."""
    typed_id = _identifier(criteria.get("identifier_scheme"), criteria.get("identifier"))
    if typed_id is not None and typed_id in person.identifiers:
        return True
    born = _date(criteria.get("date_of_birth"))
    sector = _sector(criteria.get("postcode"))
    born_agrees = born is not None and _dates_agree(born, person.date_of_birth)
    sector_agrees = sector is not None and sector in person.sectors
    if born_agrees and sector_agrees:
        return True
    family = criteria.get("family_name")
    if not isinstance(family, str) or not _family_agrees(family, person):
        return False
    return (born is None and sector is None) or born_agrees or sector_agrees


class _Lookup:
    """The people indexed by what a criterion could share with them, so that each entry of the
    trail is compared with a few candidates rather than the whole batch."""

    def __init__(self, found: list[Person]) -> None:
        self.by_key: dict[tuple[str, Any], list[Person]] = defaultdict(list)
        for person in found:
            keys: set[tuple[str, Any]] = {("id", i) for i in person.identifiers}
            keys |= {("sector", s) for s in person.sectors}
            keys |= {("word", w) for w in person.family_words} | {("name", n) for n in person.family_names}
            if person.date_of_birth is not None:
                keys.add(("year", person.date_of_birth.year))
            for key in keys:
                self.by_key[key].append(person)

    def candidates(self, criteria: Mapping[str, Any]) -> list[Person]:
        keys: list[tuple[str, Any]] = []
        if (typed_id := _identifier(criteria.get("identifier_scheme"), criteria.get("identifier"))):
            keys.append(("id", typed_id))
        if (sector := _sector(criteria.get("postcode"))) is not None:
            keys.append(("sector", sector))
        if (born := _date(criteria.get("date_of_birth"))) is not None:
            # A slip of one digit may be in the year: every year one digit away too.
            year = f"{born.year:04d}"
            keys += [("year", int(year[:i] + d + year[i + 1:])) for i in range(4) for d in "0123456789"]
        family = criteria.get("family_name")
        if isinstance(family, str):
            keys += [("word", w) for w in name_tokens(family)] + [("name", compact_name(family))]
        seen: dict[int, Person] = {}
        for key in keys:
            for person in self.by_key.get(key, ()):
                seen.setdefault(person.child_id, person)
        return list(seen.values())


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
        if isinstance(criteria, dict) and any(names_child(criteria, p) for p in lookup.candidates(criteria)):
            seqs.add(seq)
    return seqs
