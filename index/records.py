"""Input models: the only shapes in which a child's data may enter the store.

Pydantic models with `extra="forbid"`: an unknown field is an error, never silently stored.
Their fields are checked against the same allow-list as the tables (tests/test_allowlist.py).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from index import identifiers
from index.identifiers import Scheme
from index.text import printable
from index.vocabulary import (
    SENSITIVE_SERVICES,
    AddressStatus,
    ChildStatus,
    ConsentBasis,
    Gender,
    IndicatorKind,
    NameKind,
    Relationship,
    ServiceType,
)

# Names, addresses and other free text: format and control characters removed (index.text).
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
                 BeforeValidator(printable)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                     BeforeValidator(printable)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ()\-]{6,31}$")]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    BeforeValidator(printable),
]

# Every date that enters the index or a request is bounded (a year like 9999 or 0001 is a typo,
# and date arithmetic near either end overflows). A date of birth is also never in the future.
FIRST_PLAUSIBLE_DATE = dt.date(1900, 1, 1)
LAST_PLAUSIBLE_DATE = dt.date(2099, 12, 31)


def birth_date_range() -> tuple[dt.date, dt.date]:
    """The dates of birth accepted anywhere: from FIRST_PLAUSIBLE_DATE to today."""
    return FIRST_PLAUSIBLE_DATE, dt.date.today()


def _birth_date(value: dt.date) -> dt.date:
    first, last = birth_date_range()
    if not first <= value <= last:
        raise ValueError(f"not a plausible date of birth (from {first.isoformat()} to today)")
    return value


def _plausible_date(value: dt.date) -> dt.date:
    day = value.date() if isinstance(value, dt.datetime) else value
    if not FIRST_PLAUSIBLE_DATE <= day <= LAST_PLAUSIBLE_DATE:
        raise ValueError(f"not a plausible date (from {FIRST_PLAUSIBLE_DATE.isoformat()} "
                         f"to {LAST_PLAUSIBLE_DATE.isoformat()})")
    return value


BirthDate = Annotated[dt.date, AfterValidator(_birth_date)]
PlausibleDate = Annotated[dt.date, AfterValidator(_plausible_date)]
PlausibleDateTime = Annotated[dt.datetime, AfterValidator(_plausible_date)]
LaNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{3}$")]

# UK postcode shape (outward code, space, inward code); normalised to upper case with one space.
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})$")


def normalise_postcode(value: str) -> str:
    """Canonical `OUT IN` form of a UK postcode, or ValueError naming the field."""
    match = _POSTCODE.match(value.strip().upper())
    if not match:
        raise ValueError("postcode is not a UK postcode")
    return f"{match.group(1)} {match.group(2)}"


def describe_errors(error: ValidationError, *, where: str = "") -> str:
    """A validation error as 'field: reason; ...', without the offending values.

    Pydantic's own message repeats each input value, which here is personal data; this keeps
    only the location and the reason so it can go into reports and logs.
    """
    prefix = f"{where}: " if where else ""
    parts = []
    for detail in error.errors(include_url=False, include_input=False, include_context=False):
        field = ".".join(str(p) for p in detail["loc"]) or "record"
        parts.append(f"{field}: {detail['msg'].removeprefix('Value error, ')}")
    return prefix + "; ".join(parts)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ProvenanceRef(_Input):
    """Where a value came from: position within a submission, never its content."""

    submission_id: int | None = None
    record_ref: Annotated[str, StringConstraints(max_length=64)] | None = None


class NameIn(_Input):
    kind: NameKind = NameKind.CURRENT
    given_name: Text | None = None
    middle_names: LongText | None = None
    family_name: Text | None = None

    @model_validator(mode="after")
    def _some_name(self) -> NameIn:
        if not (self.given_name or self.family_name):
            raise ValueError("a name needs a given name or a family name")
        return self


class AddressIn(_Input):
    line1: Text | None = None
    line2: Text | None = None
    line3: Text | None = None
    town: Text | None = None
    postcode: str | None = None
    uprn: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,12}$")] | None = None

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str | None) -> str | None:
        return normalise_postcode(value) if value else None


class ChildAddressIn(AddressIn):
    status: AddressStatus = AddressStatus.CURRENT
    valid_from: PlausibleDate | None = None
    valid_to: PlausibleDate | None = None


class IdentifierIn(_Input):
    scheme: Scheme
    value: str

    @model_validator(mode="after")
    def _valid(self) -> IdentifierIn:
        if self.scheme is Scheme.CHILD_NUMBER:
            raise ValueError("the child number is assigned by the index, not supplied")
        checked = identifiers.validate(self.scheme, self.value)
        object.__setattr__(self, "value", checked.value)
        return self


class CarerIn(AddressIn):
    contact_order: Annotated[int, Field(ge=1, le=99)] | None = None
    given_name: Text | None = None
    family_name: Text | None = None
    relationship_to_child: Relationship = Relationship.OTHER
    parental_responsibility: bool | None = None
    address_as_child: bool = False
    phone: Phone | None = None
    alternative_phone: Phone | None = None
    email: Email | None = None


class IndicatorIn(_Input):
    kind: IndicatorKind
    set_by: LongText
    set_at: PlausibleDateTime
    cleared_at: PlausibleDateTime | None = None


class InvolvementIn(_Input):
    service_type: ServiceType
    organisation_name: LongText
    organisation_code: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{3,16}$")] | None = None
    practitioner_name: LongText | None = None
    contact_phone: Phone | None = None
    contact_email: Email | None = None
    start_date: PlausibleDate | None = None
    end_date: PlausibleDate | None = None
    lead_professional: bool = False
    consent_basis: ConsentBasis = ConsentBasis.NOT_REQUIRED
    indicators: tuple[IndicatorIn, ...] = ()

    @model_validator(mode="after")
    def _rules(self) -> InvolvementIn:
        if self.service_type in SENSITIVE_SERVICES and self.consent_basis is ConsentBasis.NOT_REQUIRED:
            raise ValueError(
                f"{self.service_type.value} is a sensitive service: it needs recorded consent "
                "or suspected significant harm"
            )
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class ChildRecord(_Input):
    """One child as it enters the store, with where each part came from."""

    owning_la: LaNumber
    date_of_birth: BirthDate
    gender: Gender = Gender.UNSPECIFIED
    status: ChildStatus = ChildStatus.LIVE
    shielded: bool = False
    names: Annotated[tuple[NameIn, ...], Field(min_length=1)]
    addresses: tuple[ChildAddressIn, ...] = ()
    identifiers: tuple[IdentifierIn, ...] = ()
    carers: tuple[CarerIn, ...] = ()
    involvements: tuple[InvolvementIn, ...] = ()
    provenance: ProvenanceRef = ProvenanceRef()

    @model_validator(mode="after")
    def _one_current_name(self) -> ChildRecord:
        _check_one_current_name(self.names)
        return self

    @property
    def current_name(self) -> NameIn:
        return next(n for n in self.names if n.kind is NameKind.CURRENT)


def _check_one_current_name(names: tuple[NameIn, ...]) -> None:
    if sum(n.kind is NameKind.CURRENT for n in names) != 1:
        raise ValueError("a child needs exactly one current name")


# Why a service feed's date of birth could not be used (fixed phrases: never the value).
DOB_PROBLEMS = ("is missing", "is not a date (YYYY-MM-DD)", "is not a real calendar date")


# Identifiers that name one child nationally (as `matching.TRUSTED_SCHEMES`): enough to keep a
# service-feed row without a family name, to be linked by them alone.
IDENTIFYING_SCHEMES: tuple[Scheme, ...] = (Scheme.UPN, Scheme.NHS_NUMBER, Scheme.ULN)
# Why a service feed's family name could not be used (a fixed phrase: never a value).
FAMILY_NAME_PROBLEMS = ("is missing",)


class UndatedRecord(_Input):
    """A service-feed row that may never be a child of its own (issue 15): its date of birth is
    missing or not a date, or it has no family name but a trusted identifier (UPN, NHS number,
    ULN). The service's involvement with a child is not lost for it, but no child is made from
    it (a child needs a date of birth and a name, and none is made up). The nightly run matches
    an undated one like any record, the date compared as text; one without a family name is
    linked by its trusted identifiers alone, when they name exactly one child. Linked, it
    brings its involvement (and names, identifiers, address) to that child; otherwise it is
    held, with its involvement, for the LA data team.

    The same fields as `ChildRecord`, in its order (provenance last: `ingest.unchanged`), with
    the date of birth as sent (at most 20 characters) when it is not a date, and the reasons."""

    owning_la: LaNumber
    # A real date only on a row kept for its identifier (its family name is missing).
    date_of_birth: BirthDate | None = None
    date_of_birth_text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20),
                                  BeforeValidator(printable)] | None = None
    date_of_birth_problem: Annotated[str, StringConstraints(max_length=40)] | None = None
    family_name_problem: Annotated[str, StringConstraints(max_length=40)] | None = None
    gender: Gender = Gender.UNSPECIFIED
    shielded: bool = False
    names: tuple[NameIn, ...] = ()
    addresses: tuple[ChildAddressIn, ...] = ()
    identifiers: tuple[IdentifierIn, ...] = ()
    carers: tuple[CarerIn, ...] = ()
    involvements: tuple[InvolvementIn, ...] = ()
    provenance: ProvenanceRef = ProvenanceRef()

    @model_validator(mode="after")
    def _rules(self) -> UndatedRecord:
        if self.date_of_birth_problem is not None:
            if self.date_of_birth_problem not in DOB_PROBLEMS:
                raise ValueError("date_of_birth_problem is not a known reason")
            if self.date_of_birth is not None:
                raise ValueError("a date of birth with a problem is kept as text, not as a date")
        if self.family_name_problem is None:
            if self.date_of_birth_problem is None:
                raise ValueError("a record with a date of birth and a family name is a ChildRecord")
            _check_one_current_name(self.names)
            return self
        if self.family_name_problem not in FAMILY_NAME_PROBLEMS:
            raise ValueError("family_name_problem is not a known reason")
        if not any(i.scheme in IDENTIFYING_SCHEMES for i in self.identifiers):
            raise ValueError("a record without a family name needs a UPN, NHS number or ULN")
        if any(n.family_name for n in self.names) or sum(n.kind is NameKind.CURRENT for n in self.names) > 1:
            raise ValueError("a record without a family name has at most one current given name")
        return self

    @property
    def current_name(self) -> NameIn | None:
        """The current name; None on a row kept for its identifier alone."""
        return next((n for n in self.names if n.kind is NameKind.CURRENT), None)

    @property
    def identified_only(self) -> bool:
        """Linked by its trusted identifiers alone (no family name to match on)."""
        return self.family_name_problem is not None


def load_record(payload: str) -> ChildRecord | UndatedRecord:
    """A staged record from its JSON: a `ChildRecord`, or an `UndatedRecord` (which always
    writes its reasons' keys, which a `ChildRecord` forbids, so it can never pass as a child)."""
    if _UNDATED_MARK in payload:
        return UndatedRecord.model_validate_json(payload)
    return ChildRecord.model_validate_json(payload)


# The key only an `UndatedRecord` writes (a raw `"key":` occurs only as a key: quotes inside
# values are escaped).
_UNDATED_MARK = '"date_of_birth_problem":'
