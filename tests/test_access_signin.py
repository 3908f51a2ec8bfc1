"""Sign-in end to end: real slapd, TOTP, lockout, register, roles, sessions and the audit trail,
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import socket

import pyotp
import pytest
from api_world import START, Clock, password_of
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from access import admin, audit, sessions
from access.directory import Directory
from access.reasons import RegisterChange
from access.register import RegisterEntry, RegisterRefused, RegisterStatus, check_register, save_entry
from access.roles import Capability, Forbidden, Principal, Role
from access.settings import AccessSettings
from access.signin import NOT_ACCEPTED, SignIn, SignInRefused, authorise
from access.totp import new_key
from index import models as m
from index.store import transaction
from ops.slapd import GROUP_ROLES, SERVICE_DN, SERVICE_PASSWORD, SUFFIX, DemoDirectory

ADMIN = Principal(user_id="ada.admin", role=Role.ADMINISTRATOR, la="823")


def make_settings(server: DemoDirectory, **overrides: object) -> AccessSettings:
    values: dict[str, object] = {
        "ldap_uri": server.ldap_uri, "ldap_base_dn": SUFFIX, "ldap_bind_dn": SERVICE_DN,
        "ldap_bind_password": SERVICE_PASSWORD, "ldap_group_roles": GROUP_ROLES,
        "totp_keys": [new_key()], "lockout_threshold": 3, "lockout_minutes": 15,
        "session_idle_minutes": 15, "session_max_hours": 8,
    }
    values.update(overrides)
    return AccessSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(engine: Engine, ldap_server: DemoDirectory, clock: Clock) -> SignIn:
    settings = make_settings(ldap_server)
    return SignIn(engine, Directory(settings), settings, clock=clock)


def register(engine: Engine, uid: str, role: Role = Role.PRACTITIONER, **changes: object) -> None:
    values: dict[str, object] = {
        "user_id": uid, "organisation": "Bedford Health Visiting", "la": "823", "role": role,
        "vetting_checked_on": dt.date(2025, 1, 1), "vetting_expires_on": dt.date(2027, 12, 31),
        "training_completed_on": dt.date(2025, 2, 1), "training_expires_on": dt.date(2027, 2, 1),
    }
    values.update(changes)
    with transaction(engine) as db:
        save_entry(db, RegisterEntry.model_validate(values))


def enrol(service: SignIn, uid: str) -> pyotp.TOTP:
    """Administrator issues a token; the user enrols and confirms; their authenticator."""
    with transaction(service.engine) as db:
        token = admin.issue_enrolment(db, ADMIN, uid, now=service.clock(), settings=service.settings)
    enrolment = service.enrol(uid, password_of(uid), token)
    app = pyotp.TOTP(enrolment.secret)
    service.confirm_enrolment(uid, password_of(uid), app.at(service.clock()))
    return app


def ready(service: SignIn, clock: Clock, uid: str, role: Role = Role.PRACTITIONER) -> pyotp.TOTP:
    register(service.engine, uid, role)
    app = enrol(service, uid)
    clock.advance(seconds=30)  # the confirming code's time-step is spent
    return app


def outcomes(engine: Engine) -> list[tuple[str, str, str]]:
    with Session(engine) as db:
        rows = db.execute(select(m.AuditEvent.actor, m.AuditEvent.action, m.AuditEvent.outcome)
                          .order_by(m.AuditEvent.seq)).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_sign_in_with_both_factors_gives_a_session(service: SignIn, clock: Clock) -> None:
    app = ready(service, clock, "pat.practitioner")
    signed = service.sign_in("pat.practitioner", password_of("pat.practitioner"), app.at(clock.now))
    assert signed.principal == Principal("pat.practitioner", Role.PRACTITIONER, la="823")
    with transaction(service.engine) as db:
        assert authorise(db, signed.token, settings=service.settings, now=clock.now) == signed.principal
        stored = db.scalars(select(m.AccessSession.token_hash)).one()
    assert signed.token not in stored  # only the hash is kept
    assert outcomes(service.engine)[-1] == ("pat.practitioner", "sign_in", "ok")
    assert [a for _, a, _ in outcomes(service.engine)] == [
        "enrolment_issued", "totp_enrolled", "sign_in"]
    with Session(service.engine) as db:
        assert audit.verify(db).ok


def test_child_protection_capability_reaches_the_session(service: SignIn, clock: Clock) -> None:
    app = ready(service, clock, "cora.protect")
    signed = service.sign_in("cora.protect", password_of("cora.protect"), app.at(clock.now))
    assert signed.principal.capabilities == {Capability.CHILD_PROTECTION}
    with transaction(service.engine) as db:
        assert authorise(db, signed.token, settings=service.settings,
                         now=clock.now).capabilities == {Capability.CHILD_PROTECTION}


def test_no_self_enrolment_on_first_password_sign_in(service: SignIn, clock: Clock) -> None:
    register(service.engine, "pat.practitioner")
    with pytest.raises(SignInRefused) as caught:
        service.sign_in("pat.practitioner", password_of("pat.practitioner"), "123456")
    assert caught.value.reason == "totp_not_enrolled" and "enrolment token" in str(caught.value)
    with pytest.raises(SignInRefused) as caught:
        service.enrol("pat.practitioner", password_of("pat.practitioner"), "guessed-token")
    assert caught.value.reason == "enrolment_unknown"
    with Session(service.engine) as db:
        assert db.scalars(select(m.TotpCredential)).all() == []


def test_enrolment_token_cannot_be_reused_or_used_late(service: SignIn, clock: Clock) -> None:
    register(service.engine, "pat.practitioner")
    with transaction(service.engine) as db:
        token = admin.issue_enrolment(db, ADMIN, "pat.practitioner", now=clock.now, settings=service.settings)
    service.enrol("pat.practitioner", password_of("pat.practitioner"), token)
    with pytest.raises(SignInRefused) as caught:
        service.enrol("pat.practitioner", password_of("pat.practitioner"), token)
    assert caught.value.reason == "enrolment_used"
    with transaction(service.engine) as db:
        late = admin.issue_enrolment(db, ADMIN, "pat.practitioner", now=clock.now, settings=service.settings)
    clock.advance(hours=service.settings.enrolment_token_hours, seconds=1)
    with pytest.raises(SignInRefused) as caught:
        service.enrol("pat.practitioner", password_of("pat.practitioner"), late)
    assert caught.value.reason == "enrolment_expired"
    # Someone else's token does not work either, even with the right password.
    register(service.engine, "sam.school", Role.SCHOOL_SUBMITTER, organisation_code="8231234")
    with transaction(service.engine) as db:
        sams = admin.issue_enrolment(db, ADMIN, "sam.school", now=clock.now, settings=service.settings)
    with pytest.raises(SignInRefused) as caught:
        service.enrol("pat.practitioner", password_of("pat.practitioner"), sams)
    assert caught.value.reason == "enrolment_wrong_user"


def test_enrolment_tokens_only_from_an_administrator_or_data_team_of_the_users_la(service: SignIn) -> None:
    register(service.engine, "pat.practitioner")
    # The issue: the LA data team manages "the practitioner register and enrolment tokens".
    with transaction(service.engine) as db:
        assert admin.issue_enrolment(db, Principal("dana.datateam", Role.LA_DATA_TEAM, la="823"),
                                     "pat.practitioner", now=START, settings=service.settings)
    others = [Principal("pat.practitioner", Role.PRACTITIONER, la="823"),
              Principal("dana.elsewhere", Role.LA_DATA_TEAM, la="202"),
              Principal("ada.elsewhere", Role.ADMINISTRATOR, la="202")]
    for actor in others:
        with pytest.raises(Forbidden), transaction(service.engine) as db:
            admin.issue_enrolment(db, actor, "pat.practitioner", now=START, settings=service.settings)
    with pytest.raises(admin.NotRegistered), transaction(service.engine) as db:
        admin.issue_enrolment(db, ADMIN, "nobody", now=START, settings=service.settings)


def test_replayed_code_is_refused_at_sign_in(service: SignIn, clock: Clock) -> None:
    app = ready(service, clock, "pat.practitioner")
    code = app.at(clock.now)
    service.sign_in("pat.practitioner", password_of("pat.practitioner"), code)
    with pytest.raises(SignInRefused) as caught:
        service.sign_in("pat.practitioner", password_of("pat.practitioner"), code)
    assert caught.value.reason == "totp_replayed" and str(caught.value) == NOT_ACCEPTED


@pytest.mark.parametrize(("username", "password"), [
    ("pat.practitioner", ""), ("pat.practitioner", "wrong"), ("*)(uid=*", "pat-Password-1"),
    ("nobody", "x"), ("pat\x00", "pat-Password-1"), ("p" * 500, "x"),
])
def test_bad_first_step_is_refused_with_one_message(service: SignIn, username: str, password: str) -> None:
    register(service.engine, "pat.practitioner")
    with pytest.raises(SignInRefused) as caught:
        service.sign_in(username, password, "123456")
    assert caught.value.reason in {"bad_credentials", "invalid_username"}
    assert str(caught.value) == NOT_ACCEPTED
    actor, action, outcome = outcomes(service.engine)[-1]
    assert action == "sign_in_refused" and outcome == caught.value.reason and len(actor) <= 64


def test_lockout_after_repeated_failures_and_administrator_unlock(service: SignIn, clock: Clock) -> None:
    app = ready(service, clock, "pat.practitioner")
    for _ in range(2):
        with pytest.raises(SignInRefused):
            service.sign_in("pat.practitioner", "wrong", "000000")
    # The third failure is a wrong code after a right password: both steps count.
    with pytest.raises(SignInRefused) as caught:
        bad = "000000" if app.at(clock.now) != "000000" else "111111"
        service.sign_in("pat.practitioner", password_of("pat.practitioner"), bad)
    assert "locked" in str(caught.value)
    with pytest.raises(SignInRefused) as caught:
        service.sign_in("PAT.practitioner", password_of("pat.practitioner"), app.at(clock.now))
    assert caught.value.reason == "locked" and "an administrator can unlock it" in str(caught.value)
    with pytest.raises(Forbidden), transaction(service.engine) as db:
        admin.unlock(db, Principal("dana.datateam", Role.LA_DATA_TEAM, la="823"), "pat.practitioner",
                     now=clock.now)
    with transaction(service.engine) as db:
        assert admin.unlock(db, ADMIN, "pat.practitioner", now=clock.now)
    signed = service.sign_in("pat.practitioner", password_of("pat.practitioner"), app.at(clock.now))
    assert signed.principal.user_id == "pat.practitioner"
    assert ("ada.admin", "unlock", "ok") in outcomes(service.engine)


def test_lock_expires_after_its_duration(service: SignIn, clock: Clock) -> None:
    app = ready(service, clock, "pat.practitioner")
    for _ in range(3):
        with pytest.raises(SignInRefused):
            service.sign_in("pat.practitioner", "wrong", "000000")
    clock.advance(minutes=14)
    with pytest.raises(SignInRefused, match="locked"):
        service.sign_in("pat.practitioner", password_of("pat.practitioner"), app.at(clock.now))
    clock.advance(minutes=2)
    assert service.sign_in("pat.practitioner", password_of("pat.practitioner"), app.at(clock.now))


def test_directory_outage_refuses_without_counting_towards_lockout(engine: Engine, clock: Clock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = AccessSettings(ldap_uri=f"ldap://127.0.0.1:{port}", totp_keys=[new_key()],
                              lockout_threshold=1, ldap_network_timeout_seconds=1)
    down = SignIn(engine, Directory(settings), settings, clock=clock)
    with pytest.raises(SignInRefused) as caught:
        down.sign_in("pat.practitioner", "pat-Password-1", "123456")
    assert caught.value.reason == "directory_error" and "try again later" in str(caught.value)
    with Session(engine) as db:
        assert db.scalars(select(m.AccessLockout)).all() == []


@pytest.mark.parametrize(("changes", "status"), [
    ({"suspended": True}, RegisterStatus.SUSPENDED),
    ({"vetting_expires_on": dt.date(2026, 3, 1)}, RegisterStatus.VETTING_EXPIRED),
    ({"training_expires_on": dt.date(2026, 3, 1)}, RegisterStatus.TRAINING_EXPIRED),
    ({"training_completed_on": None, "training_expires_on": None},
     RegisterStatus.TRAINING_NOT_COMPLETED),
])
def test_suspended_or_lapsed_register_refuses_sign_in(service: SignIn, clock: Clock,
                                                      changes: dict[str, object],
                                                      status: RegisterStatus) -> None:
    app = ready(service, clock, "pat.practitioner")
    register(service.engine, "pat.practitioner", **changes)
    with pytest.raises(SignInRefused) as caught:
        service.sign_in("pat.practitioner", password_of("pat.practitioner"), app.at(clock.now))
    assert caught.value.reason == status.value


def test_register_lapse_ends_access_on_the_next_request(service: SignIn, clock: Clock) -> None:
    app = ready(service, clock, "pat.practitioner")
    signed = service.sign_in("pat.practitioner", password_of("pat.practitioner"), app.at(clock.now))
    with transaction(service.engine) as db:
        db.execute(update(m.Practitioner).values(vetting_expires_on=dt.date(2026, 3, 1)))
    with pytest.raises(RegisterRefused) as caught, transaction(service.engine) as db:
        authorise(db, signed.token, settings=service.settings, now=clock.now)
    assert caught.value.status is RegisterStatus.VETTING_EXPIRED
    assert "vetting check has expired" in str(caught.value)


def test_expiry_dates_are_the_last_valid_day(engine: Engine) -> None:
    register(engine, "pat.practitioner", vetting_expires_on=dt.date(2026, 6, 30))
    with Session(engine) as db:
        assert check_register(db, "pat.practitioner", dt.date(2026, 6, 30)).la == "823"
        with pytest.raises(RegisterRefused) as caught:
            check_register(db, "pat.practitioner", dt.date(2026, 7, 1))
        assert caught.value.status is RegisterStatus.VETTING_EXPIRED
        with pytest.raises(RegisterRefused) as caught:
            check_register(db, "someone.else", dt.date(2026, 7, 1))
        assert caught.value.status is RegisterStatus.NOT_REGISTERED


def test_suspension_by_the_la_team_revokes_live_sessions(service: SignIn, clock: Clock) -> None:
    app = ready(service, clock, "pat.practitioner")
    signed = service.sign_in("pat.practitioner", password_of("pat.practitioner"), app.at(clock.now))
    team = Principal("dana.datateam", Role.LA_DATA_TEAM, la="823")
    with transaction(service.engine) as db:
        entry = RegisterEntry.model_validate({
            "user_id": "pat.practitioner", "organisation": "Bedford Health Visiting", "la": "823",
            "role": "practitioner", "vetting_checked_on": "2025-01-01", "vetting_expires_on": "2027-12-31",
            "training_completed_on": "2025-02-01", "suspended": True})
        admin.save_register_entry(db, team, entry, why=RegisterChange.SUSPENSION, now=clock.now)
    with pytest.raises(sessions.SessionInvalid) as caught, transaction(service.engine) as db:
        authorise(db, signed.token, settings=service.settings, now=clock.now)
    assert caught.value.reason == "revoked"
    other_la = Principal("dee.datateam", Role.LA_DATA_TEAM, la="202")
    with pytest.raises(Forbidden), transaction(service.engine) as db:
        admin.save_register_entry(db, other_la, entry, why=RegisterChange.SUSPENSION, now=clock.now)


def test_register_role_must_be_granted_by_the_directory(service: SignIn, clock: Clock) -> None:
    app = ready(service, clock, "pat.practitioner")
    register(service.engine, "pat.practitioner", Role.LA_DATA_TEAM)
    with pytest.raises(SignInRefused) as caught:
        service.sign_in("pat.practitioner", password_of("pat.practitioner"), app.at(clock.now))
    assert caught.value.reason == "role_mismatch"
    nora = ready(service, clock, "nora.nogroup")
    with pytest.raises(SignInRefused) as caught:
        service.sign_in("nora.nogroup", password_of("nora.nogroup"), nora.at(clock.now))
    assert caught.value.reason == "no_role"


def test_sessions_end_when_idle_when_old_and_when_signed_out(service: SignIn, clock: Clock) -> None:
    app = ready(service, clock, "pat.practitioner")

    def sign_in() -> str:
        clock.advance(seconds=30)
        return service.sign_in("pat.practitioner", password_of("pat.practitioner"), app.at(clock.now)).token

    def reason(token: str) -> str | None:
        try:
            with transaction(service.engine) as db:
                authorise(db, token, settings=service.settings, now=clock.now)
        except sessions.SessionInvalid as exc:
            return exc.reason
        return None

    idle = sign_in()
    clock.advance(minutes=14)
    assert reason(idle) is None  # activity keeps it alive...
    clock.advance(minutes=14)
    assert reason(idle) is None
    clock.advance(minutes=15)
    assert reason(idle) == "idle"  # ...silence ends it

    old = sign_in()
    for _ in range(8 * 6):
        clock.advance(minutes=10)
        if reason(old) is not None:
            break
    assert reason(old) == "expired" and clock.now <= START + dt.timedelta(hours=9)

    out = sign_in()
    service.sign_out(out)
    assert reason(out) == "revoked"
    assert reason("not-a-token") == "unknown"
    assert outcomes(service.engine)[-1] == ("pat.practitioner", "sign_out", "ok")
