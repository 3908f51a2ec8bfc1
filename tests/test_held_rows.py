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
