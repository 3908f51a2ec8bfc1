"""Each role's main journey through the web pages in headless Chromium (Debian's), against the
real service on the real slapd, with axe-core at WCAG 2.2 AA on every page visited, the pages'
Content-Security-Policy enforced, and the refusals: wrong role, no reason, a form without its
CSRF token, another school's submission. Screenshots go to var/screenshots (the best are kept
in docs/screenshots)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import BOOTSTRAP, OTHER_SCHOOL, OWN_SCHOOL, World, build_world, find, password_of
from browser_world import BROWSER_TESTS, PageChecks
from ingest_files import Pupil, census_xml, write
from sqlalchemy import select

from access import admin
from index import models as m
from index.store import transaction
from ingest import run_nightly, submit_file

pytestmark = BROWSER_TESTS


@pytest.fixture(scope="module")
def world(ldap_server: Any, tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(ldap_server, tmp_path_factory.mktemp("web"))


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def sign_in(page: Any, site: str, world: World, uid: str, checks: PageChecks | None = None) -> None:
    page.goto(f"{site}/sign-in")
    if checks:
        checks.check("sign-in")
    world.clock.advance(seconds=30)  # a code is accepted once: each sign-in in a time-step of its own
    page.fill("#username", uid)
    page.fill("#password", password_of(uid))
    page.fill("#code", world.authenticators[uid].at(world.clock()))
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("#signed-in-as, .govuk-error-summary")
    assert page.locator(".govuk-error-summary").count() == 0, page.inner_text(".govuk-error-summary")


def drop_csrf_and_submit(page: Any, form: str) -> None:
    """What a forged cross-site form would send: everything but the session's token."""
    page.evaluate(f"() => document.querySelector(\"{form} input[name='csrf_token']\").remove()")
    page.click(f"{form} button[type=submit], {form} button:not([type])")


def test_practitioner_signs_in_by_keyboard_searches_and_records_involvement(
        page: Any, site: str, world: World) -> None:
    checks = PageChecks(page)
    uid = "pat.practitioner"
    page.goto(f"{site}/find")
    assert "/sign-in" in page.url  # not signed in: sent to sign in
    checks.check()
    world.clock.advance(seconds=30)
    # Keyboard only: skip link, then the fields in order, Enter to send.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent.trim()") == "Skip to main content"
    page.focus("#username")
    page.keyboard.type(uid)
    page.keyboard.press("Tab")
    page.keyboard.type(password_of(uid))
    page.keyboard.press("Tab")
    page.keyboard.type(world.authenticators[uid].at(world.clock()))
    page.keyboard.press("Enter")
    page.wait_for_selector("#signed-in-as")
    assert page.url.endswith("/find")
    header = page.inner_text("body")
    assert "pat.practitioner" in header and "Bedford Health Visiting" in header and "Sign out" in header
    assert "Every search and every view is recorded" in header
    checks.check("search")

    # No reason: the Design System's error summary, and nothing searched.
    page.fill("#family-name", "Pendragon")
    page.fill("#dob-day", "7")
    page.fill("#dob-month", "6")
    page.fill("#dob-year", "2015")
    page.click("button:has-text('Search')")
    assert page.inner_text(".govuk-error-summary").count("Select why you are searching") == 1
    checks.check()

    # Keyboard: the reason radio, then Enter in a field sends the form.
    page.focus("#reason")
    page.keyboard.press("Space")
    page.focus("#postcode")
    page.keyboard.press("Enter")
    page.wait_for_selector("#results")
    rows = page.locator("table tbody tr")
    assert rows.count() == 1 and "Tamsin" in rows.first.inner_text()
    checks.check("search-results")

    # The shielded child is found with a tag, and shows only what the policy allows.
    page.click("label[for='reason']")
    page.fill("#family-name", "Trevithick")
    page.fill("#dob-day", "5")
    page.fill("#dob-month", "4")
    page.fill("#dob-year", "2009")
    page.click("button:has-text('Search')")
    assert "Shielded" in page.inner_text("table tbody")
    page.click("table tbody a")
    body = page.inner_text("main")
    assert "This record is shielded" in body and "local authority 823" in body
    assert "Quayside" not in body and "Morwenna" not in body and "override" not in body.lower()
    checks.check("child-shielded")

    # The child's page: carers, services and how to reach them, record and end involvement.
    page.goto(f"{site}/child/{world.ids['own']}")
    assert page.locator("h1").inner_text().startswith("Why are you viewing")  # no reason, no record
    checks.check()
    page.click("label:has-text('Coordinate services')")
    page.click("button:has-text('Continue')")
    body = page.inner_text("main")
    assert "Morwenna" in body and "Bedford Connexions" in body and "01234 000111" in body
    checks.check("child")
    page.click("button:has-text('End my involvement')")
    assert "Your involvement has been ended" in page.inner_text(".govuk-notification-banner")
    checks.check()
    page.click("a:has-text('Record my involvement')")
    checks.check("record-involvement")
    page.fill("#practitioner-name", "Hana Visitor")
    page.fill("#contact-phone", "01234 567890")
    page.check("#lead-professional")
    page.click("button:has-text('Record my involvement')")
    assert "Your involvement has been recorded" in page.inner_text(".govuk-notification-banner")
    assert "Lead professional" in page.inner_text("main")
    checks.check()

    # Refusals: another role's page; a form without its CSRF token (audited, nothing done).
    page.goto(f"{site}/la/review-queue")
    assert page.locator("h1").inner_text() == "You cannot do that"
    checks.check()
    page.goto(f"{site}/find")
    page.click("label[for='reason']")
    page.fill("#family-name", "Pendragon")
    page.fill("#postcode", "MK40 1AB")
    drop_csrf_and_submit(page, "form[action='/find']")
    assert "security token" in page.inner_text("main")
    with transaction(world.engine) as db:
        refused = db.scalars(select(m.AuditEvent.outcome).where(
            m.AuditEvent.action == "request_refused", m.AuditEvent.actor == uid)).all()
    assert refused == ["forbidden"]

    # Sign out; an idle session ends with a message.
    page.click("a:has-text('Sign out')")
    assert "You have signed out" in page.inner_text("main")
    sign_in(page, site, world, uid)
    world.clock.advance(minutes=world.ctx.access.session_idle_minutes + 1)
    page.goto(f"{site}/find")
    assert "had not used the service" in page.inner_text(".govuk-notification-banner")
    checks.check()


