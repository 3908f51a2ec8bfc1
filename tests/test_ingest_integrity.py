"""Integrity of the record at ingest (issue 15): refused files labelled by what they are, a file
held for one sender refused for another, rejected pupils kept on roll, pupils of one file
sharing a UPN."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_files import SCHOOL, Pupil, census_xml, write
from sqlalchemy import Engine, func, select

from index import models as m
from index import transaction
from ingest import SubmissionRejected, describe_report, submission_report, submit_file

DATA = Path(__file__).parent / "data" / "ingest"


def _pupils() -> list[Pupil]:
    return [
        Pupil(1, "Okafor", "Amara", "2014-05-10", "F", "14", "Mill Lane", "Ampthill", "MK45 2AB"),
        Pupil(2, "Nowak", "Jan", "2012-11-30", "M", "3", "Church Street", "Flitwick", "MK45 1DX"),
        Pupil(3, "Evans", "Rhys", "2013-01-15", "M", "7", "High Street", "Ampthill", "MK45 2DD"),
    ]


def _refused(engine: Engine, path: Path, **kwargs: str) -> dict[str, object]:
    with pytest.raises(SubmissionRejected) as caught:
        submit_file(engine, path, **kwargs)  # type: ignore[arg-type]
    return submission_report(engine, caught.value.submission_id)


# -- refused files are labelled by what they are ---------------------------------------------------

REFUSED_CENSUSES = {
    "doctype": lambda good: good.replace("<Message>", '<!DOCTYPE Message SYSTEM "x.dtd">\n<Message>', 1),
    "encoding": lambda good: good.replace("Okafor", "Ökafor").encode("latin-1"),
    "control_characters": lambda good: good.replace("Okafor", "Oka\x01for"),
}


@pytest.mark.parametrize("fault", sorted(REFUSED_CENSUSES))
def test_a_refused_census_is_reported_as_a_census(engine: Engine, tmp_path: Path, fault: str) -> None:
    content = REFUSED_CENSUSES[fault](census_xml(_pupils()))
    path = tmp_path / f"{fault}.xml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    report = _refused(engine, path, source=SCHOOL)
    assert report["kind"] == "census"
    assert report["owning_la"] == "823"  # the school's own LA, from its LAEstab


def test_a_refused_feed_without_its_la_names_no_la(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text((DATA / "service_feed.csv").read_text(encoding="utf-8"), encoding="utf-8")
    report = _refused(engine, path, source="HEALTH1")
    assert report["kind"] == "service_feed"
    assert report["owning_la"] is None
    text = describe_report(report)
    assert "LA 000" not in text and "LA not given" in text


def test_a_file_of_no_known_kind_is_unknown(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "x.xml", '<?xml version="1.0"?><!DOCTYPE Invoice><Invoice>1</Invoice>')
    assert _refused(engine, path, source=SCHOOL)["kind"] == "unknown"
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert _refused(engine, blob, source="HEALTH1", la="823")["kind"] == "unknown"


# -- a file already accepted, sent again by another sender -----------------------------------------


def test_a_feed_already_accepted_from_another_source_is_refused(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text((DATA / "service_feed.csv").read_text(encoding="utf-8"), encoding="utf-8")
    first = submit_file(engine, path, source="HEALTH1", la="823")
    assert submit_file(engine, path, source="HEALTH1", la="823").duplicate  # same sender: a repeat
    for source, la in (("HEALTH2", "823"), ("HEALTH1", "824")):
        with pytest.raises(SubmissionRejected) as caught:
            submit_file(engine, path, source=source, la=la)
        reason = caught.value.reason
        assert "another school or source" in reason
        # Nothing about the earlier submission: not its sender, number or state.
        assert "HEALTH1" not in reason and str(first.submission_id) not in reason and "823" not in reason
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(m.StagedRecord)) == first.accepted


def test_a_census_already_accepted_for_another_school_is_refused(engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "c.xml", census_xml(_pupils()))
    submit_file(engine, path, source=SCHOOL)
    with pytest.raises(SubmissionRejected) as caught:
        submit_file(engine, path, source="8235555")
    assert "another school or source" in caught.value.reason


# -- a pupil whose record is rejected is not a leaver ----------------------------------------------

RHYS = _pupils()[2]
# Rejection reason -> how Rhys's spring row is spoilt (the row still names him).
REJECTIONS = {
    "upn_missing": lambda x: x.replace(f"<UPN>{RHYS.upn}</UPN>", "<UPN></UPN>"),
    "upn_bad_check_letter": lambda x: x.replace(f"<UPN>{RHYS.upn}</UPN>", f"<UPN>Z{RHYS.upn[1:]}</UPN>"
                                                if RHYS.upn[0] != "Z" else f"<UPN>A{RHYS.upn[1:]}</UPN>"),
    "surname_missing": lambda x: x.replace("<Surname>Evans</Surname>", "<Surname></Surname>"),
    "forename_missing": lambda x: x.replace("<Forename>Rhys</Forename>", "<Forename></Forename>"),
    "dob_malformed": lambda x: x.replace("<DOB>2013-01-15</DOB>", "<DOB>2013-13-05</DOB>"),
    "dob_impossible": lambda x: x.replace("<DOB>2013-01-15</DOB>", "<DOB>2013-02-30</DOB>"),
    "dob_missing": lambda x: x.replace("<DOB>2013-01-15</DOB>", "<DOB></DOB>"),
    "too_old": lambda x: x.replace("<DOB>2013-01-15</DOB>", "<DOB>1990-01-15</DOB>"),
    "postcode_not_uk": lambda x: x.replace("<PostCode>MK45 2DD</PostCode>", "<PostCode>75008</PostCode>"),
    "left_before_entry": lambda x: x.replace(
        "<EntryDate>2021-09-01</EntryDate></PupilStatus><HomeInformation><Address><BS7666Address>"
        "<PAON>7</PAON>", "<EntryDate>2021-09-01</EntryDate><LeavingDate>2020-01-01</LeavingDate>"
        "</PupilStatus><HomeInformation><Address><BS7666Address><PAON>7</PAON>"),
    "no_upn_and_bad_dob": lambda x: REJECTIONS["upn_missing"](REJECTIONS["dob_malformed"](x)),
    "no_upn_and_bad_postcode": lambda x: REJECTIONS["upn_missing"](REJECTIONS["postcode_not_uk"](x)),
}


def _school_ends(engine: Engine) -> dict[str, object]:
    """UPN -> the end date of the child's involvement with the school."""
    with transaction(engine) as s:
        return dict(s.execute(select(m.ChildIdentifier.value, m.Involvement.end_date)
                              .join(m.Involvement, m.Involvement.child_id == m.ChildIdentifier.child_id)
                              .where(m.ChildIdentifier.scheme == "upn",
                                     m.Involvement.organisation_code == SCHOOL))
                    .all())


