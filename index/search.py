"""The search backend interface: one contract, an embedded and (later) an Elasticsearch backend.

Search returns a few ranked candidates (child id and score), never browsing lists; the store
remains the system of record for what a caller may then see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from index.identifiers import Scheme

MAX_RESULTS = 10


class SearchQueryError(ValueError):
    """A search that is not allowed: too broad, or malformed. The message says which."""


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
        """Raise SearchQueryError unless this query is narrow enough to run."""
        if self.identifier is not None:
            return
        if not (self.family_name and self.family_name.strip()):
            raise SearchQueryError("a search needs an identifier, or a family name")
        if self.date_of_birth is None and not (self.postcode and self.postcode.strip()):
            raise SearchQueryError("a search by name needs a date of birth or a postcode")


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
