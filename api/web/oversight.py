"""Oversight pages (auditors: everything, read-only; an LA data team: its own LA): the audit
trail by period, by child and by user, a page at a time; verifying the trail; access
notifications; shield-override investigations; unusual-use flags. Each calls api.oversight's own
function behind its dependencies, so every read is scoped and audited as in the API."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from access import Permission
from api import oversight as api_oversight
from api.deps import Ctx, CurrentActor, requires
from api.web.forms import date_from
from api.web.pages import Checked, SignedIn, redirect, render
from index import models as m
from index.store import transaction

P = Permission
router = APIRouter(include_in_schema=False, dependencies=[*SignedIn, *requires(P.READ_AUDIT)])
PAGE = 50
USER_ID = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")  # as api.oversight's UserId


@router.get("/oversight")
def oversight(request: Request, who: CurrentActor) -> Response:
    return render(request, "oversight.html", may_close=P.SHIELD in who.principal.grants(), values={})


@router.get("/oversight/trail")
def trail(request: Request, la: api_oversight.AuditLa, ctx: Ctx, who: CurrentActor,
          after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> Response:
    entries = api_oversight.trail(la, ctx, who, after=after, limit=PAGE).entries
    following = entries[-1].seq if len(entries) == PAGE else None
    return render(request, "trail.html", title="The audit trail", entries=entries, after=after,
                  following=following)


@router.post("/oversight/trail", dependencies=[Checked])
def trail_from(request: Request, ctx: Ctx, who: CurrentActor,
               from_day: Annotated[str, Form(alias="from-day", max_length=10)] = "",
               from_month: Annotated[str, Form(alias="from-month", max_length=10)] = "",
               from_year: Annotated[str, Form(alias="from-year", max_length=10)] = "") -> Response:
    """The trail from a date: the page that starts with the first entry on or after it."""
    start = date_from(from_day, from_month, from_year)
    if not isinstance(start, dt.date):
        return render(request, "oversight.html", status=400, may_close=P.SHIELD in who.principal.grants(),
                      values={}, errors={"from-day": "Enter the date to start from, like 2 3 2026"})
    with transaction(ctx.engine) as db:
        first = db.scalar(select(func.min(m.AuditEvent.seq)).where(
            m.AuditEvent.at >= dt.datetime.combine(start, dt.time(), dt.UTC)))
    return redirect(f"/oversight/trail?after={max((first or 2**31 - 1) - 1, 0)}")


@router.get("/oversight/child/{child_id}")
def child_trail(request: Request, child: api_oversight.AuditedChild, ctx: Ctx, who: CurrentActor) -> Response:
    entries = api_oversight.who_looked(child, ctx, who).entries
    return render(request, "trail.html", title=f"Who looked at child {child.id}", entries=entries)


@router.post("/oversight/user", dependencies=[Checked])
def user_trail(request: Request, ctx: Ctx, who: CurrentActor,
               user_id: Annotated[str, Form(max_length=64)] = "") -> Response:
    """A user's name goes in the form, not the address."""
    if not USER_ID.fullmatch(user_id.strip()):
        return render(request, "oversight.html", status=400, may_close=P.SHIELD in who.principal.grants(),
                      values={"user_id": user_id},
                      errors={"user-id": "Enter a user name: letters, digits, dots, @ and hyphens"})
    entries = api_oversight.what_looked(user_id.strip(), ctx, who).entries
    return render(request, "trail.html", title=f"What {user_id.strip()} looked at", entries=entries)


@router.post("/oversight/verify", dependencies=[Checked])
def verify(request: Request, ctx: Ctx, who: CurrentActor) -> Response:
    result = api_oversight.verify_trail(ctx, who)
    return render(request, "verified.html", result=result)


@router.get("/oversight/notifications")
def notifications(request: Request, la: api_oversight.AuditLa, ctx: Ctx, who: CurrentActor) -> Response:
    shielded = api_oversight.shielded_notifications(la, ctx, who, after=0, limit=100).accesses
    recent = api_oversight.recent_accesses(la, ctx, who, limit=50).accesses
    return render(request, "notifications.html", shielded=list(reversed(shielded)), recent=recent)


@router.get("/oversight/investigations")
def investigations(request: Request, la: api_oversight.AuditLa, ctx: Ctx, who: CurrentActor,
                   done: bool = False) -> Response:
    found = api_oversight.investigations(la, ctx, who, include_closed=True, limit=100).investigations
    return render(request, "investigations.html", investigations=found,
                  may_close=P.SHIELD in who.principal.grants(),
                  banner="The investigation was closed." if done else None, banner_success=done)


@router.post("/oversight/investigations/{investigation_id}/close",
             dependencies=[Checked, *requires(P.SHIELD)])
def close(investigation_id: api_oversight.InvestigationId, ctx: Ctx, who: CurrentActor) -> Response:
    api_oversight.close_investigation(investigation_id, ctx, who)
    return redirect("/oversight/investigations?done=true")


@router.get("/oversight/usage")
def usage(request: Request, la: api_oversight.AuditLa, ctx: Ctx, who: CurrentActor) -> Response:
    found = api_oversight.unusual_use(la, ctx, who, days=30)
    return render(request, "usage.html", usage=found)
