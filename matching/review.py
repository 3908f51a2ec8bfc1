"""The LA data team's side of matching: the review queue, merges and splits, with history.

- `open_review` queues a possible match between the child an incoming record was held as and
  the existing child it may be, with the matcher's explanation. A record that may be a
  shielded child is held *shielded* until someone decides.
- `review_queue` lists open items by priority (possible shielded matches first, then identifier
  conflicts, then the rest, likeliest first); `review_item` shows one with both children side by
  side and the explanation.
- `decide_review`: SAME merges the two children, DIFFERENT keeps them apart for good (the
  matcher is told through `verdict_lookup`); both record who, when and a coded reason.
- `merge_children` moves every name, address, identifier, carer and involvement row of one child
  to the other, keeping each row's provenance and listing it in `child_merge_rows`; the merged
  child's own row is kept in `child_merges`. `split_merge` undoes exactly that.
- `rescore_open_reviews` re-scores open items under a new model; decided items are never
  touched, so changing weights or thresholds cannot undo a person's decision.

Callers own the transaction (`index.transaction`) and re-index the children returned.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm import Session

from index import models as m
from index.vocabulary import AddressStatus, MatchReason, NameKind, ReviewStatus
from matching.consolidate import FOLD_KEYS, dump_row, load_row
from matching.decide import Decision, Outcome, Rule, Verdict, VerdictLookup
from matching.model import MatchModel, TermFrequencies
from matching.person import Person, UnscorableRecord, make_person


class ReviewError(ValueError):
    """A review, merge or split that cannot be done as asked; the message says why."""


# Queue priority by the rule that sent an item to review: higher first.
PRIORITY: dict[str, int] = {
    Rule.SHIELDED.value: 40,
    Rule.IDENTIFIER_CONFLICT_SHARED.value: 30,
    Rule.IDENTIFIER_CONFLICT_DEMOGRAPHICS.value: 30,
    Rule.AMBIGUOUS.value: 20,
    Rule.CONTRADICTION.value: 20,
    Rule.PROBABILISTIC_REVIEW.value: 10,
}
DEFAULT_PRIORITY = 10

# The tables whose rows belong to a child and move with it in a merge.
_CHILD_ROWS: tuple[type[m.Base], ...] = (
    m.ChildName, m.ChildAddress, m.ChildIdentifier, m.Carer, m.Involvement,
)
_BY_TABLE = {t.__tablename__: t for t in _CHILD_ROWS}


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _child(session: Session, child_id: int, what: str) -> m.Child:
    child = session.get(m.Child, child_id)
    if child is None:
        raise ReviewError(f"{what} {child_id} does not exist (merged or purged?)")
    return child


# -- the matcher's view of stored children ------------------------------------------------------


def person_from_child(child: m.Child) -> Person:
    """A stored child as the matcher sees it (current name, current address, identifiers)."""
    names = sorted(child.names, key=lambda n: n.id)
    current = next((n for n in names if n.kind is NameKind.CURRENT), names[0] if names else None)
    addresses = sorted(child.addresses, key=lambda a: a.id)
    address = next((a for a in addresses if a.status is AddressStatus.CURRENT),
                   addresses[0] if addresses else None)
    lines = [address.line1, address.line2, address.line3, address.town] if address else []
    return make_person(
        child.id,
        given_name=current.given_name if current else None,
        middle_names=current.middle_names if current else None,
        family_name=current.family_name if current else None,
        other_family_names=[n.family_name for n in names if n is not current and n.family_name],
        date_of_birth=child.date_of_birth,
        sex=child.gender.value,
        postcode=address.postcode if address else None,
        address=" ".join(line for line in lines if line),
        identifiers=[(i.scheme, i.value) for i in child.identifiers],
        shielded=child.shielded,
    )


# -- opening and listing ------------------------------------------------------------------------


def _priority(rule: str) -> int:
    return PRIORITY.get(rule, DEFAULT_PRIORITY)


def _explanation_json(decision: Decision) -> str:
    data = decision.as_dict()
    kept = ("rule", "weight", "probability", "thresholds", "explanation", "scheme")
    stored = {k: data[k] for k in kept}
    return json.dumps(stored, sort_keys=True)


def open_review(
    session: Session, *, child_id: int, candidate_id: int, decision: Decision,
    now: dt.datetime | None = None,
) -> int:
    """Queue `child_id` (the child an incoming record was held as) against `candidate_id`.

    When the decision says the record must be treated as shielded, the held child is shielded
    now and stays so until a decision (`held_shielded` remembers that the review did it)."""
    if decision.outcome is not Outcome.REVIEW:
        raise ReviewError("only a REVIEW decision opens a review")
    if child_id == candidate_id:
        raise ReviewError("a child cannot be reviewed against itself")
    child = _child(session, child_id, "child")
    candidate = _child(session, candidate_id, "candidate child")
    held = decision.shielded and not child.shielded
    if held:
        child.shielded = True
    review = m.MatchReview(
        child_id=child_id, candidate_id=candidate_id, owning_la=candidate.owning_la,
        rule=decision.rule.value, priority=_priority(decision.rule.value),
        weight=decision.weight, probability=decision.probability,
        explanation=_explanation_json(decision), held_shielded=held,
        status=ReviewStatus.OPEN, opened_at=_now(now),
    )
    session.add(review)
    session.flush()
    return review.id


@dataclass(frozen=True)
class ReviewedChild:
    """What the LA data team sees of each side: the allow-listed essentials."""

    child_id: int
    child_number: str
    given_name: str | None
    middle_names: str | None
    family_name: str | None
    other_names: tuple[str, ...]
    date_of_birth: dt.date
    gender: str
    postcode: str | None
    town: str | None
    identifiers: tuple[tuple[str, str], ...]
    shielded: bool


@dataclass(frozen=True)
class ExplainedField:
    """One line of why two children may be one: the field compared, its value on each side (as
    the LA data team may see them), the level the comparison reached and the weight it added."""

    field: str
    held_value: str | None
    existing_value: str | None
    level: str
    weight: float


# What each comparison of the model compares, as shown beside its level (a child's summary field,
# or a function of the summary).
def _identifiers(c: ReviewedChild) -> str | None:
    return ", ".join(f"{s}:{v}" for s, v in c.identifiers) or None


def _address(c: ReviewedChild) -> str | None:
    return " ".join(p for p in (c.postcode, c.town) if p) or None


_SHOWN: dict[str, Callable[[ReviewedChild], str | None]] = {
    "given_name": lambda c: c.given_name,
    "middle_names": lambda c: c.middle_names,
    "family_name": lambda c: " / ".join(n for n in (c.family_name, *c.other_names) if n) or None,
    "date_of_birth": lambda c: c.date_of_birth.isoformat(),
    "sex": lambda c: c.gender,
    "address": _address,
    "identifiers": _identifiers,
}


def explained_fields(explanation: dict[str, object], child: ReviewedChild | None,
                     candidate: ReviewedChild | None) -> tuple[ExplainedField, ...]:
    """The stored explanation's per-field levels and weights, flat, with both children's values."""
    inner = explanation.get("explanation")
    if not isinstance(inner, dict):
        return ()
    out = []
    for bar in inner.get("fields", ()):
        shown = _SHOWN.get(bar["comparison"])
        out.append(ExplainedField(
            field=bar["comparison"],
            held_value=shown(child) if shown and child else None,
            existing_value=shown(candidate) if shown and candidate else None,
            level=bar["level"], weight=float(bar["weight"])))
    return tuple(out)


@dataclass(frozen=True)
class ReviewItem:
    """One review as the LA data team reads it: the rule and scores, and `fields`, the flat
    explanation (field, the two values, the level reached, its weight); `explanation` keeps
    the rest of what the matcher said (thresholds, the identifier scheme behind a conflict)."""

    id: int
    status: ReviewStatus
    rule: str
    priority: int
    probability: float | None
    weight: float | None
    prior_weight: float | None
    fields: tuple[ExplainedField, ...]
    explanation: dict[str, object]
    child: ReviewedChild | None  # None when the child no longer exists (merged elsewhere)
    candidate: ReviewedChild | None
    opened_at: dt.datetime
    decided_at: dt.datetime | None
    decided_by: str | None
    decision_reason: MatchReason | None
    merge_id: int | None

    def side_by_side(self) -> str:
        """Both children in two columns, then the explanation's waterfall."""
        rows = [("", "held record", "existing child")]
        fields = ("child_number", "given_name", "family_name", "other_names", "date_of_birth",
                  "gender", "postcode", "town", "identifiers", "shielded")
        for f in fields:
            rows.append((f, _show(self.child, f), _show(self.candidate, f)))
        width = max(len(r[1]) for r in rows) + 2
        lines = [f"review {self.id} [{self.status.value}] {self.rule} priority {self.priority}"]
        lines += [f"  {f:<14}{a:<{width}}{b}" for f, a, b in rows]
        if self.prior_weight is not None:
            lines.append(f"  {'prior':<36}{self.prior_weight:+7.2f}")
        for bar in self.fields:
            lines.append(f"  {bar.field:<14}{bar.level:<22}{bar.weight:+7.2f}  "
                         f"{bar.held_value or '-'} | {bar.existing_value or '-'}")
        if self.fields and self.weight is not None and self.probability is not None:
            lines.append(f"  {'total':<36}{self.weight:+7.2f}  p = {self.probability:.4f}")
        return "\n".join(lines)


