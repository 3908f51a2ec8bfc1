"""From the minimised fields of one census or CTF pupil to a validated `ChildRecord`.

The census and CTF tables map their element paths onto the same field names (below), so both
formats share this one builder. A pupil is rejected (a `RecordError` naming the field and the
reason) when something the index relies on is wrong: the UPN, the names, the date of birth,
the child's age on the reference date, the pupil's postcode, the school dates. A bad optional
value about someone else (a contact's phone, an old school in the history) is left out with a
warning instead, so that one typo does not keep a child out of the index.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from index.identifiers import UPN_ALPHABET, InvalidIdentifier, Scheme, upn_check_letter
from index.identifiers import validate as validate_identifier
from index.keys import fold
from index.records import (
    CarerIn,
    ChildRecord,
    Email,
    InvolvementIn,
    Phone,
    normalise_postcode,
)
from index.vocabulary import Gender, NameKind, Relationship, ServiceType
from ingest.report import RecordError, SourceRecord
from ingest.roll import pupil_identity

# CBDS relationship-to-pupil codes (D00033) -> the index's relationships. Unknown codes become
# OTHER with a warning: a contact is never a reason to reject a pupil.
RELATIONSHIP_CODES: Mapping[str, Relationship] = {
    "PAR": Relationship.PARENT,
    "CAR": Relationship.CARER,
    "STP": Relationship.STEP_PARENT,
    "FOS": Relationship.FOSTER_PARENT,
    "FAM": Relationship.OTHER_FAMILY,
    "REL": Relationship.RELATIVE,
    "CHM": Relationship.CHILDMINDER,
    "DOC": Relationship.DOCTOR,
    "SWR": Relationship.SOCIAL_WORKER,
    "OTH": Relationship.OTHER,
}

# CBDS sex codes (and the words some exporters write instead); an unrecognised code is recorded
# as unspecified with a warning, never silently.
SEX_CODES: Mapping[str, Gender] = {
    "M": Gender.MALE, "F": Gender.FEMALE, "MALE": Gender.MALE, "FEMALE": Gender.FEMALE,
    "U": Gender.UNSPECIFIED, "UNKNOWN": Gender.UNSPECIFIED, "NOT KNOWN": Gender.UNSPECIFIED,
}
BOOLEANS: Mapping[str, bool] = {"true": True, "1": True, "false": False, "0": False}

# Address element sets shared by both formats: BS7666 (inside BS7666Address or directly under
# Address), free address lines (AddressLines or, in the census, LineAddressFormat), postcode.
_BS7666 = {
    "SAON": "saon",
    "PAON": "paon",
    "Street": "street",
    "Locality": "locality",
    "Town": "town",
    "PostTown": "post_town",
    "UniquePropertyReferenceNumber": "uprn",
    "UPRN": "uprn",
}
_LINES = {f"AddressLine{n}": f"line{n}" for n in range(1, 6)}


def address_paths(prefix: str, target: str = "address.") -> dict[str, str]:
    """The kept paths of an address element at `prefix` (e.g. "HomeInformation/Address")."""
    paths = {f"{prefix}/PostCode": f"{target}postcode"}
    for element, field in _BS7666.items():
        paths[f"{prefix}/BS7666Address/{element}"] = target + field
        paths[f"{prefix}/{element}"] = target + field
    for wrapper in ("AddressLines", "LineAddressFormat"):
        for element, field in _LINES.items():
            paths[f"{prefix}/{wrapper}/{element}"] = target + field
    return paths


MAX_LINE = 100
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$")
_PHONE: TypeAdapter[str] = TypeAdapter(Phone)
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)


@dataclass(frozen=True)
class School:
    """The school a file comes from: its LA (the owning LA), LAEstab and name if given."""

    la: str
    laestab: str
    name: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or f"School {self.laestab}"


@dataclass(frozen=True)
class PupilContext:
    file: str
    school: School
    reference_date: dt.date
    max_age: int = 19


class Reject(Exception):
    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def parse_date(text: str | None, field: str) -> dt.date | None:
    if not text:
        return None
    if not _DATE.match(text):
        raise Reject(field, "is not a date (YYYY-MM-DD)")
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise Reject(field, "is not a real calendar date") from None


def age_on(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def check_age(born: dt.date, context: PupilContext) -> None:
    if born > context.reference_date:
        raise Reject("date_of_birth", "is after the file's reference date")
    if age_on(born, context.reference_date) > context.max_age:
        raise Reject("date_of_birth", f"the child would be over {context.max_age} on the reference date")


_LINE_KEYS = ("line1", "line2", "line3", "line4", "line5")
_LINE_NAMES = ("line1", "line2", "line3")


def _lines(parts: Mapping[str, str]) -> list[str]:
    """Address lines from BS7666 parts or free lines; a numbered PAON joins its street."""
    get = parts.get
    paon, street = get("paon"), get("street")
    if paon and street and paon[0].isdigit():
        candidates = [get("saon"), f"{paon} {street}", get("locality")]
    else:
        candidates = [get("saon"), paon, street, get("locality")]
    town, post_town = get("town"), get("post_town")
    if town and post_town and town.casefold() != post_town.casefold():
        candidates.append(town)
    candidates.extend(get(key) for key in _LINE_KEYS)
    lines = [c for c in candidates if c]
    if len(lines) > 3:
        lines = [lines[0], lines[1], ", ".join(lines[2:])]
    return [line[:MAX_LINE] for line in lines]


def address_fields(
    parts: Mapping[str, str], field: str, warnings: list[str], prefix: str
) -> dict[str, Any] | None:
    """AddressIn keyword arguments from address parts; a bad postcode raises Reject(field)."""
    if not parts:
        return None
    out: dict[str, Any] = dict(zip(_LINE_NAMES, _lines(parts), strict=False))
    town = parts.get("post_town") or parts.get("town")
    if town:
        out["town"] = town[:MAX_LINE]
    postcode = parts.get("postcode")
    if postcode:
        try:
            out["postcode"] = normalise_postcode(postcode)
        except ValueError:
            raise Reject(field, "is not a UK postcode") from None
    uprn = parts.get("uprn")
    if uprn:
        if uprn.isdigit() and len(uprn) <= 12:
            out["uprn"] = uprn
        else:
            warnings.append(f"{prefix}uprn is not a UPRN, left out")
    return out or None


def _optional_identifier(
    scheme: Scheme, value: str | None, warnings: list[str]
) -> dict[str, str] | None:
    if not value:
        return None
    try:
        checked = validate_identifier(scheme, value)
    except InvalidIdentifier as exc:
        warnings.append(f"{scheme.value}: {exc.reason}, left out")
        return None
    return {"scheme": scheme, "value": checked.value}


def _valid(adapter: TypeAdapter[str], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def is_phone(value: str) -> bool:
    return _valid(_PHONE, value)


def is_email(value: str) -> bool:
    return _valid(_EMAIL, value)


def build_carer(contact: Mapping[str, Any], number: int, warnings: list[str]) -> CarerIn | None:
    """One CTF contact as a carer. Contacts are never merged: each Contact element is one carer."""
    label = f"contact {number}: "
    values: dict[str, Any] = {
        "given_name": contact.get("forename"),
        "family_name": contact.get("surname"),
    }
    order = contact.get("order")
    if order:
        if order.isdigit() and 1 <= int(order) <= 99:
            values["contact_order"] = int(order)
        else:
            warnings.append(f"{label}order is not a number from 1 to 99, left out")
    code = (contact.get("relationship") or "").upper()
    relationship = RELATIONSHIP_CODES.get(code)
    if relationship is None:
        relationship = Relationship.OTHER
        if code:
            warnings.append(f"{label}relationship code not recognised, recorded as other")
    values["relationship_to_child"] = relationship
    responsibility = contact.get("responsibility")
    if responsibility:
        values["parental_responsibility"] = BOOLEANS.get(responsibility.lower())
    if BOOLEANS.get((contact.get("address_as_pupil") or "").lower()):
        values["address_as_child"] = True
    else:
        try:
            address = address_fields(contact.get("address", {}), "postcode", warnings, label)
        except Reject:
            warnings.append(f"{label}postcode is not a UK postcode, left out")
            address = address_fields(
                {k: v for k, v in contact.get("address", {}).items() if k != "postcode"},
                "postcode", warnings, label,
            )
        values.update(address or {})
    phones = [p for p in contact.get("phones", []) if _valid(_PHONE, p)]
    if len(phones) < len(contact.get("phones", [])[:2]):
        warnings.append(f"{label}a phone number is not a phone number, left out")
    if phones:
        values["phone"] = phones[0]
    if len(phones) > 1:
        values["alternative_phone"] = phones[1]
    email = contact.get("email")
    if email:
        if _valid(_EMAIL, email):
            values["email"] = email
        else:
            warnings.append(f"{label}email is not an email address, left out")
    try:
        return CarerIn(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        warnings.append(f"{label}left out ({_describe(exc)})")
        return None


# pydantic's error types -> the reason in words a school or LA reads (from the limit only).
_PLAIN_REASONS: Mapping[str, str] = {
    "string_too_long": "is longer than {max_length} characters",
    "too_long": "has more than {max_length} entries",
}


def validation_problem(exc: ValidationError, default_field: str = "record") -> tuple[str, str]:
    """Field and reason of the first error; pydantic's `input` (the value) is never used."""
    first = exc.errors(include_url=False, include_input=False)[0]
    field = ".".join(str(p) for p in first["loc"]) or default_field
    plain = _PLAIN_REASONS.get(first["type"])
    limit = first.get("ctx", {}).get("max_length")
    if plain is not None and isinstance(limit, int):
        return field, plain.format(max_length=limit)
    return field, first["msg"].removeprefix("Value error, ")


