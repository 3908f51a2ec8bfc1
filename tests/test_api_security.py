"""Every endpoint refuses whoever may not use it, with the right status and no personal data:
unauthenticated, wrong role, other LA, other school, lapsed vetting, expired training,
suspended, expired or idle or revoked session, replayed TOTP code. The routes are walked from
the app itself, so a new route without an entry in ROUTES fails the suite."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from api_world import (
    OTHER_LA,
    OTHER_SCHOOL,
    OWN_LA,
    OWN_SCHOOL,
    PERSONAL,
    USERS,
    World,
    build_world,
    password_of,
    set_register,
)
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update

from access import sessions
from access.roles import Capability, Permission, Principal, Scope
from index import models as m
from index.store import transaction
from ops.slapd import DemoDirectory

P = Permission
PUBLIC = {("POST", "/signin"), ("POST", "/enrolment"), ("POST", "/enrolment/confirm"), ("GET", "/docs"),
          ("GET", "/openapi.json"), ("GET", "/docs/init.js"),
          # Operations: no sign-in, no personal data; /metrics checks its own scraper token.
          ("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics")}
ANY_SIGNED_IN: tuple[Permission, ...] = ()
REGISTER_BODY = {"organisation": "Elsewhere Health", "la": OWN_LA, "role": "practitioner",
                 "vetting_checked_on": "2025-01-01", "vetting_expires_on": "2027-01-01",
                 "training_completed_on": "2025-01-01", "change_reason": "register_new_entry"}


@dataclass(frozen=True)
class Spec:
    """What a route needs, and a well-formed request to it for own and other-LA targets."""

    needs: tuple[Permission, ...]
    own: dict[str, str] = field(default_factory=dict)  # path parameter -> world id name or literal
    other: dict[str, str] | None = None  # the same parameters for a target in another LA
    body: dict[str, Any] | None = None
    other_body: dict[str, Any] | None = None
    query: dict[str, str] | None = None
    upload: bool = False
    school: bool = False  # {laestab} in the path


CHILD = {"child_id": "own"}
OTHER_CHILD = {"child_id": "other"}
ROUTES: dict[tuple[str, str], Spec] = {
    ("POST", "/signout"): Spec(ANY_SIGNED_IN),
    ("GET", "/me"): Spec(ANY_SIGNED_IN),
    ("POST", "/search"): Spec((P.SEARCH,), body={"reason": "safeguarding", "family_name": "Pendragon",
                                                  "date_of_birth": "2015-06-07"}),
    ("GET", "/children/{child_id}"): Spec((P.VIEW_RECORD,), CHILD, OTHER_CHILD,
                                          query={"reason": "safeguarding"}),
    ("POST", "/children/{child_id}/override"): Spec((P.VIEW_RECORD, P.SHIELD_OVERRIDE),
                                                    {"child_id": "shielded"},
                                                    body={"reason": "safeguarding"}),
    ("POST", "/children/{child_id}/involvements"): Spec(
        (P.RECORD_INVOLVEMENT,), CHILD, OTHER_CHILD, body={"service_type": "health_visitor"}),
    ("POST", "/involvements/{involvement_id}/end"): Spec(
        (P.RECORD_INVOLVEMENT,), {"involvement_id": "inv_own"}, {"involvement_id": "inv_other"},
        body={"end_date": "2026-03-01"}),
    ("PUT", "/involvements/{involvement_id}/indicators/{kind}"): Spec(
        (P.RECORD_INVOLVEMENT,), {"involvement_id": "inv_own", "kind": "=taking_action"},
        {"involvement_id": "inv_other", "kind": "=taking_action"}, body={"reason": "safeguarding"}),
    ("DELETE", "/involvements/{involvement_id}/indicators/{kind}"): Spec(
        (P.RECORD_INVOLVEMENT,), {"involvement_id": "inv_own", "kind": "=taking_action"},
        {"involvement_id": "inv_other", "kind": "=taking_action"}, query={"reason": "safeguarding"}),
    ("GET", "/la/reviews"): Spec((P.REVIEW_QUEUE,)),
    ("GET", "/la/held"): Spec((P.REVIEW_QUEUE,)),
    ("POST", "/la/held/{submission_id}/dismissal"): Spec(
        (P.REVIEW_QUEUE,), {"submission_id": "=1"}, body={"record": "line 2", "reason": "held_sent_again"}),
    ("POST", "/la/held/{submission_id}/attachment"): Spec(
        (P.REVIEW_QUEUE,), {"submission_id": "=1"},
        body={"record": "line 2", "child_id": 1, "reason": "held_child_identified"}),
    ("GET", "/la/reviews/{review_id}"): Spec((P.REVIEW_QUEUE,), {"review_id": "review_own"},
                                             {"review_id": "review_other"}),
    ("POST", "/la/reviews/{review_id}/decision"): Spec(
        (P.REVIEW_QUEUE,), {"review_id": "review_own"}, {"review_id": "review_other"},
        body={"verdict": "different", "reason": "different_people"}),
    ("POST", "/la/merges/{merge_id}/split"): Spec((P.REVIEW_QUEUE,), {"merge_id": "merge_other"},
                                                  {"merge_id": "merge_other"}, body={}),
    ("PATCH", "/la/children/{child_id}"): Spec((P.REVIEW_QUEUE,), CHILD, OTHER_CHILD,
                                               body={"family_name": "Pendragon"}),
    ("POST", "/la/children/{child_id}/shield"): Spec((P.SHIELD,), CHILD, OTHER_CHILD,
                                                     body={"shielded": True, "reason": "safeguarding"}),
    ("GET", "/la/children/{child_id}/opt-outs"): Spec((P.REVIEW_QUEUE,), CHILD, OTHER_CHILD),
    ("POST", "/la/children/{child_id}/opt-outs"): Spec(
        (P.REVIEW_QUEUE,), CHILD, OTHER_CHILD, body={"service_type": "connexions", "opted_out_by": "parent"}),
    ("DELETE", "/la/children/{child_id}/opt-outs/{service_type}"): Spec(
        (P.REVIEW_QUEUE,), {"child_id": "own", "service_type": "=connexions"},
        {"child_id": "other", "service_type": "=connexions"}),
    ("GET", "/la/register"): Spec((P.MANAGE_REGISTER,)),
    ("PUT", "/la/register/{user_id}"): Spec(
        (P.MANAGE_REGISTER,), {"user_id": "=new.user"}, {"user_id": "=olga.other"}, body=REGISTER_BODY,
        other_body={**REGISTER_BODY, "la": OTHER_LA}),
    ("GET", "/la/register/changes"): Spec((P.MANAGE_REGISTER,)),
    ("POST", "/la/register/{user_id}/enrolment"): Spec(
        (P.ISSUE_ENROLMENT,), {"user_id": "=pat.practitioner"}, {"user_id": "=olga.other"}),
    ("GET", "/audit"): Spec((P.READ_AUDIT,)),
    ("GET", "/audit/verify"): Spec((P.READ_AUDIT,)),
    ("GET", "/audit/children/{child_id}"): Spec((P.READ_AUDIT,), CHILD, OTHER_CHILD),
    ("GET", "/audit/users/{user_id}"): Spec((P.READ_AUDIT,), {"user_id": "=pat.practitioner"},
                                            {"user_id": "=olga.other"}),
    ("GET", "/la/accesses"): Spec((P.READ_AUDIT,)),
    ("GET", "/la/children/{child_id}/accesses"): Spec((P.READ_AUDIT,), CHILD, OTHER_CHILD),
    ("GET", "/la/notifications"): Spec((P.READ_AUDIT,)),
    ("GET", "/la/investigations"): Spec((P.READ_AUDIT,)),
    ("POST", "/la/investigations/{investigation_id}/close"): Spec(
        (P.READ_AUDIT, P.SHIELD), {"investigation_id": "investigation_other"},
        {"investigation_id": "investigation_other"}),
    ("GET", "/la/usage"): Spec((P.READ_AUDIT,)),
    ("POST", "/schools/{laestab}/submissions"): Spec((P.UPLOAD_SUBMISSION,), upload=True, school=True),
    ("GET", "/schools/{laestab}/submissions"): Spec((P.UPLOAD_SUBMISSION,), school=True),
    ("POST", "/la/submissions"): Spec((P.UPLOAD_FEED,), upload=True),
    ("GET", "/schools/{laestab}/submissions/{submission_id}"): Spec(
        (P.UPLOAD_SUBMISSION,), {"submission_id": "=1"}, school=True),
    ("POST", "/admin/users/{user_id}/unlock"): Spec((P.UNLOCK,), {"user_id": "=pat.practitioner"},
                                                    {"user_id": "=olga.other"}),
    ("GET", "/admin/configuration"): Spec((P.CONFIGURE,)),
    ("PATCH", "/admin/configuration"): Spec((P.CONFIGURE,), body={"lockout_minutes": 15}),
    ("GET", "/operations/nightly"): Spec((P.READ_RUNS,)),
    ("GET", "/operations/nightly/runs/{run_id}"): Spec((P.READ_RUNS,), {"run_id": "=1"}),
    ("GET", "/la/children/{child_id}/subject-access"): Spec((P.SUBJECT_ACCESS,), CHILD, OTHER_CHILD),
    ("POST", "/la/children/{child_id}/transfer"): Spec((P.TRANSFER,), CHILD, OTHER_CHILD,
                                                       body={"to_la": "823", "reason": "wrong_la"}),
    ("GET", "/la/transfers"): Spec((P.TRANSFER,)),
}


def principal_of(uid: str) -> Principal:
    role, _org, code, _service = USERS[uid]
    capabilities = frozenset({Capability.CHILD_PROTECTION}) if uid == "cora.protect" else frozenset()
    return Principal(uid, role, la=OWN_LA, organisation_code=code, capabilities=capabilities)


def allowed(uid: str, spec: Spec) -> bool:
    return all(p in principal_of(uid).grants() for p in spec.needs)


def own_la_scoped(uid: str, spec: Spec) -> bool:
    """Is some permission of the route limited to the user's own LA?"""
    grants = principal_of(uid).grants()
    return any(grants[p] is Scope.OWN_LA for p in spec.needs)


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield build_world(ldap_server, tmp_path_factory.mktemp("api-security"))


