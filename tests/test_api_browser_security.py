"""Browsers: a request another site could make a signed-in browser send is refused (403, audited,
no personal data) and nothing happens; the service's own pages, bearer-token clients and safe
requests are unaffected; every response carries the security headers, and personal data is
never cacheable; the OpenAPI document and Swagger UI are off unless turned on, and then served
by the service itself with the security schemes declared (issue 14, items 11 and 12)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import OWN_SCHOOL, PERSONAL, World, build_world
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from api.app import create_app
from api.errors import SESSION_COOKIE
from api.web_security import CONTENT_SECURITY_POLICY, UNKNOWN_ACTOR, cross_site_reason
from index import models as m
from index.store import transaction
from ops.slapd import DemoDirectory

OWN = "http://testserver"  # TestClient's origin
EVIL = "http://evil.example"
SEARCH = {"reason": "safeguarding", "family_name": "Pendragon", "date_of_birth": "2015-06-07"}
CENSUS = Path(__file__).parent / "data" / "ingest" / "census_markers.xml"


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(ldap_server, tmp_path_factory.mktemp("browser"))
    yield world
    world.engine.dispose()


def browser(world: World, uid: str) -> TestClient:
    """A client holding `uid`'s session cookie only, as a browser does (no bearer token)."""
    return TestClient(world.app, raise_server_exceptions=False, cookies={SESSION_COOKIE: world.sign_in(uid)})


def entries(world: World, action: str) -> list[tuple[str, str]]:
    with transaction(world.engine) as db:
        return [tuple(r) for r in db.execute(select(m.AuditEvent.actor, m.AuditEvent.outcome)
                                             .where(m.AuditEvent.action == action)
                                             .order_by(m.AuditEvent.seq))]


def last_seq(world: World) -> int:
    with transaction(world.engine) as db:
        return db.scalar(select(func.max(m.AuditEvent.seq))) or 0


def refused(world: World, response: Response, actor: str, before: int) -> None:
    """403, no personal value in the body, and exactly one new entry: the refusal."""
    assert response.status_code == 403, response.text
    assert "cross-site request refused" in response.json()["error"]
    assert not any(value in response.text for value in PERSONAL)
    with transaction(world.engine) as db:
        new = db.execute(select(m.AuditEvent.actor, m.AuditEvent.action, m.AuditEvent.outcome)
                         .where(m.AuditEvent.seq > before)).all()
    assert [tuple(r) for r in new] == [(actor, "cross_site_refused", "refused")]


def upload(client: TestClient, **headers: str) -> Response:
    return client.post(f"/schools/{OWN_SCHOOL}/submissions", headers=headers,
                       files={"file": ("census.xml", CENSUS.read_bytes(), "application/xml")})


# -- item 12: cross-site requests with the session cookie ------------------------------------------


def test_a_cookie_search_from_another_origin_is_refused_and_audited(world: World) -> None:
    client = browser(world, "pat.practitioner")
    searches, before = len(entries(world, "search")), last_seq(world)
    response = client.post("/search", json=SEARCH, headers={"Origin": EVIL})
    refused(world, response, "pat.practitioner", before)
    assert len(entries(world, "search")) == searches  # the search never ran


def test_a_cookie_upload_from_another_origin_is_refused_and_audited(world: World) -> None:
    client = browser(world, "sam.school")
    uploads, before = len(entries(world, "upload_submission")), last_seq(world)
    refused(world, upload(client, Origin=EVIL), "sam.school", before)
    assert len(entries(world, "upload_submission")) == uploads
    assert not list(world.ctx.settings.upload_dir.glob("*"))


@pytest.mark.parametrize("headers", [
    {},  # neither header: nothing shows the request came from the service's own pages
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},  # a sandboxed frame elsewhere
    {"Origin": "http://testserver.evil.example"},
    {"Origin": "https://testserver"},  # another scheme is another origin
])
def test_a_cookie_request_without_proof_of_its_origin_is_refused(world: World, headers: dict[str, str]
                                                                 ) -> None:
    client = browser(world, "pat.practitioner")
    before = last_seq(world)
    refused(world, client.post("/search", json=SEARCH, headers=headers), "pat.practitioner", before)


