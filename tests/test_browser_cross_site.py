"""Items 11 and 12 in a real browser (Debian's headless Chromium): another origin on the same
site (another port of the same host, which `SameSite=Strict` does not stop) makes the browser of
a signed-in user post a form to the service: refused, audited, the session untouched. And the
Swagger UI page renders under the service's Content-Security-Policy with an Authorize button
for both schemes, without a single request leaving the service."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from api_world import World, build_world
from browser_world import BROWSER_TESTS, PageChecks, serving
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from api.errors import SESSION_COOKIE
from index import models as m
from index.store import transaction

pytestmark = BROWSER_TESTS


@pytest.fixture(scope="module")
def world(ldap_server: Any, tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(ldap_server, tmp_path_factory.mktemp("cross-site"))


def evil_site(target: str) -> Starlette:
    """A page that, once opened, posts a form to the service (no script from the service)."""
    page = (f'<!doctype html><html lang="en"><title>win a prize</title><body>'
            f'<form method="post" action="{target}/signout"></form>'
            "<script>document.forms[0].submit()</script></body></html>")
    return Starlette(routes=[Route("/", lambda _request: HTMLResponse(page))])


def test_a_page_on_another_port_cannot_post_with_the_users_cookie(world: World, site: str,
                                                                  browser: Any) -> None:
    token = world.sign_in("pat.practitioner")
    context = browser.new_context()
    host = urlsplit(site).hostname
    context.add_cookies([{"name": SESSION_COOKIE, "value": token, "domain": host, "path": "/",
                          "httpOnly": True, "sameSite": "Strict"}])
    page = context.new_page()
    with serving(evil_site(site)) as evil, page.expect_response(
            lambda r: r.url.startswith(f"{site}/signout"), timeout=15_000) as answer:
        page.goto(evil, wait_until="commit")
    response = answer.value
    status, sent = response.status, response.request.headers
    context.close()
    assert status == 403
    assert sent.get("origin") == evil  # the browser said where the form came from
    with transaction(world.engine) as db:
        last = db.execute(select(m.AuditEvent.actor, m.AuditEvent.action, m.AuditEvent.outcome)
                          .order_by(m.AuditEvent.seq.desc()).limit(1)).one()
    assert tuple(last) == ("pat.practitioner", "cross_site_refused", "refused")
    assert world.client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_swagger_ui_renders_under_the_csp_from_the_service_alone(site: str, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    checks = PageChecks(page)
    elsewhere: list[str] = []
    page.on("request", lambda r: elsewhere.append(r.url)
            if not r.url.startswith(site) and not r.url.startswith("data:") else None)
    page.goto(f"{site}/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() >= 35
    page.locator("button.authorize").first.click()
    page.wait_for_selector(".auth-container", timeout=5_000)
    schemes = " ".join(page.locator(".auth-container h4").all_inner_texts())
    context.close()
    assert "bearer" in schemes and "cookie" in schemes
    assert checks.csp_reports == [] and elsewhere == []
