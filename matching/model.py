"""The Fellegi-Sunter model: m and u probabilities per comparison level, the prior, thresholds,
term frequencies, and the one scoring loop that also yields the explanation.

A level's weight is log2(m/u): how many bits of evidence that level gives for "same person".
For levels marked `tf`, the weight is adjusted by how common the actual value is (Splink's
term-frequency adjustment): an exact match on a rare family name is stronger evidence than an
exact match on the commonest one. A pair's total is the prior's log-odds plus every field's
weight; its probability is 2^total / (1 + 2^total).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

from matching.comparisons import COMPARISONS, Comparison, compile_vector
from matching.person import Person

DEFAULT_MODEL = Path(__file__).with_name("data") / "default_model.json"

# Probabilities are kept away from 0 and 1 so that no single level can give infinite weight.
# m has a higher floor: no level is impossible for a true match (real data has errors that
# training data may not), so no single disagreement may veto a link on its own.
_FLOOR = 1e-6
_M_FLOOR = 5e-3


@dataclass(frozen=True)
class Thresholds:
    """Where the three outcomes meet, and the rules around them. Probabilities are 0..1."""

    link: float = 0.99  # at or above: link to the existing child
    review: float = 0.50  # at or above (and below link): an LA data team member decides
    # A shielded child at or above this probability sends the record to review (never new).
    shield_review: float = 0.01
    # Two candidates both above `review` whose weights are closer than this (bits): review.
    margin: float = 5.0
    # The same trusted identifier on two records whose other fields score below this many
    # bits is an identifier conflict (review), not a deterministic link.
    conflict: float = 0.0
    # Largest term-frequency adjustment either way, in bits.
    tf_cap: float = 6.0

    def __post_init__(self) -> None:
        if not 0 < self.shield_review <= self.review <= self.link < 1:
            raise ValueError("thresholds must satisfy 0 < shield_review <= review <= link < 1")


class FieldWeight(NamedTuple):
    """One bar of the waterfall: a comparison, the level the pair reached, its weight in bits
    (term-frequency adjustment included) and that adjustment on its own."""

    comparison: str
    level: str
    weight: float
    tf_adjustment: float = 0.0


@dataclass(frozen=True)
class Explanation:
    prior_weight: float
    fields: tuple[FieldWeight, ...]
    total: float
    probability: float

    def as_dict(self) -> dict[str, object]:
        """For storage: weights rounded to 4 decimal places, probability to 6."""
        return {
            "prior_weight": round(self.prior_weight, 4),
            "fields": [{"comparison": f.comparison, "level": f.level, "weight": round(f.weight, 4),
                        "tf_adjustment": round(f.tf_adjustment, 4)} for f in self.fields],
            "total": round(self.total, 4),
            "probability": round(self.probability, 6),
        }

    def waterfall(self) -> str:
        """A plain-text waterfall, one line per field, for review screens and the CLI."""
        lines = [f"{'prior':<16}{'':<22}{self.prior_weight:+7.2f}"]
        running = self.prior_weight
        for f in self.fields:
            running += f.weight
            tf = f"  (tf {f.tf_adjustment:+.2f})" if f.tf_adjustment else ""
            lines.append(f"{f.comparison:<16}{f.level:<22}{f.weight:+7.2f}  = {running:+7.2f}{tf}")
        lines.append(f"{'total':<38}{self.total:+7.2f}  p = {self.probability:.4f}")
        return "\n".join(lines)


def probability(weight: float) -> float:
    if weight > 60:
        return 1.0
    if weight < -60:
        return 0.0
    odds = 2.0**weight
    return odds / (1.0 + odds)


def weight_of(p: float) -> float:
    """The total weight (bits) at which a pair reaches probability `p`."""
    return math.log2(p / (1.0 - p))


MIN_TF_POPULATION = 1000


class TermFrequencies:
    """How often each value of a term-frequency field occurs in the reference data."""

    def __init__(self, counts: Mapping[str, Counter[str]] | None = None) -> None:
        self.counts: dict[str, Counter[str]] = {k: Counter(v) for k, v in (counts or {}).items()}
        self.totals = {k: sum(v.values()) for k, v in self.counts.items()}
        # Adjustments already worked out, per model: (comparison, level, value) -> bits.
        self.adjustments: dict[int, dict[tuple[int, int, str], float]] = {}

    @classmethod
    def from_people(
        cls, people: Iterable[Person], comparisons: tuple[Comparison, ...] = COMPARISONS
    ) -> TermFrequencies:
        fields = [c.tf_field for c in comparisons if c.tf_field]
        counts: dict[str, Counter[str]] = {f: Counter() for f in fields}
        for person in people:
            for f in fields:
                if value := getattr(person, f):
                    counts[f][value] += 1
        return cls(counts)

    def add(self, person: Person) -> None:
        self.adjustments.clear()
        for f, counter in self.counts.items():
            if value := getattr(person, f):
                counter[value] += 1
                self.totals[f] += 1

    def frequency(self, tf_field: str, value: str) -> float | None:
        """The value's share of the reference, or None when the reference is too small to
        say how common a value is (every name in a list of ten looks common)."""
        total = self.totals.get(tf_field)
        if not total or total < MIN_TF_POPULATION:
            return None
        # A value not seen in the reference is as rare as the reference can show.
        return max(self.counts[tf_field].get(value, 0), 1) / total


@dataclass
class MatchModel:
    """m and u per level (by label), the prior match probability of a candidate pair, and
    thresholds. Missing levels carry no parameters: their weight is always 0."""

    m: dict[str, dict[str, float]]
    u: dict[str, dict[str, float]]
    prior: float = 0.5
    thresholds: Thresholds = field(default_factory=Thresholds)
    comparisons: tuple[Comparison, ...] = COMPARISONS

    def __post_init__(self) -> None:
        self._weights: list[list[float]] = []
        self._u: list[list[float]] = []
        self._tf: list[list[bool]] = []
        for c in self.comparisons:
            labels = c.labels
            missing = [label for label in labels[1:] if label not in self.m.get(c.name, {})
                       or label not in self.u.get(c.name, {})]
            if missing:
                raise ValueError(f"model has no m/u for {c.name} levels {', '.join(missing)}")
            m = [max(self.m[c.name][label], _M_FLOOR) for label in labels[1:]]
            u = [max(self.u[c.name][label], _FLOOR) for label in labels[1:]]
            self._weights.append([0.0] + [math.log2(mi / ui) for mi, ui in zip(m, u, strict=True)])
            self._u.append([1.0, *u])
            self._tf.append([False, *(level.tf for level in c.levels), False])
        # Every level's bar without term frequencies, built once: explanations are made for
        # every decision.
        self._vector = compile_vector(self.comparisons)
        self._bars = [[FieldWeight(c.name, label, w) for label, w in zip(c.labels, ws, strict=True)]
                      for c, ws in zip(self.comparisons, self._weights, strict=True)]
        self.prior_weight = weight_of(min(max(self.prior, _FLOOR), 1 - _FLOOR))

    # -- scoring: one loop, used for both the fast total and the explanation ----------------

    def vector(self, a: Person, b: Person) -> tuple[int, ...]:
        """The level each comparison reaches for this pair (indexes into its labels)."""
        return self._vector(a, b)

    def _tf_adjustment(self, i: int, level: int, a: Person, tf: TermFrequencies) -> float:
        tf_field = self.comparisons[i].tf_field
        assert tf_field is not None
        value = getattr(a, tf_field)
        key = (i, level, value)
        cache = tf.adjustments.get(id(self))
        if cache is None:
            cache = tf.adjustments[id(self)] = {}
        elif (cached := cache.get(key)) is not None:
            return cached
        freq = tf.frequency(tf_field, value)
        cap = self.thresholds.tf_cap
        adjustment = 0.0 if freq is None else max(-cap, min(cap, math.log2(self._u[i][level] / freq)))
        cache[key] = adjustment
        return adjustment

    def total_of(self, vector: tuple[int, ...], a: Person, tf: TermFrequencies | None = None,
                 skip: frozenset[str] = frozenset()) -> float:
        """The total weight in bits (prior included) of a pair with this vector; `a` supplies
        the values for term frequencies; `skip` leaves comparisons out."""
        total = self.prior_weight
        weights, tf_levels = self._weights, self._tf
        for i, level in enumerate(vector):
            if skip and self.comparisons[i].name in skip:
                continue
            total += weights[i][level]
            if tf is not None and tf_levels[i][level]:
                total += self._tf_adjustment(i, level, a, tf)
        return total

    def total(self, a: Person, b: Person, tf: TermFrequencies | None = None,
              skip: frozenset[str] = frozenset()) -> float:
        """The pair's total weight in bits (prior included)."""
        return self.total_of(self.vector(a, b), a, tf, skip)

    def explanation_of(
        self, vector: tuple[int, ...], a: Person, tf: TermFrequencies | None = None
    ) -> Explanation:
        fields = []
        total = self.prior_weight
        bars, tf_levels = self._bars, self._tf
        for i, level in enumerate(vector):
            bar = bars[i][level]
            if tf is not None and tf_levels[i][level]:
                adjustment = self._tf_adjustment(i, level, a, tf)
                bar = FieldWeight(bar.comparison, bar.level, bar.weight + adjustment, adjustment)
            total += bar.weight
            fields.append(bar)
        return Explanation(self.prior_weight, tuple(fields), total, probability(total))

    def explain(self, a: Person, b: Person, tf: TermFrequencies | None = None) -> Explanation:
        """The waterfall of a pair: every comparison's level and weight, and the total."""
        return self.explanation_of(self.vector(a, b), a, tf)

    def level_weights(self) -> dict[str, dict[str, float]]:
        """Every level's weight in bits (before term-frequency adjustment), for reports."""
        return {c.name: dict(zip(c.labels, (round(w, 3) for w in ws), strict=True))
                for c, ws in zip(self.comparisons, self._weights, strict=True)}

    # -- storage ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, object]:
        return {"prior": self.prior, "thresholds": asdict(self.thresholds), "m": self.m, "u": self.u}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, object], thresholds: Thresholds | None = None) -> MatchModel:
        stored = data.get("thresholds") or {}
        assert isinstance(stored, dict)
        return cls(
            m={k: dict(v) for k, v in dict(data["m"]).items()},  # type: ignore[call-overload]
            u={k: dict(v) for k, v in dict(data["u"]).items()},  # type: ignore[call-overload]
            prior=float(data.get("prior", 0.5)),  # type: ignore[arg-type]
            thresholds=thresholds or Thresholds(**stored),
        )

    @classmethod
    def load(cls, path: Path = DEFAULT_MODEL, thresholds: Thresholds | None = None) -> MatchModel:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")), thresholds)

    def with_thresholds(self, thresholds: Thresholds) -> MatchModel:
        return MatchModel(self.m, self.u, self.prior, thresholds, self.comparisons)
