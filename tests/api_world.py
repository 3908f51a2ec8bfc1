"""A running service for the API tests: the real app on a real slapd (ops.slapd) and a SQLite
store, with demo users of every role signed in through the HTTP sign-in (password + TOTP), and
a few children in two LAs (823, the users' own, and 202)."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from access import admin
from access.directory import Directory
from access.register import RegisterEntry, save_entry
from access.roles import Principal, Role
from access.settings import AccessSettings
from access.signin import SignIn
from access.totp import new_key
from api.app import create_app
from api.context import ApiSettings, Context
from index import models as m
from index.embedded import EmbeddedSearch
from index.records import ChildRecord
from index.store import add_children, make_engine, transaction, upgrade
from index.vocabulary import ChildStatus, Gender, MatchReason, ReviewStatus
from ops.slapd import DEMO_USERS, GROUP_ROLES, SERVICE_DN, SERVICE_PASSWORD, SUFFIX, DemoDirectory

START = dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt.UTC)
OWN_LA, OTHER_LA = "823", "202"
OWN_SCHOOL, OTHER_SCHOOL = "8231234", "8232999"
BOOTSTRAP = Principal(user_id="setup.admin", role=Role.ADMINISTRATOR, la=OWN_LA)

# uid -> (role, organisation, organisation code, service type)
USERS: dict[str, tuple[Role, str, str | None, str | None]] = {
    "pat.practitioner": (Role.PRACTITIONER, "Bedford Health Visiting", "RYV01", "health_visitor"),
    "cora.protect": (Role.PRACTITIONER, "Bedford Children's Social Care", "LA823SC", "social_care"),
    "dana.datateam": (Role.LA_DATA_TEAM, "Bedford LA data team", None, None),
    "sam.school": (Role.SCHOOL_SUBMITTER, "Oakfield Primary", OWN_SCHOOL, "school"),
    "alex.auditor": (Role.AUDITOR, "Internal audit", None, None),
    "ada.admin": (Role.ADMINISTRATOR, "Bedford IT", None, None),
    "otto.operator": (Role.OPERATOR, "Bedford IT operations", None, None),
}
ROLE_USER: dict[Role, str] = {
    Role.PRACTITIONER: "pat.practitioner", Role.LA_DATA_TEAM: "dana.datateam",
    Role.SCHOOL_SUBMITTER: "sam.school", Role.AUDITOR: "alex.auditor", Role.ADMINISTRATOR: "ada.admin",
    Role.OPERATOR: "otto.operator",
}


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def password_of(uid: str) -> str:
    return next(u.password for u in DEMO_USERS if u.uid == uid)


def register_values(uid: str, la: str = OWN_LA, **changes: object) -> dict[str, object]:
    role, organisation, code, service = USERS.get(uid, (Role.PRACTITIONER, "Elsewhere Health", "RXX01",
                                                        "health_visitor"))
    values: dict[str, object] = {
        "user_id": uid, "organisation": organisation, "organisation_code": code, "la": la, "role": role,
        "service_type": service,
        "vetting_checked_on": dt.date(2025, 1, 1), "vetting_expires_on": dt.date(2027, 12, 31),
        "training_completed_on": dt.date(2025, 2, 1), "training_expires_on": dt.date(2027, 2, 1),
    }
    values.update(changes)
    return values


def set_register(engine: Engine, uid: str, la: str = OWN_LA, **changes: object) -> None:
    with transaction(engine) as db:
        save_entry(db, RegisterEntry.model_validate(register_values(uid, la, **changes)))


def child(la: str, given: str, family: str, dob: dt.date, postcode: str, town: str, *,
          shielded: bool = False, involvements: list[dict[str, object]] | None = None) -> ChildRecord:
    return ChildRecord.model_validate({
        "owning_la": la, "date_of_birth": dob, "gender": "female", "shielded": shielded,
        "names": [{"given_name": given, "family_name": family}],
        "addresses": [{"line1": "12 Quayside Lane", "town": town, "postcode": postcode}],
        "carers": [{"given_name": "Morwenna", "family_name": family, "relationship_to_child": "parent",
                    "parental_responsibility": True, "phone": "07700 900123"}],
        "involvements": involvements or [],
    })


# Every value of the seeded children a refusal must never show.
PERSONAL = ("Tamsin", "Pendragon", "Ysolde", "Trevithick", "Kerensa", "Penhaligon", "Demelza",
            "Nancarrow", "Morwenna", "Quayside", "MK40 1AB", "2015-06-07", "2009-04-05", "2016-01-02",
            "2014-11-12", "07700 900123", "Kempston", "Truro")

HEALTH_VISITING = {"service_type": "health_visitor", "organisation_name": "Bedford Health Visiting",
                   "organisation_code": "RYV01", "practitioner_name": "Hana Visitor",
                   "contact_phone": "01234 567890", "start_date": "2025-01-01"}
CONNEXIONS = {"service_type": "connexions", "organisation_name": "Bedford Connexions",
              "organisation_code": "CNX01", "practitioner_name": "Con Worker",
              "contact_phone": "01234 000111", "start_date": "2025-01-01"}


@dataclass
class World:
    app: FastAPI
    client: TestClient
    ctx: Context
    engine: Engine
    clock: Clock
    tmp: Path
    tokens: dict[str, str] = field(default_factory=dict)
    authenticators: dict[str, pyotp.TOTP] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def auth(self, uid: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[uid]}"}

    def sign_in(self, uid: str) -> str:
        """A new session through the HTTP sign-in (the clock moves on a time-step first)."""
        self.clock.advance(seconds=30)
        response = self.client.post("/signin", json={
            "username": uid, "password": password_of(uid), "code": self.authenticators[uid].at(self.clock()),
            "bearer": True})
        assert response.status_code == 200, response.text
        self.client.cookies.clear()  # requests say who they are by bearer token, each on its own
        return response.json()["token"]

    def web_sign_in(self, uid: str) -> None:
        """A browser's session through the sign-in page (its CSRF token, the cookie kept on the
        client), for the web pages' tests."""
        self.client.cookies.clear()
        page = self.client.get("/sign-in")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None, page.text
        self.clock.advance(seconds=30)
        response = self.client.post("/sign-in", headers={"Origin": "http://testserver"},
                                    follow_redirects=False, data={
            "username": uid, "password": password_of(uid), "csrf_token": csrf.group(1),
            "code": self.authenticators[uid].at(self.clock())})
        assert response.status_code == 303, response.text


