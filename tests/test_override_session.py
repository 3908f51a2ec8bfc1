"""A shield override opens the child in the session that gave the reason, and nowhere else: not
in the user's other sessions alive at the time, nor in later ones. On the real slapd
(api_world)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_world import World, build_world, find
from sqlalchemy import select

from index import models as m
from index.store import transaction
from ops.slapd import DemoDirectory


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(ldap_server, tmp_path_factory.mktemp("override-session"))
    yield world
    world.engine.dispose()


def visibility(world: World, token: str, child_id: int) -> str:
    response = world.client.get(f"/children/{child_id}", params={"reason": "safeguarding"},
                                headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return str(response.json()["visibility"])


def test_an_override_opens_the_child_in_its_own_session_only(world: World) -> None:
    shielded = world.ids["shielded"]
    desk, phone = world.sign_in("cora.protect"), world.sign_in("cora.protect")  # two live sessions
    world.tokens["cora.protect"] = desk
    for child in (shielded, world.ids["own"]):
        find(world, "cora.protect", child)  # a practitioner opens what they found (access.found)
    overridden = world.client.post(f"/children/{shielded}/override", json={"reason": "safeguarding"},
                                   headers={"Authorization": f"Bearer {desk}"})
    assert overridden.status_code == 200 and overridden.json()["visibility"] == "full"
    with transaction(world.engine) as db:
        last = db.scalars(select(m.AuditEvent).order_by(m.AuditEvent.seq.desc()).limit(1)).one()
        assert (last.actor, last.action, last.outcome) == ("cora.protect", "shield_override", "ok")
    assert visibility(world, desk, shielded) == "full"  # the session that gave the reason
    assert visibility(world, phone, shielded) == "shielded"  # another session of the same user
    later = world.sign_in("cora.protect")
    assert visibility(world, later, shielded) == "shielded"
    assert visibility(world, desk, world.ids["own"]) == "full"  # an unshielded child, as ever
