"""The request's checks as FastAPI dependencies, declared once and attached to routers.

Order on every authenticated request: the session (`actor`: access.authorise, which also checks
the practitioner register, so a lapse or suspension ends access at once), then the role's
permission (`permission(...)`, attached to each router), then the scope (`child_scope`,
`la_scope`, `school_scope`, `review_scope`, `involvement_scope`, attached to each route that
acts on something owned by an LA or a school). Handlers never repeat them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, HTTPException, Path, Request
from pydantic import AfterValidator
from sqlalchemy import select
from sqlalchemy.orm import Session

from access import Event, Forbidden, Permission, Principal, SessionInvalid, audit, authorise_with_entry
from access.found import FIND_FIRST, found
from access.identity import canonical_username
from access.rate_limits import RATE_LIMITED, RateLimited, check_rate
from access.reasons import check_reason
from access.roles import Scope
from api.context import Context
from api.errors import SESSION_COOKIE
from index import models as m
from index.store import transaction
from index.vocabulary import ServiceType
from matching import merged_into


def context(request: Request) -> Context:
    ctx: Context = request.app.state.context
    ctx.configuration.refresh(ctx.engine)  # the administrator's changes, made on any worker
    return ctx


Ctx = Annotated[Context, Depends(context)]


def session_token(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The bearer token, or the session cookie; 401 if neither."""
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie
    raise SessionInvalid("missing")


@dataclass(frozen=True)
class Actor:
    """The signed-in user of this request, with their register organisation."""

    principal: Principal
    token: str
    organisation: str
    organisation_code: str | None
    service_type: ServiceType | None = None

    @property
    def user_id(self) -> str:
        return self.principal.user_id


def actor(ctx: Ctx, token: Annotated[str, Depends(session_token)]) -> Actor:
    with transaction(ctx.engine) as db:
        principal, entry = authorise_with_entry(db, token, settings=ctx.access, now=ctx.clock())
    return Actor(principal, token, entry.organisation, entry.organisation_code, entry.service_type)


CurrentActor = Annotated[Actor, Depends(actor)]


# The audit action under which a refused use of each permission is recorded.
REFUSED_ACTION: dict[Permission, str] = {
    Permission.SEARCH: "search", Permission.VIEW_RECORD: "view_record",
    Permission.RECORD_INVOLVEMENT: "record_involvement", Permission.REVIEW_QUEUE: "read_review",
    Permission.SHIELD: "shield", Permission.MANAGE_REGISTER: "register_change",
    Permission.ISSUE_ENROLMENT: "enrolment_issued", Permission.READ_AUDIT: "read_audit",
    Permission.UPLOAD_SUBMISSION: "upload_submission", Permission.UPLOAD_FEED: "upload_submission",
    Permission.UNLOCK: "unlock",
    Permission.CONFIGURE: "configure", Permission.SHIELD_OVERRIDE: "shield_override",
    Permission.READ_RUNS: "read_runs", Permission.SUBJECT_ACCESS: "subject_access",
    Permission.TRANSFER: "transfer",
}


def refused(ctx: Context, who: Actor, needed: Permission, exc: Forbidden,
            child_ids: Iterable[int] = (), reason: str | None = None) -> Forbidden:
    """Record a refused attempt in the trail (its own transaction: the action never happens)."""
    with transaction(ctx.engine) as db:
        record(db, who, REFUSED_ACTION[needed], reason=reason, outcome="forbidden", child_ids=child_ids,
               at=ctx.clock())
    return exc


def require_reason(ctx: Context, who: Actor, needed: Permission, reason: str,
                   child_ids: Iterable[int] = ()) -> None:
    """Refuse (403, audited with the reason given) a reason the actor's role may not give."""
    try:
        check_reason(who.principal, reason)
    except Forbidden as exc:
        raise refused(ctx, who, needed, exc, child_ids, reason=reason) from None


def within_rate(ctx: Context, who: Actor, action: str) -> None:
    """Refuse (429) and audit an action beyond the user's rate limit (access.rate_limits)."""
    now = ctx.clock()
    with transaction(ctx.engine) as db:
        try:
            check_rate(db, who.user_id, action, now, settings=ctx.access)
            return
        except RateLimited as exc:
            record(db, who, action, outcome=RATE_LIMITED, at=now)
            refusal = exc
    raise refusal


