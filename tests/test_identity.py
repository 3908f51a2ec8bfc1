"""Identity: one canonical user name (trimmed, NFKC, case-folded) before the lockout, the directory
bind, the register and sessions; a lockout by client address as well; the session token in the
sign-in body only for clients that ask for a bearer token. Each refusal is asserted with its
audit entry. On the real slapd (api_world)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_world import World, build_world, last_entry, password_of, register_values
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from access.identity import canonical_username
from index import models as m
from index.store import transaction
from ops.slapd import DemoDirectory


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(ldap_server, tmp_path_factory.mktemp("identity"))
    yield world
    world.engine.dispose()


def attempt(world: World, username: str, uid: str, *, right: bool, client: TestClient | None = None,
            bearer: bool = True) -> int:
    world.clock.advance(seconds=30)
    body = {"username": username, "password": password_of(uid) if right else "wrong-password",
            "code": world.authenticators[uid].at(world.clock()), "bearer": bearer}
    return (client or world.client).post("/signin", json=body).status_code



def unlock(world: World, uid: str) -> None:
    response = world.client.post(f"/admin/users/{uid}/unlock", headers=world.auth("ada.admin"))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("name, canonical", [
    ("  hal.visitor ", "hal.visitor"), ("Hal.Visitor", "hal.visitor"), ("ＨＡＬ.visitor", "hal.visitor"),
    ("hal\u00a0 visitor", "hal visitor"), ("\tpat.practitioner\n", "pat.practitioner"),
])
def test_canonical_user_name(name: str, canonical: str) -> None:
    assert canonical_username(name) == canonical
    assert canonical_username(canonical) == canonical


VARIANTS = ("  pat.practitioner", "pat.practitioner  ", "PAT.Practitioner", "Ｐat.practitioner",
            " Pat.practitioner ")


def test_padded_or_recased_names_share_one_lockout(world: World) -> None:
    """Five failures spread over variants of one name lock it; a variant with the right password
    and code is then refused as locked, and the refusal is audited under the canonical name."""
    uid = "pat.practitioner"
    for variant in VARIANTS:
        assert attempt(world, variant, uid, right=False) == 401
    for variant in (uid, *VARIANTS):
        assert attempt(world, variant, uid, right=True) == 429, variant
        entry = last_entry(world)
        assert (entry.actor, entry.action, entry.outcome) == (uid, "sign_in_refused", "locked")
    unlock(world, "PAT.Practitioner")  # an unlock of any spelling clears the canonical name
    assert attempt(world, "  Pat.Practitioner ", uid, right=True) == 200
    entry = last_entry(world)
    assert (entry.actor, entry.action, entry.outcome) == (uid, "sign_in", "ok")
    with transaction(world.engine) as db:
        sessions = db.scalars(select(m.AccessSession.user_id).distinct()).all()
        keys = db.scalars(select(m.AccessLockout.user_id)).all()
    assert all(s == canonical_username(s) for s in sessions)
    assert [k for k in keys if "pat" in k.lower()] == [uid]


def test_an_unlock_clears_the_lock_of_a_padded_name(world: World) -> None:
    uid = "cora.protect"
    for _ in range(5):
        assert attempt(world, f" {uid.upper()} ", uid, right=False) == 401
    assert attempt(world, uid, uid, right=True) == 429
    unlock(world, uid)
    assert attempt(world, uid, uid, right=True) == 200
    world.tokens[uid] = world.sign_in(uid)


def test_a_client_address_is_locked_after_failures_of_many_names(world: World) -> None:
    """Spraying one password over many names from one address: after the client threshold the
    address is locked even for a right password, while another address still signs in."""
    world.ctx.access.client_lockout_threshold = 4
    sprayer = TestClient(world.app, raise_server_exceptions=False, client=("203.0.113.7", 40000))
    other = TestClient(world.app, raise_server_exceptions=False, client=("198.51.100.2", 40000))
    try:
        names = ("alex.auditor", "ada.admin", "sam.school", "no.such.user")
        for name in names:
            assert attempt(world, name, "alex.auditor", right=False, client=sprayer) == 401
        assert attempt(world, "dana.datateam", "dana.datateam", right=True, client=sprayer) == 429
        entry = last_entry(world)
        assert (entry.actor, entry.outcome) == ("dana.datateam", "locked")
        assert attempt(world, "dana.datateam", "dana.datateam", right=True, client=other) == 200
        # A lock expires; an old failure is forgotten after the lock's length.
        world.clock.advance(minutes=world.ctx.access.lockout_minutes + 1)
        assert attempt(world, "alex.auditor", "alex.auditor", right=True, client=sprayer) == 200
    finally:
        world.ctx.access.client_lockout_threshold = 1000
        for uid in ("alex.auditor", "ada.admin", "sam.school", "dana.datateam"):
            world.tokens[uid] = world.sign_in(uid)


def test_invalid_user_names_count_against_the_client(world: World) -> None:
    world.ctx.access.client_lockout_threshold = 2
    client = TestClient(world.app, raise_server_exceptions=False, client=("203.0.113.99", 40000))
    try:
        for name in ("   ", "x\u200by"):
            assert attempt(world, name, "alex.auditor", right=True, client=client) == 401
        assert attempt(world, "alex.auditor", "alex.auditor", right=True, client=client) == 429
    finally:
        world.ctx.access.client_lockout_threshold = 1000
        world.tokens["alex.auditor"] = world.sign_in("alex.auditor")


def test_register_and_admin_routes_take_one_canonical_name(world: World) -> None:
    """A register entry written as `Pat.Practitioner` is pat.practitioner's (no second row); the
    trail's questions and the enrolment route find the same person whatever the case."""
    dana = world.auth("dana.datateam")
    body = {k: v for k, v in register_values("pat.practitioner").items() if k != "user_id"}
    body = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in body.items()}
    body["role"] = "practitioner"
    body["change_reason"] = "register_correction"
    saved = world.client.put("/la/register/Pat.Practitioner", headers=dana, json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["user_id"] == "pat.practitioner"
    with transaction(world.engine) as db:
        rows = db.scalar(select(func.count()).select_from(m.Practitioner)
                         .where(func.lower(m.Practitioner.user_id) == "pat.practitioner"))
    assert rows == 1
    entry = last_entry(world)
    assert (entry.action, entry.subject_user) == ("register_change", "pat.practitioner")
    looked = world.client.get("/audit/users/PAT.PRACTITIONER", headers=world.auth("alex.auditor"))
    assert looked.status_code == 200 and looked.json()["entries"]


# -- the session token -----------------------------------------------------------------------------


def test_a_browser_gets_only_the_cookie(world: World) -> None:
    uid = "alex.auditor"
    browser = TestClient(world.app, raise_server_exceptions=False)
    world.clock.advance(seconds=30)
    response = browser.post("/signin", json={"username": uid, "password": password_of(uid),
                                             "code": world.authenticators[uid].at(world.clock())})
    assert response.status_code == 200, response.text
    assert response.json()["token"] is None
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert browser.get("/me").json()["user_id"] == uid  # the cookie alone is the session


def test_a_program_that_asks_gets_a_bearer_token_and_no_cookie(world: World) -> None:
    uid = "alex.auditor"
    program = TestClient(world.app, raise_server_exceptions=False)
    world.clock.advance(seconds=30)
    response = program.post("/signin", json={"username": uid, "password": password_of(uid),
                                             "code": world.authenticators[uid].at(world.clock()),
                                             "bearer": True})
    assert response.status_code == 200
    token = response.json()["token"]
    assert token and "set-cookie" not in response.headers
    assert program.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_the_cookie_is_secure_outside_the_demo(world: World) -> None:
    uid = "alex.auditor"
    world.ctx.settings.secure_cookie = True
    try:
        world.clock.advance(seconds=30)
        response = TestClient(world.app).post("/signin", json={
            "username": uid, "password": password_of(uid),
            "code": world.authenticators[uid].at(world.clock())})
        assert "secure" in response.headers["set-cookie"].lower()
    finally:
        world.ctx.settings.secure_cookie = False


def test_the_sign_in_page_counts_failures_against_the_client_too(world: World) -> None:
    """The web page's sign-in is the same sign-in: its failures from one address lock that
    address, as the JSON route's do (it once left the address out)."""
    import re

    world.ctx.access.client_lockout_threshold = 2
    browser = TestClient(world.app, raise_server_exceptions=False, client=("203.0.113.50", 40000),
                         headers={"Origin": "http://testserver"})
    uid = "alex.auditor"

    def page_attempt(name: str, right: bool) -> int:
        page = browser.get("/sign-in")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        world.clock.advance(seconds=30)
        return browser.post("/sign-in", follow_redirects=False, data={
            "username": name, "password": password_of(uid) if right else "wrong-password",
            "code": world.authenticators[uid].at(world.clock()), "csrf_token": csrf.group(1)}).status_code

    try:
        assert page_attempt("ada.admin", right=False) == 401
        assert page_attempt("sam.school", right=False) == 401
        assert page_attempt(uid, right=True) == 429
        assert last_entry(world).outcome == "locked"
    finally:
        world.ctx.access.client_lockout_threshold = 1000
        world.tokens[uid] = world.sign_in(uid)


def test_what_a_user_looked_at_is_found_under_any_spelling(world: World) -> None:
    """As a page calls it (a name from a form, not through the path's validator)."""
    from access.audit import what_user_looked_at

    with transaction(world.engine) as db:
        canonical = what_user_looked_at(db, "pat.practitioner")
        spelled = what_user_looked_at(db, " PAT.Practitioner ")
    assert canonical and [e.seq for e in spelled] == [e.seq for e in canonical]