def _show(summary: ReviewedChild | None, field: str) -> str:
    if summary is None:
        return "(no longer exists)"
    value = getattr(summary, field)
    if isinstance(value, tuple):
        return ", ".join(v if isinstance(v, str) else ":".join(v) for v in value) or "-"
    return "-" if value is None else str(value)


def _summary(session: Session, child_id: int) -> ReviewedChild | None:
    child = session.get(m.Child, child_id)
    if child is None:
        return None
    names = sorted(child.names, key=lambda n: n.id)
    current = next((n for n in names if n.kind is NameKind.CURRENT), names[0] if names else None)
    address = next((a for a in sorted(child.addresses, key=lambda a: a.id)
                    if a.status is AddressStatus.CURRENT), None)
    return ReviewedChild(
        child_id=child.id, child_number=child.child_number,
        given_name=current.given_name if current else None,
        middle_names=current.middle_names if current else None,
        family_name=current.family_name if current else None,
        other_names=tuple(" ".join(p for p in (n.given_name, n.family_name) if p)
                          for n in names if n is not current),
        date_of_birth=child.date_of_birth, gender=child.gender.value,
        postcode=address.postcode if address else None, town=address.town if address else None,
        identifiers=tuple(sorted((i.scheme.value, i.value) for i in child.identifiers)),
        shielded=child.shielded,
    )


