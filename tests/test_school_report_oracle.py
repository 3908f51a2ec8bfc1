"""A school's run report is no oracle of the index (docs/security.md, the second attack test): a
one-pupil CTF whose pupil is a child already held (here a shielded one) and one whose pupil is
nobody give the school the same answers, JSON and page, byte for byte (but the submission's own
number and time, and the random name the server gave the file); the LA data team's view of the
runs still tells link from new."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from api_world import OWN_SCHOOL, World, build_world
from ingest_files import Pupil, ctf_xml

from ingest import run_nightly
from ops.slapd import DemoDirectory


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(ldap_server, tmp_path_factory.mktemp("school-oracle"))
    yield world
    world.engine.dispose()


# The seeded shielded child, as its school would send it (api_world._seed), and a pupil who is nobody.
HELD = Pupil(701, "Trevithick", "Ysolde", "2009-04-05", house="12", street="Quayside Lane", town="Kempston",
             postcode="MK40 1AB")
NOBODY = Pupil(702, "Polglase", "Eseld", "2011-08-19", house="3", street="Mill Lane", town="Ampthill",
               postcode="MK45 2AB")


def _send_and_run(world: World, pupil: Pupil) -> tuple[int, dict[str, Any], dict[str, Any], str]:
    """Upload a one-pupil CTF as the school, run the night, and read what the school is shown:
    the upload's answer, the submission (JSON), the listing's entry and the submission's page."""
    sam = world.auth("sam.school")
    sent = world.client.post(f"/schools/{OWN_SCHOOL}/submissions", headers=sam,
                             files={"file": ("ctf.xml", ctf_xml([pupil]).encode(), "application/xml")})
    assert sent.status_code == 201, sent.text
    submission_id = sent.json()["submission_id"]
    run_nightly(world.engine)
    detail = world.client.get(f"/schools/{OWN_SCHOOL}/submissions/{submission_id}", headers=sam)
    assert detail.status_code == 200, detail.text
    listed = world.client.get(f"/schools/{OWN_SCHOOL}/submissions", headers=sam).json()["submissions"]
    entry = next(s for s in listed if s["submission_id"] == submission_id)
    again = world.client.post(f"/schools/{OWN_SCHOOL}/submissions", headers=sam,  # a duplicate, after the run
                              files={"file": ("ctf.xml", ctf_xml([pupil]).encode(), "application/xml")})
    assert again.status_code == 201 and again.json()["duplicate"] is True, again.text
    world.web_sign_in("sam.school")
    page = world.client.get(f"/school/{OWN_SCHOOL}/submissions/{submission_id}")
    assert page.status_code == 200, page.text
    world.client.cookies.clear()
    return submission_id, detail.json(), {"entry": entry, "again": again.json()}, page.text


def _same_but_the_number(value: Any, submission_id: int) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = re.sub(r'"received_at": ?"[^"]*"|\'received_at\': [^,}]*', "received_at", text)
    text = re.sub(r"upload-[0-9a-f]{32}\.xml", "upload", text)  # the server's random name for the file
    text = re.sub(r'(name="csrf_token" value=|nonce=)"[^"]*"', r"\1", text)
    return re.sub(rf"('submission_id': |submissions/|Submission |submission ){submission_id}\b", r"\1N", text)


def test_a_school_cannot_tell_a_child_already_held_from_a_new_one(world: World) -> None:
    known, known_json, known_out, known_page = _send_and_run(world, HELD)
    new, new_json, new_out, new_page = _send_and_run(world, NOBODY)
    assert known_json["submission"]["run_report"] is not None  # the night ran both
    assert _same_but_the_number(known_json, known) == _same_but_the_number(new_json, new)
    assert _same_but_the_number(known_out, known) == _same_but_the_number(new_out, new)
    assert _same_but_the_number(known_page, known) == _same_but_the_number(new_page, new)
    assert known_json["submission"]["run_report"]["counts"]["accepted"] == 1
    for word in ("link", "new", "review", "searches", "unchanged"):
        assert word not in known_json["submission"]["run_report"]["counts"]

    # The LA data team's view of the nightly runs still tells them apart.
    dana = world.auth("dana.datateam")
    runs = world.client.get("/operations/nightly", headers=dana)
    assert runs.status_code == 200, runs.text
    counts = {}
    for run_id in range(1, runs.json()["last_run"]["run_id"] + 1):
        detail = world.client.get(f"/operations/nightly/runs/{run_id}", headers=dana)
        if detail.status_code == 200:
            counts.update({s["submission_id"]: s["run_counts"] for s in detail.json()["submissions"]})
    assert counts[new].get("new") == 1 and not counts[new].get("link")
    assert counts[known].get("new", 0) == 0 and (counts[known].get("link") or counts[known].get("review"))
