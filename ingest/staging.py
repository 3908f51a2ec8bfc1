"""Submitting a file: check it at once, minimise it, and stage what it carried for the nightly run.

`submit_file` streams the file through `parse_feed` and writes, in one transaction, the
submission, every accepted record (the minimised `ChildRecord` as JSON: nothing else of the
file is kept) and every rejection (position, field, fixed reason, valid UPN). A file-level
problem (not a known feed, wrong school, truncated, no pupils in a CTF, bad columns) stages
nothing: the submission is recorded as *rejected* with the reason and `SubmissionRejected` is
raised, so a school resubmitting a fixed file is not mistaken for a repeat.

Rules:
- the same bytes submitted twice (same SHA-256) by the same sender are a no-op: the earlier
  submission is returned; the same bytes from another school or source are refused, saying
  nothing of the earlier submission (a file is one school's or one sender's, once);
- a school's census is its roll: a newer census supersedes that school's staged, not yet run,
  older census; a census of the same date is the school's correction of it (sent again after
  fixing rejected pupils): it replaces the held one if that has not run, else runs after it; a
  census older than one the school already sent is kept for the report but superseded at once
  (it would otherwise end involvements the newer census shows).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from index import models as m
from index import transaction
from index.store import create_submission
from index.vocabulary import SourceKind
from ingest.feeds import detect_kind, guess_kind, parse_feed
from ingest.report import FeedError, ParseReport, RecordError, SourceRecord

# Records written per INSERT while staging (bounded memory for any file size).
STAGE_BATCH = 2000


class SubmissionState:
    STAGED = "staged"
    SUPERSEDED = "superseded"
    REJECTED = "rejected"
    DONE = "done"
    FAILED = "failed"


class SubmissionRejected(Exception):
    """The whole file was refused; `submission_id` holds its (rejected) report."""

    def __init__(self, submission_id: int, file: str, reason: str) -> None:
        self.submission_id = submission_id
        self.file = file
        self.reason = reason
        super().__init__(f"{file}: {reason}")


@dataclass(frozen=True)
class Submitted:
    submission_id: int
    kind: SourceKind
    state: str
    accepted: int
    rejected: int
    duplicate: bool = False  # the same file had already been submitted: nothing was done
    superseded: tuple[int, ...] = ()  # earlier census submissions this one replaced


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _parse_report_json(report: ParseReport) -> str:
    data = report.as_dict()
    data.pop("rejected")  # held row by row in staged_rejections
    return json.dumps(data, sort_keys=True)


def _records(parse: Iterator[SourceRecord | RecordError], session: Session,
             submission_id: int, *, roll: bool = False) -> int:
    """Write the parse's outcomes in batches; returns the number of accepted records. `roll`: a
    census, whose rejected pupils' identities are held until the run closes it (ingest.roll)."""
    records: list[dict[str, object]] = []
    rejections: list[dict[str, object]] = []
    conflicts: list[tuple[str, str]] = []  # (first pupil, a later pupil with its UPN)
    position = 0

    def flush() -> None:
        # Core inserts: the ORM's bulk path costs more per row and adds nothing here.
        if records:
            session.connection().execute(insert(m.StagedRecord.__table__), records)
            records.clear()
        if rejections:
            session.connection().execute(insert(m.StagedRejection.__table__), rejections)
            rejections.clear()

    for item in parse:
        if isinstance(item, SourceRecord):
            child = item.child.model_copy(update={"provenance": item.child.provenance.model_copy(
                update={"submission_id": submission_id})})
            records.append({
                "submission_id": submission_id, "position": position,
                "record_ref": item.record_ref, "payload": child.model_dump_json(),
                "left_on": item.left_on, "upn_conflict": item.upn_conflict,
            })
            if item.upn_conflict is not None:
                conflicts.append((item.upn_conflict, item.record_ref))
            position += 1
        else:
            rejections.append({
                "submission_id": submission_id, "record_ref": item.record_ref[:64],
                "field": item.field[:64], "reason": item.reason[:300], "upn": item.upn,
                "identity": item.identity if roll else None,
            })
        if len(records) + len(rejections) >= STAGE_BATCH:
            flush()
    flush()
    for first, later in conflicts:  # the first pupil does not win either
        session.execute(update(m.StagedRecord).where(
            m.StagedRecord.submission_id == submission_id, m.StagedRecord.record_ref == first,
            m.StagedRecord.upn_conflict.is_(None)).values(upn_conflict=later))
    return position


def _reject(engine: Engine, path: Path, kind: SourceKind | None, source: str, la: str | None,
            error: FeedError, on_recorded: OnRecorded) -> SubmissionRejected:
    """Record a refused file (no sha: the fixed file may come with the same name) and say why.
    Its kind is what was detected, else what its first bytes say, else unknown; its LA is the
    one given or the school's, never made up. A file that broke part-way says that none of it
    was kept: the records read before the break were good, but are not staged either."""
    if error.truncated:
        error.add_context("nothing from the file was staged: send it again whole")
    with transaction(engine) as session:
        submission_id = create_submission(
            session, source_kind=kind or guess_kind(path), source_code=source[:32],
            file_name=path.name[:255])
        report = _parse_report_json(error.report) if error.report else None
        session.add(m.StagedSubmission(
            submission_id=submission_id, state=SubmissionState.REJECTED, owning_la=la,
            records_total=0, next_position=0, failure=error.reason[:500], parse_report=report,
            staged_at=_now()))
        on_recorded(session, submission_id, "refused")
    return SubmissionRejected(submission_id, path.name, error.reason)


