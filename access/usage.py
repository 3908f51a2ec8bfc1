"""Unusual use: users who viewed far more children than their peers, looked outside their LA, or
searched like someone listing children rather than finding one.

Computed from the audit trail alone (plus each child's owning LA), for the LA data team and
auditors to review; a flag is a prompt to ask, not a finding. The search flags (thresholds in
AccessSettings, `unusual_*`): many searches in a clock hour or day; many results shown with
hardly any record opened; identifier searches whose numbers follow each other (walking a
number range); many searches that matched children on a date of birth or postcode alone
(outcome `no_evidence`: names tried against a date).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, distinct, func, intersect, select
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
    # "many_children", "outside_la", "searches_per_hour", "searches_per_day", "results_unopened",
    # "identifier_sequence", "near_misses"
    reasons: tuple[str, ...]
    searches_max_hour: int = 0
    searches_max_day: int = 0
    results_shown: int = 0
    results_opened: int = 0
    identifier_steps: int = 0
    near_misses: int = 0


@dataclass
class _Searching:
    """One user's searches in the period, as the database counted them."""

    max_hour: int = 0
    max_day: int = 0
    near_misses: int = 0
    shown: int = 0
    opened_shown: int = 0
    numbers: list[tuple[dt.datetime, int, str, int]] = field(default_factory=list)  # at, seq, scheme, value


_DIGITS = re.compile(r"\d+")


def _number(scheme: str, value: str) -> int | None:
    """The part of an identifier that a walk would step through: its longest run of digits
    (a UPN's serial with its school and year, an NHS number without its check digit...). A
    random child number has none worth stepping."""
    runs = _DIGITS.findall(value or "")
    if not runs:
        return None
    longest = max(runs, key=len)
    if len(longest) < 3:
        return None
    if scheme in {"nhs_number", "uln", "child_number"} and len(longest) == 10:
        longest = longest[:-1]  # the check digit moves with every step
    return int(longest)


def _steps(numbers: list[tuple[dt.datetime, int, str, int]], gap: int) -> int:
    """How many identifier searches came within `gap` of the one before (same scheme), in time order."""
    steps = 0
    last: dict[str, int] = {}
    for _at, _seq, scheme, value in sorted(numbers):
        before = last.get(scheme)
        if before is not None and 0 < abs(value - before) <= gap:
            steps += 1
        last[scheme] = value
    return steps


def _clock(unit: str, at: Any, dialect: str) -> Any:
    """The clock hour or day (UTC) of a stored time, as the database computes it."""
    if dialect == "postgresql":
        return func.date_trunc(unit, func.timezone("UTC", at))
    return func.strftime({"hour": "%Y-%m-%d %H", "day": "%Y-%m-%d"}[unit], at)  # stored as UTC text


def _per_actor(session: Session, query: Any) -> dict[str, int]:
    return {actor: int(n or 0) for actor, n in session.execute(query)}


def _searching(session: Session, start: dt.datetime, end: dt.datetime,
               opened: Any) -> dict[str, _Searching]:
    """Each searching user's counts, aggregated in the database; only identifier searches are
    read row by row (their numbers are parsed here: `_number`). `opened`: (actor, child_id) of
    the period's record views."""
    event, link = m.AuditEvent, m.AuditEventChild
    searches = (event.at >= start) & (event.at < end) & (event.action == "search")
    dialect = session.get_bind().dialect.name
    found: dict[str, _Searching] = defaultdict(_Searching)
    for actor, near_misses in session.execute(
        select(event.actor, func.sum(case((event.outcome == "no_evidence", 1), else_=0)))
        .where(searches).group_by(event.actor)
    ):
        found[actor].near_misses = int(near_misses or 0)
    for unit in ("hour", "day"):
        bucket = _clock(unit, event.at, dialect).label("bucket")
        per_bucket = (select(event.actor, func.count().label("n")).where(searches)
                      .group_by(event.actor, bucket).subquery())
        for actor, most in _per_actor(session, select(per_bucket.c.actor, func.max(per_bucket.c.n))
                                      .group_by(per_bucket.c.actor)).items():
            setattr(found[actor], f"max_{unit}", most)
    shown = (select(event.actor, link.child_id).join(link, link.seq == event.seq)
             .where(searches, event.outcome == "ok"))
    pairs = shown.distinct().subquery()
    for actor, n in _per_actor(session, select(pairs.c.actor, func.count()).group_by(pairs.c.actor)).items():
        found[actor].shown = n
    both = intersect(shown, opened).subquery()  # children shown to the user that they opened
    for actor, n in _per_actor(session, select(both.c.actor, func.count()).group_by(both.c.actor)).items():
        found[actor].opened_shown = n
    # Canonical JSON (access.audit.filter_criteria): `"identifier":` only where one was given.
    for seq, actor, at, criteria in session.execute(
        select(event.seq, event.actor, event.at, event.criteria)
        .where(searches, event.criteria.like('%"identifier":%'))
    ):
        given = json.loads(criteria)
        if given.get("identifier") and (number := _number(given.get("identifier_scheme") or "",
                                                          str(given["identifier"]))) is not None:
            found[actor].numbers.append((at, seq, str(given.get("identifier_scheme")), number))
    return found


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
    opened = select(event.actor, link.child_id).join(link, link.seq == event.seq).where(in_period)
    searching = _searching(session, start, end, opened)
    flags = []
    for actor in sorted(set(viewed) | set(outside) | set(searching)):
        count = viewed.get(actor, 0)
        peers = [n for other, n in viewed.items() if other != actor]
        median = statistics.median(peers) if peers else 0.0
        reasons = []
        if count >= settings.unusual_use_min_children and count > settings.unusual_use_factor * median:
            reasons.append("many_children")
        if outside.get(actor, 0) > 0:
            reasons.append("outside_la")
        use = searching.get(actor, _Searching())
        per_hour, per_day, opened_shown = use.max_hour, use.max_day, use.opened_shown
        steps = _steps(use.numbers, settings.unusual_identifier_gap)
        if per_hour > settings.unusual_searches_per_hour:
            reasons.append("searches_per_hour")
        if per_day > settings.unusual_searches_per_day:
            reasons.append("searches_per_day")
        if (use.shown >= settings.unusual_results_unopened
                and opened_shown < settings.unusual_results_opened_share * use.shown):
            reasons.append("results_unopened")
        if steps >= settings.unusual_identifier_runs:
            reasons.append("identifier_sequence")
        if use.near_misses >= settings.unusual_near_misses:
            reasons.append("near_misses")
        if reasons:
            flags.append(UsageFlag(actor, count, float(median), outside.get(actor, 0), tuple(reasons),
                                   searches_max_hour=per_hour, searches_max_day=per_day,
                                   results_shown=use.shown, results_opened=opened_shown,
                                   identifier_steps=steps, near_misses=use.near_misses))
    return sorted(flags, key=lambda f: (-f.children_viewed, f.actor))
