"""Step 2 of sign-in: time-based one-time codes (pyotp), enrolled only with an administrator's
one-time token, secrets encrypted at rest (Fernet), and no code ever accepted twice.

Replay protection keeps the last accepted time-step per user and accepts only later steps; the
update is a single conditional UPDATE, so two requests racing with the same code cannot both
win on either backend. One step of clock drift either way is tolerated (valid_window=1).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import pyotp
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from access.settings import AccessSettings
from index import models as m

DRIFT_STEPS = 1


class TotpConfigError(RuntimeError):
    """TOTP cannot work as configured (no or bad encryption keys)."""


class EnrolmentRefused(Exception):
    """An enrolment token that cannot be used; `reason` is unknown, used, expired or wrong_user."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"enrolment token not accepted ({reason.replace('_', ' ')}): "
                         "ask your LA administrator for a new one")
        self.reason = reason


def token_digest(token: str) -> str:
    """How one-time tokens (enrolment, session) are stored: SHA-256 of 256 random bits needs no
    slow hash, since there is nothing to guess."""
    return hashlib.sha256(token.encode()).hexdigest()


class SecretBox:
    """Encrypts TOTP secrets with the configured Fernet keys (first key encrypts; all decrypt)."""

    def __init__(self, settings: AccessSettings) -> None:
        if not settings.totp_keys:
            raise TotpConfigError("no TOTP encryption key configured (CHILDINDEX_ACCESS_TOTP_KEYS)")
        try:
            self._fernet = MultiFernet([Fernet(k.get_secret_value()) for k in settings.totp_keys])
        except ValueError:
            raise TotpConfigError("a configured TOTP key is not a valid Fernet key") from None

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise TotpConfigError("a stored TOTP secret cannot be decrypted with the configured keys") \
                from None


def new_key() -> str:
    """A fresh encryption key for CHILDINDEX_ACCESS_TOTP_KEYS."""
    return Fernet.generate_key().decode()


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def issue_token(session: Session, user_id: str, *, issued_by: str, now: dt.datetime,
                settings: AccessSettings) -> str:
    """A new one-time enrolment token for `user_id` (only its hash is stored); any earlier
    unused token for the same user stops working. Permission checks are the caller's."""
    session.execute(
        update(m.EnrolmentToken)
        .where(m.EnrolmentToken.user_id == user_id, m.EnrolmentToken.used_at.is_(None),
               m.EnrolmentToken.expires_at > now)
        .values(expires_at=now).execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(32)
    session.add(m.EnrolmentToken(
        user_id=user_id, token_hash=token_digest(token), issued_by=issued_by, issued_at=now,
        expires_at=now + dt.timedelta(hours=settings.enrolment_token_hours),
    ))
    session.flush()
    return token


@dataclass(frozen=True)
class Enrolment:
    """What the user's authenticator app needs, shown once and never stored in clear."""

    secret: str
    provisioning_uri: str


def enrol(session: Session, user_id: str, token: str, *, now: dt.datetime, box: SecretBox,
          settings: AccessSettings) -> Enrolment:
    """Use an enrolment token: a new, not yet confirmed secret replaces any earlier one.

    The token is spent here whatever follows; `confirm` then activates the secret with a code.
    """
    row = session.scalars(
        select(m.EnrolmentToken).where(m.EnrolmentToken.token_hash == token_digest(token))
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise EnrolmentRefused("unknown")
    if row.user_id != user_id:
        raise EnrolmentRefused("wrong_user")
    if row.used_at is not None:
        raise EnrolmentRefused("used")
    if _utc(row.expires_at) <= now:
        raise EnrolmentRefused("expired")
    # Conditional, so two requests racing with one token cannot both spend it.
    spent = session.execute(
        update(m.EnrolmentToken).where(m.EnrolmentToken.id == row.id, m.EnrolmentToken.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        raise EnrolmentRefused("used")
    secret = pyotp.random_base32()
    credential = session.get(m.TotpCredential, user_id)
    if credential is None:
        credential = m.TotpCredential(user_id=user_id, created_at=now, secret_encrypted="")
        session.add(credential)
    credential.secret_encrypted = box.seal(secret)
    credential.confirmed_at = None
    credential.last_step = None
    credential.created_at = now
    session.flush()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user_id, issuer_name=settings.totp_issuer)
    return Enrolment(secret=secret, provisioning_uri=uri)


def _accept(session: Session, credential: m.TotpCredential, code: str, now: dt.datetime,
            box: SecretBox) -> str | None:
    """Accept `code` if it is valid for a time-step after the last one accepted: None, or why not."""
    code = code.replace(" ", "")
    # isascii too: str.isdigit() accepts other scripts' digits, which no app produces.
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return "totp_malformed"
    totp = pyotp.TOTP(box.open(credential.secret_encrypted))
    current = totp.timecode(now)
    matched = next((step for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1)
                    if hmac.compare_digest(totp.generate_otp(step), code)), None)
    if matched is None:
        return "totp_wrong"
    won = session.execute(
        update(m.TotpCredential)
        .where(m.TotpCredential.user_id == credential.user_id,
               or_(m.TotpCredential.last_step.is_(None), m.TotpCredential.last_step < matched))
        .values(last_step=matched).execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:
        return "totp_replayed"
    return None


def confirm(session: Session, user_id: str, code: str, *, now: dt.datetime, box: SecretBox) -> str | None:
    """Activate a pending enrolment with a first code: None on success, else the reason."""
    credential = session.get(m.TotpCredential, user_id)
    if credential is None:
        return "totp_not_enrolled"
    if credential.confirmed_at is not None:
        return "totp_already_confirmed"
    refusal = _accept(session, credential, code, now, box)
    if refusal is None:
        credential.confirmed_at = now
        session.flush()
    return refusal


def verify(session: Session, user_id: str, code: str, *, now: dt.datetime, box: SecretBox) -> str | None:
    """Check a sign-in code: None if accepted (and now spent), else the reason it was not."""
    credential = session.get(m.TotpCredential, user_id)
    if credential is None or credential.confirmed_at is None:
        return "totp_not_enrolled"
    return _accept(session, credential, code, now, box)
