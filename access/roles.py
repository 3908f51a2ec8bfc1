"""Roles and permissions as a table: which role may do what, and over which scope.

A signed-in user has exactly one role (the one on the practitioner register, which their
directory groups must also grant) plus capabilities from directory groups (the child-protection
capability allows a shield override). Scopes narrow a permission: an LA data team member acts
on their own LA's children only, a school submitter on their own school only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    PRACTITIONER = "practitioner"
    LA_DATA_TEAM = "la_data_team"
    SCHOOL_SUBMITTER = "school_submitter"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"
    # Runs the service (DESIGN.md "operator"): sees the nightly run's state and reports, which
    # hold counts only; never a child's record. Backups, restores and retention are CLI jobs.
    OPERATOR = "operator"


class Capability(enum.StrEnum):
    """Granted by a directory group on top of a role."""

    CHILD_PROTECTION = "child_protection"


class Permission(enum.StrEnum):
    SEARCH = "search"
    VIEW_RECORD = "view_record"
    RECORD_INVOLVEMENT = "record_involvement"
    REVIEW_QUEUE = "review_queue"
    SHIELD = "shield"
    MANAGE_REGISTER = "manage_register"
    ISSUE_ENROLMENT = "issue_enrolment"
    READ_AUDIT = "read_audit"
    UPLOAD_SUBMISSION = "upload_submission"  # a school's census and CTF (access.uploads)
    UPLOAD_FEED = "upload_feed"  # service feeds (access.uploads)
    UNLOCK = "unlock"
    CONFIGURE = "configure"
    SHIELD_OVERRIDE = "shield_override"
    READ_RUNS = "read_runs"  # the nightly run's state and reports (counts only)
    SUBJECT_ACCESS = "subject_access"  # everything held about a child and who looked, for the family
    TRANSFER = "transfer"  # hand a child's record to another LA


class Scope(enum.StrEnum):
    ALL = "all"  # practitioners search across every LA (federation)
    OWN_LA = "own_la"
    OWN_SCHOOL = "own_school"


P = Permission
ROLE_PERMISSIONS: dict[Role, dict[Permission, Scope]] = {
    Role.PRACTITIONER: {P.SEARCH: Scope.ALL, P.VIEW_RECORD: Scope.ALL,
                        P.RECORD_INVOLVEMENT: Scope.ALL},
    Role.LA_DATA_TEAM: {P.SEARCH: Scope.OWN_LA, P.VIEW_RECORD: Scope.OWN_LA,
                        P.RECORD_INVOLVEMENT: Scope.OWN_LA, P.REVIEW_QUEUE: Scope.OWN_LA,
                        P.SHIELD: Scope.OWN_LA, P.MANAGE_REGISTER: Scope.OWN_LA,
                        P.ISSUE_ENROLMENT: Scope.OWN_LA, P.READ_AUDIT: Scope.OWN_LA,
                        P.READ_RUNS: Scope.ALL, P.SUBJECT_ACCESS: Scope.OWN_LA, P.TRANSFER: Scope.OWN_LA,
                        P.UPLOAD_FEED: Scope.OWN_LA},
    Role.SCHOOL_SUBMITTER: {P.UPLOAD_SUBMISSION: Scope.OWN_SCHOOL},
    Role.AUDITOR: {P.READ_AUDIT: Scope.ALL},
    Role.ADMINISTRATOR: {P.ISSUE_ENROLMENT: Scope.OWN_LA, P.UNLOCK: Scope.OWN_LA,
                         P.MANAGE_REGISTER: Scope.OWN_LA, P.CONFIGURE: Scope.ALL},
    Role.OPERATOR: {P.READ_RUNS: Scope.ALL},
}

CAPABILITY_PERMISSIONS: dict[Capability, dict[Permission, Scope]] = {
    # Only meaningful together with view_record: the shield override widens what is shown.
    Capability.CHILD_PROTECTION: {P.SHIELD_OVERRIDE: Scope.ALL},
}


class Forbidden(PermissionError):
    """The user's role or scope does not allow this; the message names permission and scope."""


@dataclass(frozen=True)
class Principal:
    """Who is acting: the signed-in user as the rest of the system sees them."""

    user_id: str
    role: Role
    la: str | None = None  # three-digit LA number from the register
    organisation_code: str | None = None  # LAEstab for a school submitter
    capabilities: frozenset[Capability] = frozenset()

    def grants(self) -> dict[Permission, Scope]:
        granted = dict(ROLE_PERMISSIONS[self.role])
        for capability in self.capabilities:
            granted.update(CAPABILITY_PERMISSIONS[capability])
        return granted

    def can(self, permission: Permission, *, la: str | None = None, school: str | None = None) -> bool:
        """May this principal use `permission` on something in LA `la` / school `school`?

        A scoped permission asked without the thing's LA (or school) is refused: the caller must
        say what is being acted on for the scope to be checked.
        """
        scope = self.grants().get(permission)
        if scope is None:
            return False
        if scope is Scope.OWN_LA:
            return la is not None and self.la is not None and la == self.la
        if scope is Scope.OWN_SCHOOL:
            return (school is not None and self.organisation_code is not None
                    and school == self.organisation_code)
        return True

    def require(self, permission: Permission, *, la: str | None = None, school: str | None = None) -> None:
        if not self.can(permission, la=la, school=school):
            scope = self.grants().get(permission)
            where = f" outside their {scope.value.replace('_', ' ')}" if scope else ""
            raise Forbidden(f"role {self.role.value} may not {permission.value}{where}")


def role_from_name(name: str) -> Role | Capability | None:
    """A role or capability by its configured name, or None for an unknown name."""
    for kind in (Role, Capability):
        try:
            return kind(name)
        except ValueError:
            continue
    return None
