"""TOTP on SQLite and PostgreSQL: token-only enrolment, encryption at rest, replay and drift."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from access import totp
from access.settings import AccessSettings
from index import models as m
from index.store import transaction

NOW = dt.datetime(2026, 3, 2, 9, 0, 10, tzinfo=dt.UTC)


@pytest.fixture
def settings() -> AccessSettings:
    return AccessSettings(totp_keys=[totp.new_key()], enrolment_token_hours=24)


def enrolled(engine: Engine, settings: AccessSettings, user: str = "pat") -> str:
    """Enrol and confirm `user`; the secret their app holds."""
    box = totp.SecretBox(settings)
    with transaction(engine) as db:
        token = totp.issue_token(db, user, issued_by="ada", now=NOW, settings=settings)
    with transaction(engine) as db:
        secret = totp.enrol(db, user, token, now=NOW, box=box, settings=settings).secret
    with transaction(engine) as db:
        code = pyotp.TOTP(secret).at(NOW - dt.timedelta(seconds=30))
        assert totp.confirm(db, user, code, now=NOW, box=box) is None
    return secret


def test_enrolment_token_is_stored_hashed_and_spent_once(engine: Engine, settings: AccessSettings) -> None:
    box = totp.SecretBox(settings)
    with transaction(engine) as db:
        token = totp.issue_token(db, "pat", issued_by="ada", now=NOW, settings=settings)
    with Session(engine) as db:
        stored = db.scalars(select(m.EnrolmentToken.token_hash)).all()
    assert stored == [totp.token_digest(token)] and token not in stored
    with transaction(engine) as db:
        enrolment = totp.enrol(db, "pat", token, now=NOW, box=box, settings=settings)
    assert enrolment.provisioning_uri.startswith("otpauth://totp/")
    with pytest.raises(totp.EnrolmentRefused) as caught, transaction(engine) as db:
        totp.enrol(db, "pat", token, now=NOW, box=box, settings=settings)
    assert caught.value.reason == "used"


def test_expired_unknown_and_other_users_tokens_are_refused(engine: Engine, settings: AccessSettings) -> None:
    box = totp.SecretBox(settings)
    with transaction(engine) as db:
        token = totp.issue_token(db, "pat", issued_by="ada", now=NOW, settings=settings)
    cases = [("pat", token, NOW + dt.timedelta(hours=24), "expired"),
             ("sam", token, NOW, "wrong_user"),
             ("pat", "made-up-token", NOW, "unknown")]
    for user, tok, when, reason in cases:
        with pytest.raises(totp.EnrolmentRefused) as caught, transaction(engine) as db:
            totp.enrol(db, user, tok, now=when, box=box, settings=settings)
        assert caught.value.reason == reason
        assert "ask your LA administrator" in str(caught.value)
    with Session(engine) as db:
        assert db.get(m.TotpCredential, "pat") is None


def test_a_new_token_cancels_the_previous_unused_one(engine: Engine, settings: AccessSettings) -> None:
    box = totp.SecretBox(settings)
    with transaction(engine) as db:
        first = totp.issue_token(db, "pat", issued_by="ada", now=NOW, settings=settings)
        totp.issue_token(db, "pat", issued_by="ada", now=NOW + dt.timedelta(minutes=1), settings=settings)
    with pytest.raises(totp.EnrolmentRefused) as caught, transaction(engine) as db:
        totp.enrol(db, "pat", first, now=NOW + dt.timedelta(minutes=2), box=box, settings=settings)
    assert caught.value.reason == "expired"


def test_secret_is_encrypted_at_rest_and_needs_the_key(engine: Engine, settings: AccessSettings) -> None:
    secret = enrolled(engine, settings)
    with Session(engine) as db:
        sealed = db.scalars(select(m.TotpCredential.secret_encrypted)).one()
    assert secret not in sealed
    assert totp.SecretBox(settings).open(sealed) == secret
    stranger = totp.SecretBox(AccessSettings(totp_keys=[totp.new_key()]))
    with pytest.raises(totp.TotpConfigError, match="cannot be decrypted"):
        stranger.open(sealed)
    # Rotation: a new key first, the old one still listed, old secrets still open.
    rotated = totp.SecretBox(AccessSettings(totp_keys=[totp.new_key(), *settings.totp_keys]))
    assert rotated.open(sealed) == secret


def test_missing_or_bad_keys_are_configuration_errors() -> None:
    with pytest.raises(totp.TotpConfigError, match="no TOTP encryption key"):
        totp.SecretBox(AccessSettings())
    with pytest.raises(totp.TotpConfigError, match="not a valid Fernet key"):
        totp.SecretBox(AccessSettings(totp_keys=["short"]))


def test_a_code_is_accepted_once_only(engine: Engine, settings: AccessSettings) -> None:
    secret = enrolled(engine, settings)
    box = totp.SecretBox(settings)
    later = NOW + dt.timedelta(minutes=5)
    code = pyotp.TOTP(secret).at(later)
    with transaction(engine) as db:
        assert totp.verify(db, "pat", code, now=later, box=box) is None
    with transaction(engine) as db:
        assert totp.verify(db, "pat", code, now=later, box=box) == "totp_replayed"
    # Nor an older code still inside the drift window, once a newer one was used.
    with transaction(engine) as db:
        older = pyotp.TOTP(secret).at(later - dt.timedelta(seconds=30))
        assert totp.verify(db, "pat", older, now=later, box=box) == "totp_replayed"
    with transaction(engine) as db:
        next_code = pyotp.TOTP(secret).at(later + dt.timedelta(seconds=30))
        assert totp.verify(db, "pat", next_code, now=later + dt.timedelta(seconds=30), box=box) is None


@pytest.mark.parametrize(("drift", "accepted"), [(-60, False), (-30, True), (0, True), (30, True),
                                                  (60, False)])
def test_one_step_of_clock_drift_is_tolerated(engine: Engine, settings: AccessSettings, drift: int,
                                              accepted: bool) -> None:
    secret = enrolled(engine, settings)
    when = NOW + dt.timedelta(minutes=10)
    code = pyotp.TOTP(secret).at(when + dt.timedelta(seconds=drift))
    with transaction(engine) as db:
        result = totp.verify(db, "pat", code, now=when, box=totp.SecretBox(settings))
    assert (result is None) is accepted
    if not accepted:
        assert result == "totp_wrong"


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5x", "１２３４５６"])
def test_malformed_codes_are_refused(engine: Engine, settings: AccessSettings, code: str) -> None:
    enrolled(engine, settings)
    with transaction(engine) as db:
        assert totp.verify(db, "pat", code, now=NOW, box=totp.SecretBox(settings)) == "totp_malformed"


def test_unconfirmed_enrolment_cannot_sign_in(engine: Engine, settings: AccessSettings) -> None:
    box = totp.SecretBox(settings)
    with transaction(engine) as db:
        token = totp.issue_token(db, "pat", issued_by="ada", now=NOW, settings=settings)
        secret = totp.enrol(db, "pat", token, now=NOW, box=box, settings=settings).secret
    with transaction(engine) as db:
        assert totp.verify(db, "pat", pyotp.TOTP(secret).at(NOW), now=NOW, box=box) == "totp_not_enrolled"
        assert totp.verify(db, "nobody", "123456", now=NOW, box=box) == "totp_not_enrolled"
        assert totp.confirm(db, "pat", "000000" if pyotp.TOTP(secret).at(NOW) != "000000" else "111111",
                            now=NOW, box=box) == "totp_wrong"