def require_scope(ctx: Context, who: Actor, needed: Permission, *, la: str | None = None,
             school: str | None = None, child_ids: Iterable[int] = ()) -> None:
    try:
        who.principal.require(needed, la=la, school=school)
    except Forbidden as exc:
        raise refused(ctx, who, needed, exc, child_ids) from None


def permission(needed: Permission) -> Callable[..., None]:
    """A router dependency: the role (or a capability) grants `needed` at all."""

    def check(ctx: Ctx, who: CurrentActor) -> None:
        if needed not in who.principal.grants():
            exc = Forbidden(f"role {who.principal.role.value} may not {needed.value}")
            raise refused(ctx, who, needed, exc)

    return check


def requires(*needed: Permission) -> list[Any]:
    return [Depends(permission(p)) for p in needed]


@dataclass(frozen=True)
class ChildRef:
    id: int
    owning_la: str
    shielded: bool


def _child_ref(ctx: Context, child_id: int, who: Actor | None = None, needed: Permission | None = None,
               request: Request | None = None) -> ChildRef:
    with transaction(ctx.engine) as db:
        row = db.execute(select(m.Child.owning_la, m.Child.shielded).where(m.Child.id == child_id)).first()
        went = merged_to(db, child_id, who, needed) if row is None else None
    if row is None and went is not None and request is not None:
        # A merged-away child answers with where it went, for a caller who may see that child.
        path = request.url.path.replace(f"/{child_id}", f"/{went}", 1)
        raise HTTPException(308, {"message": "this child was merged into another record",
                                  "merged_into": went}, headers={"Location": path})
    if row is None:
        raise absent(ctx, who, needed, "child", [child_id])
    return ChildRef(child_id, row.owning_la, row.shielded)


def absent(ctx: Context, who: Actor | None, needed: Permission | None, what: str,
           child_ids: Iterable[int] = ()) -> Exception:
    """The answer for an id that names nothing: to a user whose scope is narrower than
    everything, the refusal an id outside their scope gets (403, audited), so that an answer
    never says whether an id exists elsewhere; to everyone else 404."""
    if who is not None and needed is not None and who.principal.grants().get(needed) not in (None, Scope.ALL):
        try:
            who.principal.require(needed, la=None, school=None)
        except Forbidden as exc:
            return refused(ctx, who, needed, exc, child_ids)
    return HTTPException(404, f"no {what} with that id")


def merged_to(db: Session, child_id: int, who: Actor | None, needed: Permission | None) -> int | None:
    """The child a merged-away id lives on in, if `who` may see it for `needed` (else None:
    a caller outside its scope learns nothing, as for any unknown id)."""
    went = merged_into(db, child_id)
    if went is None or who is None or needed is None:
        return None
    la = db.scalar(select(m.Child.owning_la).where(m.Child.id == went))
    try:
        who.principal.require(needed, la=la)
    except Forbidden:
        return None
    return went


ChildId = Annotated[int, Path(ge=1, le=2**31 - 1)]
# A user named in a path, in the one canonical form the register, lockouts and the trail use.
UserId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$"),
                   AfterValidator(canonical_username)]


def child_scope(needed: Permission) -> Callable[..., ChildRef]:
    """A route dependency: the child exists and is within the actor's scope for `needed`."""

    def check(ctx: Ctx, who: CurrentActor, child_id: ChildId, request: Request) -> ChildRef:
        if needed in FOUND_FIRST:
            must_have_found(ctx, who, child_id, needed)
        child = _child_ref(ctx, child_id, who, needed, request)
        require_scope(ctx, who, needed, la=child.owning_la, child_ids=[child.id])
        return child

    return check


# What a practitioner may do only to a child they found (access.found).
FOUND_FIRST: frozenset[Permission] = frozenset({
    Permission.VIEW_RECORD, Permission.RECORD_INVOLVEMENT, Permission.SHIELD_OVERRIDE})
SEARCH_FIRST = "open a child's record from your own search results: search for the child first"


