"""A practitioner opens a record they found: a child's record is opened from the user's own search
results, or by a practitioner whose service works with the child.

Child ids are sequential, so without this rule `GET /children/{id}` walks every record in order,
no search needed (the hole of serial child numbers, one step further in). The audit trail
already holds which children each search showed to whom, so it is the evidence; the window is
configuration (CHILDINDEX_ACCESS_FOUND_WINDOW_HOURS).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.roles import Principal, Role
from index import models as m

# Roles that must have found a child before they open its record. The LA data team keeps its
# own LA's records (it opens them from review queues and lists), so it is not among them.
FIND_FIRST: frozenset[Role] = frozenset({Role.PRACTITIONER})


def found(session: Session, principal: Principal, child_id: int, now: dt.datetime, *, window: dt.timedelta,
          organisation_code: str | None, organisation: str | None) -> bool:
    """May this user open this child's record: not bound by the rule, a search of theirs showed
    the child within `window`, or their own service's involvement with the child is recorded."""
    if principal.role not in FIND_FIRST:
        return True
    event, link = m.AuditEvent, m.AuditEventChild
    shown = session.scalar(
        select(event.seq).join(link, link.seq == event.seq)
        .where(event.actor == principal.user_id, event.action == "search", event.outcome == "ok",
               event.at >= now - window, link.child_id == child_id)
        .limit(1))
    if shown is not None:
        return True
    own = m.Involvement.organisation_code == organisation_code if organisation_code else (
        m.Involvement.organisation_name == organisation)
    return session.scalar(
        select(m.Involvement.id).where(m.Involvement.child_id == child_id, own).limit(1)) is not None


__all__ = ["FIND_FIRST", "found"]
