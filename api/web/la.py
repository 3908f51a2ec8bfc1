"""The LA data team's pages (own LA only): the possible-match review queue and each item side by
side with its decision; the service-feed rows held for the team, each dismissed with a reason.
Behind api.la's and api.feeds' own dependencies (la_scope, review_scope), calling their
functions, so the scope checks, matching's decisions and the audit are the API's."""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select

from access import Permission, Role
from access.reasons import RegisterChange
from api import children as api_children
from api import feeds as api_feeds
from api import la as api_la
from api import oversight as api_oversight
from api.deps import ChildRef, Ctx, CurrentActor, requires
from api.schemas import (
    CorrectionBody,
    DecisionBody,
    HeldDismissal,
    OptOutBody,
    RegisterBody,
    ShieldBody,
    SplitBody,
)
from api.web.forms import Day, Month, Year, blank_to_none, date_from, errors_of
from api.web.pages import Checked, SignedIn, redirect, render
from index import models as m
from index.store import transaction
from index.vocabulary import Gender, MatchReason, OptOutBy, ServiceType
from ingest.held import DISMISS_REASONS

P = Permission
router = APIRouter(include_in_schema=False, dependencies=SignedIn)
Text = Annotated[str, Form(max_length=200)]
# The most items the queue page reads at once (the API's own limit).
QUEUE_PAGE = 200
# The coded notes offered with each verdict (no free text: the index holds no case notes).
NOTES = {
    "same": (MatchReason.IDENTIFIERS_CONFIRMED, MatchReason.DETAILS_CONFIRMED_WITH_SOURCE,
             MatchReason.DETAILS_MATCH),
    "different": (MatchReason.DIFFERENT_PEOPLE, MatchReason.TWINS_OR_SIBLINGS, MatchReason.IDENTIFIER_ERROR),
}
# The fields shown side by side, in order: (label, attribute of matching.ReviewedChild).
SIDE_BY_SIDE = (("Child number", "child_number"), ("Given name", "given_name"),
                ("Family name", "family_name"), ("Other names", "other_names"),
                ("Date of birth", "date_of_birth"), ("Gender", "gender"), ("Postcode", "postcode"),
                ("Town", "town"), ("Identifiers", "identifiers"), ("Shielded", "shielded"))


@router.get("/la/review-queue", dependencies=requires(P.REVIEW_QUEUE))
def queue(request: Request, la: api_la.OwnLa, ctx: Ctx, who: CurrentActor,
          done: str | None = None, merge: int | None = None) -> Response:
    items = api_la.list_reviews(la, ctx, who, limit=QUEUE_PAGE).items
    oldest_first = sorted(items, key=lambda i: (i.opened_at, i.id))
    counts = Counter(i.rule for i in items)
    return render(request, "review_queue.html", items=oldest_first, counts=sorted(counts.items()),
                  merge=merge,
                  page=QUEUE_PAGE, banner={"same": "The two records were merged.",
                                           "different": "The two records were kept apart."}.get(done or ""),
                  banner_success=bool(done))


def _review(request: Request, review_id: int, ctx: Ctx, who: CurrentActor, *, status: int = 200,
            errors: dict[str, str] | None = None) -> Response:
    item = api_la.show_review(review_id, ctx, who)
    return render(request, "review.html", status=status, item=item, fields=SIDE_BY_SIDE, notes=NOTES,
                  errors=errors)


@router.get("/la/review-queue/{review_id}", dependencies=requires(P.REVIEW_QUEUE))
def review(request: Request, review_id: api_la.Review, ctx: Ctx, who: CurrentActor) -> Response:
    return _review(request, review_id, ctx, who)


@router.post("/la/review-queue/{review_id}", dependencies=[Checked, *requires(P.REVIEW_QUEUE)])
def decide(request: Request, review_id: api_la.Review, ctx: Ctx, who: CurrentActor,
           verdict: Text = "", note: Text = "") -> Response:
    """The verdict is the button pressed; the note a coded reason that fits it."""
    if verdict not in NOTES:
        return _review(request, review_id, ctx, who, status=400,
                       errors={"note": "Choose same person or different people"})
    if note not in {n.value for n in NOTES[verdict]}:
        words = "same person" if verdict == "same" else "different people"
        return _review(request, review_id, ctx, who, status=400,
                       errors={"note": f"Select a note that explains why they are {words}"})
    body = DecisionBody.model_validate({"verdict": verdict, "reason": note})
    out = api_la.decide(review_id, body, ctx, who)
    return redirect(f"/la/review-queue?done={verdict}" + (f"&merge={out.merge_id}" if out.merge_id else ""))


