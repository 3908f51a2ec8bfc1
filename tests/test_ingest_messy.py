"""Real exporters' ways of writing the same census, CTF or service feed: each must give exactly
what the clean file gives (or a clear refusal naming what to change), never a misleading error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import messy_files as messy
import pytest
from ingest_files import Pupil, census_xml
from sqlalchemy import Engine, func, select

from index import models as m
from index.store import transaction
from index.vocabulary import Gender, SourceKind
from ingest import (
    FeedError,
    FeedResult,
    SubmissionRejected,
    detect_kind,
    parse_feed,
    parse_service_feed,
    run_nightly,
    submit_file,
)

DATA = Path(__file__).parent / "data" / "ingest"
TODAY = dt.date(2025, 11, 5)


def _outcome(result: FeedResult) -> dict[str, Any]:
    """What a parse gave, without the file's name."""
    report = result.report
    return {
        "records": [(r.record_ref, r.child.model_dump(), r.left_on, r.warnings) for r in result.records],
        "errors": [(e.record_ref, e.field, e.reason, e.upn) for e in result.errors],
        "dropped": dict(report.dropped),
        "header": dict(report.header),
        "failure": result.failure and result.failure.reason,
    }


def _parse(path: Path, **kwargs: Any) -> FeedResult:
    return parse_feed(path, today=TODAY, **kwargs).collect()


SCHOOL_FILES = ["census_markers.xml", "census_mixed.xml", "ctf_markers.xml"]
XML_VARIANTS: dict[str, Callable[[bytes], bytes]] = {
    "default namespace": messy.default_namespace,
    "prefix on every element": messy.prefixed,
    "UTF-16": messy.utf16,
    "byte-order mark, CRLF": messy.bom_crlf,
    "UTF-8 declaring UTF-16 (.NET)": messy.declares_utf16,
}


def test_utf8_declaring_utf16_is_read_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "dotnet.xml"
    path.write_bytes(messy.declares_utf16((DATA / "ctf_markers.xml").read_bytes()))
    assert _parse(path).report.warnings[0] == "dotnet.xml: declares UTF-16 but is 8-bit text: read as UTF-8"
    path.write_bytes(messy.declares_utf16((DATA / "ctf_markers.xml").read_bytes()).replace(
        b"Okafor", "Okaf\u00f6r".encode("latin-1")))
    failure = _parse(path).failure
    assert failure is not None and "has the wrong encoding" in failure.reason  # not UTF-8 either


@pytest.mark.parametrize("name", SCHOOL_FILES)
@pytest.mark.parametrize("variant", list(XML_VARIANTS))
def test_school_files_from_other_exporters_read_the_same(tmp_path: Path, name: str, variant: str) -> None:
    clean = _outcome(_parse(DATA / name))
    assert clean["records"] and clean["failure"] is None
    messy_path = tmp_path / name
    messy_path.write_bytes(XML_VARIANTS[variant]((DATA / name).read_bytes()))
    assert _outcome(_parse(messy_path)) == clean


@pytest.mark.parametrize("variant", ["default namespace", "prefix on every element"])
def test_namespaced_files_drop_prohibited_sections(tmp_path: Path, variant: str) -> None:
    path = tmp_path / "ctf.xml"
    path.write_bytes(XML_VARIANTS[variant]((DATA / "ctf_markers.xml").read_bytes()))
    result = _parse(path)
    assert result.report.dropped["SENhistory"] >= 1 and result.report.dropped["Attendance"] >= 1
    assert "MARKER" not in repr([r.child.model_dump() for r in result.records])


# --- service feeds as spreadsheets save them ---------------------------------------------------

FEED = DATA / "service_feed.csv"


def _feed_rows() -> list[list[str]]:
    return messy.csv_rows(FEED.read_text(encoding="utf-8"))


def _feed_outcome(path: Path) -> dict[str, Any]:
    outcome = _outcome(_parse(path, owning_la="823"))
    outcome["header"].pop("delimiter", None)
    return outcome


