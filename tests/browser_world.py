"""The service in a real browser: the API tests' world (tests/api_world.py: the real app on a
real slapd, a SQLite store, users of every role enrolled) served by uvicorn on a loopback port,
and Debian's headless Chromium driven by Playwright (never a browser build of Playwright's own).

`check_page` runs axe-core (node_modules, installed by ops/install.sh --test) in the page at
WCAG 2.2 AA and fails on any violation, and fails on any Content-Security-Policy report in the
console (the pages' CSP is enforced in the browser, not bypassed)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHILDINDEX_TEST_CHROMIUM", "/usr/bin/chromium")
AXE = ROOT / "node_modules/axe-core/axe.min.js"
SCREENSHOTS = Path(os.environ.get("CHILDINDEX_TEST_SCREENSHOTS", ROOT / "var/screenshots"))
# On a closed network Chromium waits on lookups it would make for itself: all of them off.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# A missing Chromium or axe-core is a failure, not a skip (ops/install.sh --test installs both),
# unless CHILDINDEX_TEST_NO_BROWSER=1 is set for a quick local run, as for PostgreSQL.
BROWSER_TESTS = pytest.mark.skipif(os.environ.get("CHILDINDEX_TEST_NO_BROWSER") == "1",
                                   reason="browser tests switched off by CHILDINDEX_TEST_NO_BROWSER=1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread; its base address."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    for needed in (Path(CHROMIUM), AXE):
        if not needed.exists():
            raise RuntimeError(f"{needed} is missing: run ops/install.sh --test")
    # Playwright gives the browser a fresh profile of its own (a new temporary user-data-dir).
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class PageChecks:
    """Console reports of a page (CSP violations) and axe-core's verdict on it."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.csp_reports: list[str] = []
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp_reports.append(message.text)

    def check(self, shot: str | None = None) -> None:
        """0 axe violations at WCAG 2.2 AA, no CSP report; a screenshot if named."""
        page = self.page
        page.wait_for_load_state("load")
        # Evaluated through the browser's debugging protocol, so the page's CSP (no inline script)
        # stays in force for everything the page itself runs.
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(AXE.read_text())
        result = page.evaluate(
            "async (tags) => { const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});"
            " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})); }", AXE_TAGS)
        assert result == [], f"axe violations on {page.url}: {result}"
        assert self.csp_reports == [], f"CSP reports on {page.url}: {self.csp_reports}"
        if shot:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{shot}.png"), full_page=True)
