"""Which LA owns a child's record, and moving it to another (federation, DESIGN.md).

The LA responsible for a child is where the child lives; where no address is known, where the
child goes to school. Where a child lives is read from the current address's postcode through
a postcode-to-LA table (`PostcodeAreas`, configured by `CHILDINDEX_POSTCODE_LAS`: a CSV of
`postcode,la` rows, each postcode a full postcode, a sector such as `MK45 2` or a district such
as `MK45`, the longest that matches winning; e.g. an extract of the ONS postcode directory
mapped to LA numbers). A postcode the table does not know decides nothing: the record stays.

`transfer` moves one record: its owning LA, its open review items and open shield-override
investigations, a `child_transfers` row both LAs list, and a search outbox mark (the search
entry moves to the new LA's index). The shielded flag is untouched. Callers write the audit
entry in the same transaction (index does not import access).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from index import models as m
from index.outbox import mark_changed
from index.search import SearchBackend
from index.vocabulary import AddressStatus, ReviewStatus, ServiceType


class OwnershipSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHILDINDEX_", extra="ignore")

    # The postcode-to-LA table; unset: the nightly run moves nobody (no way to tell where an
    # address is).
    postcode_las: Path | None = None


class TransferReason:
    """Coded reasons for a move (the receiving LA sees them)."""

    LIVES_THERE = "lives_there"  # the nightly run: a current address in the new LA
    SCHOOL_THERE = "school_there"  # the nightly run: no address known, at a school in the new LA
    BY_HAND = ("moved_address", "wrong_la", "agreed_between_las")  # an LA data team, by hand


# A full postcode (spaces removed), and the outward code (district) it starts with; a sector is
# the district, one space and the first digit of the inward code ("MK45 2"): written with its
# space, because without it "E1 6" (a sector of E1) would read as the district E16.
_FULL = re.compile(r"[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}|GIR0AA")
_DISTRICT = re.compile(r"[A-Z]{1,2}\d[A-Z\d]?")
_SECTOR = re.compile(r"[A-Z]{1,2}\d[A-Z\d]? \d")
_LA = re.compile(r"\d{3}")
_LA_BITS = 10  # a unit's LA is an index into `las`, in the low bits beside the postcode


def area_key(text: str) -> str | None:
    """The table's key for a full postcode ("MK452AB"), a sector ("MK45 2") or a district
    ("MK45"), however spaced and cased; None if the text is none of these."""
    spaced = " ".join(text.upper().split())
    compact = spaced.replace(" ", "")
    if _FULL.fullmatch(compact):
        return compact
    if _SECTOR.fullmatch(spaced) or _DISTRICT.fullmatch(spaced):
        return spaced
    return None


@dataclass(frozen=True)
class PostcodeAreas:
    """Postcode -> three-digit LA number: full postcodes, sectors and districts, the longest
    that matches winning.

    Full postcodes (most of a national table: 1.7 million rows) are held as one sorted array of
    integers, each the postcode read as a base-36 number shifted left beside the index of its
    LA, and found by bisection: about 8 bytes a postcode instead of the ~160 of a dict of
    strings (docs/benchmarks.md). Sectors and districts, a few thousand, are a dict.
    """

    units: array[int]
    las: tuple[str, ...]
    areas: dict[str, str]

    @classmethod
    def of(cls, table: Mapping[str, str] | Iterable[tuple[str, str]]) -> PostcodeAreas:
        """From (postcode, sector or district; LA number) pairs."""
        pairs = table.items() if isinstance(table, Mapping) else table
        builder = _Builder()
        for number, (postcode, la) in enumerate(pairs, start=1):
            if not builder.add(postcode, la):
                raise ValueError(f"entry {number}: needs a postcode, sector or district and a three-digit la")
        return builder.build("the table")

    @classmethod
    def from_file(cls, path: Path) -> PostcodeAreas:
        """Read a `postcode,la` CSV (lines starting with # are comments). A bad row stops the
        read, naming its line and never its value."""
        builder = _Builder()
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = csv.reader(handle)
            header: list[str] | None = None
            for row in rows:
                if not row or row[0].startswith("#"):
                    continue
                if header is None:
                    header = [cell.strip().lower() for cell in row]
                    if "postcode" not in header or "la" not in header:
                        raise ValueError(f"{path.name} line {rows.line_num}: "
                                         "the header needs postcode and la")
                    at, la_at = header.index("postcode"), header.index("la")
                    continue
                if len(row) != len(header) or not builder.add(row[at], row[la_at].strip()):
                    raise ValueError(f"{path.name} line {rows.line_num}: needs a postcode, sector or "
                                     "district and a three-digit la")
        return builder.build(path.name)

    def __len__(self) -> int:
        return len(self.units) + len(self.areas)

    def la_of(self, postcode: str | None) -> str | None:
        if not postcode:
            return None
        full = "".join(postcode.split()).upper()
        if not _FULL.fullmatch(full):
            key = area_key(postcode)
            return self.areas.get(key) if key else None
        code = int(full, 36) << _LA_BITS
        at = bisect_left(self.units, code)
        if at < len(self.units) and self.units[at] >> _LA_BITS == code >> _LA_BITS:
            return self.las[self.units[at] & ((1 << _LA_BITS) - 1)]
        outward, inward = full[:-3], full[-3:]
        return self.areas.get(f"{outward} {inward[0]}") or self.areas.get(outward)


class _Builder:
    """Collects a table's rows; `build` sorts the full postcodes once."""

    def __init__(self) -> None:
        self.units: list[int] = []
        self.la_index: dict[str, int] = {}
        self.areas: dict[str, str] = {}
        self.area_clashes = 0

    def add(self, postcode: str, la: str) -> bool:
        if not _LA.fullmatch(la):
            return False
        full = "".join(postcode.split()).upper()
        if _FULL.fullmatch(full):
            index = self.la_index.setdefault(la, len(self.la_index))
            self.units.append(int(full, 36) << _LA_BITS | index)
            return True
        key = area_key(postcode)
        if key is None:
            return False
        if self.areas.setdefault(key, la) != la:
            self.area_clashes += 1
        return True

    def build(self, name: str) -> PostcodeAreas:
        if len(self.la_index) > 1 << _LA_BITS:
            raise ValueError(f"{name}: more LA numbers than there are LAs")
        self.units.sort()
        mask = (1 << _LA_BITS) - 1
        clashes, unique = self.area_clashes, array("q")
        previous = None
        for unit in self.units:
            if previous is not None and unit >> _LA_BITS == previous >> _LA_BITS:
                clashes += (unit & mask) != (previous & mask)
                continue
            unique.append(unit)
            previous = unit
        if clashes:
            raise ValueError(f"{name}: {clashes} postcodes, sectors or districts listed twice with "
                             "different LAs")
        las = tuple(sorted(self.la_index, key=self.la_index.__getitem__))
        return PostcodeAreas(unique, las, self.areas)


def configured_areas(settings: OwnershipSettings | None = None) -> PostcodeAreas | None:
    path = (settings or OwnershipSettings()).postcode_las
    if not path:
        return None
    try:
        return PostcodeAreas.from_file(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a UTF-8 CSV file"
        raise ValueError(f"cannot read {path.name}: {reason}") from None


@dataclass(frozen=True)
class Responsible:
    la: str
    reason: str


def responsible_las(session: Session, child_ids: Iterable[int],
                    areas: PostcodeAreas) -> dict[int, Responsible]:
    """The LA responsible for each child, as the store now says, where it can be told: the LA of
    the current address; with no current address, the LA of the school the child attends."""
    ids = sorted(set(child_ids))
    if not ids:
        return {}
    found: dict[int, Responsible] = {}
    addresses = session.execute(
        select(m.ChildAddress.child_id, m.ChildAddress.postcode, m.ChildAddress.status)
        .where(m.ChildAddress.child_id.in_(ids))
        .order_by(m.ChildAddress.child_id, m.ChildAddress.valid_from.desc().nulls_last(),
                  m.ChildAddress.id.desc())).all()
    has_address = {row.child_id for row in addresses if row.status is AddressStatus.CURRENT}
    for row in addresses:
        if row.status is AddressStatus.CURRENT and row.child_id not in found:
            la = areas.la_of(row.postcode)
            if la is not None:
                found[row.child_id] = Responsible(la, TransferReason.LIVES_THERE)
    no_address = [i for i in ids if i not in has_address]
    if no_address:
        schools = session.execute(
            select(m.Involvement.child_id, m.Involvement.organisation_code)
            .where(m.Involvement.child_id.in_(no_address),
                   m.Involvement.service_type == ServiceType.SCHOOL,
                   m.Involvement.end_date.is_(None), m.Involvement.organisation_code.is_not(None))
            .order_by(m.Involvement.child_id, m.Involvement.start_date.desc().nulls_last(),
                      m.Involvement.id.desc())).all()
        for row in schools:
            code = row.organisation_code or ""
            if row.child_id not in found and re.fullmatch(r"\d{7}", code):
                found[row.child_id] = Responsible(code[:3], TransferReason.SCHOOL_THERE)
    return found


@dataclass(frozen=True)
class Transfer:
    child_id: int
    from_la: str
    to_la: str
    reason: str
    reviews_moved: int
    investigations_moved: int


def transfer(session: Session, child_id: int, to_la: str, *, by: str, reason: str, now: dt.datetime,
             submission_id: int | None = None, backend: SearchBackend | None = None) -> Transfer | None:
    """Move the child's record to `to_la` (None if it is already there)."""
    if not re.fullmatch(r"\d{3}", to_la):
        raise ValueError("the LA must be a three-digit LA number")
    from_la = session.scalar(select(m.Child.owning_la).where(m.Child.id == child_id))
    if from_la is None:
        raise LookupError("no child with that id")
    if from_la == to_la:
        return None
    session.execute(update(m.Child).where(m.Child.id == child_id).values(owning_la=to_la)
                    .execution_options(synchronize_session=False))
    reviews = session.execute(
        update(m.MatchReview).where(
            (m.MatchReview.child_id == child_id) | (m.MatchReview.candidate_id == child_id),
            m.MatchReview.status == ReviewStatus.OPEN, m.MatchReview.owning_la == from_la)
        .values(owning_la=to_la).execution_options(synchronize_session=False)).rowcount
    investigations = session.execute(
        update(m.ShieldInvestigation).where(
            m.ShieldInvestigation.child_id == child_id, m.ShieldInvestigation.closed_at.is_(None))
        .values(owning_la=to_la).execution_options(synchronize_session=False)).rowcount
    session.add(m.ChildTransfer(child_id=child_id, from_la=from_la, to_la=to_la, transferred_at=now,
                                transferred_by=by[:64], reason=reason, submission_id=submission_id,
                                reviews_moved=reviews or 0, investigations_moved=investigations or 0))
    mark_changed(session, [child_id], backend)
    return Transfer(child_id, from_la, to_la, reason, reviews or 0, investigations or 0)


def transfers_of_la(session: Session, la: str, *, limit: int = 100) -> list[m.ChildTransfer]:
    """Moves into and out of this LA, newest first (both LAs' data teams see each)."""
    rows = session.scalars(select(m.ChildTransfer).where(
        (m.ChildTransfer.to_la == la) | (m.ChildTransfer.from_la == la))
        .order_by(m.ChildTransfer.id.desc()).limit(limit)).all()
    for row in rows:
        session.expunge(row)
    return list(rows)
