"""The search backend interface: one contract, an embedded and (later) an Elasticsearch backend.

Search returns a few ranked candidates (child id and score), never browsing lists; the store
remains the system of record for what a caller may then see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sqlalchemy import Connection, Engine

from index.identifiers import InvalidIdentifier, Scheme, validate
from index.keys import compact_name
from index.records import normalise_postcode
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


@dataclass(frozen=True)
class SearchQuery:
    """Either an exact identifier, or a family name with a date of birth and/or a postcode.

    `given_name` and `gender` only rank; they never widen the search. `owning_la` limits the
    search to one LA's children (LA data teams).
    """

    identifier: tuple[Scheme, str] | None = None
    family_name: str | None = None
    given_name: str | None = None
    date_of_birth: dt.date | None = None
    postcode: str | None = None
    gender: str | None = None
    owning_la: str | None = None

    def check(self) -> None:
        """Raise SearchQueryError unless this query is narrow enough to run.

        Messages name the field and the reason, never the value searched for.
        """
        self._check_values()
        if self.identifier is not None:
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


class SearchBackend(Protocol):
    """What every search backend does. Contract tests run the same suite against each."""

    def index_children(self, child_ids: Iterable[int]) -> None:
        """(Re)build the search entries of these children from the store."""
        ...

    def remove_children(self, child_ids: Iterable[int]) -> None:
        ...

    def search(self, query: SearchQuery, limit: int = MAX_RESULTS) -> Sequence[SearchHit]:
        """Ranked candidates, best first, at most `min(limit, MAX_RESULTS)`."""
        ...


@runtime_checkable
class InStoreBackend(Protocol):
    """A backend whose entries are rows of the store's own database (the embedded one): it can
    be brought up to date inside the transaction that changes the children."""

    def shares_store(self, bind: Engine | Connection) -> bool: ...

    def index_in(self, conn: Connection, child_ids: Iterable[int]) -> None: ...
