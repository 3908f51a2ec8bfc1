"""Oversight: the audit trail and its two questions, access notifications, shield-override
investigations and unusual-use flags. Auditors read everything (read-only); an LA data team
reads what concerns its own LA. Each read is itself audited."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from sqlalchemy import ColumnElement, false, func, or_, select, true
from sqlalchemy.orm import Session

from access import (
    Entry,
    Forbidden,
    Permission,
    Verification,
    audit,
    flag_unusual_use,
    verify,
    what_user_looked_at,
    who_looked_at,
)
from access.anchor import AnchorError, AuditSettings, active_keys, read_checkpoints
from access.duties import check_duties
from access.identity import canonical_username
from access.register import get_entry
from api.deps import (
    ChildRef,
    Ctx,
    CurrentActor,
    UserId,
    absent,
    child_scope,
    la_scope,
    record,
    refused,
    require_scope,
    requires,
)
from api.schemas import (
    AccessesOut,
    AccessOut,
    AuditEntryOut,
    AuditOut,
    CreatedOut,
    InvestigationOut,
    InvestigationsOut,
    UsageOut,
    VerificationOut,
)
from index import models as m
from index.store import transaction

P = Permission
router = APIRouter(tags=["audit and oversight"], dependencies=requires(P.READ_AUDIT))

AuditLa = Annotated[str | None, Depends(la_scope(P.READ_AUDIT))]
AuditedChild = Annotated[ChildRef, Depends(child_scope(P.READ_AUDIT))]
Limit = Annotated[int, Query(ge=1, le=500)]
After = Annotated[int, Query(ge=0, le=2**31 - 1, description="only entries after this sequence number")]
# What counts as an access to a child, for notifications.
ACCESS_ACTIONS = ("view_record", "shield_override", "search")


def _organisations(db: Session, actors: set[str]) -> dict[str, str]:
    if not actors:
        return {}
    rows = db.execute(select(m.Practitioner.user_id, m.Practitioner.organisation)
                      .where(m.Practitioner.user_id.in_(actors)))
    return {user: organisation for user, organisation in rows}


def entries_out(db: Session, entries: list[Entry]) -> AuditOut:
    names = _organisations(db, {e.actor for e in entries})
    return AuditOut(entries=[AuditEntryOut(
        seq=e.seq, at=e.at, actor=e.actor, actor_role=e.actor_role, actor_la=e.actor_la,
        organisation=names.get(e.actor), action=e.action, reason=e.reason, criteria=e.criteria,
        criteria_erased=e.criteria_erased, outcome=e.outcome, subject_user=e.subject_user,
        child_ids=list(e.child_ids)) for e in entries])


def _of_la(la: str | None) -> ColumnElement[bool]:
    """Entries by the LA's users or about its children (everything for la=None)."""
    if la is None:
        return true()
    about = (select(m.AuditEventChild.seq).join(m.Child, m.Child.id == m.AuditEventChild.child_id)
             .where(m.Child.owning_la == la))
    return or_(m.AuditEvent.actor_la == la, m.AuditEvent.seq.in_(about))


@router.get("/audit", response_model=AuditOut)
def trail(la: AuditLa, ctx: Ctx, who: CurrentActor, after: After = 0, limit: Limit = 100) -> AuditOut:
    """The audit trail in order (the user's own LA for an LA data team), a page at a time."""
    with transaction(ctx.engine) as db:
        seqs = list(db.scalars(select(m.AuditEvent.seq).where(m.AuditEvent.seq > after, _of_la(la))
                               .order_by(m.AuditEvent.seq).limit(limit)))
        entries = audit.entries(db, seqs)
        record(db, who, "read_audit", reason="audit_review", at=ctx.clock())
        return entries_out(db, entries)


@router.get("/audit/children/{child_id}", response_model=AuditOut)
def who_looked(child: AuditedChild, ctx: Ctx, who: CurrentActor) -> AuditOut:
    """Who looked at this child: every entry concerning it, oldest first."""
    with transaction(ctx.engine) as db:
        entries = who_looked_at(db, child.id)
        record(db, who, "read_audit", reason="audit_review", child_ids=[child.id], at=ctx.clock())
        return entries_out(db, entries)


@router.get("/audit/users/{user_id}", response_model=AuditOut)
def what_looked(user_id: UserId, ctx: Ctx, who: CurrentActor) -> AuditOut:
    """What this user looked at: every entry by them, oldest first (an LA data team: users on
    its own register)."""
    user_id = canonical_username(user_id)  # also when called by a page, not through the path
    with transaction(ctx.engine) as db:
        entry = get_entry(db, user_id)
    require_scope(ctx, who, P.READ_AUDIT, la=entry.la if entry else None)
    with transaction(ctx.engine) as db:
        entries = what_user_looked_at(db, user_id)
        record(db, who, "read_audit", reason="audit_review", subject_user=user_id, at=ctx.clock())
        return entries_out(db, entries)


