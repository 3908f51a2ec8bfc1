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
from collections import Counter, defaultdict
from dataclasses import dataclass, field

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
    """One user's searches in the period."""

    hours: Counter[dt.datetime] = field(default_factory=Counter)
    days: Counter[dt.date] = field(default_factory=Counter)
    shown: set[int] = field(default_factory=set)
    near_misses: int = 0
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


def _searching(session: Session, start: dt.datetime, end: dt.datetime) -> dict[str, _Searching]:
    event, link = m.AuditEvent, m.AuditEventChild
    found: dict[str, _Searching] = defaultdict(_Searching)
    rows = session.execute(
        select(event.seq, event.actor, event.at, event.criteria, event.outcome)
        .where(event.at >= start, event.at < end, event.action == "search")
    ).all()
    for seq, actor, at, criteria, outcome in rows:
        use = found[actor]
        use.hours[at.replace(minute=0, second=0, microsecond=0)] += 1
        use.days[at.date()] += 1
        if outcome == "no_evidence":
            use.near_misses += 1
        given = json.loads(criteria) if criteria else {}
        if given.get("identifier") and (number := _number(given.get("identifier_scheme") or "",
                                                          str(given["identifier"]))) is not None:
            use.numbers.append((at, seq, str(given.get("identifier_scheme")), number))
    for actor, child_id in session.execute(
        select(event.actor, link.child_id).join(link, link.seq == event.seq)
        .where(event.at >= start, event.at < end, event.action == "search", event.outcome == "ok")
    ):
        found[actor].shown.add(child_id)
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
    opened: dict[str, set[int]] = defaultdict(set)
    for actor, child_id in session.execute(
        select(event.actor, link.child_id).join(link, link.seq == event.seq).where(in_period)
    ):
        opened[actor].add(child_id)
    searching = _searching(session, start, end)
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
        per_hour, per_day = max(use.hours.values(), default=0), max(use.days.values(), default=0)
        opened_shown = len(use.shown & opened[actor])
        steps = _steps(use.numbers, settings.unusual_identifier_gap)
        if per_hour > settings.unusual_searches_per_hour:
            reasons.append("searches_per_hour")
        if per_day > settings.unusual_searches_per_day:
            reasons.append("searches_per_day")
        if (len(use.shown) >= settings.unusual_results_unopened
                and opened_shown < settings.unusual_results_opened_share * len(use.shown)):
            reasons.append("results_unopened")
        if steps >= settings.unusual_identifier_runs:
            reasons.append("identifier_sequence")
        if use.near_misses >= settings.unusual_near_misses:
            reasons.append("near_misses")
        if reasons:
            flags.append(UsageFlag(actor, count, float(median), outside.get(actor, 0), tuple(reasons),
                                   searches_max_hour=per_hour, searches_max_day=per_day,
                                   results_shown=len(use.shown), results_opened=opened_shown,
                                   identifier_steps=steps, near_misses=use.near_misses))
    return sorted(flags, key=lambda f: (-f.children_viewed, f.actor))
