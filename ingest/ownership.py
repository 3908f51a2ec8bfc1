"""The nightly run's part in federation: after a batch is written, each child it touched is owned
by the LA responsible for them (index.ownership: where they live, else where they go to school);
a child that now lives in another LA is moved there, in the batch's own transaction, with an
audit entry per move (actor `nightly-run`, action `transfer`). Both LAs' data teams see the move
in their list of transfers (`GET /la/transfers`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from access import Event, audit
from index import models as m
from index.ownership import PostcodeAreas, Transfer, responsible_las, transfer

ACTOR = "nightly-run"


def follow_moves(session: Session, child_ids: Iterable[int], areas: PostcodeAreas, *,
                 submission_id: int | None, now: dt.datetime) -> list[Transfer]:
    """Move every child among `child_ids` whose responsible LA is not its owning LA."""
    responsible = responsible_las(session, child_ids, areas)
    if not responsible:
        return []
    owners = {i: la for i, la in session.execute(
        select(m.Child.id, m.Child.owning_la).where(m.Child.id.in_(list(responsible))))}
    moved: list[Transfer] = []
    for child_id, wanted in sorted(responsible.items()):
        if owners.get(child_id) in (None, wanted.la):
            continue
        done = transfer(session, child_id, wanted.la, by=ACTOR, reason=wanted.reason, now=now,
                        submission_id=submission_id)
        if done is not None:
            audit.append(session, Event(actor=ACTOR, action="transfer", reason="change_of_address",
                                        child_ids=[child_id], actor_role="operator", at=now))
            moved.append(done)
    return moved
