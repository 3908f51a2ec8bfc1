"""Minimisation: nothing outside the allow-list tables leaves the parser, anywhere.

The fixtures plant a unique MARKER-... string in every prohibited section (and in unknown
elements) of a census and a CTF; after parsing, no marker may appear in the records, the
errors, the reports, the log, or any file written while parsing.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from ingest import CENSUS_PUPIL, CTF_PUPIL, FeedError, Keep, SourceRecord, parse_feed
from ingest.census import CENSUS_HEADER
from ingest.ctf import CTF_CONTACT, CTF_HEADER, CTF_SCHOOL
from ingest.minimise import minimise

DATA = Path(__file__).parent / "data" / "ingest"
MARKER = re.compile(r"MARKER-[A-Z0-9-]+")


def _everything_from(path: Path, *, expected_laestab: str | None = None) -> str:
    """All a parse hands back, as text: records, warnings, errors, report, file error."""
    parts: list[str] = []
    parse = parse_feed(path, expected_laestab=expected_laestab, owning_la="823")
    try:
        for item in parse:
            if isinstance(item, SourceRecord):
                parts += [item.child.model_dump_json(), repr(item), *item.warnings]
            else:
                parts += [str(item), repr(item)]
    except FeedError as exc:
        parts.append(str(exc))
    parts.append(json.dumps(parse.report.as_dict()))
    parts.append(repr(parse.report))
    return "\n".join(parts)


def _files_text(root: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file()
    )


@pytest.mark.parametrize("fixture", ["census_markers.xml", "ctf_markers.xml"])
def test_no_marker_leaves_the_parser(
    fixture: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = DATA / fixture
    planted = set(MARKER.findall(source.read_text()))
    assert len(planted) >= 15, "the fixture must plant markers in every prohibited section"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    caplog.set_level(logging.DEBUG)

    output = _everything_from(source)
    # A rejected file (wrong school) and a truncated copy must not leak either.
    output += _everything_from(source, expected_laestab="8239999")
    text = source.read_text()
    truncated = tmp_path / f"truncated_{fixture}"
    truncated.write_text(text[: len(text) * 2 // 3])
    output += _everything_from(truncated)
    truncated.unlink()

    assert "Okafor" in output  # the output is real: kept values are there
    written = _files_text(scratch) + _files_text(tmp_path)
    for marker in sorted(planted):
        assert marker not in output, marker
        assert marker not in caplog.text, marker
        assert marker not in written, marker
    shutil.rmtree(scratch)


def test_rejected_pupils_leak_no_markers(tmp_path: Path) -> None:
    # The same prohibited sections on pupils that are rejected (bad UPN, no date of birth).
    text = (DATA / "census_markers.xml").read_text()
    text = text.replace("<UPN>F823123414001</UPN>", "<UPN>A823123414001</UPN>")
    text = text.replace("<DOB>2012-11-30</DOB>", "")
    path = tmp_path / "census.xml"
    path.write_text(text)
    output = _everything_from(path)
    assert "pupil 1: upn: check letter does not match" in output
    assert "pupil 2 (UPN V823123414002): date_of_birth: is missing" in output
    assert not MARKER.search(output)


PROHIBITED = re.compile(
    r"ethnic|fsm|meal|sen|special|attend|absence|exclusion|assess|stage|result|language|religio"
    r"|medical|disabilit|lookedafter|incare|diet|ncyear|enrol|naw|admission|uci",
    re.IGNORECASE,
)


@pytest.mark.parametrize(
    "table", [CENSUS_PUPIL, CENSUS_HEADER, CTF_PUPIL, CTF_CONTACT, CTF_SCHOOL, CTF_HEADER]
)
def test_tables_keep_no_prohibited_element(table: Keep) -> None:
    kept = [*table.fields, *table.groups]
    assert kept
    for path in kept:
        for name in path.split("/"):
            assert not PROHIBITED.search(name), path


def test_minimise_keeps_only_the_table_and_counts_the_rest() -> None:
    element = etree.fromstring(
        "<Pupil><UPN> A1 </UPN><Surname>Okafor<Ethnicity>WBRI</Ethnicity></Surname>"
        "<Address><PostCode>MK45\n 2AB</PostCode><Easting>1</Easting></Address>"
        "<Contacts><Contact><Surname>A</Surname><Title>Ms</Title></Contact>"
        "<Contact><Surname>B</Surname></Contact></Contacts>"
        "<Phones><Phone><PhoneNo>1</PhoneNo></Phone></Phones>"
        "<Unknown><UPN>X</UPN></Unknown><!-- a comment --></Pupil>"
    )
    table = Keep(
        {"UPN": "upn", "Surname": "surname", "Address/PostCode": "address.postcode"},
        {"Contacts/Contact": ("contacts", Keep({"Surname": "surname"}))},
    )
    dropped: Counter[str] = Counter()
    assert minimise(element, table, dropped) == {
        "upn": "A1",
        "surname": "Okafor",
        "address": {"postcode": "MK45 2AB"},
        "contacts": [{"surname": "A"}, {"surname": "B"}],
    }
    assert dropped == Counter({"Ethnicity": 1, "Easting": 1, "Title": 1, "Phones": 1, "Unknown": 1})
