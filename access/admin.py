"""Administrative actions on access: permission-checked, audited, in the caller's transaction.

The API calls these with the signed-in principal; each checks the role table (with its LA
scope) and writes its audit entry in the same transaction as the change.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from access import audit, lockout, sessions, totp
from access.duties import check_duties, check_school_of_la
from access.identity import canonical_username
from access.reasons import RegisterChange
from access.register import RegisterEntry, get_entry, save_entry
from access.roles import Forbidden, Permission, Principal, Role
from access.settings import AccessSettings


class NotRegistered(LookupError):
    """The user acted upon is not on the practitioner register."""


def _target(session: Session, user_id: str) -> RegisterEntry:
    entry = get_entry(session, user_id)
    if entry is None:
        raise NotRegistered("that user is not on the practitioner register")
    return entry


def _record(session: Session, actor: Principal, action: str, subject: str, now: dt.datetime,
            outcome: str = "ok", reason: str = "administration") -> None:
    audit.append(session, audit.Event(
        actor=actor.user_id, actor_role=actor.role.value, actor_la=actor.la, action=action,
        subject_user=subject, reason=reason, outcome=outcome, at=now,
    ))


def issue_enrolment(session: Session, actor: Principal, user_id: str, *, now: dt.datetime,
                    settings: AccessSettings) -> str:
    """A one-time enrolment token for a registered user of the administrator's own LA."""
    entry = _target(session, user_id)
    actor.require(Permission.ISSUE_ENROLMENT, la=entry.la)
    check_duties(actor, entry.user_id, [entry.role], "issue an enrolment token")
    token = totp.issue_token(session, entry.user_id, issued_by=actor.user_id, now=now, settings=settings)
    _record(session, actor, "enrolment_issued", entry.user_id, now)
    return token


def unlock(session: Session, actor: Principal, user_id: str, *, now: dt.datetime) -> bool:
    """Lift a lockout early; whether the user was locked or had failures."""
    entry = _target(session, user_id)
    actor.require(Permission.UNLOCK, la=entry.la)
    check_duties(actor, entry.user_id, [entry.role], "lift a lock")
    cleared = lockout.clear(session, canonical_username(entry.user_id))
    _record(session, actor, "unlock", entry.user_id, now, "ok" if cleared else "not_found")
    return cleared


def save_register_entry(session: Session, actor: Principal, entry: RegisterEntry, *,
                        why: RegisterChange, now: dt.datetime) -> None:
    """Add or change a register entry, saying why (the audit entry's reason, which the owning
    LA reads in its register changes). Nobody changes their own entry, and an auditor's,
    administrator's or operator's only an administrator (access.duties). A suspension or change
    of role, LA or organisation code (a school) ends the user's live sessions at once."""
    actor.require(Permission.MANAGE_REGISTER, la=entry.la)
    before = get_entry(session, entry.user_id)
    moving = before is not None and before.la != entry.la
    if moving and not actor.can(Permission.MANAGE_REGISTER, la=before.la):
        raise Forbidden("may not move a practitioner from another LA's register")
    roles = [entry.role] + ([before.role] if before is not None else [])
    check_duties(actor, entry.user_id, roles, "change a register entry")
    check_school_of_la(entry.role, entry.la, entry.organisation_code)
    save_entry(session, entry)
    moved_school = entry.role is Role.SCHOOL_SUBMITTER and before is not None and (
        before.organisation_code != entry.organisation_code)
    if before is not None and (entry.suspended or moved_school
                               or (before.role, before.la) != (entry.role, entry.la)):
        sessions.revoke_user(session, entry.user_id, now=now)
    _record(session, actor, "register_change", entry.user_id, now, reason=why.value)
