"""Errors as clear JSON, never a traceback and never a personal value.

Every refusal is `{"error": "...", ...}`; validation errors list the field and the reason but
never echo the input (FastAPI's default does, and a mistyped name or date of birth is personal
data).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from access import Forbidden, NotRegistered, RegisterRefused, SessionInvalid, SignInRefused
from access.rate_limits import RateLimited
from index.search import SearchQueryError, SearchUnavailable
from matching import ReviewError

log = logging.getLogger("api")

SESSION_COOKIE = "childindex_session"

# Sign-in refusals whose status is not 401.
_SIGNIN_STATUS = {
    "locked": 429, "directory_error": 503,
    "not_registered": 403, "suspended": 403, "vetting_expired": 403,
    "training_not_completed": 403, "training_expired": 403, "no_role": 403, "role_mismatch": 403,
}


def error(status_code: int, message: str, /, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status_code == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status_code, headers=headers)


def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "reason": e.get("msg", "not valid")}
        for e in exc.errors()[:20]
    ]
    return error(422, "request not valid", details=details)


def _model(_request: Request, exc: Exception) -> JSONResponse:
    """A model built inside a handler (e.g. a register entry) refused: the same shape as 422s."""
    assert isinstance(exc, ValidationError)
    details = [{"field": ".".join(str(p) for p in e.get("loc", ())), "reason": e.get("msg", "not valid")}
               for e in exc.errors()[:20]]
    return error(422, "request not valid", details=details)


def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if isinstance(exc.detail, dict):  # a message with facts beside it (e.g. where a child went)
        body = {"error": str(exc.detail.get("message", "request refused")),
                **{k: v for k, v in exc.detail.items() if k != "message"}}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    return JSONResponse({"error": detail}, status_code=exc.status_code, headers=exc.headers)


def _session(_request: Request, exc: Exception) -> JSONResponse:
    response = error(401, str(exc))
    response.delete_cookie(SESSION_COOKIE)
    return response


def _signin(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SignInRefused)
    return error(_SIGNIN_STATUS.get(exc.reason, 401), str(exc))


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    # The exception's text may hold a value from the database: log its type only.
    log.error("unexpected error: %s", type(exc).__name__)
    return error(500, "the service could not complete this request; it has been logged")


HANDLERS: dict[type[Exception], Any] = {
    RequestValidationError: _validation,
    ValidationError: _model,
    HTTPException: _http,
    SessionInvalid: _session,
    SignInRefused: _signin,
    RegisterRefused: lambda _r, exc: error(403, str(exc), status=exc.status.value),
    Forbidden: lambda _r, exc: error(403, str(exc)),
    NotRegistered: lambda _r, exc: error(404, str(exc)),
    SearchQueryError: lambda _r, exc: error(422, str(exc)),
    RateLimited: lambda _r, exc: JSONResponse({"error": str(exc)}, status_code=429,
                                              headers={"Retry-After": str(exc.retry_after)}),
    SearchUnavailable: lambda _r, _exc: error(503, "search is unavailable; try again shortly"),
    ReviewError: lambda _r, exc: error(409, str(exc)),
    Exception: _unexpected,
}


def install(app: FastAPI) -> None:
    for kind, handler in HANDLERS.items():
        app.add_exception_handler(kind, handler)
