"""Request ids, JSON log lines and Prometheus metrics for every request (counts only, never a value).

`Observe` is the outermost middleware: it gives each request an id (the caller's `X-Request-ID`
when it is a short token, else a new one), puts it in a context variable that every log record
of the request picks up, returns it in the response header, writes one log line per request
(method, route *template*, status, duration: never the path, whose ids would tie a log line to a
child, nor the query string) and counts the request in the app's own metrics registry.

Logs are JSON lines (`JsonLines`): time, level, logger, message, request id. The message is the
code's own format string filled in, and the code never logs a value from a request or the store
(tests/test_operations.py runs the API journeys with a capturing handler and looks for every
personal value of the synthetic children).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("api.requests")

REQUEST_ID_HEADER = "x-request-id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Routes whose outcome is a metric of its own (path templates as FastAPI declares them).
SIGN_IN_ROUTE = "/signin"
SEARCH_ROUTE = "/search"
VIEW_ROUTES = frozenset({"/children/{child_id}", "/children/{child_id}/override"})


class JsonLines(logging.Formatter):
    """One JSON object a line: the fields below and nothing else (no exception text: it may
    quote a value; the exception's class is kept)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        for extra in ("method", "route", "status", "duration_ms"):
            if hasattr(record, extra):
                line[extra] = getattr(record, extra)
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> logging.Handler:
    """Send every log record of the process to standard error as JSON lines (the service's
    workers call this at start-up; uvicorn is told not to configure logging itself)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return handler


@dataclass
class RequestMetrics:
    """The app's own registry (one per app, so that several apps in one process never clash)."""

    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter("childindex_http_requests", "HTTP requests by route template, method "
                                "and status", ["route", "method", "status"], registry=r)
        self.latency = Histogram("childindex_http_request_duration_seconds", "Request latency by route "
                                 "template", ["route"], registry=r,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.signin_failures = Counter("childindex_signin_failures", "Sign-ins refused (any reason "
                                       "but a lockout)", registry=r)
        self.lockouts = Counter("childindex_signin_lockouts", "Sign-ins refused because the user is "
                                "locked out", registry=r)
        self.searches = Counter("childindex_searches", "Searches answered", registry=r)
        self.views = Counter("childindex_record_views", "Child records shown", registry=r)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        if route == SIGN_IN_ROUTE and status >= 400:
            (self.lockouts if status == 429 else self.signin_failures).inc()
        elif route == SEARCH_ROUTE and status == 200:
            self.searches.inc()
        elif route in VIEW_ROUTES and status == 200:
            self.views.inc()


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class Observe:
    """Request id, one log line and the metrics of each HTTP request."""

    def __init__(self, app: ASGIApp, *, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        rid = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (REQUEST_ID_HEADER.encode(), rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = _route_of(scope)
            method = scope.get("method", "")
            self.metrics.observe(route, method, status, seconds)
            log.info("request", extra={"method": method, "route": route, "status": status,
                                       "duration_ms": round(seconds * 1000, 1), "request_id": rid})
            request_id.reset(token)
