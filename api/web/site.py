"""The web sub-application: its routers, its error pages and the front-end files it serves.

Mounted at / under the JSON API (whose routes are matched first), it shares the API's context:
the same store, sign-in service, search backend and clock.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from access import Forbidden, RegisterRefused, SessionInvalid
from api.context import Context
from api.errors import SESSION_COOKIE
from api.web import csrf
from api.web.pages import redirect, render
from index.search import SearchUnavailable
from matching import ReviewError

log = logging.getLogger("api.web")

# GOV.UK Frontend's built files (package.json, installed by ops/install.sh into node_modules/).
ROOT = Path(__file__).resolve().parents[2]
ASSETS = Path(os.environ.get("CHILDINDEX_WEB_ASSETS", ROOT / "node_modules/govuk-frontend/dist/govuk"))

_TITLES = {400: "The address of this page is not valid", 403: "You cannot do that",
           404: "Page not found", 405: "Page not found", 409: "That cannot be done now",
           413: "The file is too large", 422: "That cannot be done",
           503: "Sorry, the service is unavailable", 500: "Sorry, there is a problem with the service"}


def _problem(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "problem.html", status=status, title=_TITLES.get(status, _TITLES[500]),
                  message=message)


def _session(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SessionInvalid)
    response = redirect(f"/sign-in?ended={exc.reason}")
    response.delete_cookie(SESSION_COOKIE)
    return response


def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code in (404, 405):
        detail = "If you typed the web address, check it is correct."
    return _problem(request, exc.status_code, detail)


def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # The field, never the value (a mistyped name or date of birth is personal data).
    fields = sorted({".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors()[:20]})
    return _problem(request, 400, "Not valid: " + ", ".join(fields) + ".")


def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error: %s", type(exc).__name__)
    return _problem(request, 500, "Try again later. The problem has been logged.")


HANDLERS: dict[type[Exception], Any] = {
    SessionInvalid: _session,
    csrf.CsrfRefused: lambda r, _e: _problem(r, 403, "The form was sent without its security token, so "
                                             "nothing was done. Go back, reload the page and try again."),
    Forbidden: lambda r, e: _problem(r, 403, str(e).capitalize() + "."),
    RegisterRefused: lambda r, e: _problem(r, 403, str(e).capitalize() + "."),
    HTTPException: _http,
    RequestValidationError: _validation,
    SearchUnavailable: lambda r, _e: _problem(r, 503, "Search is unavailable. Try again shortly."),
    ReviewError: lambda r, e: _problem(r, 409, str(e).capitalize() + "."),
    Exception: _unexpected,
}


def create_web_app(context: Context) -> FastAPI:
    from api.web import administration, la, operations, oversight, practitioner, schools, signin

    web = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    web.state.context = context
    for kind, handler in HANDLERS.items():
        web.add_exception_handler(kind, handler)
    for module in (signin, practitioner, schools, la, oversight, administration, operations):
        web.include_router(module.router)
    if not ASSETS.is_dir():
        log.warning("GOV.UK Frontend not found at %s: run ops/install.sh (pages will be unstyled)", ASSETS)
    web.mount("/assets", StaticFiles(directory=ASSETS / "assets", check_dir=False), name="assets")
    web.mount("/static/govuk", StaticFiles(directory=ASSETS, check_dir=False), name="govuk")
    web.mount("/static/app", StaticFiles(directory=Path(__file__).parent / "static"), name="app")
    return web
