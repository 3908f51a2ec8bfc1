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
