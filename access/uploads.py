"""Which kinds of file each upload route may receive, by the permission that route requires.

The kind is detected from the file's content (ingest.feeds.detect_kind, never its name) and
checked here before anything is staged: a school sends its own census and CTF only; service
feeds (involvements, lead professionals, contact details, addresses) come only from the LA data
team, for its own LA, or from the operator's command line. A school that could send a service
feed could write a CAMHS involvement into any child of any school (issue 14, item 1).
"""

from __future__ import annotations

from access.roles import Forbidden, Permission
from index.vocabulary import SourceKind

UPLOAD_KINDS: dict[Permission, frozenset[SourceKind]] = {
    Permission.UPLOAD_SUBMISSION: frozenset({SourceKind.CENSUS, SourceKind.CTF}),
    Permission.UPLOAD_FEED: frozenset({SourceKind.SERVICE_FEED}),
}

KIND_NAMES: dict[SourceKind, str] = {
    SourceKind.CENSUS: "a school census",
    SourceKind.CTF: "a common transfer file (CTF)",
    SourceKind.SERVICE_FEED: "a service feed",
    SourceKind.PRACTITIONER: "a practitioner's own record",
}


def check_upload_kind(permission: Permission, kind: SourceKind) -> None:
    """Forbidden, naming what was sent and what this route takes, unless `kind` may be sent."""
    allowed = UPLOAD_KINDS.get(permission, frozenset())
    if kind not in allowed:
        takes = " or ".join(sorted(KIND_NAMES[k] for k in allowed)) or "nothing"
        raise Forbidden(f"this file is {KIND_NAMES[kind]}: this upload takes {takes} only")