def last_entry(world: World) -> m.AuditEvent:
    """The audit trail's newest entry, detached from its session."""
    with transaction(world.engine) as db:
        row = db.scalars(select(m.AuditEvent).order_by(m.AuditEvent.seq.desc()).limit(1)).one()
        db.expunge(row)
    return row


def find(world: World, uid: str, child_id: int) -> None:
    """Search for a child by its number, as a practitioner does before opening its record
    (access.found): an archived child is not found, and is not there to open either."""
    with transaction(world.engine) as db:
        number = db.scalar(select(m.Child.child_number).where(m.Child.id == child_id))
        found = db.scalar(  # already found today: no second search (it would be an access too)
            select(m.AuditEvent.seq).join(m.AuditEventChild, m.AuditEventChild.seq == m.AuditEvent.seq)
            .where(m.AuditEvent.actor == uid, m.AuditEvent.action == "search", m.AuditEvent.outcome == "ok",
                   m.AuditEvent.at >= world.clock() - dt.timedelta(hours=23),
                   m.AuditEventChild.child_id == child_id).limit(1))
    if number is not None and found is None:
        response = world.client.post("/search", headers=world.auth(uid), json={
            "reason": "safeguarding", "identifier_scheme": "child_number", "identifier": number})
        assert response.status_code == 200, response.text


