"""The operator's pages (issue 17: the nightly run's state without the command line): the last
runs, each run's report with its submissions in counts and reasons, what failed or was refused,
readiness as /ready says, the outbox and the retention runs; for the operator and the LA data
team (READ_RUNS, as GET /operations/nightly), refused to every other role and to nobody signed
in, audited, and never a child's personal detail (names, dates of birth, UPNs, file names)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from api_world import World, build_world, personal_values
from ingest_files import SCHOOL, Pupil, census_xml, write
from sqlalchemy import select

from access import AccessSettings, Directory
from index import models as m
from index.store import transaction
from ingest import SubmissionRejected, run_nightly, submit_file
from ops.retention import run_retention

ORIGIN = {"Origin": "http://testserver"}
PUPILS = [Pupil(1, "Okafor", "Amara", "2014-05-10"), Pupil(2, "Nowak", "Jan", "2012-11-30"),
          Pupil(3, "Evans", "Rhys", "2013-02-30")]  # no 30 February: refused, by field and reason
FILE_NAME = "okafor-amara.xml"  # a file name may name a child: never shown


@pytest.fixture(scope="module")
def world(ldap_server: Any, tmp_path_factory: pytest.TempPathFactory) -> World:
    world = build_world(ldap_server, tmp_path_factory.mktemp("web-operations"))
    tmp = world.tmp
    submit_file(world.engine, write(tmp / FILE_NAME, census_xml(PUPILS)), source=SCHOOL)
    refused = census_xml(PUPILS[:1], reference="2026-01-15", term="SPR").replace(
        "<Message>", '<!DOCTYPE Message SYSTEM "x.dtd">\n<Message>', 1)
    with pytest.raises(SubmissionRejected):
        submit_file(world.engine, write(tmp / "refused.xml", refused), source=SCHOOL)
    run_nightly(world.engine)
    run_retention(world.engine, as_of=dt.date(2026, 3, 2), dry_run=True)
    return world


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def no_personal_data(world: World, html: str) -> None:
    lowered = html.lower()
    values = personal_values(world.engine) | {v.lower() for p in PUPILS
                                              for v in (p.surname, p.forename, p.dob, p.upn)}
    assert not [v for v in values if v in lowered]
    assert FILE_NAME not in lowered and "okafor" not in lowered


def last_run_id(world: World) -> int:
    with transaction(world.engine) as db:
        return int(db.scalar(select(m.IngestRun.id).order_by(m.IngestRun.id.desc()).limit(1)) or 0)


def test_the_operator_signs_in_to_the_nightly_run(world: World) -> None:
    world.web_sign_in("otto.operator")
    home = world.client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/operations"
    page = world.client.get("/operations")
    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    body = text_of(page.text)
    run_id = last_run_id(world)
    assert f'href="/operations/runs/{run_id}"' in page.text
    assert "Outcome Ended well" in body and "Records processed 2" in body
    # Readiness as /ready says: the store and the directory answer; search is in the store.
    assert "Store (database) Answering" in body and "Directory (LDAP) Answering" in body
    assert "Search (Elasticsearch) Not configured" in body
    assert "Possible matches waiting for review 2" in body
    assert re.search(r"Children queued for the search index \(outbox\) \d+", body)
    assert "Submissions done 1" in body and "Submissions rejected 1" in body
    # The refused file, with why, and the dry retention run.
    assert "Refused" in body and "DOCTYPE" in page.text
    assert "Dry run" in body
    assert re.search(r'href="/operations"\s+aria-current="true"', page.text)  # its home, in the navigation
    no_personal_data(world, page.text)
    with transaction(world.engine) as db:
        last = db.scalars(select(m.AuditEvent).order_by(m.AuditEvent.seq.desc()).limit(1)).one()
        assert (last.actor, last.action, last.reason) == ("otto.operator", "read_runs", "operations")


def test_a_runs_report_in_counts_and_reasons(world: World) -> None:
    world.web_sign_in("otto.operator")
    page = world.client.get(f"/operations/runs/{last_run_id(world)}")
    assert page.status_code == 200, page.text
    body = text_of(page.text)
    assert "Records accepted 2" in body and "Records refused 1" in body
    assert "New 2" in body  # two new children
    assert "date of birth Is not a real calendar date 1" in body  # by field and reason, counted
    no_personal_data(world, page.text)
    missing = world.client.get("/operations/runs/999999")
    assert missing.status_code == 404 and "Page not found" in missing.text


def test_the_la_data_team_may_read_it_too(world: World) -> None:
    world.web_sign_in("dana.datateam")
    assert world.client.get("/", follow_redirects=False).headers["location"] != "/operations"
    page = world.client.get("/operations")
    assert page.status_code == 200 and 'href="/operations"' in page.text


@pytest.mark.parametrize("uid", ["pat.practitioner", "sam.school", "alex.auditor", "ada.admin"])
def test_other_roles_are_refused_as_by_the_api(world: World, uid: str) -> None:
    world.web_sign_in(uid)
    for address in ("/operations", f"/operations/runs/{last_run_id(world)}"):
        page = world.client.get(address)
        assert page.status_code == 403 and "You cannot do that" in page.text
    assert 'href="/operations"' not in world.client.get("/", follow_redirects=True).text
    api = world.client.get("/operations/nightly", headers=world.auth(uid))
    assert api.status_code == 403


def test_nobody_signed_in_is_sent_to_sign_in(world: World) -> None:
    world.client.cookies.clear()
    for address in ("/operations", "/operations/runs/1"):
        page = world.client.get(address, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/sign-in")


def test_the_json_route_of_a_run(world: World) -> None:
    run_id = last_run_id(world)
    response = world.client.get(f"/operations/nightly/runs/{run_id}", headers=world.auth("otto.operator"))
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["run"]["run_id"] == run_id and detail["run"]["outcome"] == "ok"
    [submission] = detail["submissions"]
    assert submission["records_staged"] == 2 and submission["rejected"] == 1
    assert submission["rejections"][0]["count"] == 1 and "file" not in submission
    no_personal_data(world, response.text)
    state = world.client.get("/operations/nightly", headers=world.auth("dana.datateam")).json()
    assert [p["state"] for p in state["problems"]] == ["rejected"]




def test_a_part_that_does_not_answer_is_shown(world: World) -> None:
    """As /ready says it: the directory down is named, with its error class only."""
    world.web_sign_in("otto.operator")
    ctx = world.ctx
    down = AccessSettings(**{**ctx.access.model_dump(), "ldap_uri": "ldap://127.0.0.1:1",
                             "ldap_network_timeout_seconds": 1.0})
    kept = ctx.signin.directory
    page = world.client.get("/operations")  # ready before
    assert "The service is not ready" not in page.text
    ctx.signin.directory = Directory(down)
    try:
        page = world.client.get("/operations")
    finally:
        ctx.signin.directory = kept
    body = text_of(page.text)
    assert page.status_code == 200, body
    assert "The service is not ready" in body and "Directory (LDAP) Not answering: DirectoryError" in body
    assert "Store (database) Answering" in body


def test_a_run_that_went_wrong_says_what_happened(world: World) -> None:
    """Every part of a run's report the page can show: a failed submission, an early stop, a
    run found stopped part-way, a submission resumed; and the stopped run's own page."""
    start = world.clock()
    with transaction(world.engine) as db:
        dead = m.IngestRun(pid=1, state="abandoned", started_at=start)
        db.add(dead)
        db.flush()
        report = {"run_id": dead.id + 1, "submissions": [1], "failed": {"1": "failed at record position 25 "
                  "of 50 (OperationalError); records before it were applied"}, "resumed": {"1": 25},
                  "abandoned_runs": [dead.id], "search_caught_up": 3,
                  "stopped": "the search backend is unavailable", "records": 25, "outcomes": {"link": 25}}
        db.add(m.IngestRun(pid=2, state="done", started_at=start, finished_at=start,
                           report=json.dumps(report)))
        dead_id = dead.id
    world.web_sign_in("otto.operator")
    body = text_of(world.client.get("/operations").text)
    assert "Failed" in body and "Stopped part-way" in body
    page = world.client.get(f"/operations/runs/{dead_id + 1}")
    assert page.status_code == 200, page.text
    body = text_of(page.text)
    for said in ("Outcome Failed",
                 "Submission 1 failed: failed at record position 25 of 50 (OperationalError)",
                 "Stopped early: the search backend is unavailable", f"Found run {dead_id} stopped part-way",
                 "Submission 1 resumed at record position 25", "Queued search updates pushed first 3",
                 "What happened to them Link 25"):
        assert said in body, said
    dead_page = text_of(world.client.get(f"/operations/runs/{dead_id}").text)
    assert "Outcome Stopped part-way" in dead_page and "The next run took over" in dead_page
