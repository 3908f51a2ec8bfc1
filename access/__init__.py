"""Who may use the index: LDAP sign-in, TOTP, practitioner register, roles, sessions, audit trail.

Public surface: the names below. The API builds one `SignIn` at start-up, calls `authorise` on
every request (session + register), checks `Principal.require(permission, la=..., school=...)`
and writes `audit.append(session, Event(...))` in the same transaction as each action.
"""

from access import audit, erasure
from access.admin import NotRegistered, issue_enrolment, save_register_entry, unlock
from access.audit import Entry, Event, Verification, append, verify, what_user_looked_at, who_looked_at
from access.directory import BadCredentials, Directory, DirectoryError, DirectoryUser
from access.register import RegisterEntry, RegisterRefused, RegisterStatus, check_register
from access.roles import Capability, Forbidden, Permission, Principal, Role, Scope
from access.sessions import SessionInvalid
from access.settings import AccessSettings
from access.signin import SignedIn, SignIn, SignInRefused, authorise, authorise_with_entry
from access.totp import Enrolment, TotpConfigError, new_key
from access.usage import UsageFlag, flag_unusual_use

__all__ = [
    "AccessSettings",
    "BadCredentials",
    "Capability",
    "Directory",
    "DirectoryError",
    "DirectoryUser",
    "Enrolment",
    "Entry",
    "Event",
    "Forbidden",
    "NotRegistered",
    "Permission",
    "Principal",
    "RegisterEntry",
    "RegisterRefused",
    "RegisterStatus",
    "Role",
    "Scope",
    "SessionInvalid",
    "SignIn",
    "SignInRefused",
    "SignedIn",
    "TotpConfigError",
    "UsageFlag",
    "Verification",
    "append",
    "audit",
    "authorise",
    "authorise_with_entry",
    "check_register",
    "erasure",
    "flag_unusual_use",
    "issue_enrolment",
    "new_key",
    "save_register_entry",
    "unlock",
    "verify",
    "what_user_looked_at",
    "who_looked_at",
]
