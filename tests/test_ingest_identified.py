"""A service-feed row without a family name but with a trusted identifier (UPN, NHS number, ULN)
is kept (issue 15: "keep every row that has a name or a trusted identifier"): linked by those
identifiers alone when they name exactly one stored child, else held for the LA data team;
never made a child, never linked on a guess. A row with neither is still rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ingest_files import upn
from sqlalchemy import Engine, select
from test_ingest_undated import LA, NHS, _children, _feed, _involvements, _known_child, _no_personal_values

from index import models as m
from index import transaction
from ingest import describe_report, held_records, run_nightly, submission_report, submit_file

ULN = "9276308686"  # a valid ULN (tests/test_identifiers.py)
UPN = upn(7)


@pytest.mark.parametrize(
    ("known", "row"),
    [
        ({"nhs_number": NHS}, {"nhs_number": NHS}),                                   # identifier only
        ({"nhs_number": NHS}, {"given_name": "Amara", "nhs_number": NHS}),            # given name only
        ({"upn": UPN}, {"upn": UPN, "date_of_birth": "2013-05-13"}),                  # with its date
        ({"uln": ULN}, {"given_name": "Amara", "uln": ULN, "date_of_birth": "2013-13-05"}),  # a bad date
    ],
    ids=["nhs-only", "given-name-nhs", "upn-dated", "given-name-uln-bad-date"],
)
def test_a_row_without_family_name_links_by_its_identifier(
    engine: Engine, tmp_path: Path, known: dict[str, str], row: dict[str, str],
) -> None:
    child_id = _known_child(engine, tmp_path, **known)
    sub = submit_file(engine, _feed(tmp_path / "sc.csv", [row]), source="SC1", la=LA)
    assert (sub.accepted, sub.rejected) == (1, 0)
    run_nightly(engine)
    assert _children(engine) == 1
    assert _involvements(engine) == {child_id: ["health_visitor", "social_care"]}
    with transaction(engine) as s:
        names = s.execute(select(m.ChildName.given_name, m.ChildName.family_name)).all()
        staged = s.execute(select(m.StagedRecord.payload, m.StagedRecord.child_id, m.StagedRecord.outcome)
                           .where(m.StagedRecord.submission_id == sub.submission_id)).one()
        born = s.scalar(select(m.Child.date_of_birth))
    assert names == [("Amara", "Okafor")]  # no name without a family name added to the child
    assert str(born) == "2013-05-13"
    assert tuple(staged) == (None, child_id, "link")
    report = submission_report(engine, sub.submission_id)
    assert report["run"]["counts"]["link"] == 1 and report["held"] == [] and report["rejected"] == []
    assert report["parse"]["warning_counts"][
        "family_name: is missing, kept for its trusted identifier, linked by it alone"] == 1
    _no_personal_values(report)


def test_a_row_without_family_name_naming_no_child_is_held(engine: Engine, tmp_path: Path) -> None:
    """Its identifier held by nobody: held (the same names and date would not link it either)."""
    child_id = _known_child(engine, tmp_path)  # the known child has no NHS number
    row = {"given_name": "Amara", "nhs_number": NHS, "date_of_birth": "2013-05-13", "postcode": "MK45 2AB",
           "practitioner_name": "Sam Jones"}
    sub = submit_file(engine, _feed(tmp_path / "sc.csv", [row]), source="SC1", la=LA)
    assert (sub.accepted, sub.rejected) == (1, 0)
    summary = run_nightly(engine)
    assert summary.outcomes["held"] == 1
    assert _children(engine) == 1
    assert _involvements(engine) == {child_id: ["health_visitor"]}
    with transaction(engine) as s:
        payload, outcome = s.execute(select(m.StagedRecord.payload, m.StagedRecord.outcome)
                                     .where(m.StagedRecord.submission_id == sub.submission_id)).one()
    kept = json.loads(payload)
    assert outcome == "held" and kept["involvements"][0]["practitioner_name"] == "Sam Jones"
    report = submission_report(engine, sub.submission_id)
    assert [(h["record"], h["field"]) for h in report["held"]] == [("line 2", "family_name")]
    assert report["held"][0]["reason"].startswith("is missing: its trusted identifiers name no child")
    assert "held line 2: family_name is missing" in describe_report(report)
    listed = held_records(engine, owning_la=LA)
    assert [(h["record"], h["field"]) for h in listed] == [("line 2", "family_name")]
    _no_personal_values(report)
    assert run_nightly(engine).records == 0 and _children(engine) == 1


def test_a_row_whose_identifiers_name_two_children_is_held(engine: Engine, tmp_path: Path) -> None:
    first = _known_child(engine, tmp_path, nhs_number=NHS)
    other = {"given_name": "Zephyrine", "family_name": "Quillfeather", "date_of_birth": "2012-01-02",
             "organisation_name": "Health Visiting", "uln": ULN}
    submit_file(engine, _feed(tmp_path / "hv2.csv", [other], service="health_visitor"), source="HV1", la=LA)
    run_nightly(engine)
    assert _children(engine) == 2
    row = {"nhs_number": NHS, "uln": ULN}
    sub = submit_file(engine, _feed(tmp_path / "sc.csv", [row]), source="SC1", la=LA)
    run_nightly(engine)
    assert _children(engine) == 2
    assert first in _involvements(engine) and all(
        "social_care" not in services for services in _involvements(engine).values())
    report = submission_report(engine, sub.submission_id)
    assert [h["field"] for h in report["held"]] == ["family_name"]


@pytest.mark.parametrize(
    "row", [{"given_name": "Amara"}, {"given_name": "Amara", "la_reference": "SC-1"}, {}])
def test_a_row_without_family_name_or_trusted_identifier_is_still_rejected(
    engine: Engine, tmp_path: Path, row: dict[str, str],
) -> None:
    """An LA reference is the sender's own: it names no child nationally, so it keeps no row."""
    row = row | {"date_of_birth": "2013-05-13"}
    sub = submit_file(engine, _feed(tmp_path / "sc.csv", [row]), source="SC1", la=LA)
    assert (sub.accepted, sub.rejected) == (0, 1)
    run_nightly(engine)
    report = submission_report(engine, sub.submission_id)
    assert [(r["field"], r["reason"]) for r in report["rejected"]] == [("family_name", "is missing")]
    assert _children(engine) == 0
