"""Schemathesis against the app's own OpenAPI schema, on the live app (real slapd, SQLite store):
generated requests to every operation, signed in as a role that may use it, never get a 500
and always get a response the schema allows. Examples per operation are bounded to stay fast."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from api_world import USERS, World, build_world, set_register
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from test_api_security import principal_of

from access import sessions
from index.store import transaction
from ops.slapd import DemoDirectory

EXAMPLES = 5  # per operation: bounded, deterministic (derandomize), fast
# Which signed-in user exercises an operation, by path prefix (the first that matches).
USER_BY_PREFIX = (
    ("/children/{child_id}/override", "cora.protect"),
    ("/schools", "sam.school"),
    ("/admin", "ada.admin"),
    ("/la", "dana.datateam"),
    ("/audit", "dana.datateam"),
    ("/", "pat.practitioner"),
)


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield build_world(ldap_server, tmp_path_factory.mktemp("api-schema"))


def fresh_token(world: World, path: str) -> str:
    """A live session for the operation's user, on an unchanged register (a generated request
    may have signed out, suspended or changed a user)."""
    uid = next(user for prefix, user in USER_BY_PREFIX if path.startswith(prefix))
    for user in USERS:
        set_register(world.engine, user)
    with transaction(world.engine) as db:
        return sessions.create(db, principal_of(uid), now=world.clock(), settings=world.ctx.access).token


def test_no_server_errors(world: World) -> None:
    # Schemathesis' pytest plugin (lazy fixture loading) does not run under this pytest, so the
    # operations are driven directly: one bounded Hypothesis run each, every failure collected.
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            token = fresh_token(world, case.path)
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # every operation is tried; the failures are listed at the end
            label = f"{operation.method.upper()} {operation.path}"
            failures.append(f"{label}: {type(exc).__name__}: {exc}"[:2000])
    assert operations >= 35
    assert not failures, "\n\n".join(failures)
