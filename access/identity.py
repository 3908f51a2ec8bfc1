"""One canonical form of a user name, used everywhere a user name is a key.

The directory matches user names loosely (LDAP's caseIgnoreMatch ignores case and leading,
trailing and repeated spaces), so any key the index keeps of its own (the lockout count, the
register, TOTP credentials, sessions, the audit trail) must be at least as loose, or a variant
the directory accepts (`"  Hal.Visitor"`) would get a fresh lockout count and a second register
row. `canonical_username` is applied once, where a name enters (sign-in, enrolment, the register,
the administrator's routes); everything after uses its result.
"""

from __future__ import annotations

import unicodedata


def canonical_username(name: str) -> str:
    """NFKC-normalised, surrounding whitespace removed, inner runs of whitespace as one space,
    case-folded (and normalised again: case folding can undo NFKC)."""
    folded = " ".join(unicodedata.normalize("NFKC", name).split()).casefold()
    return unicodedata.normalize("NFKC", folded)


def client_key(address: str) -> str:
    """The lockout key of a client address. It holds a tab, which no user name can
    (`access.directory.check_username` refuses anything not printable), so a user name can
    never share a client address's count."""
    return f"client\t{address}"[:64]