@router.get("/audit/verify", response_model=VerificationOut)
def verify_trail(ctx: Ctx, who: CurrentActor) -> VerificationOut:
    """Walk the hash chain, each entry's MAC and the checkpoints outside the database: the first
    edited, deleted, reordered or cut-off entry, if any."""
    folder = AuditSettings().checkpoint_dir
    try:
        checkpoints = read_checkpoints(folder, active_keys()) if folder else []
    except AnchorError as exc:
        result = Verification(False, 0, "", None, str(exc))
    else:
        with transaction(ctx.engine) as db:
            result = verify(db, checkpoints=checkpoints)
    with transaction(ctx.engine) as db:
        record(db, who, "read_audit", reason="audit_review", outcome="ok" if result.ok else "failed",
               at=ctx.clock())
    return VerificationOut(ok=result.ok, entries=result.entries, head_hash=result.head_hash,
                           broken_seq=result.broken_seq, problem=result.problem,
                           unanchored=result.unanchored, macs_checked=result.macs_checked,
                           checkpoints=result.checkpoints, summary=str(result))


# -- access notifications ----------------------------------------------------------------------


def _shielded_then() -> ColumnElement[bool]:
    """Whether the child of an access was shielded when it was made: the last change of its
    shielded flag (revision 0011's triggers) before the access's audit entry."""
    change, event, link = m.ChildShieldChange, m.AuditEvent, m.AuditEventChild
    last = (select(change.shielded)
            .where(change.child_id == link.child_id, change.audit_seq < event.seq)
            .order_by(change.audit_seq.desc(), change.id.desc()).limit(1)
            .correlate(event, link).scalar_subquery())
    return func.coalesce(last, false())


def _accesses(db: Session, where: list[Any], *, newest_first: bool, limit: int) -> list[AccessOut]:
    """Accesses to children, each with whether the child was shielded at the time."""
    event, link = m.AuditEvent, m.AuditEventChild
    order = event.seq.desc() if newest_first else event.seq
    shielded = _shielded_then().label("shielded_then")
    rows = db.execute(
        select(event.seq, link.child_id, event.at, event.actor, event.action, event.reason, shielded)
        .join(link, link.seq == event.seq).join(m.Child, m.Child.id == link.child_id)
        .where(event.action.in_(ACCESS_ACTIONS), event.outcome == "ok", *where)
        .order_by(order, link.child_id).limit(limit)
    ).all()
    names = _organisations(db, {r.actor for r in rows})
    return [AccessOut(seq=r.seq, child_id=r.child_id, at=r.at.replace(tzinfo=r.at.tzinfo or dt.UTC),
                      actor=r.actor, organisation=names.get(r.actor), action=r.action, reason=r.reason,
                      shielded=bool(r.shielded_then)) for r in rows]


def _la_children(la: str | None) -> ColumnElement[bool]:
    return true() if la is None else m.Child.owning_la == la


@router.get("/la/accesses", response_model=AccessesOut)
def recent_accesses(la: AuditLa, ctx: Ctx, who: CurrentActor, limit: Limit = 100) -> AccessesOut:
    """The most recent accesses to the LA's children: who, organisation, when, why."""
    with transaction(ctx.engine) as db:
        found = _accesses(db, [_la_children(la)], newest_first=True, limit=limit)
        record(db, who, "read_audit", reason="audit_review", at=ctx.clock())
    return AccessesOut(accesses=found)


@router.get("/la/children/{child_id}/accesses", response_model=AccessesOut)
def child_accesses(child: AuditedChild, ctx: Ctx, who: CurrentActor, limit: Limit = 20) -> AccessesOut:
    """The most recent accesses to one of the LA's children."""
    with transaction(ctx.engine) as db:
        found = _accesses(db, [m.AuditEventChild.child_id == child.id], newest_first=True, limit=limit)
        record(db, who, "read_audit", reason="audit_review", child_ids=[child.id], at=ctx.clock())
    return AccessesOut(accesses=found)


