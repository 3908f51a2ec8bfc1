"""The administrator's pages: unlock a user, and read or change the run-time configuration
(enrolment tokens: the register page, api.web.la). Each calls api.administration's own function
behind its permissions."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from access import Permission
from api import administration as api_admin
from api.deps import Ctx, CurrentActor, requires
from api.schemas import ConfigurationBody, ConfigurationOut
from api.web.forms import blank_to_none, errors_of
from api.web.pages import Checked, SignedIn, render

P = Permission
router = APIRouter(include_in_schema=False, dependencies=SignedIn)
Text = Annotated[str, Form(max_length=64)]
USER_ID = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")  # as api.administration's UserId
# The settings offered for change (ConfigurationBody's), with what each means.
SETTINGS = {
    "lockout_threshold": "Failed sign-ins before a user is locked out",
    "lockout_minutes": "Minutes a lockout lasts",
    "session_idle_minutes": "Minutes of no use before a session ends",
    "enrolment_token_hours": "Hours an enrolment token can be used",
    "unusual_use_factor": "Times the peer median of children viewed that flags a user",
    "unusual_use_min_children": "Fewest children viewed before a user can be flagged",
}


def _page(request: Request, ctx: Ctx, who: CurrentActor, *, status: int = 200, banner: str | None = None,
          errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
          configuration: ConfigurationOut | None = None) -> Response:
    configuration = configuration or api_admin.read_configuration(ctx, who)
    current = configuration.model_dump()
    return render(request, "admin.html", status=status, banner=banner, banner_success=bool(banner),
                  errors=errors, settings=SETTINGS, current=current,
                  values=values or {k: str(current[k]) for k in SETTINGS})


@router.get("/admin", dependencies=requires(P.CONFIGURE))
def admin_page(request: Request, ctx: Ctx, who: CurrentActor) -> Response:
    return _page(request, ctx, who)


@router.post("/admin/unlock", dependencies=[Checked, *requires(P.UNLOCK, P.CONFIGURE)])
def unlock(request: Request, ctx: Ctx, who: CurrentActor, user_id: Text = "") -> Response:
    if not USER_ID.fullmatch(user_id.strip()):
        return _page(request, ctx, who, status=400,
                     errors={"user-id": "Enter a user name: letters, digits, dots, @ and hyphens"})
    out = api_admin.unlock(user_id.strip(), ctx, who)
    return _page(request, ctx, who, banner=f"{out.user_id} is unlocked." if out.cleared
                 else f"{out.user_id} was not locked out.")


@router.post("/admin/configuration", dependencies=[Checked, *requires(P.CONFIGURE)])
def configure(request: Request, ctx: Ctx, who: CurrentActor, lockout_threshold: Text = "",
              lockout_minutes: Text = "", session_idle_minutes: Text = "", enrolment_token_hours: Text = "",
              unusual_use_factor: Text = "", unusual_use_min_children: Text = "") -> Response:
    values = dict(lockout_threshold=lockout_threshold, lockout_minutes=lockout_minutes,
                  session_idle_minutes=session_idle_minutes, enrolment_token_hours=enrolment_token_hours,
                  unusual_use_factor=unusual_use_factor, unusual_use_min_children=unusual_use_min_children)
    try:
        body = ConfigurationBody.model_validate(blank_to_none(values))
    except ValidationError as exc:
        messages = {k: f"{v}: enter a number in the allowed range" for k, v in SETTINGS.items()}
        return _page(request, ctx, who, status=400, values=values, errors=errors_of(exc, messages))
    configuration = api_admin.change_configuration(body, ctx, who)
    return _page(request, ctx, who, banner="The configuration was changed (on every worker, and kept).",
                 configuration=configuration)
