"""The index's input models (ChildRecord) for a child as they truly are and for a source
record as a feed states it: what benchmarks and the demo load into a store."""

from __future__ import annotations

import datetime as dt
import enum
import functools

from pydantic import BaseModel

from index.identifiers import Scheme
from index.records import (
    CarerIn,
    ChildAddressIn,
    ChildRecord,
    IdentifierIn,
    InvolvementIn,
    NameIn,
    ProvenanceRef,
)
from index.vocabulary import ConsentBasis, Gender, NameKind, Relationship, ServiceType
from ops.synth.model import (
    RELATIONSHIP_CODES,
    Address,
    Carer,
    Child,
    School,
    Service,
    SourceRecord,
)


def _address_fields(address: Address) -> dict[str, object]:
    lines = address.lines()
    return {"line1": lines[0], "line2": lines[1] if len(lines) > 1 else None,
            "line3": lines[2] if len(lines) > 2 else None, "town": address.town,
            "postcode": address.postcode, "uprn": address.uprn}


def _carer_fields(carer: Carer) -> dict[str, object]:
    data: dict[str, object] = {
        "contact_order": carer.order, "given_name": carer.given, "family_name": carer.family,
        "relationship_to_child": RELATIONSHIP_CODES.get(carer.relationship, "other"),
        "parental_responsibility": carer.responsibility,
        "address_as_child": carer.address is None,
        "phone": carer.phones[0][1] if carer.phones else None,
        "alternative_phone": carer.phones[1][1] if len(carer.phones) > 1 else None,
        "email": carer.email,
    }
    if carer.address is not None:
        data.update(_address_fields(carer.address))
    return data


def _service_fields(service: Service) -> dict[str, object]:
    return {"service_type": service.service_type, "organisation_name": service.organisation_name,
            "organisation_code": service.organisation_code,
            "practitioner_name": service.practitioner, "contact_phone": service.phone,
            "contact_email": service.email, "start_date": service.start,
            "end_date": service.end, "lead_professional": service.lead,
            "consent_basis": service.consent}


def _school_fields(school: School, start: dt.date | None, end: dt.date | None) -> dict[str, object]:
    return {"service_type": "school", "organisation_name": school.name,
            "organisation_code": school.laestab, "start_date": start, "end_date": end}


def _gender(sex: str) -> str:
    return {"F": "female", "M": "male"}.get(sex, "unspecified")


_NESTED: dict[str, type[BaseModel]] = {
    "names": NameIn, "addresses": ChildAddressIn, "identifiers": IdentifierIn,
    "carers": CarerIn, "involvements": InvolvementIn,
}
def _members(kind: type[enum.Enum]) -> dict[object, enum.Enum]:
    return {member.value: member for member in kind}


# Fields held as enum members, by model: value -> member lookups are cheaper than Enum(value).
_ENUMS: dict[type[BaseModel], tuple[tuple[str, dict[object, enum.Enum]], ...]] = {
    NameIn: (("kind", _members(NameKind)),), IdentifierIn: (("scheme", _members(Scheme)),),
    CarerIn: (("relationship_to_child", _members(Relationship)),),
    InvolvementIn: (("service_type", _members(ServiceType)),
                    ("consent_basis", _members(ConsentBasis))),
    ChildRecord: (("gender", _members(Gender)),),
}
_set = object.__setattr__


@functools.cache
def _template(model: type[BaseModel]) -> dict[str, object]:
    # Every field in declaration order; required ones are always supplied by the caller.
    return {name: None if info.is_required() else info.default
            for name, info in model.model_fields.items()}


def _construct(model: type[BaseModel], data: dict[str, object]) -> BaseModel:
    """What `model_construct` does, without its per-field Python loop (several times faster):
    the values are valid by construction, which tests check against `model_validate`."""
    for key, members in _ENUMS.get(model, ()):
        if key in data:
            data[key] = members[data[key]]
    values = _template(model).copy()
    values.update(data)
    record = model.__new__(model)
    _set(record, "__dict__", values)
    _set(record, "__pydantic_fields_set__", set(data))
    _set(record, "__pydantic_extra__", None)
    _set(record, "__pydantic_private__", None)
    return record


