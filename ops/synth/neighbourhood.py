"""One neighbourhood chunk: families, their homes, their own schools and GP practices, built
from (seed, LA, chunk index) alone, so the area is the same whatever its size or the number of
processes writing it. Separate random streams drive the truth, the life events and what
follows them, so changing a rate never changes who the children are."""

from __future__ import annotations

import random
from collections.abc import Iterator

from ops.noise import NoiseRates
from ops.synth.children import Children
from ops.synth.families import Families
from ops.synth.model import (
    Calendar,
    Child,
    Chunk,
)
from ops.synth.names import name_tables
from ops.synth.organisations import (
    PRIMARIES_PER_CHUNK,
    PRIMARY_ESTABS,
    SECONDARIES_PER_CHUNK,
    SECONDARY_ESTABS,
    Organisations,
)
from ops.synth.places import Places

# Bumped whenever the same seed gives other people (names, dates, places): benchmark stores
# built from an earlier version are then rebuilt rather than searched with another truth.
GENERATION_VERSION = 2  # 2: family names have each tradition's long tail (surname_tails.csv)
CHUNK_CHILDREN = 5000
DEFAULT_ACADEMIC_YEAR = 2025

MAX_CHUNKS = min(
    len(PRIMARY_ESTABS) // PRIMARIES_PER_CHUNK, len(SECONDARY_ESTABS) // SECONDARIES_PER_CHUNK
)
MAX_CHILDREN = CHUNK_CHILDREN * MAX_CHUNKS
MAX_CHUNK_CHILDREN = 20_000  # keeps each chunk's UPRNs inside its own range


class _ChunkBuilder(Places, Organisations, Families, Children):
    """Builds one neighbourhood: its streets, schools, practices, families and children."""

    def __init__(self, la: str, seed: int, index: int, quota: int, calendar: Calendar,
                 rates: NoiseRates, chunk_children: int) -> None:
        self.la, self.seed, self.index, self.quota = la, seed, index, quota
        self.chunk_children = chunk_children
        self.calendar, self.rates = calendar, rates
        self.tables = name_tables()
        self.rng = random.Random(f"childindex-synth/{seed}/{la}/{index}/truth")
        # Event decisions draw a fixed number of numbers per family and child, so the rates
        # decide outcomes without shifting the truth; what follows an event has its own stream.
        self.events = random.Random(f"childindex-synth/{seed}/{la}/{index}/events")
        self.changes = random.Random(f"childindex-synth/{seed}/{la}/{index}/changes")
        places = self.tables.places.get(la) or self.tables.places["*"]
        self.place = places[index % len(places)]
        self.la_name = places[0]["la_name"] if la in self.tables.places else f"Local Authority {la}"
        self.dwellings = self.moved_dwellings = 0
        self.upn_serials: dict[tuple[str, int, int], int] = {}

    # -- the chunk -------------------------------------------------------------------------
    def build(self) -> Chunk:
        self.used: set[tuple[str, str, str | None]] = set()
        self.streets = self._streets()
        self._organisations()
        children: list[Child] = []
        first_id = self.index * self.chunk_children + 1
        while len(children) < self.quota:
            children.extend(self._family(first_id + len(children), self.quota - len(children)))
        return Chunk(self.index, children, [*self.primaries, *self.secondaries], self.practices,
                     self.calendar, self.la, self.la_name)



def chunk_quotas(children: int, size: int) -> Iterator[tuple[int, int]]:
    if children < 0:
        raise ValueError("children must not be negative")
    if not 1 <= size <= MAX_CHUNK_CHILDREN:
        raise ValueError(f"chunk_children must be between 1 and {MAX_CHUNK_CHILDREN}")
    count = (children + size - 1) // size
    if count > MAX_CHUNKS:
        raise ValueError(f"one area holds at most {MAX_CHUNKS * size} children with chunks of "
                         f"{size} (school numbers run out)")
    for index in range(count):
        yield index, min(size, children - index * size)


def check_la(la: str) -> str:
    if not (len(la) == 3 and la.isdigit()):
        raise ValueError("la must be a three-digit LA number")
    return la


def build_chunk(index: int, quota: int, la: str, seed: int, *, year: int = DEFAULT_ACADEMIC_YEAR,
                noise: NoiseRates | None = None, chunk_children: int = CHUNK_CHILDREN) -> Chunk:
    """One neighbourhood, the same whatever the size of the area it belongs to."""
    return _ChunkBuilder(check_la(la), seed, index, quota, Calendar(year),
                         noise or NoiseRates(), chunk_children).build()