def request(world: World, key: tuple[str, str], headers: dict[str, str] | None, *, other_la: bool = False,
            school: str = OWN_SCHOOL, client: TestClient | None = None) -> Response:
    method, template = key
    spec = ROUTES[key]
    params = spec.other if other_la and spec.other is not None else spec.own
    path = template.replace("{laestab}", school)
    for name, ref in params.items():
        value = ref[1:] if ref.startswith("=") else str(world.ids[ref])
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, path
    body = spec.other_body if other_la and spec.other_body is not None else spec.body
    kwargs: dict[str, Any] = {"headers": headers or {}, "params": spec.query}
    if spec.upload:
        kwargs["files"] = {"file": ("census.xml", b"<Message/>", "application/xml")}
    elif body is not None:
        kwargs["json"] = body
    return (client or world.client).request(method, path, **kwargs)


def refused(response: Response, status: int, what: str) -> str | None:
    """None if the response is the expected refusal with no personal data; else what is wrong."""
    problems = []
    if response.status_code != status:
        problems.append(f"status {response.status_code}, expected {status}")
    text = response.text
    leaked = [v for v in PERSONAL if v.lower() in text.lower()]
    if leaked:
        problems.append(f"personal data in the body: {leaked}")
    try:
        if "error" not in response.json():
            problems.append("no 'error' in the body")
    except ValueError:
        problems.append("body is not JSON")
    return f"{what}: {'; '.join(problems)} ({text[:200]})" if problems else None