def access_settings(server: DemoDirectory) -> AccessSettings:
    return AccessSettings(
        ldap_uri=server.ldap_uri, ldap_base_dn=SUFFIX, ldap_bind_dn=SERVICE_DN,
        ldap_bind_password=SERVICE_PASSWORD, ldap_group_roles=GROUP_ROLES,  # type: ignore[arg-type]
        totp_keys=[new_key()], lockout_threshold=5, lockout_minutes=15,  # type: ignore[list-item]
        # The tests' many deliberate failures all come from one test client: its address's own
        # count is tested on its own (tests/test_identity.py).
        client_lockout_threshold=1000,
        session_idle_minutes=15, session_max_hours=8, unusual_use_min_children=2,
        # The tests' clock barely moves: rate limits high enough for any test but the ones of
        # rate limits themselves (tests/test_scraping_limits.py sets its own small ones).
        search_limit_per_minute=10_000, search_limit_per_hour=10_000, search_limit_per_day=10_000,
        view_limit_per_minute=10_000, view_limit_per_hour=10_000, view_limit_per_day=10_000,
    )


def build_world(server: DemoDirectory, tmp: Path, engine: Engine | None = None) -> World:
    """The service on `engine` (an empty store; default: a new SQLite file under `tmp`)."""
    engine = engine or make_engine(f"sqlite:///{tmp / 'store.db'}")
    upgrade(engine)
    clock = Clock()
    settings = access_settings(server)
    search = EmbeddedSearch(engine)
    api_settings = ApiSettings(database_url=str(engine.url), access=settings, secure_cookie=False, docs=True,
                               upload_dir=tmp / "uploads")
    ctx = Context(api_settings, engine, SignIn(engine, Directory(settings), settings, clock=clock), search,
                  clock=clock)
    app = create_app(context=ctx)
    world = World(app, TestClient(app, raise_server_exceptions=False), ctx, engine, clock, tmp)
    _seed(world)
    for uid in USERS:
        set_register(engine, uid)
        _enrol(world, uid)
    set_register(engine, "olga.other", la=OTHER_LA)
    for uid in USERS:
        world.tokens[uid] = world.sign_in(uid)
    return world


def another_worker(world: World, server: DemoDirectory) -> World:
    """A second app on `world`'s store with its own memory, as another worker process of
    `childindex serve --workers N` or the service after a restart: its settings from the
    environment (the same TOTP keys), and it reads stored configuration on every request."""
    settings = access_settings(server)
    settings.totp_keys = list(world.ctx.access.totp_keys)
    api_settings = world.ctx.settings.model_copy(
        update={"access": settings, "configuration_refresh_seconds": 0.0})
    signin = SignIn(world.engine, Directory(settings), settings, clock=world.clock)
    ctx = Context(api_settings, world.engine, signin, EmbeddedSearch(world.engine), clock=world.clock)
    app = create_app(context=ctx)
    return World(app, TestClient(app, raise_server_exceptions=False), ctx, world.engine, world.clock,
                 world.tmp, world.tokens, world.authenticators, world.ids)


def _enrol(world: World, uid: str) -> None:
    with transaction(world.engine) as db:
        token = admin.issue_enrolment(db, BOOTSTRAP, uid, now=world.clock(), settings=world.ctx.access)
    enrolment = world.client.post("/enrolment", json={"username": uid, "password": password_of(uid),
                                                      "token": token})
    assert enrolment.status_code == 200, enrolment.text
    authenticator = pyotp.TOTP(enrolment.json()["secret"])
    confirmed = world.client.post("/enrolment/confirm", json={
        "username": uid, "password": password_of(uid), "code": authenticator.at(world.clock())})
    assert confirmed.status_code == 204, confirmed.text
    world.authenticators[uid] = authenticator


