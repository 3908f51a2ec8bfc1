"""Moves between LAs for the LA data team: hand a record to another LA (with a coded reason), and
list the moves into and out of the own LA (how both teams hear of a move, by the nightly run or
by hand). The record's open review items and investigations go with it (index.ownership)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import Field

from access import Permission
from api.deps import ChildRef, Ctx, CurrentActor, child_scope, la_scope, record, requires
from api.schemas import Input, Output
from index.outbox import drain
from index.ownership import TransferReason, transfer, transfers_of_la
from index.store import transaction

P = Permission
router = APIRouter(prefix="/la", tags=["LA data team"])
Transferable = Annotated[ChildRef, Depends(child_scope(P.TRANSFER))]
TransferLa = Annotated[str, Depends(la_scope(P.TRANSFER))]
DRAIN_LIMIT = 100


class TransferBody(Input):
    to_la: str = Field(pattern=r"^\d{3}$", description="the receiving LA's three-digit number")
    reason: Literal[TransferReason.BY_HAND]  # type: ignore[valid-type]


class TransferOut(Output):
    child_id: int
    from_la: str
    to_la: str
    transferred_at: dt.datetime
    transferred_by: str
    reason: str
    reviews_moved: int
    investigations_moved: int


class TransfersOut(Output):
    transfers: list[TransferOut]


@router.post("/children/{child_id}/transfer", response_model=TransferOut, dependencies=requires(P.TRANSFER))
def transfer_child(child: Transferable, body: TransferBody, ctx: Ctx, who: CurrentActor) -> TransferOut:
    """Hand the record to another LA: it leaves the own LA's scope at once."""
    now = ctx.clock()
    with transaction(ctx.engine) as db:
        done = transfer(db, child.id, body.to_la, by=who.user_id, reason=body.reason, now=now)
        record(db, who, "transfer", reason="data_accuracy", child_ids=[child.id], at=now)
    drain(ctx.engine, ctx.search, limit=DRAIN_LIMIT)
    if done is None:
        return TransferOut(child_id=child.id, from_la=child.owning_la, to_la=body.to_la, transferred_at=now,
                           transferred_by=who.user_id, reason=body.reason, reviews_moved=0,
                           investigations_moved=0)
    return TransferOut(child_id=done.child_id, from_la=done.from_la, to_la=done.to_la, transferred_at=now,
                       transferred_by=who.user_id, reason=done.reason, reviews_moved=done.reviews_moved,
                       investigations_moved=done.investigations_moved)


@router.get("/transfers", response_model=TransfersOut, dependencies=requires(P.TRANSFER))
def list_transfers(la: TransferLa, ctx: Ctx) -> TransfersOut:
    """Moves into and out of the own LA, newest first."""
    with transaction(ctx.engine) as db:
        rows = transfers_of_la(db, la)
    return TransfersOut(transfers=[TransferOut(
        child_id=r.child_id, from_la=r.from_la, to_la=r.to_la, transferred_at=r.transferred_at,
        transferred_by=r.transferred_by, reason=r.reason, reviews_moved=r.reviews_moved,
        investigations_moved=r.investigations_moved) for r in rows])
