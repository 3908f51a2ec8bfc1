"""A practitioner opens a record they found: a child's record is opened from the user's own search
results, or by a practitioner whose service works with the child.

Child ids are sequential, so without this rule `GET /children/{id}` walks every record in order,
no search needed (the hole of serial child numbers, one step further in). The audit trail
already holds which children each search showed to whom, so it is the evidence; the window is
configuration (CHILDINDEX_ACCESS_FOUND_WINDOW_HOURS).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from access.roles import Principal, Role
from index import models as m

# Roles that must have found a child before they open its record. The LA data team keeps its
# own LA's records (it opens them from review queues and lists), so it is not among them.
FIND_FIRST: frozenset[Role] = frozenset({Role.PRACTITIONER})


_EVENT, _LINK, _INVOLVEMENT = (m.AuditEvent.__table__.c, m.AuditEventChild.__table__.c,
                                 m.Involvement.__table__.c)
# Built once (every record view asks): a search of the user's in the window that showed the
# child, read from the window of the index on (actor, action, at) rather than all their history;
# or their own service's involvement with the child, by code or else by name.
_SHOWN = (select(_EVENT.seq).join(m.AuditEventChild.__table__, _LINK.seq == _EVENT.seq)
          .where(_EVENT.actor == bindparam("actor"), _EVENT.action == "search", _EVENT.outcome == "ok",
                 _EVENT.at >= bindparam("since"), _LINK.child_id == bindparam("child_id"))
          .limit(1))
_INVOLVED = {
    by: select(_INVOLVEMENT.id).where(_INVOLVEMENT.child_id == bindparam("child_id"),
                                      column == bindparam("organisation")).limit(1)
    for by, column in (("code", _INVOLVEMENT.organisation_code), ("name", _INVOLVEMENT.organisation_name))
}


def found(session: Session, principal: Principal, child_id: int, now: dt.datetime, *, window: dt.timedelta,
          organisation_code: str | None, organisation: str | None) -> bool:
    """May this user open this child's record: not bound by the rule, a search of theirs showed
    the child within `window`, or their own service's involvement with the child is recorded."""
    if principal.role not in FIND_FIRST:
        return True
    conn = session.connection()
    shown = conn.execute(_SHOWN, {"actor": principal.user_id, "since": now - window,
                                  "child_id": child_id}).scalar()
    if shown is not None:
        return True
    by, organisation = ("code", organisation_code) if organisation_code else ("name", organisation)
    involved = conn.execute(_INVOLVED[by], {"child_id": child_id, "organisation": organisation}).scalar()
    return involved is not None


__all__ = ["FIND_FIRST", "found"]
