"""The web pages' sign-out is a link (GET /sign-out), and SameSite=Strict sends the session
cookie on a request from another port of the same host: found by the second attack test, an
<img> on such a page signed the user out. A sign-out the browser says came from another site is
refused (403, audited as cross_site_refused); the service's own link, or the address typed, still
signs out. On the real slapd (api_world)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_world import World, build_world, password_of
from sqlalchemy import select

from index import models as m
from index.store import transaction
from ops.slapd import DemoDirectory


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(ldap_server, tmp_path_factory.mktemp("sign-out-cross-site"))
    yield world
    world.engine.dispose()


def cookie_session(world: World, uid: str) -> str:
    world.clock.advance(seconds=30)
    signed = world.client.post("/signin", json={"username": uid, "password": password_of(uid),
                                                "code": world.authenticators[uid].at(world.clock())})
    assert signed.status_code == 200, signed.text
    token = world.client.cookies.get("childindex_session")
    world.client.cookies.clear()
    assert token
    return str(token)


def alive(world: World, token: str) -> bool:
    return world.client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
def test_a_sign_out_from_another_site_is_refused(world: World, site: str) -> None:
    token = cookie_session(world, "pat.practitioner")
    response = world.client.get("/sign-out", follow_redirects=False, headers={
        "Cookie": f"childindex_session={token}", "Sec-Fetch-Site": site, "Sec-Fetch-Dest": "image"})
    world.client.cookies.clear()
    assert response.status_code == 403
    assert alive(world, token)
    with transaction(world.engine) as db:
        last = db.scalars(select(m.AuditEvent).order_by(m.AuditEvent.seq.desc()).limit(1)).one()
        assert (last.action, last.outcome, last.actor) == (
            "cross_site_refused", "refused", "pat.practitioner")


@pytest.mark.parametrize("site", ["same-origin", "none", None])
def test_the_services_own_sign_out_link_signs_out(world: World, site: str | None) -> None:
    token = cookie_session(world, "pat.practitioner")
    headers = {"Cookie": f"childindex_session={token}"} | ({"Sec-Fetch-Site": site} if site else {})
    response = world.client.get("/sign-out", headers=headers, follow_redirects=False)
    world.client.cookies.clear()
    assert response.status_code == 303 and response.headers["location"] == "/sign-in?ended=signed_out"
    assert not alive(world, token)