@pytest.mark.parametrize("reason", sorted(REJECTIONS))
def test_a_rejected_pupil_the_school_holds_stays_on_roll(engine: Engine, tmp_path: Path, reason: str) -> None:
    from ingest import run_nightly

    amara, jan, rhys = _pupils()
    submit_file(engine, write(tmp_path / "aut.xml", census_xml([amara, jan, rhys])), source=SCHOOL)
    run_nightly(engine)
    # Spring: Jan is not on the roll at all; Rhys is, but his row is rejected.
    spring = REJECTIONS[reason](census_xml([amara, rhys], reference="2026-01-15", term="SPR"))
    assert spring != census_xml([amara, rhys], reference="2026-01-15", term="SPR")
    sub = submit_file(engine, write(tmp_path / "spr.xml", spring), source=SCHOOL)
    assert sub.rejected == 1
    run_nightly(engine)
    ends = _school_ends(engine)
    assert ends[rhys.upn] is None, "a pupil whose record was rejected was taken off the roll"
    assert ends[amara.upn] is None and ends[jan.upn] is not None
    report = submission_report(engine, sub.submission_id)
    counts = report["run"]["counts"]
    assert counts["involvements_ended_not_on_roll"] == 1
    assert counts["involvements_kept_on_roll_record_rejected"] == 1
    assert "kept: on roll, record rejected 1" in describe_report(report)
    with transaction(engine) as s:  # the names and dates held for this are gone once it ran
        assert s.scalar(select(func.count()).select_from(m.StagedRejection)
                        .where(m.StagedRejection.identity.is_not(None))) == 0