def test_child_protection_override_asks_a_reason_and_opens_an_investigation(
        page: Any, site: str, world: World) -> None:
    checks = PageChecks(page)
    sign_in(page, site, world, "cora.protect")
    world.tokens["cora.protect"] = world.sign_in("cora.protect")  # the API session for find()
    find(world, "cora.protect", world.ids["shielded"])  # a practitioner opens what they found (access.found)
    page.goto(f"{site}/child/{world.ids['shielded']}?reason=safeguarding")
    assert "Quayside" not in page.inner_text("main")
    page.click("a:has-text('child-protection override')")
    assert "opens an investigation" in page.inner_text("main")
    checks.check("override")
    page.click("button:has-text('Use the override')")
    assert "There is a problem" in page.inner_text(".govuk-error-summary")  # no reason given
    page.check("#reason")
    page.click("button:has-text('Use the override')")
    assert "investigation has been opened" in page.inner_text(".govuk-notification-banner")
    assert "Quayside" in page.inner_text("main")
    checks.check()
    with transaction(world.engine) as db:
        opened = db.scalars(select(m.ShieldInvestigation.opened_by)
                            .where(m.ShieldInvestigation.child_id == world.ids["shielded"])).all()
    assert opened == ["cora.protect"]


def test_school_uploads_and_reads_its_report_but_not_another_schools(
        page: Any, site: str, world: World, tmp_path: Path) -> None:
    checks = PageChecks(page)
    sign_in(page, site, world, "sam.school")
    assert page.url.endswith(f"/school/{OWN_SCHOOL}/submissions")
    checks.check()
    page.click("button:has-text('Upload')")
    assert "Select a census or CTF file" in page.inner_text(".govuk-error-summary")
    census = tmp_path / "census.xml"
    census.write_text(census_xml([Pupil(1, "Okafor", "Amara", "2014-05-10"),
                                  Pupil(2, "Nowak", "Lena", "2014-13-40")]))
    page.set_input_files("#file", str(census))
    page.click("button:has-text('Upload')")
    assert "Your file was received" in page.inner_text(".govuk-notification-banner")
    rejections = page.locator("table").last.inner_text()
    assert "date of birth" in rejections and "real date" in rejections
    assert "Nowak" not in page.inner_text("main")  # no pupil's details in a rejection
    checks.check("submission")
    page.click("a:has-text('All submissions')")
    checks.check("submissions")
    with transaction(world.engine) as db:
        submission_id = db.scalar(select(m.Submission.id).where(m.Submission.source_code == OWN_SCHOOL))
    page.goto(f"{site}/school/{OTHER_SCHOOL}/submissions/{submission_id}")
    assert page.locator("h1").inner_text() == "You cannot do that"
    checks.check()


