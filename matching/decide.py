"""Deciding: link to a known child, send to review, or create a new child, with the reason.

In order:
1. People's own decisions come first: a pair an LA data team member called *different* is
   never linked again, one they called *same* is linked (re-scoring never undoes them).
2. Trusted identifiers (UPN, NHS number, ULN) link deterministically, unless the identifier is
   on several children or the rest of the record clearly describes someone else: then it is an
   identifier conflict for review, never a silent merge.
3. Otherwise the Fellegi-Sunter total decides against the thresholds; two close candidates
   above the review threshold are ambiguous and go to review.
4. Shielding: if any shielded child is a possible match (probability at or above
   `shield_review`) and the decision is not a link to that very child, the record goes to
   review and is treated as shielded until an LA decision: never a visible duplicate.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

from index import ChildRecord, UndatedRecord
from matching.blocking import BlockingIndex
from matching.model import Explanation, MatchModel, TermFrequencies, Thresholds, probability, weight_of
from matching.person import Person, UnscorableRecord, person_from_record


class Outcome(enum.StrEnum):
    LINK = "link"
    REVIEW = "review"
    NEW = "new"


class Verdict(enum.StrEnum):
    """What a person decided about a pair."""

    SAME = "same"
    DIFFERENT = "different"


class Rule(enum.StrEnum):
    """Why a decision came out as it did; stored with every decision."""

    HUMAN_SAME = "human:same"
    IDENTIFIER = "identifier"
    IDENTIFIER_CONFLICT_SHARED = "identifier_conflict:several_children"
    IDENTIFIER_CONFLICT_DEMOGRAPHICS = "identifier_conflict:different_person"
    PROBABILISTIC_LINK = "probabilistic:link"
    PROBABILISTIC_REVIEW = "probabilistic:possible_match"
    AMBIGUOUS = "probabilistic:ambiguous"
    CONTRADICTION = "probabilistic:contradiction"
    PROBABILISTIC_NEW = "probabilistic:no_match"
    DIFFERENT_CHILDREN = "probabilistic:different_children"
    NO_CANDIDATES = "blocking:no_candidates"
    SHIELDED = "shielded:possible_match"


@dataclass(frozen=True)
class Candidate:
    ref: int | str
    weight: float
    probability: float
    shielded: bool = False


@dataclass(frozen=True)
class Decision:
    """The outcome for one incoming person, with everything needed to explain it later."""

    outcome: Outcome
    rule: Rule
    ref: int | str | None  # the linked child (LINK) or the best candidate (REVIEW)
    weight: float | None  # total weight of `ref` in bits
    probability: float | None
    thresholds: Thresholds
    explanation: Explanation | None
    # Other candidates considered, best first (at most `MAX_ALTERNATIVES`).
    candidates: tuple[Candidate, ...] = ()
    # True when the record must be handled as shielded until an LA data team decision.
    shielded: bool = False
    # The identifier scheme behind a deterministic link or an identifier conflict.
    scheme: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "outcome": self.outcome.value, "rule": self.rule.value, "ref": self.ref,
            "weight": self.weight, "probability": self.probability,
            "thresholds": {"link": self.thresholds.link, "review": self.thresholds.review,
                           "shield_review": self.thresholds.shield_review,
                           "margin": self.thresholds.margin, "conflict": self.thresholds.conflict},
            "explanation": self.explanation.as_dict() if self.explanation else None,
            "candidates": [{"ref": c.ref, "weight": round(c.weight, 4), "shielded": c.shielded}
                           for c in self.candidates],
            "shielded": self.shielded, "scheme": self.scheme,
        }


MAX_ALTERNATIVES = 5

# Levels that, on their own, mark two records sharing a trusted identifier as probably different
# children (twins given each other's number, a mistyped number): such a pair goes to review.
CONFLICT_LEVELS: frozenset[tuple[str, str]] = frozenset({
    ("given_name", "else"),
    ("date_of_birth", "else"),
    ("sex", "else"),
})

# Levels that stop a *probabilistic* link: the pair goes to review instead. A wholly different
# given name with everything else alike is most often a twin or sibling, whom weights summed
# as if independent would otherwise link.
NO_AUTO_LINK: frozenset[tuple[str, str]] = frozenset({
    ("given_name", "else"),
    # A date of birth other than a keying error's (swapped, one digit) or a different trusted
    # identifier of the same scheme: a sibling or a namesake far more often than the same child.
    ("date_of_birth", "else"),
    ("date_of_birth", "within_31_days"),
    ("identifiers", "differ"),
})

# Strong disagreements of which any `DIFFERENT_CHILDREN_AT` together mean different children,
# however much else agrees (siblings share a family name and a home, namesakes a name): such a
# candidate is not a possible match for review. Shielding still sees it (its raw weight).
DIFFERENT_CHILDREN: frozenset[tuple[str, str]] = frozenset({
    ("given_name", "else"),
    ("date_of_birth", "else"),
    ("identifiers", "differ"),
})
DIFFERENT_CHILDREN_AT = 2

# (incoming person, candidate) -> what a person decided about that pair, if anything.
VerdictLookup = Callable[[Person, Person], Verdict | None]


def _no_verdicts(_a: Person, _b: Person) -> None:
    return None


Scored = tuple[float, tuple[int, ...], Person]  # total weight, comparison vector, candidate


@dataclass
class Matcher:
    """Decides for incoming people against a `BlockingIndex` of known children."""

    index: BlockingIndex
    model: MatchModel
    tf: TermFrequencies | None = None
    verdicts: VerdictLookup = _no_verdicts
    _identifier_skip: frozenset[str] = field(default=frozenset({"identifiers"}), repr=False)

    @property
    def thresholds(self) -> Thresholds:
        return self.model.thresholds

    def decide(self, person: Person) -> Decision:
        """Decide with the strict candidates first (the holders of the person's trusted
        identifiers, and shielded children); only when that does not give an identifier link
        (or a person's *same* verdict), again with every candidate (typo'd dates, swapped
        names, loose shielded keys). Most records carry an identifier and are settled by the
        first, cheap pass; a probabilistic link is never made among the strict candidates."""
        memo: dict[int, tuple[float, tuple[int, ...]]] = {}  # a candidate is scored once
        if person.ids:
            decision = self.decide_among(person, self.index.candidates(person, loose=False), memo=memo)
            if decision.outcome is Outcome.LINK and decision.rule in _SETTLED_BY_STRICT:
                return decision
        if isinstance(self.index, BlockingIndex):
            # Without the date of birth variants first: a link found there stands, since a
            # stranger born on a neighbouring date with a different name elsewhere cannot come
            # close to it. Records that end in review or new are decided among every candidate.
            decision = self.decide_among(person, self.index.candidates(person, variants=False), memo=memo)
            if decision.outcome is Outcome.LINK:
                return decision
        return self.decide_among(person, self.index.candidates(person), memo=memo)

    def add(self, person: Person) -> None:
        """Make a newly created child known to later decisions (blocking and frequencies)."""
        self.index.add(person)
        if self.tf is not None:
            self.tf.add(person)

    def decide_records(
        self, records: Iterable[tuple[int | str, ChildRecord | UndatedRecord]], *, add_new: bool = False,
    ) -> Iterator[tuple[int | str, Decision | UnscorableRecord]]:
        """Decide a batch: one result per record, in order. A record that cannot be scored
        yields its `UnscorableRecord` (the reason, no values) and the batch goes on. With
        `add_new`, a NEW person joins the index so that later records of the same child
        link to it."""
        for ref, record in records:
            try:
                person = person_from_record(ref, record)
            except UnscorableRecord as exc:
                yield ref, exc
                continue
            except Exception as exc:  # one malformed record must not stop the batch
                # A record that slipped past validation (built without it, or malformed in a
                # way no check foresaw): reported like any unscorable one, by kind, no values.
                # Only normalising is guarded: a failure while deciding is a bug and is raised.
                yield ref, UnscorableRecord(f"record could not be normalised ({type(exc).__name__})")
                continue
            decision = self.decide(person)
            if add_new and decision.outcome is Outcome.NEW:
                self.add(person)
            yield ref, decision

    def decide_among(
        self, person: Person, candidates: Iterable[Person],
        memo: dict[int, tuple[float, tuple[int, ...]]] | None = None,
    ) -> Decision:
        """The decision for `person` given its candidates (from blocking or a search backend).
        `memo` keeps candidates' scores between calls for the same person (by object id)."""
        memo = {} if memo is None else memo
        pool: list[Person] = []
        for candidate in candidates:
            verdict = self.verdicts(person, candidate)
            if verdict is Verdict.SAME:
                return self._decision(Outcome.LINK, Rule.HUMAN_SAME, person,
                                      (0.0, self.model.vector(person, candidate), candidate), [])
            if verdict is not Verdict.DIFFERENT:
                pool.append(candidate)
        # A trusted identifier held by exactly one candidate: only that candidate (and any
        # shielded one) needs scoring, unless the pair turns out to be a conflict.
        holders = [c for c in pool if not person.ids.isdisjoint(c.ids)] if person.ids else []
        pool_to_score = pool
        if len(holders) == 1:
            pool_to_score = [c for c in pool if c is holders[0] or c.shielded]
        scored = self._scored(person, pool_to_score, memo)
        decision = self._identifier_decision(person, scored)
        if decision is None or decision.outcome is not Outcome.LINK:
            if pool_to_score is not pool:
                scored = self._scored(person, pool, memo)
            decision = decision or self._score_decision(person, scored)
        return self._shield(person, decision, scored)

    def _scored(self, person: Person, pool: list[Person],
                memo: dict[int, tuple[float, tuple[int, ...]]]) -> list[Scored]:
        model, tf = self.model, self.tf
        scored: list[Scored] = []
        for c in pool:
            known = memo.get(id(c))
            if known is None:
                vector = model.vector(person, c)
                known = memo[id(c)] = (model.total_of(vector, person, tf), vector)
            scored.append((known[0], known[1], c))
        scored.sort(key=lambda s: -s[0])
        return scored

    def _levels(self, vector: tuple[int, ...]) -> set[tuple[str, str]]:
        return {(c.name, c.labels[level]) for c, level in zip(self.model.comparisons, vector, strict=True)}

    def _identifier_decision(self, person: Person, scored: list[Scored]) -> Decision | None:
        if not person.ids:
            return None
        holders = [s for s in scored if not person.ids.isdisjoint(s[2].ids)]
        if not holders:
            return None
        scheme = next(sc for sc, v in sorted(person.ids) if any((sc, v) in h[2].ids for h in holders))
        if len({h[2].ref for h in holders}) > 1:
            return self._decision(Outcome.REVIEW, Rule.IDENTIFIER_CONFLICT_SHARED, person, holders[0],
                                  scored, scheme=scheme)
        holder = holders[0]
        others = self.model.total_of(holder[1], person, self.tf, skip=self._identifier_skip)
        contradicted = self._levels(holder[1]) & CONFLICT_LEVELS
        if others - self.model.prior_weight < self.thresholds.conflict or contradicted:
            return self._decision(Outcome.REVIEW, Rule.IDENTIFIER_CONFLICT_DEMOGRAPHICS, person, holder,
                                  scored, scheme=scheme)
        return self._decision(Outcome.LINK, Rule.IDENTIFIER, person, holder, scored, scheme=scheme)

    def _score_decision(self, person: Person, scored: list[Scored]) -> Decision:
        if not scored:
            return self._decision(Outcome.NEW, Rule.NO_CANDIDATES, person, None, scored)
        t = self.thresholds
        review = weight_of(t.review)
        if scored[0][0] < review:
            return self._decision(Outcome.NEW, Rule.PROBABILISTIC_NEW, person, scored[0], scored)
        possible = [s for s in scored if s[0] >= review
                    and len(self._levels(s[1]) & DIFFERENT_CHILDREN) < DIFFERENT_CHILDREN_AT]
        if not possible:
            return self._decision(Outcome.NEW, Rule.DIFFERENT_CHILDREN, person, scored[0], scored)
        best = possible[0]
        if len(possible) > 1:
            runner_up = possible[1][0]
            if runner_up >= weight_of(t.review) and best[0] - runner_up < t.margin:
                return self._decision(Outcome.REVIEW, Rule.AMBIGUOUS, person, best, scored)
        if best[0] >= weight_of(t.link):
            if self._levels(best[1]) & NO_AUTO_LINK:
                return self._decision(Outcome.REVIEW, Rule.CONTRADICTION, person, best, scored)
            return self._decision(Outcome.LINK, Rule.PROBABILISTIC_LINK, person, best, scored)
        return self._decision(Outcome.REVIEW, Rule.PROBABILISTIC_REVIEW, person, best, scored)

    def _shield(self, person: Person, decision: Decision, scored: list[Scored]) -> Decision:
        threshold = weight_of(self.thresholds.shield_review)
        shielded = [s for s in scored if s[2].shielded and s[0] >= threshold]
        linked_to_shielded = decision.outcome is Outcome.LINK and any(
            s[2].ref == decision.ref for s in shielded)
        if not shielded or linked_to_shielded:
            if linked_to_shielded or person.shielded:
                return _replace_shielded(decision)
            return decision
        if decision.outcome is Outcome.REVIEW:
            return _replace_shielded(decision)
        return self._decision(Outcome.REVIEW, Rule.SHIELDED, person, shielded[0], scored)

    def _decision(
        self, outcome: Outcome, rule: Rule, person: Person, chosen: Scored | None,
        scored: list[Scored], scheme: str | None = None,
    ) -> Decision:
        explanation = self.model.explanation_of(chosen[1], person, self.tf) if chosen is not None else None
        candidate = chosen[2] if chosen is not None else None
        shielded = person.shielded or (
            candidate is not None and candidate.shielded and outcome is not Outcome.NEW)
        return Decision(
            outcome=outcome,
            rule=rule,
            ref=candidate.ref if candidate is not None and outcome is not Outcome.NEW else None,
            weight=explanation.total if explanation else None,
            probability=explanation.probability if explanation else None,
            thresholds=self.thresholds,
            explanation=explanation,
            candidates=tuple(Candidate(c.ref, w, probability(w), c.shielded)
                             for w, _v, c in scored[:MAX_ALTERNATIVES]),
            shielded=shielded,
            scheme=scheme,
        )


