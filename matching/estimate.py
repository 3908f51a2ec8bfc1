"""Estimating the model from data: u from random pairs, m (and the prior) by EM.

u (how often a level occurs between *different* people) comes from random pairs of known
people, who are almost all different. m (how often a level occurs between the *same* person's
records) and the prior are found by expectation-maximisation over the comparison vectors of
blocked candidate pairs, with u held fixed (as Splink does). Comparison levels are discrete, so
EM runs over the distinct vectors with their counts: fast even for millions of pairs.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence

from matching.blocking import BlockingIndex
from matching.comparisons import COMPARISONS, Comparison
from matching.model import MatchModel, Thresholds
from matching.person import Person

# Pseudo-count added to every level so that a level never seen gets a small, finite share.
_SMOOTHING = 0.5


def _shares(counts: list[Counter[int]], comparisons: tuple[Comparison, ...]) -> dict[str, dict[str, float]]:
    """Per comparison, each non-missing level's share among the non-missing observations."""
    shares: dict[str, dict[str, float]] = {}
    for c, counter in zip(comparisons, counts, strict=True):
        levels = range(1, len(c.labels))
        total = sum(counter[level] for level in levels) + _SMOOTHING * len(levels)
        shares[c.name] = {c.labels[level]: (counter[level] + _SMOOTHING) / total for level in levels}
    return shares


def estimate_u(
    people: Sequence[Person], pairs: int = 100_000, seed: int = 0,
    comparisons: tuple[Comparison, ...] = COMPARISONS,
) -> dict[str, dict[str, float]]:
    """u probabilities from `pairs` random pairs of distinct people."""
    if len(people) < 2:
        raise ValueError("estimating u needs at least two people")
    rng = random.Random(seed)
    counts: list[Counter[int]] = [Counter() for _ in comparisons]
    n = len(people)
    for _ in range(pairs):
        i, j = rng.randrange(n), rng.randrange(n - 1)
        j += j >= i
        a, b = people[i], people[j]
        for counter, c in zip(counts, comparisons, strict=True):
            counter[c.level_of(a, b)] += 1
    return _shares(counts, comparisons)


def candidate_vectors(
    index: BlockingIndex, incoming: Iterable[Person], comparisons: tuple[Comparison, ...] = COMPARISONS,
) -> Counter[tuple[int, ...]]:
    """Comparison vectors of every blocked (incoming, candidate) pair, counted."""
    vectors: Counter[tuple[int, ...]] = Counter()
    for person in incoming:
        for candidate in index.candidates(person):
            if candidate.ref != person.ref:
                vectors[tuple(c.level_of(person, candidate) for c in comparisons)] += 1
    return vectors


def _initial_m(comparisons: tuple[Comparison, ...]) -> dict[str, dict[str, float]]:
    # Most of a true match's weight on the first (strictest) level, halving from there.
    m = {}
    for c in comparisons:
        raw = [0.5**k for k in range(len(c.labels) - 1)]
        m[c.name] = {label: r / sum(raw) for label, r in zip(c.labels[1:], raw, strict=True)}
    return m


def expectation_maximisation(
    vectors: Counter[tuple[int, ...]],
    u: dict[str, dict[str, float]],
    m: dict[str, dict[str, float]] | None = None,
    prior: float = 0.5,
    iterations: int = 50,
    comparisons: tuple[Comparison, ...] = COMPARISONS,
    tolerance: float = 1e-6,
) -> tuple[dict[str, dict[str, float]], float]:
    """(m, prior) maximising the likelihood of the counted vectors with u fixed."""
    if not vectors:
        raise ValueError("EM needs at least one candidate pair")
    m = {k: dict(v) for k, v in (m or _initial_m(comparisons)).items()}
    patterns = list(vectors.items())
    for _ in range(iterations):
        counts: list[Counter[int]] = [Counter() for _ in comparisons]
        matched = 0.0
        total = 0
        for vector, count in patterns:
            pm, pu = prior, 1.0 - prior
            for c, level in zip(comparisons, vector, strict=True):
                if level:
                    label = c.labels[level]
                    pm *= m[c.name][label]
                    pu *= u[c.name][label]
            share = pm / (pm + pu) if pm + pu > 0 else 0.0
            weight = share * count
            matched += weight
            total += count
            for counter, level in zip(counts, vector, strict=True):
                counter[level] += weight
        new_prior = min(max(matched / total, 1e-6), 1 - 1e-6)
        new_m = _shares(counts, comparisons)
        change = max(abs(new_m[c][lv] - m[c][lv]) for c in new_m for lv in new_m[c])
        m, prior_change, prior = new_m, abs(new_prior - prior), new_prior
        if change < tolerance and prior_change < tolerance:
            break
    return m, prior