@router.get("/la/notifications", response_model=AccessesOut)
def shielded_notifications(la: AuditLa, ctx: Ctx, who: CurrentActor, after: After = 0,
                           limit: Limit = 100) -> AccessesOut:
    """Every access to a child of the LA, made while the child was shielded, by anyone but the
    child's own data team (its owning LA's), in order after `after`: poll with the last `seq`
    seen. Written with the access itself, so it is here as soon as the access is."""
    own_team = ((func.coalesce(m.AuditEvent.actor_la, "") == m.Child.owning_la)
                & (func.coalesce(m.AuditEvent.actor_role, "") == "la_data_team"))
    with transaction(ctx.engine) as db:
        found = _accesses(db, [_la_children(la), _shielded_then(), m.AuditEvent.seq > after,
                               ~own_team], newest_first=False, limit=limit)
        record(db, who, "read_audit", reason="audit_review", at=ctx.clock())
    return AccessesOut(accesses=found)


# -- shield-override investigations -----------------------------------------------------------------


def _investigation(row: m.ShieldInvestigation, names: dict[str, str]) -> InvestigationOut:
    return InvestigationOut(id=row.id, child_id=row.child_id, opened_by=row.opened_by,
                            organisation=names.get(row.opened_by), opened_at=row.opened_at,
                            audit_seq=row.audit_seq, closed_at=row.closed_at, closed_by=row.closed_by)


@router.get("/la/investigations", response_model=InvestigationsOut)
def investigations(la: AuditLa, ctx: Ctx, who: CurrentActor, include_closed: bool = False,
                   limit: Limit = 100) -> InvestigationsOut:
    """Shield overrides of the LA's children, each an item to investigate (open ones first)."""
    inv = m.ShieldInvestigation
    query = select(inv).order_by(inv.closed_at.is_not(None), inv.id.desc()).limit(limit)
    if la is not None:
        query = query.where(inv.owning_la == la)
    if not include_closed:
        query = query.where(inv.closed_at.is_(None))
    with transaction(ctx.engine) as db:
        rows = list(db.scalars(query))
        names = _organisations(db, {r.opened_by for r in rows})
        record(db, who, "read_audit", reason="audit_review", child_ids=[r.child_id for r in rows],
               at=ctx.clock())
        return InvestigationsOut(investigations=[_investigation(r, names) for r in rows])


InvestigationId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/la/investigations/{investigation_id}/close", response_model=CreatedOut,
             dependencies=requires(P.SHIELD))
def close_investigation(investigation_id: InvestigationId, ctx: Ctx, who: CurrentActor) -> CreatedOut:
    """The owning LA's data team closes an investigation item (kept, with who and when)."""
    with transaction(ctx.engine) as db:
        row = db.get(m.ShieldInvestigation, investigation_id)
        if row is None:
            raise absent(ctx, who, P.SHIELD, "investigation")
        la, child_id, opened_by = row.owning_la, row.child_id, row.opened_by
    require_scope(ctx, who, P.SHIELD, la=la, child_ids=[child_id])
    try:  # an LA team member with the child-protection capability overrode it themselves
        check_duties(who.principal, opened_by, (), "close the investigation of a shield override")
    except Forbidden as exc:
        raise refused(ctx, who, P.SHIELD, exc, [child_id]) from None
    now = ctx.clock()
    with transaction(ctx.engine) as db:
        row = db.get(m.ShieldInvestigation, investigation_id)
        assert row is not None
        if row.closed_at is not None:
            raise HTTPException(409, "that investigation is already closed")
        row.closed_at, row.closed_by = now, who.user_id
        record(db, who, "investigation", reason="safeguarding", child_ids=[child_id], at=now)
    return CreatedOut(id=investigation_id)


# -- unusual use --------------------------------------------------------------------------------------


@router.get("/la/usage", response_model=UsageOut)
def unusual_use(la: AuditLa, ctx: Ctx, who: CurrentActor,
                days: Annotated[int, Query(ge=1, le=366)] = 30) -> UsageOut:
    """Users who viewed far more children than their peers, or outside their LA, or searched
    like someone listing children (thresholds from configuration): the LA's own users, and
    anyone who looked at or searched for the LA's children."""
    now = ctx.clock()
    start, end = now - dt.timedelta(days=days), now + dt.timedelta(microseconds=1)  # up to now, inclusive
    with transaction(ctx.engine) as db:
        flags = flag_unusual_use(db, start, end, settings=ctx.access)
        if la is not None:
            ours = set(db.scalars(select(m.Practitioner.user_id).where(m.Practitioner.la == la)))
            ours |= set(db.scalars(
                select(m.AuditEvent.actor).join(m.AuditEventChild, m.AuditEventChild.seq == m.AuditEvent.seq)
                .join(m.Child, m.Child.id == m.AuditEventChild.child_id)
                .where(m.Child.owning_la == la, m.AuditEvent.at >= start, m.AuditEvent.at < end)))
            flags = [f for f in flags if f.actor in ours]
        record(db, who, "read_audit", reason="audit_review", at=now)
    return UsageOut(start=start, end=end, flags=flags)
