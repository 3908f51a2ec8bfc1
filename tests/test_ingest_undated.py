"""A service-feed row whose date of birth is missing or not a date (issue 15): kept, matched in
the nightly run with the rule of `childindex link` (the date as text, a missing value missing),
linked to its child by a trusted identifier or a confident match on names and address, else
held for the LA data team; never a child with a made-up or empty date of birth. A census pupil
with a bad date of birth is still rejected back to the school."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ingest_files import SCHOOL, Pupil, census_xml, write
from sqlalchemy import Engine, func, select

from index import models as m
from index import transaction
from ingest import describe_report, run_nightly, submission_report, submit_file
from ingest.service_feed import SERVICE_FEED_COLUMNS

LA = "823"
NHS = "9434765870"  # a valid NHS number (DESIGN.md)
# The known child, first sent by a health visiting feed with every field right.
KNOWN = {"given_name": "Amara", "family_name": "Okafor", "date_of_birth": "2013-05-13", "sex": "F",
         "address_line1": "14 Mill Lane", "town": "Ampthill", "postcode": "MK45 2AB"}
PERSONAL = ("Amara", "Okafor", "Mill Lane", "MK45 2AB", "2013-13-05", "2013-05-13", NHS,
            "Zephyrine", "Quillfeather", "75008")


def _feed(path: Path, rows: list[dict[str, str]], service: str = "social_care") -> Path:
    lines = [",".join(SERVICE_FEED_COLUMNS)]
    for number, row in enumerate(rows, start=1):
        full = dict.fromkeys(SERVICE_FEED_COLUMNS, "") | {
            "record_id": f"R{number}", "service_type": service,
            "organisation_name": "Children's Services"} | row
        lines.append(",".join(full[c] for c in SERVICE_FEED_COLUMNS))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _known_child(engine: Engine, tmp_path: Path, **extra: str) -> int:
    """Store the known child (from a health visiting feed) and return its id."""
    row = KNOWN | {"organisation_name": "Health Visiting"} | extra
    submit_file(engine, _feed(tmp_path / "hv.csv", [row], service="health_visitor"), source="HV1", la=LA)
    run_nightly(engine)
    with transaction(engine) as s:
        (child_id,) = s.scalars(select(m.Child.id)).all()
    return child_id


def _involvements(engine: Engine) -> dict[int, list[str]]:
    with transaction(engine) as s:
        rows = s.execute(select(m.Involvement.child_id, m.Involvement.service_type)
                         .order_by(m.Involvement.id)).all()
    found: dict[int, list[str]] = {}
    for child_id, service in rows:
        found.setdefault(child_id, []).append(str(service.value if hasattr(service, "value") else service))
    return found


def _children(engine: Engine) -> int:
    with transaction(engine) as s:
        return s.scalar(select(func.count()).select_from(m.Child)) or 0


def _no_personal_values(report: dict[str, object]) -> None:
    text = describe_report(report) + json.dumps(report)  # type: ignore[arg-type]
    for value in PERSONAL:
        assert value not in text, value


def test_missing_date_of_birth_matched_by_nhs_number(engine: Engine, tmp_path: Path) -> None:
    child_id = _known_child(engine, tmp_path, nhs_number=NHS)
    row = {"given_name": "Amara", "family_name": "Okafor", "nhs_number": NHS}  # no date, no address
    sub = submit_file(engine, _feed(tmp_path / "sc.csv", [row]), source="SC1", la=LA)
    assert (sub.accepted, sub.rejected) == (1, 0)
    run_nightly(engine)
    assert _children(engine) == 1
    assert _involvements(engine) == {child_id: ["health_visitor", "social_care"]}
    report = submission_report(engine, sub.submission_id)
    assert report["run"]["counts"]["link"] == 1
    assert report["run"]["counts"]["linked_without_date_of_birth"] == 1
    assert report["held"] == [] and report["rejected"] == []
    with transaction(engine) as s:  # linked: its staged copy is cleared like any other
        staged = s.execute(select(m.StagedRecord.payload, m.StagedRecord.child_id)
                           .where(m.StagedRecord.submission_id == sub.submission_id)).one()
    assert staged == (None, child_id)
    _no_personal_values(report)


@pytest.mark.parametrize("bad_date", ["2013-13-05", "2013-05-31x", "2013-5-13"])
def test_malformed_date_matched_by_names_and_postcode(engine: Engine, tmp_path: Path, bad_date: str) -> None:
    child_id = _known_child(engine, tmp_path)
    row = KNOWN | {"date_of_birth": bad_date}
    sub = submit_file(engine, _feed(tmp_path / "sc.csv", [row]), source="SC1", la=LA)
    assert sub.rejected == 0
    run_nightly(engine)
    assert _children(engine) == 1
    assert _involvements(engine) == {child_id: ["health_visitor", "social_care"]}
    with transaction(engine) as s:  # the child's own date of birth is untouched
        assert str(s.scalar(select(m.Child.date_of_birth))) == "2013-05-13"
    assert submission_report(engine, sub.submission_id)["run"]["counts"]["link"] == 1


def test_malformed_date_matching_nobody_is_held_not_made_a_child(engine: Engine, tmp_path: Path) -> None:
    child_id = _known_child(engine, tmp_path)
    stranger = {"given_name": "Zephyrine", "family_name": "Quillfeather", "date_of_birth": "2013-02-30",
                "postcode": "LU1 3AA", "practitioner_name": "Sam Jones"}
    undated = {"given_name": "Zephyrine", "family_name": "Quillfeather", "date_of_birth": ""}
    sub = submit_file(engine, _feed(tmp_path / "sc.csv", [stranger, undated]), source="SC1", la=LA)
    assert (sub.accepted, sub.rejected) == (2, 0)
    summary = run_nightly(engine)
    assert summary.outcomes["held"] == 2
    # Nothing invented: no child without a real date of birth, no involvement on anyone else.
    assert _children(engine) == 1
    assert _involvements(engine) == {child_id: ["health_visitor"]}
    # Nothing lost: both rows are held, with their involvement, for the LA data team to see.
    with transaction(engine) as s:
        held = s.execute(select(m.StagedRecord.record_ref, m.StagedRecord.outcome, m.StagedRecord.payload,
                                m.StagedRecord.child_id)
                         .where(m.StagedRecord.submission_id == sub.submission_id)
                         .order_by(m.StagedRecord.position)).all()
    assert [(r.record_ref, r.outcome, r.child_id) for r in held] == [("line 2", "held", None),
                                                                      ("line 3", "held", None)]
    first = json.loads(held[0].payload)
    assert first["date_of_birth_text"] == "2013-02-30" and first["date_of_birth"] is None
    assert first["involvements"][0]["practitioner_name"] == "Sam Jones"
    report = submission_report(engine, sub.submission_id)
    assert [(h["record"], h["field"]) for h in report["held"]] == [("line 2", "date_of_birth"),
                                                                   ("line 3", "date_of_birth")]
    assert report["held"][0]["reason"].startswith("is not a real calendar date: no child matched")
    assert report["held"][1]["reason"].startswith("is missing: no child matched")
    text = describe_report(report)
    assert "held line 2: date_of_birth is not a real calendar date" in text
    _no_personal_values(report)
    # A second run does nothing more: held is an outcome, not work left over.
    again = run_nightly(engine)
    assert again.records == 0 and _children(engine) == 1


def test_a_row_with_a_postcode_from_abroad_is_kept(engine: Engine, tmp_path: Path) -> None:
    """A foreign postcode is left out of the stored address (the store holds UK postcodes; against
    them it could only disagree, so it counts as missing); the row, undated too, still links."""
    child_id = _known_child(engine, tmp_path, nhs_number=NHS)
    row = {"given_name": "Amara", "family_name": "Okafor", "nhs_number": NHS, "date_of_birth": "2013-13-05",
           "address_line1": "8 Rue Royale", "town": "Paris", "postcode": "75008"}
    sub = submit_file(engine, _feed(tmp_path / "sc.csv", [row]), source="SC1", la=LA)
    assert (sub.accepted, sub.rejected) == (1, 0)
    run_nightly(engine)
    assert _involvements(engine) == {child_id: ["health_visitor", "social_care"]}
    with transaction(engine) as s:
        postcodes = s.scalars(select(m.ChildAddress.postcode).order_by(m.ChildAddress.id)).all()
    assert "75008" not in postcodes
    counted = submission_report(engine, sub.submission_id)["parse"]["warning_counts"]
    assert counted == {"date_of_birth: is not a real calendar date, kept, compared as text": 1,
                       "postcode: is not a UK postcode, left out": 1}


def test_the_report_counts_warnings_by_field_and_reason(engine: Engine, tmp_path: Path) -> None:
    child_id = _known_child(engine, tmp_path, nhs_number=NHS)
    rows = [
        {"given_name": "Amara", "family_name": "Okafor", "nhs_number": NHS},                       # linked
        {"given_name": "Amara", "family_name": "Okafor", "nhs_number": NHS, "date_of_birth": "2013-05-32"},
        {"given_name": "Zephyrine", "family_name": "Quillfeather"},                               # held
        {"given_name": "Zephyrine", "family_name": "Quillfeather", "date_of_birth": "2013-02-30"},  # held
        {"given_name": "Zephyrine", "family_name": "Quillfeather", "date_of_birth": "2013-02-31",
         "postcode": "75008"},                                                                     # held
    ]
    sub = submit_file(engine, _feed(tmp_path / "sc.csv", rows), source="SC1", la=LA)
    run_nightly(engine)
    report = submission_report(engine, sub.submission_id)
    assert report["parse"]["warnings"] == []
    assert report["parse"]["warning_counts"] == {
        "date_of_birth: is missing, kept, matched without it": 2,
        "date_of_birth: is not a real calendar date, kept, compared as text": 3,
        "postcode: is not a UK postcode, left out": 1,
    }
    counts = report["run"]["counts"]
    assert (counts["link"], counts["held"], counts["linked_without_date_of_birth"]) == (2, 3, 2)
    assert "new" not in counts
    text = describe_report(report)
    assert "warning: date_of_birth: is not a real calendar date, kept, compared as text (3 rows)" in text
    assert "warning: postcode: is not a UK postcode, left out (1 row)" in text
    assert _involvements(engine) == {child_id: ["health_visitor", "social_care"]}
    _no_personal_values(report)


@pytest.mark.parametrize("bad_date", ["2013-13-05", "2013-02-30", ""])
def test_a_census_pupil_with_a_bad_date_of_birth_is_still_rejected(
    engine: Engine, tmp_path: Path, bad_date: str,
) -> None:
    """Regression guard (unchanged behaviour): the school is told, and fixes and resends."""
    pupil = Pupil(1, "Okafor", "Amara", "2014-05-10")
    xml = census_xml([pupil]).replace("<DOB>2014-05-10</DOB>", f"<DOB>{bad_date}</DOB>")
    sub = submit_file(engine, write(tmp_path / "aut.xml", xml), source=SCHOOL)
    assert (sub.accepted, sub.rejected) == (0, 1)
    run_nightly(engine)
    report = submission_report(engine, sub.submission_id)
    assert [r["field"] for r in report["rejected"]] == ["date_of_birth"] and report["held"] == []
    assert _children(engine) == 0


def test_with_elasticsearch_an_undated_row_links_by_names_and_postcode(
    sqlite_engine: Engine, tmp_path: Path, elasticsearch_url: str,
) -> None:
    """The same with the Elasticsearch backend, which is asked record by record (no date in the
    query: names and postcode); a row with neither postcode nor identifier is held."""
    from ops.elasticsearch import throwaway_backend

    es = throwaway_backend(sqlite_engine, hosts=[elasticsearch_url])
    try:
        known = KNOWN | {"organisation_name": "Health Visiting"}
        submit_file(sqlite_engine, _feed(tmp_path / "hv.csv", [known], service="health_visitor"),
                    source="HV1", la=LA)
        run_nightly(sqlite_engine, es)
        rows = [KNOWN | {"date_of_birth": "2013-13-05"},
                {"given_name": "Amara", "family_name": "Okafor", "date_of_birth": ""}]
        sub = submit_file(sqlite_engine, _feed(tmp_path / "sc.csv", rows), source="SC1", la=LA)
        run_nightly(sqlite_engine, es)
        counts = submission_report(sqlite_engine, sub.submission_id)["run"]["counts"]
        assert (counts["link"], counts["held"]) == (1, 1)
        assert _children(sqlite_engine) == 1 and es.verify().consistent
    finally:
        es.close()