def _seed(world: World) -> None:
    with transaction(world.engine) as db:
        ids = add_children(db, [
            child(OWN_LA, "Tamsin", "Pendragon", dt.date(2015, 6, 7), "MK40 1AB", "Kempston",
                  involvements=[HEALTH_VISITING, CONNEXIONS]),
            child(OWN_LA, "Ysolde", "Trevithick", dt.date(2009, 4, 5), "MK40 1AB", "Kempston",
                  shielded=True, involvements=[HEALTH_VISITING]),
            child(OTHER_LA, "Kerensa", "Penhaligon", dt.date(2016, 1, 2), "TR1 2AB", "Truro",
                  involvements=[HEALTH_VISITING]),
            child(OWN_LA, "Demelza", "Nancarrow", dt.date(2014, 11, 12), "MK40 1AB", "Kempston"),
            child(OWN_LA, "Demelza", "Nancarow", dt.date(2014, 11, 12), "MK40 1AB", "Kempston"),
            child(OTHER_LA, "Kerensa", "Penhalligon", dt.date(2016, 1, 2), "TR1 2AB", "Truro"),
        ])
        own, shielded, other, dup_a, dup_b, other_dup = ids
        involvement = {i.child_id: i.id for i in db.query(m.Involvement).filter(
            m.Involvement.organisation_code == "RYV01")}
        connexions = db.query(m.Involvement).filter(m.Involvement.organisation_code == "CNX01").one().id
        reviews = {}
        for la, a, b in ((OWN_LA, dup_b, dup_a), (OTHER_LA, other_dup, other)):
            row = m.MatchReview(child_id=a, candidate_id=b, owning_la=la, rule="probabilistic_review",
                                priority=10, weight=4.0, probability=0.8,
                                explanation=json.dumps({"rule": "probabilistic_review"}),
                                held_shielded=False, status=ReviewStatus.OPEN, opened_at=START)
            db.add(row)
            db.flush()
            reviews[la] = row.id
        merge = m.ChildMerge(kept_child_id=other, merged_child_id=999_999, merged_child_number="9999999999",
                             merged_owning_la=OTHER_LA, merged_date_of_birth=dt.date(2016, 1, 2),
                             merged_gender=Gender.FEMALE, merged_status=ChildStatus.LIVE,
                             merged_shielded=False,
                             merged_created_at=START, kept_shielded=False, merged_at=START,
                             merged_by="olga.other", merge_reason=MatchReason.DETAILS_MATCH)
        investigation = m.ShieldInvestigation(child_id=other, owning_la=OTHER_LA, opened_by="olga.other",
                                              opened_at=START, audit_seq=0)
        db.add_all([merge, investigation])
        db.flush()
        world.ids.update(
            own=own, shielded=shielded, other=other, dup_a=dup_a, dup_b=dup_b, other_dup=other_dup,
            inv_own=involvement[own], inv_shielded=involvement[shielded], inv_other=involvement[other],
            inv_connexions=connexions, review_own=reviews[OWN_LA], review_other=reviews[OTHER_LA],
            merge_other=merge.id, investigation_other=investigation.id,
        )
    world.ctx.search.index_children(ids)  # type: ignore[attr-defined]


def personal_values(engine: Engine) -> set[str]:
    """Every name, date of birth, postcode, identifier, child number, address line and phone of
    every child in the store, lower-cased (values under four characters are left out: they would
    match ordinary words)."""
    from sqlalchemy import select

    columns = [m.Child.child_number, m.Child.date_of_birth, m.ChildName.given_name,
               m.ChildName.family_name, m.ChildName.middle_names, m.ChildAddress.postcode,
               m.ChildAddress.line1, m.ChildIdentifier.value, m.Carer.given_name, m.Carer.family_name,
               m.Carer.phone, m.Carer.email]
    values: set[str] = set()
    with transaction(engine) as db:
        for column in columns:
            for value in db.scalars(select(column).distinct()):
                if value is not None and len(str(value)) >= 4:
                    values.add(str(value).lower())
    return values | {p.lower() for p in PERSONAL}