def _child_record(data: dict[str, object], validate: bool) -> ChildRecord:
    """Validated, or (for speed) built directly from values that are valid by construction;
    tests check that both give equal records."""
    if validate:
        return ChildRecord.model_validate(data)
    for key, model in _NESTED.items():
        data[key] = tuple(_construct(model, item) for item in data[key])  # type: ignore[arg-type, attr-defined]
    data["provenance"] = _construct(ProvenanceRef, data["provenance"])  # type: ignore[arg-type]
    return _construct(ChildRecord, data)  # type: ignore[return-value]


def true_record(child: Child, la: str, *, validate: bool = False) -> ChildRecord:
    """The child as it really is now: what a perfect index would hold."""
    family = child.family
    names: list[dict[str, object]] = [
        {"given_name": child.given, "middle_names": child.middle, "family_name": child.surname}]
    if child.former_surname:
        names.append({"kind": "former", "given_name": child.given,
                      "family_name": child.former_surname})
    identifiers = [{"scheme": scheme, "value": value} for scheme, value in (
        ("upn", child.upn), ("nhs_number", child.nhs), ("uln", child.uln),
        ("la_reference", child.la_ref)) if value]
    involvements: list[dict[str, object]] = []
    if child.leaving_date and child.autumn_school and child.autumn_school is not child.spring_school:
        involvements.append(_school_fields(child.autumn_school, child.entry_date, child.leaving_date))
    if child.spring_school:
        start = child.new_entry_date if child.leaving_date else child.entry_date
        involvements.append(_school_fields(child.spring_school, start, None))
    if family.practice and child.gp_start:
        involvements.append({"service_type": "gp_practice",
                             "organisation_name": family.practice.name,
                             "organisation_code": family.practice.code,
                             "contact_phone": family.practice.phone,
                             "start_date": child.gp_start})
    involvements.extend(_service_fields(s) for s in child.services)
    return _child_record({
        "owning_la": la, "date_of_birth": child.dob, "gender": _gender(child.sex),
        "names": names,
        "addresses": [{**_address_fields(family.address), "valid_from": family.move_date}],
        "identifiers": identifiers,
        "carers": [_carer_fields(c) for c in family.carers],
        "involvements": involvements,
        "provenance": {"record_ref": f"synthetic child {child.id}"},
    }, validate)


def noisy_record(rec: SourceRecord, la: str, *, validate: bool = False) -> ChildRecord:
    """A source record as a ChildRecord; deliberately invalid identifiers are left out."""
    names: list[dict[str, object]] = [
        {"given_name": rec.given, "middle_names": rec.middle, "family_name": rec.surname}]
    if rec.former_surname:
        names.append({"kind": "former", "family_name": rec.former_surname})
    identifiers = [{"scheme": scheme, "value": value} for scheme, field_name, value in (
        ("upn", "upn", rec.upn), ("nhs_number", "nhs", rec.nhs), ("uln", "uln", rec.uln),
        ("la_reference", "la_ref", rec.la_ref)) if value and field_name not in rec.invalid]
    involvements: list[dict[str, object]] = []
    carers: list[dict[str, object]] = []
    if rec.service is not None:
        involvements.append(_service_fields(rec.service))
    elif rec.school is not None:
        involvements.append(_school_fields(rec.school, rec.entry_date, rec.leaving_date))
    if rec.source_file.startswith("ctf/"):
        carers = [_carer_fields(c) for c in rec.child.family.carers]
    return _child_record({
        "owning_la": la, "date_of_birth": rec.dob, "gender": _gender(rec.sex), "names": names,
        "addresses": [_address_fields(rec.address)] if rec.address else [],
        "identifiers": identifiers, "carers": carers, "involvements": involvements,
        "provenance": {"record_ref": rec.record_ref},
    }, validate)
