"""Subject access for the owning LA's data team: everything held about a child and every access
to the record, as JSON or as a PDF a family can read (access.subject_access). Audited."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from access import Permission
from access.subject_access import subject_access, subject_access_pdf
from api.deps import ChildRef, Ctx, CurrentActor, child_scope, record, requires
from index.store import transaction

P = Permission
router = APIRouter(prefix="/la", tags=["LA data team"])
Subject = Annotated[ChildRef, Depends(child_scope(P.SUBJECT_ACCESS))]
PDF = "application/pdf"


@router.get("/children/{child_id}/subject-access", dependencies=requires(P.SUBJECT_ACCESS),
            responses={200: {"content": {"application/json": {}, PDF: {}},
                             "description": "the subject access report"}})
def report(child: Subject, ctx: Ctx, who: CurrentActor,
           format: Annotated[Literal["json", "pdf"], Query()] = "json") -> Any:
    """Everything held about the child with its provenance, and every access (who, organisation,
    when, reason): JSON, or `format=pdf` for the family."""
    now = ctx.clock()
    with transaction(ctx.engine) as db:
        data = subject_access(db, child.id, now=now)
        record(db, who, "subject_access", reason="subject_access", child_ids=[child.id], at=now)
    if format == "pdf":
        return Response(subject_access_pdf(data), media_type=PDF,
                        headers={"Content-Disposition": 'attachment; filename="subject-access.pdf"'})
    return data
