"""Separation of duties over people's access: the register, enrolment tokens and unlocks.

Nobody acts on their own access (extending their own vetting, issuing themselves a new second
factor, lifting their own lock), and the entries of those who watch or run the index (auditors,
administrators, operators) are an administrator's to change, never the LA data team's: a data
team member could otherwise suspend the auditor looking at them. The permission table
(access.roles) still decides who may act on which LA at all; this decides on whom.
"""

from __future__ import annotations

from collections.abc import Iterable

from access.identity import canonical_username
from access.roles import Forbidden, Principal, Role

# Roles whose entries (and enrolment tokens) only an administrator may touch.
ADMINISTRATOR_ONLY: frozenset[Role] = frozenset({Role.AUDITOR, Role.ADMINISTRATOR, Role.OPERATOR})


def check_duties(actor: Principal, subject: str, roles: Iterable[Role], what: str) -> None:
    """Forbidden if `actor` may not do `what` to `subject`, whose role is (or becomes) `roles`."""
    if canonical_username(actor.user_id) == canonical_username(subject):
        raise Forbidden(f"nobody may {what} for themselves: ask another member of the LA's team")
    guarded = sorted(r.value for r in set(roles) & ADMINISTRATOR_ONLY)
    if guarded and actor.role is not Role.ADMINISTRATOR:
        raise Forbidden(f"only an administrator may {what} for a user whose role is {guarded[0]}")


def check_school_of_la(entry_role: Role, la: str, organisation_code: str | None) -> None:
    """A school submitter's school (an LAEstab: LA number, then establishment) must be a school
    of the LA whose register holds them: an LA team must not grant uploads for another LA's
    school, whose pupils would then be written as that LA's children."""
    if entry_role is Role.SCHOOL_SUBMITTER:
        code = organisation_code or ""
        if not (len(code) == 7 and code.isdigit() and code.startswith(la)):
            raise Forbidden(f"a school submitter on LA {la}'s register is for one of its schools: "
                            f"organisation_code is an LAEstab starting {la}")
