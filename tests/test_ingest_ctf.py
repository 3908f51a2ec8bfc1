"""Common Transfer File parsing: pupils, contacts as carers, school history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from index.vocabulary import Gender, NameKind, Relationship, SourceKind
from ingest import RELATIONSHIP_CODES, FeedError, detect_kind, parse_ctf, parse_feed

DATA = Path(__file__).parent / "data" / "ingest"
MARKERS = DATA / "ctf_markers.xml"


def test_detects_ctf() -> None:
    assert detect_kind(MARKERS) is SourceKind.CTF


def test_pupil_names_identifiers_and_address() -> None:
    result = parse_ctf(MARKERS).collect()
    assert result.failure is None and result.errors == []
    first, second = result.records
    child = first.child
    names = {n.kind: n for n in child.names}
    assert (names[NameKind.CURRENT].given_name, names[NameKind.CURRENT].middle_names) == ("Amara", "Grace")
    assert names[NameKind.PREFERRED].given_name == "Mara"
    assert (names[NameKind.FORMER].given_name, names[NameKind.FORMER].family_name) == ("Amy", "Smith")
    assert {i.scheme for i in child.identifiers} == {"upn", "former_upn", "uln"}
    assert child.gender is Gender.FEMALE and child.owning_la == "823"
    (address,) = child.addresses
    assert (address.line1, address.postcode, address.uprn) == ("14 Mill Lane", "MK45 2AB", "100081234567")
    # Pre-CTF-25 files write Gender; free address lines.
    assert second.child.gender is Gender.MALE
    assert second.child.addresses[0].line3 == "Bedford"


def test_contacts_become_carers_and_are_never_merged() -> None:
    first = parse_ctf(MARKERS).collect().records[0]
    one, two, three = first.child.carers
    # Same name, title, gender and relationship: still two carers, each with its own details.
    assert (one.given_name, one.family_name) == (two.given_name, two.family_name) == ("Ngozi", "Okafor")
    assert one.relationship_to_child is two.relationship_to_child is Relationship.PARENT
    assert (one.contact_order, two.contact_order) == (1, 2)
    assert one.address_as_child and one.postcode is None
    assert (one.phone, one.alternative_phone) == ("07700 900123", "01525 400100")  # first two only
    assert one.email == "ngozi@example.org" and one.parental_responsibility is True
    assert not two.address_as_child
    assert (two.line1, two.town, two.postcode) == ("2 Park Road", "Luton", "LU1 3AA")
    assert two.phone == "07700 900456"
    # An unknown relationship code is OTHER with a warning, bad phone and email left out.
    assert three.relationship_to_child is Relationship.OTHER
    assert three.phone is None and three.email is None and three.parental_responsibility is False
    assert "pupil 1: contact 3: relationship code not recognised, recorded as other" in first.warnings


def test_relationship_table_covers_the_codes_seen_in_the_wild() -> None:
    for code in ("PAR", "CAR", "STP", "FOS", "FAM", "REL", "CHM", "DOC", "SWR", "OTH"):
        assert code in RELATIONSHIP_CODES
    assert RELATIONSHIP_CODES["STP"] is Relationship.STEP_PARENT


def test_school_history_gives_ended_involvements_and_the_source_school_dates() -> None:
    first, second = parse_ctf(MARKERS).collect().records
    current, previous = first.child.involvements
    assert (current.organisation_code, current.organisation_name) == ("8231234", "Greenfield Primary")
    assert (current.start_date, current.end_date) == (dt.date(2019, 9, 4), dt.date(2025, 7, 18))
    assert (previous.organisation_code, previous.organisation_name) == ("8235001", "Hillside Infants")
    assert (previous.start_date, previous.end_date) == (dt.date(2018, 9, 5), dt.date(2019, 7, 19))
    assert first.left_on == dt.date(2025, 7, 18)
    (only,) = second.child.involvements
    assert only.organisation_code == "8231234" and only.end_date is None


def test_history_entry_without_leaving_date_is_left_out_with_a_warning(tmp_path: Path) -> None:
    text = MARKERS.read_text().replace("<LeavingDate>2019-07-19</LeavingDate>", "", 1)
    path = tmp_path / "ctf.xml"
    path.write_text(text)
    first = parse_ctf(path).collect().records[0]
    assert [i.organisation_code for i in first.child.involvements] == ["8231234"]
    assert "pupil 1: school history 1: has no leaving date, entry left out" in first.warnings


def test_report_header_and_dropped_sections() -> None:
    parse = parse_ctf(MARKERS)
    list(parse)
    report = parse.report
    assert report.header["laestab"] == "8231234" and report.header["ctf_version"] == "25.0"
    assert report.header["dest_laestab"] == "8235678"
    for section in ("Attendance", "StageAssessments", "SENhistory", "FSMhistory", "LookedAfter",
                    "Ethnicity", "Languages", "MedicalFlag", "Disabilities", "NCyearActual",
                    "NAWdetails", "Admissions", "Pastoral", "Title", "UCI", "LeavingReason"):
        assert report.dropped[section] >= 1, section


def test_ctf_without_pupils_is_a_file_error() -> None:
    with pytest.raises(FeedError, match=r"ctf_empty\.xml: holds no pupils") as caught:
        list(parse_feed(DATA / "ctf_empty.xml"))
    assert caught.value.report is not None and caught.value.report.header["laestab"] == "8231234"


def test_expected_school_mismatch() -> None:
    with pytest.raises(FeedError, match="is from school 8231234"):
        list(parse_ctf(MARKERS, expected_laestab="8235678"))
