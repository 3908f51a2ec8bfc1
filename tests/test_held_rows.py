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
