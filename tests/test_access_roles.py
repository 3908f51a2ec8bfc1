"""The role table: permissions per role, scopes (own LA, own school) and capabilities."""

from __future__ import annotations

import pytest

from access.roles import (
    CAPABILITY_PERMISSIONS,
    ROLE_PERMISSIONS,
    Capability,
    Forbidden,
    Permission,
    Principal,
    Role,
    Scope,
    role_from_name,
)

P = Permission


def test_every_role_and_permission_is_in_the_table() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    granted = {p for grants in ROLE_PERMISSIONS.values() for p in grants}
    granted |= {p for grants in CAPABILITY_PERMISSIONS.values() for p in grants}
    assert granted == set(Permission)


def test_shield_override_only_through_the_child_protection_capability() -> None:
    assert all(P.SHIELD_OVERRIDE not in grants for grants in ROLE_PERMISSIONS.values())
    plain = Principal("pat", Role.PRACTITIONER, la="823")
    protector = Principal("cora", Role.PRACTITIONER, la="823",
                          capabilities=frozenset({Capability.CHILD_PROTECTION}))
    assert not plain.can(P.SHIELD_OVERRIDE)
    assert protector.can(P.SHIELD_OVERRIDE) and protector.can(P.SEARCH)


@pytest.mark.parametrize(("role", "allowed", "denied"), [
    (Role.PRACTITIONER, {P.SEARCH, P.VIEW_RECORD, P.RECORD_INVOLVEMENT},
     {P.REVIEW_QUEUE, P.SHIELD, P.READ_AUDIT, P.UPLOAD_SUBMISSION, P.UNLOCK, P.CONFIGURE}),
    (Role.AUDITOR, {P.READ_AUDIT}, {P.SEARCH, P.VIEW_RECORD, P.MANAGE_REGISTER}),
    (Role.SCHOOL_SUBMITTER, set(), {P.SEARCH, P.VIEW_RECORD, P.READ_AUDIT}),
    (Role.ADMINISTRATOR, {P.CONFIGURE}, {P.SEARCH, P.VIEW_RECORD, P.SHIELD}),
])
def test_role_permissions(role: Role, allowed: set[Permission], denied: set[Permission]) -> None:
    user = Principal("u", role, la="823", organisation_code="8231234")
    assert all(user.can(p) for p in allowed)
    assert not any(user.can(p, la="823", school="8231234") for p in denied)


def test_practitioners_search_every_la() -> None:
    user = Principal("pat", Role.PRACTITIONER, la="823")
    assert user.can(P.VIEW_RECORD, la="202") and user.can(P.SEARCH)


def test_la_data_team_acts_on_its_own_la_only() -> None:
    team = Principal("dana", Role.LA_DATA_TEAM, la="823")
    assert ROLE_PERMISSIONS[Role.LA_DATA_TEAM][P.SHIELD] is Scope.OWN_LA
    assert team.can(P.SHIELD, la="823") and team.can(P.REVIEW_QUEUE, la="823")
    assert not team.can(P.SHIELD, la="202")
    assert not team.can(P.SHIELD)  # the scope must be checkable
    with pytest.raises(Forbidden, match="may not shield outside their own la"):
        team.require(P.SHIELD, la="202")


def test_school_submitter_uploads_for_its_own_school_only() -> None:
    school = Principal("sam", Role.SCHOOL_SUBMITTER, la="823", organisation_code="8231234")
    assert school.can(P.UPLOAD_SUBMISSION, school="8231234")
    assert not school.can(P.UPLOAD_SUBMISSION, school="8239999")
    assert not Principal("x", Role.SCHOOL_SUBMITTER, la="823").can(P.UPLOAD_SUBMISSION, school="8231234")
    with pytest.raises(Forbidden, match="may not search"):
        school.require(P.SEARCH)


def test_role_names_from_configuration() -> None:
    assert role_from_name("la_data_team") is Role.LA_DATA_TEAM
    assert role_from_name("child_protection") is Capability.CHILD_PROTECTION
    assert role_from_name("root") is None
