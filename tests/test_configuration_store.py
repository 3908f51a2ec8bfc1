"""An administrator's configuration change is in force on every worker and survives a restart.

Found by review: `PATCH /admin/configuration` set the thresholds in the memory of the one worker
process that served it, so under `childindex serve --workers N` the lockout threshold depended
on which worker answered, and a restart silently reverted the change. Two apps on one store
(tests/api_world.py `another_worker`) stand for two workers, and for the service restarted; on
the real slapd, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator

import pytest
from api_world import World, another_worker, build_world, password_of
from sqlalchemy import Engine, select, update

from api import configuration
from index import models as m
from index.store import transaction
from ops.slapd import DemoDirectory


@pytest.fixture
def world(ldap_server: DemoDirectory, engine: Engine,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield build_world(ldap_server, tmp_path_factory.mktemp("configuration-store"), engine=engine)


def sign_in(world: World, uid: str, password: str) -> int:
    code = world.authenticators[uid].at(world.clock())
    body = {"username": uid, "password": password, "code": code}
    return world.client.post("/signin", json=body).status_code


def test_a_change_on_one_worker_is_in_force_on_another(world: World, ldap_server: DemoDirectory) -> None:
    other = another_worker(world, ldap_server)
    changed = world.client.patch("/admin/configuration", headers=world.auth("ada.admin"),
                                 json={"lockout_threshold": 2, "session_idle_minutes": 40})
    assert changed.status_code == 200
    # Two failures on the other worker lock the user out there (the environment said 5).
    assert [sign_in(other, "pat.practitioner", "wrong") for _ in range(2)] == [401, 401]
    assert sign_in(other, "pat.practitioner", password_of("pat.practitioner")) == 429
    read = other.client.get("/admin/configuration", headers=other.auth("ada.admin")).json()
    assert (read["lockout_threshold"], read["session_idle_minutes"]) == (2, 40)
    assert set(read["changed"]) == {"lockout_threshold", "session_idle_minutes"}
    assert read["changed"]["lockout_threshold"]["changed_by"] == "ada.admin"
    assert read["lockout_minutes"] == 15 and "lockout_minutes" not in read["changed"]  # the environment's


def test_a_restart_keeps_the_change(world: World, ldap_server: DemoDirectory) -> None:
    assert world.client.patch("/admin/configuration", headers=world.auth("ada.admin"),
                              json={"unusual_use_factor": 7.5}).status_code == 200
    restarted = another_worker(world, ldap_server)
    read = restarted.client.get("/admin/configuration", headers=restarted.auth("ada.admin")).json()
    assert read["unusual_use_factor"] == 7.5
    assert restarted.ctx.access.unusual_use_factor == 7.5
    assert restarted.ctx.access.lockout_threshold == 5  # unchanged settings: the environment's


def test_a_stored_value_no_longer_valid_is_ignored_and_named_in_the_log(
        world: World, ldap_server: DemoDirectory, caplog: pytest.LogCaptureFixture) -> None:
    assert world.client.patch("/admin/configuration", headers=world.auth("ada.admin"),
                              json={"lockout_threshold": 3, "lockout_minutes": 60}).status_code == 200
    with transaction(world.engine) as db:  # edited by hand, beyond ConfigurationBody's limits
        db.execute(update(m.ConfigurationOverride).where(m.ConfigurationOverride.name == "lockout_threshold")
                   .values(value="0"))
    other = another_worker(world, ldap_server)
    with caplog.at_level(logging.WARNING, logger="api.configuration"):
        read = other.client.get("/admin/configuration", headers=other.auth("ada.admin"))
    assert read.status_code == 200
    assert (read.json()["lockout_threshold"], read.json()["lockout_minutes"]) == (5, 60)
    assert "lockout_threshold" not in read.json()["changed"]
    assert any("lockout_threshold" in r.getMessage() for r in caplog.records)


def test_the_administrators_page_says_who_changed_a_setting(world: World, ldap_server: DemoDirectory) -> None:
    assert world.client.patch("/admin/configuration", headers=world.auth("ada.admin"),
                              json={"lockout_minutes": 45}).status_code == 200
    other = another_worker(world, ldap_server)
    other.web_sign_in("ada.admin")
    page = other.client.get("/admin")
    assert page.status_code == 200 and "Changed by ada.admin at" in page.text
    assert page.text.count("Changed by") == 1


def test_two_workers_storing_the_first_change_of_a_setting_at_once(engine: Engine) -> None:
    """Found by review: the store read the setting's row, then inserted it when there was none,
    so two workers storing the first change of one setting at the same instant both found none
    and the second to commit failed on the key (a 500). One worker's transaction stays open while
    the other stores and commits; both changes are kept, the later one in force."""
    at = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    errors: list[BaseException] = []

    def second_worker() -> None:
        try:
            with transaction(engine) as db:
                configuration.save(db, {"lockout_threshold": 4}, by="second.admin", at=at)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    with transaction(engine) as first:
        configuration.save(first, {"lockout_threshold": 3}, by="first.admin", at=at)
        other = threading.Thread(target=second_worker)
        other.start()
        # The second worker either stores at once (a read then an insert: the bug), or waits for
        # the first to commit (an upsert on the row's key).
        other.join(timeout=1.5)
    other.join(timeout=30)
    assert not other.is_alive() and errors == []
    with transaction(engine) as db:
        stored = db.execute(select(m.ConfigurationOverride.value, m.ConfigurationOverride.changed_by)).all()
    assert [tuple(r) for r in stored] == [("4", "second.admin")]
