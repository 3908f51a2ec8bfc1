"""What a linked record changes in a stored child: additions and updates, never deletions.

A record linked to a child brings what the child's rows may lack. Each kind of row is matched
to the stored rows by a key (declared in `ROW_KEYS`); a row with a new key is added, a row with
a known key has its contact details brought up to date; nothing is ever deleted:

- names: a name the child is not yet known by becomes an *alternative* name (the current name
  is changed only by the LA data team);
- address: a different current address becomes current, the old one *last known* (ended on
  the submission's date);
- identifiers: any the child does not hold are added;
- carers: by name and relationship; phone, e-mail and address updated, new carers added;
- involvements: by service and organisation; an open one takes the record's end date (a pupil
  who left), contact details and dates; an unknown one is added (ended school history too).

Every row written carries the record's provenance (submission, position). Reads and writes
are batched: one query per table per batch of children, then bulk inserts and updates.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from index import ChildRecord, UndatedRecord
from index import models as m
from index.keys import fold
from index.store import chunked, inline_integers
from index.vocabulary import AddressStatus, NameKind

_ADDRESS = ("line1", "line2", "line3", "town", "postcode", "uprn")
# Carer columns a newer record brings up to date (when it has a value).
CARER_UPDATES = ("contact_order", "parental_responsibility", "address_as_child", "phone",
                 "alternative_phone", "email", *_ADDRESS)
# Involvement columns a newer record brings up to date (when it has a value).
INVOLVEMENT_UPDATES = ("organisation_name", "practitioner_name", "contact_phone", "contact_email",
                       "start_date", "end_date", "lead_professional", "consent_basis")


@functools.lru_cache(maxsize=200_000)
def _fold(value: str) -> str:
    return fold(value)


def _f(value: str | None) -> str:
    # Names, streets and towns repeat across a file: folded once each.
    return _fold(value) if value else ""


def name_key(given: str | None, family: str | None) -> tuple[str, str]:
    return (_f(given), _f(family))


def address_key(line1: str | None, postcode: str | None) -> tuple[str, str]:
    return (_f(line1), (postcode or "").replace(" ", "").upper())


def carer_key(given: str | None, family: str | None, relationship: object) -> tuple[str, str, str]:
    return (_f(given), _f(family), str(getattr(relationship, "value", relationship)))


def involvement_key(service: object, code: str | None, name: str | None) -> tuple[str, str]:
    return (str(getattr(service, "value", service)), code or "name:" + _f(name))


class ChangeCounts(Counter[str]):
    """How many rows of each kind a batch added or updated (for the run report), and which
    children changed in what search finds them by (names, addresses, identifiers)."""

    def __init__(self) -> None:
        super().__init__()
        self.searchable_changed: set[int] = set()


def _rows(session: Session, table: type[m.Base], child_ids: Sequence[int]) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = defaultdict(list)
    core = table.__table__
    conn = session.connection()
    for chunk in chunked(child_ids):
        # The ids inline (integers from the store): expanding 900 bound parameters cost several
        # times the query. Typed rows still (enums, dates): compiling the statement each time is
        # cheap next to that.
        inline = inline_integers(chunk)
        statement = select(core).where(text(f"{core.name}.child_id IN ({inline})")).order_by(core.c.id)
        for row in conn.execute(statement):
            found[row.child_id].append(row)
    return found


def _payload(model: Any, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    return model.model_dump(exclude=set(exclude))


def apply_links(
    session: Session, links: Sequence[tuple[int, ChildRecord | UndatedRecord, str]], submission_id: int,
    on: dt.date,
) -> ChangeCounts:
    """Bring each linked child (child id, record, record reference) up to date from its record.

    Links are applied in order, so two records of one child in a batch both count; `on` is the
    date an address change takes effect (the submission's reference date)."""
    counts = ChangeCounts()
    if not links:
        return counts
    ids = sorted({child_id for child_id, _r, _ref in links})
    names = _rows(session, m.ChildName, ids)
    identifiers = _rows(session, m.ChildIdentifier, ids)
    # A census carries no contacts, a service feed no address history: read only what is needed.
    addresses = _rows(session, m.ChildAddress, ids) if any(r.addresses for _c, r, _f in links) else {}
    carers = _rows(session, m.Carer, ids) if any(r.carers for _c, r, _f in links) else {}
    involvements = _rows(session, m.Involvement, ids) if any(r.involvements for _c, r, _f in links) else {}

    # What the batch already added per child, so a second record of the child sees it.
    known_names = {c: {name_key(n.given_name, n.family_name) for n in names[c]} for c in ids}
    known_ids = {c: {(str(i.scheme.value), i.value) for i in identifiers[c]} for c in ids}
    current_address: dict[int, tuple[str, str] | None] = {}
    current_rows: dict[int, list[int]] = defaultdict(list)
    for c in ids:
        current = [a for a in addresses.get(c, ()) if a.status is AddressStatus.CURRENT]
        current_rows[c] = [a.id for a in current]
        current_address[c] = address_key(current[-1].line1, current[-1].postcode) if current else None
    carer_rows: dict[int, dict[tuple[str, str, str], dict[str, Any]]] = {
        c: {carer_key(r.given_name, r.family_name, r.relationship_to_child): dict(r._mapping)
            for r in carers.get(c, ())} for c in ids}
    involvement_rows: dict[int, list[dict[str, Any]]] = {
        c: [dict(r._mapping) for r in involvements.get(c, ())] for c in ids}

    inserts: dict[type[m.Base], list[dict[str, Any]]] = defaultdict(list)
    carer_updates: dict[int, dict[str, Any]] = {}
    involvement_updates: dict[int, dict[str, Any]] = {}
    ended_addresses: list[dict[str, Any]] = []
    new_involvements: list[dict[str, Any]] = []

    for child_id, record, record_ref in links:
        prov = {"submission_id": submission_id, "record_ref": record_ref}
        owned = {"child_id": child_id, **prov}
        # A row kept for its identifier alone has at most a given name: not a name to know the
        # child by (search and matching go by family name), so it is not added.
        names = () if isinstance(record, UndatedRecord) and record.identified_only else record.names
        for name in names:
            key = name_key(name.given_name, name.family_name)
            if key not in known_names[child_id]:
                known_names[child_id].add(key)
                kind = NameKind.ALTERNATIVE if name.kind is NameKind.CURRENT else name.kind
                inserts[m.ChildName].append({**_payload(name), "kind": kind, **owned})
                counts["names_added"] += 1
                counts.searchable_changed.add(child_id)
        for ident in record.identifiers:
            key2 = (ident.scheme.value, ident.value)
            if key2 not in known_ids[child_id]:
                known_ids[child_id].add(key2)
                inserts[m.ChildIdentifier].append({**_payload(ident), **owned})
                counts["identifiers_added"] += 1
                counts.searchable_changed.add(child_id)
        home = next((a for a in record.addresses if a.status is AddressStatus.CURRENT), None)
        if home is not None and (home.line1 or home.postcode):
            key3 = address_key(home.line1, home.postcode)
            if current_address[child_id] != key3:
                for row_id in current_rows[child_id]:
                    ended_addresses.append({"row_id": row_id, "v_valid_to": on,
                                            "v_submission_id": submission_id, "v_record_ref": record_ref})
                current_rows[child_id] = []
                current_address[child_id] = key3
                inserts[m.ChildAddress].append(
                    {**_payload(home), "valid_from": home.valid_from or on, **owned})
                counts["addresses_changed"] += 1
                counts.searchable_changed.add(child_id)
        for carer in record.carers:
            key4 = carer_key(carer.given_name, carer.family_name, carer.relationship_to_child)
            data = _payload(carer)
            stored = carer_rows[child_id].get(key4)
            if stored is None:
                row = {**data, **owned}
                carer_rows[child_id][key4] = row
                inserts[m.Carer].append(row)
                counts["carers_added"] += 1
                continue
            changed = {k: data[k] for k in CARER_UPDATES if data[k] is not None and stored.get(k) != data[k]}
            if changed:
                stored.update(changed)
                if "id" in stored:
                    carer_updates.setdefault(stored["id"], {}).update({**changed, **prov})
                counts["carers_updated"] += 1
        for inv in record.involvements:
            counts.update(_merge_involvement(
                involvement_rows[child_id], inv.model_dump(exclude={"indicators"}), owned,
                involvement_updates, new_involvements))

    # Core inserts on the connection: the ORM's bulk path costs more per row and adds nothing here.
    conn = session.connection()
    for table, rows in inserts.items():
        conn.execute(insert(table.__table__), rows)
    if new_involvements:
        conn.execute(insert(m.Involvement.__table__), new_involvements)
    if ended_addresses:
        table = m.ChildAddress.__table__
        session.execute(
            update(table).where(table.c.id == bindparam("row_id"))
            .values(status=AddressStatus.LAST_KNOWN, valid_to=bindparam("v_valid_to"),
                    submission_id=bindparam("v_submission_id"), record_ref=bindparam("v_record_ref")),
            ended_addresses)
    _update_rows(session, m.Carer, carer_updates)
    _update_rows(session, m.Involvement, involvement_updates)
    return counts


def _merge_involvement(
    stored: list[dict[str, Any]], data: dict[str, Any], owned: dict[str, Any],
    updates: dict[int, dict[str, Any]], inserts: list[dict[str, Any]],
) -> Counter[str]:
    """One incoming involvement against the child's: update the one it continues, else add."""
    key = involvement_key(data["service_type"], data["organisation_code"], data["organisation_name"])
    same = [r for r in stored if involvement_key(r["service_type"], r["organisation_code"],
                                                 r["organisation_name"]) == key]
    match = next((r for r in same if r["start_date"] == data["start_date"] and data["start_date"]), None)
    if match is None:
        match = next((r for r in same if r["end_date"] is None), None)
    if match is None and data["end_date"] is not None:
        match = next((r for r in same if r["end_date"] == data["end_date"]), None)
    if match is None:
        row = {**data, **owned}
        stored.append(row)
        inserts.append(row)
        return Counter(involvements_ended=1 if data["end_date"] else 0, involvements_added=1)
    changed = {k: data[k] for k in INVOLVEMENT_UPDATES if data[k] is not None and match.get(k) != data[k]}
    if "start_date" in changed and match.get("start_date") is not None:
        del changed["start_date"]  # the first known start stands
    start = changed.get("start_date", match.get("start_date"))
    end = changed.get("end_date", match.get("end_date"))
    if start and end and end < start:
        changed.pop("end_date", None)
        changed.pop("start_date", None)
    if not changed:
        return Counter()
    ended = "end_date" in changed and match.get("end_date") is None
    match.update(changed)
    if "id" in match:
        updates.setdefault(match["id"], {}).update({**changed, "submission_id": owned["submission_id"],
                                                   "record_ref": owned["record_ref"]})
    return Counter(involvements_ended=int(ended), involvements_updated=int(not ended))


def _update_rows(session: Session, table: type[m.Base], updates: dict[int, dict[str, Any]]) -> None:
    """One UPDATE per distinct set of changed columns, executed for many rows at once."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row_id, values in sorted(updates.items()):
        params = {f"v_{k}": v for k, v in values.items()}
        by_columns[tuple(sorted(values))].append({"row_id": row_id, **params})
    for columns, rows in by_columns.items():
        core = table.__table__
        statement = update(core).where(core.c.id == bindparam("row_id")).values(
            {c: bindparam(f"v_{c}") for c in columns})
        session.execute(statement, rows)
