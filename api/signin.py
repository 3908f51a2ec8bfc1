"""Signing in (password, then TOTP code), enrolling a second factor, signing out: all by access."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from access import Permission
from api.deps import Ctx, CurrentActor
from api.errors import SESSION_COOKIE
from api.schemas import ConfirmBody, EnrolBody, EnrolmentOut, MeOut, SignedInOut, SignInBody

router = APIRouter(tags=["sign-in"])


def client_address(request: Request) -> str | None:
    """The client's address for its own lockout count: the peer, or behind a proxy what uvicorn
    takes from X-Forwarded-For when the proxy is trusted (--forwarded-allow-ips)."""
    return request.client.host if request.client else None


@router.post("/signin", response_model=SignedInOut)
def sign_in(body: SignInBody, ctx: Ctx, request: Request, response: Response) -> SignedInOut:
    """Both factors at once: directory password and the authenticator's current code. The
    session is an HttpOnly, SameSite=Strict cookie; a program that asks (`bearer`) gets its
    token in the body instead, to send as `Authorization: Bearer`."""
    signed = ctx.signin.sign_in(body.username, body.password, body.code, client=client_address(request))
    if not body.bearer:
        response.set_cookie(SESSION_COOKIE, signed.token, httponly=True, samesite="strict",
                            secure=ctx.settings.secure_cookie,
                            max_age=ctx.access.session_max_hours * 3600)
    p = signed.principal
    return SignedInOut(token=signed.token if body.bearer else None, expires_at=signed.expires_at,
                       user_id=p.user_id,
                       role=p.role.value, la=p.la, capabilities=sorted(c.value for c in p.capabilities))


@router.post("/enrolment", response_model=EnrolmentOut)
def enrol(body: EnrolBody, ctx: Ctx, request: Request) -> EnrolmentOut:
    """Password plus the one-time token from an administrator: a new TOTP secret (shown once)."""
    enrolment = ctx.signin.enrol(body.username, body.password, body.token, client=client_address(request))
    return EnrolmentOut(secret=enrolment.secret, provisioning_uri=enrolment.provisioning_uri)


@router.post("/enrolment/confirm", status_code=204)
def confirm(body: ConfirmBody, ctx: Ctx, request: Request) -> Response:
    """Activate the new secret with a first code from the authenticator app."""
    ctx.signin.confirm_enrolment(body.username, body.password, body.code, client=client_address(request))
    return Response(status_code=204)


@router.post("/signout", status_code=204)
def sign_out(ctx: Ctx, who: CurrentActor) -> Response:
    """End this session (a session that has already ended is refused like any other request)."""
    ctx.signin.sign_out(who.token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/me", response_model=MeOut)
def me(who: CurrentActor) -> MeOut:
    p = who.principal
    return MeOut(user_id=p.user_id, role=p.role.value, la=p.la, organisation=who.organisation,
                 organisation_code=who.organisation_code,
                 capabilities=sorted(c.value for c in p.capabilities),
                 permissions={k.value: v.value for k, v in p.grants().items()
                              if isinstance(k, Permission)})