def _describe(exc: ValidationError) -> str:
    return ": ".join(validation_problem(exc))


def school_history(
    schools: list[Mapping[str, str]], current: School, warnings: list[str]
) -> tuple[list[InvolvementIn], tuple[dt.date | None, dt.date | None]]:
    """Ended school involvements from a CTF SchoolHistory, and the current school's own dates."""
    ended: list[InvolvementIn] = []
    current_dates: tuple[dt.date | None, dt.date | None] = (None, None)
    seen: set[tuple[str | None, dt.date | None, dt.date | None]] = set()
    for number, entry in enumerate(schools, start=1):
        label = f"school history {number}: "
        lea, estab = entry.get("lea", ""), entry.get("estab", "")
        code = lea + estab if re.fullmatch(r"\d{3}", lea) and re.fullmatch(r"\d{4}", estab) else None
        try:
            start = parse_date(entry.get("entry_date"), "entry_date")
            end = parse_date(entry.get("leaving_date"), "leaving_date")
        except Reject as exc:
            warnings.append(f"{label}{exc.field} {exc.reason}, entry left out")
            continue
        if code == current.laestab:
            current_dates = (start, end)
            continue
        if end is None:
            warnings.append(f"{label}has no leaving date, entry left out")
            continue
        if not (code or entry.get("school_name")):
            warnings.append(f"{label}names no school, entry left out")
            continue
        if (code, start, end) in seen:
            continue
        seen.add((code, start, end))
        try:
            ended.append(
                InvolvementIn(
                    service_type=ServiceType.SCHOOL,
                    organisation_name=(entry.get("school_name") or f"School {code}")[:200],
                    organisation_code=code,
                    start_date=start,
                    end_date=end,
                )
            )
        except ValidationError as exc:
            warnings.append(f"{label}entry left out ({_describe(exc)})")
    return ended, current_dates


