"""What an id tells someone who has not found the child, or whose scope it is outside: nothing.

Found by attacking the running demo with each role's credentials (second attack test). Child,
involvement, review, merge and investigation ids are sequential, so any answer that differs
between "no such id", "not yours" and "not found by you" walks the index; and recording an
involvement made the child "found", so it opened any record without a search. On the real slapd
(api_world).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_world import World, build_world, find, last_entry
from sqlalchemy import func, select

from index import models as m
from index.store import transaction
from ops.slapd import DemoDirectory

NOBODY = 1_000_000  # no child, involvement, review, merge or investigation has this id
SEARCH_FIRST = "open a child's record from your own search results: search for the child first"


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(ldap_server, tmp_path_factory.mktemp("id-oracles"))
    yield world
    world.engine.dispose()



def involvements_of(world: World, child_id: int) -> int:
    with transaction(world.engine) as db:
        return int(db.scalar(select(func.count()).select_from(m.Involvement)
                             .where(m.Involvement.child_id == child_id)) or 0)


def answer(world: World, uid: str, method: str, path: str, **kwargs: object) -> tuple[int, object]:
    response = world.client.request(method, path, headers=world.auth(uid), **kwargs)  # type: ignore[arg-type]
    return response.status_code, response.json()


def test_an_involvement_does_not_open_a_record_nobody_searched_for(world: World) -> None:
    """Recording an involvement made the child 'found' (their service works with it), so
    POST /children/{id}/involvements followed by GET /children/{id} opened every record in
    turn. An involvement is recorded on a child found first, like a view."""
    child = world.ids["dup_a"]  # pat's service has no involvement with it; pat never searched
    before = involvements_of(world, child)
    recorded = world.client.post(f"/children/{child}/involvements", headers=world.auth("pat.practitioner"),
                                 json={"service_type": "health_visitor", "reason": "new_involvement"})
    assert recorded.status_code == 403 and recorded.json()["error"] == SEARCH_FIRST
    assert involvements_of(world, child) == before
    entry = last_entry(world)
    assert (entry.actor, entry.action, entry.outcome) == (
        "pat.practitioner", "record_involvement", "forbidden")
    opened = world.client.get(f"/children/{child}", params={"reason": "safeguarding"},
                              headers=world.auth("pat.practitioner"))
    assert opened.status_code == 403
    find(world, "pat.practitioner", child)  # found: now it may be recorded
    again = world.client.post(f"/children/{child}/involvements", headers=world.auth("pat.practitioner"),
                              json={"service_type": "health_visitor", "reason": "new_involvement"})
    assert again.status_code == 201 and involvements_of(world, child) == before + 1


def test_a_practitioner_learns_nothing_from_an_id_they_did_not_find(world: World) -> None:
    """A child id nobody has, and one the practitioner did not find, get the same answer on
    every route a practitioner has; so does a shielded child to a child-protection worker's
    override (it answered 409 'not shielded' for any unshielded id, found or not)."""
    unfound = world.ids["dup_b"]
    for method, path, kwargs in [
        ("GET", "/children/{id}", {"params": {"reason": "safeguarding"}}),
        ("POST", "/children/{id}/involvements",
         {"json": {"service_type": "health_visitor", "reason": "new_involvement"}}),
    ]:
        real = answer(world, "pat.practitioner", method, path.format(id=unfound), **kwargs)
        made_up = answer(world, "pat.practitioner", method, path.format(id=NOBODY), **kwargs)
        assert real == made_up == (403, {"error": SEARCH_FIRST}), path
    override = {"json": {"reason": "safeguarding"}}
    plain = answer(world, "cora.protect", "POST", f"/children/{unfound}/override", **override)
    shielded_child = world.ids["shielded"]
    shielded = answer(world, "cora.protect", "POST", f"/children/{shielded_child}/override", **override)
    made_up = answer(world, "cora.protect", "POST", f"/children/{NOBODY}/override", **override)
    assert plain == shielded == made_up == (403, {"error": SEARCH_FIRST})
    entry = last_entry(world)
    # Refused as the view the override starts with (the route needs both permissions).
    assert (entry.actor, entry.action, entry.outcome) == ("cora.protect", "view_record", "forbidden")
    with transaction(world.engine) as db:  # no override happened, so no investigation was opened
        assert db.scalar(select(func.count()).select_from(m.ShieldInvestigation)
                         .where(m.ShieldInvestigation.opened_by == "cora.protect")) == 0
    # Found, the override of an unshielded child still says so.
    find(world, "cora.protect", unfound)
    assert answer(world, "cora.protect", "POST", f"/children/{unfound}/override", **override)[0] == 409


def test_an_id_outside_the_scope_and_an_id_of_nothing_get_one_answer(world: World) -> None:
    """The LA data team, and a practitioner ending an involvement, got 404 for an id of nothing
    and 403 for one of another LA (or service): an oracle of what exists elsewhere."""
    other_child, other_review = world.ids["other_dup"], world.ids["review_other"]
    pairs = [
        ("dana.datateam", "GET", "/children/{id}", other_child, {"params": {"reason": "data_accuracy"}}),
        ("dana.datateam", "GET", "/la/children/{id}/opt-outs", other_child, {}),
        ("dana.datateam", "GET", "/audit/children/{id}", other_child, {}),
        ("dana.datateam", "POST", "/la/children/{id}/shield", other_child,
         {"json": {"shielded": True, "reason": "safeguarding"}}),
        ("dana.datateam", "GET", "/la/reviews/{id}", other_review, {}),
        ("dana.datateam", "POST", "/la/merges/{id}/split", world.ids["merge_other"],
         {"json": {"reason": "wrong_merge"}}),
        ("dana.datateam", "POST", "/la/investigations/{id}/close", world.ids["investigation_other"], {}),
        ("pat.practitioner", "POST", "/involvements/{id}/end", world.ids["inv_connexions"],
         {"json": {"end_date": "2026-02-01"}}),
    ]
    for uid, method, path, elsewhere, kwargs in pairs:
        theirs = answer(world, uid, method, path.format(id=elsewhere), **kwargs)
        nothing = answer(world, uid, method, path.format(id=NOBODY), **kwargs)
        assert theirs == nothing and theirs[0] == 403, (path, theirs, nothing)
        entry = last_entry(world)
        assert (entry.actor, entry.outcome) == (uid, "forbidden"), path  # both refusals are audited
    # An auditor sees every LA: an id of nothing is simply not there.
    assert answer(world, "alex.auditor", "GET", f"/audit/children/{NOBODY}")[0] == 404
