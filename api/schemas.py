"""Request and response bodies. Every request model forbids unknown fields (422, never stored)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from access.reasons import ACCESS_REASON_CODES, RegisterChange
from access.roles import Role
from access.usage import UsageFlag
from index.identifiers import Scheme
from index.records import BirthDate, Email, LongText, Phone, PlausibleDate
from index.text import printable
from index.vocabulary import ConsentBasis, Gender, MatchReason, OptOutBy, ServiceType
from matching import ReviewItem


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=200)


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The stated reason for a search or a view: a code some role may give (access.reasons says
# which role may give which; the audit trail's fixed list holds them all).
Reason = Literal[ACCESS_REASON_CODES]  # type: ignore[valid-type]
ShieldReason = Literal["safeguarding", "data_accuracy"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                 BeforeValidator(printable)]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]


class ConfirmBody(Input):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    code: Annotated[str, StringConstraints(min_length=1, max_length=16)]


class SignInBody(ConfirmBody):
    # A program that sends the token itself (Authorization: Bearer) asks for it here; a browser
    # does not, and gets the session only as an HttpOnly cookie that its scripts cannot read.
    bearer: bool = False


class EnrolBody(Input):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class SignedInOut(Output):
    token: str | None = Field(default=None, description="only when the sign-in asked for a bearer token")
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
    date_of_birth: BirthDate | None = None
    postcode: Annotated[str, StringConstraints(max_length=10)] | None = None
    gender: Gender | None = None


class SearchResult(Output):
    """One result as the view policy shows it (access.view_policy.search_results)."""

    child_id: int
    child_number: str
    given_name: str | None
    family_name: str | None
    date_of_birth: dt.date | None  # None: not shown (an opt-out of sharing with your service)
    gender: str | None
    town: str | None
    shielded: bool


class SearchOut(Output):
    results: list[SearchResult]
    # When nothing is shown: what to add or check (the evidence rule, index.search).
    advice: str | None = None


class OverrideBody(Input):
    reason: Literal["safeguarding"]


class InvolvementBody(Input):
    service_type: ServiceType
    practitioner_name: LongText | None = None
    contact_phone: Phone | None = None
    contact_email: Email | None = None
    start_date: PlausibleDate | None = None
    lead_professional: bool = False
    consent_basis: ConsentBasis = ConsentBasis.NOT_REQUIRED
    reason: Reason = "new_involvement"


class EndBody(Input):
    end_date: PlausibleDate
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
    date_of_birth: BirthDate | None = None
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
    # The search's criteria were erased when a child they named was purged (retention).
    criteria_erased: bool = False
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


# -- a child's record: the view policy's own `access.view_policy.ChildView` is the response
# model (one definition of what a viewer may see, not a copy here to keep in step).


class CreatedOut(Output):
    id: int


class IndicatorChangeOut(Output):
    involvement_id: int
    kind: str
    active: bool


# -- LA data team -----------------------------------------------------------------------------


class ReviewQueueOut(Output):
    items: list[ReviewItem]  # matching's own review item: one definition of what a review shows


class DecisionOut(Output):
    review_id: int
    status: str
    merge_id: int | None


class SplitOut(Output):
    kept_child_id: int
    restored_child_id: int


class ShieldOut(Output):
    child_id: int
    shielded: bool


class OptOutBody(Input):
    service_type: ServiceType
    opted_out_by: OptOutBy


class OptOutOut(Output):
    child_id: int
    service_type: str
    opted_out_by: str
    recorded_at: dt.datetime
    recorded_by: str


class OptOutsOut(Output):
    opt_outs: list[OptOutOut]


class RegisterBody(Input):
    """A register entry as the LA data team or an administrator writes it (the user is in the path)."""

    organisation: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    organisation_code: Annotated[str, StringConstraints(min_length=1, max_length=16)] | None = None
    la: Annotated[str, StringConstraints(pattern=r"^\d{3}$")]
    role: Role
    service_type: ServiceType | None = None
    vetting_checked_on: PlausibleDate
    vetting_expires_on: PlausibleDate
    training_completed_on: PlausibleDate | None = None
    training_expires_on: PlausibleDate | None = None
    suspended: bool = False
    # Why the entry is added or changed: the audit entry's reason, shown to the owning LA.
    change_reason: RegisterChange


class RegisterEntryOut(Output):
    user_id: str
    organisation: str
    organisation_code: str | None
    la: str
    role: str
    service_type: str | None
    vetting_checked_on: dt.date
    vetting_expires_on: dt.date
    training_completed_on: dt.date | None
    training_expires_on: dt.date | None
    suspended: bool
    status: str


class RegisterOut(Output):
    entries: list[RegisterEntryOut]


class AccessOut(Output):
    """One access to a child, for the owning LA: who, their organisation, when and why."""

    seq: int
    child_id: int
    at: dt.datetime
    actor: str
    organisation: str | None
    action: str
    reason: str | None
    shielded: bool  # whether the child was shielded when this access was made


class AccessesOut(Output):
    accesses: list[AccessOut]


class InvestigationOut(Output):
    id: int
    child_id: int
    opened_by: str
    organisation: str | None
    opened_at: dt.datetime
    audit_seq: int
    closed_at: dt.datetime | None
    closed_by: str | None


class InvestigationsOut(Output):
    investigations: list[InvestigationOut]


class UsageOut(Output):
    start: dt.datetime
    end: dt.datetime
    # Each flag as access.usage computes it: its fields are declared there only.
    flags: list[UsageFlag]


class VerificationOut(Output):
    ok: bool
    entries: int
    head_hash: str
    broken_seq: int | None
    problem: str | None
    unanchored: int = Field(0, description="entries from before anchoring: no MAC, the chain alone")
    macs_checked: int = 0
    checkpoints: int = Field(0, description="checkpoints outside the database it was checked against")
    summary: str = ""


# -- school submitter ------------------------------------------------------------------------


class SubmissionOut(Output):
    submission_id: int
    source_kind: str
    state: str
    records_total: int
    rejected: int
    received_at: dt.datetime | None = None
    duplicate: bool = False
    failure: str | None = None
    parse_report: dict[str, object] | None = None
    run_report: dict[str, object] | None = None


class RejectionOut(Output):
    record_ref: str
    field: str
    reason: str
    upn: str | None


class SubmissionDetailOut(Output):
    submission: SubmissionOut
    rejections: list[RejectionOut]


class SubmissionsOut(Output):
    submissions: list[SubmissionOut]


class HeldRowOut(Output):
    """A service-feed row held for the LA data team (issue 15): where it is and why, no value."""

    submission_id: int
    file: str
    source: str
    owning_la: str | None
    record: str = Field(description="the row's position in its file, e.g. 'line 12'")
    field: str
    reason: str


class HeldRowsOut(Output):
    items: list[HeldRowOut]


class HeldDismissal(Input):
    """Dismiss a held row (its values are cleared): which row, and why, by a fixed code."""

    record: str = Field(pattern=r"^line [0-9]{1,9}$", description="the row, as listed: 'line 12'")
    reason: Literal["held_sent_again", "held_already_known", "held_unidentifiable"]


class HeldAttachment(Input):
    """Attach a held row to the child it is of: which row, which child, and why, by a fixed code."""

    record: str = Field(pattern=r"^line [0-9]{1,9}$", description="the row, as listed: 'line 12'")
    child_id: int = Field(ge=1, description="the child of your LA the row is of")
    reason: Literal["held_child_identified"]


# -- administrator ---------------------------------------------------------------------------


class ConfigurationChangeOut(Output):
    changed_at: dt.datetime
    changed_by: str


class ConfigurationOut(Output):
    """The settings an administrator may see (never a secret) and change at run time: the values
    in force, and for each one an administrator changed (kept in the store), when and by whom."""

    lockout_threshold: int
    lockout_minutes: int
    client_lockout_threshold: int
    session_idle_minutes: int
    session_max_hours: int
    enrolment_token_hours: int
    unusual_use_factor: float
    unusual_use_min_children: int
    changed: dict[str, ConfigurationChangeOut] = Field(default_factory=dict)


class ConfigurationBody(Input):
    lockout_threshold: Annotated[int, Field(ge=1, le=100)] | None = None
    lockout_minutes: Annotated[int, Field(ge=1, le=24 * 60)] | None = None
    client_lockout_threshold: Annotated[int, Field(ge=1, le=10_000)] | None = None
    session_idle_minutes: Annotated[int, Field(ge=1, le=240)] | None = None
    enrolment_token_hours: Annotated[int, Field(ge=1, le=24 * 14)] | None = None
    unusual_use_factor: Annotated[float, Field(ge=1.0, le=1000.0)] | None = None
    unusual_use_min_children: Annotated[int, Field(ge=1, le=100_000)] | None = None