def _who(fields: Mapping[str, Any]) -> int:
    """Who a pupil is, as one number, to tell a repeat of a pupil from another pupil."""
    return hash((fold(fields.get("forename") or ""), fold(fields.get("surname") or ""),
                 fields.get("dob") or ""))


def upn_key(upn: str) -> int:
    """A canonical UPN as one integer: the per-file duplicate check holds one per pupil, and an
    int costs about half what the string does (this is the only state that grows with a file)."""
    last = upn[12]
    tail = int(last) if last.isdigit() else 10 + UPN_ALPHABET.index(last)
    return (UPN_ALPHABET.index(upn[0]) * 10**11 + int(upn[1:12])) * 33 + tail


# The common case, a UPN already in canonical form, checked here without the general
# validator's clean-up; anything else (and every failure) goes through `validate_identifier`,
# which gives the reasons. Both agree on what is valid (tests/test_ingest_census.py).
_UPN_LETTER = "[" + UPN_ALPHABET + "]"
_CANONICAL_UPN = re.compile(f"{_UPN_LETTER}[0-9]{{11}}[0-9{UPN_ALPHABET}]")
# (LA number, temporary?) -> the validator's warnings for it, learnt from the validator itself.
_UPN_WARNINGS: dict[tuple[str, bool], tuple[str, ...]] = {}


def check_upn(raw: str) -> tuple[str, tuple[str, ...]]:
    """The canonical UPN and its warnings, or Reject("upn", reason)."""
    if _CANONICAL_UPN.fullmatch(raw) and upn_check_letter(raw[1:]) == raw[0]:
        warnings = _UPN_WARNINGS.get((raw[1:4], raw[12] > "9"))
        if warnings is not None:
            return raw, warnings
    try:
        checked = validate_identifier(Scheme.UPN, raw)
    except InvalidIdentifier as exc:
        raise Reject("upn", exc.reason) from None
    _UPN_WARNINGS[(checked.value[1:4], checked.value[12] > "9")] = checked.warnings
    return checked.value, checked.warnings


