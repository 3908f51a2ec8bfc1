"""The search backend interface: one contract, an embedded and (later) an Elasticsearch backend.

Search returns a few ranked candidates (child id and score), never browsing lists; the store
remains the system of record for what a caller may then see.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, overload, runtime_checkable

from sqlalchemy import Connection, Engine

from index.identifiers import InvalidIdentifier, Scheme, is_serial_child_number, validate
from index.keys import compact_name
from index.records import birth_date_range, normalise_postcode
from index.vocabulary import Gender

MAX_RESULTS = 10
# A name search on one or two letters is browsing, not finding a child.
MIN_FAMILY_NAME_LETTERS = 2


class SearchQueryError(ValueError):
    """A search that is not allowed: too broad, or malformed. The message says which."""


class SearchUnavailable(RuntimeError):
    """The search service cannot answer now (e.g. Elasticsearch is down or answered only in
    part): the caller answers 503 or queues the update and retries, never shows a partial or
    empty result in its place."""


class Evidence(enum.StrEnum):
    """What a candidate may agree with the query on (each backend decides agreement with the
    same scoring functions, `index.embedded.agreement`)."""

    # The family name (most of it: fuzzily, phonetically, a part, a former name); a given name
    # (or a known short form) only beside the child's postcode (index.embedded.agreement).
    NAME = "name"
    DATE_OF_BIRTH = "date_of_birth"  # that date, or a likely mistake for it (swap, one digit, close)
    POSTCODE = "postcode"  # the same postcode unit or sector, at any of the child's addresses
    IDENTIFIER = "identifier"  # a UPN, NHS number, ULN or LA reference the child holds
    CHILD_NUMBER = "child_number"  # the index's own (random) number
    SERIAL_CHILD_NUMBER = "serial_child_number"  # a number from before they were random: guessable
    GENDER = "gender"  # ranks only: never evidence enough, but never matched where it is hidden


# The evidence rule (DESIGN.md: no browsing): a practitioner's result must agree with the query
# on one of these sets; a candidate that does not is withheld, whatever its score. A made-up
# name with a real date of birth agrees on the date alone and finds nobody.
SUFFICIENT_EVIDENCE: tuple[frozenset[Evidence], ...] = (
    frozenset({Evidence.NAME, Evidence.DATE_OF_BIRTH}),
    frozenset({Evidence.NAME, Evidence.POSTCODE}),
    frozenset({Evidence.IDENTIFIER}),
    frozenset({Evidence.CHILD_NUMBER}),
    frozenset({Evidence.NAME, Evidence.SERIAL_CHILD_NUMBER}),
)
# What to add, said when a search found nobody with enough evidence.
ADVICE = ("no child agrees with both a name and the date of birth or postcode given: check the "
          "spelling, add a given name, or search by a postcode or an identifier")

EVERYTHING: frozenset[Evidence] = frozenset(Evidence)


def sufficient(agreed: frozenset[Evidence]) -> bool:
    """Does a candidate's agreement with the query meet the evidence rule?"""
    return any(needed <= agreed for needed in SUFFICIENT_EVIDENCE)


@dataclass(frozen=True)
class Disclosure:
    """What the searcher would be shown of the children a search may return, as the evidence a
    result may be matched on: a search never confirms what the record view hides (a shielded
    child's address or identifiers, an opted-out child's date of birth). `access.view_policy.
    search_disclosure` builds it from the view policy's own table; the default is that table's
    practitioner (shielded children matched on name, date of birth and child number; children
    opted out of sharing with `service_type` on name, postcode and child number)."""

    shielded: frozenset[Evidence] = frozenset({
        Evidence.NAME, Evidence.DATE_OF_BIRTH, Evidence.GENDER, Evidence.CHILD_NUMBER,
        Evidence.SERIAL_CHILD_NUMBER})
    opted_out: frozenset[Evidence] = frozenset({
        Evidence.NAME, Evidence.POSTCODE, Evidence.CHILD_NUMBER, Evidence.SERIAL_CHILD_NUMBER})
    # Children opted out of sharing with this type of service are matched on `opted_out` only.
    service_type: str | None = None
    # This LA's children are matched on everything (the owning LA's data team).
    full_la: str | None = None


