"""The LA data team's side (own LA only): the possible-match review queue and its decisions
(merge, not the same, split), corrections, shielding, opt-outs of sharing, the practitioner
register and enrolment tokens. Scope checks are dependencies (api.deps); every action and every
read of personal data is audited in the same transaction."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from access import Forbidden, Permission, RegisterEntry, admin, audit
from access.register import get_entry, status_of
from access.view_policy import may_opt_out
from api.deps import (
    ChildRef,
    Ctx,
    CurrentActor,
    UserId,
    child_scope,
    la_scope,
    merge_scope,
    record,
    refused,
    require_reason,
    requires,
    review_scope,
)
from api.oversight import After, Limit, entries_out
from api.schemas import (
    AuditOut,
    CorrectionBody,
    CreatedOut,
    DecisionBody,
    DecisionOut,
    OptOutBody,
    OptOutOut,
    OptOutsOut,
    RegisterBody,
    RegisterEntryOut,
    RegisterOut,
    ReviewQueueOut,
    ShieldBody,
    ShieldOut,
    SplitBody,
    SplitOut,
    TokenOut,
)
from index import models as m
from index.outbox import drain, mark_changed
from index.store import transaction
from index.vocabulary import NameKind, ServiceType
from matching import ReviewItem, Verdict, decide_review, review_item, review_queue, split_merge

P = Permission
router = APIRouter(prefix="/la", tags=["LA data team"])

OwnLa = Annotated[str, Depends(la_scope(P.REVIEW_QUEUE))]
RegisterLa = Annotated[str, Depends(la_scope(P.MANAGE_REGISTER))]
Review = Annotated[int, Depends(review_scope(P.REVIEW_QUEUE))]
Merge = Annotated[int, Depends(merge_scope(P.REVIEW_QUEUE))]
Correctable = Annotated[ChildRef, Depends(child_scope(P.REVIEW_QUEUE))]
Shieldable = Annotated[ChildRef, Depends(child_scope(P.SHIELD))]
# How many queued search updates a request pushes on its way out (the rest: `drain` later).
DRAIN_LIMIT = 100


def push_search(ctx: Ctx) -> None:
    """Push queued search updates; an unavailable backend keeps them queued (never an error)."""
    drain(ctx.engine, ctx.search, limit=DRAIN_LIMIT)


def _children_of(item: ReviewItem) -> list[int]:
    return [side.child_id for side in (item.child, item.candidate) if side is not None]


# -- review queue ---------------------------------------------------------------------------------


@router.get("/reviews", response_model=ReviewQueueOut, dependencies=requires(P.REVIEW_QUEUE))
def list_reviews(la: OwnLa, ctx: Ctx, who: CurrentActor,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ReviewQueueOut:
    """Open possible matches of the user's LA, highest priority first, with explanations."""
    with transaction(ctx.engine) as db:
        items = review_queue(db, owning_la=la, limit=limit)
        record(db, who, "read_review", reason="data_accuracy",
               child_ids=[c for i in items for c in _children_of(i)], at=ctx.clock())
    return ReviewQueueOut(items=list(items))


@router.get("/reviews/{review_id}", response_model=ReviewItem, dependencies=requires(P.REVIEW_QUEUE))
def show_review(review_id: Review, ctx: Ctx, who: CurrentActor) -> ReviewItem:
    with transaction(ctx.engine) as db:
        item = review_item(db, review_id)
        record(db, who, "read_review", reason="data_accuracy", child_ids=_children_of(item), at=ctx.clock())
    return item


@router.post("/reviews/{review_id}/decision", response_model=DecisionOut,
             dependencies=requires(P.REVIEW_QUEUE))
def decide(review_id: Review, body: DecisionBody, ctx: Ctx, who: CurrentActor) -> DecisionOut:
    """SAME merges the two children (undo with a split); DIFFERENT keeps them apart for good."""
    now = ctx.clock()
    with transaction(ctx.engine) as db:
        review = db.get(m.MatchReview, review_id)
        assert review is not None  # found by the scope check
        children = [review.child_id, review.candidate_id]
        merge_id = decide_review(db, review_id, Verdict(body.verdict), by=who.user_id,
                                 reason=body.reason, now=now)
        mark_changed(db, children)
        record(db, who, "review_decision", reason="data_accuracy", child_ids=children, at=now)
        status = review.status.value
    push_search(ctx)
    return DecisionOut(review_id=review_id, status=status, merge_id=merge_id)