def must_have_found(ctx: Context, who: Actor, child_id: int, needed: Permission) -> None:
    """Refuse (403, audited) a practitioner acting on a child none of their searches showed and
    their service does not work with: before anything else is looked at, so that an id that does
    not exist, an archived or merged-away one and one not found all get this one answer, and
    no route says whether an id exists or is shielded (or lets an involvement recorded on an
    unfound child open its record)."""
    if who.principal.role not in FIND_FIRST:
        return
    with transaction(ctx.engine) as db:
        ok = found(db, who.principal, child_id, ctx.clock(),
                   window=dt.timedelta(hours=ctx.access.found_window_hours),
                   organisation_code=who.organisation_code, organisation=who.organisation)
    if not ok:
        raise refused(ctx, who, needed, Forbidden(SEARCH_FIRST), [child_id])


def la_scope(needed: Permission) -> Callable[..., str | None]:
    """A route dependency for LA-wide lists: the actor's own LA (None: every LA, auditors)."""

    def check(ctx: Ctx, who: CurrentActor) -> str | None:
        require_scope(ctx, who, needed, la=who.principal.la)
        return None if who.principal.grants()[needed] is Scope.ALL else who.principal.la

    return check


LaEstab = Annotated[str, Path(pattern=r"^\d{7}$", description="the school's LAEstab")]


def school_scope(needed: Permission) -> Callable[..., str]:
    def check(ctx: Ctx, who: CurrentActor, laestab: LaEstab) -> str:
        require_scope(ctx, who, needed, school=laestab)
        return laestab

    return check


def review_scope(needed: Permission) -> Callable[..., int]:
    def check(ctx: Ctx, who: CurrentActor, review_id: ChildId) -> int:
        with transaction(ctx.engine) as db:
            la = db.scalar(select(m.MatchReview.owning_la).where(m.MatchReview.id == review_id))
        if la is None:
            raise absent(ctx, who, needed, "review item")
        require_scope(ctx, who, needed, la=la)
        return review_id

    return check


def merge_scope(needed: Permission) -> Callable[..., int]:
    def check(ctx: Ctx, who: CurrentActor, merge_id: ChildId) -> int:
        with transaction(ctx.engine) as db:
            la = db.scalar(select(m.ChildMerge.merged_owning_la).where(m.ChildMerge.id == merge_id))
        if la is None:
            raise absent(ctx, who, needed, "merge")
        require_scope(ctx, who, needed, la=la)
        return merge_id

    return check


@dataclass(frozen=True)
class InvolvementRef:
    id: int
    child_id: int
    owning_la: str


def involvement_scope(needed: Permission) -> Callable[..., InvolvementRef]:
    """The involvement exists, its child is in scope, and it is the actor's own service's."""

    def check(ctx: Ctx, who: CurrentActor, involvement_id: ChildId) -> InvolvementRef:
        with transaction(ctx.engine) as db:
            row = db.execute(
                select(m.Involvement.child_id, m.Involvement.organisation_name,
                       m.Involvement.organisation_code, m.Child.owning_la)
                .join(m.Child, m.Child.id == m.Involvement.child_id)
                .where(m.Involvement.id == involvement_id)
            ).first()
        not_own = Forbidden("only the service that recorded an involvement may change it")
        if row is None:  # the same answer as another service's: ids are sequential
            raise refused(ctx, who, needed, not_own)
        require_scope(ctx, who, needed, la=row.owning_la, child_ids=[row.child_id])
        by_code = bool(who.organisation_code and row.organisation_code)
        own = (row.organisation_code == who.organisation_code if by_code
               else row.organisation_name == who.organisation)
        if not own:
            raise refused(ctx, who, needed, not_own, [row.child_id])
        return InvolvementRef(involvement_id, row.child_id, row.owning_la)

    return check


def record(db: Session, who: Actor, action: str, *, reason: str | None = None,
           child_ids: Iterable[int] = (), criteria: Mapping[str, Any] | None = None,
           outcome: str = "ok", subject_user: str | None = None, at: dt.datetime | None = None) -> int:
    """Write the audit entry of an action, in the action's own transaction; its sequence number."""
    p = who.principal
    seq, _ = audit.append(db, Event(
        actor=p.user_id, action=action, reason=reason, child_ids=tuple(child_ids), criteria=criteria,
        outcome=outcome, actor_role=p.role.value, actor_la=p.la, subject_user=subject_user, at=at))
    return seq
