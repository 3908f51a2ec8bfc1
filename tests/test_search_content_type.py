"""POST /search takes a JSON body only, like every other JSON route (FastAPI refuses theirs).
Found by the second attack test: /search reads its body itself (so that a body not understood is
audited) and parsed any content type, text/plain included, which is what a cross-site form may
send without a preflight; the cookie rule (api.web_security) stopped such a request, but it was
the one JSON route that relied on that alone. On the real slapd (api_world)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from api_world import World, build_world
from sqlalchemy import select

from index import models as m
from index.store import transaction
from ops.slapd import DemoDirectory

BODY = json.dumps({"reason": "safeguarding", "family_name": "Pendragon", "date_of_birth": "2015-06-07"})


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(ldap_server, tmp_path_factory.mktemp("search-content-type"))
    yield world
    world.engine.dispose()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
def test_a_search_body_that_is_not_json_is_refused_and_audited(world: World,
                                                               content_type: str | None) -> None:
    headers = world.auth("pat.practitioner") | ({"Content-Type": content_type} if content_type else {})
    response = world.client.post("/search", content=BODY, headers=headers)
    assert response.status_code == 415 and "application/json" in response.json()["error"]
    with transaction(world.engine) as db:
        last = db.scalars(select(m.AuditEvent).order_by(m.AuditEvent.seq.desc()).limit(1)).one()
        assert (last.actor, last.action, last.outcome, last.criteria) == (
            "pat.practitioner", "search", "refused", None)


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON"])
def test_json_is_searched(world: World, content_type: str) -> None:
    response = world.client.post("/search", content=BODY,
                                 headers=world.auth("pat.practitioner") | {"Content-Type": content_type})
    assert response.status_code == 200 and response.json()["results"][0]["family_name"] == "Pendragon"
