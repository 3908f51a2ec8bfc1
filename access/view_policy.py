"""The view policy: the one place that decides what a viewer sees of a child.

Rules (DESIGN.md), as data and one function:

- A shielded child shows name, date of birth, gender and "contact the LA team" only, except to
  the owning LA's data team, or to a child-protection user who has used the shield override in
  the current session (the API records the override in the audit trail, which opens an
  investigation item for the owning LA).
- A sensitive service (index.vocabulary.SENSITIVE_SERVICES) appears only where consent (or
  suspected significant harm) was recorded; its contact details are hidden from everyone but
  the owning LA's data team and the service itself: the LA team brokers contact.
- Where a parent, or a young person aged 16 or over, has opted out of sharing with a type of
  service (e.g. Connexions; table `sharing_opt_outs`), practitioners of that service (their
  register entry's `service_type`) see name and address only. The owning LA's data team is
  never restricted by an opt-out. A shield is decided first: an opt-out never shows an address
  that a shield hides.
- Ended involvements are shown (with their end date): who worked with the child is part of
  the signpost; cleared indicators are not.
- An archived record is seen by the owning LA's data team only, for the first year after it
  was archived (DESIGN.md, retention); to everyone else it is not there.
- Search follows the same table (`SHOWN`): a search result shows only what the record view
  would (an opted-out child's result has no date of birth or gender, a shielded child's no
  town), and a search may match a child only on what the searcher would be shown
  (`search_disclosure`), so that a search never confirms a hidden postcode or identifier.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from access.roles import Permission, Principal, Role
from access.totp import token_digest
from index import models as m
from index.search import EVERYTHING, Disclosure, Evidence
from index.store import ChildSummary
from index.vocabulary import (
    SENSITIVE_SERVICES,
    AddressStatus,
    ChildStatus,
    ConsentBasis,
    NameKind,
    OptOutBy,
    ServiceType,
)

CONTACT_LA_TEAM = "contact the LA data team"
ARCHIVED_VISIBLE_DAYS = 365
OPTED_OUT_NOTICE = "sharing with your service has been declined: name and address only"

# Who may opt a child out of sharing, and from what age (DESIGN.md: a parent, or a young person
# aged 16 or over).
OPT_OUT_MIN_AGE: dict[OptOutBy, int] = {OptOutBy.PARENT: 0, OptOutBy.YOUNG_PERSON: 16}


class Visibility(StrEnum):
    FULL = "full"  # everything the index holds that the viewer may see
    SHIELDED = "shielded"  # name, date of birth, gender and the LA notice only
    OPTED_OUT = "opted_out"  # name and address only (an opt-out of sharing with the viewer's service)


# What each visibility shows, as the fields a search may match (index.search.Evidence; POSTCODE
# stands for the address, town included): the record view, search results and search matching
# all read this one table. The child number is always shown (it is how the LA team is asked).
_NUMBERS = frozenset({Evidence.CHILD_NUMBER, Evidence.SERIAL_CHILD_NUMBER})
SHOWN: dict[Visibility, frozenset[Evidence]] = {
    Visibility.FULL: EVERYTHING,
    Visibility.SHIELDED: _NUMBERS | {Evidence.NAME, Evidence.DATE_OF_BIRTH, Evidence.GENDER},
    Visibility.OPTED_OUT: _NUMBERS | {Evidence.NAME, Evidence.POSTCODE},
}


@dataclass(frozen=True)
class Viewer:
    """Who is looking, as the policy needs it."""

    principal: Principal
    organisation_code: str | None = None  # the viewer's own service (register), if any
    organisation: str | None = None
    override: bool = False  # a shield override is in force for this child in this session
    service_type: ServiceType | None = None  # the viewer's service (register), for opt-outs


@dataclass(frozen=True)
class NameView:
    kind: str
    given_name: str | None
    middle_names: str | None
    family_name: str | None


@dataclass(frozen=True)
class AddressView:
    status: str
    line1: str | None
    line2: str | None
    line3: str | None
    town: str | None
    postcode: str | None


@dataclass(frozen=True)
class CarerView:
    given_name: str | None
    family_name: str | None
    relationship: str
    parental_responsibility: bool | None
    phone: str | None
    email: str | None


@dataclass(frozen=True)
class IndicatorView:
    kind: str
    set_by: str
    set_at: dt.datetime


@dataclass(frozen=True)
class InvolvementView:
    id: int
    service_type: str
    organisation_name: str
    organisation_code: str | None
    practitioner_name: str | None
    contact_phone: str | None
    contact_email: str | None
    start_date: dt.date | None
    end_date: dt.date | None
    lead_professional: bool
    contact_brokered_by_la: bool
    indicators: tuple[IndicatorView, ...]


@dataclass(frozen=True)
class ChildView:
    child_id: int
    child_number: str
    owning_la: str
    visibility: Visibility
    names: tuple[NameView, ...]
    date_of_birth: dt.date | None  # None: not shown (opt-out)
    gender: str | None
    status: str | None
    shielded: bool
    notice: str | None = None
    addresses: tuple[AddressView, ...] = ()
    identifiers: tuple[tuple[str, str], ...] = ()
    carers: tuple[CarerView, ...] = ()
    involvements: tuple[InvolvementView, ...] = field(default=())


def visible_at_all(principal: Principal, child: m.Child, today: dt.date) -> bool:
    """Is the record there at all for this user? (Archived: owning team, first year only.)"""
    if child.status is not ChildStatus.ARCHIVED:
        return True
    since = child.status_since
    in_first_year = since is None or (today - since).days <= ARCHIVED_VISIBLE_DAYS
    return is_owning_team(principal, child) and in_first_year


class OwnedChild(Protocol):
    """What the ownership rules read of a child (a stored child or a search summary)."""

    @property
    def owning_la(self) -> str: ...

    @property
    def shielded(self) -> bool: ...


def is_owning_team(principal: Principal, child: OwnedChild) -> bool:
    return principal.role is Role.LA_DATA_TEAM and principal.la == child.owning_la


def sees_shielded(viewer: Viewer, child: m.Child) -> bool:
    """May this viewer see the hidden details of this (shielded) child?"""
    return is_owning_team(viewer.principal, child) or viewer.override


def visibility(viewer: Viewer, child: OwnedChild, opted_out: bool) -> Visibility:
    """How much of this child the viewer sees; `opted_out`: the child is opted out of sharing
    with the viewer's type of service. A shield is decided first."""
    if child.shielded and not (is_owning_team(viewer.principal, child) or viewer.override):
        return Visibility.SHIELDED
    if opted_out and viewer.service_type is not None and not is_owning_team(viewer.principal, child):
        return Visibility.OPTED_OUT
    return Visibility.FULL