# -- a record of the LA's own: correct, shield, opt-outs, merges and their splits, accesses ---------

SHIELD_REASONS = ("safeguarding", "data_accuracy")


def _record(request: Request, child: ChildRef, ctx: Ctx, who: CurrentActor, *, status: int = 200,
            errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
            banner: str | None = None) -> Response:
    view = api_children.view_record(child, "data_accuracy", ctx, who)
    opt_outs = api_la.list_opt_outs(child, ctx, who).opt_outs
    accesses = api_oversight.child_accesses(child, ctx, who, limit=10).accesses
    with transaction(ctx.engine) as db:  # the merges into this child (the page is audited above)
        merges = list(db.scalars(select(m.ChildMerge).where(m.ChildMerge.kept_child_id == child.id)
                                 .order_by(m.ChildMerge.id.desc()).limit(20)))
    return render(request, "la_child.html", status=status, child=view, opt_outs=opt_outs, accesses=accesses,
                  merges=merges, services=list(ServiceType), opted_by=list(OptOutBy), genders=list(Gender),
                  shield_reasons=SHIELD_REASONS, errors=errors, values=values or {}, banner=banner,
                  banner_success=bool(banner))


Record = [*requires(P.REVIEW_QUEUE, P.VIEW_RECORD)]


@router.get("/la/child/{child_id}", dependencies=Record)
def record_page(request: Request, child: api_la.Correctable, _viewed: api_children.Viewed, ctx: Ctx,
                who: CurrentActor, done: str | None = None) -> Response:
    return _record(request, child, ctx, who, banner=DONE.get(done or ""))


DONE = {"corrected": "The record was corrected.", "shielded": "The record is now shielded.",
        "unshielded": "The record is no longer shielded.", "opted_out": "The opt-out was recorded.",
        "withdrawn": "The opt-out was withdrawn.", "split": "The merge was split: both records are back."}


@router.post("/la/child/{child_id}/correct", dependencies=[Checked, *Record])
def correct(request: Request, child: api_la.Correctable, _viewed: api_children.Viewed, ctx: Ctx,
            who: CurrentActor, given_name: Text = "", family_name: Text = "", dob_day: Day = "",
            dob_month: Month = "", dob_year: Year = "", gender: Text = "") -> Response:
    values = dict(given_name=given_name, family_name=family_name, dob_day=dob_day, dob_month=dob_month,
                  dob_year=dob_year, gender=gender)
    data: dict[str, object] = blank_to_none(dict(given_name=given_name, family_name=family_name,
                                                 gender=gender))
    errors: dict[str, str] = {}
    dob = date_from(dob_day, dob_month, dob_year)
    if dob == "invalid":
        errors["dob-day"] = "Date of birth must be a real date"
    elif dob is not None:
        data["date_of_birth"] = dob
    if not data and not errors:
        errors["given-name"] = "Enter at least one thing to correct"
    try:
        body = CorrectionBody.model_validate(data)
    except ValidationError as exc:
        errors |= errors_of(exc, {"given_name": "Enter a given name of 100 characters or fewer",
                                  "family_name": "Enter a family name of 100 characters or fewer",
                                  "gender": "Select a gender"})
    if errors:
        return _record(request, child, ctx, who, status=400, errors=errors, values=values)
    api_la.correct(child, body, ctx, who)
    return redirect(f"/la/child/{child.id}?done=corrected")


@router.post("/la/child/{child_id}/shield", dependencies=[Checked, *requires(P.SHIELD, P.VIEW_RECORD)])
def shield(request: Request, child: api_la.Shieldable, _viewed: api_children.Viewed, ctx: Ctx,
           who: CurrentActor, shielded: Text = "", reason: Text = "") -> Response:
    try:
        body = ShieldBody.model_validate({"shielded": shielded == "yes", "reason": reason})
    except ValidationError:
        return _record(request, child, ctx, who, status=400, errors={"shield-reason": "Select a reason"})
    api_la.shield(child, body, ctx, who)
    return redirect(f"/la/child/{child.id}?done={'shielded' if body.shielded else 'unshielded'}")


