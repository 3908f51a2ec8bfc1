"""What a browser needs to be told, and what it must not be allowed to do on a user's behalf.

Two ASGI middlewares, outside every route (the JSON API, the documentation and any
server-rendered page alike):

- `SecurityHeaders` sets a Content-Security-Policy (own origin only, no inline script, no
  framing), `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, a same-origin
  referrer policy and `Cache-Control: no-store` on everything but static assets, so that no
  response with personal data is kept by a browser or a shared cache. A route may send its own
  CSP (the documentation page does); the others are always set.
- `SameOrigin` refuses (403, audited) an unsafe request (POST, PUT, PATCH, DELETE) that another
  site could have made a browser send: a foreign `Origin`, a `Sec-Fetch-Site` of `cross-site`
  or `same-site`, or a session cookie without a bearer token and with no proof of coming from
  the service's own pages (an `Origin` that matches, or `Sec-Fetch-Site: same-origin`/`none`).
  The cookie's `SameSite=Strict` is the first defence; this is the second, for browsers and
  proxies that do not honour it. Bearer-token clients send neither header and are unaffected.
  Server-rendered forms add a per-session CSRF token of their own on top.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie

import anyio.to_thread
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from access import audit
from access.totp import token_digest
from api.context import Context
from api.errors import SESSION_COOKIE
from index import models as m
from index.store import transaction

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# The web pages' sign-out is a link (api.web.signin.sign_out).
STATE_CHANGING_GETS = frozenset({"/sign-out"})
# The service's own pages and fetches; `none` is a request the user started (typed, bookmarked).
TRUSTED_FETCH_SITES = frozenset({"same-origin", "none"})
# Static assets are the same for everyone and may be cached; nothing else may.
STATIC_PREFIXES = ("/static/", "/docs/assets/", "/assets/")
UNKNOWN_ACTOR = "(no session)"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # `same-origin`, not `no-referrer`: with no-referrer a browser sends `Origin: null` on the
    # service's own form posts, which SameOrigin would then have to take on trust.
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
_OWN_HEADERS = frozenset(name for name, _ in _ALWAYS) | {b"cache-control", b"strict-transport-security"}


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith(STATIC_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OWN_HEADERS
                           or (static and k.lower() == b"cache-control")]
                headers += _ALWAYS
                if not any(k.lower() == b"content-security-policy" for k, _ in headers):
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                if self.https:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def normalise_origin(origin: str) -> str:
    """`scheme://host[:port]`, lower case, without the scheme's default port."""
    origin = origin.strip().rstrip("/").lower()
    for scheme, port in (("http://", ":80"), ("https://", ":443")):
        if origin.startswith(scheme) and origin.endswith(port):
            return origin[: -len(port)]
    return origin


def _own_origin(scope: Scope, headers: dict[bytes, bytes]) -> str:
    host = headers.get(b"host", b"").decode("latin-1")
    return normalise_origin(f"{scope.get('scheme', 'http')}://{host}")


def cross_site_reason(scope: Scope, allowed_origins: Iterable[str]) -> str | None:
    """Why this request must be refused as one another site could have made, or None."""
    headers = {k.lower(): v for k, v in scope.get("headers") or []}
    origin = headers.get(b"origin", b"").decode("latin-1").strip()
    site = headers.get(b"sec-fetch-site", b"").decode("latin-1").strip().lower()
    if scope.get("method", "GET") in SAFE_METHODS:
        # A link that changes something: SameSite=Strict sends the cookie on a request from
        # another port of the same host (an <img> there signed the user out), so the browser's
        # own word that it came from another site refuses it; a browser that sends no such
        # header is trusted with it, as before.
        if scope.get("path") in STATE_CHANGING_GETS and site in {"cross-site", "same-site"}:
            return "the request came from another site"
        return None
    allowed = set(allowed_origins) or {_own_origin(scope, headers)}
    if origin and origin != "null":
        # No CORS is configured, so no other origin has any business sending an unsafe request,
        # signed in or not (that also stops another site signing a browser in as someone else).
        return None if normalise_origin(origin) in allowed else "the request came from another origin"
    if site in {"cross-site", "same-site"}:
        return "the request came from another site"
    if _session_cookie(headers) is not None and not _bearer(headers) and site not in TRUSTED_FETCH_SITES:
        return "a request with a session cookie must come from the service's own pages (Origin header)"
    return None


def _bearer(headers: dict[bytes, bytes]) -> bool:
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _session_cookie(headers: dict[bytes, bytes]) -> str | None:
    raw = headers.get(b"cookie")
    if not raw:
        return None
    try:
        jar = SimpleCookie(raw.decode("latin-1"))
    except CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def _record_refusal(ctx: Context, token: str | None) -> None:
    """An entry for the refusal, by the session's user if the cookie names a session (its
    idle clock is not moved: the user did not make this request)."""
    with transaction(ctx.engine) as db:
        row = None
        if token:
            row = db.execute(select(m.AccessSession.user_id, m.AccessSession.role, m.AccessSession.la)
                             .where(m.AccessSession.token_hash == token_digest(token))).first()
        audit.append(db, audit.Event(
            actor=row.user_id if row else UNKNOWN_ACTOR, action="cross_site_refused", outcome="refused",
            actor_role=row.role if row else None, actor_la=row.la if row else None, at=ctx.clock()))


class SameOrigin:
    def __init__(self, app: ASGIApp, *, context: Context, allowed_origins: Iterable[str]) -> None:
        self.app = app
        self.context = context
        self.allowed = frozenset(normalise_origin(o) for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reason = cross_site_reason(scope, self.allowed)
        if reason is None:
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers") or []}
        await anyio.to_thread.run_sync(_record_refusal, self.context, _session_cookie(headers))
        body = json.dumps({"error": f"cross-site request refused: {reason}"}).encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