@dataclass(frozen=True)
class SearchQuery:
    """Either an exact identifier, or a family name with a date of birth and/or a postcode.

    `given_name` and `gender` only rank; they never widen the search. `owning_la` limits the
    search to one LA's children (LA data teams). `disclosure` says what the searcher may match
    a child on; `for_matching` (ingest's candidate search, whose results no person sees) lifts
    the evidence rule and the disclosure limits.
    """

    identifier: tuple[Scheme, str] | None = None
    family_name: str | None = None
    given_name: str | None = None
    date_of_birth: dt.date | None = None
    postcode: str | None = None
    gender: str | None = None
    owning_la: str | None = None
    disclosure: Disclosure = field(default_factory=Disclosure)
    for_matching: bool = False

    def check(self) -> None:
        """Raise SearchQueryError unless this query is narrow enough to run.

        Messages name the field and the reason, never the value searched for.
        """
        self._check_values()
        if self.identifier is not None:
            scheme, value = self.identifier
            if (Scheme(scheme) is Scheme.CHILD_NUMBER and is_serial_child_number(value)
                    and not self.for_matching and not (self.family_name and self.family_name.strip())):
                # A serial number can be guessed: it finds a child only with the child's name.
                raise SearchQueryError("a child number of ten digits (issued before numbers were "
                                       "random) needs the child's family name too")
            return
        if not (self.family_name and self.family_name.strip()):
            raise SearchQueryError("a search needs an identifier, or a family name")
        if self.date_of_birth is None and not (self.postcode and self.postcode.strip()):
            raise SearchQueryError("a search by name needs a date of birth or a postcode")
        family = compact_name(self.family_name)
        # One character is a whole family name in Chinese and other syllabic scripts.
        if len(family) < (MIN_FAMILY_NAME_LETTERS if family.isascii() else 1):
            raise SearchQueryError(
                f"family_name needs at least {MIN_FAMILY_NAME_LETTERS} letters to search by name"
            )

    def _check_values(self) -> None:
        """Each given field must be well formed: a partial postcode or a mistyped identifier
        would otherwise quietly find nothing (or too much)."""
        if self.identifier is not None:
            try:
                validate(*self.identifier)
            except (InvalidIdentifier, ValueError) as exc:
                raise SearchQueryError(f"identifier: {exc}") from None
        if self.date_of_birth is not None:
            first, last = birth_date_range()
            if not first <= self.date_of_birth <= last:
                raise SearchQueryError(f"date_of_birth must be from {first.isoformat()} to today")
        if self.postcode and self.postcode.strip():
            try:
                normalise_postcode(self.postcode)
            except ValueError:
                raise SearchQueryError("postcode must be a full UK postcode") from None
        if self.gender is not None and self.gender not in {g.value for g in Gender}:
            raise SearchQueryError("gender must be one of " + ", ".join(g.value for g in Gender))
        if self.owning_la is not None and not (len(self.owning_la) == 3 and self.owning_la.isdigit()):
            raise SearchQueryError("owning_la must be a three-digit LA number")


@dataclass(frozen=True)
class SearchHit:
    child_id: int
    score: float  # 0..1, higher is a closer match


@dataclass(frozen=True)
class SearchHits(Sequence[SearchHit]):
    """A search's results, best first, and how many candidates were withheld by the evidence
    rule: ones that agreed with the query on a date of birth, a postcode or an identifier but
    not on enough else (a near miss, or someone trying names against a date)."""

    hits: tuple[SearchHit, ...] = ()
    withheld: int = 0

    @overload
    def __getitem__(self, index: int) -> SearchHit: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[SearchHit]: ...

    def __getitem__(self, index: int | slice) -> SearchHit | Sequence[SearchHit]:
        return self.hits[index]

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self) -> Iterator[SearchHit]:
        return iter(self.hits)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SearchHits):
            return self.hits == other.hits and self.withheld == other.withheld
        if isinstance(other, Sequence):
            return list(self.hits) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @property
    def advice(self) -> str | None:
        """What to add, when nobody is shown: the same words whether or not candidates were
        withheld, so that the advice never tells a searcher a hidden child is there."""
        return None if self.hits else ADVICE


class SearchBackend(Protocol):
    """What every search backend does. Contract tests run the same suite against each."""

    def index_children(self, child_ids: Iterable[int]) -> None:
        """(Re)build the search entries of these children from the store."""
        ...

    def remove_children(self, child_ids: Iterable[int]) -> None:
        ...

    def search(self, query: SearchQuery, limit: int = MAX_RESULTS) -> SearchHits:
        """Ranked candidates, best first, at most `min(limit, MAX_RESULTS)`, each agreeing with
        the query on sufficient evidence that the searcher may be shown (unless `for_matching`)."""
        ...


@runtime_checkable
class InStoreBackend(Protocol):
    """A backend whose entries are rows of the store's own database (the embedded one): it can
    be brought up to date inside the transaction that changes the children."""

    def shares_store(self, bind: Engine | Connection) -> bool: ...

    def index_in(self, conn: Connection, child_ids: Iterable[int]) -> None: ...
