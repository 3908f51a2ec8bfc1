"""Signing in, enrolling a second factor, signing out, and authorising each request.

Order of checks at sign-in: lockout, directory bind (step 1), TOTP code (step 2), practitioner
register, and agreement between the registered role and the directory's groups. Every attempt,
accepted or refused, is written to the audit trail; a refusal is committed (with its failure
count) before it is raised, so a failed attempt is never lost with a rolled-back transaction.
What the user is told is deliberately coarse where detail would help an attacker (which of
name, password or code was wrong); the trail records the precise reason.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from access import audit, lockout, sessions, totp
from access.directory import BadCredentials, Directory, DirectoryError, DirectoryUser, check_username
from access.identity import canonical_username, client_key
from access.register import MESSAGES, RegisterEntry, RegisterStatus, check_register, get_entry, status_of
from access.roles import Principal, Scope
from access.settings import AccessSettings
from index.store import transaction

log = logging.getLogger(__name__)

NOT_ACCEPTED = "user name, password or code not accepted"
INVALID_ACTOR = "(invalid user name)"


class SignInRefused(Exception):
    """Sign-in or enrolment refused. `reason` is the audit outcome; str() is for the user."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SignedIn:
    token: str
    expires_at: dt.datetime
    principal: Principal


def client_locked(until: dt.datetime) -> str:
    return (f"too many failed sign-in attempts from your network address; try again after "
            f"{until.strftime('%Y-%m-%d %H:%M')} UTC")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SignIn:
    """The sign-in service, built once with its engine, directory and settings."""

    def __init__(self, engine: Engine, directory: Directory, settings: AccessSettings,
                 clock: Callable[[], dt.datetime] = utc_now) -> None:
        self.engine = engine
        self.directory = directory
        self.settings = settings
        self.box = totp.SecretBox(settings)
        self.clock = clock

    # -- the two steps -------------------------------------------------------------------

    def _password_step(self, username: str, password: str, action: str, now: dt.datetime,
                       client: str | None) -> tuple[str, DirectoryUser]:
        """Lockouts (user name and client address), then the directory bind: the canonical user
        name (the lockout key from here on) and the directory's user."""
        try:
            check_username(username, self.settings.username_max_length)
            key = canonical_username(username)
            check_username(key, self.settings.username_max_length)  # e.g. nothing but spaces
        except BadCredentials:
            raise self._refuse(action, INVALID_ACTOR, None, "invalid_username", NOT_ACCEPTED, now,
                               client=client) from None
        with transaction(self.engine) as db:
            until = lockout.locked_until(db, key, now)
            client_until = lockout.locked_until(db, client_key(client), now) if client else None
        if until is not None:
            raise self._refuse(action, key, None, "locked", str(lockout.LockedOut(until)), now)
        if client_until is not None:
            raise self._refuse(action, key, None, "locked", client_locked(client_until), now)
        try:
            return key, self.directory.authenticate(key, password)
        except BadCredentials as exc:
            log.info("sign-in refused: %s", exc.reason)
            raise self._refuse(action, key, key, "bad_credentials", NOT_ACCEPTED, now,
                               client=client) from None
        except DirectoryError as exc:
            log.error("directory error during sign-in: %s", exc)
            raise self._refuse(action, key, None, "directory_error",
                               "the directory could not be used to sign you in; try again later "
                               "or contact support", now) from None

    def _refuse(self, action: str, actor: str, lockout_key: str | None, reason: str, message: str,
                now: dt.datetime, *, db: Session | None = None, client: str | None = None) -> SignInRefused:
        """Record a refusal (and a failed attempt of the user name, if `lockout_key`, and of the
        client address, if `client`) and return the error to raise."""
        def record(session: Session) -> str:
            text = message
            if client is not None:
                until = lockout.record_failure(session, client_key(client), now=now,
                                               settings=self.settings, client=True)
                if until is not None:
                    text = client_locked(until)
            if lockout_key is not None:
                until = lockout.record_failure(session, lockout_key, now=now, settings=self.settings)
                if until is not None:
                    text = str(lockout.LockedOut(until))
            audit.append(session, audit.Event(actor=actor[:64], action=action, outcome=reason, at=now))
            return text

        if db is not None:
            return SignInRefused(reason, record(db))
        with transaction(self.engine) as session:
            return SignInRefused(reason, record(session))

    # -- public operations ---------------------------------------------------------------

    def sign_in(self, username: str, password: str, code: str, *, client: str | None = None) -> SignedIn:
        """Both factors, register and role: a new session, or SignInRefused. `client`: the
        address the attempt came from (its own lockout count)."""
        now = self.clock()
        action = "sign_in_refused"
        key, user = self._password_step(username, password, action, now, client)
        refusal: SignInRefused | None = None
        with transaction(self.engine) as db:
            reason = totp.verify(db, user.uid, code, now=now, box=self.box)
            if reason == "totp_not_enrolled":
                refusal = self._refuse(action, user.uid, None, reason,
                                       "no second factor is enrolled: ask your LA administrator for "
                                       "an enrolment token", now, db=db)
            elif reason is not None:
                refusal = self._refuse(action, user.uid, key, reason, NOT_ACCEPTED, now, db=db,
                                       client=client)
            else:
                entry = get_entry(db, user.uid)
                status = status_of(entry, now.date())
                if status is not RegisterStatus.OK:
                    refusal = self._refuse(action, user.uid, None, status.value,
                                           f"{MESSAGES[status]}: contact your LA data team", now, db=db)
                elif not user.roles:
                    refusal = self._refuse(action, user.uid, None, "no_role",
                                           "your directory account has no role in the index", now, db=db)
                else:
                    assert entry is not None
                    if entry.role not in user.roles:
                        refusal = self._refuse(
                            action, user.uid, None, "role_mismatch",
                            "your registered role is not granted by your directory groups: "
                            "contact your LA data team", now, db=db)
                    else:
                        principal = Principal(
                            user_id=user.uid, role=entry.role, la=entry.la,
                            organisation_code=entry.organisation_code,
                            capabilities=user.capabilities,
                        )
                        lockout.record_success(db, key)
                        new = sessions.create(db, principal, now=now, settings=self.settings)
                        audit.append(db, audit.Event(
                            actor=user.uid, action="sign_in", actor_role=principal.role.value,
                            actor_la=principal.la, at=now))
                        result = SignedIn(new.token, new.expires_at, principal)
        if refusal is not None:
            raise refusal
        return result

    def enrol(self, username: str, password: str, token: str, *,
              client: str | None = None) -> totp.Enrolment:
        """Step 1 plus an administrator's enrolment token: a new secret to confirm with a code."""
        now = self.clock()
        key, user = self._password_step(username, password, "enrolment_refused", now, client)
        with transaction(self.engine) as db:
            try:
                return totp.enrol(db, user.uid, token, now=now, box=self.box, settings=self.settings)
            except totp.EnrolmentRefused as exc:
                refusal = exc
        raise self._refuse("enrolment_refused", user.uid, key,
                           f"enrolment_{refusal.reason}", str(refusal), now, client=client)

    def confirm_enrolment(self, username: str, password: str, code: str, *,
                          client: str | None = None) -> None:
        """Activate the secret from `enrol` with a first code from the authenticator app."""
        now = self.clock()
        key, user = self._password_step(username, password, "enrolment_refused", now, client)
        with transaction(self.engine) as db:
            reason = totp.confirm(db, user.uid, code, now=now, box=self.box)
            if reason is None:
                audit.append(db, audit.Event(actor=user.uid, action="totp_enrolled", at=now))
                return
        counted = reason in {"totp_wrong", "totp_malformed", "totp_replayed"}
        raise self._refuse("enrolment_refused", user.uid, key if counted else None, reason, NOT_ACCEPTED, now,
                           client=client if counted else None)

    def sign_out(self, token: str) -> None:
        now = self.clock()
        with transaction(self.engine) as db:
            try:
                principal = sessions.resolve(db, token, now=now, settings=self.settings)
            except sessions.SessionInvalid:
                return
            sessions.revoke(db, token, now=now)
            audit.append(db, audit.Event(actor=principal.user_id, action="sign_out",
                                         actor_role=principal.role.value, actor_la=principal.la, at=now))


def authorise(db: Session, token: str, *, settings: AccessSettings,
              now: dt.datetime | None = None) -> Principal:
    """For every request: the live session's principal, still allowed by the register today.

    Raises sessions.SessionInvalid or register.RegisterRefused; runs in the request's transaction.
    """
    return authorise_with_entry(db, token, settings=settings, now=now)[0]


def authorise_with_entry(db: Session, token: str, *, settings: AccessSettings,
                         now: dt.datetime | None = None) -> tuple[Principal, RegisterEntry]:
    """`authorise`, with the register entry it checked (organisation, service type)."""
    now = now or utc_now()
    principal = sessions.resolve(db, token, now=now, settings=settings)
    entry = check_register(db, principal, now.date())
    school_scoped = Scope.OWN_SCHOOL in principal.grants().values()
    if (entry.role, entry.la) != (principal.role, principal.la) or (
            school_scoped and entry.organisation_code != principal.organisation_code):
        # The register moved the user (another role, LA or school) after they signed in, by any
        # way of writing it: the session acts for what they were, so it ends.
        raise sessions.SessionInvalid("revoked")
    return principal, entry
