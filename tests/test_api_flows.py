"""What each role can do over HTTP, end to end on a real slapd and a SQLite store: search and
view with reasons (audited with criteria), the view policy (shielding, sensitive services,
opt-outs), the shield override for this session only with its investigation item and
notification, involvements and indicators, review decisions, merges and splits, corrections,
the register, audit questions, unusual use, uploads, unlocks and configuration; and what a
hostile request gets (injection strings, bad bodies, unknown fields, an unavailable search)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import anyio.to_thread
import pytest
from api_world import (
    OTHER_LA,
    OWN_SCHOOL,
    PERSONAL,
    USERS,
    World,
    build_world,
    find,
    last_entry,
    password_of,
    set_register,
)
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from access import audit
from access.audit import CRITERIA_FIELDS
from api.app import create_app
from api.context import Context
from index import models as m
from index.elastic import ElasticSearch, ElasticSettings
from index.store import transaction
from ops.slapd import DemoDirectory

CENSUS = Path(__file__).parent / "data" / "ingest" / "census_markers.xml"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(
    request: pytest.FixtureRequest, ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The service on SQLite, then on the suite's throwaway PostgreSQL server."""
    engine = None
    if request.param == "postgresql":
        from conftest import _reset_postgres

        engine = _reset_postgres(request.getfixturevalue("postgres_url"))
    world = build_world(ldap_server, tmp_path_factory.mktemp("api-flows"), engine)
    yield world
    world.engine.dispose()



def children_of(world: World, seq: int) -> list[int]:
    with transaction(world.engine) as db:
        return sorted(db.scalars(select(m.AuditEventChild.child_id).where(m.AuditEventChild.seq == seq)))


