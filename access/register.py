"""The practitioner register: who is vetted and trained to use the index, checked on every request.

A suspension or a lapsed vetting check or training ends access at once: `check_register` is
what the API calls on each request, not only at sign-in.
"""

from __future__ import annotations

import datetime as dt
import enum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from access.identity import canonical_username
from access.roles import Principal, Role
from index import models as m
from index.vocabulary import ServiceType


class RegisterStatus(enum.StrEnum):
    OK = "ok"
    NOT_REGISTERED = "not_registered"
    SUSPENDED = "suspended"
    VETTING_EXPIRED = "vetting_expired"
    TRAINING_NOT_COMPLETED = "training_not_completed"
    TRAINING_EXPIRED = "training_expired"


MESSAGES: dict[RegisterStatus, str] = {
    RegisterStatus.NOT_REGISTERED: "you are not on the practitioner register",
    RegisterStatus.SUSPENDED: "your access is suspended",
    RegisterStatus.VETTING_EXPIRED: "your enhanced vetting check has expired",
    RegisterStatus.TRAINING_NOT_COMPLETED: "you have not completed the required training",
    RegisterStatus.TRAINING_EXPIRED: "your training has expired",
}


class RegisterRefused(PermissionError):
    """Not (or no longer) allowed on the register; `status` says why."""

    def __init__(self, status: RegisterStatus) -> None:
        super().__init__(f"{MESSAGES[status]}: contact your LA data team")
        self.status = status


class RegisterEntry(BaseModel):
    """A register row as given by the LA data team (input) or read back (output)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: str = Field(min_length=1, max_length=64)
    organisation: str = Field(min_length=1, max_length=200)
    organisation_code: str | None = Field(default=None, max_length=16)
    la: str = Field(pattern=r"^\d{3}$")
    role: Role
    vetting_checked_on: dt.date
    vetting_expires_on: dt.date
    training_completed_on: dt.date | None = None
    training_expires_on: dt.date | None = None
    suspended: bool = False
    # The service the practitioner works for: a child's opt-out of sharing with this type of
    # service limits what they see (access.view_policy).
    service_type: ServiceType | None = None

    @field_validator("user_id")
    @classmethod
    def _canonical_user(cls, value: str) -> str:
        # One register row per person, whatever case or spacing the name was given in.
        canonical = canonical_username(value)
        if not canonical:
            raise ValueError("user_id is empty")
        return canonical

    @model_validator(mode="after")
    def _dates_in_order(self) -> RegisterEntry:
        if self.vetting_expires_on < self.vetting_checked_on:
            raise ValueError("vetting_expires_on is before vetting_checked_on")
        if (self.training_completed_on and self.training_expires_on
                and self.training_expires_on < self.training_completed_on):
            raise ValueError("training_expires_on is before training_completed_on")
        if self.role is Role.SCHOOL_SUBMITTER and not self.organisation_code:
            raise ValueError("a school submitter needs the school's organisation_code (LAEstab)")
        return self


def _entry(row: m.Practitioner) -> RegisterEntry:
    return RegisterEntry(
        user_id=row.user_id, organisation=row.organisation, organisation_code=row.organisation_code,
        la=row.la, role=Role(row.role), vetting_checked_on=row.vetting_checked_on,
        vetting_expires_on=row.vetting_expires_on, training_completed_on=row.training_completed_on,
        training_expires_on=row.training_expires_on, suspended=row.suspended,
        service_type=ServiceType(row.service_type) if row.service_type else None,
    )


def status_of(entry: RegisterEntry | None, today: dt.date) -> RegisterStatus:
    """The register's verdict on `entry` today; an expiry date is the last day of validity."""
    if entry is None:
        return RegisterStatus.NOT_REGISTERED
    if entry.suspended:
        return RegisterStatus.SUSPENDED
    if entry.vetting_expires_on < today:
        return RegisterStatus.VETTING_EXPIRED
    if entry.training_completed_on is None:
        return RegisterStatus.TRAINING_NOT_COMPLETED
    if entry.training_expires_on is not None and entry.training_expires_on < today:
        return RegisterStatus.TRAINING_EXPIRED
    return RegisterStatus.OK


def get_entry(session: Session, user_id: str) -> RegisterEntry | None:
    user_id = canonical_username(user_id)
    row = session.scalars(select(m.Practitioner).where(m.Practitioner.user_id == user_id)).one_or_none()
    return None if row is None else _entry(row)


def check_register(session: Session, user: str | Principal, today: dt.date) -> RegisterEntry:
    """The user's register entry if it allows access today; RegisterRefused(status) if not."""
    user_id = user.user_id if isinstance(user, Principal) else user
    entry = get_entry(session, user_id)
    status = status_of(entry, today)
    if status is not RegisterStatus.OK:
        raise RegisterRefused(status)
    assert entry is not None
    return entry


def save_entry(session: Session, entry: RegisterEntry) -> None:
    """Add or replace the register row of `entry.user_id`. Permission and audit: the caller's
    (access.admin.save_register_entry does both)."""
    row = session.scalars(
        select(m.Practitioner).where(m.Practitioner.user_id == entry.user_id)
    ).one_or_none()
    if row is None:
        row = m.Practitioner(user_id=entry.user_id)
        session.add(row)
    for name, value in entry.model_dump(exclude={"user_id"}).items():
        setattr(row, name, value.value if isinstance(value, Role | ServiceType) else value)
    session.flush()
