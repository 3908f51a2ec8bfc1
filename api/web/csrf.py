"""Cross-site request forgery: a token in a hidden field of every form, checked on every POST.

Signed in, the token is derived from the session token (a one-way hash under its own label, so
neither the page nor the database's session hash gives away the other): one per session, with
nothing to store. Before sign-in (the sign-in and enrolment forms) it is a random value kept in
a cookie of its own and repeated in the form (double submit). A refusal is a 403 page and, when
someone is signed in, an audit entry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Form, Request
from starlette.concurrency import run_in_threadpool

from api.deps import Actor, Ctx, CurrentActor, record
from index.store import transaction

FIELD = "csrf_token"
ANONYMOUS_COOKIE = "childindex_csrf"


class CsrfRefused(Exception):
    """The form's token was missing or did not match: nothing was done."""


def session_token_of(session_token: str) -> str:
    return hashlib.sha256(b"childindex csrf\0" + session_token.encode()).hexdigest()


def anonymous_token(request: Request) -> str:
    """The pre-sign-in token: the browser's cookie, or a new one (set by the page's response)."""
    return request.cookies.get(ANONYMOUS_COOKIE) or secrets.token_urlsafe(32)


def _same(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


async def checked(ctx: Ctx, who: CurrentActor, csrf_token: Annotated[str | None, Form()] = None) -> None:
    """A route dependency for a signed-in user's POST (async: only a refusal touches the store,
    in a thread)."""
    if not _same(session_token_of(who.token), csrf_token):
        await run_in_threadpool(refuse, ctx, who)


def refuse(ctx: Ctx, who: Actor) -> None:
    with transaction(ctx.engine) as db:
        record(db, who, "request_refused", outcome="forbidden", at=ctx.clock())
    raise CsrfRefused


def checked_anonymous(request: Request, csrf_token: Annotated[str | None, Form()] = None) -> None:
    """A route dependency for a POST before sign-in (no one to audit yet)."""
    cookie = request.cookies.get(ANONYMOUS_COOKIE)
    if cookie is None or not _same(cookie, csrf_token):
        raise CsrfRefused
