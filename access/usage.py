"""Unusual use: users who viewed far more children than their peers, or looked outside their LA.

Computed from the audit trail alone (plus each child's owning LA), for the LA data team and
auditors to review; a flag is a prompt to ask, not a finding.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from access.settings import AccessSettings
from index import models as m

VIEW_ACTIONS = ("view_record", "shield_override")


@dataclass(frozen=True)
class UsageFlag:
    actor: str
    children_viewed: int
    peer_median: float
    outside_la_views: int
    reasons: tuple[str, ...]  # "many_children", "outside_la"


def flag_unusual_use(session: Session, start: dt.datetime, end: dt.datetime, *,
                     settings: AccessSettings) -> list[UsageFlag]:
    """Flags for the period [start, end), most children viewed first."""
    event, link = m.AuditEvent, m.AuditEventChild
    in_period = (event.at >= start) & (event.at < end) & event.action.in_(VIEW_ACTIONS) \
        & (event.outcome == "ok")
    viewed: dict[str, int] = dict(session.execute(  # type: ignore[arg-type]
        select(event.actor, func.count(distinct(link.child_id)))
        .join(link, link.seq == event.seq).where(in_period).group_by(event.actor)
    ).all())
    outside: dict[str, int] = dict(session.execute(  # type: ignore[arg-type]
        select(event.actor, func.count(distinct(link.child_id)))
        .join(link, link.seq == event.seq).join(m.Child, m.Child.id == link.child_id)
        .where(in_period, event.actor_la.is_not(None), m.Child.owning_la != event.actor_la)
        .group_by(event.actor)
    ).all())
    flags = []
    for actor in sorted(set(viewed) | set(outside)):
        count = viewed.get(actor, 0)
        peers = [n for other, n in viewed.items() if other != actor]
        median = statistics.median(peers) if peers else 0.0
        reasons = []
        if count >= settings.unusual_use_min_children and count > settings.unusual_use_factor * median:
            reasons.append("many_children")
        if outside.get(actor, 0) > 0:
            reasons.append("outside_la")
        if reasons:
            flags.append(UsageFlag(actor, count, float(median), outside.get(actor, 0), tuple(reasons)))
    return sorted(flags, key=lambda f: (-f.children_viewed, f.actor))