def _item(session: Session, review: m.MatchReview) -> ReviewItem:
    stored = json.loads(review.explanation) if review.explanation else {}
    child, candidate = _summary(session, review.child_id), _summary(session, review.candidate_id)
    inner = stored.get("explanation")
    return ReviewItem(
        id=review.id, status=review.status, rule=review.rule, priority=review.priority,
        probability=review.probability, weight=review.weight,
        prior_weight=inner.get("prior_weight") if isinstance(inner, dict) else None,
        fields=explained_fields(stored, child, candidate),
        explanation={k: v for k, v in stored.items() if k != "explanation"},
        child=child, candidate=candidate,
        opened_at=review.opened_at, decided_at=review.decided_at, decided_by=review.decided_by,
        decision_reason=review.decision_reason, merge_id=review.merge_id,
    )


def review_queue(
    session: Session, *, owning_la: str | None = None, limit: int = 50
) -> list[ReviewItem]:
    """Open items, highest priority first, then likeliest, then oldest."""
    query = select(m.MatchReview).where(m.MatchReview.status == ReviewStatus.OPEN)
    if owning_la is not None:
        query = query.where(m.MatchReview.owning_la == owning_la)
    query = query.order_by(
        m.MatchReview.priority.desc(), m.MatchReview.probability.desc(), m.MatchReview.opened_at,
        m.MatchReview.id,
    ).limit(limit)
    return [_item(session, r) for r in session.scalars(query)]


