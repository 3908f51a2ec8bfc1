"""A change of configuration is in the trail with what was changed. Found by the second attack
test: an administrator could switch the unusual-use flags off in effect (a factor of 1000, at
least 100,000 children) or loosen the lockout, and the trail said only `configure`, as it does
for reading the configuration, so an auditor could not tell a change from a read, nor what
changed. On the real slapd (api_world)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_world import World, build_world

from access.audit import CONFIGURATION_FIELDS
from api.schemas import ConfigurationBody
from ops.slapd import DemoDirectory


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_world(ldap_server, tmp_path_factory.mktemp("configuration-audit"))
    yield world
    world.engine.dispose()


def configure_entries(world: World) -> list[dict[str, object]]:
    trail = world.client.get("/audit", headers=world.auth("alex.auditor"), params={"limit": 500})
    assert trail.status_code == 200
    return [e for e in trail.json()["entries"] if e["action"] == "configure"]


def test_an_auditor_sees_what_a_configuration_change_changed(world: World) -> None:
    ada = world.auth("ada.admin")
    assert world.client.get("/admin/configuration", headers=ada).status_code == 200
    changed = world.client.patch("/admin/configuration", headers=ada, json={
        "unusual_use_factor": 1000.0, "unusual_use_min_children": 100_000, "lockout_threshold": 100})
    assert changed.status_code == 200
    read, change = configure_entries(world)[-2:]
    assert (read["actor"], read["criteria"]) == ("ada.admin", None)  # a read changes nothing
    assert change["actor"] == "ada.admin"
    assert change["criteria"] == {"unusual_use_factor": 1000.0, "unusual_use_min_children": 100_000,
                                  "lockout_threshold": 100}


def test_every_setting_an_administrator_may_change_is_kept_in_the_trail() -> None:
    assert set(ConfigurationBody.model_fields) <= CONFIGURATION_FIELDS
