"""Subject access (issue 17): the owning LA's data team gets everything held about a child with
its provenance and every access (who, organisation, when, reason), as JSON and as a readable
PDF, on the API and the command line; audited; refused to anyone else."""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_world import World, build_world, last_entry
from sqlalchemy import select
from typer.testing import CliRunner

from index import models as m
from index.store import transaction
from ops.cli import app
from ops.slapd import DemoDirectory


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield build_world(ldap_server, tmp_path_factory.mktemp("sar"))


def pdf_text(data: bytes) -> str:
    """The text drawn on the pages: reportlab's content streams, ASCII85 then Flate decoded."""
    parts = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", data, re.S):
        body = stream.strip()
        try:
            parts.append(zlib.decompress(base64.a85decode(body.removesuffix(b"~>"))))
        except (ValueError, zlib.error):
            parts.append(body)
    return b"".join(parts).decode("latin-1")



def test_json_holds_the_record_with_provenance_and_every_access(world: World) -> None:
    own = world.ids["own"]
    viewed = world.client.get(f"/children/{own}", params={"reason": "safeguarding"},
                              headers=world.auth("pat.practitioner"))
    assert viewed.status_code == 200
    response = world.client.get(f"/la/children/{own}/subject-access", headers=world.auth("dana.datateam"))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["child"]["date_of_birth"] == "2015-06-07" and report["child"]["owning_la"] == "823"
    assert [n["family_name"] for n in report["names"]] == ["Pendragon"]
    assert report["addresses"][0]["postcode"] == "MK40 1AB"
    assert report["carers"][0]["given_name"] == "Morwenna"
    assert {v["organisation"] for v in report["involvements"]} == {"Bedford Health Visiting",
                                                                  "Bedford Connexions"}
    assert all("provenance" in row for key in ("names", "addresses", "carers", "involvements")
               for row in report[key])
    looks = [a for a in report["accesses"] if a["who"] == "pat.practitioner"]
    assert looks and looks[-1]["organisation"] == "Bedford Health Visiting"
    assert looks[-1]["what"] == "viewed a child's record" and "safety" in looks[-1]["reason"]
    entry = last_entry(world)
    assert (entry.action, entry.actor, entry.reason) == ("subject_access", "dana.datateam", "subject_access")


def test_pdf_a_family_can_read(world: World) -> None:
    response = world.client.get(f"/la/children/{world.ids['own']}/subject-access", params={"format": "pdf"},
                                headers=world.auth("dana.datateam"))
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text = pdf_text(response.content)
    for value in ("Pendragon", "Tamsin", "Morwenna", "Bedford Health Visiting", "pat.practitioner",
                  "Who has looked at or changed this record"):
        assert value in text, value


def test_only_the_owning_las_data_team(world: World) -> None:
    dana = world.auth("dana.datateam")
    other = world.client.get(f"/la/children/{world.ids['other']}/subject-access", headers=dana)
    assert other.status_code == 403
    for uid in ("pat.practitioner", "alex.auditor", "otto.operator"):
        refused = world.client.get(f"/la/children/{world.ids['own']}/subject-access", headers=world.auth(uid))
        assert refused.status_code == 403


def test_command_line_pdf_and_json(world: World, tmp_path: Path) -> None:
    with transaction(world.engine) as db:
        number = db.scalar(select(m.Child.child_number).where(m.Child.id == world.ids["own"]))
    runner = CliRunner()
    for name in ("sar.pdf", "sar.json"):
        out = tmp_path / name
        done = runner.invoke(app, ["sar", number, "--out", str(out), "--by", "dana.datateam",
                                   "--db", str(world.engine.url)])
        assert done.exit_code == 0, done.output
        assert out.stat().st_mode & 0o777 == 0o600
    assert json.loads((tmp_path / "sar.json").read_text())["names"][0]["given_name"] == "Tamsin"
    assert "Pendragon" in pdf_text((tmp_path / "sar.pdf").read_bytes())
    refused = runner.invoke(app, ["sar", number, "--out", str(tmp_path / "x.pdf"), "--by", "pat.practitioner",
                                  "--db", str(world.engine.url)])
    assert refused.exit_code == 2 and "not on the data team" in refused.output
    unknown = runner.invoke(app, ["sar", "0000000000", "--out", str(tmp_path / "y.pdf"), "--by",
                                  "dana.datateam", "--db", str(world.engine.url)])
    assert unknown.exit_code == 2 and "no child" in unknown.output