def review_item(session: Session, review_id: int) -> ReviewItem:
    review = session.get(m.MatchReview, review_id)
    if review is None:
        raise ReviewError(f"review {review_id} does not exist")
    return _item(session, review)


def history(session: Session, child_id: int) -> list[ReviewItem]:
    """Every review that involved a child, oldest first."""
    query = select(m.MatchReview).where(
        or_(m.MatchReview.child_id == child_id, m.MatchReview.candidate_id == child_id)
    ).order_by(m.MatchReview.id)
    return [_item(session, r) for r in session.scalars(query)]


# -- deciding ------------------------------------------------------------------------------------


def decide_review(
    session: Session, review_id: int, verdict: Verdict, *, by: str, reason: MatchReason,
    now: dt.datetime | None = None,
) -> int | None:
    """Record the LA data team's decision. SAME merges the held child into the existing one and
    returns the merge id; DIFFERENT releases the hold (unless another open review still holds
    the child). Either way the decision stands: re-scoring never reopens it."""
    review = session.get(m.MatchReview, review_id)
    if review is None:
        raise ReviewError(f"review {review_id} does not exist")
    if review.status is not ReviewStatus.OPEN:
        raise ReviewError(f"review {review_id} is already decided ({review.status.value})")
    if not by.strip():
        raise ReviewError("a decision needs the deciding user")
    when = _now(now)
    merge_id = None
    if verdict is Verdict.SAME:
        merge_id = merge_children(session, keep=review.candidate_id, merge=review.child_id,
                                  by=by, reason=reason, review_id=review.id, now=when,
                                  held_shielded=review.held_shielded)
        review.status = ReviewStatus.SAME
    else:
        _child(session, review.child_id, "child")
        review.status = ReviewStatus.DIFFERENT
        if review.held_shielded:
            _release_hold(session, review)
    review.decided_at, review.decided_by, review.decision_reason = when, by, reason
    review.merge_id = merge_id
    return merge_id


def _release_hold(session: Session, review: m.MatchReview) -> None:
    others = session.scalar(select(m.MatchReview.id).where(
        m.MatchReview.child_id == review.child_id, m.MatchReview.id != review.id,
        m.MatchReview.status == ReviewStatus.OPEN, m.MatchReview.held_shielded.is_(True),
    ).limit(1))
    if others is None:
        session.execute(update(m.Child).where(m.Child.id == review.child_id).values(shielded=False))


# -- merge and split ------------------------------------------------------------------------------


