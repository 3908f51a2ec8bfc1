"""Request and response bodies. Every request model forbids unknown fields (422, never stored)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from access.audit import REASONS
from index.identifiers import Scheme
from index.records import Email, LongText, Phone
from index.vocabulary import ConsentBasis, Gender, MatchReason, ServiceType


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=200)


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The stated reason for a search or a view: a code from the audit trail's fixed list.
Reason = Literal[tuple(REASONS)]  # type: ignore[valid-type]
ShieldReason = Literal["safeguarding", "data_accuracy"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class SignInBody(Input):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    code: Annotated[str, StringConstraints(min_length=1, max_length=16)]


class EnrolBody(Input):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class SignedInOut(Output):
    token: str
    expires_at: dt.datetime
    user_id: str
    role: str
    la: str | None
    capabilities: list[str]


class EnrolmentOut(Output):
    secret: str
    provisioning_uri: str


class MeOut(Output):
    user_id: str
    role: str
    la: str | None
    organisation: str
    organisation_code: str | None
    capabilities: list[str]
    permissions: dict[str, str]


class SearchBody(Input):
    reason: Reason
    identifier_scheme: Scheme | None = None
    identifier: Identifier | None = None
    family_name: Name | None = None
    given_name: Name | None = None
    date_of_birth: dt.date | None = None
    postcode: Annotated[str, StringConstraints(max_length=10)] | None = None
    gender: Gender | None = None


class SearchResult(Output):
    child_id: int
    child_number: str
    given_name: str | None
    family_name: str | None
    date_of_birth: dt.date
    gender: str
    town: str | None
    shielded: bool


class SearchOut(Output):
    results: list[SearchResult]


class OverrideBody(Input):
    reason: Literal["safeguarding"]


class InvolvementBody(Input):
    service_type: ServiceType
    practitioner_name: LongText | None = None
    contact_phone: Phone | None = None
    contact_email: Email | None = None
    start_date: dt.date | None = None
    lead_professional: bool = False
    consent_basis: ConsentBasis = ConsentBasis.NOT_REQUIRED
    reason: Reason = "new_involvement"


class EndBody(Input):
    end_date: dt.date
    reason: Reason = "coordinate_services"


class IndicatorBody(Input):
    reason: Reason = "coordinate_services"


class ShieldBody(Input):
    shielded: bool
    reason: ShieldReason


class CorrectionBody(Input):
    """A correction by the owning LA's data team; only the fields given change."""

    given_name: Name | None = None
    family_name: Name | None = None
    date_of_birth: dt.date | None = None
    gender: Gender | None = None


class DecisionBody(Input):
    verdict: Literal["same", "different"]
    reason: MatchReason


class SplitBody(Input):
    reason: MatchReason = MatchReason.WRONG_MERGE


class AuditEntryOut(Output):
    seq: int
    at: dt.datetime
    actor: str
    actor_role: str | None
    actor_la: str | None
    organisation: str | None = None
    action: str
    reason: str | None
    criteria: dict[str, object] | None
    outcome: str
    subject_user: str | None
    child_ids: list[int]


class AuditOut(Output):
    entries: list[AuditEntryOut]


class TokenOut(Output):
    user_id: str
    token: str


class UnlockOut(Output):
    user_id: str
    cleared: bool
