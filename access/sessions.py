"""Server-side sessions: short-lived, revocable, ended when idle. The client holds a random
token (secrets.token_urlsafe); the table holds only its SHA-256, so a copy of the database
cannot be used to take over a session."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from access.roles import Capability, Principal, Role
from access.settings import AccessSettings
from access.totp import token_digest
from index import models as m

# A session's last use is written at most this often: every request would otherwise be a write
# transaction (serialised on SQLite) just to move the idle clock; idle expiry is late by at most
# this much.
SEEN_EVERY = dt.timedelta(seconds=30)


class SessionInvalid(Exception):
    """The session cannot be used; `reason` is unknown, revoked, idle or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"session {reason}: please sign in again")
        self.reason = reason


@dataclass(frozen=True)
class NewSession:
    token: str  # give to the client once; never stored
    expires_at: dt.datetime


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def create(session: Session, principal: Principal, *, now: dt.datetime,
           settings: AccessSettings) -> NewSession:
    token = secrets.token_urlsafe(32)
    expires = now + dt.timedelta(hours=settings.session_max_hours)
    session.add(m.AccessSession(
        token_hash=token_digest(token), user_id=principal.user_id, role=principal.role.value,
        la=principal.la, organisation_code=principal.organisation_code,
        capabilities=",".join(sorted(c.value for c in principal.capabilities)),
        created_at=now, last_seen_at=now, expires_at=expires,
    ))
    session.flush()
    return NewSession(token=token, expires_at=expires)


def resolve(session: Session, token: str, *, now: dt.datetime, settings: AccessSettings) -> Principal:
    """The principal of a live session, which is marked as seen now; SessionInvalid otherwise."""
    row = session.scalars(
        select(m.AccessSession).where(m.AccessSession.token_hash == token_digest(token))
    ).one_or_none()
    if row is None:
        raise SessionInvalid("unknown")
    if row.revoked_at is not None:
        raise SessionInvalid("revoked")
    if _utc(row.expires_at) <= now:
        raise SessionInvalid("expired")
    if _utc(row.last_seen_at) + dt.timedelta(minutes=settings.session_idle_minutes) <= now:
        raise SessionInvalid("idle")
    if now - _utc(row.last_seen_at) >= SEEN_EVERY:
        row.last_seen_at = now
        session.flush()
    return Principal(
        user_id=row.user_id, role=Role(row.role), la=row.la,
        organisation_code=row.organisation_code,
        capabilities=frozenset(Capability(c) for c in row.capabilities.split(",") if c),
    )


def revoke(session: Session, token: str, *, now: dt.datetime) -> bool:
    result = session.execute(
        update(m.AccessSession)
        .where(m.AccessSession.token_hash == token_digest(token), m.AccessSession.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False)
    )
    return result.rowcount > 0


def revoke_user(session: Session, user_id: str, *, now: dt.datetime) -> int:
    """End every live session of a user (suspension, lockout, role change); how many."""
    result = session.execute(
        update(m.AccessSession)
        .where(m.AccessSession.user_id == user_id, m.AccessSession.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False)
    )
    return result.rowcount