def view(world: World, uid: str, child_id: int) -> dict[str, object]:
    find(world, uid, child_id)  # a practitioner opens a record they found (access.found)
    response = world.client.get(
        f"/children/{child_id}", params={"reason": "safeguarding"}, headers=world.auth(uid)
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


# -- search -------------------------------------------------------------------------------------


def test_search_needs_a_reason_and_narrow_criteria(world: World) -> None:
    pat = world.auth("pat.practitioner")
    no_reason = world.client.post(
        "/search", json={"family_name": "Pendragon", "date_of_birth": "2015-06-07"}, headers=pat
    )
    assert no_reason.status_code == 422 and no_reason.json()["details"][0]["field"] == "body.reason"
    odd_reason = world.client.post(
        "/search",
        headers=pat,
        json={"reason": "curiosity", "family_name": "Pendragon", "date_of_birth": "2015-06-07"},
    )
    assert odd_reason.status_code == 422
    too_broad = world.client.post(
        "/search", json={"reason": "safeguarding", "family_name": "Pendragon"}, headers=pat
    )
    assert too_broad.status_code == 422 and "date of birth or a postcode" in too_broad.json()["error"]
    assert "Pendragon" not in too_broad.text


def test_search_shows_few_fields_and_is_audited_with_reason_and_criteria(world: World) -> None:
    response = world.client.post(
        "/search",
        headers=world.auth("pat.practitioner"),
        json={"reason": "coordinate_services", "family_name": "Pendragon", "date_of_birth": "2015-06-07"},
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert 1 <= len(results) <= 10
    first = results[0]
    assert set(first) == {
        "child_id",
        "child_number",
        "given_name",
        "family_name",
        "date_of_birth",
        "gender",
        "town",
        "shielded",
    }
    assert (first["child_id"], first["given_name"], first["town"]) == (world.ids["own"], "Tamsin", "Kempston")
    entry = last_entry(world)
    assert (entry.actor, entry.action, entry.reason) == ("pat.practitioner", "search", "coordinate_services")
    criteria = json.loads(entry.criteria or "{}")
    assert criteria == {"family_name": "Pendragon", "date_of_birth": "2015-06-07"}
    assert set(criteria) <= CRITERIA_FIELDS
    assert world.ids["own"] in children_of(world, entry.seq)


def test_a_shielded_childs_town_is_not_in_search_results(world: World) -> None:
    response = world.client.post(
        "/search",
        headers=world.auth("pat.practitioner"),
        json={"reason": "safeguarding", "family_name": "Trevithick", "date_of_birth": "2009-04-05"},
    )
    (hit,) = [r for r in response.json()["results"] if r["child_id"] == world.ids["shielded"]]
    assert hit["shielded"] and hit["town"] is None


def test_la_data_team_searches_its_own_la_only(world: World) -> None:
    response = world.client.post(
        "/search",
        headers=world.auth("dana.datateam"),
        json={"reason": "data_accuracy", "family_name": "Penhaligon", "date_of_birth": "2016-01-02"},
    )
    assert response.status_code == 200 and response.json()["results"] == []


def test_unavailable_search_is_a_503_and_the_rest_keeps_working(world: World) -> None:
    down = ElasticSearch(
        world.engine,
        ElasticSettings(
            hosts=["http://127.0.0.1:9"], max_retries=0, request_timeout=2, retry_on_timeout=False
        ),
    )
    ctx = Context(world.ctx.settings, world.engine, world.ctx.signin, down, clock=world.clock)
    client = TestClient(create_app(context=ctx), raise_server_exceptions=False)
    pat = world.auth("pat.practitioner")
    response = client.post(
        "/search",
        headers=pat,
        json={"reason": "safeguarding", "family_name": "Pendragon", "date_of_birth": "2015-06-07"},
    )
    assert response.status_code == 503 and "search is unavailable" in response.json()["error"]
    assert (
        client.get(
            f"/children/{world.ids['own']}", params={"reason": "safeguarding"}, headers=pat
        ).status_code
        == 200
    )


# -- viewing and the view policy ---------------------------------------------------------------


def test_view_shows_services_carers_and_indicators_and_is_audited(world: World) -> None:
    record = view(world, "pat.practitioner", world.ids["own"])
    assert record["visibility"] == "full"
    assert {i["service_type"] for i in record["involvements"]} == {"health_visitor", "connexions"}  # type: ignore[union-attr,index]
    assert record["carers"][0]["phone"] == "07700 900123"  # type: ignore[index]
    entry = last_entry(world)
    assert (entry.action, entry.reason, entry.outcome) == ("view_record", "safeguarding", "ok")
    assert children_of(world, entry.seq) == [world.ids["own"]]
    assert (
        world.client.get(f"/children/{world.ids['own']}", headers=world.auth("pat.practitioner")).status_code
        == 422
    )


def test_shielded_child_shows_name_dob_gender_and_notice_only(world: World) -> None:
    record = view(world, "pat.practitioner", world.ids["shielded"])
    assert record["visibility"] == "shielded" and record["notice"] == "contact the LA data team"
    assert record["addresses"] == record["carers"] == record["involvements"] == []
    assert record["date_of_birth"] == "2009-04-05"
    assert "Quayside" not in json.dumps(record)
    owning_team = view(world, "dana.datateam", world.ids["shielded"])
    assert owning_team["visibility"] == "full" and owning_team["addresses"]


def test_shield_override_lasts_for_the_session_and_opens_an_investigation(world: World) -> None:
    shielded = world.ids["shielded"]
    assert view(world, "cora.protect", shielded)["visibility"] == "shielded"
    refused = world.client.post(
        f"/children/{shielded}/override",
        json={"reason": "safeguarding"},
        headers=world.auth("pat.practitioner"),
    )
    assert refused.status_code == 403
    response = world.client.post(
        f"/children/{shielded}/override", json={"reason": "safeguarding"}, headers=world.auth("cora.protect")
    )
    assert response.status_code == 200 and response.json()["visibility"] == "full"
    assert view(world, "cora.protect", shielded)["visibility"] == "full"  # for the rest of this session
    investigations = world.client.get("/la/investigations", headers=world.auth("dana.datateam")).json()
    (item,) = [i for i in investigations["investigations"] if i["child_id"] == shielded]
    assert item["opened_by"] == "cora.protect" and item["organisation"] == "Bedford Children's Social Care"
    notified = world.client.get("/la/notifications", headers=world.auth("dana.datateam")).json()["accesses"]
    assert {(a["actor"], a["action"]) for a in notified if a["child_id"] == shielded} >= {
        ("pat.practitioner", "view_record"),
        ("cora.protect", "shield_override"),
    }
    assert all(a["actor"] != "dana.datateam" for a in notified)
    world.tokens["cora.protect"] = world.sign_in("cora.protect")  # a new session starts without it
    assert view(world, "cora.protect", shielded)["visibility"] == "shielded"
    closed = world.client.post(f"/la/investigations/{item['id']}/close", headers=world.auth("dana.datateam"))
    assert closed.status_code == 200
    again = world.client.get("/la/investigations", headers=world.auth("dana.datateam")).json()
    assert item["id"] not in [i["id"] for i in again["investigations"]]


def test_recent_accesses_for_the_owning_la(world: World) -> None:
    view(world, "pat.practitioner", world.ids["own"])
    response = world.client.get(
        f"/la/children/{world.ids['own']}/accesses", headers=world.auth("dana.datateam")
    )
    latest = response.json()["accesses"][0]
    assert (latest["actor"], latest["organisation"], latest["reason"]) == (
        "pat.practitioner",
        "Bedford Health Visiting",
        "safeguarding",
    )
    recent = world.client.get("/la/accesses", headers=world.auth("dana.datateam")).json()["accesses"]
    assert recent and all(a["child_id"] != world.ids["other"] for a in recent)


def test_opt_out_limits_that_service_to_name_and_address(world: World) -> None:
    own, dana = world.ids["own"], world.auth("dana.datateam")
    too_young = world.client.post(
        f"/la/children/{own}/opt-outs",
        headers=dana,
        json={"service_type": "connexions", "opted_out_by": "young_person"},
    )
    assert too_young.status_code == 422 and "16" in too_young.json()["error"]
    added = world.client.post(
        f"/la/children/{own}/opt-outs",
        headers=dana,
        json={"service_type": "connexions", "opted_out_by": "parent"},
    )
    assert added.status_code == 201 and added.json()["opt_outs"][0]["service_type"] == "connexions"
    set_register(
        world.engine,
        "pat.practitioner",
        service_type="connexions",
        organisation="Bedford Connexions",
        organisation_code="CNX01",
    )
    try:
        limited = view(world, "pat.practitioner", own)
        assert limited["visibility"] == "opted_out"
        assert limited["names"] and limited["addresses"]
        assert limited["carers"] == limited["involvements"] == [] and limited["date_of_birth"] is None
    finally:
        set_register(world.engine, "pat.practitioner")
    assert view(world, "pat.practitioner", own)["visibility"] == "full"  # health visiting: not opted out
    withdrawn = world.client.delete(f"/la/children/{own}/opt-outs/connexions", headers=dana)
    assert withdrawn.status_code == 200 and withdrawn.json()["opt_outs"] == []


# -- involvements and indicators -----------------------------------------------------------------


def test_practitioner_records_and_ends_own_involvement_and_indicators(world: World) -> None:
    pat, other = world.auth("pat.practitioner"), world.ids["other"]
    created = world.client.post(
        f"/children/{other}/involvements",
        headers=pat,
        json={
            "service_type": "health_visitor",
            "practitioner_name": "Pat Practitioner",
            "contact_phone": "01234 111222",
            "start_date": "2026-01-05",
        },
    )
    assert created.status_code == 201, created.text
    inv = created.json()["id"]
    not_ours = world.client.post(
        f"/children/{other}/involvements", headers=pat, json={"service_type": "connexions"}
    )
    assert not_ours.status_code == 403
    set_ = world.client.put(
        f"/involvements/{inv}/indicators/taking_action", headers=pat, json={"reason": "coordinate_services"}
    )
    assert set_.json() == {"involvement_id": inv, "kind": "taking_action", "active": True}
    shown = [i for i in view(world, "pat.practitioner", other)["involvements"] if i["id"] == inv]  # type: ignore[union-attr]
    assert shown[0]["indicators"][0]["kind"] == "taking_action" and shown[0]["organisation_code"] == "RYV01"
    cleared = world.client.delete(
        f"/involvements/{inv}/indicators/taking_action", headers=pat, params={"reason": "coordinate_services"}
    )
    assert cleared.json()["active"] is False
    assert (
        world.client.delete(
            f"/involvements/{inv}/indicators/taking_action",
            headers=pat,
            params={"reason": "coordinate_services"},
        ).status_code
        == 404
    )
    early = world.client.post(f"/involvements/{inv}/end", headers=pat, json={"end_date": "2025-01-01"})
    assert early.status_code == 422
    ended = world.client.post(f"/involvements/{inv}/end", headers=pat, json={"end_date": "2026-02-01"})
    assert ended.status_code == 200
    someone_elses = world.client.post(
        f"/involvements/{world.ids['inv_connexions']}/end", headers=pat, json={"end_date": "2026-02-01"}
    )
    assert someone_elses.status_code == 403


def test_sensitive_service_needs_consent(world: World) -> None:
    set_register(
        world.engine,
        "pat.practitioner",
        service_type="camhs",
        organisation="Bedford CAMHS",
        organisation_code="CAMHS1",
    )
    try:
        pat = world.auth("pat.practitioner")
        refused = world.client.post(
            f"/children/{world.ids['own']}/involvements", headers=pat, json={"service_type": "camhs"}
        )
        assert refused.status_code == 422 and "sensitive" in refused.json()["error"]
        allowed = world.client.post(
            f"/children/{world.ids['own']}/involvements",
            headers=pat,
            json={"service_type": "camhs", "consent_basis": "child_consent", "contact_phone": "01234 999000"},
        )
        assert allowed.status_code == 201
    finally:
        set_register(world.engine, "pat.practitioner")
    (camhs,) = [
        i
        for i in view(world, "pat.practitioner", world.ids["own"])["involvements"]  # type: ignore[union-attr]
        if i["service_type"] == "camhs"
    ]
    assert camhs["contact_brokered_by_la"] and camhs["contact_phone"] is None


# -- the LA data team -------------------------------------------------------------------------------


def test_review_queue_merge_and_split(world: World) -> None:
    dana = world.auth("dana.datateam")
    queue = world.client.get("/la/reviews", headers=dana).json()["items"]
    assert [i["id"] for i in queue] == [world.ids["review_own"]]  # not the other LA's item
    assert queue[0]["explanation"] == {"rule": "probabilistic_review"}
    decided = world.client.post(
        f"/la/reviews/{world.ids['review_own']}/decision",
        headers=dana,
        json={"verdict": "same", "reason": "details_match"},
    )
    assert decided.status_code == 200 and decided.json()["status"] == "same"
    merge_id = decided.json()["merge_id"]
    again = world.client.post(
        f"/la/reviews/{world.ids['review_own']}/decision",
        headers=dana,
        json={"verdict": "same", "reason": "details_match"},
    )
    assert again.status_code == 409
    # The merged-away id answers with where the child went (for a caller who may see it).
    gone = world.client.get(f"/children/{world.ids['dup_b']}", params={"reason": "data_accuracy"},
                            headers=dana, follow_redirects=False)
    assert gone.status_code == 308 and gone.json()["merged_into"] == world.ids["dup_a"]
    assert gone.headers["location"] == f"/children/{world.ids['dup_a']}"
    # Another LA's merged-away child (merged into a child dana may not see) gets the refusal any
    # id outside her LA gets, an id of nothing too (tests/test_id_oracles.py).
    hidden = world.client.get("/la/children/999999/opt-outs", headers=dana, follow_redirects=False)
    assert hidden.status_code == 403 and "merged_into" not in hidden.json()
    split = world.client.post(f"/la/merges/{merge_id}/split", headers=dana, json={"reason": "wrong_merge"})
    assert split.json() == {"kept_child_id": world.ids["dup_a"], "restored_child_id": world.ids["dup_b"]}
    assert last_entry(world).action == "review_decision"


def test_correction_is_searchable_and_audited(world: World) -> None:
    dana, own = world.auth("dana.datateam"), world.ids["dup_a"]
    response = world.client.patch(
        f"/la/children/{own}", headers=dana, json={"family_name": "Nancarrow-Penrose"}
    )
    assert response.status_code == 200
    assert last_entry(world).action == "correct_record"
    found = world.client.post(
        "/search",
        headers=world.auth("pat.practitioner"),
        json={"reason": "safeguarding", "family_name": "Nancarrow-Penrose", "date_of_birth": "2014-11-12"},
    )
    assert own in [r["child_id"] for r in found.json()["results"]]
    assert world.client.patch(f"/la/children/{own}", headers=dana, json={}).status_code == 422


def test_shield_and_unshield_with_a_reason(world: World) -> None:
    dana, own = world.auth("dana.datateam"), world.ids["dup_a"]
    assert (
        world.client.post(f"/la/children/{own}/shield", headers=dana, json={"shielded": True}).status_code
        == 422
    )
    assert (
        world.client.post(
            f"/la/children/{own}/shield", headers=dana, json={"shielded": True, "reason": "safeguarding"}
        ).json()["shielded"]
        is True
    )
    assert view(world, "pat.practitioner", own)["visibility"] == "shielded"
    world.client.post(
        f"/la/children/{own}/shield", headers=dana, json={"shielded": False, "reason": "safeguarding"}
    )
    assert view(world, "pat.practitioner", own)["visibility"] == "full"


def test_register_suspension_ends_sessions_and_enrolment_tokens(world: World) -> None:
    dana = world.auth("dana.datateam")
    body = {
        "organisation": "Bedford Health Visiting",
        "organisation_code": "RYV01",
        "la": "823",
        "role": "practitioner",
        "service_type": "health_visitor",
        "vetting_checked_on": "2025-01-01",
        "vetting_expires_on": "2027-12-31",
        "training_completed_on": "2025-02-01",
        "training_expires_on": "2027-02-01",
        "change_reason": "register_correction",
    }
    bad_dates = world.client.put(
        "/la/register/pat.practitioner", headers=dana, json={**body, "vetting_expires_on": "2024-01-01"}
    )
    assert bad_dates.status_code == 422
    token = world.client.post("/la/register/pat.practitioner/enrolment", headers=dana)
    assert token.status_code == 201 and len(token.json()["token"]) > 20
    listed = world.client.get("/la/register", headers=dana).json()["entries"]
    assert {e["user_id"] for e in listed} >= {"pat.practitioner", "dana.datateam"}
    assert "olga.other" not in {e["user_id"] for e in listed}
    suspended = world.client.put(
        "/la/register/pat.practitioner", headers=dana, json={**body, "suspended": True}
    )
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert (
        world.client.get("/me", headers=world.auth("pat.practitioner")).status_code == 401
    )  # revoked at once
    world.client.put("/la/register/pat.practitioner", headers=dana, json=body)
    world.tokens["pat.practitioner"] = world.sign_in("pat.practitioner")


# -- audit and oversight ----------------------------------------------------------------------------


def test_audit_questions_and_verification(world: World) -> None:
    view(world, "pat.practitioner", world.ids["own"])
    for uid in ("dana.datateam", "alex.auditor"):
        who = world.client.get(f"/audit/children/{world.ids['own']}", headers=world.auth(uid)).json()[
            "entries"
        ]
        assert ("pat.practitioner", "view_record", "Bedford Health Visiting") in {
            (e["actor"], e["action"], e["organisation"]) for e in who
        }
        what = world.client.get("/audit/users/pat.practitioner", headers=world.auth(uid)).json()["entries"]
        assert what and all(e["actor"] == "pat.practitioner" for e in what)
    trail = world.client.get("/audit", headers=world.auth("dana.datateam"), params={"limit": 500}).json()
    assert all(e["actor_la"] == "823" or e["child_ids"] for e in trail["entries"])
    assert world.client.get("/audit/verify", headers=world.auth("alex.auditor")).json()["ok"] is True
    everything = world.client.get("/audit", headers=world.auth("alex.auditor"), params={"limit": 500}).json()
    text = json.dumps(everything)
    for entry in everything["entries"]:
        assert set(entry["criteria"] or {}) <= CRITERIA_FIELDS
    assert "07700 900123" not in text and "Quayside" not in text and "Morwenna" not in text
    with transaction(world.engine) as db:
        assert audit.verify(db).ok


def test_unusual_use_is_flagged_for_the_la(world: World) -> None:
    world.clock.advance(days=40)  # a fresh 30-day window: only the views below are in it
    for uid in USERS:
        world.tokens[uid] = world.sign_in(uid)
    ada = world.auth("ada.admin")
    assert world.client.patch(
        "/admin/configuration", headers=ada, json={"unusual_use_factor": 2.0, "unusual_use_min_children": 3}
    ).is_success
    for child_id in (world.ids["own"], world.ids["shielded"], world.ids["dup_a"], world.ids["other"]):
        view(world, "pat.practitioner", child_id)
    view(world, "dana.datateam", world.ids["own"])
    view(world, "cora.protect", world.ids["own"])
    flags = world.client.get("/la/usage", headers=world.auth("dana.datateam"), params={"days": 30}).json()[
        "flags"
    ]
    assert [f["actor"] for f in flags] == ["pat.practitioner"]
    assert flags[0]["children_viewed"] == 4 and flags[0]["peer_median"] == 1.0
    assert set(flags[0]["reasons"]) == {"many_children", "outside_la"}


def test_administrator_unlocks_and_configures(world: World) -> None:
    ada = world.auth("ada.admin")
    for _ in range(5):
        world.client.post(
            "/signin", json={"username": "pat.practitioner", "password": "wrong", "code": "000000"}
        )
    locked = world.client.post(
        "/signin",
        json={
            "username": "pat.practitioner",
            "password": password_of("pat.practitioner"),
            "code": world.authenticators["pat.practitioner"].at(world.clock()),
        },
    )
    assert locked.status_code == 429 and "locked" in locked.json()["error"]
    unlocked = world.client.post("/admin/users/pat.practitioner/unlock", headers=ada)
    assert unlocked.json() == {"user_id": "pat.practitioner", "cleared": True}
    world.tokens["pat.practitioner"] = world.sign_in("pat.practitioner")
    config = world.client.patch("/admin/configuration", headers=ada, json={"unusual_use_factor": 7.5})
    assert config.status_code == 200 and config.json()["unusual_use_factor"] == 7.5
    assert world.ctx.access.unusual_use_factor == 7.5
    assert (
        world.client.patch("/admin/configuration", headers=ada, json={"lockout_threshold": 0}).status_code
        == 422
    )
    assert "key" not in json.dumps(world.client.get("/admin/configuration", headers=ada).json()).lower()


# -- school submissions -------------------------------------------------------------------------------


def test_school_uploads_a_census_and_sees_the_staging_result(world: World) -> None:
    sam = world.auth("sam.school")
    response = world.client.post(
        f"/schools/{OWN_SCHOOL}/submissions",
        headers=sam,
        files={"file": ("../../census.xml", CENSUS.read_bytes(), "application/xml")},
    )
    assert response.status_code == 201, response.text
    submission = response.json()
    assert submission["state"] == "staged" and submission["records_total"] >= 1
    detail = world.client.get(f"/schools/{OWN_SCHOOL}/submissions/{submission['submission_id']}", headers=sam)
    assert (
        detail.status_code == 200
        and detail.json()["submission"]["submission_id"] == submission["submission_id"]
    )
    with transaction(world.engine) as db:
        name = db.scalar(select(m.Submission.file_name).where(m.Submission.id == submission["submission_id"]))
    assert name and name.startswith("upload-") and ".." not in name
    assert list(world.ctx.settings.upload_dir.iterdir()) == []
    listed = world.client.get(f"/schools/{OWN_SCHOOL}/submissions", headers=sam).json()["submissions"]
    assert submission["submission_id"] in [s["submission_id"] for s in listed]
    not_xml = world.client.post(
        f"/schools/{OWN_SCHOOL}/submissions",
        headers=sam,
        files={"file": ("x.xml", b"not a census at all", "application/xml")},
    )
    assert not_xml.status_code == 422 and "refused" in not_xml.json()["error"]
    with transaction(world.engine) as db:
        uploads = db.execute(select(m.AuditEvent.actor, m.AuditEvent.outcome)
                             .where(m.AuditEvent.action == "upload_submission")
                             .order_by(m.AuditEvent.seq)).all()
    assert [tuple(u) for u in uploads] == [("sam.school", "ok"), ("sam.school", "refused")]


# -- hostile input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "username",
    [
        "*",
        "*)(uid=*",
        "pat.practitioner)(|(uid=*)",
        "admin*)((|userPassword=*)",
        "\\2a",
        "pat.practitioner\x00",
        "cn=admin,dc=childindex,dc=test",
    ],
)
def test_ldap_injection_strings_do_not_sign_in(world: World, username: str) -> None:
    response = world.client.post(
        "/signin", json={"username": username, "password": password_of("pat.practitioner"), "code": "123456"}
    )
    assert response.status_code in {401, 422}, response.text
    assert "token" not in response.json()


def test_injection_strings_in_search_are_only_text(world: World) -> None:
    for name in ("*)(uid=*", "'; DROP TABLE children; --", 'Pendragon" OR 1=1', '{"$ne": null}'):
        response = world.client.post(
            "/search",
            headers=world.auth("pat.practitioner"),
            json={"reason": "safeguarding", "family_name": name, "date_of_birth": "2015-06-07"},
        )
        assert response.status_code in {200, 422} and 'Pendragon" OR' not in response.text
    with transaction(world.engine) as db:
        assert db.scalar(select(func.count()).select_from(m.Child)) == 6


def test_oversized_malformed_and_unknown_field_bodies(world: World) -> None:
    pat, dana = world.auth("pat.practitioner"), world.auth("dana.datateam")
    huge = world.client.post(
        "/search",
        headers={**pat, "content-type": "application/json"},
        content=b"{" + b" " * (70 * 1024) + b"}",
    )
    assert huge.status_code == 413
    chunked = world.client.post(
        "/search",
        headers={**pat, "content-type": "application/json"},
        content=iter([b"{", b" " * (70 * 1024), b"}"]),
    )
    assert chunked.status_code == 413
    malformed = world.client.post(
        "/search",
        headers={**pat, "content-type": "application/json"},
        content=b'{"reason": "safeguarding", "family_name": ',
    )
    assert malformed.status_code == 422
    unknown = world.client.post(
        f"/la/children/{world.ids['own']}/opt-outs",
        headers=dana,
        json={"service_type": "youth_offending", "opted_out_by": "parent", "ethnicity": "not held"},
    )
    assert unknown.status_code == 422 and unknown.json()["details"][0]["field"] == "body.ethnicity"
    assert "not held" not in unknown.text
    with transaction(world.engine) as db:
        assert (
            db.scalar(
                select(func.count())
                .select_from(m.SharingOptOut)
                .where(m.SharingOptOut.service_type == "youth_offending")
            )
            == 0
        )
    echoed = world.client.post(
        "/search",
        headers=pat,
        json={"reason": "safeguarding", "family_name": "Pendragon", "date_of_birth": "not-a-date-Tamsin"},
    )
    assert echoed.status_code == 422 and "Tamsin" not in echoed.text
    for value in PERSONAL:
        assert value not in huge.text + malformed.text


def test_other_la_child_cannot_be_corrected(world: World) -> None:
    response = world.client.patch(
        f"/la/children/{world.ids['other']}",
        headers=world.auth("dana.datateam"),
        json={"family_name": "Changed"},
    )
    assert response.status_code == 403
    with transaction(world.engine) as db:
        names = db.scalars(select(m.ChildName.family_name).where(m.ChildName.child_id == world.ids["other"]))
        assert "Changed" not in list(names)
    assert OTHER_LA != "823"


def test_docs_are_served(world: World) -> None:
    assert world.client.get("/docs").status_code == 200
    schema = world.client.get("/openapi.json").json()
    assert "/search" in schema["paths"] and "/children/{child_id}" in schema["paths"]


def test_archived_records_are_for_the_owning_team_for_a_year(world: World) -> None:
    child_id, now = world.ids["dup_b"], world.clock()
    with transaction(world.engine) as db:
        db.execute(update(m.Child).where(m.Child.id == child_id)
                   .values(status="archived", status_since=now.date() - dt.timedelta(days=30)))
    try:
        params = {"reason": "safeguarding"}
        pat = world.client.get(f"/children/{child_id}", params=params, headers=world.auth("pat.practitioner"))
        assert pat.status_code == 403  # not found by pat: the one answer for any such id
        find(world, "pat.practitioner", child_id)  # an archived child is not found by a search either
        pat = world.client.get(f"/children/{child_id}", params=params, headers=world.auth("pat.practitioner"))
        assert pat.status_code == 403
        assert view(world, "dana.datateam", child_id)["status"] == "archived"
        with transaction(world.engine) as db:
            db.execute(update(m.Child).where(m.Child.id == child_id)
                       .values(status_since=now.date() - dt.timedelta(days=400)))
        dana = world.client.get(f"/children/{child_id}", params=params, headers=world.auth("dana.datateam"))
        assert dana.status_code == 404
    finally:
        with transaction(world.engine) as db:
            db.execute(update(m.Child).where(m.Child.id == child_id).values(status="live", status_since=None))


@pytest.mark.parametrize("threads", [1, 3])
def test_a_worker_works_on_as_many_requests_at_once_as_configured(world: World, threads: int) -> None:
    settings = world.ctx.settings.model_copy(update={"request_threads": threads})
    ctx = Context(settings, world.engine, world.ctx.signin, world.ctx.search, clock=world.clock)
    with TestClient(create_app(context=ctx)) as client:  # runs the app's lifespan
        tokens = client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)
        assert client.get("/children/1", params={"reason": "safeguarding"},
                          headers=world.auth("pat.practitioner")).status_code in (200, 404)
    assert tokens == threads


