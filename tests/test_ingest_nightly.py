"""Submitting files and the nightly run: staging rules, store effects, reports, bad input, lock."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from ingest_files import SCHOOL, Pupil, census_xml, ctf_xml, random_pupils, write
from sqlalchemy import Connection, Engine, func, select

from index import models as m
from index import transaction
from index.embedded import EmbeddedSearch
from index.search import SearchQuery
from index.store import count_rows
from index.vocabulary import AddressStatus, NameKind, ReviewStatus
from ingest import (
    RunLocked,
    SubmissionRejected,
    SubmissionState,
    describe_report,
    run_nightly,
    school_xml,
    service_feed,
    submission_report,
    submit_file,
)
from ingest.run_lock import run_lock

DATA = Path(__file__).parent / "data" / "ingest"
# `childindex ingest ...`, through its own Typer app (the rest of the CLI is not needed).
INGEST = [sys.executable, "-m", "ops.ingest"]


def _pupils() -> dict[str, Pupil]:
    return {
        "amara": Pupil(1, "Okafor", "Amara", "2014-05-10", "F", "14", "Mill Lane", "Ampthill", "MK45 2AB"),
        "jan": Pupil(2, "Nowak", "Jan", "2012-11-30", "M", "3", "Church Street", "Flitwick", "MK45 1DX"),
        "rhys": Pupil(3, "Evans", "Rhys", "2013-01-15", "M", "7", "High Street", "Ampthill", "MK45 2DD"),
        "isla": Pupil(4, "Khan", "Isla", "2015-03-03", "F", "9", "The Green", "Maulden", "MK45 2EE"),
    }


def _children(engine: Engine) -> dict[str, int]:
    """UPN -> child id."""
    with transaction(engine) as s:
        return {v: c for c, v in s.execute(select(m.ChildIdentifier.child_id, m.ChildIdentifier.value)
                                           .where(m.ChildIdentifier.scheme == "upn"))}


def _school_involvements(engine: Engine, child_id: int) -> list[tuple[str | None, dt.date | None]]:
    with transaction(engine) as s:
        return [(r.organisation_code, r.end_date) for r in s.execute(
            select(m.Involvement).where(m.Involvement.child_id == child_id).order_by(m.Involvement.id)
        ).scalars()]


def test_same_file_twice_is_a_no_op(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "c.xml", census_xml(list(_pupils().values())))
    first = submit_file(sqlite_engine, path, source=SCHOOL)
    again = submit_file(sqlite_engine, path, source=SCHOOL)
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.submission_id == first.submission_id
    with transaction(sqlite_engine) as s:
        assert s.scalar(select(func.count()).select_from(m.StagedRecord)) == 4
        assert s.scalar(select(func.count()).select_from(m.Submission)) == 1
    run_nightly(sqlite_engine)
    assert submit_file(sqlite_engine, path, source=SCHOOL).duplicate  # also once it has run
    assert run_nightly(sqlite_engine).records == 0


def test_newer_census_supersedes_the_staged_older_one(sqlite_engine: Engine, tmp_path: Path) -> None:
    pupils = list(_pupils().values())
    autumn = write(tmp_path / "aut.xml", census_xml(pupils, reference="2025-10-02"))
    spring = write(tmp_path / "spr.xml", census_xml(pupils[:2], reference="2026-01-15", term="SPR"))
    older = submit_file(sqlite_engine, autumn, source=SCHOOL)
    newer = submit_file(sqlite_engine, spring, source=SCHOOL)
    assert newer.superseded == (older.submission_id,)
    late = write(tmp_path / "aut2.xml", census_xml(pupils[:3], reference="2025-10-03"))
    assert submit_file(sqlite_engine, late, source=SCHOOL).state == SubmissionState.SUPERSEDED
    with transaction(sqlite_engine) as s:
        # The superseded census's staged personal data is gone at once.
        payloads = s.scalars(select(m.StagedRecord.payload).where(
            m.StagedRecord.submission_id == older.submission_id)).all()
        assert payloads and all(p is None for p in payloads)
    summary = run_nightly(sqlite_engine)
    assert summary.submissions == [newer.submission_id]
    assert len(_children(sqlite_engine)) == 2


def test_nightly_run_store_effects(engine: Engine, tmp_path: Path) -> None:
    """Census, then CTF and a newer census: new children, changed addresses, new carers, leavers
    and pupils missing from the new roll ended, nothing deleted; search finds the children."""
    p = _pupils()
    autumn = write(tmp_path / "aut.xml", census_xml([p["amara"], p["jan"], p["rhys"]]))
    submit_file(engine, autumn, source=SCHOOL)
    first = run_nightly(engine)
    assert first.outcomes == {"new": 3}
    ids = _children(engine)
    assert set(ids) == {p["amara"].upn, p["jan"].upn, p["rhys"].upn}
    before = count_rows_of(engine)

    # A CTF with Amara's parents, then the spring census: Amara moved house, Jan left in
    # December, Rhys is missing from the roll, Isla is new.
    amara = p["amara"]
    amara.contacts = [("Ngozi", "Okafor", "PAR", "07700 900123"), ("Tunde", "Okafor", "PAR", "07700 900456")]
    submit_file(engine, write(tmp_path / "ctf.xml", ctf_xml([amara])), source=SCHOOL)
    moved = Pupil(1, "Okafor", "Amara", "2014-05-10", "F", "2", "Park Road", "Ampthill", "MK45 2PR")
    jan = p["jan"]
    jan.leaving = "2025-12-19"
    spring = write(tmp_path / "spr.xml", census_xml([moved, jan, p["isla"]], reference="2026-01-15",
                                                    term="SPR"))
    spring_id = submit_file(engine, spring, source=SCHOOL).submission_id
    second = run_nightly(engine)
    assert second.outcomes == {"link": 3, "new": 1}
    ids = _children(engine)
    assert len(ids) == 4

    with transaction(engine) as s:
        amara_id = ids[amara.upn]
        homes = s.execute(select(m.ChildAddress.status, m.ChildAddress.postcode, m.ChildAddress.valid_to)
                          .where(m.ChildAddress.child_id == amara_id).order_by(m.ChildAddress.id)).all()
        assert [(h.status, h.postcode) for h in homes] == [
            (AddressStatus.LAST_KNOWN, "MK45 2AB"), (AddressStatus.CURRENT, "MK45 2PR")]
        assert homes[0].valid_to == dt.date(2026, 1, 15)
        carers = s.execute(select(m.Carer.given_name, m.Carer.phone).where(m.Carer.child_id == amara_id)
                           .order_by(m.Carer.id)).all()
        assert [tuple(c) for c in carers] == [("Ngozi", "07700 900123"), ("Tunde", "07700 900456")]
        names = s.scalars(select(m.ChildName.kind).where(m.ChildName.child_id == amara_id)).all()
        assert names == [NameKind.CURRENT]
    assert _school_involvements(engine, ids[amara.upn]) == [(SCHOOL, None)]
    assert _school_involvements(engine, ids[jan.upn]) == [(SCHOOL, dt.date(2025, 12, 19))]
    assert _school_involvements(engine, ids[p["rhys"].upn]) == [(SCHOOL, dt.date(2026, 1, 15))]
    assert _school_involvements(engine, ids[p["isla"].upn]) == [(SCHOOL, None)]
    after = count_rows_of(engine)
    assert all(after[t] >= n for t, n in before.items())  # nothing deleted

    report = submission_report(engine, spring_id)
    assert report["run"]["counts"]["involvements_ended_not_on_roll"] == 1
    assert report["run"]["counts"]["addresses_changed"] == 1
    assert report["run"]["counts"]["involvements_ended"] == 1
    # Search knows the new child and Amara's new postcode.
    search = EmbeddedSearch(engine)
    hits = search.search(SearchQuery(family_name="Okafor", postcode="MK45 2PR"))
    assert hits and hits[0].child_id == amara_id
    assert search.search(SearchQuery(family_name="Khan", date_of_birth=dt.date(2015, 3, 3)))
    # A later CTF with a parent's new phone number updates that carer; no one is added twice.
    moved.contacts = [("Ngozi", "Okafor", "PAR", "07700 900999")]
    ctf2 = write(tmp_path / "ctf2.xml", ctf_xml([moved], when="2026-02-01"))
    later = submit_file(engine, ctf2, source=SCHOOL)
    assert run_nightly(engine).outcomes == {"link": 1}
    counts = submission_report(engine, later.submission_id)["run"]["counts"]
    assert counts["carers_updated"] == 1
    assert "carers_added" not in counts and "addresses_changed" not in counts
    with transaction(engine) as s:
        phones = s.execute(select(m.Carer.given_name, m.Carer.phone).where(m.Carer.child_id == amara_id)
                           .order_by(m.Carer.id)).all()
        assert [tuple(c) for c in phones] == [("Ngozi", "07700 900999"), ("Tunde", "07700 900456")]
    # The staged copies of personal data are gone once run.
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(m.StagedRecord)
                        .where(m.StagedRecord.payload.is_not(None))) == 0


def test_an_empty_census_ends_nobody(sqlite_engine: Engine, tmp_path: Path) -> None:
    pupils = list(_pupils().values())
    submit_file(sqlite_engine, write(tmp_path / "a.xml", census_xml(pupils)), source=SCHOOL)
    run_nightly(sqlite_engine)
    empty = submit_file(sqlite_engine, write(tmp_path / "b.xml", census_xml([], reference="2026-01-15")),
                        source=SCHOOL)
    run_nightly(sqlite_engine)
    for child_id in _children(sqlite_engine).values():
        assert _school_involvements(sqlite_engine, child_id) == [(SCHOOL, None)]
    warnings = submission_report(sqlite_engine, empty.submission_id)["run"]["warnings"]
    assert "no involvement was ended" in warnings[0]


def count_rows_of(engine: Engine) -> dict[str, int]:
    with transaction(engine) as s:
        return count_rows(s)


def test_review_and_shielded_candidate(sqlite_engine: Engine, tmp_path: Path) -> None:
    """A record that may be a shielded child goes to review and is held shielded, never a visible
    duplicate; the review is in matching's queue and in the submission's report."""
    p = _pupils()
    submit_file(sqlite_engine, write(tmp_path / "a.xml", census_xml([p["amara"]])), source=SCHOOL)
    run_nightly(sqlite_engine)
    amara_id = _children(sqlite_engine)[p["amara"].upn]
    with transaction(sqlite_engine) as s:
        child = s.get(m.Child, amara_id)
        assert child is not None
        child.shielded = True
    # Maybe the same girl, from a health feed: no identifier, a short name, another address.
    feed = tmp_path / "feed.csv"
    header = (DATA / "service_feed.csv").read_text(encoding="utf-8").splitlines()[0]
    columns = header.split(",")
    row = dict.fromkeys(columns, "")
    row.update(record_id="X1", given_name="Amy", family_name="Okafor", date_of_birth="2014-05-10",
               sex="F", postcode="LU1 3AA", service_type="gp_practice", organisation_name="Ampthill Surgery",
               organisation_code="E81001")
    feed.write_text(header + "\n" + ",".join(row[c] for c in columns) + "\n", encoding="utf-8")
    sub = submit_file(sqlite_engine, feed, source="GP1", la="823")
    assert sub.accepted == 1
    summary = run_nightly(sqlite_engine)
    assert summary.outcomes == {"review": 1}
    with transaction(sqlite_engine) as s:
        review = s.scalars(select(m.MatchReview)).one()
        assert review.status is ReviewStatus.OPEN and review.candidate_id == amara_id
        held = s.get(m.Child, review.child_id)
        assert held is not None and held.shielded
        review_id = review.id
    report = submission_report(sqlite_engine, sub.submission_id)
    assert report["run"]["reviews"] == [review_id]


def _data(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


BAD_FILES = {
    "truncated.xml": lambda good: good[: len(good) // 2],
    "latin1.xml": lambda good: good.replace("Okafor", "Ökafor").encode("latin-1"),
    "other_school.xml": lambda good: good.replace("<Estab>1234</Estab>", "<Estab>9999</Estab>"),
    "ctf_empty.xml": lambda _good: _data("ctf_empty.xml"),
    "extra_columns.csv": lambda _good: _data("service_feed_extra_columns.csv"),
    "missing_columns.csv": lambda _good: _data("service_feed_missing_columns.csv"),
    "not_a_feed.xml": lambda _good: '<?xml version="1.0"?><Invoice><Total>3</Total></Invoice>',
}


def test_a_night_with_bad_files_among_good_ones(sqlite_engine: Engine, tmp_path: Path) -> None:
    pupils = list(_pupils().values())
    good = census_xml(pupils)
    refused: dict[str, str] = {}
    for name, make in BAD_FILES.items():
        content = make(good)
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        with pytest.raises(SubmissionRejected) as caught:
            submit_file(sqlite_engine, path, source=SCHOOL, la="823")
        assert str(caught.value).startswith(f"{name}: ")
        refused[name] = caught.value.reason
        report = submission_report(sqlite_engine, caught.value.submission_id)
        assert report["state"] == SubmissionState.REJECTED and report["failure"]
    assert "no pupils" in refused["ctf_empty.xml"]
    assert "9999" in refused["other_school.xml"] or "school" in refused["other_school.xml"]
    # Duplicated pupils inside one file: the repeat is rejected by position, the rest go on.
    doubled = write(tmp_path / "doubled.xml", census_xml([*pupils, pupils[0]]))
    dup = submit_file(sqlite_engine, doubled, source=SCHOOL)
    assert (dup.accepted, dup.rejected) == (4, 1)
    ctf = submit_file(sqlite_engine, write(tmp_path / "ctf.xml", ctf_xml(pupils[:1])), source=SCHOOL)
    summary = run_nightly(sqlite_engine)
    assert summary.submissions == [dup.submission_id, ctf.submission_id] and not summary.failed
    assert len(_children(sqlite_engine)) == 4
    text = describe_report(submission_report(sqlite_engine, dup.submission_id))
    assert "appears more than once in this file" in text and f"UPN {pupils[0].upn}" in text


def test_a_failing_submission_does_not_stop_the_night(sqlite_engine: Engine, tmp_path: Path) -> None:
    """A staged record that cannot be read (here: tampered with after staging) fails its own
    submission, with the position and error class only; the next submission still runs."""
    a, b = random_pupils(3, seed=5), random_pupils(3, seed=6, first_serial=100)
    first = submit_file(sqlite_engine, write(tmp_path / "a.xml", census_xml(a)), source=SCHOOL)
    second = submit_file(sqlite_engine, write(tmp_path / "b.xml", ctf_xml(b)), source=SCHOOL)
    with transaction(sqlite_engine) as s:
        record = s.get(m.StagedRecord, (first.submission_id, 1))
        assert record is not None
        record.payload = '{"owning_la": "SECRET-VALUE"}'
    summary = run_nightly(sqlite_engine, batch_size=1)
    assert list(summary.failed) == [first.submission_id]
    assert summary.submissions == [second.submission_id]
    report = submission_report(sqlite_engine, first.submission_id)
    assert report["state"] == SubmissionState.FAILED
    assert "record position 1" in report["failure"] and "SECRET" not in report["failure"]


def test_report_command(sqlite_engine: Engine, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ops.ingest import ingest_app as app

    url = str(sqlite_engine.url)
    path = write(tmp_path / "c.xml", census_xml(list(_pupils().values())))
    runner = CliRunner()
    submitted = runner.invoke(app, ["submit", str(path), "--source", SCHOOL, "--db", url])
    assert submitted.exit_code == 0, submitted.output
    assert "4 accepted, 0 rejected" in submitted.output
    empty = str(DATA / "ctf_empty.xml")
    bad = runner.invoke(app, ["submit", empty, "--source", SCHOOL, "--db", url])
    assert bad.exit_code == 1
    ran = runner.invoke(app, ["run", "--db", url])
    assert ran.exit_code == 0 and "new 4" in ran.output
    shown = runner.invoke(app, ["report", "1", "--db", url, "--json"])
    data = json.loads(shown.output)
    assert data["parse"]["dropped"] == {"Ethnicity": 4, "PupilCharacteristics": 4} or data["parse"]["dropped"]
    assert data["run"]["counts"]["new"] == 4


# -- the lock ------------------------------------------------------------------------------------


def test_two_runs_never_overlap(sqlite_engine: Engine) -> None:
    with run_lock(sqlite_engine), pytest.raises(RunLocked, match="another nightly run holds the lock"):
        run_nightly(sqlite_engine)
    assert run_nightly(sqlite_engine).run_id == 1  # free again once released


def test_lock_of_a_killed_run_is_recovered(sqlite_engine: Engine, tmp_path: Path) -> None:
    """A run killed while holding the lock (SIGKILL: no clean-up at all) leaves its row
    *running*; the next run gets the lock, marks that run abandoned and goes on."""
    submit_file(sqlite_engine, write(tmp_path / "c.xml", census_xml(random_pupils(5))), source=SCHOOL)
    url = str(sqlite_engine.url)
    env = {**os.environ, "CHILDINDEX_DATABASE_URL": url, "CHILDINDEX_INGEST_KILL_AT": "2"}
    done = subprocess.run([*INGEST, "run", "--batch", "2"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    with transaction(sqlite_engine) as s:
        assert s.scalars(select(m.IngestRun.state)).all() == ["running"]
    started = time.monotonic()
    summary = run_nightly(sqlite_engine, batch_size=2)
    assert time.monotonic() - started < 30
    assert summary.abandoned_runs == [1]
    assert len(_children(sqlite_engine)) == 5
    with transaction(sqlite_engine) as s:
        assert s.scalars(select(m.IngestRun.state).order_by(m.IngestRun.id)).all() == ["abandoned", "done"]


def test_postgres_lock_is_a_session_advisory_lock(engine: Engine) -> None:
    with run_lock(engine), pytest.raises(RunLocked), run_lock(engine):
        pass
    with run_lock(engine):
        pass


def test_a_file_larger_than_any_school_or_la_is_refused_whole(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caps that bound a parse's memory whatever the file size (a 2 GB census holds about
    1.2 million pupils), lowered here so that small files reach them."""
    monkeypatch.setattr(school_xml, "MAX_PUPILS_PER_FILE", 3)
    monkeypatch.setattr(service_feed, "MAX_ROWS_PER_FILE", 3)
    pupils = random_pupils(5, seed=11)
    big = write(tmp_path / "big.xml", census_xml(pupils))
    with pytest.raises(SubmissionRejected, match="holds more than 3 pupils"):
        submit_file(sqlite_engine, big, source=SCHOOL)
    header = (DATA / "service_feed.csv").read_text(encoding="utf-8").splitlines()[0]
    columns = header.split(",")
    rows = []
    for n, pupil in enumerate(pupils):
        row = dict.fromkeys(columns, "")
        row.update(record_id=f"X{n}", given_name=pupil.forename, family_name=pupil.surname,
                   date_of_birth=pupil.dob, service_type="gp_practice",
                   organisation_name="Ampthill Surgery", organisation_code="E81001")
        rows.append(",".join(row[c] for c in columns))
    feed = write(tmp_path / "big.csv", "\n".join([header, *rows]) + "\n")
    with pytest.raises(SubmissionRejected, match="holds more than 3 rows"):
        submit_file(sqlite_engine, feed, source="GP1", la="823")
    with transaction(sqlite_engine) as s:
        assert s.scalar(select(func.count()).select_from(m.StagedRecord)) == 0  # nothing half-written
    small = submit_file(sqlite_engine, write(tmp_path / "small.xml", census_xml(pupils[:3])), source=SCHOOL)
    assert small.accepted == 3
    assert run_nightly(sqlite_engine).outcomes == {"new": 3}