@router.post("/merges/{merge_id}/split", response_model=SplitOut, dependencies=requires(P.REVIEW_QUEUE))
def split(merge_id: Merge, body: SplitBody, ctx: Ctx, who: CurrentActor) -> SplitOut:
    """Undo a merge exactly: the merged child comes back with its own rows."""
    now = ctx.clock()
    with transaction(ctx.engine) as db:
        kept, restored = split_merge(db, merge_id, by=who.user_id, reason=body.reason, now=now)
        mark_changed(db, [kept, restored])
        record(db, who, "review_decision", reason="data_accuracy", child_ids=[kept, restored], at=now)
    push_search(ctx)
    return SplitOut(kept_child_id=kept, restored_child_id=restored)


# -- corrections, shielding, opt-outs --------------------------------------------------------------


@router.patch("/children/{child_id}", response_model=CreatedOut, dependencies=requires(P.REVIEW_QUEUE))
def correct(child: Correctable, body: CorrectionBody, ctx: Ctx, who: CurrentActor) -> CreatedOut:
    """Correct the child's current name, date of birth or gender (only the fields given)."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        raise HTTPException(422, "nothing to correct: give at least one field")
    now = ctx.clock()
    with transaction(ctx.engine) as db:
        row = db.get(m.Child, child.id)
        assert row is not None  # found by the scope check
        for name in ("date_of_birth", "gender"):
            if name in changes:
                setattr(row, name, changes[name])
        naming = {k: changes[k] for k in ("given_name", "family_name") if k in changes}
        if naming:
            current = db.scalars(select(m.ChildName).where(
                m.ChildName.child_id == child.id, m.ChildName.kind == NameKind.CURRENT)).first()
            if current is None:
                current = m.ChildName(child_id=child.id, kind=NameKind.CURRENT)
                db.add(current)
            for name, value in naming.items():
                setattr(current, name, value)
        seq = record(db, who, "correct_record", reason="data_accuracy", child_ids=[child.id], at=now)
        if naming and current.record_ref is None:
            current.record_ref = f"audit entry {seq}"
        mark_changed(db, [child.id])
    push_search(ctx)
    return CreatedOut(id=child.id)


@router.post("/children/{child_id}/shield", response_model=ShieldOut, dependencies=requires(P.SHIELD))
def shield(child: Shieldable, body: ShieldBody, ctx: Ctx, who: CurrentActor) -> ShieldOut:
    """Shield or unshield a record, with a reason."""
    require_reason(ctx, who, P.SHIELD, body.reason, [child.id])
    now = ctx.clock()
    with transaction(ctx.engine) as db:
        db.execute(update(m.Child).where(m.Child.id == child.id).values(shielded=body.shielded))
        record(db, who, "shield", reason=body.reason, child_ids=[child.id], at=now)
        mark_changed(db, [child.id])
    push_search(ctx)
    return ShieldOut(child_id=child.id, shielded=body.shielded)


def _opt_outs(db: Session, child_id: int) -> list[OptOutOut]:
    rows = db.scalars(select(m.SharingOptOut).where(
        m.SharingOptOut.child_id == child_id, m.SharingOptOut.withdrawn_at.is_(None))
        .order_by(m.SharingOptOut.id))
    return [OptOutOut(child_id=r.child_id, service_type=r.service_type.value,
                      opted_out_by=r.opted_out_by.value, recorded_at=r.recorded_at,
                      recorded_by=r.recorded_by) for r in rows]


@router.get("/children/{child_id}/opt-outs", response_model=OptOutsOut, dependencies=requires(P.REVIEW_QUEUE))
def list_opt_outs(child: Correctable, ctx: Ctx, who: CurrentActor) -> OptOutsOut:
    with transaction(ctx.engine) as db:
        found = _opt_outs(db, child.id)
        record(db, who, "opt_out", reason="data_accuracy", child_ids=[child.id], outcome="ok", at=ctx.clock())
    return OptOutsOut(opt_outs=found)


@router.post("/children/{child_id}/opt-outs", response_model=OptOutsOut, status_code=201,
             dependencies=requires(P.REVIEW_QUEUE))
def add_opt_out(child: Correctable, body: OptOutBody, ctx: Ctx, who: CurrentActor) -> OptOutsOut:
    """Record that a parent, or the young person (16 or over), opted out of sharing with a type
    of service: its practitioners then see name and address only."""
    now = ctx.clock()
    with transaction(ctx.engine) as db:
        row = db.get(m.Child, child.id)
        assert row is not None
        if not may_opt_out(body.opted_out_by, row.date_of_birth, now.date()):
            raise HTTPException(422, "a young person may opt out of sharing from the age of 16; "
                                     "below that, a parent opts out")
        if body.service_type not in {o.service_type for o in _opt_outs(db, child.id)}:
            db.add(m.SharingOptOut(child_id=child.id, service_type=body.service_type,
                                   opted_out_by=body.opted_out_by, recorded_at=now, recorded_by=who.user_id))
            db.flush()
        record(db, who, "opt_out", reason="data_accuracy", child_ids=[child.id], at=now)
        return OptOutsOut(opt_outs=_opt_outs(db, child.id))


@router.delete("/children/{child_id}/opt-outs/{service_type}", response_model=OptOutsOut,
               dependencies=requires(P.REVIEW_QUEUE))
def withdraw_opt_out(child: Correctable, service_type: ServiceType, ctx: Ctx,
                     who: CurrentActor) -> OptOutsOut:
    now = ctx.clock()
    with transaction(ctx.engine) as db:
        changed = db.execute(update(m.SharingOptOut).where(
            m.SharingOptOut.child_id == child.id, m.SharingOptOut.service_type == service_type,
            m.SharingOptOut.withdrawn_at.is_(None)).values(withdrawn_at=now, withdrawn_by=who.user_id)
            .execution_options(synchronize_session=False))
        if changed.rowcount == 0:
            raise HTTPException(404, "no opt-out of sharing with that service")
        record(db, who, "opt_out", reason="data_accuracy", child_ids=[child.id], at=now)
        return OptOutsOut(opt_outs=_opt_outs(db, child.id))


# -- the practitioner register and enrolment tokens --------------------------------------------------


def register_out(entry: RegisterEntry, today: dt.date) -> RegisterEntryOut:
    return RegisterEntryOut(**entry.model_dump(mode="json"), status=status_of(entry, today).value)


@router.get("/register", response_model=RegisterOut, dependencies=requires(P.MANAGE_REGISTER))
def list_register(la: RegisterLa, ctx: Ctx, who: CurrentActor) -> RegisterOut:
    now = ctx.clock()
    with transaction(ctx.engine) as db:
        users = db.scalars(select(m.Practitioner.user_id).where(m.Practitioner.la == la)
                           .order_by(m.Practitioner.user_id)).all()
        entries = [e for u in users if (e := get_entry(db, u)) is not None]
        record(db, who, "read_register", reason="administration", at=now)
    return RegisterOut(entries=[register_out(e, now.date()) for e in entries])


@router.put("/register/{user_id}", response_model=RegisterEntryOut, dependencies=requires(P.MANAGE_REGISTER))
def save_register(user_id: UserId, body: RegisterBody, la: RegisterLa, ctx: Ctx,
                  who: CurrentActor) -> RegisterEntryOut:
    """Add or change a register entry of the user's own LA, saying why (a suspension ends
    sessions at once). Nobody changes their own entry; an auditor's, administrator's or
    operator's is an administrator's to change."""
    entry = RegisterEntry.model_validate({"user_id": user_id, **body.model_dump(exclude={"change_reason"})})
    now = ctx.clock()
    try:
        with transaction(ctx.engine) as db:
            admin.save_register_entry(db, who.principal, entry, why=body.change_reason, now=now)
    except Forbidden as exc:
        with transaction(ctx.engine) as db:
            record(db, who, "register_change", reason=body.change_reason.value, outcome="forbidden",
                   subject_user=entry.user_id, at=now)
        raise exc from None
    return register_out(entry, now.date())


@router.get("/register/changes", response_model=AuditOut, dependencies=requires(P.MANAGE_REGISTER))
def register_changes(la: RegisterLa, ctx: Ctx, who: CurrentActor, after: After = 0,
                     limit: Limit = 100) -> AuditOut:
    """The owning LA's notice of changes to its register, in order after `after` (poll with the
    last `seq` seen): who changed whose entry, why, and refused attempts too."""
    event = m.AuditEvent
    own_users = select(m.Practitioner.user_id).where(m.Practitioner.la == la)
    with transaction(ctx.engine) as db:
        seqs = db.scalars(select(event.seq).where(
            event.action == "register_change", event.seq > after,
            (event.actor_la == la) | event.subject_user.in_(own_users))
            .order_by(event.seq).limit(limit)).all()
        entries = audit.entries(db, list(seqs))
        record(db, who, "read_register", reason="administration", at=ctx.clock())
        return entries_out(db, entries)


@router.post("/register/{user_id}/enrolment", response_model=TokenOut, status_code=201,
             dependencies=requires(P.ISSUE_ENROLMENT))
def issue_enrolment(user_id: UserId, ctx: Ctx, who: CurrentActor) -> TokenOut:
    """A one-time enrolment token for a registered user of the own LA (shown once)."""
    try:
        with transaction(ctx.engine) as db:
            token = admin.issue_enrolment(db, who.principal, user_id, now=ctx.clock(), settings=ctx.access)
    except Forbidden as exc:
        raise refused(ctx, who, P.ISSUE_ENROLMENT, exc) from None
    return TokenOut(user_id=user_id, token=token)

