"""Who an incoming record may be: the store's children, found for `matching.Matcher`.

The matcher asks its index for candidates in two passes (`Matcher.decide`): *strict* first,
and only when that gives no link, *loose*. Against the store:

- strict: the children holding one of the record's trusted identifiers (looked up for a whole
  batch in one query before deciding), plus the children this batch has already created;
- loose: also the children the search backend would find by the record's names, date of
  birth and postcode. With the embedded backend (the default), that is read for the whole
  batch at once from its key table: the children sharing the most of the record's own search
  keys (date of birth or postcode with each name's phonetic codes, prefixes and forms), keys
  shared by very many children (everyone born that day) left out, at most `LOOSE_CAP` each,
  and children sharing one key only when nobody shares two (`LOOSE_STRONG`).
  Any other backend is asked record by record (`SearchBackend.search`).

Children created earlier in the run are committed and indexed before the next batch starts, so
the candidates of a record depend only on the committed store and on the records before it in
its batch: a resumed run sees exactly what an uninterrupted one saw.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from index import ChildRecord, SearchBackend, SearchQuery, SearchQueryError, UndatedRecord
from index import models as m
from index.embedded import EmbeddedSearch, child_keys
from index.store import chunked, driver_rows, inline_integers, param_mark
from index.vocabulary import AddressStatus, ChildStatus, NameKind
from matching import TRUSTED_SCHEMES, BlockingIndex, Person, UnscorableRecord, make_person

# Children matched against: the live and the deceased (archived records are out of reach).
MATCHABLE = (ChildStatus.LIVE, ChildStatus.DECEASED)
_TRUSTED = frozenset(s.value for s in TRUSTED_SCHEMES)
# Loose candidates per record from the embedded key table, the most keys shared first ...
LOOSE_CAP = 12
# ... and a key shared by more children than this says nothing (everyone born that day).
BROAD_KEY = 200
# Children sharing a single key (a birthday and one name part, a postcode) are candidates only
# when nobody shares this many: a true match shares a name part with its date *and* another key,
# unless it has changed almost everything. Measured on 3,000 known pupils stripped of their UPN,
# 40% with a typo in the given name, 30% moved, 10% with day and month swapped, against the
# 1,000,000-child benchmark store (`childindex bench ingest --loose-recall`): the same decisions
# as with every single-key child, and 4.9 instead of 11.8 candidates read and scored a new pupil.
LOOSE_STRONG = 2
# Everyone born that day is hundreds of children in a store of a million (and more than
# `BROAD_KEY`, so never counted, in a national one): not read at all (same measurement).
LOOSE_DATE_ALONE = False



def stored_people(session: Session, child_ids: Iterable[int]) -> dict[int, Person]:
    """The matcher's view of these stored children (current name, current address, trusted
    identifiers), read in a few queries per thousand children."""
    ids = sorted(set(child_ids))
    people: dict[int, Person] = {}
    session.flush()  # the driver's queries below see nothing the ORM still holds back
    conn = session.connection()
    for chunk in chunked(ids):
        # Straight to the driver with the ids inline: building and binding an IN list of 900
        # parameters through SQLAlchemy cost several times the queries themselves.
        inline = inline_integers(chunk)
        children = driver_rows(conn, _CHILDREN.format(ids=inline))
        names: dict[int, list[tuple[str, str | None, str | None, str | None]]] = defaultdict(list)
        for child_id, kind, given, middle, family in driver_rows(conn, _NAMES.format(ids=inline)):
            names[child_id].append((kind, given, middle, family))
        addresses: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for child_id, *address in driver_rows(conn, _ADDRESSES.format(ids=inline)):
            addresses[child_id].append(address)
        identifiers: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for child_id, scheme, value in driver_rows(conn, _IDENTIFIERS.format(ids=inline)):
            identifiers[child_id].append((scheme, value))
        for child_id, dob, gender, shielded in children:
            own = names[child_id]
            current = next((n for n in own if n[0] == _CURRENT_NAME), own[0] if own else None)
            homes = addresses[child_id]
            home = next((a for a in homes if a[0] == _CURRENT_ADDRESS), homes[0] if homes else None)
            try:
                people[child_id] = make_person(
                    child_id,
                    given_name=current[1] if current else None,
                    middle_names=current[2] if current else None,
                    family_name=current[3] if current else None,
                    other_family_names=[n[3] for n in own if n is not current and n[3]],
                    date_of_birth=_date(dob),
                    sex=gender,
                    postcode=home[5] if home else None,
                    address=" ".join(line for line in home[1:5] if line) if home else "",
                    identifiers=identifiers[child_id],
                    shielded=bool(shielded),
                )
            except UnscorableRecord:
                continue  # a stored child with too little to compare is nobody's match
    return people


@functools.lru_cache(maxsize=50_000)
def _iso_date(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


def _date(value: dt.date | str | None) -> dt.date | None:
    """A date as the driver returns it: a date (psycopg) or ISO text (sqlite3)."""
    if value is None or isinstance(value, dt.date):
        return value
    return _iso_date(value)


_CURRENT_NAME = NameKind.CURRENT.value
_CURRENT_ADDRESS = AddressStatus.CURRENT.value
_MATCHABLE = ", ".join(f"'{s.value}'" for s in MATCHABLE)
_CHILDREN = (f"SELECT id, date_of_birth, gender, shielded FROM {m.Child.__tablename__} "
             f"WHERE id IN ({{ids}}) AND status IN ({_MATCHABLE})")
_NAMES = (f"SELECT child_id, kind, given_name, middle_names, family_name FROM {m.ChildName.__tablename__} "
          "WHERE child_id IN ({ids}) ORDER BY id")
_ADDRESSES = (f"SELECT child_id, status, line1, line2, line3, town, postcode "
              f"FROM {m.ChildAddress.__tablename__} WHERE child_id IN ({{ids}}) ORDER BY id")
_IDENTIFIERS = (f"SELECT child_id, scheme, value FROM {m.ChildIdentifier.__tablename__} "
                "WHERE child_id IN ({ids})")
_HOLDERS = (f"SELECT child_id, value FROM {m.ChildIdentifier.__tablename__} "
            "WHERE scheme = {mark} AND value IN ({marks}) ORDER BY child_id")
_KEY_HOLDERS = f"SELECT key, child_id FROM {m.SearchKey.__tablename__} WHERE key IN ({{keys}})"


def identifier_holders(
    session: Session, identifiers: Iterable[tuple[str, str]],
) -> dict[tuple[str, str], list[int]]:
    """(scheme, value) -> ids of the stored children holding it, for each trusted one of these
    (scheme, value) identifiers (one query per thousand values)."""
    wanted = sorted({(scheme, value) for scheme, value in identifiers if scheme in _TRUSTED})
    held: dict[tuple[str, str], list[int]] = defaultdict(list)
    by_scheme: dict[str, list[str]] = defaultdict(list)
    for scheme, value in wanted:
        by_scheme[scheme].append(value)
    session.flush()
    conn = session.connection()
    mark = param_mark(conn)
    for scheme, values in sorted(by_scheme.items()):
        for chunk in chunked(values):
            # Scheme and value together: the (scheme, value) index answers it. Values are bound
            # (they come from a feed), straight to the driver: SQLAlchemy's IN-list expansion
            # cost more than the query.
            sql = _HOLDERS.format(marks=", ".join([mark] * len(chunk)), mark=mark)
            for child_id, value in driver_rows(conn, sql, (scheme, *chunk)):
                held[(scheme, value)].append(child_id)
    return held


class StoreCandidates:
    """The `index` a `Matcher` decides against during one batch of the nightly run.

    `prepare` loads, for the batch, the children holding the records' identifiers; `add`
    (called by the matcher for each new child, and by the run for each child held for review)
    files a child created in this batch so later records of the same child find it.
    """

    def __init__(self, session: Session, backend: SearchBackend) -> None:
        self._session = session
        self._backend = backend
        self._holders: dict[tuple[str, str], list[int]] = {}
        self._people: dict[int, Person] = {}
        self._batch = BlockingIndex()
        self._records: dict[int | str, ChildRecord | UndatedRecord] = {}
        self._loose: dict[int | str, list[int]] = {}
        self.searches = 0

    def prepare(self, records: dict[int | str, ChildRecord | UndatedRecord]) -> None:
        """Start a batch: `records` by the references the matcher will be given."""
        self._records = records
        self._holders = identifier_holders(
            self._session, ((i.scheme.value, i.value) for r in records.values() for i in r.identifiers))
        self._batch = BlockingIndex()
        self._loose = {}
        wanted = {c for ids in self._holders.values() for c in ids}
        if isinstance(self._backend, EmbeddedSearch):
            # Records no stored child shares an identifier with will need the loose pass.
            held = set(self._holders)
            unheld = {ref: r for ref, r in records.items()
                      if not any((i.scheme.value, i.value) in held for i in r.identifiers)}
            self._loose = self._key_candidates(unheld)
            wanted |= {c for ids in self._loose.values() for c in ids}
        self._people = stored_people(self._session, wanted)

    def add(self, person: Person) -> int:
        return self._batch.add(person)

    def candidates(self, person: Person, loose: bool = True) -> list[Person]:
        ids = {c for key in person.ids for c in self._holders.get(key, ())}
        if loose:
            ids |= self._loose_ids(person)
        missing = ids - self._people.keys()
        if missing:
            self._people.update(stored_people(self._session, missing))
        stored = [self._people[c] for c in sorted(ids) if c in self._people]
        return stored + self._batch.candidates(person, loose)

    def _loose_ids(self, person: Person) -> set[int]:
        if person.ref in self._loose:
            return set(self._loose[person.ref])
        record = self._records.get(person.ref)
        if record is None:
            return set()
        if isinstance(self._backend, EmbeddedSearch):
            return set(self._key_candidates({person.ref: record}).get(person.ref, ()))
        return self._search(record)

    def _key_candidates(
        self, records: dict[int | str, ChildRecord | UndatedRecord],
    ) -> dict[int | str, list[int]]:
        """For each record, the stored children sharing the most of its search keys."""
        keys_of = {
            ref: child_keys(
                date_of_birth=r.date_of_birth,
                family_names=[n.family_name for n in r.names], given_names=[n.given_name for n in r.names],
                postcodes=[a.postcode for a in r.addresses], identifier_values=(),
                # Name-only keys are held by every namesake: matching's blocking has its own.
                name_pairs=False, date_alone=LOOSE_DATE_ALONE,
            )
            for ref, r in records.items()
        }
        holders: dict[int, list[int]] = defaultdict(list)
        every = sorted({k for keys in keys_of.values() for k in keys})
        self._session.flush()
        conn = self._session.connection()
        for chunk in chunked(every):
            for key, child_id in driver_rows(conn, _KEY_HOLDERS.format(keys=inline_integers(chunk))):
                holders[key].append(child_id)
        self.searches += len(records)
        found: dict[int | str, list[int]] = {}
        for ref, keys in keys_of.items():
            shared: Counter[int] = Counter()
            for key in keys:
                ids = holders.get(key, ())
                if len(ids) <= BROAD_KEY:
                    shared.update(ids)
            ranked = sorted(shared, key=lambda c: (-shared[c], c))
            strong = [c for c in ranked if shared[c] >= LOOSE_STRONG]
            found[ref] = (strong or ranked)[:LOOSE_CAP]
        return found

    def _search(self, record: ChildRecord | UndatedRecord) -> set[int]:
        name = record.current_name
        if name is None:
            return set()  # kept for its identifiers alone: they are all there is to go on
        address = next((a for a in record.addresses
                        if a.status is AddressStatus.CURRENT and a.postcode), None)
        query = SearchQuery(
            family_name=name.family_name, given_name=name.given_name,
            date_of_birth=record.date_of_birth, postcode=address.postcode if address else None,
            gender=record.gender.value,
            # Matching sees every candidate on everything (a shielded child too: a new record
            # that may be that child must never become an unshielded duplicate); no one is shown these.
            for_matching=True,
        )
        try:
            query.check()
        except SearchQueryError:
            return set()  # e.g. no family name: the identifiers were all there was to go on
        self.searches += 1
        return {hit.child_id for hit in self._backend.search(query)}
