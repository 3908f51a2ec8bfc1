"""What a merge makes of two children's rows: one clean record, every provenance kept.

Rules (applied by `matching.review.merge_children`, undone exactly by `split_merge`):
- **Equal values fold into one row.** A name, address or carer of the merged child equal to one
  the kept child holds (`FOLD_KEYS`: the row's values, case, accents and spacing aside) is not
  moved but folded into the kept child's row: it is removed, and the merge keeps it whole in
  `child_merge_rows.row_data` (with the row it was folded into), its provenance included. So
  the surviving child shows the name once and the address once, and `provenance_of` still
  gives every submission and record each value came from. Identifiers fold the same way (kept
  as scheme and value, as before). Involvements are never folded (their indicators hang on them).
- **Differing values are kept as history, with one current value.** The kept child's current
  name stays current; the merged child's becomes an alternative name. Of the two children's
  current addresses, the one with the latest `valid_from` stays current (a tie, or no dates:
  the kept child's); the other becomes *last known*, ended on the merge date.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from index import models as m
from index.keys import fold


def _f(value: object) -> str:
    return fold(str(value)) if value not in (None, "") else ""


def _postcode(value: str | None) -> str:
    return (value or "").replace(" ", "").upper()


_ADDRESS = ("line1", "line2", "line3", "town")

FOLD_KEYS: dict[type[m.Base], Callable[[Any], tuple[object, ...]]] = {
    m.ChildName: lambda r: (_f(r.given_name), _f(r.middle_names), _f(r.family_name)),
    m.ChildAddress: lambda r: (*(_f(getattr(r, c)) for c in _ADDRESS), _postcode(r.postcode),
                               r.uprn or ""),
    m.Carer: lambda r: (_f(r.given_name), _f(r.family_name), r.relationship_to_child,
                        r.parental_responsibility, r.address_as_child, _f(r.phone),
                        _f(r.alternative_phone), _f(r.email),
                        *(_f(getattr(r, c)) for c in _ADDRESS), _postcode(r.postcode), r.uprn or ""),
}

# Columns a merge never copies into `row_data`: the row's child is the merge's to say.
_NOT_DATA = {"child_id"}


def dump_row(row: m.Base, **extra: object) -> str:
    """A row's columns as JSON (dates as ISO text, coded values as their codes)."""
    data: dict[str, object] = {}
    for column in row.__table__.columns:  # type: ignore[attr-defined]
        if column.name in _NOT_DATA:
            continue
        value = getattr(row, column.key)
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, dt.datetime | dt.date):
            value = value.isoformat()
        data[column.name] = value
    return json.dumps({**data, **extra}, sort_keys=True)


def load_row(table: type[m.Base], data: dict[str, Any]) -> dict[str, Any]:
    """`dump_row`'s JSON back into column values of `table` (only its columns)."""
    out: dict[str, Any] = {}
    for column in table.__table__.columns:  # type: ignore[attr-defined]
        if column.name not in data:
            continue
        value = data[column.name]
        if value is not None:
            kind = column.type.python_type
            if kind is dt.datetime:
                value = dt.datetime.fromisoformat(value)
            elif kind is dt.date:
                value = dt.date.fromisoformat(value)
            elif issubclass(kind, enum.Enum):
                value = kind(value)
        out[column.name] = value
    return out


def provenance_of(session: Session, table: type[m.Base], row_id: int) -> list[tuple[int | None, str | None]]:
    """Every (submission, record) a row's value came from: its own and those of the equal rows
    merges folded into it (oldest merge first)."""
    row = session.get(table, row_id)
    if row is None:
        return []
    found = [(row.submission_id, row.record_ref)]  # type: ignore[attr-defined]
    folded = session.execute(
        select(m.ChildMergeRow.row_data, m.ChildMergeRow.submission_id, m.ChildMergeRow.record_ref)
        .join(m.ChildMerge, m.ChildMerge.id == m.ChildMergeRow.merge_id)
        .where(m.ChildMerge.split_at.is_(None), m.ChildMergeRow.table_name == table.__tablename__,
               m.ChildMergeRow.removed.is_(True), m.ChildMergeRow.row_data.is_not(None))
        .order_by(m.ChildMergeRow.id)).all()
    for data, submission_id, record_ref in folded:
        if json.loads(data).get("folded_into") == row_id:
            found.append((submission_id, record_ref))
    return found
