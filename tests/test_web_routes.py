"""The web pages' routes beside the JSON API's: none is shadowed by a JSON route of the same
method (the API's routes are matched first), every POST page checks the CSRF token, and no page
takes a child's personal details in its address."""

from __future__ import annotations

import re

from starlette.routing import compile_path

from api.app import _routers
from api.web import administration, la, operations, oversight, practitioner, schools, signin
from api.web.csrf import checked, checked_anonymous

WEB = (signin, practitioner, schools, la, oversight, administration, operations)
# Query parameters a page may take: codes and numbers, never a name, date of birth or postcode.
ALLOWED_QUERY = {"reason", "done", "ended", "enrolled", "uploaded", "saved", "merge", "after"}


def _web_routes() -> list[object]:
    return [route for module in WEB for route in module.router.routes]


def test_no_web_page_is_shadowed_by_a_json_route() -> None:
    json_routes = [(compile_path(r.path)[0], m) for router in _routers() for r in router.routes
                   for m in getattr(r, "methods", ())]
    for route in _web_routes():
        concrete = re.sub(r"\{[^}]+\}", "1", route.path)  # type: ignore[attr-defined]
        for pattern, method in json_routes:
            assert not (method in route.methods and pattern.match(concrete)), (  # type: ignore[attr-defined]
                f"{method} {route.path} is answered by the JSON API")  # type: ignore[attr-defined]


def test_every_form_post_checks_the_csrf_token() -> None:
    for route in _web_routes():
        if "POST" not in route.methods:  # type: ignore[attr-defined]
            continue
        calls = {d.call for d in route.dependant.dependencies}  # type: ignore[attr-defined]
        assert calls & {checked, checked_anonymous}, f"POST {route.path} takes no CSRF token"  # type: ignore[attr-defined]


def test_pages_take_no_personal_details_in_the_address() -> None:
    for route in _web_routes():
        if "GET" not in route.methods:  # type: ignore[attr-defined]
            continue
        names = {p.name for p in route.dependant.query_params}  # type: ignore[attr-defined]
        assert names <= ALLOWED_QUERY, f"GET {route.path} takes {names - ALLOWED_QUERY}"  # type: ignore[attr-defined]
