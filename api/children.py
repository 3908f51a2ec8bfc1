"""A practitioner's side of a child's record: open it (with a stated reason), override a shield
(child-protection capability), record or end their own service's involvement, set or clear
their own indicators. What is shown is decided by access.view_policy alone; every action is
audited in its own transaction."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from access import Forbidden, Permission
from access.totp import token_digest
from access.view_policy import ChildView, Viewer, child_view, override_in_force
from api.deps import (
    Actor,
    ChildRef,
    Ctx,
    CurrentActor,
    InvolvementRef,
    child_scope,
    involvement_scope,
    record,
    refused,
    require_reason,
    requires,
    within_rate,
)
from api.schemas import (
    CreatedOut,
    EndBody,
    IndicatorBody,
    IndicatorChangeOut,
    InvolvementBody,
    OverrideBody,
    Reason,
)
from index import models as m
from index.store import add_involvement, transaction
from index.vocabulary import SENSITIVE_SERVICES, ConsentBasis, IndicatorKind

P = Permission
router = APIRouter(tags=["practitioner"])

Viewed = Annotated[ChildRef, Depends(child_scope(P.VIEW_RECORD))]
Involved = Annotated[ChildRef, Depends(child_scope(P.RECORD_INVOLVEMENT))]
OwnInvolvement = Annotated[InvolvementRef, Depends(involvement_scope(P.RECORD_INVOLVEMENT))]


def viewer_of(db: Session, who: Actor, child_id: int) -> Viewer:
    return Viewer(principal=who.principal, organisation_code=who.organisation_code,
                  organisation=who.organisation, service_type=who.service_type,
                  override=override_in_force(db, who.principal, who.token, child_id))


@router.get("/children/{child_id}", response_model=ChildView, dependencies=requires(P.VIEW_RECORD))
def view_record(child: Viewed, reason: Annotated[Reason, Query()], ctx: Ctx, who: CurrentActor) -> ChildView:
    """One child's record as the view policy allows this user to see it; the reason is required."""
    require_reason(ctx, who, P.VIEW_RECORD, reason, [child.id])
    within_rate(ctx, who, "view_record")
    with transaction(ctx.engine) as db:
        view = child_view(db, viewer_of(db, who, child.id), child.id, today=ctx.clock().date())
        if view is None:
            raise HTTPException(404, "no child with that id")
        record(db, who, "view_record", reason=reason, child_ids=[child.id], at=ctx.clock())
    return view


@router.post("/children/{child_id}/override", response_model=ChildView,
             dependencies=requires(P.VIEW_RECORD, P.SHIELD_OVERRIDE))
def shield_override(child: Viewed, body: OverrideBody, ctx: Ctx, who: CurrentActor) -> ChildView:
    """Emergency access to a shielded child's details, for this session only. Opens an
    investigation item for the owning LA, which is also notified of the access."""
    require_reason(ctx, who, P.SHIELD_OVERRIDE, body.reason, [child.id])
    if not child.shielded:
        raise HTTPException(409, "this record is not shielded: open it with GET /children/{child_id}")
    now = ctx.clock()
    with transaction(ctx.engine) as db:
        seq = record(db, who, "shield_override", reason=body.reason, child_ids=[child.id], at=now)
        db.add(m.ShieldInvestigation(child_id=child.id, owning_la=child.owning_la, opened_by=who.user_id,
                                     opened_at=now, audit_seq=seq, session_hash=token_digest(who.token)))
        db.flush()
        viewer = dataclasses.replace(viewer_of(db, who, child.id), override=True)
        view = child_view(db, viewer, child.id, today=now.date())
    if view is None:
        raise HTTPException(404, "no child with that id")
    return view


@router.post("/children/{child_id}/involvements", response_model=CreatedOut, status_code=201,
             dependencies=requires(P.RECORD_INVOLVEMENT))
