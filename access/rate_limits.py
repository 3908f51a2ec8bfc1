"""Per-user rate limits on searches and record views, counted from the audit trail.

The trail already holds every search and view with its user and time, in the same transaction
as the action, so it is the counter: whichever process or worker serves the request, and after a
restart, the count is the same. A refused attempt is itself audited (outcome `rate_limited`) but
not counted, so a user who keeps trying is let in again once the window has passed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, literal, select
from sqlalchemy.orm import Session

from access.settings import AccessSettings
from index import models as m

RATE_LIMITED = "rate_limited"

# (audited action, window, the AccessSettings field giving the most allowed in it).
RATE_LIMITS: tuple[tuple[str, dt.timedelta, str], ...] = (
    ("search", dt.timedelta(minutes=1), "search_limit_per_minute"),
    ("search", dt.timedelta(hours=1), "search_limit_per_hour"),
    ("search", dt.timedelta(days=1), "search_limit_per_day"),
    ("view_record", dt.timedelta(minutes=1), "view_limit_per_minute"),
    ("view_record", dt.timedelta(hours=1), "view_limit_per_hour"),
    ("view_record", dt.timedelta(days=1), "view_limit_per_day"),
)
_WINDOW_WORDS = {dt.timedelta(minutes=1): "minute", dt.timedelta(hours=1): "hour",
                 dt.timedelta(days=1): "day"}


@dataclass
class RateLimited(Exception):
    """Too many of one action by one user: the API answers 429 with this message."""

    action: str
    limit: int
    window: dt.timedelta
    retry_after: int  # seconds

    def __str__(self) -> str:
        what = {"search": "searches", "view_record": "record views"}.get(self.action, self.action)
        return (f"too many {what}: at most {self.limit} a {_WINDOW_WORDS.get(self.window, 'period')}; "
                f"try again in {self.retry_after} seconds. If your work needs more, ask your LA data team")


_EVENTS = m.AuditEvent.__table__


def _counted(window: int) -> Any:
    """How many of the user's entries of the action fall in window `window` (bound parameters
    `since{window}`, `limit{window}`), counting at most the limit: reaching it is all that is
    asked, so a request never reads more than the limits' sum of index entries, whatever the
    user's history (the index ix_audit_events_actor_action_at holds every column read)."""
    event = _EVENTS.c
    recent = (select(literal(1))
              .where(event.actor == bindparam("actor"), event.action == bindparam("action"),
                     event.at >= bindparam(f"since{window}"), event.outcome != RATE_LIMITED)
              .limit(bindparam(f"limit{window}")).subquery())
    return select(func.count()).select_from(recent).scalar_subquery()


# Built once: one statement a request, each window's count a bounded subquery of it.
_WINDOWS_OF: dict[str, tuple[tuple[dt.timedelta, str], ...]] = {
    action: tuple((window, name) for act, window, name in RATE_LIMITS if act == action)
    for action in dict.fromkeys(act for act, _, _ in RATE_LIMITS)
}
_COUNTS = {action: select(*[_counted(i) for i in range(len(windows))])
           for action, windows in _WINDOWS_OF.items()}
_OLDEST = (select(func.min(_EVENTS.c.at))
           .where(_EVENTS.c.actor == bindparam("actor"), _EVENTS.c.action == bindparam("action"),
                  _EVENTS.c.at >= bindparam("since"), _EVENTS.c.outcome != RATE_LIMITED))


def check_rate(session: Session, user_id: str, action: str, now: dt.datetime, *,
               settings: AccessSettings) -> None:
    """Raise RateLimited if `user_id` has reached any limit on `action` (counting ok and other
    outcomes, not earlier refusals for the rate itself)."""
    windows = _WINDOWS_OF.get(action)
    if not windows:
        return
    limits = [(window, getattr(settings, name)) for window, name in windows]
    params: dict[str, Any] = {"actor": user_id, "action": action}
    for i, (window, limit) in enumerate(limits):
        params |= {f"since{i}": now - window, f"limit{i}": limit}
    conn = session.connection()
    counts = conn.execute(_COUNTS[action], params).one()
    for (window, limit), count in zip(limits, counts, strict=True):
        if count >= limit:
            oldest = conn.execute(_OLDEST, {"actor": user_id, "action": action,
                                            "since": now - window}).scalar()
            retry = window - (now - _aware(oldest)) if oldest is not None else window
            raise RateLimited(action, limit, window, max(1, int(retry.total_seconds()) + 1))


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes (stored as UTC).
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


__all__ = ["RATE_LIMITED", "RATE_LIMITS", "RateLimited", "check_rate"]
