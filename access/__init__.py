"""LDAP, TOTP, practitioner register, roles, view policy and audit trail (issue: access)."""
