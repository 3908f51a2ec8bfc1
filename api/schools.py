"""A school submitter's side (own school only): upload a census or CTF, see the staging result
and, after the nightly run, the report for that submission. Nothing else.

An upload is written under a name the server chooses (never the client's file name or path),
readable by the service only, handed to ingest staging, and deleted once staged: the raw file
carries data the index must never hold (DESIGN.md), and only the minimised records are kept.
"""

from __future__ import annotations

import json
import os
import secrets
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, UploadFile
from fastapi import Path as PathParam
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from access import Forbidden, Permission
from access.uploads import UPLOAD_KINDS, check_upload_kind
from api.context import Context
from api.deps import Actor, Ctx, CurrentActor, record, refused, requires, school_scope
from api.schemas import RejectionOut, SubmissionDetailOut, SubmissionOut, SubmissionsOut
from index import models as m
from index.store import transaction
from index.vocabulary import SourceKind
from ingest import school_run_report
from ingest.feeds import detect_kind
from ingest.report import FeedError
from ingest.staging import SubmissionRejected, submit_file

P = Permission
# What a school's listing and reports show: its own census and CTF submissions (and refused
# files, whose kind may be unknown), never a feed an operator sent under the school's code.
SCHOOL_KINDS = (*UPLOAD_KINDS[P.UPLOAD_SUBMISSION], SourceKind.UNKNOWN)
router = APIRouter(prefix="/schools/{laestab}", tags=["school submitter"],
                   dependencies=requires(P.UPLOAD_SUBMISSION))

School = Annotated[str, Depends(school_scope(P.UPLOAD_SUBMISSION))]
SubmissionId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
CHUNK = 1024 * 1024


async def _store(ctx: Context, upload: UploadFile) -> Path:
    """Copy the upload to a new file under a random name, at most max_upload_bytes."""
    folder = Path(ctx.settings.upload_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"upload-{secrets.token_hex(16)}.xml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await upload.read(CHUNK):
                written += len(chunk)
                if written > ctx.settings.max_upload_bytes:
                    raise HTTPException(413, "the file is larger than the upload limit")
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if written == 0:
        path.unlink(missing_ok=True)
        raise HTTPException(422, "the uploaded file is empty")
    return path


def _submission_out(db: Any, submission_id: int, *, duplicate: bool = False,
                    for_school: bool = True) -> SubmissionOut:
    """A submission's state; a school reads only what its own records came to in the nightly
    run (ingest.school_run_report), never whether a pupil matched a child already held."""
    sub = db.get(m.Submission, submission_id)
    staged = db.scalars(select(m.StagedSubmission)
                        .where(m.StagedSubmission.submission_id == submission_id)).first()
    rejected = db.scalar(select(func.count()).select_from(m.StagedRejection)
                         .where(m.StagedRejection.submission_id == submission_id)) or 0
    run = json.loads(staged.run_report) if staged and staged.run_report else None
    return SubmissionOut(
        submission_id=submission_id, source_kind=sub.source_kind.value,
        state=staged.state if staged else "done", records_total=staged.records_total if staged else 0,
        rejected=rejected, received_at=sub.received_at, duplicate=duplicate,
        failure=staged.failure if staged else None,
        parse_report=json.loads(staged.parse_report) if staged and staged.parse_report else None,
        run_report=school_run_report(run) if run is not None and for_school else run,
    )


@router.post("/submissions", response_model=SubmissionOut, status_code=201)
async def upload(school: School, file: UploadFile, ctx: Ctx, who: CurrentActor) -> SubmissionOut:
    """Upload a school census or CTF for this school (nothing else: access.uploads); it is
    checked and staged for the nightly run at once. The file name sent with it is ignored."""
    return await receive(ctx, who, file, P.UPLOAD_SUBMISSION, source=school)


def _check_kind(ctx: Context, who: Actor, permission: Permission, path: Path) -> None:
    """Refuse (audited, 403) a file of a kind this route may not receive, before staging."""
    try:
        kind = detect_kind(path)
    except FeedError:
        return  # not a known feed at all: staging refuses it, with its reason, as any bad file
    try:
        check_upload_kind(permission, kind)
    except Forbidden as exc:
        raise refused(ctx, who, permission, exc) from None


async def receive(ctx: Context, who: Actor, file: UploadFile, permission: Permission, *, source: str,
                  la: str | None = None) -> SubmissionOut:
    """Store an upload, check its kind against the route's permission, stage it (audited) and
    describe the result; the stored file is deleted whatever happens."""
    path = await _store(ctx, file)
    await file.close()

    def audited(db: Session, _submission_id: int, outcome: str) -> None:
        record(db, who, "upload_submission", reason="submission", outcome=outcome, at=ctx.clock())

    try:
        await run_in_threadpool(_check_kind, ctx, who, permission, path)
        result = await run_in_threadpool(partial(
            submit_file, ctx.engine, path, source=source, la=la, today=ctx.clock().date(),
            on_recorded=audited))
        submission_id, duplicate, outcome = result.submission_id, result.duplicate, "ok"
    except SubmissionRejected as exc:
        submission_id, duplicate, outcome, reason = exc.submission_id, False, "refused", exc.reason
    finally:
        path.unlink(missing_ok=True)
    with transaction(ctx.engine) as db:
        out = _submission_out(db, submission_id, duplicate=duplicate,
                              for_school=permission is P.UPLOAD_SUBMISSION)
    if outcome != "ok":
        raise HTTPException(422, f"the file was refused: {reason} (submission {submission_id})")
    return out


@router.get("/submissions", response_model=SubmissionsOut)
def list_submissions(school: School, ctx: Ctx, who: CurrentActor) -> SubmissionsOut:
    """This school's submissions, newest first (at most 100)."""
    with transaction(ctx.engine) as db:
        ids = db.scalars(select(m.Submission.id).where(m.Submission.source_code == school,
                                                        m.Submission.source_kind.in_(SCHOOL_KINDS))
                         .order_by(m.Submission.id.desc()).limit(100)).all()
        record(db, who, "read_submission", reason="submission", at=ctx.clock())
        return SubmissionsOut(submissions=[_submission_out(db, i) for i in ids])


@router.get("/submissions/{submission_id}", response_model=SubmissionDetailOut)
def show_submission(school: School, submission_id: SubmissionId, ctx: Ctx,
                    who: CurrentActor) -> SubmissionDetailOut:
    """The staging result (accepted, rejected and why, by position and field) and, after the
    nightly run, its report."""
    with transaction(ctx.engine) as db:
        held = db.execute(select(m.Submission.source_code, m.Submission.source_kind)
                          .where(m.Submission.id == submission_id)).first()
        if held is None or held.source_code != school or held.source_kind not in SCHOOL_KINDS:
            raise HTTPException(404, "no submission with that id for this school")
        rejections = db.scalars(select(m.StagedRejection)
                                .where(m.StagedRejection.submission_id == submission_id)
                                .order_by(m.StagedRejection.id).limit(1000)).all()
        record(db, who, "read_submission", reason="submission", at=ctx.clock())
        return SubmissionDetailOut(
            submission=_submission_out(db, submission_id),
            rejections=[RejectionOut(record_ref=r.record_ref, field=r.field, reason=r.reason, upn=r.upn)
                        for r in rejections])