def test_a_callers_record_of_a_submission_commits_or_rolls_back_with_it(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """`on_recorded` runs in the transaction that stages (or refuses) the file: the API's audit
    entry for an upload. If it fails, nothing of the submission is kept."""
    census = write(tmp_path / "census.xml", census_xml(random_pupils(3, seed=12)))

    def failing(_session: object, _submission_id: int, _outcome: str) -> None:
        raise RuntimeError("audit write failed")

    with pytest.raises(RuntimeError, match="audit write failed"):
        submit_file(sqlite_engine, census, source=SCHOOL, on_recorded=failing)
    assert count_rows_of(sqlite_engine)["submissions"] == 0
    assert count_rows_of(sqlite_engine)["staged_records"] == 0
    seen: list[tuple[int, str]] = []
    staged = submit_file(sqlite_engine, census, source=SCHOOL,
                         on_recorded=lambda s, i, o: seen.append((i, o)))
    again = submit_file(sqlite_engine, census, source=SCHOOL, on_recorded=lambda s, i, o: seen.append((i, o)))
    other = write(tmp_path / "other.xml", census_xml(random_pupils(2, seed=13)).replace(
        "<Estab>1234</Estab>", "<Estab>9999</Estab>"))
    with pytest.raises(SubmissionRejected) as refused:
        submit_file(sqlite_engine, other, source=SCHOOL, on_recorded=lambda s, i, o: seen.append((i, o)))
    assert again.duplicate
    assert seen == [(staged.submission_id, "ok"), (staged.submission_id, "ok"),
                    (refused.value.submission_id, "refused")]


def test_the_run_collects_garbage_less_often_and_restores_the_thresholds(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    import gc

    from ingest.nightly import RUN_GC_THRESHOLDS

    seen: list[tuple[int, ...]] = []

    class Watching(EmbeddedSearch):
        def index_in(self, conn: Connection, child_ids: Iterable[int]) -> None:
            seen.append(gc.get_threshold())
            super().index_in(conn, child_ids)

    census = write(tmp_path / "c.xml", census_xml(random_pupils(3, seed=14)))
    submit_file(sqlite_engine, census, source=SCHOOL)
    before = gc.get_threshold()
    assert before != RUN_GC_THRESHOLDS
    run_nightly(sqlite_engine, Watching(sqlite_engine))
    assert seen and set(seen) == {RUN_GC_THRESHOLDS}
    assert gc.get_threshold() == before