def merge_children(
    session: Session, *, keep: int, merge: int, by: str, reason: MatchReason,
    review_id: int | None = None, now: dt.datetime | None = None, held_shielded: bool = False,
) -> int:
    """Merge child `merge` into child `keep`; returns the merge id. Nothing is lost: every row
    moves with its provenance (or, for an identifier `keep` already holds, is kept in the merge
    history), and the merged child's own row is kept for a split. The kept child is shielded
    if either was. Other open reviews of the merged child are withdrawn."""
    if keep == merge:
        raise ReviewError("a child cannot be merged into itself")
    kept = _child(session, keep, "child to keep")
    merged = _child(session, merge, "child to merge")
    when = _now(now)
    # A hold placed by the review is not the merged child's own shielding.
    merged_own_shield = merged.shielded and not held_shielded
    record = m.ChildMerge(
        kept_child_id=keep, merged_child_id=merge, review_id=review_id,
        merged_child_number=merged.child_number, merged_owning_la=merged.owning_la,
        merged_date_of_birth=merged.date_of_birth, merged_gender=merged.gender,
        merged_status=merged.status, merged_status_since=merged.status_since,
        merged_shielded=merged_own_shield, merged_created_at=merged.created_at,
        merged_submission_id=merged.submission_id, merged_record_ref=merged.record_ref,
        kept_shielded=kept.shielded, merged_at=when, merged_by=by, merge_reason=reason,
    )
    session.add(record)
    session.flush()
    held = {(i.scheme, i.value) for i in kept.identifiers}
    # The kept child's rows by their values, for equal rows of the merged child to fold into.
    equal_to: dict[type[m.Base], dict[tuple[object, ...], int]] = {
        table: {key(r): r.id for r in session.scalars(  # type: ignore[attr-defined]
            select(table).where(table.child_id == keep).order_by(table.id))}  # type: ignore[attr-defined]
        for table, key in FOLD_KEYS.items()}
    rows: list[dict[str, object]] = []
    moved_current: list[m.ChildAddress] = []
    for table in _CHILD_ROWS:
        owned = select(table).where(table.child_id == merge).order_by(table.id)  # type: ignore[attr-defined]
        for row in session.scalars(owned):
            entry: dict[str, object] = {
                "merge_id": record.id, "table_name": table.__tablename__, "row_id": row.id,
                "removed": False, "name_kind": None, "scheme": None, "value": None,
                "submission_id": None, "record_ref": None, "row_data": None,
            }
            into = equal_to[table].get(FOLD_KEYS[table](row)) if table in FOLD_KEYS else None
            if isinstance(row, m.ChildIdentifier) and (row.scheme, row.value) in held:
                entry.update(removed=True, scheme=row.scheme, value=row.value,
                             submission_id=row.submission_id, record_ref=row.record_ref)
                session.delete(row)
            elif into is not None:
                # An equal value: one row, the other's provenance (and whole row) kept here.
                entry.update(removed=True, submission_id=row.submission_id, record_ref=row.record_ref,
                             row_data=dump_row(row, folded_into=into))
                session.delete(row)
            else:
                if isinstance(row, m.ChildName) and row.kind is NameKind.CURRENT:
                    entry["name_kind"] = row.kind
                    row.kind = NameKind.ALTERNATIVE
                if isinstance(row, m.ChildAddress) and row.status is AddressStatus.CURRENT:
                    moved_current.append(row)
                row.child_id = keep
            rows.append(entry)
    demoted = _one_current_address(session, keep, moved_current, when.date())
    for entry in rows:
        if entry["table_name"] == m.ChildAddress.__tablename__ and entry["row_id"] in demoted:
            entry["row_data"] = demoted.pop(entry["row_id"])  # type: ignore[call-overload]
    # What is left are the kept child's own rows the merge changed.
    rows += [{"merge_id": record.id, "table_name": m.ChildAddress.__tablename__, "row_id": row_id,
              "removed": False, "name_kind": None, "scheme": None, "value": None,
              "submission_id": None, "record_ref": None, "row_data": before}
             for row_id, before in sorted(demoted.items())]
    if rows:
        session.execute(insert(m.ChildMergeRow), rows)
    kept.shielded = kept.shielded or merged_own_shield
    session.flush()
    session.expire(kept)
    session.expire(merged)
    session.execute(delete(m.Child).where(m.Child.id == merge))
    # Reviews that still wait on the merged child are overtaken by this merge.
    session.execute(update(m.MatchReview).where(
        m.MatchReview.status == ReviewStatus.OPEN,
        or_(m.MatchReview.child_id == merge, m.MatchReview.candidate_id == merge),
        m.MatchReview.id != (review_id or 0),
    ).values(status=ReviewStatus.WITHDRAWN, decided_at=when, decided_by=by))
    session.flush()
    return record.id


