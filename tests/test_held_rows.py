"""The LA data team sees the service-feed rows the nightly run held for them (issue 15: a date of
birth missing or not a date, and no child matched for certain): which file, which row and why,
never a value from the row; its own LA's only. On the real slapd and a SQLite store (api_world)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_world import OTHER_LA, OWN_LA, World, build_world
from test_ingest_undated import PERSONAL, _feed

from ingest import run_nightly, submit_file
from ops.slapd import DemoDirectory


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(ldap_server, tmp_path_factory.mktemp("held"))
    yield world
    world.engine.dispose()


def test_the_la_data_team_lists_its_held_rows_without_their_values(world: World, tmp_path: Path) -> None:
    assert world.client.get("/la/held", headers=world.auth("dana.datateam")).json() == {"items": []}
    stranger = {"given_name": "Zephyrine", "family_name": "Quillfeather", "date_of_birth": "2013-13-05",
                "postcode": "MK45 2AB"}
    own = submit_file(world.engine, _feed(tmp_path / "own.csv", [stranger]), source="SC1", la=OWN_LA)
    submit_file(world.engine, _feed(tmp_path / "other.csv", [stranger | {"record_id": "X"}]),
                source="SC2", la=OTHER_LA)
    run_nightly(world.engine)
    response = world.client.get("/la/held", headers=world.auth("dana.datateam"))
    assert response.status_code == 200, response.text
    (item,) = response.json()["items"]  # the other LA's held row is not listed
    assert item["submission_id"] == own.submission_id and item["owning_la"] == OWN_LA
    assert (item["file"], item["source"], item["record"], item["field"]) == (
        "own.csv", "SC1", "line 2", "date_of_birth")
    assert item["reason"].startswith("is not a real calendar date: no child matched it for certain")
    for value in PERSONAL:
        assert value not in response.text
    assert world.client.get("/la/held", headers=world.auth("pat.practitioner")).status_code == 403


def test_the_la_data_team_dismisses_a_held_row_with_a_reason(world: World, tmp_path: Path) -> None:
    from sqlalchemy import select

    from access import audit
    from index import models as m
    from index import transaction

    row = {"given_name": "Quenby", "family_name": "Marchbanks", "date_of_birth": "2013-02-30"}
    own = submit_file(world.engine, _feed(tmp_path / "dismiss.csv", [row]), source="SC3", la=OWN_LA)
    other = submit_file(world.engine, _feed(tmp_path / "dismiss-other.csv", [row | {"record_id": "Y"}]),
                        source="SC4", la=OTHER_LA)
    run_nightly(world.engine)
    dana = world.auth("dana.datateam")
    body = {"record": "line 2", "reason": "held_sent_again"}
    # Another LA's held row answers as one that does not exist, and stays held.
    refused = world.client.post(f"/la/held/{other.submission_id}/dismissal", json=body, headers=dana)
    assert refused.status_code == 404 and "Marchbanks" not in refused.text
    # A reason that is not one of the codes (free text could hold personal data) is refused.
    wrong = world.client.post(f"/la/held/{own.submission_id}/dismissal", headers=dana,
                              json={"record": "line 2", "reason": "Quenby was sent again"})
    assert wrong.status_code == 422 and "Quenby" not in wrong.text
    done = world.client.post(f"/la/held/{own.submission_id}/dismissal", json=body, headers=dana)
    assert done.status_code == 204, done.text
    listed = world.client.get("/la/held", headers=dana).json()["items"]
    assert own.submission_id not in [i["submission_id"] for i in listed]
    again = world.client.post(f"/la/held/{own.submission_id}/dismissal", json=body, headers=dana)
    assert again.status_code == 404
    with transaction(world.engine) as db:
        staged = db.execute(select(m.StagedRecord.submission_id, m.StagedRecord.outcome,
                                   m.StagedRecord.payload)
                            .where(m.StagedRecord.submission_id.in_([own.submission_id, other.submission_id]))
                            .order_by(m.StagedRecord.submission_id)).all()
        assert [(s, o, p is not None) for s, o, p in staged] == [
            (own.submission_id, "held_dismissed", False), (other.submission_id, "held", True)]
        entries = [e for e in audit.what_user_looked_at(db, "dana.datateam") if e.action == "dismiss_held"]
        assert [(e.reason, e.outcome) for e in entries] == [("held_sent_again", "ok")]
        assert audit.verify(db).ok


def test_the_dismissal_reasons_are_declared_once_and_known_to_the_audit_trail() -> None:
    from typing import get_args

    from access.audit import REASONS
    from api.schemas import HeldDismissal
    from ingest.held import DISMISS_REASONS

    codes = get_args(HeldDismissal.model_fields["reason"].annotation)
    assert set(codes) == set(DISMISS_REASONS) and set(codes) <= set(REASONS)


def test_the_la_data_team_attaches_a_held_row_to_a_child_of_its_la(world: World, tmp_path: Path) -> None:
    from sqlalchemy import select

    from access import audit
    from index import models as m
    from index import transaction

    row = {"given_name": "Demelza", "family_name": "Nancarrow", "date_of_birth": "2014-13-12",
           "organisation_name": "Kempston Family Support"}
    own = submit_file(world.engine, _feed(tmp_path / "attach.csv", [row, row | {"record_id": "R9"}]),
                      source="SC5", la=OWN_LA)
    other = submit_file(world.engine, _feed(tmp_path / "attach-other.csv", [row | {"record_id": "Z"}]),
                        source="SC6", la=OTHER_LA)
    run_nightly(world.engine)
    dana, child = world.auth("dana.datateam"), world.ids["dup_a"]
    with transaction(world.engine) as db:
        born = db.get(m.Child, child).date_of_birth  # type: ignore[union-attr]
    body = {"record": "line 2", "child_id": child, "reason": "held_child_identified"}
    url = f"/la/held/{own.submission_id}/attachment"
    # Another LA's row, another LA's child and no child at all answer alike, and nothing moves.
    refusals = [world.client.post(f"/la/held/{other.submission_id}/attachment", json=body, headers=dana),
                world.client.post(url, json=body | {"child_id": world.ids["other"]}, headers=dana),
                world.client.post(url, json=body | {"child_id": 987_654}, headers=dana)]
    assert [(r.status_code, r.json()) for r in refusals] == [(404, refusals[0].json())] * 3
    assert world.client.post(url, json=body | {"reason": "Demelza"}, headers=dana).status_code == 422
    done = world.client.post(url, json=body, headers=dana)
    assert done.status_code == 204, done.text
    # Once attached, neither attached again nor dismissed; a dismissed row is not attached.
    assert world.client.post(url, json=body, headers=dana).status_code == 404
    assert world.client.post(f"/la/held/{own.submission_id}/dismissal", headers=dana,
                             json={"record": "line 2", "reason": "held_sent_again"}).status_code == 404
    assert world.client.post(f"/la/held/{own.submission_id}/dismissal", headers=dana,
                             json={"record": "line 3", "reason": "held_sent_again"}).status_code == 204
    assert world.client.post(url, json=body | {"record": "line 3"}, headers=dana).status_code == 404
    with transaction(world.engine) as db:
        # The child's record now holds the row's involvement, with the row's provenance.
        involvements = db.execute(select(m.Involvement.child_id, m.Involvement.organisation_name,
                                         m.Involvement.record_ref)
                                  .where(m.Involvement.submission_id == own.submission_id)).all()
        assert [tuple(i) for i in involvements] == [(child, "Kempston Family Support", "line 2")]
        assert db.get(m.Child, child).date_of_birth == born  # type: ignore[union-attr]
        staged = db.execute(select(m.StagedRecord.submission_id, m.StagedRecord.record_ref,
                                   m.StagedRecord.outcome, m.StagedRecord.child_id,
                                   m.StagedRecord.payload.is_not(None))
                            .where(m.StagedRecord.submission_id.in_([own.submission_id, other.submission_id]))
                            .order_by(m.StagedRecord.submission_id, m.StagedRecord.position)).all()
        assert [tuple(s) for s in staged] == [
            (own.submission_id, "line 2", "held_attached", child, False),
            (own.submission_id, "line 3", "held_dismissed", None, False),
            (other.submission_id, "line 2", "held", None, True)]
        entries = [e for e in audit.what_user_looked_at(db, "dana.datateam") if e.action == "attach_held"]
        assert [(e.reason, tuple(e.child_ids), e.outcome) for e in entries] == [
            ("held_child_identified", (child,), "ok")]
        assert audit.verify(db).ok


def test_the_attachment_reasons_are_known_to_the_audit_trail() -> None:
    from typing import get_args

    from access.audit import REASONS
    from api.schemas import HeldAttachment
    from ingest.held import ATTACH_REASONS

    codes = get_args(HeldAttachment.model_fields["reason"].annotation)
    assert set(codes) == set(ATTACH_REASONS) and set(codes) <= set(REASONS)
