"""The demo's users: one for every role, on the practitioner register and enrolled for TOTP.

Each demo user is a directory entry (ops/demo_directory.py) and a register entry in the demo
store, with vetting and training in date. The set-up acts as an administrator of the demo LA
(`demo.set-up`, the operator bootstrapping it: nobody registers or enrols themselves), through
the same access functions the API uses, so the audit trail shows every
register change and enrolment token; each user then enrols with their password and the token
and confirms with a code, exactly as a person would. Secrets are kept only encrypted, with the
demo's key in var/demo/totp.key; a second start decrypts and prints them again rather than
enrolling anew, so an authenticator app set up once keeps working.

Practitioners work for the demo area's busiest organisations of their service type, so that
their own involvements show as their own in a child's record.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import pyotp
from sqlalchemy import Engine, func, select

from access import AccessSettings, RegisterEntry, Role, SignIn, new_key
from access.admin import issue_enrolment, save_register_entry
from access.directory import Directory
from access.reasons import RegisterChange
from access.register import RegisterStatus, get_entry, status_of
from access.roles import Principal
from access.totp import SecretBox, TotpConfigError
from index import models as m
from index.store import transaction
from index.vocabulary import ServiceType
from ops.slapd import DemoUser

KEY_FILE = Path("var/demo/totp.key")
VETTING_YEARS = 3
TRAINING_YEARS = 1


@dataclass(frozen=True)
class DemoPerson:
    """A demo user: directory entry, register role and what they stand for."""

    user: DemoUser
    role: Role
    what: str
    service: ServiceType | None = None  # a practitioner's or school submitter's service

    @property
    def uid(self) -> str:
        return self.user.uid


def _person(uid: str, role: Role, groups: tuple[str, ...], what: str,
            service: ServiceType | None = None) -> DemoPerson:
    first = uid.split(".")[0]
    return DemoPerson(DemoUser(uid, f"{first.title()}-demo-pass-1", groups), role, what, service)


DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    _person("tess.teacher", Role.PRACTITIONER, ("practitioners",), "teacher (school)", ServiceType.SCHOOL),
    _person("hal.visitor", Role.PRACTITIONER, ("practitioners",), "health visitor",
            ServiceType.HEALTH_VISITOR),
    _person("sol.social", Role.PRACTITIONER, ("practitioners",), "social worker", ServiceType.SOCIAL_CARE),
    _person("cora.protect", Role.PRACTITIONER, ("practitioners", "child-protection"),
            "child-protection social worker (may override a shield)", ServiceType.SOCIAL_CARE),
    _person("dana.datateam", Role.LA_DATA_TEAM, ("la-data-team",), "LA data team"),
    _person("sam.school", Role.SCHOOL_SUBMITTER, ("school-submitters",), "school data manager",
            ServiceType.SCHOOL),
    _person("alex.auditor", Role.AUDITOR, ("auditors",), "auditor"),
    _person("ada.admin", Role.ADMINISTRATOR, ("administrators",), "LA administrator"),
    _person("otto.operator", Role.OPERATOR, ("operators",), "operator (nightly run, backups, monitoring)"),
)

ADMIN = next(p for p in DEMO_PEOPLE if p.role is Role.ADMINISTRATOR)
SET_UP = "demo.set-up"  # who the audit trail shows registering and enrolling the demo people


@dataclass(frozen=True)
class Enrolled:
    person: DemoPerson
    organisation: str
    secret: str
    provisioning_uri: str

    def code(self, at: dt.datetime | None = None) -> str:
        """The current code, as the person's authenticator app would show it."""
        return pyotp.TOTP(self.secret).at(at or dt.datetime.now(dt.UTC))