# EM sessions (as in Splink): candidate pairs that agree exactly on a key, with the comparisons
# that read the key left out of that session (the key agrees by construction, so those pairs
# tell nothing about its m). Each comparison's m comes from the sessions that leave it in.
SESSIONS: tuple[tuple[str, frozenset[str]], ...] = (
    ("dob", frozenset({"date_of_birth"})),
    ("postcode_unit", frozenset({"postcode", "address"})),
)


def _key(person: Person, key: str) -> object:
    if key == "postcode_unit":
        return person.postcode[0] if person.postcode else None
    return getattr(person, key) or None


def session_vectors(
    reference: Sequence[Person], incoming: Sequence[Person], key: str, left_out: frozenset[str],
    comparisons: tuple[Comparison, ...] = COMPARISONS, max_block: int = 200,
) -> Counter[tuple[int, ...]]:
    """Vectors of (incoming, known) pairs agreeing on `key`, left-out comparisons as missing."""
    blocks: dict[object, list[Person]] = {}
    for person in reference:
        if (value := _key(person, key)) is not None:
            blocks.setdefault(value, []).append(person)
    keep = [c.name not in left_out for c in comparisons]
    vectors: Counter[tuple[int, ...]] = Counter()
    for person in incoming:
        block = blocks.get(_key(person, key), ())
        if len(block) > max_block:
            continue
        for known in block:
            if known.ref != person.ref:
                vectors[tuple(c.level_of(person, known) if k else 0
                              for c, k in zip(comparisons, keep, strict=True))] += 1
    return vectors


def estimate_m(
    reference: Sequence[Person], incoming: Sequence[Person], u: dict[str, dict[str, float]],
    start: MatchModel, comparisons: tuple[Comparison, ...] = COMPARISONS,
) -> dict[str, dict[str, float]]:
    """m for every comparison, averaged over the EM sessions that estimate it."""
    estimates: dict[str, list[dict[str, float]]] = {c.name: [] for c in comparisons}
    for key, left_out in SESSIONS:
        vectors = session_vectors(reference, incoming, key, left_out, comparisons)
        if not vectors:
            continue
        guess = min(0.9, len(incoming) / sum(vectors.values()))
        m, _prior = expectation_maximisation(vectors, u, start.m, guess, comparisons=comparisons)
        for c in comparisons:
            if c.name not in left_out:
                estimates[c.name].append(m[c.name])
    return {
        name: ({label: sum(e[label] for e in found) / len(found) for label in found[0]}
               if found else dict(start.m[name]))
        for name, found in estimates.items()
    }


def estimate_model(
    reference: Sequence[Person], incoming: Iterable[Person], *, seed: int = 0,
    u_pairs: int = 100_000, thresholds: Thresholds | None = None,
    start: MatchModel | None = None, index: BlockingIndex | None = None,
) -> MatchModel:
    """A model estimated from known people (`reference`) and records to link to them: u from
    random pairs, m by EM sessions, and the prior as the share of true matches among blocked
    candidate pairs (by EM over all candidate pairs with m and u fixed)."""
    start = start or MatchModel.load()
    u = estimate_u(reference, u_pairs, seed)
    incoming = list(incoming)
    m = estimate_m(reference, incoming, u, start)
    vectors = candidate_vectors(index or BlockingIndex(reference), incoming)
    prior = _prior(vectors, m, u, min(0.9, len(incoming) / max(sum(vectors.values()), 1)))
    return MatchModel(m=m, u=u, prior=prior, thresholds=thresholds or start.thresholds)


def _prior(vectors: Counter[tuple[int, ...]], m: dict[str, dict[str, float]],
           u: dict[str, dict[str, float]], prior: float, iterations: int = 30) -> float:
    for _ in range(iterations):
        matched = total = 0.0
        for vector, count in vectors.items():
            pm, pu = prior, 1.0 - prior
            for c, level in zip(COMPARISONS, vector, strict=True):
                if level:
                    pm *= m[c.name][c.labels[level]]
                    pu *= u[c.name][c.labels[level]]
            matched += count * pm / (pm + pu)
            total += count
        prior = min(max(matched / total, 1e-6), 1 - 1e-6) if total else prior
    return prior
