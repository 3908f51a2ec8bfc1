"""A school data manager's pages (own school only): upload a census or CTF, the school's
submissions with their state, and each submission's report. Behind school_scope, calling
api.schools' own functions; another school's submission is refused (and audited) there."""

from __future__ import annotations

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from access import Forbidden, Permission
from api import schools as api_schools
from api.deps import Ctx, CurrentActor, requires
from api.web.pages import Checked, SignedIn, redirect, render

P = Permission
router = APIRouter(include_in_schema=False, dependencies=[*SignedIn, *requires(P.UPLOAD_SUBMISSION)])

# What to fix, by the field a pupil was rejected for (the index's field names, as in the
# rejection; the first key found in the field's name applies).
FIX = (
    ("date_of_birth", "Enter the pupil's date of birth as a real date (YYYY-MM-DD), not in the future."),
    ("identifiers", "Check the pupil's UPN (13 characters: a check letter, then 12) or ULN (10 digits); "
                    "leave out an identifier the pupil does not have."),
    ("former_upn", "Check the pupil's former UPN, or leave it out."),
    ("upn", "Check the pupil's UPN (13 characters: a check letter, then 12); a pupil without one "
            "needs a temporary UPN, and each pupil appears once in a file."),
    ("family_name", "Enter the pupil's legal surname, at most 100 characters."),
    ("surname", "Enter the pupil's legal surname."),
    ("given_name", "Enter the pupil's legal forename, at most 100 characters."),
    ("forename", "Enter the pupil's legal forename."),
    ("_date", "Enter the date as YYYY-MM-DD; a leaving date is on or after the entry date."),
    ("gender", "Record the pupil's sex as M, F or U."),
    ("postcode", "Enter a full UK postcode, like MK40 1AB, or leave it out."),
    ("phone", "Enter a telephone number of digits and spaces, or leave it out."),
    ("email", "Enter an email address like name@example.org, or leave it out."),
    ("carers", "Check the pupil's contacts: each needs a name and a relationship."),
)
FIX_OTHERWISE = "Correct this field in your management information system and send the file again."


@router.get("/school")
def school_home(who: CurrentActor) -> Response:
    if not who.organisation_code:
        raise Forbidden("your register entry has no school code")
    return redirect(f"/school/{who.organisation_code}/submissions")


@router.get("/school/{laestab}/submissions")
def submissions(request: Request, school: api_schools.School, ctx: Ctx, who: CurrentActor) -> Response:
    listed = api_schools.list_submissions(school, ctx, who).submissions
    return render(request, "submissions.html", school=school, submissions=listed)


@router.post("/school/{laestab}/submissions", dependencies=[Checked])
async def upload(request: Request, school: api_schools.School, ctx: Ctx, who: CurrentActor,
                 file: UploadFile | None = None) -> Response:
    error = None
    if file is None or not file.filename:
        error = "Select a census or CTF file"
    else:
        try:
            out = await api_schools.upload(school, file, ctx, who)
        except HTTPException as exc:
            if exc.status_code not in (413, 422):
                raise
            error = str(exc.detail)[:1].upper() + str(exc.detail)[1:]
        else:
            return redirect(f"/school/{school}/submissions/{out.submission_id}?uploaded=true")
    listed = api_schools.list_submissions(school, ctx, who).submissions
    return render(request, "submissions.html", status=400, school=school, submissions=listed,
                  errors={"file": error})


@router.get("/school/{laestab}/submissions/{submission_id}")
def submission(request: Request, school: api_schools.School, submission_id: api_schools.SubmissionId,
               ctx: Ctx, who: CurrentActor, uploaded: bool = False) -> Response:
    detail = api_schools.show_submission(school, submission_id, ctx, who)
    fixes = [next((text for key, text in FIX if key in r.field), FIX_OTHERWISE) for r in detail.rejections]
    return render(request, "submission.html", school=school, detail=detail, fixes=fixes,
                  banner="Your file was received and checked." if uploaded else None, banner_success=uploaded)
