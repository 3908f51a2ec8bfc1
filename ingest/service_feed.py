"""CSV service feeds from the LA, health and other services.

The documented header: a feed's first line must be exactly these column names (any order is
accepted; a column not listed is rejected by name). One row is one involvement of one child.
Dates are YYYY-MM-DD; booleans `true`/`false`; `service_type` and `consent_basis` take the values
of `index.vocabulary.ServiceType` and `ConsentBasis`; `sex` is F, M or U.
"""

from __future__ import annotations

SERVICE_FEED_COLUMNS: tuple[str, ...] = (
    "record_id",           # the sender's own reference for the row (not personal data)
    "given_name",
    "middle_names",
    "family_name",
    "date_of_birth",
    "sex",
    "address_line1",
    "address_line2",
    "town",
    "postcode",
    "upn",
    "nhs_number",
    "uln",
    "la_reference",
    "service_type",
    "organisation_name",
    "organisation_code",
    "practitioner_name",
    "contact_phone",
    "contact_email",
    "start_date",
    "end_date",
    "lead_professional",
    "consent_basis",
)

# Columns a row must fill: who the child is, and which service is involved.
SERVICE_FEED_REQUIRED: frozenset[str] = frozenset(
    {"family_name", "date_of_birth", "service_type", "organisation_name"}
)