@router.post("/la/child/{child_id}/opt-outs", dependencies=[Checked, *Record])
def opt_out(request: Request, child: api_la.Correctable, _viewed: api_children.Viewed, ctx: Ctx,
            who: CurrentActor, service_type: Text = "", opted_out_by: Text = "") -> Response:
    try:
        body = OptOutBody.model_validate({"service_type": service_type, "opted_out_by": opted_out_by})
    except ValidationError as exc:
        return _record(request, child, ctx, who, status=400, errors=errors_of(
            exc, {"service_type": "Select the service", "opted_out_by": "Select who opted out"}))
    try:
        api_la.add_opt_out(child, body, ctx, who)
    except HTTPException as exc:
        return _record(request, child, ctx, who, status=400,
                       errors={"opted-out-by": str(exc.detail).capitalize()})
    return redirect(f"/la/child/{child.id}?done=opted_out")


@router.post("/la/child/{child_id}/opt-outs/withdraw", dependencies=[Checked, *Record])
def withdraw(child: api_la.Correctable, _viewed: api_children.Viewed, ctx: Ctx, who: CurrentActor,
             service_type: Annotated[ServiceType, Form()]) -> Response:
    api_la.withdraw_opt_out(child, service_type, ctx, who)
    return redirect(f"/la/child/{child.id}?done=withdrawn")


@router.post("/la/merge/{merge_id}/split", dependencies=[Checked, *requires(P.REVIEW_QUEUE)])
def split(merge_id: api_la.Merge, ctx: Ctx, who: CurrentActor) -> Response:
    out = api_la.split(merge_id, SplitBody(), ctx, who)
    return redirect(f"/la/child/{out.kept_child_id}?done=split")


# -- the practitioner register and enrolment tokens (LA data team and administrators) -----------------

USER_ID = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")  # as api.la's UserId
REGISTER_MESSAGES = {
    "organisation": "Enter the organisation", "la": "Enter the three-digit LA number",
    "role": "Select a role",
    "vetting_checked_on": "Enter the date of the vetting check",
    "vetting_expires_on": "Enter the date the vetting check expires",
    "training_completed_on": "Training dates must be real dates",
    "training_expires_on": "Training dates must be real dates", "service_type": "Select a service",
    "change_reason": "Select why the entry is added or changed",
}
DATES = ("vetting_checked_on", "vetting_expires_on", "training_completed_on", "training_expires_on")


@router.get("/la/practitioners", dependencies=requires(P.MANAGE_REGISTER))
def register(request: Request, la: api_la.RegisterLa, ctx: Ctx, who: CurrentActor,
             saved: bool = False) -> Response:
    entries = api_la.list_register(la, ctx, who).entries
    return render(request, "register.html", entries=entries,
                  banner="The register entry was saved." if saved else None,
                  banner_success=saved, may_enrol=P.ISSUE_ENROLMENT in who.principal.grants())


def _entry_form(request: Request, who: CurrentActor, *, status: int = 200, values: dict[str, str],
                errors: dict[str, str] | None = None, new: bool) -> Response:
    return render(request, "register_entry.html", status=status, values=values, errors=errors, new=new,
                  roles=list(Role), services=list(ServiceType), own_la=who.principal.la,
                  changes=list(RegisterChange))


@router.get("/la/practitioners/new", dependencies=requires(P.MANAGE_REGISTER))
def new_entry(request: Request, who: CurrentActor) -> Response:
    return _entry_form(request, who, values={"la": who.principal.la or ""}, new=True)


@router.post("/la/practitioners/edit", dependencies=[Checked, *requires(P.MANAGE_REGISTER)])
def edit_entry(request: Request, la: api_la.RegisterLa, ctx: Ctx, who: CurrentActor,
               user_id: Text = "") -> Response:
    """The entry's form, filled in (the user's name travels in the form, not the address)."""
    entry = next((e for e in api_la.list_register(la, ctx, who).entries if e.user_id == user_id), None)
    if entry is None:
        raise HTTPException(404, "no register entry of your LA with that user name")
    values = {k: ("" if v is None else str(v)) for k, v in entry.model_dump(mode="json").items()}
    values["suspended"] = "yes" if entry.suspended else ""
    return _entry_form(request, who, values=values, new=False)