def demo_key(path: Path = KEY_FILE) -> str:
    """The demo's TOTP encryption key, made once and kept readable by its owner only."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_key()
    partial = path.with_name(path.name + ".partial")
    partial.write_text(key)
    os.chmod(partial, 0o600)
    partial.replace(path)  # all or nothing
    return key


def busiest_organisations(engine: Engine, la: str) -> dict[ServiceType, tuple[str, str | None]]:
    """(name, code) of the organisation with most involvements in the area, per service type."""
    count = func.count().label("n")
    query = (
        select(m.Involvement.service_type, m.Involvement.organisation_name, m.Involvement.organisation_code,
               count)
        .join(m.Child, m.Child.id == m.Involvement.child_id).where(m.Child.owning_la == la)
        .group_by(m.Involvement.service_type, m.Involvement.organisation_name,
                  m.Involvement.organisation_code)
        .order_by(count.desc(), m.Involvement.organisation_name)
    )
    found: dict[ServiceType, tuple[str, str | None]] = {}
    with transaction(engine) as session:
        for service, name, code, _n in session.execute(query):
            found.setdefault(ServiceType(service), (name, code))
    return found


# An organisation for each service type when the area has none of it (a tiny test area).
FALLBACK_ORGANISATIONS: dict[ServiceType, tuple[str, str | None]] = {
    ServiceType.SCHOOL: ("Demo Primary School", "8232999"),
    ServiceType.HEALTH_VISITOR: ("Demo Health Visiting Team", None),
    ServiceType.SOCIAL_CARE: ("Demo Children's Social Care", None),
}


def register_entry(person: DemoPerson, la: str, today: dt.date,
                   organisations: dict[ServiceType, tuple[str, str | None]]) -> RegisterEntry:
    if person.service is not None:
        organisation, code = organisations.get(person.service) or FALLBACK_ORGANISATIONS[person.service]
        if person.role is Role.SCHOOL_SUBMITTER and not (code or "").startswith(la):
            code = f"{la}2999"  # a school submitter's school is one of the LA's (access.duties)
    else:
        organisation, code = f"LA {la} children's services", None
    return RegisterEntry(
        user_id=person.uid, organisation=organisation, organisation_code=code, la=la, role=person.role,
        vetting_checked_on=today, vetting_expires_on=today + dt.timedelta(days=365 * VETTING_YEARS),
        training_completed_on=today, training_expires_on=today + dt.timedelta(days=365 * TRAINING_YEARS),
        service_type=person.service if person.role is Role.PRACTITIONER else None,
    )


def _still_good(current: RegisterEntry | None, wanted: RegisterEntry, today: dt.date) -> bool:
    """Keep an existing entry (and its dates) if it is in date and says the same thing."""
    if current is None or status_of(current, today) is not RegisterStatus.OK:
        return False
    fields = ("organisation", "organisation_code", "la", "role", "service_type")
    return all(getattr(current, f) == getattr(wanted, f) for f in fields)


def set_up(engine: Engine, settings: AccessSettings, *, la: str,
           people: tuple[DemoPerson, ...] = DEMO_PEOPLE,
           now: dt.datetime | None = None) -> list[Enrolled]:
    """Register and enrol every demo person (only what is missing); their secrets to print."""
    now = now or dt.datetime.now(dt.UTC)
    today = now.date()
    # The set-up is the operator bootstrapping the demo LA, acting as an administrator: not a
    # demo person (nobody registers or enrols themselves: access.duties).
    admin = Principal(user_id=SET_UP, role=Role.ADMINISTRATOR, la=la)
    organisations = busiest_organisations(engine, la)
    box = SecretBox(settings)
    signin = SignIn(engine, Directory(settings), settings)
    enrolled: list[Enrolled] = []
    for person in people:
        wanted = register_entry(person, la, today, organisations)
        with transaction(engine) as session:
            if not _still_good(get_entry(session, person.uid), wanted, today):
                why = RegisterChange.NEW_ENTRY if get_entry(session, person.uid) is None \
                    else RegisterChange.CORRECTION
                save_register_entry(session, admin, wanted, why=why, now=now)
            credential = session.get(m.TotpCredential, person.uid)
            secret = _open(box, credential)
        if secret is None:
            secret, uri = _enrol(engine, signin, settings, admin, person, now)
        else:
            uri = pyotp.TOTP(secret).provisioning_uri(name=person.uid, issuer_name=settings.totp_issuer)
        enrolled.append(Enrolled(person, wanted.organisation, secret, uri))
    return enrolled


def _open(box: SecretBox, credential: m.TotpCredential | None) -> str | None:
    """The clear secret of a confirmed enrolment, or None if the person must enrol (again)."""
    if credential is None or credential.confirmed_at is None:
        return None
    try:
        return box.open(credential.secret_encrypted)
    except TotpConfigError:
        return None  # the key file was replaced: enrol again with the new key


def _enrol(engine: Engine, signin: SignIn, settings: AccessSettings, admin: Principal, person: DemoPerson,
           now: dt.datetime) -> tuple[str, str]:
    with transaction(engine) as session:
        token = issue_enrolment(session, admin, person.uid, now=now, settings=settings)
    enrolment = signin.enrol(person.uid, person.user.password, token)
    # Confirm with the previous time-step's code (within the tolerated drift), so that the
    # current code is still unspent and the person can sign in straight away.
    previous = pyotp.TOTP(enrolment.secret).at(signin.clock() - dt.timedelta(seconds=30))
    signin.confirm_enrolment(person.uid, person.user.password, previous)
    return enrolment.secret, enrolment.provisioning_uri