def test_la_data_team_decides_a_review_item(page: Any, site: str, world: World) -> None:
    checks = PageChecks(page)
    sign_in(page, site, world, "dana.datateam")
    page.goto(f"{site}/la/review-queue")
    assert "Probabilistic review" in page.inner_text("main")
    checks.check("review-queue")
    page.click(f"a[href='/la/review-queue/{world.ids['review_own']}']")
    body = page.inner_text("main")
    assert "Nancarrow" in body and "Nancarow" in body
    checks.check("review")
    page.click("button:has-text('Different people')")
    assert "Select a note" in page.inner_text(".govuk-error-summary")
    page.check("label:has-text('Different people') >> xpath=preceding-sibling::input")
    page.click("button:has-text('Different people')")
    assert "kept apart" in page.inner_text(".govuk-notification-banner")
    checks.check()
    page.goto(f"{site}/la/review-queue/{world.ids['review_other']}")  # another LA's item
    assert page.locator("h1").inner_text() == "You cannot do that"

    # A record of the LA's own: correct it, record an opt-out, shield it.
    page.goto(f"{site}/child/{world.ids['dup_a']}?reason=data_accuracy")
    page.click("a:has-text('Manage this record')")
    checks.check("la-record")
    page.fill("#given-name", "Demelza-Jane")
    page.click("button:has-text('Save the correction')")
    assert "The record was corrected" in page.inner_text(".govuk-notification-banner")
    page.select_option("#service-type", "connexions")
    page.check("#opted-out-by")
    page.click("button:has-text('Record the opt-out')")
    assert "Connexions" in page.inner_text("main table")
    page.check("#shield-reason")
    page.click("button:has-text('Shield the record')")
    assert "The record is now shielded" in page.inner_text(".govuk-notification-banner")
    checks.check()
    page.goto(f"{site}/la/child/{world.ids['other']}")  # another LA's child
    assert page.locator("h1").inner_text() == "You cannot do that"

    # The register: add a user, issue an enrolment token; notifications and investigations.
    page.goto(f"{site}/la/practitioners")
    checks.check("register")
    page.click("a:has-text('Add a user')")
    page.fill("#user-id", "nina.nurse")
    page.fill("#organisation", "Bedford School Nursing")
    page.check("#role")
    page.fill("#vetting-checked-on", "2025-01-01")
    page.fill("#vetting-expires-on", "2027-12-31")
    page.fill("#training-completed-on", "2025-02-01")
    page.fill("#training-expires-on", "2027-02-01")
    page.check("#change-reason")
    checks.check()
    page.click("button:has-text('Save')")
    assert page.locator(".govuk-error-summary").count() == 0, page.inner_text(".govuk-error-summary")
    assert "nina.nurse" in page.inner_text("table")
    page.click("button:has-text('Issue enrolment token to nina.nurse')")
    assert len(page.inner_text("#token").strip()) >= 16
    checks.check()
    page.goto(f"{site}/oversight/notifications")
    checks.check("notifications")
    page.goto(f"{site}/oversight/investigations")
    checks.check()


def test_administrator_unlocks_and_configures(page: Any, site: str, world: World) -> None:
    checks = PageChecks(page)
    sign_in(page, site, world, "ada.admin")
    page.goto(f"{site}/admin")
    checks.check("admin")
    page.fill("#user-id", "pat.practitioner")
    page.click("button:has-text('Unlock')")
    assert "was not locked out" in page.inner_text(".govuk-notification-banner")
    page.fill("#session-idle-minutes", "9999")
    page.click("button:has-text('Save the configuration')")
    assert "allowed range" in page.inner_text(".govuk-error-summary")
    checks.check()
    page.fill("#session-idle-minutes", "20")
    page.click("button:has-text('Save the configuration')")
    assert world.ctx.access.session_idle_minutes == 20
    world.ctx.access.session_idle_minutes = 15
    page.goto(f"{site}/find")  # an administrator does not search
    assert page.locator("h1").inner_text() == "You cannot do that"