def search_disclosure(viewer: Viewer) -> Disclosure:
    """What a search by this viewer may match children on (index.search applies it)."""
    p = viewer.principal
    return Disclosure(
        shielded=SHOWN[Visibility.SHIELDED], opted_out=SHOWN[Visibility.OPTED_OUT],
        service_type=viewer.service_type.value if viewer.service_type else None,
        full_la=p.la if p.role is Role.LA_DATA_TEAM else None,
    )


@dataclass(frozen=True)
class SearchResultView:
    """One search result as this viewer may see it (name, date of birth, gender, town)."""

    child_id: int
    child_number: str
    given_name: str | None
    family_name: str | None
    date_of_birth: dt.date | None  # None: not shown (opt-out)
    gender: str | None
    town: str | None
    shielded: bool


def search_results(session: Session, viewer: Viewer, summaries: list[ChildSummary]) -> list[SearchResultView]:
    """Search results as the record view's own table (`SHOWN`) allows this viewer to see them."""
    opted = opted_out_children(session, [s.child_id for s in summaries], viewer.service_type)
    views = []
    for s in summaries:
        shown = SHOWN[visibility(viewer, s, s.child_id in opted)]
        views.append(SearchResultView(
            child_id=s.child_id, child_number=s.child_number, given_name=s.given_name,
            family_name=s.family_name,
            date_of_birth=s.date_of_birth if Evidence.DATE_OF_BIRTH in shown else None,
            gender=s.gender if Evidence.GENDER in shown else None,
            town=s.town if Evidence.POSTCODE in shown else None, shielded=s.shielded))
    return views


def _own_service(viewer: Viewer, involvement: m.Involvement) -> bool:
    if viewer.organisation_code and involvement.organisation_code:
        return viewer.organisation_code == involvement.organisation_code
    return bool(viewer.organisation) and viewer.organisation == involvement.organisation_name


def _involvement(viewer: Viewer, child: m.Child, inv: m.Involvement) -> InvolvementView | None:
    sensitive = inv.service_type in SENSITIVE_SERVICES
    if sensitive and inv.consent_basis is ConsentBasis.NOT_REQUIRED:
        return None  # never stored (a CHECK constraint), and never shown if it were
    brokered = sensitive and not (is_owning_team(viewer.principal, child) or _own_service(viewer, inv))
    return InvolvementView(
        id=inv.id, service_type=inv.service_type.value, organisation_name=inv.organisation_name,
        organisation_code=inv.organisation_code,
        practitioner_name=None if brokered else inv.practitioner_name,
        contact_phone=None if brokered else inv.contact_phone,
        contact_email=None if brokered else inv.contact_email,
        start_date=inv.start_date, end_date=inv.end_date, lead_professional=inv.lead_professional,
        contact_brokered_by_la=brokered,
        indicators=tuple(
            IndicatorView(kind=i.kind.value, set_by=i.set_by, set_at=i.set_at)
            for i in sorted(inv.indicators, key=lambda i: i.id) if i.cleared_at is None
        ),
    )


def _names(child: m.Child) -> tuple[NameView, ...]:
    order = {kind: n for n, kind in enumerate(NameKind)}
    return tuple(
        NameView(kind=n.kind.value, given_name=n.given_name, middle_names=n.middle_names,
                 family_name=n.family_name)
        for n in sorted(child.names, key=lambda n: (order[n.kind], n.id))
    )


def age_on(date_of_birth: dt.date, day: dt.date) -> int:
    return day.year - date_of_birth.year - ((day.month, day.day) < (date_of_birth.month, date_of_birth.day))


