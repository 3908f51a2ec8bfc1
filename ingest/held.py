"""The LA data team's dismissal of a service-feed row held for them (issue 15): the row is one
they will not act on (the sender has since sent it corrected, it repeats a child already in the
index, or it names no child they can identify). Its staged values are cleared at once, as the
retention run would after `ops.retention.HELD_DAYS`, and it leaves the held list; why is one of
`DISMISS_REASONS` (fixed codes, never free text: a note could hold personal data)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from index import models as m
from ingest.nightly import RecordOutcome

HELD_DISMISSED = "held_dismissed"  # staged_records.outcome of a dismissed held row
# Why a held row is dismissed (also the audit entry's reason code: access.audit.REASONS).
DISMISS_REASONS: Mapping[str, str] = {
    "held_sent_again": "the sender has sent the row again, corrected",
    "held_already_known": "the row repeats what the index already holds of a child",
    "held_unidentifiable": "the row names no child the LA data team can identify",
}


def dismiss_held(session: Session, *, submission_id: int, record_ref: str, owning_la: str | None) -> bool:
    """Clear one held row of `owning_la`'s (None: any LA); False when there is no such held row
    (never held, already dismissed or purged, or another LA's: the same answer)."""
    S = m.StagedRecord
    query = (select(S.position).join(m.StagedSubmission, m.StagedSubmission.submission_id == S.submission_id)
             .where(S.submission_id == submission_id, S.record_ref == record_ref,
                    S.outcome == RecordOutcome.HELD, S.payload.is_not(None)))
    if owning_la is not None:
        query = query.where(m.StagedSubmission.owning_la == owning_la)
    positions = session.scalars(query).all()
    if len(positions) != 1:
        return False
    session.execute(update(S).where(S.submission_id == submission_id, S.position == positions[0])
                    .values(payload=None, outcome=HELD_DISMISSED)
                    .execution_options(synchronize_session=False))
    return True