def test_first_sign_in_with_an_enrolment_token_shows_a_qr_code(page: Any, site: str, world: World) -> None:
    import pyotp

    checks = PageChecks(page)
    uid = "alex.auditor"
    with transaction(world.engine) as db:
        token = admin.issue_enrolment(db, BOOTSTRAP, uid, now=world.clock(), settings=world.ctx.access)
    page.goto(f"{site}/sign-in")
    page.click("a:has-text('set up your authenticator app')")
    page.fill("#username", uid)
    page.fill("#password", password_of(uid))
    page.fill("#token", token)
    page.click("button:has-text('Continue')")
    assert page.locator(".app-qr svg").count() == 1
    secret = page.inner_text("#secret").strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret)
    checks.check("enrol")
    world.clock.advance(seconds=30)
    authenticator = pyotp.TOTP(secret)
    page.fill("#password", password_of(uid))
    page.fill("#code", authenticator.at(world.clock()))
    page.click("button:has-text('Finish setting up')")
    assert "authenticator app is set up" in page.inner_text(".govuk-notification-banner")
    world.authenticators[uid] = authenticator
    sign_in(page, site, world, uid)
    checks.check()
    # The auditor's journey: the trail, by user (a form, not the address), verify.
    page.click("a:has-text('The audit trail')")
    assert "Sign in" in page.inner_text("table")
    checks.check("audit-trail")
    page.click("a:has-text('Oversight')")
    page.fill("#user-id", "cora.protect")
    page.click("button:has-text('Show their entries')")
    assert "Shield override" in page.inner_text("table")
    checks.check()
    page.goto(f"{site}/oversight")
    page.click("button:has-text('Verify the trail')")
    assert "The trail is intact" in page.inner_text("main")
    checks.check("verify")
    page.goto(f"{site}/find")  # an auditor does not search
    assert page.locator("h1").inner_text() == "You cannot do that"


def test_operator_reads_the_nightly_run_and_its_report(page: Any, site: str, world: World,
                                                       tmp_path: Path) -> None:
    pupils = [Pupil(901, "Tregenza", "Morwenna", "2013-04-02"), Pupil(902, "Angove", "Jory", "2012-02-30")]
    submit_file(world.engine, write(tmp_path / "later.xml", census_xml(pupils, reference="2026-01-15",
                                                                        term="SPR")), source=OWN_SCHOOL)
    run_nightly(world.engine)
    checks = PageChecks(page)
    sign_in(page, site, world, "otto.operator")
    assert page.url.endswith("/operations")  # the operator's home
    assert "Ended well" in page.inner_text("#last-run + dl")
    assert "Answering" in page.inner_text("#ready + dl")
    checks.check("operations")
    page.click("#last-run + dl a")
    assert "Is not a real calendar date" in page.inner_text("main")
    assert "Angove" not in page.content() and "Tregenza" not in page.content()
    checks.check("operations-run")
    page.goto(f"{site}/find")  # an operator does not search
    assert page.locator("h1").inner_text() == "You cannot do that"


def test_la_data_team_dismisses_a_held_row(page: Any, site: str, world: World, tmp_path: Path) -> None:
    from api_world import OWN_LA
    from test_ingest_undated import _feed

    rows = [{"given_name": "Morvoren", "family_name": "Penhallow", "date_of_birth": "2014-02-30"},
            {"given_name": "Kerensa", "family_name": "Trevithick", "date_of_birth": "2013-13-01"}]
    submit_file(world.engine, _feed(tmp_path / "held-feed.csv", rows), source="SC1", la=OWN_LA)
    run_nightly(world.engine)
    checks = PageChecks(page)
    sign_in(page, site, world, "dana.datateam")
    page.click("nav a:has-text('Held rows')")  # from the LA data team's navigation
    assert page.locator("h1").inner_text() == "Service-feed rows held for you"
    assert "held-feed.csv, line 2" in page.inner_text("main")
    assert "Penhallow" not in page.content() and "Kerensa" not in page.content()
    checks.check("held-rows")
    page.click("summary:has-text('Dismiss line 2 of held-feed.csv')")
    page.click("button:has-text('Dismiss the row line 2 of held-feed.csv')")  # no reason chosen
    assert "Select why line 2 is dismissed" in page.inner_text(".govuk-error-summary")
    checks.check()
    page.click(".govuk-error-summary a")  # the summary's link takes the focus to the row's reasons
    page.check("label:has-text('The sender has sent the row again, corrected') >> nth=0")
    page.click("button:has-text('Dismiss the row line 2 of held-feed.csv')")
    assert "The held row was dismissed" in page.inner_text(".govuk-notification-banner")
    assert "held-feed.csv, line 2" not in page.inner_text("main")
    checks.check()
    page.click("summary:has-text('Dismiss line 3 of held-feed.csv')")
    page.check("label:has-text('The row names no child the LA data team can identify') >> nth=0")
    drop_csrf_and_submit(page, "form:has(input[name='record'][value='line 3'])")
    assert page.locator("h1").inner_text() == "You cannot do that"
    page.goto(f"{site}/la/held-rows")
    assert "held-feed.csv, line 3" in page.inner_text("main")  # still held
