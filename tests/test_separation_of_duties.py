"""Separation of duties on people's access: nobody changes their own register entry, issues
themselves an enrolment token or lifts their own lock; an auditor's, administrator's or
operator's entry is an administrator's to change; every register change says why, and the
owning LA sees it (refusals too) in its register changes. Each refusal is asserted with its
audit entry. On the real slapd (api_world)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from api_world import OWN_LA, World, build_world, last_entry, register_values, set_register
from sqlalchemy import select

from access import sessions
from access.register import get_entry
from access.roles import Capability, Principal, Role
from index import models as m
from index.store import transaction
from ops.slapd import DemoDirectory


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(ldap_server, tmp_path_factory.mktemp("duties"))
    yield world
    world.engine.dispose()


def body_of(uid: str, why: str = "register_correction", **changes: Any) -> dict[str, Any]:
    values = register_values(uid, **changes)
    values.pop("user_id")
    values["role"] = str(values["role"])
    values["change_reason"] = why
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in values.items()}



def vetting_of(world: World, uid: str) -> dt.date:
    with transaction(world.engine) as db:
        entry = get_entry(db, uid)
    assert entry is not None
    return entry.vetting_expires_on


@pytest.mark.parametrize("actor, subject, change", [
    ("dana.datateam", "dana.datateam", {"vetting_expires_on": dt.date(2099, 12, 31)}),  # own entry
    ("ada.admin", "ada.admin", {"vetting_expires_on": dt.date(2099, 12, 31)}),  # an administrator too
    ("dana.datateam", "alex.auditor", {"suspended": True}),  # the auditor watching the team
    ("dana.datateam", "ada.admin", {"suspended": True}),
    ("dana.datateam", "pat.practitioner", {"role": "administrator"}),  # making an administrator
])
def test_a_register_change_outside_ones_duties_is_refused_and_audited(
        world: World, actor: str, subject: str, change: dict[str, Any]) -> None:
    before = vetting_of(world, subject)
    response = world.client.put(f"/la/register/{subject}", headers=world.auth(actor),
                                json=body_of(subject, **change))
    assert response.status_code == 403, response.text
    entry = last_entry(world)
    assert (entry.actor, entry.action, entry.outcome, entry.subject_user, entry.reason) == (
        actor, "register_change", "forbidden", subject, "register_correction")
    assert vetting_of(world, subject) == before
    assert world.client.get("/me", headers=world.auth(subject)).status_code == 200  # not suspended


def test_an_administrator_may_change_an_auditor_and_the_la_sees_why(world: World) -> None:
    ada, dana = world.auth("ada.admin"), world.auth("dana.datateam")
    start = last_entry(world).seq
    response = world.client.put("/la/register/alex.auditor", headers=ada,
                                json=body_of("alex.auditor", "register_vetting_renewed",
                                             vetting_expires_on=dt.date(2028, 6, 30)))
    assert response.status_code == 200, response.text
    changed = world.client.put("/la/register/pat.practitioner", headers=dana,
                               json=body_of("pat.practitioner", "register_training_recorded"))
    assert changed.status_code == 200, changed.text
    notices = world.client.get("/la/register/changes", headers=dana, params={"after": start})
    assert notices.status_code == 200, notices.text
    seen = [(e["actor"], e["subject_user"], e["reason"], e["outcome"]) for e in notices.json()["entries"]]
    assert seen == [("ada.admin", "alex.auditor", "register_vetting_renewed", "ok"),
                    ("dana.datateam", "pat.practitioner", "register_training_recorded", "ok")]
    refused = world.client.put("/la/register/dana.datateam", headers=dana,
                               json=body_of("dana.datateam", vetting_expires_on=dt.date(2099, 1, 1)))
    assert refused.status_code == 403
    after = world.client.get("/la/register/changes", headers=ada, params={"after": start}).json()["entries"]
    assert (after[-1]["actor"], after[-1]["subject_user"], after[-1]["outcome"]) == (
        "dana.datateam", "dana.datateam", "forbidden")
    set_register(world.engine, "alex.auditor")


def test_a_change_must_say_why(world: World) -> None:
    body = body_of("pat.practitioner")
    del body["change_reason"]
    response = world.client.put("/la/register/pat.practitioner", headers=world.auth("dana.datateam"),
                                json=body)
    assert response.status_code == 422


@pytest.mark.parametrize("actor, subject", [
    ("dana.datateam", "dana.datateam"), ("ada.admin", "ada.admin"), ("dana.datateam", "ada.admin"),
    ("dana.datateam", "alex.auditor"),
])
def test_enrolment_tokens_follow_the_same_duties(world: World, actor: str, subject: str) -> None:
    response = world.client.post(f"/la/register/{subject}/enrolment", headers=world.auth(actor))
    assert response.status_code == 403, response.text
    entry = last_entry(world)
    assert (entry.actor, entry.action, entry.outcome) == (actor, "enrolment_issued", "forbidden")
    with transaction(world.engine) as db:
        tokens = db.scalars(select(m.EnrolmentToken.user_id).where(m.EnrolmentToken.issued_by == actor)).all()
    assert subject not in tokens


def test_an_administrator_issues_others_tokens_but_does_not_unlock_themselves(world: World) -> None:
    ada = world.auth("ada.admin")
    assert world.client.post("/la/register/alex.auditor/enrolment", headers=ada).status_code == 201
    own = world.client.post("/admin/users/ada.admin/unlock", headers=ada)
    assert own.status_code == 403
    entry = last_entry(world)
    assert (entry.actor, entry.action, entry.outcome) == ("ada.admin", "unlock", "forbidden")


def test_nobody_closes_the_investigation_of_their_own_override(world: World) -> None:
    """An LA data team member who also holds the child-protection capability overrides a shield:
    the investigation it opens is for someone else in the team to close."""
    protector = Principal("dana.datateam", Role.LA_DATA_TEAM, la=OWN_LA,
                          capabilities=frozenset({Capability.CHILD_PROTECTION}))
    with transaction(world.engine) as db:
        token = sessions.create(db, protector, now=world.clock(), settings=world.ctx.access).token
    auth = {"Authorization": f"Bearer {token}"}
    shielded = world.ids["shielded"]
    overridden = world.client.post(f"/children/{shielded}/override", json={"reason": "safeguarding"},
                                   headers=auth)
    assert overridden.status_code == 200, overridden.text
    with transaction(world.engine) as db:
        item = db.scalars(select(m.ShieldInvestigation.id).where(
            m.ShieldInvestigation.opened_by == "dana.datateam",
            m.ShieldInvestigation.child_id == shielded)).one()
    closed = world.client.post(f"/la/investigations/{item}/close", headers=auth)
    assert closed.status_code == 403, closed.text
    entry = last_entry(world)
    assert (entry.actor, entry.action, entry.outcome) == ("dana.datateam", "shield", "forbidden")
    with transaction(world.engine) as db:
        row = db.get(m.ShieldInvestigation, item)
        assert row is not None and row.closed_at is None
