"""The LA data team's dismissal of a service-feed row held for them (issue 15): the row is one
they will not act on (the sender has since sent it corrected, it repeats a child already in the
index, or it names no child they can identify). Its staged values are cleared at once, as the
retention run would after `ops.retention.HELD_DAYS`, and it leaves the held list; why is one of
`DISMISS_REASONS` (fixed codes, never free text: a note could hold personal data).

Or their attachment of a held row to the child they know it is: the row is applied to that
child exactly as the nightly run applies an undated row it links (`ingest.store_changes.
apply_links`: its involvement, and its names, identifiers and address as history carrying the
row's provenance; never the child's date of birth), and the row is marked attached."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from index import models as m
from index.records import load_record
from index.vocabulary import ChildStatus
from ingest.nightly import RecordOutcome, effective_date
from ingest.store_changes import ChangeCounts, apply_links

HELD_DISMISSED = "held_dismissed"  # staged_records.outcome of a dismissed held row
HELD_ATTACHED = "held_attached"  # staged_records.outcome of a held row attached to a child by hand
# Why a held row is dismissed (also the audit entry's reason code: access.audit.REASONS).
DISMISS_REASONS: Mapping[str, str] = {
    "held_sent_again": "the sender has sent the row again, corrected",
    "held_already_known": "the row repeats what the index already holds of a child",
    "held_unidentifiable": "the row names no child the LA data team can identify",
}


# Why a held row is attached to a child (also the audit entry's reason code: access.audit.REASONS).
ATTACH_REASONS: Mapping[str, str] = {
    "held_child_identified": "the LA data team identified the row's child among those already held",
}


def _held_position(session: Session, submission_id: int, record_ref: str,
                   owning_la: str | None) -> int | None:
    """The position of the one held row of `owning_la`'s (None: any LA) at that submission and
    record; None when there is none (never held, dismissed, attached, purged or another LA's)."""
    S = m.StagedRecord
    query = (select(S.position).join(m.StagedSubmission, m.StagedSubmission.submission_id == S.submission_id)
             .where(S.submission_id == submission_id, S.record_ref == record_ref,
                    S.outcome == RecordOutcome.HELD, S.payload.is_not(None)))
    if owning_la is not None:
        query = query.where(m.StagedSubmission.owning_la == owning_la)
    positions = session.scalars(query).all()
    return positions[0] if len(positions) == 1 else None


def attach_held(session: Session, *, submission_id: int, record_ref: str, child_id: int,
                owning_la: str | None) -> ChangeCounts | None:
    """Apply one held row of `owning_la`'s to its child `child_id` (a child of that LA, not
    archived) and mark it attached, its values cleared; None when there is no such row or child
    (another LA's answers the same), and nothing is written."""
    position = _held_position(session, submission_id, record_ref, owning_la)
    child = session.get(m.Child, child_id)
    if (position is None or child is None or child.status is ChildStatus.ARCHIVED
            or (owning_la is not None and child.owning_la != owning_la)):
        return None
    S = m.StagedRecord
    payload = session.scalar(select(S.payload).where(S.submission_id == submission_id,
                                                     S.position == position))
    assert payload is not None  # found held with its payload above
    staged = session.execute(select(m.StagedSubmission).where(
        m.StagedSubmission.submission_id == submission_id)).scalar_one()
    changes = apply_links(session, [(child_id, load_record(payload), record_ref)], submission_id,
                          effective_date(staged))
    session.execute(update(S).where(S.submission_id == submission_id, S.position == position)
                    .values(payload=None, outcome=HELD_ATTACHED, child_id=child_id)
                    .execution_options(synchronize_session=False))
    return changes


def dismiss_held(session: Session, *, submission_id: int, record_ref: str, owning_la: str | None) -> bool:
    """Clear one held row of `owning_la`'s (None: any LA); False when there is no such held row
    (never held, already dismissed or purged, or another LA's: the same answer)."""
    position = _held_position(session, submission_id, record_ref, owning_la)
    if position is None:
        return False
    S = m.StagedRecord
    session.execute(update(S).where(S.submission_id == submission_id, S.position == position)
                    .values(payload=None, outcome=HELD_DISMISSED)
                    .execution_options(synchronize_session=False))
    return True