# Links the strict pass may make on its own: they do not depend on who else is a candidate.
_SETTLED_BY_STRICT = frozenset({Rule.IDENTIFIER, Rule.HUMAN_SAME})


def _replace_shielded(decision: Decision) -> Decision:
    return replace(decision, shielded=True)


def classify_pair(
    model: MatchModel, a: Person, b: Person, tf: TermFrequencies | None = None
) -> tuple[Outcome, Rule, Explanation]:
    """One pair on its own (for lists, where there is no index to decide against): LINK,
    REVIEW or NEW with the rule, by the same identifier, contradiction and threshold rules."""
    explanation = model.explain(a, b, tf)
    levels = {(f.comparison, f.level) for f in explanation.fields}
    t = model.thresholds
    if ("identifiers", "agree") in levels:
        others = sum(f.weight for f in explanation.fields if f.comparison != "identifiers")
        if others < t.conflict or levels & CONFLICT_LEVELS:
            return Outcome.REVIEW, Rule.IDENTIFIER_CONFLICT_DEMOGRAPHICS, explanation
        return Outcome.LINK, Rule.IDENTIFIER, explanation
    # Compared as weights: probabilities near 1 are rounded in explanations.
    if explanation.total >= weight_of(t.review) and len(levels & DIFFERENT_CHILDREN) >= DIFFERENT_CHILDREN_AT:
        return Outcome.NEW, Rule.DIFFERENT_CHILDREN, explanation
    if explanation.total >= weight_of(t.link):
        if levels & NO_AUTO_LINK:
            return Outcome.REVIEW, Rule.CONTRADICTION, explanation
        return Outcome.LINK, Rule.PROBABILISTIC_LINK, explanation
    if explanation.total >= weight_of(t.review):
        return Outcome.REVIEW, Rule.PROBABILISTIC_REVIEW, explanation
    return Outcome.NEW, Rule.PROBABILISTIC_NEW, explanation
