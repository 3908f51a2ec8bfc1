"""Pupils of one file sharing a UPN but clearly different people: neither wins.

A census or CTF may carry one UPN for two different pupils (a typo, a UPN reused by mistake).
Matching either on it would silently give one pupil's record to the other, or the UPN to the
wrong child. Instead (`staged_records.upn_conflict` marks both at staging):
- the run does not match them: each is held as a child of its own (`held_apart`);
- as the submission closes, `open_conflict_reviews` queues an identifier-conflict review
  between the two held children and between each and any other child already holding the UPN,
  for the LA data team to decide (same, different).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from index import models as m
from matching import Decision, MatchModel, Outcome, Rule, open_review
from matching.review import person_from_child

SCHEME = "upn"


def held_apart(model: MatchModel) -> Decision:
    """The run's decision for a record with a UPN conflict: a child of its own, for review."""
    return Decision(outcome=Outcome.NEW, rule=Rule.IDENTIFIER_CONFLICT_SHARED, ref=None, weight=None,
                    probability=None, thresholds=model.thresholds, explanation=None, scheme=SCHEME)


def _review(session: Session, model: MatchModel, child_id: int, other_id: int) -> int:
    child, other = session.get(m.Child, child_id), session.get(m.Child, other_id)
    assert child is not None and other is not None
    explanation = model.explain(person_from_child(child), person_from_child(other))
    decision = Decision(outcome=Outcome.REVIEW, rule=Rule.IDENTIFIER_CONFLICT_SHARED, ref=other_id,
                        weight=explanation.total, probability=explanation.probability,
                        thresholds=model.thresholds, explanation=explanation,
                        shielded=other.shielded, scheme=SCHEME)
    return open_review(session, child_id=child_id, candidate_id=other_id, decision=decision)


def open_conflict_reviews(session: Session, submission_id: int, model: MatchModel) -> list[int]:
    """Reviews for this submission's records held apart by a UPN conflict; their ids."""
    rows = session.execute(
        select(m.StagedRecord.record_ref, m.StagedRecord.child_id, m.StagedRecord.upn_conflict)
        .where(m.StagedRecord.submission_id == submission_id, m.StagedRecord.upn_conflict.is_not(None),
               m.StagedRecord.child_id.is_not(None))
        .order_by(m.StagedRecord.position)).all()
    child_of = {r.record_ref: r.child_id for r in rows}
    held = set(child_of.values())
    reviews: list[int] = []
    paired: set[frozenset[int]] = set()
    for record_ref, child_id, other_ref in rows:
        other = child_of.get(other_ref)
        if other is not None and other != child_id and frozenset((child_id, other)) not in paired:
            paired.add(frozenset((child_id, other)))
            reviews.append(_review(session, model, child_id, other))
        upns = select(m.ChildIdentifier.value).where(m.ChildIdentifier.child_id == child_id,
                                                      m.ChildIdentifier.scheme == SCHEME)
        holders = session.scalars(select(m.ChildIdentifier.child_id).where(
            m.ChildIdentifier.scheme == SCHEME, m.ChildIdentifier.value.in_(upns),
            m.ChildIdentifier.child_id.not_in(held)).order_by(m.ChildIdentifier.child_id)).all()
        for holder in holders:
            if frozenset((child_id, holder)) not in paired:
                paired.add(frozenset((child_id, holder)))
                reviews.append(_review(session, model, child_id, holder))
        del record_ref
    return reviews
