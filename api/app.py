"""The application: `create_app(settings)` or `create_app(context=...)` -> FastAPI.

Routers are attached here with their role checks (api.deps); handlers stay thin. Request bodies
are limited in size before they are read into memory, errors are clear JSON without personal
values (api.errors), browsers get security headers and cross-site requests are refused
(api.web_security), and the OpenAPI documentation is served at /docs when turned on (api.docs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from access.checkpoints import PeriodicCheckpoints
from api import docs, errors
from api.context import ApiSettings, Context
from api.observability import Observe, RequestMetrics
from api.web_security import SameOrigin, SecurityHeaders

UPLOAD_PATH_MARK = "/submissions"


class BodyLimit:
    """Refuse a request body larger than allowed (413) without reading it all: the declared
    Content-Length is checked first, and the bytes actually received are counted as they come."""

    def __init__(self, app: ASGIApp, *, json_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.json_bytes = json_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.upload_bytes if path.endswith(UPLOAD_PATH_MARK) else self.json_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = True
            if too_big:
                await _refuse(send, limit)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, counted, send)
        except BodyTooLarge:
            await _refuse(send, limit)


class BodyTooLarge(HTTPException):
    """An HTTPException, so that FastAPI's body reading passes it on as a 413 (it turns other
    errors raised while reading into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than the {limit} bytes allowed here")


async def _refuse(send: Send, limit: int) -> None:
    response = errors.error(413, f"request body larger than the {limit} bytes allowed here")
    await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def create_app(settings: ApiSettings | None = None, *, context: Context | None = None) -> FastAPI:
    """The service. With `context` (tests, the demo, benchmarks) its engine, sign-in service,
    search backend and clock are used; otherwise they are built from `settings`."""
    if context is None:
        context = Context.from_settings(settings or ApiSettings())
    threads = context.settings.request_threads

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        checkpoints = PeriodicCheckpoints(context.engine)  # of the audit trail's head (access.anchor)
        checkpoints.start()
        yield
        await anyio.to_thread.run_sync(checkpoints.stop)

    app = FastAPI(
        lifespan=lifespan,
        title="Child index",
        summary="Who else is working with a child, and how to contact them.",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # api.docs serves it, when turned on
    )
    app.state.context = context
    errors.install(app)
    for router in _routers():
        app.include_router(router)
    app.add_middleware(BodyLimit, json_bytes=context.settings.max_json_bytes,  # type: ignore[arg-type]
                       upload_bytes=context.settings.max_upload_bytes)
    docs.install(app, enabled=context.settings.docs, assets=context.settings.docs_assets_dir)
    # The web pages (api.web), mounted last: matched after every JSON and documentation route, with
    # HTML error pages of their own.
    from api.web import create_web_app

    app.mount("/", create_web_app(context))
    app.add_middleware(SameOrigin, context=context,  # type: ignore[arg-type]
                       allowed_origins=context.settings.allowed_origins)
    app.state.metrics = _metrics(context)
    app.add_middleware(Observe, metrics=app.state.metrics)  # type: ignore[arg-type]
    # Outermost: every response, a refusal by any layer inside too, carries the security headers.
    app.add_middleware(SecurityHeaders, https=context.settings.secure_cookie)  # type: ignore[arg-type]
    return app


def _metrics(context: Context) -> RequestMetrics:
    from api.operations import StoreGauges

    metrics = RequestMetrics()
    metrics.registry.register(StoreGauges(context.engine, context.clock))
    return metrics


def _routers() -> list[Any]:
    from api import (
        administration,
        children,
        federation,
        feeds,
        la,
        operations,
        oversight,
        schools,
        search,
        signin,
        subject_access,
    )

    return [signin.router, search.router, children.router, la.router, oversight.router, schools.router,
            feeds.router, administration.router, operations.router, subject_access.router, federation.router]