def _one_current_address(session: Session, keep: int, moved: list[m.ChildAddress],
                         on: dt.date) -> dict[int, str]:
    """Of the kept child's current addresses and the merged child's moved ones, the latest
    (`valid_from`; a tie: the kept child's) stays current, the others become last known on `on`.
    Returns each changed row's columns as they were (`row_data`; the kept child's own marked so)."""
    if not moved:
        return {}
    moved_ids = {a.id for a in moved}
    own = [a for a in session.scalars(select(m.ChildAddress).where(
        m.ChildAddress.child_id == keep, m.ChildAddress.status == AddressStatus.CURRENT)
        .order_by(m.ChildAddress.id)) if a.id not in moved_ids]
    candidates = [(a.valid_from or dt.date.min, 1, -a.id, a) for a in own]
    candidates += [(a.valid_from or dt.date.min, 0, -a.id, a) for a in moved]
    if len(candidates) < 2:
        return {}
    current = max(candidates, key=lambda c: c[:3])[3]
    before: dict[int, str] = {}
    for _from, is_own, _id, address in candidates:
        if address is current:
            continue
        before[address.id] = dump_row(address, kept=bool(is_own))
        address.status, address.valid_to = AddressStatus.LAST_KNOWN, address.valid_to or on
    return before


def split_merge(
    session: Session, merge_id: int, *, by: str, reason: MatchReason = MatchReason.WRONG_MERGE,
    now: dt.datetime | None = None,
) -> tuple[int, int]:
    """Undo a merge: the merged child comes back with its own id, number and columns, and
    every row the merge moved or removed goes back to it. The split is recorded on the merge,
    and a DIFFERENT decision between the two children is recorded so that matching never
    proposes them again. Returns (kept child id, restored child id)."""
    record = session.get(m.ChildMerge, merge_id)
    if record is None:
        raise ReviewError(f"merge {merge_id} does not exist")
    if record.split_at is not None:
        raise ReviewError(f"merge {merge_id} was already split")
    if session.get(m.Child, record.merged_child_id) is not None:
        raise ReviewError(f"child {record.merged_child_id} exists again: cannot restore it")
    kept = _child(session, record.kept_child_id, "kept child")
    when = _now(now)
    session.execute(insert(m.Child), [{
        "id": record.merged_child_id, "child_number": record.merged_child_number,
        "owning_la": record.merged_owning_la, "date_of_birth": record.merged_date_of_birth,
        "gender": record.merged_gender, "status": record.merged_status,
        "status_since": record.merged_status_since, "shielded": record.merged_shielded,
        "created_at": record.merged_created_at, "updated_at": when,
        "submission_id": record.merged_submission_id, "record_ref": record.merged_record_ref,
    }])
    for row in record.rows:
        table = _BY_TABLE[row.table_name]
        before = json.loads(row.row_data) if row.row_data else None
        if row.removed and before is None:
            session.execute(insert(m.ChildIdentifier), [{
                "id": row.row_id, "child_id": record.merged_child_id, "scheme": row.scheme,
                "value": row.value, "submission_id": row.submission_id, "record_ref": row.record_ref,
            }])
            continue
        if row.removed:  # folded into an equal row: back whole, as it was
            session.execute(insert(table), [{**load_row(table, before), "id": row.row_id,  # type: ignore[arg-type]
                                             "child_id": record.merged_child_id}])
            continue
        values: dict[str, object] = load_row(table, before) if before else {}
        values.pop("id", None)
        if not (before and before.get("kept")):
            values["child_id"] = record.merged_child_id
        if row.name_kind is not None:
            values["kind"] = row.name_kind
        moved_back = update(table).where(
            table.id == row.row_id, table.child_id == record.kept_child_id  # type: ignore[attr-defined]
        )
        session.execute(moved_back.values(**values))
    # The kept child keeps any shield it has now: a split never unshields anyone (the LA data
    # team may, deliberately, afterwards).
    record.split_at, record.split_by, record.split_reason = when, by, reason
    session.add(m.MatchReview(
        child_id=record.merged_child_id, candidate_id=record.kept_child_id,
        owning_la=kept.owning_la, rule="split", priority=0, held_shielded=False,
        status=ReviewStatus.DIFFERENT, opened_at=when, decided_at=when, decided_by=by,
        decision_reason=reason,
    ))
    session.flush()
    return record.kept_child_id, record.merged_child_id