def record_involvement(child: Involved, body: InvolvementBody, ctx: Ctx, who: CurrentActor) -> CreatedOut:
    """Record the signed-in user's own service as working with the child."""
    require_reason(ctx, who, P.RECORD_INVOLVEMENT, body.reason, [child.id])
    if who.service_type is not None and body.service_type is not who.service_type:
        raise refused(ctx, who, P.RECORD_INVOLVEMENT, Forbidden(
            f"you may record your own service's involvement only ({who.service_type.value})"), [child.id])
    if body.service_type in SENSITIVE_SERVICES and body.consent_basis is ConsentBasis.NOT_REQUIRED:
        raise HTTPException(422, f"{body.service_type.value} is a sensitive service: it is recorded only "
                                 "with consent or where significant harm is suspected (consent_basis)")
    now = ctx.clock()
    with transaction(ctx.engine) as db:
        seq = record(db, who, "record_involvement", reason=body.reason, child_ids=[child.id], at=now)
        new_id = add_involvement(db, child.id, dict(
            service_type=body.service_type, organisation_name=who.organisation,
            organisation_code=who.organisation_code, practitioner_name=body.practitioner_name,
            contact_phone=body.contact_phone, contact_email=body.contact_email,
            start_date=body.start_date or now.date(), lead_professional=body.lead_professional,
            consent_basis=body.consent_basis, record_ref=f"audit entry {seq}",
        ))
    return CreatedOut(id=new_id)


@router.post("/involvements/{involvement_id}/end", response_model=CreatedOut,
             dependencies=requires(P.RECORD_INVOLVEMENT))
def end_involvement(inv: OwnInvolvement, body: EndBody, ctx: Ctx, who: CurrentActor) -> CreatedOut:
    """End the user's own service's involvement (it stays visible, with its end date)."""
    require_reason(ctx, who, P.RECORD_INVOLVEMENT, body.reason, [inv.child_id])
    with transaction(ctx.engine) as db:
        row = db.get(m.Involvement, inv.id)
        assert row is not None  # found by the scope check
        if row.start_date is not None and body.end_date < row.start_date:
            raise HTTPException(422, "end_date is before the involvement's start date")
        row.end_date = body.end_date
        record(db, who, "record_involvement", reason=body.reason, child_ids=[inv.child_id], at=ctx.clock())
    return CreatedOut(id=inv.id)


def _active(db: Session, involvement_id: int, kind: IndicatorKind) -> m.Indicator | None:
    return db.scalars(select(m.Indicator).where(
        m.Indicator.involvement_id == involvement_id, m.Indicator.kind == kind,
        m.Indicator.cleared_at.is_(None))).first()


@router.put("/involvements/{involvement_id}/indicators/{kind}", response_model=IndicatorChangeOut,
            dependencies=requires(P.RECORD_INVOLVEMENT))
def set_indicator(inv: OwnInvolvement, kind: IndicatorKind, body: IndicatorBody, ctx: Ctx,
                  who: CurrentActor) -> IndicatorChangeOut:
    """Set one of the three indicators on the user's own involvement (setting it twice is one)."""
    require_reason(ctx, who, P.RECORD_INVOLVEMENT, body.reason, [inv.child_id])
    now = ctx.clock()
    with transaction(ctx.engine) as db:
        if _active(db, inv.id, kind) is None:
            seq = record(db, who, "record_involvement", reason=body.reason, child_ids=[inv.child_id], at=now)
            db.add(m.Indicator(involvement_id=inv.id, kind=kind, set_by=who.user_id, set_at=now,
                               record_ref=f"audit entry {seq}"))
    return IndicatorChangeOut(involvement_id=inv.id, kind=kind.value, active=True)


@router.delete("/involvements/{involvement_id}/indicators/{kind}", response_model=IndicatorChangeOut,
               dependencies=requires(P.RECORD_INVOLVEMENT))
def clear_indicator(inv: OwnInvolvement, kind: IndicatorKind, reason: Annotated[Reason, Query()],
                    ctx: Ctx, who: CurrentActor) -> IndicatorChangeOut:
    """Clear one of the indicators on the user's own involvement (kept, with when it was cleared)."""
    require_reason(ctx, who, P.RECORD_INVOLVEMENT, reason, [inv.child_id])
    now = ctx.clock()
    with transaction(ctx.engine) as db:
        active = _active(db, inv.id, kind)
        if active is None:
            raise HTTPException(404, "that indicator is not set on this involvement")
        active.cleared_at = now
        record(db, who, "record_involvement", reason=reason, child_ids=[inv.child_id], at=now)
    return IndicatorChangeOut(involvement_id=inv.id, kind=kind.value, active=False)
