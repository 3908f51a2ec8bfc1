"""Reasons per role, and every search attempt in the trail: a role giving a reason outside its
row (access.reasons) is refused and audited with the reason it gave; a search refused with 422
(a body not understood, criteria too broad) or failing with 500 or 503 is recorded with its
outcome, with no more personal data than a search that ran keeps (its allow-listed criteria),
and none at all when the body was not understood. On the real slapd (api_world)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from api_world import World, build_world
from sqlalchemy import select

from index import models as m
from index.search import SearchUnavailable
from index.store import transaction
from ops.slapd import DemoDirectory

SEARCH = {"family_name": "Pendragon", "date_of_birth": "2015-06-07"}


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(ldap_server, tmp_path_factory.mktemp("reasons"))
    yield world
    world.engine.dispose()


def last_entry(world: World) -> tuple[Any, ...]:
    with transaction(world.engine) as db:
        row = db.scalars(select(m.AuditEvent).order_by(m.AuditEvent.seq.desc()).limit(1)).one()
        children = db.scalars(select(m.AuditEventChild.child_id)
                              .where(m.AuditEventChild.seq == row.seq)).all()
        return (row.actor, row.action, row.outcome, row.reason,
                json.loads(row.criteria) if row.criteria else None, sorted(children))


@pytest.mark.parametrize("reason", ["administration", "audit_review", "submission", "data_accuracy"])
def test_a_practitioner_may_not_give_another_roles_reason_to_search(world: World, reason: str) -> None:
    response = world.client.post("/search", headers=world.auth("pat.practitioner"),
                                 json={"reason": reason, **SEARCH})
    assert response.status_code == 403, response.text
    assert "Pendragon" not in response.text
    assert last_entry(world)[:4] == ("pat.practitioner", "search", "forbidden", reason)


def test_reasons_per_role_on_views_and_involvements(world: World) -> None:
    pat = world.auth("pat.practitioner")
    child = world.ids["own"]
    view = world.client.get(f"/children/{child}", headers=pat, params={"reason": "administration"})
    assert view.status_code == 403 and "Pendragon" not in view.text
    assert last_entry(world) == ("pat.practitioner", "view_record", "forbidden", "administration", None,
                                 [child])
    involvement = world.client.post(f"/children/{child}/involvements", headers=pat,
                                    json={"service_type": "health_visitor", "reason": "audit_review"})
    assert involvement.status_code == 403
    assert last_entry(world)[:4] == ("pat.practitioner", "record_involvement", "forbidden", "audit_review")
    # The LA data team keeps the index accurate: its reason, and not a practitioner's.
    dana = world.auth("dana.datateam")
    found = world.client.post("/search", headers=dana, json={"reason": "data_accuracy", **SEARCH})
    assert found.status_code == 200
    assert last_entry(world)[:4] == ("dana.datateam", "search", "ok", "data_accuracy")
    allowed = world.client.get(f"/children/{child}", headers=pat, params={"reason": "safeguarding"})
    assert allowed.status_code == 200


@pytest.mark.parametrize("body", [
    {"family_name": "Pendragon", "date_of_birth": "2015-06-07"},  # no reason
    {"reason": "curiosity", **SEARCH},  # not a reason code
    {"reason": "safeguarding", "date_of_birth": "07/06/2015", "family_name": "Pendragon"},  # a bad date
    {"reason": "safeguarding", "ethnicity": "x", **SEARCH},  # an unknown field
    "not json at all",
], ids=["no reason", "unknown reason", "bad date", "unknown field", "not json"])
def test_a_body_not_understood_is_refused_and_audited_without_its_values(world: World, body: Any) -> None:
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    response = world.client.post("/search", headers={**world.auth("pat.practitioner"),
                                                     "Content-Type": "application/json"}, **kwargs)
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"].startswith("body")
    assert "Pendragon" not in response.text and "2015" not in response.text
    assert last_entry(world) == ("pat.practitioner", "search", "refused", None, None, [])


def test_criteria_too_broad_are_refused_and_audited_as_a_search_keeps_them(world: World) -> None:
    response = world.client.post("/search", headers=world.auth("pat.practitioner"),
                                 json={"reason": "safeguarding", "family_name": "Pendragon"})
    assert response.status_code == 422
    assert last_entry(world) == ("pat.practitioner", "search", "refused", "safeguarding",
                                 {"family_name": "Pendragon"}, [])


@pytest.mark.parametrize("error, status", [(RuntimeError("boom"), 500),
                                           (SearchUnavailable("down"), 503)])
def test_a_failing_search_is_audited(world: World, monkeypatch: pytest.MonkeyPatch, error: Exception,
                                     status: int) -> None:
    def failing(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(world.ctx.search, "search", failing)
    response = world.client.post("/search", headers=world.auth("pat.practitioner"),
                                 json={"reason": "safeguarding", **SEARCH})
    assert response.status_code == status
    assert last_entry(world) == ("pat.practitioner", "search", "failed", "safeguarding",
                                 {"family_name": "Pendragon", "date_of_birth": "2015-06-07"}, [])


def test_the_search_body_is_still_documented(world: World) -> None:
    schema = world.client.get("/openapi.json").json()["paths"]["/search"]["post"]["requestBody"]
    properties = schema["content"]["application/json"]["schema"]["properties"]
    assert {"reason", "family_name", "date_of_birth"} <= set(properties)