def may_opt_out(by: OptOutBy, date_of_birth: dt.date, today: dt.date) -> bool:
    """May `by` opt this child out of sharing today? (A young person from 16.)"""
    return age_on(date_of_birth, today) >= OPT_OUT_MIN_AGE[by]


def opted_out_services(session: Session, child_id: int) -> frozenset[ServiceType]:
    """The service types this child's record is currently not shared with."""
    return frozenset(session.scalars(
        select(m.SharingOptOut.service_type)
        .where(m.SharingOptOut.child_id == child_id, m.SharingOptOut.withdrawn_at.is_(None))
    ))


def opted_out_children(session: Session, child_ids: list[int],
                       service_type: ServiceType | None) -> frozenset[int]:
    """Which of these children are opted out of sharing with `service_type` now."""
    if service_type is None or not child_ids:
        return frozenset()
    return frozenset(session.scalars(
        select(m.SharingOptOut.child_id).where(
            m.SharingOptOut.child_id.in_(child_ids), m.SharingOptOut.service_type == service_type,
            m.SharingOptOut.withdrawn_at.is_(None))
    ))


def opted_out_for(session: Session, viewer: Viewer, child: m.Child) -> bool:
    """Does an opt-out limit this viewer to name and address?"""
    if viewer.service_type is None or is_owning_team(viewer.principal, child):
        return False
    return viewer.service_type in opted_out_services(session, child.id)


def _addresses(child: m.Child) -> tuple[AddressView, ...]:
    status_order = {s: n for n, s in enumerate(AddressStatus)}
    return tuple(
        AddressView(status=a.status.value, line1=a.line1, line2=a.line2, line3=a.line3,
                    town=a.town, postcode=a.postcode)
        for a in sorted(child.addresses, key=lambda a: (status_order[a.status], a.id))
    )


# A record's parts, each read in one query with the child (not one lazy load per part and one per
# involvement for its indicators).
# The record's parts load when first read (one short query each, SQLAlchemy's cached lazy
# loader: cheaper than its IN-list "selectin" loads, and a shielded view reads none of them);
# an involvement's indicators come with the involvements, in one query for all of them.
_WHOLE_RECORD = (lazyload(m.Child.involvements).selectinload(m.Involvement.indicators),)


def child_view(session: Session, viewer: Viewer, child_id: int, *,
               today: dt.date | None = None) -> ChildView | None:
    """What `viewer` may see of the child, or None if there is no such child (for this viewer)."""
    child = session.get(m.Child, child_id, options=_WHOLE_RECORD)
    if child is None or not visible_at_all(viewer.principal, child, today or dt.date.today()):
        return None
    base = dict(
        child_id=child.id, child_number=child.child_number, owning_la=child.owning_la,
        names=_names(child), date_of_birth=child.date_of_birth, gender=child.gender.value,
        status=child.status.value, shielded=child.shielded,
    )
    seen = visibility(viewer, child, opted_out_for(session, viewer, child))
    if seen is Visibility.SHIELDED:
        return ChildView(visibility=Visibility.SHIELDED, notice=CONTACT_LA_TEAM, **base)  # type: ignore[arg-type]
    if seen is Visibility.OPTED_OUT:
        shown = SHOWN[seen]
        base.update(date_of_birth=child.date_of_birth if Evidence.DATE_OF_BIRTH in shown else None,
                    gender=child.gender.value if Evidence.GENDER in shown else None, status=None)
        return ChildView(visibility=Visibility.OPTED_OUT, notice=OPTED_OUT_NOTICE,  # type: ignore[arg-type]
                         addresses=_addresses(child), **base)
    involvements = (_involvement(viewer, child, i) for i in sorted(child.involvements, key=lambda i: i.id))
    return ChildView(
        visibility=Visibility.FULL, **base,  # type: ignore[arg-type]
        addresses=_addresses(child),
        identifiers=tuple(sorted((i.scheme.value, i.value) for i in child.identifiers)),
        carers=tuple(
            CarerView(given_name=c.given_name, family_name=c.family_name,
                      relationship=c.relationship_to_child.value,
                      parental_responsibility=c.parental_responsibility, phone=c.phone, email=c.email)
            for c in sorted(child.carers, key=lambda c: (c.contact_order or 99, c.id))
        ),
        involvements=tuple(v for v in involvements if v is not None),
    )


def override_in_force(session: Session, principal: Principal, token: str, child_id: int) -> bool:
    """Has this user used the shield override on this child in this very session (and may
    they still)?

    The override is tied to the session that gave the reason (its token's digest, kept on the
    investigation item it opened): the user's other sessions, earlier or later, never see it.
    It was found by user and time before, which opened the child in every session of the user."""
    if Permission.SHIELD_OVERRIDE not in principal.grants():
        return False
    found = session.scalar(
        select(m.ShieldInvestigation.id)
        .where(m.ShieldInvestigation.session_hash == token_digest(token),
               m.ShieldInvestigation.opened_by == principal.user_id,
               m.ShieldInvestigation.child_id == child_id)
        .limit(1)
    )
    return found is not None
