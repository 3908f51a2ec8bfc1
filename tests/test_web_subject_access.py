"""The subject access report from the LA data team's page of a child (issues 16, 17): the page
links to the API's report, which a signed-in browser (cookie session) downloads as a PDF; the
download is audited; a practitioner's cookie gets no report."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from api_world import build_world
from sqlalchemy import select

from index import models as m
from index.store import transaction

ORIGIN = {"Origin": "http://testserver"}


def test_the_la_page_of_a_child_downloads_its_subject_access_report(ldap_server: Any, tmp_path: Path) -> None:
    world = build_world(ldap_server, tmp_path)
    child_id = world.ids["own"]
    world.web_sign_in("dana.datateam")
    page = world.client.get(f"/la/child/{child_id}")
    assert page.status_code == 200, page.text
    links = re.findall(r'href="(/la/children/\d+/subject-access[^"]*)"', page.text)
    assert links == [f"/la/children/{child_id}/subject-access?format=pdf",
                     f"/la/children/{child_id}/subject-access"]
    report = world.client.get(links[0].replace("&amp;", "&"))
    assert report.status_code == 200 and report.headers["content-type"] == "application/pdf"
    assert report.content.startswith(b"%PDF")
    with transaction(world.engine) as db:
        last = db.scalars(select(m.AuditEvent).order_by(m.AuditEvent.seq.desc()).limit(1)).one()
        assert (last.action, last.actor) == ("subject_access", "dana.datateam")

    world.web_sign_in("pat.practitioner")
    assert world.client.get(links[0]).status_code == 403
