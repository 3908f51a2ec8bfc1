"""Shared fixtures: stores on SQLite and on a real, throwaway PostgreSQL server.

The `engine` fixture gives each test an empty store at the current schema, once on SQLite and
once on PostgreSQL. PostgreSQL is started by the suite itself (ops.postgres); a missing server is
a failure, not a skip, unless CHILDINDEX_TEST_NO_POSTGRES=1 is set for a quick local run.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from sqlalchemy import Engine, text

from access.anchor import add_key
from index.store import make_engine, upgrade
from ops.postgres import throwaway_postgres
from ops.slapd import DemoDirectory, demo_directory

# Every audit entry the suite writes is MACed, as in production: one key file for the whole run,
# named in the environment so that the commands the tests start as processes sign with it too.
_AUDIT_KEYS = Path(tempfile.mkdtemp(prefix="childindex-audit-key-")) / "audit.key"
add_key(_AUDIT_KEYS)
os.environ["CHILDINDEX_AUDIT_KEY_FILE"] = str(_AUDIT_KEYS)

# The suite runs on shared, noisy 2-core machines: a per-example deadline there measures the host,
# not the code (a 15 ms example once took 340 ms and failed CI). Speed is measured in ops/bench.
settings.register_profile("childindex", deadline=None)
settings.load_profile("childindex")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if os.environ.get("CHILDINDEX_TEST_NO_POSTGRES") == "1":
        pytest.skip("PostgreSQL tests switched off by CHILDINDEX_TEST_NO_POSTGRES=1")
    with throwaway_postgres() as server:
        yield server.url


def _reset_postgres(url: str) -> Engine:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database (no schema yet) on each supported backend."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        engine = _reset_postgres(request.getfixturevalue("postgres_url"))
    yield engine
    engine.dispose()


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    """An empty store at the current schema, on SQLite and on PostgreSQL."""
    upgrade(empty_engine)
    return empty_engine


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    """An empty store at the current schema on PostgreSQL only, for tests of PostgreSQL itself."""
    engine = _reset_postgres(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """An empty store at the current schema on SQLite only, for tests of SQLite files."""
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def ldap_server() -> Iterator[DemoDirectory]:
    """A real, throwaway slapd with the demo users of every role (ops.slapd), for the session."""
    with demo_directory() as server:
        yield server


@pytest.fixture(scope="session")
def elasticsearch_url() -> Iterator[str]:
    """A real, throwaway Elasticsearch 8 node (ops.elasticsearch), started once per session and
    shared with the search contract's Elasticsearch backend factory."""
    from ops.elasticsearch import shared_node_url, stop_shared_node

    yield shared_node_url()
    stop_shared_node()


# The API journeys: every log line written while their tests run is checked for the personal
# values of the synthetic children (names, dates of birth, postcodes, identifiers).
API_JOURNEY_MODULES = frozenset({"test_api_flows", "test_api_security", "test_api_browser_security",
                                 "test_api_schema", "test_web_browser", "test_operations",
                                 "test_subject_access", "test_transfers", "test_backup"})


class LogLines(logging.Handler):
    """Every record, formatted as the service writes it (JSON lines with the request id)."""

    def __init__(self) -> None:
        from api.observability import JsonLines

        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonLines())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(autouse=True)
def log_lines(request: pytest.FixtureRequest) -> Iterator[LogLines]:
    handler = LogLines()
    if request.module.__name__ not in API_JOURNEY_MODULES:
        yield handler
        return
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    world = request.node.funcargs.get("world")
    if world is not None:
        from api_world import personal_values

        values = personal_values(world.engine)
        leaked = [line for line in handler.lines if any(v in line.lower() for v in values)]
        assert not leaked, f"{len(leaked)} log lines carry a personal value, e.g. {leaked[0]}"


@pytest.fixture(scope="module")
def site(world: Any) -> Iterator[str]:
    """The module's `world` (tests/api_world.py) served on a loopback port, for browser tests."""
    from browser_world import serving

    with serving(world.app) as base:
        yield base


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium, one for the whole run (each test opens its own pages)."""
    from browser_world import chromium

    with chromium() as b:
        yield b
