"""A school's roll, as its census closes: who left, and who stays although their record was
rejected.

A pupil is off roll only when a complete census from the school does not hold them at all. A
rejected row still names a pupil: by a valid UPN, or by names and date of birth as sent (held
in `staged_rejections.identity` from staging until here, then cleared). A child the school
holds whom a rejected row names keeps the involvement, counted as "kept: on roll, record
rejected"; the school is told why the row was rejected, as before.

Naming a held child (`names_held_child`), in order:
1. the row's valid UPN is one the child holds;
2. the row's forename and surname (folded) are a name of the child's and its date of birth,
   as written, is the child's;
3. the row's date of birth is missing or not a date, and its names are those of exactly one
   child the school holds.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from index import models as m
from index.keys import fold
from index.vocabulary import ServiceType

ENDED = "involvements_ended_not_on_roll"
KEPT_REJECTED = "involvements_kept_on_roll_record_rejected"
# How the run report names the count of children kept on roll though their record was rejected.
LABELS = {KEPT_REJECTED: "kept: on roll, record rejected", ENDED: "ended: not on roll"}


def pupil_identity(fields: Mapping[str, Any]) -> str | None:
    """What of a rejected pupil is held until its census closes: forename, surname and date of
    birth as sent (JSON), or None when the row names nobody by them."""
    kept = {"forename": fields.get("forename"), "surname": fields.get("surname"), "dob": fields.get("dob")}
    if not (kept["forename"] and kept["surname"]):
        return None
    return json.dumps({k: str(v)[:100] for k, v in kept.items() if v}, sort_keys=True)


def _names_key(given: str | None, family: str | None) -> tuple[str, str]:
    return (fold(given or ""), fold(family or ""))


def _usable_date(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        return None


def close_roll(session: Session, submission_id: int, school: str, on: dt.date) -> Counter[str]:
    """End `school`'s open involvements of children this census does not hold; keep those a
    rejected row names. Clears the rejected rows' identities. Returns the counts for the report."""
    on_roll = select(m.StagedRecord.child_id).where(
        m.StagedRecord.submission_id == submission_id, m.StagedRecord.child_id.is_not(None))
    may_be = select(m.MatchReview.candidate_id).where(m.MatchReview.child_id.in_(on_roll))
    open_here = (m.Involvement.service_type == ServiceType.SCHOOL, m.Involvement.organisation_code == school,
                 m.Involvement.end_date.is_(None),
                 (m.Involvement.start_date.is_(None)) | (m.Involvement.start_date <= on),
                 m.Involvement.child_id.not_in(on_roll), m.Involvement.child_id.not_in(may_be))
    leaving = set(session.scalars(select(m.Involvement.child_id).where(*open_here)))
    kept = _named_by_rejections(session, submission_id, leaving)
    counts: Counter[str] = Counter()
    if kept:
        counts[KEPT_REJECTED] = len(kept)
    ended = session.execute(
        update(m.Involvement.__table__).where(*open_here, m.Involvement.child_id.not_in(sorted(kept)))
        .values(end_date=on, submission_id=submission_id, record_ref="not on roll")
    )
    counts[ENDED] = int(ended.rowcount or 0)  # type: ignore[attr-defined]
    session.execute(update(m.StagedRejection).where(m.StagedRejection.submission_id == submission_id,
                                                    m.StagedRejection.identity.is_not(None))
                    .values(identity=None))
    return counts


def _named_by_rejections(session: Session, submission_id: int, leaving: set[int]) -> set[int]:
    """The children about to leave whom a rejected row of the census names."""
    if not leaving:
        return set()
    rows = session.execute(select(m.StagedRejection.upn, m.StagedRejection.identity).where(
        m.StagedRejection.submission_id == submission_id,
        (m.StagedRejection.upn.is_not(None)) | (m.StagedRejection.identity.is_not(None)))).all()
    if not rows:
        return set()
    ids = sorted(leaving)
    upns: dict[str, set[int]] = defaultdict(set)
    for child_id, value in session.execute(select(m.ChildIdentifier.child_id, m.ChildIdentifier.value).where(
            m.ChildIdentifier.child_id.in_(ids), m.ChildIdentifier.scheme == "upn")):
        upns[value].add(child_id)
    born = dict(session.execute(select(m.Child.id, m.Child.date_of_birth)
                                .where(m.Child.id.in_(ids))).all())
    by_name: dict[tuple[str, str], set[int]] = defaultdict(set)
    for child_id, given, family in session.execute(select(
            m.ChildName.child_id, m.ChildName.given_name, m.ChildName.family_name).where(
            m.ChildName.child_id.in_(ids))):
        by_name[_names_key(given, family)].add(child_id)
    kept: set[int] = set()
    for upn, identity in rows:
        if upn and upn in upns:
            kept |= upns[upn]
            continue
        if not identity:
            continue
        sent = json.loads(identity)
        named = by_name.get(_names_key(sent.get("forename"), sent.get("surname")), set())
        date = _usable_date(sent.get("dob"))
        if date is not None:
            kept |= {c for c in named if born[c].isoformat() == date}
        elif len(named) == 1:
            kept |= named
    return kept
