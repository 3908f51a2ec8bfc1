"""Step 1 of sign-in: an LDAP simple bind with the user's directory credentials (python-ldap).

Every piece of user input that reaches the directory is escaped: filter values with
`escape_filter_chars`, DN values with `escape_dn_chars`. An empty password is refused here,
before any network traffic, because a simple bind with a DN and an empty password is an
*unauthenticated* bind that many servers answer with success (RFC 4513 5.1.2); and after a
bind, the server is asked who we are (`whoami`) so a silent anonymous fallback cannot pass.

A directory that answers strangely (several entries, a missing attribute, no answer) raises
DirectoryError: a clear message for the operator, and no access.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

os.environ.setdefault("LDAPNOINIT", "1")  # configuration comes from settings, not ~/.ldaprc

import ldap
import ldap.dn
import ldap.filter

from access.identity import canonical_username
from access.roles import Capability, Role, role_from_name
from access.settings import AccessSettings


class DirectoryError(RuntimeError):
    """The directory cannot be used to decide (unreachable, ambiguous, incomplete): no access."""


class BadCredentials(Exception):
    """The user name or password was not accepted. `reason` is for the audit trail and lockout;
    the user is shown only the generic message, so it does not reveal which names exist."""

    MESSAGE = "user name or password not accepted"

    def __init__(self, reason: str) -> None:
        super().__init__(self.MESSAGE)
        self.reason = reason


# The DN bound to for a user name the directory does not hold (Directory._bind_nobody).
NOBODY_RDN = "cn=childindex-no-such-user"


@dataclass(frozen=True)
class DirectoryUser:
    uid: str
    dn: str
    roles: frozenset[Role]
    capabilities: frozenset[Capability]


def check_username(username: str, max_length: int = 64) -> str:
    """The user name if it is plausible; BadCredentials('invalid_username') otherwise.

    Escaping makes any string safe in a filter; this refuses only what no directory user
    name contains (control characters including NUL, or absurd length) before it is sent.
    """
    if not username or len(username) > max_length or not username.isprintable():
        raise BadCredentials("invalid_username")
    return username


def normalise_dn(dn: str) -> str:
    """A DN in a canonical form for comparison (attribute types and values case-folded)."""
    try:
        return ldap.dn.dn2str([[(t.lower(), v.lower(), f) for t, v, f in rdn]
                               for rdn in ldap.dn.str2dn(dn)])
    except ldap.DECODING_ERROR:
        raise DirectoryError("a configured or returned DN is not a valid DN") from None


class Directory:
    """An LDAP directory as configured in AccessSettings."""

    def __init__(self, settings: AccessSettings) -> None:
        self.settings = settings
        self._group_roles: dict[str, Role | Capability] = {}
        for group_dn, name in settings.ldap_group_roles.items():
            role = role_from_name(name)
            if role is None:
                raise DirectoryError(f"ldap_group_roles maps a group to unknown role {name!r}")
            self._group_roles[normalise_dn(group_dn)] = role

    @contextmanager
    def _connection(self) -> Iterator[ldap.ldapobject.LDAPObject]:
        s = self.settings
        where = f"directory {s.ldap_uri}"
        try:
            conn = ldap.initialize(s.ldap_uri)
        except ldap.LDAPError:
            raise DirectoryError(f"{where}: the URI is not valid") from None
        try:
            conn.protocol_version = ldap.VERSION3
            conn.set_option(ldap.OPT_REFERRALS, 0)
            conn.set_option(ldap.OPT_NETWORK_TIMEOUT, s.ldap_network_timeout_seconds)
            conn.set_option(ldap.OPT_TIMEOUT, s.ldap_timeout_seconds)
            conn.timeout = s.ldap_timeout_seconds
            if s.ldap_starttls or s.ldap_uri.lower().startswith("ldaps://"):
                conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
                if s.ldap_ca_file:
                    conn.set_option(ldap.OPT_X_TLS_CACERTFILE, s.ldap_ca_file)
                conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
            if s.ldap_starttls:
                conn.start_tls_s()
            yield conn
        except (ldap.SERVER_DOWN, ldap.CONNECT_ERROR) as exc:
            raise DirectoryError(f"{where} is unreachable or refused TLS ({_describe(exc)})") from None
        except ldap.TIMEOUT:
            raise DirectoryError(f"{where} did not answer in time") from None
        finally:
            with suppress(ldap.LDAPError):
                conn.unbind_s()

    def authenticate(self, username: str, password: str) -> DirectoryUser:
        """Bind as the user; their uid, DN and the roles their groups grant.

        Raises BadCredentials (wrong name or password) or DirectoryError (cannot decide).
        """
        s = self.settings
        username = canonical_username(check_username(username, s.username_max_length))
        if password == "":
            raise BadCredentials("empty_password")
        if "\x00" in password:
            raise BadCredentials("invalid_password")
        with self._connection() as service:
            self._bind_service(service)
            if s.ldap_user_dn_template:
                dn = s.ldap_user_dn_template.format(username=ldap.dn.escape_dn_chars(username))
                uid = None
            else:
                try:
                    dn, uid = self._find_user(service, username)
                except BadCredentials:
                    self._bind_nobody(password)
                    raise
            with self._connection() as user_conn:
                self._bind_user(user_conn, dn, password)
                if uid is None:
                    uid = self._read_uid(user_conn, dn, username)
                groups = self._groups(service if s.ldap_bind_dn else user_conn, dn)
        roles = frozenset(r for g in groups if isinstance(r := self._group_roles.get(g), Role))
        caps = frozenset(r for g in groups if isinstance(r := self._group_roles.get(g), Capability))
        return DirectoryUser(uid=canonical_username(uid), dn=dn, roles=roles, capabilities=caps)

    def _bind_nobody(self, password: str) -> None:
        """For a user name the directory does not hold, the same connection and bind a known
        user's wrong password costs, against a DN that names no entry: an unknown name must not
        answer measurably sooner (docs/security.md). Whatever the bind answers, the caller
        refuses the name; a failed bind to no entry counts against no account's lockout."""
        with suppress(BadCredentials, DirectoryError), self._connection() as conn:
            self._bind_user(conn, f"{NOBODY_RDN},{self.settings.ldap_base_dn}", password)

    def check_reachable(self) -> None:
        """Raise DirectoryError unless the directory answers (and accepts the service account)."""
        with self._connection() as conn:
            self._bind_service(conn)
            try:
                conn.whoami_s()  # a round trip even without a service account
            except ldap.LDAPError as exc:
                raise DirectoryError(f"directory {self.settings.ldap_uri} did not answer "
                                     f"({_describe(exc)})") from None

    def _bind_service(self, conn: ldap.ldapobject.LDAPObject) -> None:
        s = self.settings
        if not s.ldap_bind_dn:
            return
        secret = s.ldap_bind_password.get_secret_value() if s.ldap_bind_password else ""
        if not secret:
            raise DirectoryError("ldap_bind_dn is set but ldap_bind_password is empty")
        try:
            conn.simple_bind_s(s.ldap_bind_dn, secret)
        except ldap.INVALID_CREDENTIALS:
            raise DirectoryError("the directory refused the service account's credentials") from None

    def _find_user(self, conn: ldap.ldapobject.LDAPObject, username: str) -> tuple[str, str]:
        s = self.settings
        query = s.ldap_user_filter.replace("{username}", ldap.filter.escape_filter_chars(username))
        try:
            # Ask for at most two: two is already one too many.
            results = conn.search_ext_s(s.ldap_base_dn, ldap.SCOPE_SUBTREE, query,
                                        [s.ldap_uid_attribute], sizelimit=2)
        except ldap.SIZELIMIT_EXCEEDED:
            raise DirectoryError("the directory has several entries for one user name") from None
        except ldap.NO_SUCH_OBJECT:
            raise DirectoryError("ldap_base_dn does not exist in the directory") from None
        except ldap.FILTER_ERROR:
            raise DirectoryError("ldap_user_filter is not a valid LDAP filter") from None
        except ldap.INSUFFICIENT_ACCESS:
            raise DirectoryError("the directory does not let this account search for users") from None
        entries = [(dn, attrs) for dn, attrs in results if dn is not None]  # drop referrals
        if not entries:
            raise BadCredentials("unknown_user")
        if len(entries) > 1:
            raise DirectoryError("the directory has several entries for one user name")
        dn, attrs = entries[0]
        return dn, self._uid_from(attrs, username)

    def _uid_from(self, attrs: dict[str, list[bytes]], username: str) -> str:
        attr = self.settings.ldap_uid_attribute
        values = next((v for k, v in attrs.items() if k.lower() == attr.lower()), [])
        decoded = [v.decode("utf-8", errors="replace") for v in values]
        if not decoded:
            raise DirectoryError(f"the user's directory entry has no {attr} attribute")
        if len(decoded) == 1:
            return decoded[0]
        for value in decoded:
            if value.casefold() == username.casefold():
                return value
        raise DirectoryError(f"the user's directory entry has several {attr} values")

    def _bind_user(self, conn: ldap.ldapobject.LDAPObject, dn: str, password: str) -> None:
        try:
            conn.simple_bind_s(dn, password)
        except ldap.INVALID_CREDENTIALS:
            raise BadCredentials("wrong_password") from None
        except (ldap.INVALID_DN_SYNTAX, ldap.NO_SUCH_OBJECT):
            raise BadCredentials("unknown_user") from None
        except ldap.UNWILLING_TO_PERFORM:
            raise BadCredentials("wrong_password") from None
        # Never trust a bind result alone: make sure the server sees us as that user.
        identity = conn.whoami_s() or ""
        if not identity.lower().startswith("dn:") or normalise_dn(identity[3:]) != normalise_dn(dn):
            raise DirectoryError("the directory accepted a bind but not as the user")

    def _read_uid(self, conn: ldap.ldapobject.LDAPObject, dn: str, username: str) -> str:
        try:
            results = conn.search_ext_s(dn, ldap.SCOPE_BASE, "(objectClass=*)",
                                        [self.settings.ldap_uid_attribute])
        except ldap.NO_SUCH_OBJECT:
            raise BadCredentials("unknown_user") from None
        if len(results) != 1:
            raise DirectoryError("the directory returned no single entry for the user's DN")
        return self._uid_from(results[0][1], username)

    def _groups(self, conn: ldap.ldapobject.LDAPObject, dn: str) -> set[str]:
        s = self.settings
        query = f"(&(objectClass=groupOfNames)(member={ldap.filter.escape_filter_chars(dn)}))"
        try:
            results = conn.search_ext_s(s.ldap_group_base_dn or s.ldap_base_dn, ldap.SCOPE_SUBTREE,
                                        query, ["1.1"])
        except ldap.NO_SUCH_OBJECT:
            raise DirectoryError("the group base DN does not exist in the directory") from None
        return {normalise_dn(group_dn) for group_dn, _ in results if group_dn is not None}


def _describe(exc: ldap.LDAPError) -> str:
    detail = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return str(detail.get("desc", type(exc).__name__))