@router.post("/la/practitioners/save", dependencies=[Checked, *requires(P.MANAGE_REGISTER)])
def save_entry(request: Request, la: api_la.RegisterLa, ctx: Ctx, who: CurrentActor, user_id: Text = "",
               organisation: Text = "", organisation_code: Text = "", entry_la: Text = "", role: Text = "",
               service_type: Text = "", vetting_checked_on: Text = "", vetting_expires_on: Text = "",
               training_completed_on: Text = "", training_expires_on: Text = "", suspended: Text = "",
               change_reason: Text = "", new: Text = "") -> Response:
    values = dict(user_id=user_id, organisation=organisation, organisation_code=organisation_code,
                  la=entry_la,
                  role=role, service_type=service_type, vetting_checked_on=vetting_checked_on,
                  vetting_expires_on=vetting_expires_on, training_completed_on=training_completed_on,
                  training_expires_on=training_expires_on, suspended=suspended, change_reason=change_reason)
    errors: dict[str, str] = {}
    if not USER_ID.fullmatch(user_id.strip()):
        errors["user-id"] = "Enter a user name: letters, digits, dots, @ and hyphens"
    data: dict[str, object] = blank_to_none(dict(
        organisation=organisation, organisation_code=organisation_code, la=entry_la, role=role,
        service_type=service_type, change_reason=change_reason, **{d: values[d] for d in DATES}))
    data["suspended"] = suspended == "yes"
    try:
        body = RegisterBody.model_validate(data)
    except ValidationError as exc:
        errors |= errors_of(exc, REGISTER_MESSAGES)
    if errors:
        return _entry_form(request, who, status=400, values=values, errors=errors, new=new == "yes")
    api_la.save_register(user_id.strip(), body, la, ctx, who)
    return redirect("/la/practitioners?saved=true")


@router.post("/la/practitioners/enrolment", dependencies=[Checked, *requires(P.ISSUE_ENROLMENT)])
def enrolment(request: Request, ctx: Ctx, who: CurrentActor, user_id: Text = "") -> Response:
    """A one-time enrolment token, shown once, for the user to set up their authenticator app."""
    if not USER_ID.fullmatch(user_id.strip()):
        raise HTTPException(422, "that is not a user name")
    issued = api_la.issue_enrolment(user_id.strip(), ctx, who)
    return render(request, "token.html", issued=issued, hours=ctx.access.enrolment_token_hours)


# -- service-feed rows held for the LA data team (issue 15): listed as GET /la/held, dismissed ------

HELD_PAGE = 200  # as the JSON route's default limit


def _held(request: Request, la: str | None, ctx: Ctx, *, status: int = 200,
          errors: dict[str, str] | None = None, banner: str | None = None) -> Response:
    items = api_feeds.list_held(la, ctx, limit=HELD_PAGE).items
    return render(request, "held.html", status=status, items=items, dismiss_reasons=DISMISS_REASONS,
                  page=HELD_PAGE, errors=errors, banner=banner, banner_success=bool(banner))


def held_field(submission_id: int, record: str) -> str:
    """The id of a row's reason radios (and the error summary's link to them)."""
    return f"reason-{submission_id}-{record.removeprefix('line ')}"


@router.get("/la/held-rows", dependencies=requires(P.REVIEW_QUEUE))
def held(request: Request, la: api_feeds.ReviewLa, ctx: Ctx, done: str | None = None) -> Response:
    return _held(request, la, ctx, banner="The held row was dismissed." if done == "dismissed" else None)


@router.post("/la/held-rows/{submission_id}/dismissal", dependencies=[Checked, *requires(P.REVIEW_QUEUE)])
def dismiss_held(request: Request, submission_id: int, la: api_feeds.ReviewLa, ctx: Ctx, who: CurrentActor,
                 record: Text = "", reason: Text = "") -> Response:
    """The row travels in the form; its reason is one of the fixed codes (api.schemas.HeldDismissal)."""
    try:
        body = HeldDismissal.model_validate({"record": record, "reason": reason})
    except ValidationError as exc:
        if any(e["loc"][:1] == ("record",) for e in exc.errors()):
            raise HTTPException(422, "that is not a row of a held file") from None
        return _held(request, la, ctx, status=400,
                     errors={held_field(submission_id, record): f"Select why {record} is dismissed"})
    api_feeds.dismiss(submission_id, body, la, ctx, who)
    return redirect("/la/held-rows?done=dismissed")
