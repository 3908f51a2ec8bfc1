"""The index's closed vocabularies: every coded value the store may hold is listed here."""

from __future__ import annotations

import enum


class Gender(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"
    UNSPECIFIED = "unspecified"


class ChildStatus(enum.StrEnum):
    LIVE = "live"
    ARCHIVED = "archived"
    DECEASED = "deceased"


class NameKind(enum.StrEnum):
    CURRENT = "current"
    PREFERRED = "preferred"
    FORMER = "former"
    ALTERNATIVE = "alternative"


class AddressStatus(enum.StrEnum):
    CURRENT = "current"
    LAST_KNOWN = "last_known"
    NO_KNOWN_ADDRESS = "no_known_address"


class Relationship(enum.StrEnum):
    PARENT = "parent"
    STEP_PARENT = "step_parent"
    FOSTER_PARENT = "foster_parent"
    CARER = "carer"
    OTHER_FAMILY = "other_family"
    RELATIVE = "relative"
    CHILDMINDER = "childminder"
    DOCTOR = "doctor"
    SOCIAL_WORKER = "social_worker"
    OTHER = "other"


class ServiceType(enum.StrEnum):
    SCHOOL = "school"
    GP_PRACTICE = "gp_practice"
    HEALTH_VISITOR = "health_visitor"
    SOCIAL_CARE = "social_care"
    YOUTH_OFFENDING = "youth_offending"
    CONNEXIONS = "connexions"
    CAMHS = "camhs"
    SEXUAL_HEALTH = "sexual_health"
    SUBSTANCE_MISUSE = "substance_misuse"
    OTHER = "other"


# Sexual health, mental health and substance misuse: recorded only with consent or where the
# provider suspects significant harm; contact details brokered by the LA team (DESIGN.md).
SENSITIVE_SERVICES: frozenset[ServiceType] = frozenset(
    {ServiceType.SEXUAL_HEALTH, ServiceType.CAMHS, ServiceType.SUBSTANCE_MISUSE}
)


class ConsentBasis(enum.StrEnum):
    """Why an involvement may be recorded. Ordinary services need none."""

    NOT_REQUIRED = "not_required"
    CHILD_CONSENT = "child_consent"
    PARENT_CONSENT = "parent_consent"
    SIGNIFICANT_HARM = "significant_harm"


class OptOutBy(enum.StrEnum):
    """Who opted a child's record out of sharing with a type of service."""

    PARENT = "parent"
    YOUNG_PERSON = "young_person"  # aged 16 or over when the opt-out was recorded


class IndicatorKind(enum.StrEnum):
    INFORMATION_TO_SHARE = "information_to_share"
    TAKING_ACTION = "taking_action"
    CAF_COMPLETED = "caf_completed"


class SourceKind(enum.StrEnum):
    """Where a submission came from; provenance for every value it carried."""

    CENSUS = "census"
    CTF = "ctf"
    SERVICE_FEED = "service_feed"
    PRACTITIONER = "practitioner"
    LA_DATA_TEAM = "la_data_team"
    SYNTHETIC = "synthetic"
    UNKNOWN = "unknown"  # a refused file whose kind could not be told


class ReviewStatus(enum.StrEnum):
    """Where a possible match stands: waiting, or what the LA data team decided."""

    OPEN = "open"
    SAME = "same"  # the same child: merged
    DIFFERENT = "different"  # different children: never proposed again
    WITHDRAWN = "withdrawn"  # overtaken (e.g. one of the two children merged elsewhere)


class MatchReason(enum.StrEnum):
    """Why the LA data team decided as it did: coded, never free text (no case notes)."""

    IDENTIFIERS_CONFIRMED = "identifiers_confirmed"
    DETAILS_CONFIRMED_WITH_SOURCE = "details_confirmed_with_source"
    DETAILS_MATCH = "details_match"
    TWINS_OR_SIBLINGS = "twins_or_siblings"
    DIFFERENT_PEOPLE = "different_people"
    IDENTIFIER_ERROR = "identifier_error"
    WRONG_MERGE = "wrong_merge"
