"""CSV service feeds from the LA, health and other services.

The documented header: a feed's first line names its columns, from the list below, in any
order. A column not listed is rejected by name (the whole file: it may carry data we must not
hold); the required columns must be there; other listed columns may be left out.
One row is one involvement of one child. A row whose date of birth is missing or not a date is
kept as an `UndatedRecord` (issue 15): matched in the nightly run on everything else, never a
child of its own; a real date out of the age band still rejects it. So is a row without a family
name that has a UPN, NHS number or ULN: linked by those alone when they name one child, else
held. Row warnings are counted by field and reason (`ParseReport.warning_counts`). Dates are
YYYY-MM-DD; booleans `true`/`false`;
`service_type` and `consent_basis` take the values of `index.vocabulary.ServiceType` and
`ConsentBasis`; `sex` is F, M or U. As spreadsheets save them (`ingest.spreadsheets`): also
UTF-16, semicolon or tab delimited, header names in any case with spaces, empty columns at the
right, "N/A" for nothing, dates day first (DD/MM/YYYY), Female/Male, Yes/No, "Health Visitor".
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from pydantic import ValidationError

from index.identifiers import InvalidIdentifier, Scheme
from index.identifiers import validate as validate_identifier
from index.records import (
    IDENTIFYING_SCHEMES,
    ChildAddressIn,
    ChildRecord,
    IdentifierIn,
    InvolvementIn,
    NameIn,
    ProvenanceRef,
    UndatedRecord,
)
from index.vocabulary import ConsentBasis, Gender, ServiceType, SourceKind
from ingest.pupil import (
    BOOLEANS,
    PupilContext,
    Reject,
    School,
    address_fields,
    check_age,
    is_email,
    is_phone,
    parse_date,
    validation_problem,
)
from ingest.report import FeedError, FeedParse, Outcome, ParseReport, RecordError, SourceRecord
from ingest.spreadsheets import (
    DELIMITER_NAMES,
    SAVE_AS,
    cell_text,
    code_text,
    fit_row,
    header_names,
    iso_date,
    sniff_delimiter,
    text_lines,
)

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

# Columns the header must name: who the child is, and which service is involved.
SERVICE_FEED_REQUIRED: frozenset[str] = frozenset(
    {"family_name", "date_of_birth", "service_type", "organisation_name"}
)
# Cells a row must fill. Not the date of birth (issue 15): a row whose date is missing or not a
# date is kept as an `UndatedRecord`, matched on the rest, never a child of its own. Nor the
# family name when the row has a UPN, NHS number or ULN: kept, linked by those alone.
SERVICE_FEED_REQUIRED_VALUES: frozenset[str] = SERVICE_FEED_REQUIRED - {"date_of_birth", "family_name"}
# What is done with a row whose date of birth cannot be used, by its reason (counted, not listed).
UNDATED_WARNINGS: Mapping[str, str] = {
    "is missing": "kept, matched without it",
    "is not a date (YYYY-MM-DD)": "kept, compared as text",
    "is not a real calendar date": "kept, compared as text",
}
_MAX_DATE_TEXT = 20

# A service feed's LA is the LA that submits it (the file has no LA column), so the
# caller passes it. A service feed may carry care leavers and young people with learning
# difficulties, who stay in the index to 25 (DESIGN.md: retention), hence the wider age band.

SERVICE_FEED_MAX_AGE = 25
SERVICE_FEED_SEX: Mapping[str, Gender] = {"F": Gender.FEMALE, "M": Gender.MALE, "U": Gender.UNSPECIFIED}
# Identifier columns -> scheme; a value that fails its check rejects the row.
SERVICE_FEED_IDENTIFIERS: Mapping[str, Scheme] = {
    "upn": Scheme.UPN,
    "nhs_number": Scheme.NHS_NUMBER,
    "uln": Scheme.ULN,
    "la_reference": Scheme.LA_REFERENCE,
}
# Address columns -> the address parts understood by ingest.pupil.address_fields.
SERVICE_FEED_ADDRESS: Mapping[str, str] = {
    "address_line1": "line1",
    "address_line2": "line2",
    "town": "post_town",
    "postcode": "postcode",
}
_MAX_COLUMN_NAME = 40

# Cells as spreadsheets write them -> the documented form (ingest.spreadsheets): dates day first,
# words for codes and booleans. A value none of these makes valid is rejected as before.
_WORDS = {"female": "F", "male": "M", "yes": "true", "y": "true", "no": "false", "n": "false"}


def _word(text: str) -> str:
    return _WORDS.get(text.casefold(), text)


SPREADSHEET_CELLS: Mapping[str, Callable[[str], str]] = {
    "date_of_birth": iso_date, "start_date": iso_date, "end_date": iso_date,
    "sex": _word, "lead_professional": _word, "service_type": code_text, "consent_basis": code_text,
}


def read_header(file: str, header: list[str]) -> list[str]:
    """The header's column names, or FeedError naming what is wrong with them."""
    names = header_names(header)
    if not any(names):
        raise FeedError(file, "has an empty header line")
    if not set(names) & set(SERVICE_FEED_COLUMNS):
        # Not a header at all (a file saved without one): its "names" are a child's details,
        # never repeated in an error.
        raise FeedError(file, "has no header line: its first line names none of the documented columns")
    unknown = [n[:_MAX_COLUMN_NAME] or "(blank)" for n in names if n not in SERVICE_FEED_COLUMNS]
    if unknown:
        raise FeedError(file, f"has columns not in the documented header: {', '.join(unknown)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise FeedError(file, f"repeats columns: {', '.join(repeated)}")
    missing = sorted(SERVICE_FEED_REQUIRED - set(names))
    if missing:
        raise FeedError(file, f"lacks required columns: {', '.join(missing)}")
    return names


def _choice(enum_type: type, value: str, field: str) -> object:
    try:
        return enum_type(value.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in enum_type)
        raise Reject(field, f"is not one of: {allowed}") from None


def _involvement(**values: object) -> InvolvementIn:
    try:
        return InvolvementIn(**values)
    except ValidationError as exc:
        raise Reject(*validation_problem(exc, "involvement")) from None


_CONTACT_CHECKS: Mapping[str, tuple[Callable[[str], bool], str]] = {
    "contact_phone": (is_phone, "is not a telephone number"),
    "contact_email": (is_email, "is not an email address"),
}


def build_row(
    row: Mapping[str, str],
    record_ref: str,
    context: PupilContext,
    seen_refs: dict[str, str],
) -> Outcome:
    """Validate one service-feed row: one child and one involvement."""
    upn: str | None = None
    warnings: list[str] = []
    try:
        for column in sorted(SERVICE_FEED_REQUIRED_VALUES):
            if not row.get(column):
                raise Reject(column, "is missing")
        sender_ref = row.get("record_id") or None
        if sender_ref and sender_ref in seen_refs:
            first = seen_refs[sender_ref]
            raise Reject("record_id", f"appears more than once in this file (first at {first})")
        identifiers = []
        for column, scheme in SERVICE_FEED_IDENTIFIERS.items():
            if row.get(column):
                try:
                    checked = validate_identifier(scheme, row[column])
                except InvalidIdentifier as exc:
                    # One unusable value does not cost the row (issue 15): left out, said why.
                    warnings.append(f"{column}: {exc.reason}, left out")
                    continue
                if scheme is Scheme.UPN:
                    upn = checked.value
                warnings.extend(f"{column}: {w}" for w in checked.warnings)
                identifiers.append(IdentifierIn(scheme=scheme, value=checked.value))
        # No family name: kept only for a trusted identifier (issue 15), linked by it alone.
        nameless = not row.get("family_name")
        if nameless:
            if not any(i.scheme in IDENTIFYING_SCHEMES for i in identifiers):
                raise Reject("family_name", "is missing")
            warnings.append("family_name: is missing, kept for its trusted identifier, linked by it alone")
        dob_text = row.get("date_of_birth") or ""
        born: dt.date | None = None
        problem = "is missing"
        if dob_text:
            try:
                born = parse_date(dob_text, "date_of_birth")
            except Reject as exc:
                problem = exc.reason
        if born is not None:
            # A real date that puts the child out of the index's age band is still a rejection.
            check_age(born, context)
        else:
            warnings.append(f"date_of_birth: {problem}, {UNDATED_WARNINGS[problem]}")
        sex = (row.get("sex") or "U").strip().upper()
        if sex not in SERVICE_FEED_SEX:
            warnings.append("sex: is not F, M or U, recorded as unspecified")
            sex = "U"
        parts = {part: row[column] for column, part in SERVICE_FEED_ADDRESS.items() if row.get(column)}
        try:
            address = address_fields(parts, "postcode", warnings, "")
        except Reject:
            warnings.append("postcode: is not a UK postcode, left out")
            address = address_fields({k: v for k, v in parts.items() if k != "postcode"},
                                     "postcode", warnings, "")
        # A practitioner's phone or email that is not one is left out, said why: the involvement
        # still signposts by its organisation and practitioner.
        contact = {column: row.get(column) or None for column in _CONTACT_CHECKS}
        for column, (usable, reason) in _CONTACT_CHECKS.items():
            if contact[column] and not usable(contact[column]):
                warnings.append(f"{column}: {reason}, left out")
                contact[column] = None
        lead = (row.get("lead_professional") or "false").strip().lower()
        if lead not in BOOLEANS:
            raise Reject("lead_professional", "must be true or false")
        involvement = _involvement(
            service_type=_choice(ServiceType, row["service_type"], "service_type"),
            organisation_name=row["organisation_name"],
            organisation_code=(row.get("organisation_code") or "").upper() or None,
            practitioner_name=row.get("practitioner_name") or None,
            contact_phone=contact["contact_phone"],
            contact_email=contact["contact_email"],
            start_date=parse_date(row.get("start_date"), "start_date"),
            end_date=parse_date(row.get("end_date"), "end_date"),
            lead_professional=BOOLEANS[lead],
            consent_basis=(
                _choice(ConsentBasis, row["consent_basis"], "consent_basis")
                if row.get("consent_basis") else ConsentBasis.NOT_REQUIRED
            ),
        )
        names = (
            NameIn(
                given_name=row.get("given_name") or None,
                middle_names=row.get("middle_names") or None,
                family_name=row.get("family_name") or None,
            ),
        ) if row.get("family_name") or row.get("given_name") else ()
        child_values = {
            "owning_la": context.school.la,
            "gender": SERVICE_FEED_SEX[sex],
            "names": names,
            "addresses": (ChildAddressIn(**address),) if address else (),
            "identifiers": tuple(identifiers),
            "involvements": (involvement,),
            "provenance": ProvenanceRef(record_ref=record_ref),
        }
        child: ChildRecord | UndatedRecord
        if nameless:
            child = UndatedRecord(
                date_of_birth=born, date_of_birth_text=None if born else dob_text[:_MAX_DATE_TEXT] or None,
                date_of_birth_problem=None if born else problem, family_name_problem="is missing",
                **child_values)
        elif born is not None:
            child = ChildRecord(date_of_birth=born, **child_values)
        else:
            child = UndatedRecord(date_of_birth_text=dob_text[:_MAX_DATE_TEXT] or None,
                                  date_of_birth_problem=problem, **child_values)
    except Reject as exc:
        return RecordError(context.file, record_ref, exc.field, exc.reason, upn)
    except ValidationError as exc:
        return RecordError(context.file, record_ref, *validation_problem(exc), upn)
    if sender_ref:
        seen_refs[sender_ref] = record_ref
    return SourceRecord(
        record_ref=record_ref,
        child=child,
        sender_ref=sender_ref,
        warnings=tuple(f"{record_ref}: {w}" for w in warnings),
    )


# A service feed with more rows than this is refused as a whole: it is more than any LA has
# children (the largest has about 330,000), and it bounds the per-file duplicate check's memory
# whatever the file's size. Read at each parse.
MAX_ROWS_PER_FILE = 2_000_000


def _rows(path: Path, report: ParseReport, owning_la: str, today: dt.date) -> Iterator[Outcome]:
    file = path.name
    context = PupilContext(file, School(owning_la, owning_la), today, SERVICE_FEED_MAX_AGE)
    seen_refs: dict[str, str] = {}
    line = 0
    limit = MAX_ROWS_PER_FILE
    try:
        with path.open("rb") as handle:
            lines = text_lines(handle)
            first = next(lines, None)
            if first is None:
                raise FeedError(file, "is empty")
            delimiter = sniff_delimiter(first, SERVICE_FEED_COLUMNS)
            reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter, strict=True)
            columns = read_header(file, next(reader))
            report.header.update({"owning_la": owning_la, "columns": ",".join(columns)})
            if delimiter != ",":
                report.header["delimiter"] = DELIMITER_NAMES[delimiter]
            while True:
                line = reader.line_num + 1
                row = next(reader, None)
                if row is None:
                    break
                if not any(cell.strip() for cell in row):
                    continue  # blank lines carry nothing
                if report.records_seen >= limit:
                    raise FeedError(file, f"holds more than {limit:,} rows: more than any LA has children")
                cells = fit_row(row, len(columns))
                if cells is None:
                    yield RecordError(
                        file, f"line {line}", "row",
                        f"has {len(row)} fields, the header has {len(columns)}",
                    )
                    continue
                # Whitespace (including line breaks inside quoted cells) folds to one space.
                values = {c: cell_text(v) for c, v in zip(columns, cells, strict=True)}
                for column, tidy in SPREADSHEET_CELLS.items():
                    if values.get(column):
                        values[column] = tidy(values[column])
                ref = f"line {line}"
                outcome = build_row(values, ref, context, seen_refs)
                # Counted by field and reason (issue 15), not listed row by row.
                for warning in getattr(outcome, "warnings", ()):
                    report.count_warning(warning.removeprefix(f"{ref}: "))
                yield outcome
    except UnicodeDecodeError:
        raise FeedError(
            file, f"has the wrong encoding: it is not UTF-8 text (at or after line {max(line, 1)}): "
                  f"{SAVE_AS}",
            truncated=line > 1,
        ) from None
    except csv.Error:
        raise FeedError(
            file, f"is not valid CSV at line {max(line, 1)} (bad quoting, a NUL or an over-long field)",
            truncated=line > 1,
        ) from None
    if report.records_seen == 0:
        report.warn(f"{file}: holds no rows")


def parse_service_feed(
    path: Path | str, *, owning_la: str, today: dt.date | None = None
) -> FeedParse:
    """Stream a CSV service feed sent by (or for) LA `owning_la`."""
    path = Path(path)
    if not (len(owning_la) == 3 and owning_la.isdigit()):
        raise ValueError("owning_la must be a 3-digit LA number")
    return FeedParse(
        path, SourceKind.SERVICE_FEED,
        lambda report: _rows(path, report, owning_la, today or dt.date.today()),
    )