def test_a_rejected_row_naming_nobody_held_keeps_no_one(engine: Engine, tmp_path: Path) -> None:
    """Another pupil's rejected row (a new pupil without a UPN) does not keep Jan on roll."""
    from ingest import run_nightly

    amara, jan, rhys = _pupils()
    submit_file(engine, write(tmp_path / "aut.xml", census_xml([amara, jan])), source=SCHOOL)
    run_nightly(engine)
    spring = REJECTIONS["upn_missing"](census_xml([amara, rhys], reference="2026-01-15", term="SPR"))
    sub = submit_file(engine, write(tmp_path / "spr.xml", spring), source=SCHOOL)
    run_nightly(engine)
    assert _school_ends(engine)[jan.upn] is not None
    counts = submission_report(engine, sub.submission_id)["run"]["counts"]
    assert counts["involvements_ended_not_on_roll"] == 1
    assert "involvements_kept_on_roll_record_rejected" not in counts


# -- two pupils of one file with one UPN --------------------------------------------------------


def test_two_different_pupils_with_one_upn_both_go_to_review(engine: Engine, tmp_path: Path) -> None:
    from index.vocabulary import ReviewStatus
    from ingest import run_nightly

    amara, jan, _rhys = _pupils()
    submit_file(engine, write(tmp_path / "aut.xml", census_xml([amara, jan])), source=SCHOOL)
    run_nightly(engine)
    with transaction(engine) as s:
        holder = s.scalar(select(m.ChildIdentifier.child_id).where(m.ChildIdentifier.value == amara.upn))
    # Spring: Rhys is given Amara's UPN by mistake; the file also repeats Jan exactly.
    wrong = Pupil(amara.serial, "Evans", "Rhys", "2013-01-15", "M", "7", "High Street", "Ampthill",
                  "MK45 2DD")
    sub = submit_file(engine, write(tmp_path / "spr.xml", census_xml(
        [amara, jan, wrong, jan], reference="2026-01-15", term="SPR")), source=SCHOOL)
    assert (sub.accepted, sub.rejected) == (3, 1)  # the repeat of Jan refused, as before
    run_nightly(engine)
    report = submission_report(engine, sub.submission_id)
    assert "appears more than once" in report["rejected"][0]["reason"]
    with transaction(engine) as s:
        holders = s.scalars(select(m.ChildIdentifier.child_id).where(
            m.ChildIdentifier.value == amara.upn).order_by(m.ChildIdentifier.child_id)).all()
        # Neither silently won: both spring records are children of their own, beside the holder.
        assert len(holders) == 3 and holder in holders
        reviews = s.scalars(select(m.MatchReview).where(m.MatchReview.status == ReviewStatus.OPEN)).all()
        assert reviews and {r.rule for r in reviews} == {"identifier_conflict:several_children"}
        pairs = {frozenset((r.child_id, r.candidate_id)) for r in reviews}
        new = set(holders) - {holder}
        assert frozenset(new) in pairs  # the two pupils of the file
        assert all(frozenset((c, holder)) in pairs for c in new)  # each against the holder
        names = s.scalars(select(m.ChildName.family_name).where(m.ChildName.child_id == holder)).all()
        assert names == ["Okafor"]  # nothing of Rhys went onto Amara's record
        review_ids = {r.id for r in reviews}
    assert set(report["run"]["reviews"]) >= review_ids
    assert report["run"]["counts"]["reviews_upn_conflict"] == 3
    assert _school_ends(engine)[amara.upn] is None  # the holder may be on the roll: not ended
