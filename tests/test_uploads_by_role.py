"""Uploads by role: each upload route accepts only the kinds of file its role may send, decided
from the content before anything is staged, and a refusal is audited; a file already held from
another sender is refused without a word about that submission (API and CLI). On the real
slapd and a SQLite store (api_world)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_world import OTHER_SCHOOL, OWN_LA, OWN_SCHOOL, World, build_world, last_entry, set_register
from sqlalchemy import func, select
from typer.testing import CliRunner

from index import models as m
from index.store import transaction
from ops.ingest import ingest_app
from ops.slapd import DemoDirectory

DATA = Path(__file__).parent / "data" / "ingest"
CENSUS = DATA / "census_markers.xml"
CTF = DATA / "ctf_markers.xml"
FEED = DATA / "service_feed.csv"


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(ldap_server, tmp_path_factory.mktemp("uploads"))
    yield world
    world.engine.dispose()


def submissions(world: World) -> int:
    with transaction(world.engine) as db:
        return db.scalar(select(func.count()).select_from(m.Submission)) or 0



def upload(world: World, uid: str, url: str, path: Path, content: bytes | None = None) -> object:
    return world.client.post(url, headers=world.auth(uid),
                             files={"file": ("whatever.xml", content or path.read_bytes(), "text/plain")})


@pytest.mark.parametrize("path", [FEED], ids=["service feed"])
def test_a_school_cannot_send_a_service_feed(world: World, path: Path) -> None:
    """The hole: a CSV service feed through a school's route would add involvements, a lead
    professional and an address to any child. Refused (403) before staging, and audited."""
    before = submissions(world)
    response = upload(world, "sam.school", f"/schools/{OWN_SCHOOL}/submissions", path)
    assert response.status_code == 403, response.text  # type: ignore[attr-defined]
    assert "service feed" in response.json()["error"]  # type: ignore[attr-defined]
    assert submissions(world) == before  # nothing staged, not even a rejected submission
    entry = last_entry(world)
    assert (entry.actor, entry.action, entry.outcome) == ("sam.school", "upload_submission", "forbidden")
    assert not list(world.ctx.settings.upload_dir.iterdir())  # the stored upload is gone too


@pytest.mark.parametrize("path", [CENSUS, CTF], ids=["census", "ctf"])
def test_the_la_feed_route_takes_no_school_files(world: World, path: Path) -> None:
    before = submissions(world)
    response = upload(world, "dana.datateam", "/la/submissions", path)
    assert response.status_code == 403, response.text  # type: ignore[attr-defined]
    assert submissions(world) == before
    entry = last_entry(world)
    assert (entry.actor, entry.action, entry.outcome) == ("dana.datateam", "upload_submission", "forbidden")


def test_the_la_data_team_sends_a_service_feed_for_its_own_la(world: World) -> None:
    response = upload(world, "dana.datateam", "/la/submissions?sender=RD7", FEED)
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["source_kind"] == "service_feed" and body["state"] == "staged"
    with transaction(world.engine) as db:
        owning_la = db.scalar(select(m.StagedSubmission.owning_la)
                              .where(m.StagedSubmission.submission_id == body["submission_id"]))
        source = db.scalar(select(m.Submission.source_code).where(m.Submission.id == body["submission_id"]))
    assert owning_la == OWN_LA and source == "RD7"
    entry = last_entry(world)
    assert (entry.actor, entry.action, entry.outcome) == ("dana.datateam", "upload_submission", "ok")


@pytest.mark.parametrize("uid", ["pat.practitioner", "sam.school", "alex.auditor", "ada.admin"])
def test_only_the_la_data_team_may_use_the_feed_route(world: World, uid: str) -> None:
    before = submissions(world)
    response = upload(world, uid, "/la/submissions", FEED)
    assert response.status_code == 403
    assert submissions(world) == before
    entry = last_entry(world)
    assert (entry.actor, entry.action, entry.outcome) == (uid, "upload_submission", "forbidden")


def test_another_schools_file_is_refused_without_a_word_about_it(world: World) -> None:
    """School A's census, uploaded again by school B: before, B was told `duplicate: true` with
    A's submission (its id, counts and header). Now it is refused and says nothing of it."""
    first = upload(world, "sam.school", f"/schools/{OWN_SCHOOL}/submissions", CENSUS)
    assert first.status_code == 201, first.text  # type: ignore[attr-defined]
    held = first.json()  # type: ignore[attr-defined]
    again = upload(world, "sam.school", f"/schools/{OWN_SCHOOL}/submissions", CENSUS)
    assert again.json()["duplicate"] is True  # type: ignore[attr-defined]  # the same school: a no-op
    set_register(world.engine, "sam.school", organisation_code=OTHER_SCHOOL)
    world.tokens["sam.school"] = world.sign_in("sam.school")
    try:
        other = upload(world, "sam.school", f"/schools/{OTHER_SCHOOL}/submissions", CENSUS)
        assert other.status_code == 422, other.text  # type: ignore[attr-defined]
        refusal = other.json()  # type: ignore[attr-defined]
        assert list(refusal) == ["error"] and "another school or source" in refusal["error"]
        assert f"submission {held['submission_id']})" not in refusal["error"]
        entry = last_entry(world)
        assert (entry.actor, entry.action, entry.outcome) == ("sam.school", "upload_submission", "refused")
        listed = world.client.get(f"/schools/{OTHER_SCHOOL}/submissions", headers=world.auth("sam.school"))
        assert held["submission_id"] not in [s["submission_id"] for s in listed.json()["submissions"]]
    finally:
        set_register(world.engine, "sam.school")
        world.tokens["sam.school"] = world.sign_in("sam.school")