FEED_VARIANTS: dict[str, Callable[[list[list[str]]], bytes]] = {
    "byte-order mark, CRLF": lambda rows: messy.bom_crlf(messy.csv_text(rows).encode()),
    "header as people type it": lambda rows: messy.csv_text(messy.excel_header(rows)).encode(),
    "empty columns at the right": lambda rows: messy.csv_text(messy.trailing_blank_columns(rows)).encode(),
    "empty cells at the right of rows only": lambda rows: messy.csv_text(
        [rows[0], *messy.trailing_blank_columns(rows[1:])]).encode(),
    "semicolons": messy.semicolons,
    "Excel's Unicode text (UTF-16, tabs)": messy.unicode_text,
}


@pytest.mark.parametrize("variant", list(FEED_VARIANTS))
def test_service_feeds_saved_by_spreadsheets_read_the_same(tmp_path: Path, variant: str) -> None:
    clean = _feed_outcome(FEED)
    assert clean["records"] and clean["failure"] is None
    path = tmp_path / "feed.csv"
    path.write_bytes(FEED_VARIANTS[variant](_feed_rows()))
    assert _feed_outcome(path) == clean


def _one_row_feed(tmp_path: Path, name: str, cells: dict[str, str]) -> Path:
    rows = _feed_rows()
    header, first = rows[0], dict(zip(rows[0], rows[1], strict=True))
    first.update(cells)
    path = tmp_path / name
    path.write_text(messy.csv_text([header, [first[c] for c in header]]), encoding="utf-8")
    return path


def test_spreadsheet_cells_read_as_their_documented_form(tmp_path: Path) -> None:
    documented = _one_row_feed(tmp_path, "documented.csv", {
        "date_of_birth": "2024-02-10", "start_date": "2024-02-20", "sex": "F", "lead_professional": "true",
        "service_type": "health_visitor", "address_line2": "", "postcode": "", "contact_email": ""})
    typed = _one_row_feed(tmp_path, "typed.csv", {
        "date_of_birth": "10/02/2024", "start_date": "20.2.2024", "sex": "Female",
        "lead_professional": "Yes", "service_type": "Health Visitor", "address_line2": "N/A",
        "postcode": "#N/A", "contact_email": " null "})
    assert _feed_outcome(typed)["records"] == _feed_outcome(documented)["records"]


def test_a_date_is_never_guessed_month_first(tmp_path: Path) -> None:
    """12/25/2013 is no day-first date: rejected as before, never read as 25 December."""
    result = _parse(_one_row_feed(tmp_path, "us.csv", {"start_date": "12/25/2024"}), owning_la="823")
    assert [(e.field, e.reason) for e in result.errors] == [("start_date", "is not a date (YYYY-MM-DD)")]


def test_names_are_not_taken_for_no_value(tmp_path: Path) -> None:
    result = _parse(_one_row_feed(tmp_path, "na.csv", {"given_name": "Na", "family_name": "Nil"}),
                    owning_la="823")
    name = result.records[0].child.current_name
    assert (name.given_name, name.family_name) == ("Na", "Nil")


def test_a_value_beyond_the_header_still_rejects_its_row(tmp_path: Path) -> None:
    rows = _feed_rows()
    rows[1] = [*rows[1], "", "something"]
    path = tmp_path / "extra.csv"
    path.write_text(messy.csv_text(rows), encoding="utf-8")
    result, clean = _parse(path, owning_la="823"), _parse(FEED, owning_la="823")
    assert ("line 2", "row", "has 26 fields, the header has 24") in [
        (e.record_ref, e.field, e.reason) for e in result.errors]
    assert "line 2" not in [r.record_ref for r in result.records]
    assert {r.record_ref for r in clean.records} - {"line 2"} <= {r.record_ref for r in result.records}


