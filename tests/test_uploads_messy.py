"""Messy files through the upload routes, as a school (sam.school) and an LA data team
(dana.datateam) send them: accepted as the clean file, or refused (422) with a reason that says
what is wrong and how to fix it, never a value from the file, in the response or the logs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import messy_files as messy
import pytest
from api_world import OWN_SCHOOL, World, build_world

from ops.slapd import DemoDirectory

DATA = Path(__file__).parent / "data" / "ingest"
CTF = (DATA / "ctf_markers.xml").read_bytes()
FEED = (DATA / "service_feed.csv").read_text(encoding="utf-8")
# Values of the fixtures' pupils and rows that must never be echoed.
PERSONAL = ("Okafor", "Amara", "2014-05-10", "MK45", "Hughes", "Siân", "9434765870", "Jones")


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(ldap_server, tmp_path_factory.mktemp("messy-uploads"))
    yield world
    world.engine.dispose()


def _post(world: World, uid: str, url: str, content: bytes) -> tuple[int, str]:
    response = world.client.post(url, headers=world.auth(uid),
                                  files={"file": ("export.xml", content, "application/octet-stream")})
    return response.status_code, response.text


SCHOOL_URL = f"/schools/{OWN_SCHOOL}/submissions"
FEED_URL = "/la/submissions?sender=HV"


def _with_name(rows: list[list[str]]) -> list[list[str]]:
    rows = [list(r) for r in rows]
    rows[2][rows[0].index("given_name")] = "Siân"
    return rows


CASES: dict[str, tuple[str, str, Callable[[], bytes], int, str]] = {
    # name: (user, url, content, status, what the answer says)
    "CTF, prefix on every element": ("sam.school", SCHOOL_URL, lambda: messy.prefixed(CTF), 201, '"ctf"'),
    "CTF, UTF-16, a namespace": ("sam.school", SCHOOL_URL,
                                 lambda: messy.utf16(messy.default_namespace(CTF)), 201, '"ctf"'),
    "CTF, zipped": ("sam.school", SCHOOL_URL, lambda: b"PK\x03\x04" + CTF[:200], 422, "is a ZIP archive"),
    "CTF, cut short": ("sam.school", SCHOOL_URL, lambda: CTF[: CTF.rindex(b"</Pupil>") - 20], 422,
                       "nothing from the file was staged"),
    "feed, Excel semicolons": ("dana.datateam", FEED_URL,
                               lambda: messy.semicolons(messy.excel_header(messy.csv_rows(FEED))), 201,
                               '"service_feed"'),
    "feed, Windows-1252": ("dana.datateam", FEED_URL,
                           lambda: messy.csv_text(_with_name(messy.csv_rows(FEED))).encode("cp1252"), 422,
                           "CSV UTF-8"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_messy_uploads(world: World, case: str, caplog: pytest.LogCaptureFixture) -> None:
    uid, url, content, status, says = CASES[case]
    with caplog.at_level(logging.DEBUG):
        code, text = _post(world, uid, url, content())
    assert (code, says in text) == (status, True), text
    said = text + "\n".join(r.getMessage() for r in caplog.records)
    assert [v for v in PERSONAL if v in said] == []
    assert "MARKER" not in said
