"""Linking two lists and de-duplicating one: the library behind `childindex link` and `dedupe`.

Both block with `BlockingIndex`, score every candidate pair once with `classify_pair`, and keep
pairs that reach review. Linking is one-to-one: pairs are taken best first and each record is
used at most once. De-duplication joins records connected by *link* pairs into clusters
(review pairs are reported but never join clusters on their own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matching.blocking import BlockingIndex
from matching.decide import Outcome, Rule, classify_pair
from matching.model import MatchModel, TermFrequencies
from matching.person import Person


@dataclass(frozen=True)
class ScoredPair:
    left: int | str
    right: int | str
    probability: float
    weight: float
    outcome: Outcome  # LINK or REVIEW
    rule: Rule


def _scored(model: MatchModel, a: Person, b: Person, tf: TermFrequencies | None) -> ScoredPair | None:
    outcome, rule, explanation = classify_pair(model, a, b, tf)
    if outcome is Outcome.NEW:
        return None
    return ScoredPair(a.ref, b.ref, explanation.probability, explanation.total, outcome, rule)


def link_lists(
    left: Sequence[Person], right: Sequence[Person], model: MatchModel,
    tf: TermFrequencies | None = None,
) -> list[ScoredPair]:
    """One-to-one pairs between `left` and `right` that reach review, best first."""
    index = BlockingIndex(right)
    tf = tf if tf is not None else TermFrequencies.from_people(right)
    pairs = [
        pair for a in left for b in index.candidates(a)
        if (pair := _scored(model, a, b, tf)) is not None
    ]
    # Links before reviews, then strongest first; ties broken by the order of the lists.
    pairs.sort(key=lambda p: (p.outcome is not Outcome.LINK, -p.weight))
    used_left: set[int | str] = set()
    used_right: set[int | str] = set()
    chosen = []
    for pair in pairs:
        if pair.left in used_left or pair.right in used_right:
            continue
        used_left.add(pair.left)
        used_right.add(pair.right)
        chosen.append(pair)
    return chosen


def dedupe_pairs(
    people: Sequence[Person], model: MatchModel, tf: TermFrequencies | None = None
) -> list[ScoredPair]:
    """Every within-list pair that reaches review (each pair once)."""
    index = BlockingIndex()
    tf = tf if tf is not None else TermFrequencies.from_people(people)
    pairs = []
    for person in people:
        for position in sorted(index.candidate_positions(person)):
            if (pair := _scored(model, index.people[position], person, tf)) is not None:
                pairs.append(pair)
        index.add(person)
    return pairs


def clusters(people: Sequence[Person], pairs: Sequence[ScoredPair]) -> dict[int | str, int]:
    """Cluster number (1, 2, ... in order of first appearance) of every person, joining
    people connected by LINK pairs."""
    parent: dict[int | str, int | str] = {p.ref: p.ref for p in people}

    def root(ref: int | str) -> int | str:
        while parent[ref] != ref:
            parent[ref] = parent[parent[ref]]
            ref = parent[ref]
        return ref

    for pair in pairs:
        if pair.outcome is Outcome.LINK:
            a, b = root(pair.left), root(pair.right)
            if a != b:
                parent[b] = a
    numbers: dict[int | str, int] = {}
    result = {}
    for person in people:
        result[person.ref] = numbers.setdefault(root(person.ref), len(numbers) + 1)
    return result
