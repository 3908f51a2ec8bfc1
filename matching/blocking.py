"""In-memory blocking: which known people are worth comparing with an incoming one.

Blocking rules are data (`INDEX_RULES`): each names the `Person` attributes whose values form one
key. People are filed under their keys; a query looks the incoming person up under the same
rules, with its date of birth expanded to the dates it may really be (day/month swapped, one
digit wrong, a day either side: `index.keys.date_variants`) and its given and family names also
tried the other way round. So a true match is missed only when *every* rule's fields are wrong
at once, while blocks stay a handful of people each even in an index of a million.

Queries come in up to three passes (`Matcher.decide`): *strict* first (the people holding the
person's trusted identifiers, and shielded children under its strict keys: a few dictionary
look-ups in small tables); when that gives no identifier link, every key but the date of birth
variants; and only when that gives no link either, every key.

Keys are kept as 64-bit hashes (collisions only add a candidate, which scoring then rejects).
Used by the list commands, the benchmark and tests; the store uses the search backend instead.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from index.keys import date_variants, phonetic, swap_day_month
from matching.person import Person

# (rule name, attributes). 'dob' is expanded to its variants at query time; 'given_phonetic'
# and 'family_phonetic' are also tried swapped (given and family names entered the wrong way).
INDEX_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("dob_family", ("dob", "family_phonetic")),
    ("dob_given", ("dob", "given_phonetic")),
    ("postcode_family", ("postcode_unit", "family_phonetic")),
    ("postcode_given", ("postcode_unit", "given_phonetic")),
    ("names_birth_year", ("family_phonetic", "given_phonetic", "birth_year")),
)

# A person with no date of birth is looked up under its names born in any of this many years
# back (children and young people up to 25, the longest a record stays live).
NO_DATE_YEARS = 26

# Blocks larger than this are not compared in full (a data error such as thousands of
# records with one placeholder name); the query counts them in `skipped_blocks`.
MAX_BLOCK = 500


@functools.lru_cache(maxsize=65_536)
def _dates(date: dt.date) -> tuple[dt.date, ...]:
    return tuple(date_variants(date))


def index_keys(person: Person) -> set[int]:
    """The hashed keys a person is filed under (`INDEX_RULES`, identifiers, former names)."""
    keys = {hash(("id", scheme, value)) for scheme, value in person.ids}
    dob, family, given = person.dob, person.family_phonetic, person.given_phonetic
    unit = person.postcode[0] if person.postcode else None
    # Written out rather than looped over INDEX_RULES: this runs for every record.
    if dob:
        if family:
            keys.add(hash(("dob_family", dob, family)))
            if given:
                keys.add(hash(("names_birth_year", family, given, dob.year)))
        if given:
            keys.add(hash(("dob_given", dob, given)))
        for other in person.other_family:
            keys.add(hash(("dob_family", dob, _phonetic_of(other))))
    elif person.birth_year and family and given:
        # A date of birth that is not a date still gives its year.
        keys.add(hash(("names_birth_year", family, given, person.birth_year)))
    if unit:
        if family:
            keys.add(hash(("postcode_family", unit, family)))
        if given:
            keys.add(hash(("postcode_given", unit, given)))
    if person.shielded:
        keys |= _shield_keys(person, (dob,) if dob else (), (0,))
    return keys


def _shield_keys(person: Person, dates: Iterable[dt.date], years: Iterable[int]) -> set[int]:
    """Loose keys under which only shielded children are filed, so that a record that may be a
    shielded child is compared with it even when most of its fields are wrong (ContactPoint's
    duplicates came from records that no strict rule found)."""
    keys = {hash(("shield_dob", date)) for date in dates}
    if person.dob:
        names = {("family", person.family_phonetic), ("given", person.given_phonetic)}
        names |= {("family", _phonetic_of(f)) for f in person.other_family}
        keys |= {hash(("shield_name_year", kind, name, person.dob.year + y))
                 for kind, name in names if name for y in years}
    return keys


@functools.lru_cache(maxsize=100_000)
def _phonetic_of(compact: str) -> str:
    return phonetic(compact)


def query_keys(person: Person, loose: bool = True, variants: bool = True) -> set[int]:
    """The hashed keys to look an incoming person up under: strict keys are the person's own
    index keys plus exact shielded keys; `loose` adds swapped names, neighbouring birth years
    and the loose shielded keys, and with `variants` the other people born on the dates its
    date of birth may really be (the widest and dearest keys: in an index of a million they
    bring dozens of candidates, nearly all of them strangers)."""
    keys = index_keys(person)
    dob = person.dob
    if dob:
        swapped = swap_day_month(dob)
        keys |= _shield_keys(person, (dob, swapped) if swapped else (dob,), (0,))
    if not loose:
        return keys
    family, given = person.family_phonetic, person.given_phonetic
    if dob:
        if variants:
            families = {family} | {_phonetic_of(f) for f in person.other_family}
            families.discard("")
            for date in _dates(dob):
                keys.update(hash(("dob_family", date, name)) for name in families)
                if given:
                    keys.add(hash(("dob_given", date, given)))
        keys |= _shield_keys(person, _dates(dob), (-1, 0, 1))
        # Given and family names entered the wrong way round.
        if given:
            keys.add(hash(("dob_family", dob, given)))
        if family:
            keys.add(hash(("dob_given", dob, family)))
    if person.postcode:
        unit = person.postcode[0]
        if given:
            keys.add(hash(("postcode_family", unit, given)))
        if family:
            keys.add(hash(("postcode_given", unit, family)))
    born = dob.year if dob else person.birth_year
    if born and family and given:
        for year in (born - 1, born, born + 1):
            keys.add(hash(("names_birth_year", family, given, year)))
            keys.add(hash(("names_birth_year", given, family, year)))
    elif family and given:
        # No date of birth at all: the names with every year a child of the index may be born.
        this_year = dt.date.today().year
        keys.update(hash(("names_birth_year", family, given, year))
                    for year in range(this_year - NO_DATE_YEARS, this_year + 1))
    return keys


@dataclass
class BlockingStats:
    queries: int = 0
    candidates: int = 0
    skipped_blocks: int = 0

    @property
    def mean_candidates(self) -> float:
        return self.candidates / self.queries if self.queries else 0.0


class BlockingIndex:
    """People filed under their blocking keys; `candidates` finds who to compare."""

    def __init__(self, people: Iterable[Person] = (), max_block: int = MAX_BLOCK) -> None:
        self.people: list[Person] = []
        self._blocks: dict[int, int | list[int]] = {}
        # Shielded children again, under all their keys: the strict pass looks only here (and at
        # identifiers), so that a record that may be a shielded child is always compared with it.
        self._shielded_blocks: dict[int, int | list[int]] = {}
        self.max_block = max_block
        self.stats = BlockingStats()
        for person in people:
            self.add(person)

    def __len__(self) -> int:
        return len(self.people)

    def __iter__(self) -> Iterator[Person]:
        return iter(self.people)

    def add(self, person: Person) -> int:
        """File a person; returns its position."""
        position = len(self.people)
        self.people.append(person)
        keys = index_keys(person)
        _file(self._blocks, keys, position)
        if person.shielded:
            _file(self._shielded_blocks, keys, position)
        return position

    def candidate_positions(self, person: Person, loose: bool = True, variants: bool = True) -> set[int]:
        found: set[int] = set()
        if loose:
            self._look_up(self._blocks, query_keys(person, variants=variants), found)
        else:
            self._look_up(self._blocks, [hash(("id", scheme, value)) for scheme, value in person.ids], found)
            if self._shielded_blocks:
                self._look_up(self._shielded_blocks, query_keys(person, loose=False), found)
        self.stats.queries += 1
        self.stats.candidates += len(found)
        return found

    def _look_up(self, blocks: dict[int, int | list[int]], keys: Iterable[int], found: set[int]) -> None:
        for key in keys:
            held = blocks.get(key)
            if held is None:
                continue
            if isinstance(held, int):
                found.add(held)
            elif len(held) <= self.max_block:
                found.update(held)
            else:
                self.stats.skipped_blocks += 1

    def candidates(self, person: Person, loose: bool = True, variants: bool = True) -> list[Person]:
        """Known people sharing at least one blocking key with `person`, in filing order.
        Unless `loose`: only the holders of its trusted identifiers and the shielded children
        under its strict keys (`query_keys(person, loose=False)`). Without `variants`: not the
        people found only under its date of birth's variants."""
        people = self.people
        return [people[p] for p in sorted(self.candidate_positions(person, loose, variants))]


def _file(blocks: dict[int, int | list[int]], keys: Iterable[int], position: int) -> None:
    # Most keys hold one person: a bare int until a second arrives saves a list per key.
    for key in keys:
        held = blocks.get(key)
        if held is None:
            blocks[key] = position
        elif isinstance(held, int):
            blocks[key] = [held, position]
        else:
            held.append(position)


def recall(pairs: Sequence[tuple[Person, object]], index: BlockingIndex) -> float:
    """Blocking recall: the share of (incoming person, true match ref) pairs whose true match
    is among the candidates."""
    if not pairs:
        return 1.0
    found = sum(
        any(c.ref == truth for c in index.candidates(person)) for person, truth in pairs
    )
    return found / len(pairs)
