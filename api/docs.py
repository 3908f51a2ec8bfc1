"""The OpenAPI document and its Swagger UI page, both off unless `CHILDINDEX_API_DOCS` is on
(the demo turns it on): a deployment need not describe itself to whoever can reach it.

The document declares how requests are authenticated (a bearer token, or the session cookie a
browser holds), so the page has an Authorize button. Swagger UI's files are served by the
service itself from `swagger-ui-dist` (fetched at a pinned version and checksum by
ops/install.sh), never from a CDN: a deployment may have no internet, and a page that pulls
script from elsewhere runs whatever that host serves. The page has no inline script, so the
service's Content-Security-Policy holds; Swagger UI does set inline styles, so this one page
allows those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.staticfiles import StaticFiles

from api.deps import session_token
from api.errors import SESSION_COOKIE

# The version ops/install.sh fetches; a new one is a change there and here.
SWAGGER_UI_VERSION = "5.36.0"
DEFAULT_ASSETS = Path(__file__).resolve().parents[1] / ".cache" / f"swagger-ui-dist-{SWAGGER_UI_VERSION}"
ASSETS_PATH = "/docs/assets"
OPENAPI_PATH = "/openapi.json"

SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "The token from POST /signin, as `Authorization: Bearer <token>`."},
    "cookie": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
               "description": "The session cookie set by POST /signin (browsers)."},
}
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
PAGE = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Child index: API documentation</title>
<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""
INIT = f"""window.ui = SwaggerUIBundle({{
  url: "{OPENAPI_PATH}", dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"
}});
"""


def _needs_session(dependant: Dependant) -> bool:
    return any(d.call is session_token or _needs_session(d) for d in dependant.dependencies)


def _api_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """(path, route) of every route, within included routers too (FastAPI may keep an included
    router as one entry holding the original)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _api_routes(inner.routes, prefix + getattr(route.include_context, "prefix", ""))
        elif isinstance(route, APIRoute):
            yield prefix + route.path_format, route


def with_security(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """`app.openapi` that also declares the security schemes, on every operation needing a session."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        for path, route in _api_routes(app.routes):
            if _needs_session(route.dependant):
                for method in route.methods:
                    operation = schema["paths"].get(path, {}).get(method.lower())
                    if operation is not None:
                        operation["security"] = [{"bearer": []}, {"cookie": []}]
        app.openapi_schema = schema
        return schema

    return openapi


def install(app: FastAPI, *, enabled: bool, assets: Path | None) -> None:
    """Declare the security schemes; with `enabled`, serve the document, the page and its files."""
    app.openapi = with_security(app)  # type: ignore[method-assign]
    if not enabled:
        return
    folder = assets or DEFAULT_ASSETS

    def document(_request: Request) -> Response:
        return JSONResponse(app.openapi())

    def page(_request: Request) -> Response:
        if not (folder / "swagger-ui-bundle.js").is_file():
            return JSONResponse({"error": f"Swagger UI is not installed in {folder}: run ops/install.sh"},
                                status_code=503)
        return HTMLResponse(PAGE, headers={"Content-Security-Policy": PAGE_CSP})

    def init(_request: Request) -> Response:
        return Response(INIT, media_type="text/javascript")

    app.add_route(OPENAPI_PATH, document, include_in_schema=False)
    app.add_route("/docs", page, include_in_schema=False)
    app.add_route("/docs/init.js", init, include_in_schema=False)
    app.mount(ASSETS_PATH, StaticFiles(directory=folder, check_dir=False), name="swagger-ui")
