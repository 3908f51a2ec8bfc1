"""Precision, recall and F1 of a linkage against the truth, shared by the matching and the
list benchmarks."""

from __future__ import annotations


class LinkAccuracy:
    """Mixed into a benchmark's figures, which hold `correct_links` (links to the true record),
    `links` (all links made) and `linkable` (records whose true record was there to find)."""

    correct_links: int
    links: int
    linkable: int

    @property
    def precision(self) -> float:
        return self.correct_links / self.links if self.links else 1.0

    @property
    def recall(self) -> float:
        return self.correct_links / self.linkable if self.linkable else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0
