"""A practitioner's pages: search (reason first), the results, a child's page, the shield
override, and recording or ending their own involvement. Each calls the JSON route's own
function (api.search, api.children) behind the same dependencies, so permissions, scopes, the
view policy, reasons and audit are the API's."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from access import Permission
from access.audit import REASONS
from access.reasons import ACCESS_REASONS
from api import children as api_children
from api import search as api_search
from api.deps import Ctx, CurrentActor, requires
from api.schemas import EndBody, InvolvementBody, OverrideBody
from api.web.forms import Day, Month, Year, blank_to_none, date_from, errors_of
from api.web.pages import Checked, SignedIn, redirect, render
from index.identifiers import Scheme
from index.search import SearchQueryError
from index.vocabulary import SENSITIVE_SERVICES, ConsentBasis, ServiceType

P = Permission
router = APIRouter(include_in_schema=False, dependencies=SignedIn)
Text = Annotated[str, Form(max_length=200)]



def reasons_of(who: CurrentActor) -> list[str]:
    """The reasons the user's role may give for a search or a view (access.reasons' table), in
    the audit trail's order; their descriptions are the trail's own (access.audit.REASONS)."""
    allowed = ACCESS_REASONS.get(who.principal.role, frozenset())
    return [code for code in REASONS if code in allowed]

SCHEMES = (Scheme.UPN, Scheme.NHS_NUMBER, Scheme.ULN, Scheme.CHILD_NUMBER, Scheme.LA_REFERENCE,
           Scheme.FORMER_UPN)
SEARCH_MESSAGES = {
    "reason": "Select why you are searching",
    "family_name": "Enter a family name of 100 characters or fewer",
    "given_name": "Enter a given name of 100 characters or fewer",
    "postcode": "Enter a real postcode, like MK40 1AB",
    "identifier": "Enter the identifier, like B801200005001",
    "identifier_scheme": "Select which identifier it is",
}
DONE = {"recorded": "Your involvement has been recorded.", "ended": "Your involvement has been ended."}


def _search_field(message: str) -> str:
    """The form field a search refusal is about (the message names it, never the value)."""
    for word, field in (("postcode", "postcode"), ("date of birth", "dob-day"), ("identifier", "identifier")):
        if word in message:
            return field
    return "family-name"


@router.get("/find", dependencies=requires(P.SEARCH))
def find_page(request: Request, who: CurrentActor) -> Response:
    return render(request, "find.html", reasons_offered=reasons_of(who), schemes=SCHEMES, values={})


@router.post("/find", dependencies=[Checked, *requires(P.SEARCH)])
def find(request: Request, ctx: Ctx, who: CurrentActor, reason: Text = "", identifier_scheme: Text = "",
         identifier: Text = "", given_name: Text = "", family_name: Text = "", dob_day: Day = "",
         dob_month: Month = "", dob_year: Year = "", postcode: Text = "") -> Response:
    values = dict(reason=reason, identifier_scheme=identifier_scheme, identifier=identifier,
                  given_name=given_name, family_name=family_name, dob_day=dob_day, dob_month=dob_month,
                  dob_year=dob_year, postcode=postcode)
    data: dict[str, object] = blank_to_none(dict(
        reason=reason, identifier=identifier, given_name=given_name, family_name=family_name,
        postcode=postcode))
    if "identifier" in data:
        data["identifier_scheme"] = identifier_scheme or Scheme.UPN.value
    errors: dict[str, str] = {}
    dob = date_from(dob_day, dob_month, dob_year)
    if dob is not None:
        data["date_of_birth"] = dob if dob == "invalid" else dob.isoformat()
    results, advice = None, None
    # The JSON route's own path (api.search.audited_search): every attempt is in the trail with its
    # outcome, a refused one too, and the reason is checked against the role's.
    try:
        out = api_search.audited_search(ctx, who, json.dumps(data).encode())
        results, advice = out.results, out.advice
    except RequestValidationError as exc:
        errors = errors_of(exc, SEARCH_MESSAGES)
        if "date_of_birth" in data and "dob-day" in errors:
            errors["dob-day"] = "Date of birth must be a real date"
    except SearchQueryError as exc:
        text = str(exc)
        errors[_search_field(text)] = text[:1].upper() + text[1:].replace("_", " ")
    return render(request, "find.html", status=400 if errors else 200, errors=errors, values=values,
                  reasons_offered=reasons_of(who), schemes=SCHEMES, results=results,
                  advice=advice)


@router.get("/child/{child_id}", dependencies=requires(P.VIEW_RECORD))
def child_page(request: Request, child: api_children.Viewed, ctx: Ctx, who: CurrentActor,
               reason: str | None = None, done: str | None = None) -> Response:
    """A child's record as the view policy allows; without a stated reason, nothing is shown (or
    recorded) but the question."""
    if reason not in REASONS:
        return render(request, "reason_first.html", child_id=child.id, reasons_offered=reasons_of(who),
                      errors={"reason": "Select why you are viewing this record"} if reason else None)
    view = api_children.view_record(child, reason, ctx, who)
    return _child(request, who, view, reason, banner=DONE.get(done or ""))


def _child(request: Request, who: CurrentActor, view: object, reason: str, *, banner: str | None = None,
           overridden: bool = False) -> Response:
    return render(request, "child.html", child=view, reason=reason, banner=banner,
                  banner_success=bool(banner),
                  overridden=overridden,
                  may_override=P.SHIELD_OVERRIDE in who.principal.grants(),
                  may_involve=P.RECORD_INVOLVEMENT in who.principal.grants(),
                  may_manage=P.REVIEW_QUEUE in who.principal.grants(),
                  own_code=who.organisation_code, own_organisation=who.organisation)


@router.get("/child/{child_id}/override", dependencies=requires(P.VIEW_RECORD, P.SHIELD_OVERRIDE))
def override_page(request: Request, child: api_children.Viewed) -> Response:
    return render(request, "override.html", child_id=child.id, owning_la=child.owning_la)


@router.post("/child/{child_id}/override",
             dependencies=[Checked, *requires(P.VIEW_RECORD, P.SHIELD_OVERRIDE)])
def override(request: Request, child: api_children.Viewed, ctx: Ctx, who: CurrentActor,
             reason: Text = "") -> Response:
    try:
        body = OverrideBody.model_validate({"reason": reason})
    except ValidationError:
        return render(request, "override.html", status=400, child_id=child.id, owning_la=child.owning_la,
                      errors={"reason": "Select the reason for using the override"})
    view = api_children.shield_override(child, body, ctx, who)
    return _child(request, who, view, body.reason, overridden=True,
                  banner=f"You are seeing this shielded record under the child-protection override. An "
                         f"investigation has been opened for local authority {child.owning_la}.")


INVOLVEMENT_MESSAGES = {
    "service_type": "Select your service", "practitioner_name": "Enter a name of 200 characters or fewer",
    "contact_phone": "Enter a telephone number, like 01234 567890",
    "contact_email": "Enter an email address in the correct format, like name@example.org",
    "consent_basis": "Select the basis for recording this service",
}


def _involvement_form(request: Request, child_id: int, who: CurrentActor, *, status: int = 200,
                      errors: dict[str, str] | None = None, values: dict[str, str] | None = None) -> Response:
    services = [who.service_type] if who.service_type else list(ServiceType)
    return render(request, "involvement.html", status=status, child_id=child_id, services=services,
                  sensitive=SENSITIVE_SERVICES, bases=list(ConsentBasis), errors=errors, values=values or {})


@router.get("/child/{child_id}/involvement", dependencies=requires(P.RECORD_INVOLVEMENT))
def involvement_page(request: Request, child: api_children.Involved, who: CurrentActor) -> Response:
    return _involvement_form(request, child.id, who)


@router.post("/child/{child_id}/involvement", dependencies=[Checked, *requires(P.RECORD_INVOLVEMENT)])
def record_involvement(request: Request, child: api_children.Involved, ctx: Ctx, who: CurrentActor,
                       service_type: Text = "", practitioner_name: Text = "", contact_phone: Text = "",
                       contact_email: Text = "", lead_professional: Text = "",
                       consent_basis: Text = "") -> Response:
    values = dict(service_type=service_type, practitioner_name=practitioner_name, contact_phone=contact_phone,
                  contact_email=contact_email, lead_professional=lead_professional,
                  consent_basis=consent_basis)
    data: dict[str, object] = blank_to_none(dict(
        service_type=service_type, practitioner_name=practitioner_name, contact_phone=contact_phone,
        contact_email=contact_email, consent_basis=consent_basis))
    data["lead_professional"] = lead_professional == "yes"
    try:
        body = InvolvementBody.model_validate(data)
    except ValidationError as exc:
        return _involvement_form(request, child.id, who, status=400, values=values,
                                 errors=errors_of(exc, INVOLVEMENT_MESSAGES))
    try:
        api_children.record_involvement(child, body, ctx, who)
    except HTTPException as exc:
        if exc.status_code != 422:
            raise
        return _involvement_form(request, child.id, who, status=400, values=values,
                                 errors={"consent-basis": str(exc.detail).capitalize()})
    return redirect(f"/child/{child.id}?reason=new_involvement&done=recorded")


@router.post("/involvement/{involvement_id}/end", dependencies=[Checked, *requires(P.RECORD_INVOLVEMENT)])
def end_involvement(inv: api_children.OwnInvolvement, ctx: Ctx, who: CurrentActor) -> Response:
    api_children.end_involvement(inv, EndBody(end_date=ctx.clock().date()), ctx, who)
    return redirect(f"/child/{inv.child_id}?reason=coordinate_services&done=ended")