@pytest.mark.parametrize("headers", [
    {"Origin": OWN},
    {"Origin": "HTTP://TESTSERVER:80"},
    {"Sec-Fetch-Site": "same-origin"},
    {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
])
def test_the_services_own_pages_may_post_with_the_cookie(world: World, headers: dict[str, str]) -> None:
    client = browser(world, "pat.practitioner")
    response = client.post("/search", json=SEARCH, headers=headers)
    assert response.status_code == 200, response.text
    assert upload(browser(world, "sam.school"), Origin=OWN).status_code in (200, 201, 202)


def test_bearer_clients_and_safe_requests_are_unaffected(world: World) -> None:
    token = world.sign_in("pat.practitioner")
    plain = TestClient(world.app, raise_server_exceptions=False)
    assert plain.post("/search", json=SEARCH, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # A GET with the cookie and a foreign Origin changes nothing and is answered as usual.
    assert browser(world, "pat.practitioner").get("/me", headers={"Origin": EVIL}).status_code == 200


def test_no_other_site_may_sign_a_browser_in_or_out(world: World) -> None:
    before = last_seq(world)
    response = TestClient(world.app).post("/signin", headers={"Origin": EVIL}, json={
        "username": "pat.practitioner", "password": "x", "code": "123456"})
    refused(world, response, UNKNOWN_ACTOR, before)
    client = browser(world, "pat.practitioner")
    before = last_seq(world)
    refused(world, client.post("/signout", headers={"Origin": EVIL}), "pat.practitioner", before)
    assert client.get("/me").status_code == 200  # still signed in


def test_a_forged_or_ended_cookie_is_refused_as_no_session(world: World) -> None:
    client = TestClient(world.app, raise_server_exceptions=False, cookies={SESSION_COOKIE: "forged"})
    before = last_seq(world)
    refused(world, client.post("/search", json=SEARCH, headers={"Origin": EVIL}), UNKNOWN_ACTOR, before)


def scope(method: str, headers: dict[str, str], host: str = "index.example") -> dict[str, Any]:
    raw = [(b"host", host.encode())] + [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "method": method, "scheme": "http", "path": "/search", "headers": raw}


def test_configured_origins_replace_the_requests_own_host() -> None:
    cookie = {"Cookie": f"{SESSION_COOKIE}=abc"}
    behind_proxy = ["https://childindex.example.gov.uk"]
    assert cross_site_reason(scope("POST", {**cookie, "Origin": "https://childindex.example.gov.uk:443"}),
                             behind_proxy) is None
    # The Host the proxy forwards is not trusted once origins are configured.
    assert cross_site_reason(scope("POST", {**cookie, "Origin": "http://index.example"}), behind_proxy)
    assert cross_site_reason(scope("POST", {**cookie, "Origin": "http://index.example"}), []) is None
    for method in ("PUT", "PATCH", "DELETE"):
        assert cross_site_reason(scope(method, {**cookie, "Origin": EVIL}), []) is not None
    assert cross_site_reason(scope("GET", {**cookie, "Origin": EVIL}), []) is None


# -- item 11: headers, documentation -----------------------------------------------------------------


def assert_security_headers(response: Response, *, cacheable: bool = False) -> None:
    h = response.headers
    assert h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert "'unsafe-inline'" not in re.search(r"script-src [^;]*", h["content-security-policy"]).group(0)
    assert h["referrer-policy"] == "same-origin"
    if not cacheable:
        assert h["cache-control"] == "no-store"


def test_every_kind_of_response_carries_the_security_headers(world: World) -> None:
    token = world.sign_in("pat.practitioner")
    auth = {"Authorization": f"Bearer {token}"}
    client = world.client
    found = client.post("/search", json=SEARCH, headers=auth)
    assert found.status_code == 200 and found.json()  # personal data: never stored by a browser
    for response in (found, client.get("/me", headers=auth), client.get("/me"),  # 401
                     client.get("/no-such-page"),
                     client.post("/search", json={"reason": "nope"}, headers=auth),
                     client.post("/search", content=b"x" * (world.ctx.settings.max_json_bytes + 1),
                                 headers=auth),  # 413 from the body limit
                     client.post("/search", json=SEARCH, headers={"Origin": EVIL})):
        assert_security_headers(response)
    assert found.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_docs_are_off_unless_turned_on(world: World) -> None:
    settings = world.ctx.settings.model_copy(update={"docs": False})
    off = TestClient(create_app(context=dataclasses.replace(world.ctx, settings=settings)))
    for path in ("/docs", "/openapi.json", "/docs/init.js", "/docs/assets/swagger-ui-bundle.js", "/redoc"):
        assert off.get(path).status_code == 404, path
    assert "securitySchemes" in off.app.openapi()["components"]  # still there for `schemathesis`


def test_docs_when_on_are_served_by_the_service_itself_with_an_authorize_button(world: World) -> None:
    page = world.client.get("/docs")
    assert page.status_code == 200, page.text
    assert_security_headers(page)
    assert "<script>" not in page.text.replace(" ", "")  # no inline script: only src= scripts
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text), "an asset from another host"
    for src in re.findall(r"(?:src|href)=\"([^\"]+)\"", page.text):
        asset = world.client.get(src)
        assert asset.status_code == 200, src
        assert_security_headers(asset, cacheable=src.startswith("/docs/assets/"))
    schema = world.client.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "cookie"}
    assert schema["paths"]["/search"]["post"]["security"] == [{"bearer": []}, {"cookie": []}]
    assert "security" not in schema["paths"]["/signin"]["post"]
