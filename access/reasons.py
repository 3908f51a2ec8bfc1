"""Stated reasons, as tables: which reasons each role may give for an access (a search, a view,
an involvement), and why a register entry changed. Both are audit reason codes
(access.audit.REASONS); a role giving a reason outside its row is refused and audited, so a
practitioner cannot dress a search up as `administration` or `audit_review`."""

from __future__ import annotations

import enum

from access.roles import Forbidden, Principal, Role

_PRACTICE = frozenset({"safeguarding", "coordinate_services", "new_involvement", "referral"})

ACCESS_REASONS: dict[Role, frozenset[str]] = {
    Role.PRACTITIONER: _PRACTICE,
    # The LA team works with its children too (brokering contact, shielding, involvements),
    # and keeps the index accurate.
    Role.LA_DATA_TEAM: _PRACTICE | {"data_accuracy"},
    Role.SCHOOL_SUBMITTER: frozenset({"submission"}),
    Role.AUDITOR: frozenset({"audit_review"}),
    Role.ADMINISTRATOR: frozenset({"administration"}),
    Role.OPERATOR: frozenset(),
}

# Every reason some role may give for an access (the request models' vocabulary).
ACCESS_REASON_CODES: tuple[str, ...] = tuple(sorted(frozenset().union(*ACCESS_REASONS.values())))


class RegisterChange(enum.StrEnum):
    """Why a register entry was added or changed (the audit entry's reason)."""

    NEW_ENTRY = "register_new_entry"
    VETTING_RENEWED = "register_vetting_renewed"
    TRAINING_RECORDED = "register_training_recorded"
    ROLE_OR_ORGANISATION = "register_role_or_organisation"
    SUSPENSION = "register_suspension"
    REINSTATEMENT = "register_reinstatement"
    CORRECTION = "register_correction"


def check_reason(principal: Principal, reason: str) -> None:
    """Forbidden unless `principal`'s role may give `reason`."""
    allowed = ACCESS_REASONS.get(principal.role, frozenset())
    if reason not in allowed:
        may = ", ".join(sorted(allowed)) or "none"
        raise Forbidden(f"role {principal.role.value} may not give the reason {reason} (its reasons: {may})")
