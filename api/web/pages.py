"""Rendering: the Jinja environment (our templates plus the GOV.UK Design System's macros from
govuk-frontend-jinja) and the one function every handler ends with.

What every page carries (service name, who is signed in and their organisation, sign-out, the
lawful-use reminder) is in `templates/layout.html`; the navigation is a table from permission to
page, so a user sees links to what their role may do (the routes still check, on every request).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader, select_autoescape

from access import Permission
from access.audit import REASONS
from api.deps import Actor, CurrentActor
from api.web import csrf

P = Permission
SERVICE_NAME = "Child index"
TEMPLATES = Path(__file__).parent / "templates"

# Navigation: (permission that the page needs, label, address). The first one a user's role
# grants is their home page.
NAV: tuple[tuple[Permission, str, str], ...] = (
    (P.SEARCH, "Find a child", "/find"),
    (P.UPLOAD_SUBMISSION, "Submissions", "/school"),
    (P.REVIEW_QUEUE, "Review queue", "/la/review-queue"),
    (P.REVIEW_QUEUE, "Held rows", "/la/held-rows"),
    (P.MANAGE_REGISTER, "Register", "/la/practitioners"),
    (P.READ_AUDIT, "Oversight", "/oversight"),
    (P.UNLOCK, "Administration", "/admin"),
    (P.READ_RUNS, "Nightly run", "/operations"),
)

# Headers of every page: never cached (personal data), and a Content-Security-Policy stricter than
# the service's default (api.web_security, which adds the other security headers): scripts,
# styles, fonts and images from the service itself only, no inline script or style, no data: URLs.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
        "connect-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"),
}


def _date(value: dt.date | dt.datetime | None) -> str:
    """A date as the Design System writes it (7 June 2015); a time in UTC with its date."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        at = value if value.tzinfo is None else value.astimezone(dt.UTC)
        return f"{at.day} {at:%B %Y}, {at:%H:%M} UTC"
    return f"{value.day} {value:%B %Y}"


# Abbreviations that stay in capitals when a code is shown as words.
_CAPITALS = {"la": "LA", "upn": "UPN", "nhs": "NHS", "uln": "ULN", "gp": "GP", "camhs": "CAMHS",
             "caf": "CAF", "ctf": "CTF"}


def _words(code: str | None) -> str:
    """A code as words: health_visitor -> Health visitor, la_data_team -> LA data team."""
    words = (code or "").replace("_", " ").split(" ")
    text = " ".join(_CAPITALS.get(w.lower(), w) for w in words)
    return text[:1].upper() + text[1:]


environment = Environment(
    loader=ChoiceLoader([
        FileSystemLoader(TEMPLATES),
        PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
    ]),
    autoescape=select_autoescape(default=True),
    trim_blocks=True, lstrip_blocks=True,
    # Templates are part of the installed code: never re-read from disk while serving (the
    # check stats every template a page imports, on every render).
    auto_reload=False,
)
environment.filters["date"] = _date
environment.filters["words"] = _words
environment.globals.update(service_name=SERVICE_NAME, reasons=REASONS, govukRebrand=True)


def nav_of(who: Actor | None) -> list[tuple[str, str]]:
    if who is None:
        return []
    grants = who.principal.grants()
    return [(label, href) for needed, label, href in NAV if needed in grants]


def home_of(who: Actor) -> str:
    items = nav_of(who)
    return items[0][1] if items else "/signed-in"


def render(request: Request, template: str, *, who: Actor | None = None, status: int = 200,
           **values: Any) -> HTMLResponse:
    """The page, with what every page carries and the page headers."""
    who = who or getattr(request.state, "who", None)
    anonymous = None
    if who is not None:
        token = csrf.session_token_of(who.token)
    else:
        token = anonymous = csrf.anonymous_token(request)
    html = environment.get_template(template).render(
        who=who, nav=nav_of(who), path=request.url.path, csrf_field=csrf.FIELD, csrf_token=token,
        **values)
    response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
    if anonymous is not None and request.cookies.get(csrf.ANONYMOUS_COOKIE) != anonymous:
        response.set_cookie(csrf.ANONYMOUS_COOKIE, anonymous, httponly=True, samesite="strict",
                            secure=request.app.state.context.settings.secure_cookie)
    return response


def redirect(to: str) -> RedirectResponse:
    """After a POST: see the result with a GET (the address carries no personal data)."""
    return RedirectResponse(to, status_code=303, headers={"Cache-Control": "no-store"})


async def remember(request: Request, who: CurrentActor) -> Actor:
    """A router dependency of the signed-in pages: the session is checked (api.deps.actor) and
    its user kept for the page, and for an error page, to show. (Async: no work to move to a
    thread, so no hop to one.)"""
    request.state.who = who
    return who


SignedIn = [Depends(remember)]
Checked = Depends(csrf.checked)
