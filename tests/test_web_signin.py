"""The sign-in page's refusals, in the Design System's error summary with the access layer's own
messages: a wrong code, a locked account, a lapsed vetting check or training; and the pre-sign-in
CSRF check (the real app on the real slapd, through its HTTP interface)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from api_world import build_world, password_of, set_register

ORIGIN = {"Origin": "http://testserver"}


def _summary(html: str) -> str:
    found = re.search(r'<div class="govuk-error-summary".*?</div>\s*</div>', html, re.S)
    assert found, "no error summary"
    return re.sub(r"<[^>]+>", " ", found.group(0))


def test_sign_in_refusals_are_shown_in_the_error_summary(ldap_server: Any, tmp_path: Path) -> None:
    world = build_world(ldap_server, tmp_path)
    client = world.client
    client.cookies.clear()

    def attempt(uid: str, code: str | None = None, *, token: bool = True) -> tuple[int, str]:
        page = client.get("/sign-in")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        world.clock.advance(seconds=30)
        data = {"username": uid, "password": password_of(uid),
                "code": code or world.authenticators[uid].at(world.clock())}
        if token:
            data["csrf_token"] = csrf
        response = client.post("/sign-in", data=data, headers=ORIGIN, follow_redirects=False)
        return response.status_code, response.text

    status, html = attempt("pat.practitioner", "000000")
    assert status == 401 and "User name, password or code not accepted" in _summary(html)
    assert 'href="#code"' in html  # the summary links to the code field

    status, html = attempt("pat.practitioner", token=False)
    assert status == 403 and "security token" in html  # no CSRF token: nothing was tried

    set_register(world.engine, "alex.auditor", vetting_expires_on=dt.date(2026, 1, 1))
    status, html = attempt("alex.auditor")
    assert status == 403 and "enhanced vetting check has expired" in _summary(html)

    set_register(world.engine, "ada.admin", training_expires_on=dt.date(2026, 1, 1))
    status, html = attempt("ada.admin")
    assert status == 403 and "training has expired" in _summary(html)

    for _ in range(world.ctx.access.lockout_threshold):
        attempt("sam.school", "000000")
    status, html = attempt("sam.school")
    assert status == 429 and "Account locked after repeated failed sign-in attempts" in _summary(html)

    status, html = attempt("dana.datateam")
    assert status == 303  # and the right one still signs in


def test_empty_fields_are_named_in_the_error_summary(ldap_server: Any, tmp_path: Path) -> None:
    world = build_world(ldap_server, tmp_path)
    client = world.client
    client.cookies.clear()
    for form, fields, empty in (
        ("/sign-in", {"username": "pat.practitioner", "password": " ", "code": ""},
         ["Enter your password", "Enter your 6-digit code from your authenticator app"]),
        ("/sign-in/enrol", {"username": "", "password": "x", "token": " "},
         ["Enter your user name", "Enter your enrolment token"]),
        ("/sign-in/enrol/confirm", {"username": "", "password": "", "code": "123456"},
         ["Enter your user name", "Enter your password"]),
    ):
        page = client.get("/sign-in")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        response = client.post(form, data={**fields, "csrf_token": csrf}, headers=ORIGIN)
        summary = _summary(response.text)
        assert response.status_code == 400, form
        assert [m for m in ("Enter your user name", "Enter your password",
                            "Enter your 6-digit code from your authenticator app",
                            "Enter your enrolment token") if m in summary] == empty, form