def check_all(failures: list[str | None]) -> None:
    found = [f for f in failures if f]
    assert not found, "\n".join(found)


def walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """(method, path, route) of every route, including those of included routers (FastAPI keeps
    an included router as one entry holding the original router)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from walk(inner.routes, prefix + getattr(route.include_context, "prefix", ""))
            continue
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                yield method, prefix + route.path, route


def test_every_route_is_covered(world: World) -> None:
    found = list(walk(world.app.routes))
    actual = {(method, path) for method, path, _ in found}
    assert len(actual) == len(found), "a method and path served twice"
    assert actual - PUBLIC == set(ROUTES), (
        f"routes without a security entry: {sorted(actual - PUBLIC - set(ROUTES))}; "
        f"entries without a route: {sorted(set(ROUTES) - actual)}")
    # + sign-in, enrol, confirm, health, ready, metrics
    assert sum(isinstance(r, APIRoute) for _m, _p, r in found) == len(ROUTES) + 6


def test_unauthenticated_requests_are_refused(world: World) -> None:
    failures = []
    for key in ROUTES:
        for what, headers in (("no credentials", None), ("unknown token", {"Authorization": "Bearer x1"}),
                              ("basic", {"Authorization": "Basic eDp5"})):
            failures.append(refused(request(world, key, headers), 401, f"{key} {what}"))
    check_all(failures)


def test_wrong_role_is_refused(world: World) -> None:
    failures = []
    for key, spec in ROUTES.items():
        for uid in USERS:
            if not allowed(uid, spec):
                failures.append(refused(request(world, key, world.auth(uid)), 403, f"{key} as {uid}"))
    check_all(failures)
    assert len(failures) > 60


def test_other_la_is_refused(world: World) -> None:
    failures = []
    for key, spec in ROUTES.items():
        if spec.other is None:
            continue
        for uid in USERS:
            if allowed(uid, spec) and own_la_scoped(uid, spec):
                failures.append(refused(request(world, key, world.auth(uid), other_la=True), 403,
                                        f"{key} other LA as {uid}"))
    check_all(failures)
    assert len(failures) >= 18


def test_other_school_is_refused(world: World) -> None:
    keys = [k for k, s in ROUTES.items() if s.school]
    sam = world.auth("sam.school")
    check_all([refused(request(world, k, sam, school=OTHER_SCHOOL), 403, f"{k} other school") for k in keys])
    assert len(keys) == 3


def _user_for(spec: Spec) -> str:
    return next(uid for uid in USERS if allowed(uid, spec))


@pytest.mark.parametrize("change, status", [
    ({"vetting_expires_on": dt.date(2026, 3, 1)}, "vetting_expired"),
    ({"training_expires_on": dt.date(2026, 3, 1)}, "training_expired"),
    ({"training_completed_on": None, "training_expires_on": None}, "training_not_completed"),
    ({"suspended": True}, "suspended"),
])
def test_register_lapse_ends_access_at_once(world: World, change: dict[str, object], status: str) -> None:
    for uid in USERS:
        set_register(world.engine, uid, **change)
    try:
        failures = []
        for key, spec in ROUTES.items():
            response = request(world, key, world.auth(_user_for(spec)))
            failures.append(refused(response, 403, f"{key} {status}"))
            if response.status_code == 403 and response.json().get("status") != status:
                failures.append(f"{key}: register status {response.json().get('status')}, expected {status}")
        check_all(failures)
    finally:
        for uid in USERS:
            set_register(world.engine, uid)


def _session(world: World, uid: str, **columns: dt.datetime) -> str:
    with transaction(world.engine) as db:
        new = sessions.create(db, principal_of(uid), now=world.clock(), settings=world.ctx.access)
        if columns:
            db.execute(update(m.AccessSession).where(m.AccessSession.user_id == uid,
                                                     m.AccessSession.expires_at == new.expires_at)
                       .values(**columns))
    return new.token


@pytest.mark.parametrize("kind", ["expired", "idle", "revoked"])
def test_ended_sessions_are_refused(world: World, kind: str) -> None:
    now = world.clock()
    failures = []
    for key, spec in ROUTES.items():
        uid = _user_for(spec)
        if kind == "expired":
            token = _session(world, uid, expires_at=now - dt.timedelta(seconds=1))
        elif kind == "idle":
            token = _session(world, uid, last_seen_at=now - dt.timedelta(minutes=16))
        else:
            token = _session(world, uid)
            signed_out = world.client.post("/signout", headers={"Authorization": f"Bearer {token}"})
            assert signed_out.status_code == 204
        headers = {"Authorization": f"Bearer {token}"}
        failures.append(refused(request(world, key, headers), 401, f"{key} {kind}"))
    check_all(failures)


def test_replayed_totp_code_gets_no_session(world: World) -> None:
    uid = "pat.practitioner"
    world.clock.advance(seconds=30)
    code = world.authenticators[uid].at(world.clock())
    first = world.client.post("/signin", json={"username": uid, "password": password_of(uid), "code": code})
    assert first.status_code == 200
    attacker = TestClient(world.app, raise_server_exceptions=False)
    replay = attacker.post("/signin", json={"username": uid, "password": password_of(uid), "code": code})
    assert refused(replay, 401, "replayed code") is None
    assert "token" not in replay.json() and not replay.cookies
    check_all([refused(request(world, key, None, client=attacker), 401, f"{key} after replay")
               for key in ROUTES])


def test_refusals_are_audited_without_the_action(world: World) -> None:
    response = request(world, ("GET", "/children/{child_id}"), world.auth("dana.datateam"), other_la=True)
    assert response.status_code == 403
    with transaction(world.engine) as db:
        last = db.query(m.AuditEvent).order_by(m.AuditEvent.seq.desc()).first()
        assert last is not None and (last.actor, last.action, last.outcome) == (
            "dana.datateam", "view_record", "forbidden")


def test_uploads_ignore_client_paths(world: World, tmp_path: Path) -> None:
    """A file name with a path in it is never used: nothing is written outside the upload folder."""
    target = world.tmp / "escaped.xml"
    for name in ("../../escaped.xml", "/etc/passwd", "..\\..\\escaped.xml", "a/../../escaped.xml"):
        response = world.client.post(f"/schools/{OWN_SCHOOL}/submissions", headers=world.auth("sam.school"),
                                      files={"file": (name, b"<Message></Message>", "application/xml")})
        assert response.status_code in {201, 422, 503}, response.text
        assert not target.exists()
    uploads = world.ctx.settings.upload_dir
    assert not uploads.exists() or list(uploads.iterdir()) == []  # each upload is deleted once staged