def _supersede(session: Session, submission_id: int, school: str, census_date: dt.date) -> tuple[int, ...]:
    """Apply the census rule for `school`; returns the earlier submissions it superseded."""
    others = session.execute(
        select(m.StagedSubmission)
        .join(m.Submission, m.Submission.id == m.StagedSubmission.submission_id)
        .where(m.Submission.source_kind == SourceKind.CENSUS, m.Submission.source_code == school,
               m.StagedSubmission.submission_id != submission_id,
               m.StagedSubmission.state.in_([SubmissionState.STAGED, SubmissionState.DONE]))
    ).scalars().all()
    mine = session.execute(
        select(m.StagedSubmission).where(m.StagedSubmission.submission_id == submission_id)
    ).scalar_one()
    superseded: list[int] = []
    for other in others:
        assert other.census_date is not None
        if other.census_date > census_date:
            mine.state = SubmissionState.SUPERSEDED
            mine.failure = "superseded: the school has already sent a census of a later date"
        elif other.state == SubmissionState.STAGED and other.next_position == 0:
            # An older census, or one of the same date this one corrects (a school resubmits
            # after fixing its rejections), that has not started: this one replaces it. One of
            # the same date already run (or started) stays; this one runs after it.
            other.state = SubmissionState.SUPERSEDED
            other.failure = f"superseded by the newer census of submission {submission_id}"
            superseded.append(other.submission_id)
    if mine.state == SubmissionState.SUPERSEDED:
        # It will never run, so never close the school's roll: nothing to keep its pupils on by.
        session.execute(update(m.StagedRejection).where(m.StagedRejection.submission_id == submission_id)
                        .values(identity=None))
    if superseded:
        # A superseded census will never run: its staged copies of personal data go now.
        session.execute(update(m.StagedRecord).where(m.StagedRecord.submission_id.in_(superseded))
                        .values(payload=None))
        session.execute(update(m.StagedRejection).where(m.StagedRejection.submission_id.in_(superseded))
                        .values(identity=None))
    return tuple(superseded)


def _same_sender(held_source: str, held_la: str | None, source: str, la: str | None) -> bool:
    """Whether a file already held came from the same school or source (and, given, LA)."""
    return held_source == source[:32] and (la is None or held_la is None or held_la == la)


# Called inside the transaction that records a submission (staged, a repeat, or refused) with its
# id and outcome ("ok" or "refused"): a caller's audit entry commits or rolls back with it.
OnRecorded = Callable[[Session, int, str], None]


def _nothing(_session: Session, _submission_id: int, _outcome: str) -> None:
    return None


def submit_file(
    engine: Engine, path: Path | str, *, source: str, la: str | None = None,
    today: dt.date | None = None, on_recorded: OnRecorded = _nothing,
) -> Submitted:
    """Check and stage one file. `source`: the submitting school's LAEstab (census, CTF) or the
    feed's sender code (service feeds, whose LA is `la`, default the first three digits of a
    numeric source). Raises `SubmissionRejected` for a file refused as a whole."""
    path = Path(path)
    sha = file_sha256(path)
    owning_la = la or (source[:3] if source[:3].isdigit() else None)
    with transaction(engine) as session:
        earlier = session.execute(
            select(m.Submission.id, m.Submission.source_kind, m.Submission.source_code,
                   m.StagedSubmission.state, m.StagedSubmission.owning_la)
            .outerjoin(m.StagedSubmission, m.StagedSubmission.submission_id == m.Submission.id)
            .where(m.Submission.file_sha256 == sha)
        ).first()
        repeat = earlier is not None and _same_sender(earlier.source_code, earlier.owning_la, source, la)
        if earlier is not None and repeat:
            on_recorded(session, earlier.id, "ok")
            return Submitted(earlier.id, earlier.source_kind, earlier.state or SubmissionState.DONE,
                             0, 0, duplicate=True)
    kind: SourceKind | None = None
    try:
        if earlier is not None:
            # Nothing about the earlier submission (whose, when, what became of it) is said.
            raise FeedError(path.name, "has already been accepted from another school or source: "
                                       "a file is accepted once, for one sender; it is refused")
        kind = detect_kind(path)
        if owning_la is None:
            raise FeedError(path.name, "its LA must be given (--la): the source is not an LAEstab")
        school = source if kind in (SourceKind.CENSUS, SourceKind.CTF) else None
        if school is not None and la is not None and la != school[:3]:
            # A school's file belongs to the school's LA; another would list it under that LA.
            raise FeedError(path.name, f"is a school's file: its LA is the school's own, not {la[:3]}")
        parse = parse_feed(path, expected_laestab=school, owning_la=owning_la, today=today)
        with transaction(engine) as session:
            submission_id = create_submission(
                session, source_kind=kind, source_code=source[:32], file_name=path.name[:255],
                file_sha256=sha)
            staged = m.StagedSubmission(
                submission_id=submission_id, state=SubmissionState.STAGED, owning_la=owning_la,
                records_total=0, next_position=0, staged_at=_now())
            session.add(staged)
            session.flush()
            total = _records(iter(parse), session, submission_id, roll=kind is SourceKind.CENSUS)
            report = parse.report
            staged.records_total = total
            staged.parse_report = _parse_report_json(report)
            superseded: tuple[int, ...] = ()
            if kind is SourceKind.CENSUS:
                staged.census_date = dt.date.fromisoformat(report.header["reference_date"])
                session.flush()
                superseded = _supersede(session, submission_id, source, staged.census_date)
            state = staged.state
            on_recorded(session, submission_id, "ok")
    except FeedError as error:
        raise _reject(engine, path, kind, source, owning_la, error, on_recorded) from None
    return Submitted(submission_id, kind, state, report.accepted, report.rejected_count,
                     superseded=superseded)
