"""Fast draws from a seeded random stream (a third of the cost of random.choice, randint and
choices, which matters at a million children). Every part of the generator draws through these,
so the same seed gives the same area."""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def pick(rng: random.Random, seq: Sequence[T]) -> T:
    return seq[int(rng.random() * len(seq))]


def below(rng: random.Random, n: int) -> int:
    return int(rng.random() * n)


def between(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


def weighted(rng: random.Random, values: Sequence[T], cum_weights: Sequence[float]) -> T:
    return values[bisect.bisect(cum_weights, rng.random() * cum_weights[-1])]