def test_an_undocumented_column_is_refused_by_name_in_any_spelling(tmp_path: Path) -> None:
    rows = messy.excel_header(_feed_rows())
    rows = [[*rows[0], "Ethnicity"], *([*r, "WBRI"] for r in rows[1:])]
    path = tmp_path / "ethnicity.csv"
    path.write_text(messy.csv_text(rows), encoding="utf-8")
    result = _parse(path, owning_la="823")
    assert result.failure is not None and "not in the documented header: ethnicity" in result.failure.reason
    assert result.records == [] and "WBRI" not in result.failure.reason


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64, "is a ZIP archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "is an Excel .xls workbook"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 64, "is a gzip archive"),
    ],
    ids=["zip", "xls", "gzip"],
)
def test_an_archive_or_workbook_is_named_for_what_it_is(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "upload.dat"
    path.write_bytes(content)
    with pytest.raises(FeedError, match=reason):
        detect_kind(path)


def test_windows_1252_csv_is_refused_with_how_to_save_it(tmp_path: Path) -> None:
    """Excel's plain "CSV" on Windows: the header reads, the first row with an accent does not;
    the refusal names the line and says how to save the file (and nothing of its content)."""
    rows = _feed_rows()
    rows[2][rows[0].index("given_name")] = "Siân"
    path = tmp_path / "ansi.csv"
    path.write_bytes(messy.csv_text(rows).encode("cp1252"))
    assert detect_kind(path) is SourceKind.SERVICE_FEED
    result = _parse(path, owning_la="823")
    assert result.failure is not None
    assert "not UTF-8 text (at or after line 3)" in result.failure.reason
    assert "CSV UTF-8" in result.failure.reason and "Si" not in result.failure.reason


# --- through submission and the nightly run ----------------------------------------------------

def _store_text(engine: Engine) -> str:
    with transaction(engine) as session:
        return repr([session.execute(select(table)).all() for table in m.Base.metadata.sorted_tables])


def test_messy_files_land_in_the_store_as_the_clean_ones(engine: Engine, tmp_path: Path) -> None:
    """A namespaced CTF and a feed saved as Unicode text with typed cells: staged, run, stored
    right; nothing of the prohibited sections anywhere in the store."""
    ctf = tmp_path / "8231234_CTF_8235678_001.xml"
    ctf.write_bytes(messy.prefixed((DATA / "ctf_markers.xml").read_bytes()))
    rows = _feed_rows()[:3]
    rows[1][rows[0].index("date_of_birth")] = "10/02/2024"
    rows[1][rows[0].index("service_type")] = "Health Visitor"
    rows[1][rows[0].index("lead_professional")] = "Yes"
    feed = tmp_path / "hv.txt"
    feed.write_bytes(messy.unicode_text(messy.excel_header(rows)))
    first = submit_file(engine, ctf, source="8231234", today=TODAY)
    second = submit_file(engine, feed, source="HV", la="823", today=TODAY)
    assert (first.kind, first.rejected, second.kind, second.accepted) == (
        SourceKind.CTF, 0, SourceKind.SERVICE_FEED, 2)
    run_nightly(engine)
    with transaction(engine) as session:
        okafor = session.scalars(select(m.ChildName.id).where(m.ChildName.family_name == "Okafor")).all()
        visits = session.execute(select(m.Involvement.lead_professional, m.Involvement.start_date).where(
            m.Involvement.service_type == "health_visitor")).all()
    assert okafor and sorted(visits) == [(False, dt.date(2023, 1, 10)), (True, dt.date(2024, 2, 20))]
    assert "MARKER" not in _store_text(engine)


def test_a_broken_file_says_nothing_of_it_was_staged(sqlite_engine: Engine, tmp_path: Path) -> None:
    text = (DATA / "ctf_markers.xml").read_bytes()
    path = tmp_path / "cut.xml"
    path.write_bytes(text[: text.rindex(b"</Pupil>") - 20])
    with pytest.raises(SubmissionRejected) as caught:
        submit_file(sqlite_engine, path, source="8231234", today=TODAY)
    assert "is truncated" in caught.value.reason
    assert "nothing from the file was staged: send it again whole" in caught.value.reason
    with transaction(sqlite_engine) as session:
        assert session.scalar(select(func.count()).select_from(m.StagedRecord)) == 0


def test_a_feed_without_a_header_is_refused_without_echoing_its_first_row(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "noheader.csv"
    path.write_text("\n".join(",".join(row) for row in _feed_rows()[1:3]) + "\n", encoding="utf-8")
    with caplog.at_level("DEBUG"):
        with pytest.raises(FeedError) as caught:
            detect_kind(path)
        result = parse_service_feed(path, owning_la="823", today=TODAY).collect()
    said = f"{caught.value}\n{result.failure}\n" + "\n".join(r.getMessage() for r in caplog.records)
    assert result.failure is not None and "has no header line" in result.failure.reason
    assert not any(value in said.lower() for value in ("amara", "okafor", "2024", "mk45", "bryn"))


# --- what a school is told ---------------------------------------------------------------------

def _census(tmp_path: Path, name: str, pupils: list[Pupil]) -> FeedResult:
    path = tmp_path / name
    path.write_text(census_xml(pupils), encoding="utf-8")
    return _parse(path)


def test_sex_words_are_read_and_an_unknown_code_is_said(tmp_path: Path) -> None:
    pupils = [Pupil(n, "Okafor", "Amara", "2015-03-05", sex=sex)
              for n, sex in enumerate(["Male", "female", "X", "U"], start=1)]
    result = _census(tmp_path, "sex.xml", pupils)
    assert [r.child.gender for r in result.records] == [
        Gender.MALE, Gender.FEMALE, Gender.UNSPECIFIED, Gender.UNSPECIFIED]
    assert result.report.warnings == ["pupil 3: sex: code not recognised, recorded as unspecified"]


def test_every_reason_a_pupil_is_rejected_for_has_its_own_fix(tmp_path: Path) -> None:
    """The school's page says what to fix by the field; none of these falls to the catch-all."""
    from api.web.schools import FIX, FIX_OTHERWISE

    good = Pupil(1, "Okafor", "Amara", "2015-03-05")
    faults = [
        Pupil(2, "Nowak", "Lena", "2015-13-05"),
        Pupil(3, "", "Lena", "2015-03-05"),
        Pupil(4, "Nowak", "", "2015-03-05"),
        Pupil(5, "N" * 101, "Lena", "2015-03-05"),
        Pupil(6, "Nowak", "L" * 101, "2015-03-05"),
        Pupil(7, "Nowak", "Lena", "2015-03-05", postcode="75001"),
        Pupil(8, "Nowak", "Lena", "2015-03-05", entry="2021-9-1"),
        Pupil(9, "Nowak", "Lena", "2015-03-05", entry="2024-09-01", leaving="2023-07-20"),
        Pupil(10, "Nowak", "Lena", "2015-03-05"),  # its UPN's check letter is wrong (below)
        good,  # again: a repeat in the file
    ]
    xml = census_xml([good, *faults]).replace(f"<UPN>{faults[-2].upn}</UPN>", "<UPN>B82300000010Z</UPN>")
    path = tmp_path / "faults.xml"
    path.write_text(xml, encoding="utf-8")
    errors = _parse(path).errors
    assert len(errors) == len(faults)
    fixes = {e.field: next((text for key, text in FIX if key in e.field), FIX_OTHERWISE) for e in errors}
    assert set(fixes) >= {"upn", "date_of_birth", "surname", "forename", "postcode", "entry_date",
                          "leaving_date"}
    assert FIX_OTHERWISE not in fixes.values(), fixes
    assert any("longer than 100 characters" in e.reason for e in errors)


def test_a_school_file_given_another_la_is_refused(sqlite_engine: Engine) -> None:
    """`ingest submit census.xml --source 8231234 --la 202` listed the census under LA 202."""
    with pytest.raises(SubmissionRejected) as caught:
        submit_file(sqlite_engine, DATA / "census_markers.xml", source="8231234", la="202", today=TODAY)
    assert "its LA is the school's own, not 202" in caught.value.reason
    assert submit_file(sqlite_engine, DATA / "census_markers.xml", source="8231234", la="823",
                       today=TODAY).accepted == 3


def test_a_practitioners_unusable_phone_or_email_is_left_out_not_the_row(tmp_path: Path) -> None:
    result = _parse(_one_row_feed(tmp_path, "contact.csv", {
        "contact_phone": "01525 400200 ext 12", "contact_email": "hv at example.nhs.uk"}), owning_la="823")
    (record,) = [r for r in result.records if r.record_ref == "line 2"]
    (involvement,) = record.child.involvements
    assert (involvement.contact_phone, involvement.contact_email) == (None, None)
    assert involvement.practitioner_name == "Sam Jones"
    assert record.warnings == ("line 2: contact_phone: is not a telephone number, left out",
                               "line 2: contact_email: is not an email address, left out")


# --- a school sends its census again, corrected ------------------------------------------------

def _school_children(engine: Engine) -> list[tuple[str, str]]:
    with transaction(engine) as session:
        return sorted((r.family_name, r.given_name) for r in session.execute(
            select(m.ChildName.family_name, m.ChildName.given_name)))


def test_a_corrected_census_of_the_same_date_is_run(sqlite_engine: Engine, tmp_path: Path) -> None:
    """A school fixes the pupils its census was rejected for and sends it again: before, the
    corrected census was 'superseded: the school has already sent a census of the same date' and
    never run, so the fixed pupils never reached the index."""
    pupils = [Pupil(1, "Okafor", "Amara", "2015-03-05"), Pupil(2, "Nowak", "Lena", "2015-13-05")]
    first = tmp_path / "census.xml"
    first.write_text(census_xml(pupils), encoding="utf-8")
    assert submit_file(sqlite_engine, first, source="8231234", today=TODAY).rejected == 1
    run_nightly(sqlite_engine)
    pupils[1].dob = "2015-12-05"
    fixed = tmp_path / "census-fixed.xml"
    fixed.write_text(census_xml(pupils), encoding="utf-8")
    again = submit_file(sqlite_engine, fixed, source="8231234", today=TODAY)
    assert (again.state, again.accepted, again.rejected) == ("staged", 2, 0)
    run_nightly(sqlite_engine)
    assert _school_children(sqlite_engine) == [("Nowak", "Lena"), ("Okafor", "Amara")]


def test_a_corrected_census_replaces_the_one_not_yet_run(sqlite_engine: Engine, tmp_path: Path) -> None:
    pupils = [Pupil(1, "Okafor", "Amara", "2015-03-05"), Pupil(2, "Nowak", "Lena", "2015-13-05")]
    first = tmp_path / "census.xml"
    first.write_text(census_xml(pupils), encoding="utf-8")
    held = submit_file(sqlite_engine, first, source="8231234", today=TODAY)
    pupils[1].dob = "2015-12-05"
    fixed = tmp_path / "census-fixed.xml"
    fixed.write_text(census_xml(pupils), encoding="utf-8")
    again = submit_file(sqlite_engine, fixed, source="8231234", today=TODAY)
    assert again.superseded == (held.submission_id,)
    assert run_nightly(sqlite_engine).submissions == [again.submission_id]
    assert _school_children(sqlite_engine) == [("Nowak", "Lena"), ("Okafor", "Amara")]
    older = tmp_path / "census-older.xml"
    older.write_text(census_xml(pupils, reference="2025-05-15", term="SUM"), encoding="utf-8")
    assert submit_file(sqlite_engine, older, source="8231234", today=TODAY).state == "superseded"
