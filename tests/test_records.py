"""Input models: bad values are refused with the field and reason, never the value."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from index.records import ChildRecord, describe_errors

GOOD = {"owning_la": "823", "date_of_birth": "2014-05-10", "names": [{"family_name": "Smith"}]}


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"date_of_birth": "2014-13-45"}, "date_of_birth", "valid date"),
        ({"date_of_birth": "1812-01-01"}, "date_of_birth", "not a plausible date of birth"),
        ({"owning_la": "82"}, "owning_la", "String should match pattern"),
        ({"identifiers": [{"scheme": "upn", "value": "R247962919251"}]}, "identifiers.0",
         "invalid upn: check letter does not match"),
        ({"identifiers": [{"scheme": "nhs_number", "value": "9434765871"}]}, "identifiers.0",
         "invalid nhs_number: check digit does not match"),
        ({"addresses": [{"postcode": "NOT A POSTCODE"}]}, "addresses.0.postcode",
         "postcode is not a UK postcode"),
        ({"involvements": [{"service_type": "sexual_health", "organisation_name": "Clinic"}]},
         "involvements.0", "sensitive service"),
        ({"names": [{"family_name": "X" * 101}]}, "names.0.family_name", "at most 100 characters"),
        ({"names": []}, "names", "at least 1 item"),
        ({"names": [{"family_name": "A"}, {"family_name": "B"}]}, "record", "exactly one current name"),
    ],
)
def test_bad_values_name_the_field_and_reason_without_the_value(
    change: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ChildRecord.model_validate({**GOOD, **change})
    message = describe_errors(caught.value, where="feed.csv line 3")
    assert message.startswith("feed.csv line 3: ")
    assert field in message and reason in message
    for secret in ("R247962919251", "9434765871", "NOT A POSTCODE", "XXXXXXXX", "1812-01-01"):
        assert secret not in message


def test_postcodes_are_normalised() -> None:
    record = ChildRecord.model_validate({**GOOD, "addresses": [{"postcode": " sw1a1aa "}]})
    assert record.addresses[0].postcode == "SW1A 1AA"


def test_child_number_cannot_be_supplied() -> None:
    with pytest.raises(ValidationError, match="assigned by the index"):
        ChildRecord.model_validate(
            {**GOOD, "identifiers": [{"scheme": "child_number", "value": "0000000013"}]}
        )
