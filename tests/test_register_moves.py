"""A session acts for what the register says the user is now: a school submitter moved to another
school, or anyone whose role or LA the register changed by any way of writing it (the API, the
CLI, a restore), is signed out at their next request. Found by the second attack test: a school
data manager moved to another school kept uploading for the old one until the session ended
(8 hours). On the real slapd (api_world)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_world import OTHER_LA, OTHER_SCHOOL, OWN_SCHOOL, World, build_world, register_values, set_register
from sqlalchemy import select

from index import models as m
from index.store import transaction
from ops.slapd import DemoDirectory


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(ldap_server, tmp_path_factory.mktemp("register-moves"))
    yield world
    world.engine.dispose()


def put_entry(world: World, uid: str, **changes: object) -> None:
    values = {k: (str(v) if v is not None else None) for k, v in register_values(uid, **changes).items()
              if k != "user_id"}
    response = world.client.put(f"/la/register/{uid}", headers=world.auth("dana.datateam"),
                                json={**values, "change_reason": "register_role_or_organisation"})
    assert response.status_code == 200, response.text


def test_a_school_submitter_moved_to_another_school_is_signed_out(world: World) -> None:
    sam = world.tokens["sam.school"]
    listing = f"/schools/{OWN_SCHOOL}/submissions"
    assert world.client.get(listing, headers=world.auth("sam.school")).status_code == 200
    put_entry(world, "sam.school", organisation_code=OTHER_SCHOOL)
    try:
        moved = world.client.get(listing, headers={"Authorization": f"Bearer {sam}"})
        assert moved.status_code == 401
        with transaction(world.engine) as db:  # ended by the change itself, not only refused
            row = db.scalars(select(m.AccessSession).where(m.AccessSession.user_id == "sam.school")).first()
            assert row is not None and row.revoked_at is not None
    finally:
        put_entry(world, "sam.school")
        world.tokens["sam.school"] = world.sign_in("sam.school")


def test_a_register_written_outside_the_api_takes_effect_on_live_sessions(world: World) -> None:
    pat = world.tokens["pat.practitioner"]
    assert world.client.get("/me", headers={"Authorization": f"Bearer {pat}"}).status_code == 200
    set_register(world.engine, "pat.practitioner", la=OTHER_LA)  # e.g. `childindex` admin commands
    try:
        assert world.client.get("/me", headers={"Authorization": f"Bearer {pat}"}).status_code == 401
        set_register(world.engine, "sam.school", organisation_code=OTHER_SCHOOL)
        sam = world.client.get(f"/schools/{OWN_SCHOOL}/submissions", headers=world.auth("sam.school"))
        assert sam.status_code == 401
    finally:
        set_register(world.engine, "pat.practitioner")
        set_register(world.engine, "sam.school")
    # Put back as it was, the sessions act again (nothing was revoked by a direct write).
    assert world.client.get("/me", headers={"Authorization": f"Bearer {pat}"}).status_code == 200
