"""The LA data team's page of service-feed rows held for them (issue 15): exactly the rows GET
/la/held lists (own LA only, never a value from a row), each dismissed by a form with a coded
reason (CSRF token, POST-redirect-GET, audited as the JSON route's dismissal); a missing reason
is an error summary, nothing dismissed; other roles are refused as by the API. On the real slapd
and a SQLite store (api_world)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from api_world import OTHER_LA, OWN_LA, World, build_world, personal_values
from sqlalchemy import select
from test_ingest_undated import _feed

from access import audit
from index import models as m
from index import transaction
from ingest import run_nightly, submit_file

ORIGIN = {"Origin": "http://testserver"}
# The held rows' own values: none may reach the page.
ROWS = [{"given_name": "Wilhelmina", "family_name": "Thistlewood", "date_of_birth": "2014-02-30",
         "postcode": "MK45 3QZ", "address_line1": "14 Orchard Rise"},
        {"given_name": "Barnaby", "family_name": "Kettleworth", "date_of_birth": "2012-13-01"}]


@pytest.fixture(scope="module")
def world(ldap_server: Any, tmp_path_factory: pytest.TempPathFactory) -> World:
    world = build_world(ldap_server, tmp_path_factory.mktemp("web-held"))
    submit_file(world.engine, _feed(world.tmp / "social-care.csv", ROWS), source="SC1", la=OWN_LA)
    submit_file(world.engine, _feed(world.tmp / "other-la.csv", [ROWS[0] | {"record_id": "X"}]),
                source="SC2", la=OTHER_LA)
    run_nightly(world.engine)
    return world


def listed(html: str) -> list[tuple[int, str]]:
    """The (submission, row) of each dismissal form on the page, in order."""
    return [(int(s), r) for s, r in re.findall(
        r'action="/la/held-rows/(\d+)/dismissal".*?name="record" value="([^"]+)"', html, re.S)]


def json_held(world: World) -> list[dict[str, Any]]:
    return world.client.get("/la/held", headers=world.auth("dana.datateam")).json()["items"]


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def no_personal_value(world: World, html: str) -> None:
    lowered = html.lower()
    values = personal_values(world.engine) | {v.lower() for row in ROWS for k, v in row.items()}
    assert [v for v in values if v in lowered] == []


def test_the_page_lists_exactly_the_json_routes_rows(world: World) -> None:
    world.web_sign_in("dana.datateam")
    page = world.client.get("/la/held-rows")
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    items = json_held(world)
    assert len(items) == 2 and {i["owning_la"] for i in items} == {OWN_LA}  # not the other LA's
    assert listed(page.text) == [(i["submission_id"], i["record"]) for i in items]
    for item in items:
        assert item["file"] in page.text and item["source"] in page.text
        assert item["reason"][1:] in page.text
    assert "The row names no child the LA data team can identify" in page.text
    assert "other-la.csv" not in page.text
    # Each button says which row it dismisses, to a screen reader too.
    assert '<span class="govuk-visually-hidden"> line 3 of social-care.csv</span>' in page.text
    assert re.search(r'href="/la/held-rows"\s+aria-current="true"', page.text)  # in the navigation
    no_personal_value(world, page.text)


def test_a_row_is_dismissed_with_a_reason_and_audited(world: World) -> None:
    world.web_sign_in("dana.datateam")
    page = world.client.get("/la/held-rows")
    (submission_id, record), kept = listed(page.text)
    form = {"csrf_token": csrf_of(page.text), "record": record, "reason": "held_already_known"}
    response = world.client.post(f"/la/held-rows/{submission_id}/dismissal", headers=ORIGIN,
                                 follow_redirects=False, data=form)
    assert response.status_code == 303 and response.headers["location"] == "/la/held-rows?done=dismissed"
    after = world.client.get(response.headers["location"])
    assert "The held row was dismissed." in after.text and "govuk-notification-banner--success" in after.text
    assert listed(after.text) == [kept] == [(i["submission_id"], i["record"]) for i in json_held(world)]
    no_personal_value(world, after.text)
    with transaction(world.engine) as db:
        entries = [e for e in audit.what_user_looked_at(db, "dana.datateam") if e.action == "dismiss_held"]
        assert [(e.reason, e.outcome) for e in entries] == [("held_already_known", "ok")]
        assert audit.verify(db).ok
    # Dismissed once: again is the API's 404, as is another LA's held row.
    again = world.client.post(f"/la/held-rows/{submission_id}/dismissal", headers=ORIGIN, data={
        "csrf_token": csrf_of(page.text), "record": record, "reason": "held_already_known"})
    assert again.status_code == 404 and "Page not found" in again.text
    with transaction(world.engine) as db:
        other = db.scalar(select(m.StagedSubmission.submission_id)
                          .where(m.StagedSubmission.owning_la == OTHER_LA))
    refused = world.client.post(f"/la/held-rows/{other}/dismissal", headers=ORIGIN, data={
        "csrf_token": csrf_of(page.text), "record": "line 2", "reason": "held_sent_again"})
    assert refused.status_code == 404


def test_a_missing_reason_is_an_error_summary_and_nothing_is_dismissed(world: World) -> None:
    world.web_sign_in("dana.datateam")
    page = world.client.get("/la/held-rows")
    before = listed(page.text)
    submission_id, record = before[0]
    response = world.client.post(f"/la/held-rows/{submission_id}/dismissal", headers=ORIGIN, data={
        "csrf_token": csrf_of(page.text), "record": record})
    assert response.status_code == 400
    field = f"reason-{submission_id}-{record.removeprefix('line ')}"
    assert "There is a problem" in response.text and f'href="#{field}"' in response.text
    assert f'id="{field}"' in response.text and response.text.count("<details") == len(before)
    assert f"Select why {record} is dismissed" in response.text and "<title>Error:" in response.text
    assert listed(response.text) == before
    # A reason that is not one of the codes is refused the same way.
    wrong = world.client.post(f"/la/held-rows/{submission_id}/dismissal", headers=ORIGIN, data={
        "csrf_token": csrf_of(page.text), "record": record, "reason": "Wilhelmina sent again"})
    assert wrong.status_code == 400 and "Wilhelmina" not in wrong.text
    assert [(i["submission_id"], i["record"]) for i in json_held(world)] == before


def test_a_form_without_its_csrf_token_is_refused(world: World) -> None:
    world.web_sign_in("dana.datateam")
    before = listed(world.client.get("/la/held-rows").text)
    submission_id, record = before[0]
    response = world.client.post(f"/la/held-rows/{submission_id}/dismissal", headers=ORIGIN, data={
        "record": record, "reason": "held_sent_again"})
    assert response.status_code == 403 and "security token" in response.text
    assert [(i["submission_id"], i["record"]) for i in json_held(world)] == before


@pytest.mark.parametrize("uid", ["pat.practitioner", "sam.school", "alex.auditor", "otto.operator"])
def test_other_roles_are_refused_as_by_the_api(world: World, uid: str, tmp_path: Path) -> None:
    world.web_sign_in(uid)
    page = world.client.get("/la/held-rows")
    assert page.status_code == 403 and "You cannot do that" in page.text
    assert world.client.get("/la/held", headers=world.auth(uid)).status_code == 403
    home = world.client.get("/", follow_redirects=True)
    assert 'href="/la/held-rows"' not in home.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    data = {"record": "line 2", "reason": "held_sent_again"} | ({"csrf_token": csrf.group(1)} if csrf else {})
    posted = world.client.post("/la/held-rows/1/dismissal", headers=ORIGIN, data=data)
    assert posted.status_code == 403
