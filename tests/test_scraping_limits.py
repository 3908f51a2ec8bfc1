"""Scraping is refused and noticed (issue 14, item 5): per-user rate limits on searches and record
views (429 with a clear message, audited), and unusual-use flags that count searches (volume per
hour and day, many results with no record opened, identifier searches in sequence, many
date-only near misses), which the owning LA's data team reads at GET /la/usage.

The limits and thresholds are configuration (AccessSettings); these tests set small ones.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_world import World, build_world
from httpx import Response

from access.audit import what_user_looked_at
from access.settings import AccessSettings
from index.identifiers import upn_check_letter
from index.store import transaction
from ops.slapd import DemoDirectory


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(ldap_server, tmp_path_factory.mktemp("scraping"))


@pytest.fixture
def settings(world: World) -> Iterator[AccessSettings]:
    """The running service's access settings, restored after the test."""
    saved = world.ctx.access.model_copy()
    yield world.ctx.access
    for name in AccessSettings.model_fields:
        setattr(world.ctx.access, name, getattr(saved, name))


def search(world: World, uid: str, **body: object) -> Response:
    return world.client.post("/search", json={"reason": "safeguarding", **body}, headers=world.auth(uid))


def outcomes(world: World, uid: str, action: str) -> list[str]:
    with transaction(world.engine) as db:
        return [e.outcome for e in what_user_looked_at(db, uid) if e.action == action]


def test_searches_beyond_the_limit_are_refused_429_audited_and_let_in_again(
        world: World, settings: AccessSettings) -> None:
    settings.search_limit_per_minute = 3
    uid = "cora.protect"
    world.clock.advance(minutes=2)
    before = len(outcomes(world, uid, "search"))
    for _ in range(3):
        assert search(world, uid, family_name="Pendragon", date_of_birth="2015-06-07").status_code == 200
    refused = search(world, uid, family_name="Pendragon", date_of_birth="2015-06-07")
    assert refused.status_code == 429
    assert "too many searches" in refused.json()["error"] and "3 a minute" in refused.json()["error"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert "Pendragon" not in refused.text
    assert outcomes(world, uid, "search")[before:] == ["ok", "ok", "ok", "rate_limited"]
    # Refusals are not counted: once the minute has passed the user may search again.
    world.clock.advance(seconds=61)
    assert search(world, uid, family_name="Pendragon", date_of_birth="2015-06-07").status_code == 200


def test_record_views_beyond_the_hourly_limit_are_refused(world: World, settings: AccessSettings) -> None:
    settings.view_limit_per_hour = 2
    uid, child = "pat.practitioner", world.ids["own"]
    world.clock.advance(hours=2)
    world.tokens[uid] = world.sign_in(uid)
    views = [world.client.get(f"/children/{child}", params={"reason": "safeguarding"},
                              headers=world.auth(uid)) for _ in range(3)]
    assert [v.status_code for v in views] == [200, 200, 429]
    assert "too many record views" in views[2].json()["error"] and "Tamsin" not in views[2].text
    assert outcomes(world, uid, "view_record")[-3:] == ["ok", "ok", "rate_limited"]


def upn(serial: int) -> str:
    body = f"823200015{serial:03d}"
    return upn_check_letter(body) + body


def test_searching_like_a_scraper_is_flagged_for_the_owning_la(world: World,
                                                               settings: AccessSettings) -> None:
    changes = dict(unusual_searches_per_hour=8, unusual_searches_per_day=12, unusual_results_unopened=2,
                   unusual_identifier_runs=3, unusual_near_misses=3)
    for name, value in changes.items():
        setattr(settings, name, value)
    world.clock.advance(days=2)
    # A practitioner of the LA, searching: made-up names against a date, then UPNs in order,
    # then names that list children whose records are never opened.
    uid = "cora.protect"
    world.tokens[uid] = world.sign_in(uid)
    for name in ("Xq", "Qz", "Zx", "Jq"):
        assert search(world, uid, family_name=name, date_of_birth="2014-11-12").json()["results"] == []
    for serial in range(1, 6):
        assert search(world, uid, identifier_scheme="upn", identifier=upn(serial)).status_code == 200
    shown = search(world, uid, family_name="Nancarrow", date_of_birth="2014-11-12").json()["results"]
    assert len(shown) == 2
    assert outcomes(world, uid, "search")[-10:-6] == ["no_evidence"] * 4
    world.tokens["dana.datateam"] = world.sign_in("dana.datateam")
    usage = world.client.get("/la/usage", params={"days": 1}, headers=world.auth("dana.datateam"))
    assert usage.status_code == 200, usage.text
    [flag] = [f for f in usage.json()["flags"] if f["actor"] == uid]
    expected = {"searches_per_hour", "near_misses", "identifier_sequence", "results_unopened"}
    assert expected <= set(flag["reasons"])
    assert flag["near_misses"] == 4 and flag["identifier_steps"] == 4 and flag["searches_max_hour"] == 10
    assert flag["results_shown"] == 2 and flag["results_opened"] == 0
    # A user who searched a little and opened what they found is not flagged.
    assert all(f["actor"] != "pat.practitioner" or "near_misses" not in f["reasons"]
               for f in usage.json()["flags"])
    # Reading the flags is itself audited.
    assert outcomes(world, "dana.datateam", "read_audit")[-1] == "ok"


def test_a_practitioner_opens_only_records_they_found(world: World) -> None:
    """Child ids are sequential: without this, GET /children/{id} walks every record, no search."""
    uid, other = "cora.protect", world.ids["other"]  # cora's service works with no seeded child
    world.clock.advance(days=3)
    world.tokens[uid] = world.sign_in(uid)

    def open_record() -> Response:
        return world.client.get(f"/children/{other}", params={"reason": "safeguarding"},
                                headers=world.auth(uid))

    walked = open_record()
    assert walked.status_code == 403 and "search for the child first" in walked.json()["error"]
    assert "Kerensa" not in walked.text and outcomes(world, uid, "view_record")[-1] == "forbidden"
    assert other in [r["child_id"] for r in search(world, uid, family_name="Penhaligon",
                                                   date_of_birth="2016-01-02").json()["results"]]
    assert open_record().status_code == 200
    # A search from more than a day ago no longer counts.
    world.clock.advance(hours=25)
    world.tokens[uid] = world.sign_in(uid)
    assert open_record().status_code == 403
    # A practitioner whose service works with the child opens it without a search; the LA data
    # team opens its own LA's records.
    world.tokens["pat.practitioner"] = world.sign_in("pat.practitioner")
    assert world.client.get(f"/children/{other}", params={"reason": "safeguarding"},
                            headers=world.auth("pat.practitioner")).status_code == 200
    world.tokens["dana.datateam"] = world.sign_in("dana.datateam")
    assert world.client.get(f"/children/{world.ids['own']}", params={"reason": "data_accuracy"},
                            headers=world.auth("dana.datateam")).status_code == 200
