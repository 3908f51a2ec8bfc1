"""People and names: the name tables in ops/data (given names by naming tradition, sex and
generation; family names with each tradition's long tail; streets and places), read once per
process, and the small helpers that turn a name into a title or an e-mail address."""

from __future__ import annotations

import bisect
import csv
import functools
import random
from dataclasses import dataclass
from pathlib import Path

from ops.noise import strip_accents
from ops.synth.draws import weighted

_DATA = Path(__file__).parent.parent / "data"


@dataclass(frozen=True)
class Pool:
    """Values with cumulative weights, for fast weighted choice."""

    values: tuple[str, ...]
    cum_weights: tuple[float, ...]

    def pick(self, rng: random.Random) -> str:
        # bisect on one random number: several times faster than random.choices per call.
        return self.values[bisect.bisect(self.cum_weights, rng.random() * self.cum_weights[-1])]


def _pool(pairs: list[tuple[str, float]]) -> Pool:
    values, total, cums = [], 0.0, []
    for value, weight in pairs:
        total += weight
        values.append(value)
        cums.append(total)
    return Pool(tuple(values), tuple(cums))


def _read_table(name: str) -> list[dict[str, str]]:
    with (_DATA / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


@dataclass(frozen=True)
class NameTables:
    groups: Pool
    british_given_share: dict[str, float]
    child_names: dict[tuple[str, str], Pool]   # (group, sex) -> given names
    adult_names: dict[tuple[str, str], Pool]
    surnames: dict[str, Pool]
    streets: tuple[str, ...]
    places: dict[str, list[dict[str, str]]]


def _name_pools(rows: list[dict[str, str]]) -> dict[tuple[str, str], Pool]:
    grouped: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for row in rows:
        grouped.setdefault((row["group"], row["sex"]), []).append((row["name"], float(row["weight"])))
    return {key: _pool(pairs) for key, pairs in grouped.items()}


def _with_tail(head: list[tuple[str, float]], head_share: float, stems: list[str],
               endings: list[str]) -> list[tuple[str, float]]:
    """The listed names scaled to `head_share` of the weight, and every stem + ending sharing
    the rest equally (names already listed keep their listed weight only)."""
    listed = {name for name, _weight in head}
    tail = sorted({stem + ending for stem in stems for ending in endings} - listed)
    total = sum(weight for _name, weight in head)
    each = total * (1 - head_share) / head_share / len(tail)
    return head + [(name, each) for name in tail]


@functools.cache
def name_tables() -> NameTables:
    groups = _read_table("naming_groups.csv")
    surnames: dict[str, list[tuple[str, float]]] = {}
    for row in _read_table("surnames.csv"):
        surnames.setdefault(row["group"], []).append((row["name"], float(row["weight"])))
    for row in _read_table("surname_tails.csv"):
        surnames[row["group"]] = _with_tail(surnames[row["group"]], float(row["head_share"]),
                                            row["stems"].split(), row["endings"].split())
    places: dict[str, list[dict[str, str]]] = {}
    for row in _read_table("places.csv"):
        places.setdefault(row["la"], []).append(row)
    return NameTables(
        groups=_pool([(g["group"], float(g["weight"])) for g in groups]),
        british_given_share={g["group"]: float(g["british_given_share"]) for g in groups},
        child_names=_name_pools(_read_table("given_names.csv")),
        adult_names=_name_pools(_read_table("adult_given_names.csv")),
        surnames={g: _pool(pairs) for g, pairs in surnames.items()},
        streets=tuple(row["stem"] for row in _read_table("street_names.csv")),
        places=places,
    )



def title(sex: str, rng: random.Random) -> str:
    if sex == "M":
        return "Mr" if rng.random() < 0.97 else "Dr"
    return weighted(rng, ("Mrs", "Ms", "Miss", "Dr"), (50, 80, 97, 100))


@functools.lru_cache(maxsize=4096)
def ascii_slug(text: str) -> str:
    return "".join(c for c in strip_accents(text).lower() if c.isalnum())
