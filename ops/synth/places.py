"""Families' homes: a neighbourhood's streets, postcodes and the addresses on them (with UPRNs
that a move never reuses)."""

from __future__ import annotations

import random

from ops.synth.draws import between, pick
from ops.synth.model import Address

STREET_TYPES = ("Road", "Street", "Lane", "Avenue", "Close", "Drive", "Way", "Gardens",
                "Crescent", "Grove", "Place", "Court", "Mews", "Walk", "Rise", "View")
POSTCODE_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


class Places:
    """Streets and addresses of one neighbourhood.

    One of the parts of `ops.synth.neighbourhood._ChunkBuilder`, split out by subject: the
    builder holds the random streams, name tables and calendar, and decides the order of draws.
    """

    def _streets(self) -> list[tuple[str, list[str], str | None]]:
        rng, count = self.rng, max(4, self.quota // 30)
        district = self.place["district"]
        names: set[str] = set()
        streets = []
        localities = (None, None, None, None, f"{self.place['town']} Park", "Upper End", "Westfield")
        while len(streets) < count:
            name = f"{pick(rng, self.tables.streets)} {pick(rng, STREET_TYPES)}"
            if name in names:
                continue
            names.add(name)
            sector = between(rng, 1, 9)
            codes = [f"{district} {sector}{pick(rng, POSTCODE_UNIT_LETTERS)}"
                     f"{pick(rng, POSTCODE_UNIT_LETTERS)}" for _ in range(between(rng, 1, 3))]
            streets.append((name, codes, pick(rng, localities)))
        return streets

    def _address(self, rng: random.Random, used: set[tuple[str, str, str | None]], *,
                 moved: bool = False) -> Address:
        while True:
            street, codes, locality = pick(rng, self.streets)
            if rng.random() < 0.15:
                saon = f"Flat {between(rng, 1, 24)}"
                paon = f"{pick(rng, self.tables.streets)} {pick(rng, ('Court', 'House', 'Lodge'))}"
            else:
                saon, paon = None, str(between(rng, 1, 180))
            if (street, paon, saon) not in used:
                break
        # New homes after a move are numbered apart, so a move never renumbers anyone else's.
        if moved:
            self.moved_dwellings += 1
            uprn = str(10_000_000_000 + self.index * 100_000 + 90_000 + self.moved_dwellings)
        else:
            used.add((street, paon, saon))
            self.dwellings += 1
            uprn = str(10_000_000_000 + self.index * 100_000 + self.dwellings)
        return Address(saon, paon, street, locality, self.place["town"], self.place["post_town"],
                       pick(rng, codes), uprn)