def merged_into(session: Session, child_id: int) -> int | None:
    """Where a merged-away child went: the child it lives on in (following merges of merges),
    or None if it was never merged away (or was split back). For "this record was merged"
    answers in place of a bare "not found"; the caller decides whether the asker may see it."""
    seen: set[int] = set()
    current = child_id
    while current not in seen:
        seen.add(current)
        kept = session.scalar(select(m.ChildMerge.kept_child_id).where(
            m.ChildMerge.merged_child_id == current, m.ChildMerge.split_at.is_(None))
            .order_by(m.ChildMerge.id.desc()).limit(1))
        if kept is None:
            return None
        if session.get(m.Child, kept) is not None:
            return kept
        current = kept
    return None


# -- decisions as the matcher sees them -----------------------------------------------------------


def verdict_lookup(session: Session) -> VerdictLookup:
    """The latest decision about each pair of children, for `Matcher(verdicts=...)` when children
    (whose `Person.ref` is the child id) are matched against each other."""
    decided = session.execute(
        select(m.MatchReview.child_id, m.MatchReview.candidate_id, m.MatchReview.status)
        .where(m.MatchReview.status.in_([ReviewStatus.SAME, ReviewStatus.DIFFERENT]))
        .order_by(m.MatchReview.id)
    ).all()
    verdicts: dict[frozenset[int], Verdict] = {}
    for child_id, candidate_id, status in decided:
        verdicts[frozenset((child_id, candidate_id))] = (
            Verdict.SAME if status is ReviewStatus.SAME else Verdict.DIFFERENT
        )

    def lookup(a: Person, b: Person) -> Verdict | None:
        return verdicts.get(frozenset((a.ref, b.ref)))  # type: ignore[arg-type]

    return lookup


def rescore_open_reviews(
    session: Session, model: MatchModel, tf: TermFrequencies | None = None,
) -> int:
    """Re-score every OPEN review under `model` (new weights or thresholds) and re-order the
    queue. Decided reviews are left exactly as they are. Returns how many were re-scored."""
    count = 0
    open_items = select(m.MatchReview).where(m.MatchReview.status == ReviewStatus.OPEN)
    for review in session.scalars(open_items).all():
        child = session.get(m.Child, review.child_id)
        candidate = session.get(m.Child, review.candidate_id)
        if child is None or candidate is None:
            continue
        try:
            a, b = person_from_child(child), person_from_child(candidate)
        except UnscorableRecord:
            continue
        explanation = model.explain(a, b, tf)
        stored = json.loads(review.explanation) if review.explanation else {}
        stored.update(weight=explanation.total, probability=explanation.probability,
                      explanation=explanation.as_dict(),
                      thresholds={"link": model.thresholds.link, "review": model.thresholds.review})
        review.weight, review.probability = explanation.total, explanation.probability
        review.explanation = json.dumps(stored, sort_keys=True)
        count += 1
    session.flush()
    return count


def open_reviews_for(session: Session, child_ids: Iterable[int]) -> Sequence[int]:
    """Ids of open reviews involving any of these children."""
    ids = list(child_ids)
    return session.scalars(select(m.MatchReview.id).where(
        m.MatchReview.status == ReviewStatus.OPEN,
        or_(m.MatchReview.child_id.in_(ids), m.MatchReview.candidate_id.in_(ids)),
    )).all()
