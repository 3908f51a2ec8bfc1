"""The LA data team's upload of service feeds for its own LA (access.uploads says who may send
which kind of file; a school's route takes census and CTF only). The file is checked, minimised
and staged for the nightly run exactly as a school's (api.schools.receive). And the rows of those
feeds the nightly run held for the team (issue 15)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, UploadFile

from access import Permission
from api.deps import Ctx, CurrentActor, la_scope, record, requires
from api.la import push_search
from api.schemas import HeldAttachment, HeldDismissal, HeldRowOut, HeldRowsOut, SubmissionOut
from api.schools import receive
from index import transaction
from index.outbox import mark_changed
from ingest import held_records
from ingest.held import attach_held, dismiss_held

P = Permission
router = APIRouter(prefix="/la", tags=["LA data team"])

FeedLa = Annotated[str, Depends(la_scope(P.UPLOAD_FEED))]
ReviewLa = Annotated[str | None, Depends(la_scope(P.REVIEW_QUEUE))]
# Starts with a letter: never a school's LAEstab, whose own listing must not show an LA's feed.
Sender = Annotated[str | None, Query(pattern=r"^[A-Za-z][A-Za-z0-9]{0,15}$",
                                     description="the code of the service that produced the feed, "
                                                 "starting with a letter (default: LA and the LA number)")]


@router.post("/submissions", response_model=SubmissionOut, status_code=201,
             dependencies=requires(P.UPLOAD_FEED))
async def upload_feed(la: FeedLa, file: UploadFile, ctx: Ctx, who: CurrentActor,
                      sender: Sender = None) -> SubmissionOut:
    """Upload a service feed (CSV with the documented header) for the own LA; it is checked and
    staged for the nightly run at once. Census and CTF files are a school's to send."""
    return await receive(ctx, who, file, P.UPLOAD_FEED, source=sender or f"LA{la}", la=la)


@router.get("/held", response_model=HeldRowsOut, dependencies=requires(P.REVIEW_QUEUE))
def list_held(la: ReviewLa, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> HeldRowsOut:
    """Service-feed rows of the own LA held by the nightly run (issue 15): a date of birth missing
    or not a date, and no child matched for certain, so no child was made and the involvement
    waits here. Where each row is and why, never a value from it (so nothing personal is read)."""
    rows = held_records(ctx.engine, owning_la=la, limit=limit)
    return HeldRowsOut(items=[HeldRowOut(**row) for row in rows])


@router.post("/held/{submission_id}/dismissal", status_code=204, dependencies=requires(P.REVIEW_QUEUE))
def dismiss(submission_id: int, body: HeldDismissal, la: ReviewLa, ctx: Ctx, who: CurrentActor) -> None:
    """Dismiss one held row of the own LA (ingest.held): its values are cleared and it leaves the
    list; audited with its reason code. No such held row (or another LA's): 404, the same."""
    with transaction(ctx.engine) as db:
        if not dismiss_held(db, submission_id=submission_id, record_ref=body.record, owning_la=la):
            raise HTTPException(404, "no held row of your LA at that submission and record")
        record(db, who, "dismiss_held", reason=body.reason, at=ctx.clock())


@router.post("/held/{submission_id}/attachment", status_code=204, dependencies=requires(P.REVIEW_QUEUE))
def attach(submission_id: int, body: HeldAttachment, la: ReviewLa, ctx: Ctx, who: CurrentActor) -> None:
    """Attach one held row of the own LA to a child of the own LA (ingest.held): its involvement,
    names, identifiers and address are brought to the child as the nightly run brings a linked
    row's (never the date of birth); audited with its reason code and the child. No such held
    row or child (or another LA's): 404, the same."""
    with transaction(ctx.engine) as db:
        if attach_held(db, submission_id=submission_id, record_ref=body.record, child_id=body.child_id,
                       owning_la=la) is None:
            raise HTTPException(404, "no held row of your LA at that submission and record, "
                                     "or no child of your LA with that id")
        mark_changed(db, [body.child_id])
        record(db, who, "attach_held", reason=body.reason, child_ids=[body.child_id], at=ctx.clock())
    push_search(ctx)
