"""Everyone's pages: sign in (user name, password, code), first sign-in with an enrolment token
(a QR code and the secret to type), sign out, and the message when a session has ended. The work
is access.SignIn's, as for POST /signin and /enrolment."""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from access import SessionInvalid, SignInRefused
from api.deps import Ctx, actor, session_token
from api.errors import _SIGNIN_STATUS, SESSION_COOKIE
from api.signin import client_address
from api.web import csrf
from api.web.pages import home_of, redirect, render

router = APIRouter(include_in_schema=False)
Field = Annotated[str, Form(max_length=200)]
Anonymous = [Depends(csrf.checked_anonymous)]

# Why a session ended (access.sessions.SessionInvalid.reason, or signed_out) -> what to say.
ENDED = {
    "idle": "You were signed out because you had not used the service for a while. Sign in again "
            "to continue.",
    "expired": "Your session reached its time limit, so you were signed out. Sign in again to continue.",
    "revoked": "Your session was ended (you signed out elsewhere, or your access changed). Sign in again.",
    "unknown": "You need to sign in to use the service.",
    "missing": "You need to sign in to use the service.",
    "signed_out": "You have signed out.",
}
# Which field a refusal's message belongs to (the message itself is access's, deliberately coarse
# where detail would help an attacker).
REFUSAL_FIELD = {"totp_malformed": "code", "totp_wrong": "code", "totp_replayed": "code",
                 "totp_not_enrolled": "code", "enrolment_unknown": "token", "enrolment_used": "token",
                 "enrolment_expired": "token", "enrolment_wrong_user": "token"}


# What each field of the sign-in and enrolment forms is called when it is left empty.
FIELD_LABELS = {"username": "user name", "password": "password",
                "code": "6-digit code from your authenticator app", "token": "enrolment token"}


def _missing(**fields: str) -> dict[str, str]:
    """The fields left empty, each with its message, in the form's order."""
    return {name: f"Enter your {FIELD_LABELS[name]}" for name, value in fields.items() if not value.strip()}


def _message(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:]


@router.get("/")
def home(request: Request, ctx: Ctx) -> Response:
    try:
        who = actor(ctx, session_token(request))
    except SessionInvalid:
        return redirect("/sign-in")
    return redirect(home_of(who))


@router.get("/signed-in")
def signed_in(request: Request, ctx: Ctx) -> Response:
    """The home of a role with no pages of its own (every role has some today: a safety net)."""
    who = actor(ctx, session_token(request))
    return render(request, "problem.html", who=who, title="There are no pages for your role",
                  message="Use the service's API or its command line.")


@router.get("/sign-in")
def sign_in_page(request: Request, ended: str | None = None, enrolled: bool = False) -> Response:
    banner = ENDED.get(ended or "") or ("Your authenticator app is set up. Sign in with a code from it."
                                        if enrolled else None)
    return render(request, "sign_in.html", banner=banner, banner_success=enrolled, values={})


@router.post("/sign-in", dependencies=Anonymous)
def sign_in(request: Request, ctx: Ctx, username: Field = "", password: Field = "",
            code: Annotated[str, Form(max_length=16)] = "") -> Response:
    errors = _missing(username=username, password=password, code=code)
    if not errors:
        try:
            signed = ctx.signin.sign_in(username.strip(), password, code.strip(),
                                       client=client_address(request))
        except SignInRefused as exc:
            errors = {REFUSAL_FIELD.get(exc.reason, "username"): _message(exc)}
            status = _SIGNIN_STATUS.get(exc.reason, 401)
        else:
            response = redirect("/")
            response.set_cookie(SESSION_COOKIE, signed.token, httponly=True, samesite="strict",
                                secure=ctx.settings.secure_cookie,
                                max_age=ctx.access.session_max_hours * 3600)
            response.delete_cookie(csrf.ANONYMOUS_COOKIE)
            return response
    else:
        status = 400
    return render(request, "sign_in.html", status=status, errors=errors, values={"username": username})


@router.get("/sign-in/enrol")
def enrol_page(request: Request) -> Response:
    return render(request, "enrol.html", values={})


@router.post("/sign-in/enrol", dependencies=Anonymous)
def enrol(request: Request, ctx: Ctx, username: Field = "", password: Field = "",
          token: Field = "") -> Response:
    errors = _missing(username=username, password=password, token=token)
    if not errors:
        try:
            enrolment = ctx.signin.enrol(username.strip(), password, token.strip(),
                                         client=client_address(request))
        except SignInRefused as exc:
            errors = {REFUSAL_FIELD.get(exc.reason, "username"): _message(exc)}
        else:
            qr = segno.make(enrolment.provisioning_uri, error="m")
            svg = qr.svg_inline(scale=4, title="QR code for your authenticator app", omitsize=True)
            return render(request, "enrol_confirm.html", qr=svg, secret=enrolment.secret,
                          values={"username": username.strip()})
    return render(request, "enrol.html", status=400, errors=errors, values={"username": username})


@router.post("/sign-in/enrol/confirm", dependencies=Anonymous)
def confirm(request: Request, ctx: Ctx, username: Field = "", password: Field = "",
            code: Annotated[str, Form(max_length=16)] = "") -> Response:
    errors = _missing(username=username, password=password, code=code)
    if not errors:
        try:
            ctx.signin.confirm_enrolment(username.strip(), password, code.strip(),
                                         client=client_address(request))
        except SignInRefused as exc:
            errors = {REFUSAL_FIELD.get(exc.reason, "username"): _message(exc)}
        else:
            return redirect("/sign-in?enrolled=true")
    return render(request, "enrol_confirm.html", status=400, errors=errors, qr=None, secret=None,
                  values={"username": username})


@router.get("/sign-out")
def sign_out(request: Request, ctx: Ctx) -> Response:
    """A link, not a form: the session cookie is SameSite=Strict, so another site cannot make a
    browser send it here, and signing out is what the link says."""
    try:
        who = actor(ctx, session_token(request))
    except SessionInvalid:
        pass
    else:
        ctx.signin.sign_out(who.token)
    response = redirect("/sign-in?ended=signed_out")
    response.delete_cookie(SESSION_COOKIE)
    return response
