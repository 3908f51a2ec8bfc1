"""Step 1 against a real slapd (ops.slapd): binds, roles from groups, LDAP injection, odd answers."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import ldap
import pytest

from access.directory import BadCredentials, Directory, DirectoryError, normalise_dn
from access.roles import Capability, Role
from access.settings import AccessSettings
from ops.slapd import (
    DEMO_USERS,
    GROUP_ROLES,
    PEOPLE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    SUFFIX,
    DemoDirectory,
    make_certificates,
)


def settings_for(server: DemoDirectory, **overrides: object) -> AccessSettings:
    values: dict[str, object] = {
        "ldap_uri": server.ldap_uri, "ldap_base_dn": SUFFIX, "ldap_bind_dn": SERVICE_DN,
        "ldap_bind_password": SERVICE_PASSWORD, "ldap_group_roles": GROUP_ROLES,
    }
    values.update(overrides)
    return AccessSettings(**values)  # type: ignore[arg-type]


def password_of(uid: str) -> str:
    return next(u.password for u in DEMO_USERS if u.uid == uid)


@pytest.fixture
def directory(ldap_server: DemoDirectory) -> Directory:
    return Directory(settings_for(ldap_server))


@pytest.mark.parametrize(("uid", "role"), [
    ("pat.practitioner", Role.PRACTITIONER), ("dana.datateam", Role.LA_DATA_TEAM),
    ("sam.school", Role.SCHOOL_SUBMITTER), ("alex.auditor", Role.AUDITOR),
    ("ada.admin", Role.ADMINISTRATOR),
])
def test_every_demo_role_signs_in_with_its_role(directory: Directory, uid: str, role: Role) -> None:
    user = directory.authenticate(uid, password_of(uid))
    assert user.uid == uid
    assert user.dn == f"uid={uid},{PEOPLE}"
    assert user.roles == {role}
    assert user.capabilities == set()


def test_child_protection_group_grants_the_capability(directory: Directory) -> None:
    user = directory.authenticate("cora.protect", password_of("cora.protect"))
    assert user.roles == {Role.PRACTITIONER}
    assert user.capabilities == {Capability.CHILD_PROTECTION}


def test_user_without_groups_has_no_role(directory: Directory) -> None:
    user = directory.authenticate("nora.nogroup", password_of("nora.nogroup"))
    assert user.roles == set() and user.capabilities == set()


def test_user_name_is_matched_case_insensitively_and_canonicalised(directory: Directory) -> None:
    user = directory.authenticate("Pat.Practitioner", password_of("pat.practitioner"))
    assert user.uid == "pat.practitioner"


@pytest.mark.parametrize(("username", "password", "reason"), [
    ("pat.practitioner", "wrong-password", "wrong_password"),
    ("pat.practitioner", "pat-password-1", "wrong_password"),  # case matters in passwords
    ("nobody.here", "whatever", "unknown_user"),
    ("pat.practitioner", "", "empty_password"),
    ("pat.practitioner", "pat-Password-1\x00tail", "invalid_password"),
])
def test_bad_credentials(directory: Directory, username: str, password: str, reason: str) -> None:
    with pytest.raises(BadCredentials) as caught:
        directory.authenticate(username, password)
    assert caught.value.reason == reason
    assert str(caught.value) == BadCredentials.MESSAGE  # never says which part was wrong


def test_empty_password_would_be_an_anonymous_bind_success_on_this_server(ldap_server: DemoDirectory) -> None:
    # The reason for the client-side refusal: this directory (like many) answers a simple bind
    # with a DN and an empty password as a successful *unauthenticated* bind.
    conn = ldap.initialize(ldap_server.ldap_uri)
    conn.simple_bind_s(f"uid=pat.practitioner,{PEOPLE}", "")
    assert conn.whoami_s() == ""  # anonymous, not the user
    conn.unbind_s()


INJECTIONS = [
    "*",
    "*)(uid=*",
    "pat.practitioner)(|(uid=*",
    "admin)(|(password=*)",
    "*)(|(objectClass=*)",
    "pat.practitioner)(&)",
    "pat.*",
    "*practitioner",
    "\\2a",
    "pat.practitioner,ou=people,dc=childindex,dc=test",
    "uid=pat.practitioner,ou=people,dc=childindex,dc=test",
]


@pytest.mark.parametrize("username", INJECTIONS)
def test_ldap_injection_in_the_user_name_finds_nobody(directory: Directory, username: str) -> None:
    # Wildcards and filter syntax are escaped: with any demo password, nobody is matched.
    for password in {u.password for u in DEMO_USERS}:
        with pytest.raises(BadCredentials) as caught:
            directory.authenticate(username, password)
        assert caught.value.reason == "unknown_user"


@pytest.mark.parametrize("username", ["pat\x00.practitioner", "pat.practitioner\x00", "a" * 65,
                                      "x" * 10_000, "", "pat\npractitioner", "pat\r\n"])
def test_implausible_user_names_never_reach_the_directory(username: str) -> None:
    # An unreachable directory proves no traffic is attempted for these names.
    unreachable = Directory(AccessSettings(ldap_uri=f"ldap://127.0.0.1:{_closed_port()}"))
    with pytest.raises(BadCredentials) as caught:
        unreachable.authenticate(username, "secret")
    assert caught.value.reason == "invalid_username"


def test_injection_through_the_dn_template_is_escaped(ldap_server: DemoDirectory) -> None:
    direct = Directory(settings_for(ldap_server, ldap_user_dn_template=f"uid={{username}},{PEOPLE}"))
    assert direct.authenticate("ada.admin", password_of("ada.admin")).roles == {Role.ADMINISTRATOR}
    # DN syntax in the name is escaped into one RDN value: it names no entry, never another one.
    sneaky = "x,ou=services,dc=childindex,dc=test+cn=childindex-reader"
    with pytest.raises(BadCredentials):
        direct.authenticate(sneaky, SERVICE_PASSWORD)
    with pytest.raises(BadCredentials):
        direct.authenticate("pat.practitioner,ou=people", password_of("pat.practitioner"))


def test_several_entries_for_one_name_is_a_directory_error(directory: Directory) -> None:
    with pytest.raises(DirectoryError, match="several entries"):
        directory.authenticate("twin.user", password_of("twin.user"))


def test_entry_without_the_uid_attribute_is_a_directory_error(ldap_server: DemoDirectory) -> None:
    odd = Directory(settings_for(ldap_server, ldap_uid_attribute="employeeNumber"))
    with pytest.raises(DirectoryError, match="no employeeNumber attribute"):
        odd.authenticate("pat.practitioner", password_of("pat.practitioner"))


def test_missing_base_dn_is_a_directory_error(ldap_server: DemoDirectory) -> None:
    odd = Directory(settings_for(ldap_server, ldap_base_dn="dc=elsewhere,dc=test"))
    with pytest.raises(DirectoryError, match="base_dn does not exist"):
        odd.authenticate("pat.practitioner", password_of("pat.practitioner"))


def test_wrong_service_password_is_a_directory_error(ldap_server: DemoDirectory) -> None:
    odd = Directory(settings_for(ldap_server, ldap_bind_password="not-it"))
    with pytest.raises(DirectoryError, match="service account"):
        odd.authenticate("pat.practitioner", password_of("pat.practitioner"))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_directory_is_a_clear_error() -> None:
    down = Directory(AccessSettings(ldap_uri=f"ldap://127.0.0.1:{_closed_port()}",
                                    ldap_network_timeout_seconds=1, ldap_timeout_seconds=1))
    with pytest.raises(DirectoryError, match="unreachable"):
        down.authenticate("pat.practitioner", "pat-Password-1")


def test_starttls_with_the_ca_file(ldap_server: DemoDirectory) -> None:
    tls = Directory(settings_for(ldap_server, ldap_starttls=True, ldap_ca_file=ldap_server.cafile))
    assert tls.authenticate("pat.practitioner", password_of("pat.practitioner")).uid == "pat.practitioner"


def test_starttls_refuses_an_untrusted_server(ldap_server: DemoDirectory, tmp_path: Path) -> None:
    other_ca, _, _ = make_certificates(tmp_path)  # a CA that did not sign the server
    tls = Directory(settings_for(ldap_server, ldap_starttls=True, ldap_ca_file=str(other_ca)))
    with pytest.raises(DirectoryError, match=r"refused TLS|unreachable"):
        tls.authenticate("pat.practitioner", password_of("pat.practitioner"))


def test_unknown_role_name_in_configuration_is_refused(ldap_server: DemoDirectory) -> None:
    with pytest.raises(DirectoryError, match="unknown role 'superuser'"):
        Directory(settings_for(ldap_server, ldap_group_roles={f"cn=x,{SUFFIX}": "superuser"}))


def test_group_roles_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch,
                                                        ldap_server: DemoDirectory) -> None:
    for name, value in ldap_server.settings_env().items():
        monkeypatch.setenv(name, value)
    settings = AccessSettings()
    assert settings.ldap_group_roles == GROUP_ROLES
    assert json.loads(ldap_server.settings_env()["CHILDINDEX_ACCESS_LDAP_GROUP_ROLES"]) == GROUP_ROLES
    assert "reader-secret" not in repr(settings)
    assert Directory(settings).authenticate("sam.school", password_of("sam.school")).roles == {
        Role.SCHOOL_SUBMITTER}


def test_normalised_dns_compare_case_insensitively() -> None:
    assert normalise_dn("CN=Practitioners, OU=Groups,DC=x") == normalise_dn("cn=practitioners,ou=groups,dc=x")
    with pytest.raises(DirectoryError):
        normalise_dn("not a dn")


class CountingBinds(Directory):
    """The real directory, noting each user bind it makes (the expensive step of a sign-in)."""

    binds: list[str]

    def _bind_user(self, conn: ldap.ldapobject.LDAPObject, dn: str, password: str) -> None:
        self.binds.append(dn)
        super()._bind_user(conn, dn, password)


@pytest.mark.parametrize(("username", "reason"), [("pat.practitioner", "wrong_password"),
                                                  ("nobody.here", "unknown_user")])
def test_an_unknown_name_costs_the_bind_a_wrong_password_does(ldap_server: DemoDirectory, username: str,
                                                              reason: str) -> None:
    """An unknown user name is not answered sooner than a known one with a wrong password (the
    figures: docs/security.md): both make one user bind, the unknown one against no entry."""
    directory = CountingBinds(settings_for(ldap_server))
    directory.binds = []
    with pytest.raises(BadCredentials) as refused:
        directory.authenticate(username, "not-the-Password-1")
    assert refused.value.reason == reason
    assert len(directory.binds) == 1
    assert directory.binds[0] == (f"uid={username},{PEOPLE}" if reason == "wrong_password"
                                  else f"cn=childindex-no-such-user,{SUFFIX}")