def test_the_command_line_says_what_it_staged_and_refuses_anothers_file(world: World, tmp_path: Path) -> None:
    runner = CliRunner()
    url = str(world.engine.url)
    feed = tmp_path / "feed.csv"
    feed.write_bytes(FEED.read_bytes() + b"\n")  # new bytes: not held yet
    staged = runner.invoke(ingest_app, ["submit", str(feed), "--source", "HV01", "--la", OWN_LA, "--db", url])
    assert staged.exit_code == 0, staged.output
    assert "service feed (service_feed) staged" in staged.output
    census = runner.invoke(ingest_app, ["submit", str(CENSUS), "--source", OWN_SCHOOL, "--db", url])
    assert census.exit_code == 0 and "school census (census)" in census.output, census.output
    other = runner.invoke(ingest_app, ["submit", str(feed), "--source", "CAMHS9", "--la", OWN_LA,
                                       "--db", url])
    assert other.exit_code == 1, other.output
    first_id = staged.output.split(":")[0].split()[-1]
    assert "another school or source" in other.output and "accepted," not in other.output
    assert f"submission {first_id})" not in other.output


def test_an_la_team_may_not_register_a_submitter_for_another_las_school(world: World) -> None:
    body = {"organisation": "Truro Primary", "organisation_code": "2021234", "la": OWN_LA,
            "role": "school_submitter", "vetting_checked_on": "2025-01-01",
            "vetting_expires_on": "2027-12-31",
            "training_completed_on": "2025-02-01", "change_reason": "register_new_entry"}
    response = world.client.put("/la/register/new.submitter", headers=world.auth("dana.datateam"), json=body)
    assert response.status_code == 403, response.text
    entry = last_entry(world)
    assert (entry.actor, entry.action, entry.outcome, entry.subject_user) == (
        "dana.datateam", "register_change", "forbidden", "new.submitter")
    with transaction(world.engine) as db:
        assert db.scalar(select(func.count()).select_from(m.Practitioner)
                         .where(m.Practitioner.user_id == "new.submitter")) == 0


def test_a_feed_never_shows_in_a_schools_listing(world: World, tmp_path: Path) -> None:
    """A feed's sender is never a school's LAEstab over the API; one an operator sent under a
    school's code is not shown to that school."""
    as_school = world.client.post(f"/la/submissions?sender={OWN_SCHOOL}", headers=world.auth("dana.datateam"),
                                  files={"file": ("f.csv", FEED.read_bytes(), "text/csv")})
    assert as_school.status_code == 422
    feed = tmp_path / "school-coded.csv"
    feed.write_bytes(FEED.read_bytes() + b"\n\n")
    sent = CliRunner().invoke(ingest_app, ["submit", str(feed), "--source", OWN_SCHOOL, "--la", OWN_LA,
                                           "--db", str(world.engine.url)])
    assert sent.exit_code == 0, sent.output
    feed_id = int(sent.output.split(":")[0].split()[-1])
    sam = world.auth("sam.school")
    listed = world.client.get(f"/schools/{OWN_SCHOOL}/submissions", headers=sam).json()["submissions"]
    assert feed_id not in [s["submission_id"] for s in listed]
    assert world.client.get(f"/schools/{OWN_SCHOOL}/submissions/{feed_id}", headers=sam).status_code == 404
