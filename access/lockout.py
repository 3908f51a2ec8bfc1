"""Lockout after repeated failures of either sign-in step, and an administrator's unlock.

Two kinds of count share the table: one per canonical user name (access.identity), reset by a
success, and one per client address (`identity.client_key`), which a success does not reset (an
attacker with one good account must not be able to clear the count of their address) but which
forgets failures older than the lock's length, so an office behind one address is not locked by
a slow trickle of typing mistakes over weeks.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from access.settings import AccessSettings
from index import models as m


class LockedOut(Exception):
    """Too many failed attempts; the message says until when and who can help."""

    def __init__(self, until: dt.datetime) -> None:
        super().__init__(
            f"account locked after repeated failed sign-in attempts, until "
            f"{until.strftime('%Y-%m-%d %H:%M')} UTC; an administrator can unlock it sooner"
        )
        self.until = until


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def _row(session: Session, user_id: str) -> m.AccessLockout | None:
    return session.scalars(
        select(m.AccessLockout).where(m.AccessLockout.user_id == user_id).with_for_update()
    ).one_or_none()


def locked_until(session: Session, user_id: str, now: dt.datetime) -> dt.datetime | None:
    row = session.get(m.AccessLockout, user_id)
    if row is None or row.locked_until is None:
        return None
    until = _utc(row.locked_until)
    return until if until > now else None


def check_not_locked(session: Session, user_id: str, now: dt.datetime) -> None:
    until = locked_until(session, user_id, now)
    if until is not None:
        raise LockedOut(until)


def record_failure(session: Session, user_id: str, *, now: dt.datetime,
                   settings: AccessSettings, client: bool = False) -> dt.datetime | None:
    """Count a failed attempt of a user name (or, `client`, of a client address key); when this
    one reaches the threshold, the lock's end time."""
    threshold = settings.client_lockout_threshold if client else settings.lockout_threshold
    window = dt.timedelta(minutes=settings.lockout_minutes)
    row = _row(session, user_id)
    if row is None:
        row = m.AccessLockout(user_id=user_id, failures=0)
        session.add(row)
    if row.locked_until is not None and _utc(row.locked_until) <= now:
        row.failures, row.locked_until = 0, None  # an expired lock starts a fresh count
    elif (client and row.locked_until is None and row.last_failure_at is not None
          and _utc(row.last_failure_at) + window <= now):
        row.failures = 0  # a client's old failures are forgotten
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= threshold and row.locked_until is None:
        row.locked_until = now + dt.timedelta(minutes=settings.lockout_minutes)
        session.flush()
        return _utc(row.locked_until)
    session.flush()
    return None


def record_success(session: Session, user_id: str) -> None:
    row = _row(session, user_id)
    if row is not None:
        row.failures, row.locked_until = 0, None
        session.flush()


def clear(session: Session, user_id: str) -> bool:
    """Remove a lock and the failure count; whether there was anything to clear."""
    row = _row(session, user_id)
    if row is None or (row.failures == 0 and row.locked_until is None):
        return False
    row.failures, row.locked_until = 0, None
    session.flush()
    return True
