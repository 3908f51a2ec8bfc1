"""Records the same source sent before, unchanged, for a child nobody has changed since.

A school's termly census repeats most of its roll exactly. Matching such a pupil again would
find the child it went to last time, and bringing that child up to date from the same record
again changes nothing (`ingest.store_changes` only adds what is missing, and the last run
added it). So the nightly run skips both for a record when all of these hold:

- its fingerprint (the record without its provenance, with the source and the matching model,
  digested) equals that of a record an *earlier* submission staged, which went to child X;
- X's `revision` is still the one recorded when that record's batch was written: no row of X
  has been written since, by anyone (database triggers keep the revision, revision 0008);
- X is still matchable (live or deceased), and every trusted identifier of the record is held
  by X and by no other child; no other record of the batch carries one of them, and no record
  of the batch is shielded (a shielded child the batch creates is a candidate of everyone near
  it).

The record then links to X exactly as matching would decide (the sole holder of its trusted
identifier, agreeing in every field with the record that made or last updated X). The run
still applies it if another record of the batch links to X too, so that the order of their
updates stays that of a full run (`nightly._run_batch`). A new matching model changes every
fingerprint: after one, everything is matched in full once.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from index import models as m
from index.store import chunked, driver_rows, inline_integers, param_mark
from ingest.candidates import MATCHABLE, identifier_holders
from matching import TRUSTED_SCHEMES, MatchModel

_TRUSTED = frozenset(s.value for s in TRUSTED_SCHEMES)
# `ChildRecord.model_dump_json()` writes provenance last, and a key is the only place a raw
# `,"provenance":` can occur (quotes inside values are escaped).
_PROVENANCE = ',"provenance":'
_MATCHABLE = tuple(s.value for s in MATCHABLE)
_PREVIOUS = ("SELECT fingerprint, submission_id, child_id, child_revision "
             f"FROM {m.StagedRecord.__tablename__} WHERE fingerprint IN ({{marks}}) "
             "AND child_id IS NOT NULL AND child_revision IS NOT NULL")
_REVISIONS = f"SELECT id, revision, status FROM {m.Child.__tablename__} WHERE id IN ({{ids}})"


def model_digest(model: MatchModel) -> str:
    """Which matching model decided: part of every fingerprint."""
    return hashlib.sha256(json.dumps(model.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def fingerprint(payload: str, source: str, model: str) -> str:
    """128 bits of BLAKE2b over the record without its provenance, its source and the model."""
    cut = payload.rfind(_PROVENANCE)
    body = payload[:cut] if cut >= 0 else payload
    return hashlib.blake2b(f"{model}\x1f{source}\x1f{body}".encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Staged:
    """One staged record of the batch, as read for the run."""

    ref: str
    payload: str
    fingerprint: str


def child_revisions(session: Session, child_ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """Each stored child's revision and status, read from the driver with the ids inline."""
    conn = session.connection()
    found: dict[int, tuple[int, str]] = {}
    for chunk in chunked(sorted(set(child_ids))):
        sql = _REVISIONS.format(ids=inline_integers(chunk))
        found.update((child, (revision, status)) for child, revision, status in driver_rows(conn, sql))
    return found


def recognise(session: Session, batch: Sequence[Staged], submission_id: int) -> dict[str, int]:
    """ref -> child id for each record of `batch` that is unchanged (see the module)."""
    conn = session.connection()
    previous: dict[str, tuple[int, int, int]] = {}  # fingerprint -> (submission, child, revision)
    for chunk in chunked(sorted({s.fingerprint for s in batch})):
        marks = ", ".join([param_mark(conn)] * len(chunk))
        for print_, sub, child, revision in driver_rows(conn, _PREVIOUS.format(marks=marks), chunk):
            if sub < submission_id and (print_ not in previous or previous[print_][0] < sub):
                previous[print_] = (sub, child, revision)
    if not previous:
        return {}  # a source's first submission: nothing to read further
    trusted: dict[str, set[tuple[str, str]]] = {}
    in_batch: Counter[tuple[str, str]] = Counter()
    for staged in batch:
        record = json.loads(staged.payload)
        if record.get("shielded"):
            # A shielded child created by this batch is a candidate of every record sharing its
            # strict keys: matching could then hold a record for review. Decide them all.
            return {}
        ids = {(i["scheme"], i["value"]) for i in record.get("identifiers", ()) if i["scheme"] in _TRUSTED}
        trusted[staged.ref] = ids
        in_batch.update(ids)
    current = child_revisions(session, {child for _sub, child, _rev in previous.values()})
    held_by = identifier_holders(session, {p for ids in trusted.values() for p in ids})
    found: dict[str, int] = {}
    for staged in batch:
        before = previous.get(staged.fingerprint)
        ids = trusted[staged.ref]
        if before is None or not ids:
            continue
        _sub, child, revision = before
        state = current.get(child)
        if state is None or state[0] != revision or state[1] not in _MATCHABLE:
            continue
        if all(set(held_by.get(pair, ())) == {child} and in_batch[pair] == 1 for pair in ids):
            found[staged.ref] = child
    return found


__all__ = ["Staged", "child_revisions", "fingerprint", "model_digest", "recognise"]