_OPTIONAL_IDENTIFIERS = ((Scheme.FORMER_UPN, "former_upn"), (Scheme.ULN, "uln"))
# Names besides the current one: (kind, given-name field, family-name field).
_OTHER_NAMES = (
    (NameKind.PREFERRED, "preferred_forename", "preferred_surname"),
    (NameKind.FORMER, "former_forename", "former_surname"),
)


def _sex(code: str | None, warnings: list[str]) -> Gender:
    if not code:
        return Gender.UNSPECIFIED
    gender = SEX_CODES.get(code.upper())
    if gender is None:
        warnings.append("sex: code not recognised, recorded as unspecified")
        return Gender.UNSPECIFIED
    return gender


def build_pupil(
    fields: Mapping[str, Any],
    position: int,
    context: PupilContext,
    seen_upns: dict[int, tuple[int, int]],
) -> SourceRecord | RecordError:
    """Validate one minimised pupil; accepted UPNs are remembered (with who held them) to refuse
    repeats of a pupil in the file. A different pupil with a UPN already seen is accepted with
    `upn_conflict` naming the first: neither wins, both go to review (ingest.conflicts)."""
    record_ref = f"pupil {position}"
    upn: str | None = None
    conflict: str | None = None
    warnings: list[str] = []
    try:
        raw_upn = fields.get("upn")
        if not raw_upn:
            raise Reject("upn", "is missing")
        upn, upn_warnings = check_upn(raw_upn)
        upn_number = upn_key(upn)
        who = _who(fields)
        if upn_number in seen_upns:
            first, first_who = seen_upns[upn_number]
            if first_who == who:  # the same pupil again: a repeat, refused
                raise Reject("upn", f"appears more than once in this file (first at pupil {first})")
            # Another pupil with the same UPN: both go to review as an identifier conflict.
            conflict = f"pupil {first}"
        if upn_warnings:
            warnings.extend(f"upn: {w}" for w in upn_warnings)
        identifiers = [{"scheme": Scheme.UPN, "value": upn}]
        for scheme, key in _OPTIONAL_IDENTIFIERS:
            if key in fields:
                extra = _optional_identifier(scheme, fields[key], warnings)
                if extra is not None and extra["value"] != upn:
                    identifiers.append(extra)

        if not fields.get("surname"):
            raise Reject("surname", "is missing")
        if not fields.get("forename"):
            raise Reject("forename", "is missing")
        born = parse_date(fields.get("dob"), "date_of_birth")
        if born is None:
            raise Reject("date_of_birth", "is missing")
        check_age(born, context)

        # Plain data validated once by ChildRecord (much faster than building each part).
        names = [
            {
                "given_name": fields["forename"],
                "family_name": fields["surname"],
                "middle_names": fields.get("middle_names"),
            }
        ]
        for kind, given_field, family_field in _OTHER_NAMES:
            given, family = fields.get(given_field), fields.get(family_field)
            if given or family:
                names.append({"kind": kind, "given_name": given, "family_name": family})
        address = address_fields(fields.get("address", {}), "postcode", warnings, "")
        carers = [
            carer
            for number, contact in enumerate(fields.get("contacts", ()), start=1)
            if (carer := build_carer(contact, number, warnings)) is not None
        ]
        history: list[InvolvementIn] = []
        entered = left = None
        if "schools" in fields:  # CTF only
            history, (entered, left) = school_history(fields["schools"], context.school, warnings)
        entered = parse_date(fields.get("entry_date"), "entry_date") or entered
        left = parse_date(fields.get("leaving_date"), "leaving_date") or left
        if entered and left and left < entered:
            raise Reject("leaving_date", "is before the entry date")
        school = {
            "service_type": ServiceType.SCHOOL,
            "organisation_name": context.school.display_name[:200],
            "organisation_code": context.school.laestab,
            "start_date": entered,
            "end_date": left,
        }
        data = {
            "owning_la": context.school.la,
            "date_of_birth": born,
            "gender": _sex(fields.get("sex"), warnings),
            "names": names,
            "addresses": [address] if address else [],
            "identifiers": identifiers,
            "carers": carers,
            "involvements": [school, *history],
            "provenance": {"record_ref": record_ref},
        }
        child = ChildRecord.model_validate(data)
    except Reject as exc:
        return RecordError(context.file, record_ref, exc.field, exc.reason, upn, pupil_identity(fields))
    except ValidationError as exc:
        return RecordError(context.file, record_ref, *validation_problem(exc), upn, pupil_identity(fields))
    if conflict is None:
        seen_upns[upn_number] = (position, who)
    return SourceRecord(
        record_ref=record_ref,
        child=child,
        left_on=left,
        upn_conflict=conflict,
        warnings=tuple(f"{record_ref}: {w}" for w in warnings) if warnings else (),
    )