def test_notifications_are_accesses_while_shielded_by_others_than_its_team(world: World) -> None:
    """/la/notifications lists exactly what it says: accesses made while the child was shielded,
    by anyone but the child's own data team (also for an auditor reading every LA's); every
    access says whether the child was shielded when it was made."""
    dana, child = world.auth("dana.datateam"), world.ids["dup_a"]
    start = last_entry(world).seq
    view(world, "pat.practitioner", child)  # before the shield
    view(world, "dana.datateam", child)
    shielded = world.client.post(f"/la/children/{child}/shield", headers=dana,
                                 json={"shielded": True, "reason": "safeguarding"})
    assert shielded.status_code == 200, shielded.text
    try:
        view(world, "pat.practitioner", child)  # while shielded
        after_shield = last_entry(world).seq
        view(world, "dana.datateam", child)  # the own team, while shielded
        for reader in ("dana.datateam", "alex.auditor"):
            notified = world.client.get("/la/notifications", params={"after": start},
                                        headers=world.auth(reader)).json()["accesses"]
            mine = [(a["seq"], a["actor"], a["shielded"]) for a in notified if a["child_id"] == child]
            assert mine == [(after_shield, "pat.practitioner", True)], reader
        accesses = world.client.get(f"/la/children/{child}/accesses", headers=dana).json()["accesses"]
        seen = {(a["actor"], a["shielded"]) for a in accesses if a["seq"] > start}
        assert ("pat.practitioner", False) in seen and ("pat.practitioner", True) in seen
    finally:
        world.client.post(f"/la/children/{child}/shield", headers=dana,
                          json={"shielded": False, "reason": "safeguarding"})
