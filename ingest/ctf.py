"""The Common Transfer File (CTF 25, and earlier versions that write `Gender` for `Sex`).

Root `CTfile`; header `Header/SourceSchool` (`LEA`, `Estab`, `SchoolName`); pupils in
`CTFpupilData/Pupil`. Kept: the pupil, address, contacts (parents/carers) and the schools in
`SchoolHistory` (dates and schools only). Everything else is dropped and counted.

A CTF holding no pupils is a file-level error: a transfer file exists to carry pupils, so an
empty one means the export went wrong, and the sender should hear about it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from index.vocabulary import SourceKind
from ingest.minimise import Keep
from ingest.pupil import School, address_paths
from ingest.report import FeedParse
from ingest.school_xml import HeaderFacts, SchoolFileSpec, header_date, pupil_items, school_number

CTF_HEADER = Keep(
    {
        "DocumentName": "document_name",
        "CTFversion": "ctf_version",
        "DateTime": "file_datetime",
        "DocumentQualifier": "document_qualifier",
        "SourceSchool/LEA": "lea",
        "SourceSchool/Estab": "estab",
        "SourceSchool/SchoolName": "school_name",
        "SourceSchool/AcademicYear": "academic_year",
        "DestSchool/LEA": "dest_lea",
        "DestSchool/Estab": "dest_estab",
    }
)

CTF_CONTACT = Keep(
    {
        "Order": "order",
        "Surname": "surname",
        "Forename": "forename",
        "Relationship": "relationship",
        "Responsibility": "responsibility",
        "Address/AddressAsPupil": "address_as_pupil",
        **address_paths("Address"),
        "Phones/Phone/PhoneNo": "phones[]",
        "Email": "email",
    }
)

CTF_SCHOOL = Keep(
    {
        "LEA": "lea",
        "Estab": "estab",
        "SchoolName": "school_name",
        "EntryDate": "entry_date",
        "LeavingDate": "leaving_date",
    }
)

# Element path under CTFpupilData/Pupil -> field (groups: path -> (field, table per element)).
CTF_PUPIL = Keep(
    fields={
        "UPN": "upn",
        "UniqueLearnerNumber": "uln",
        "Surname": "surname",
        "Forename": "forename",
        "MiddleNames": "middle_names",
        "DOB": "dob",
        "Sex": "sex",
        "Gender": "sex",
        "BasicDetails/FormerUPN": "former_upn",
        "BasicDetails/MiddleNames": "middle_names",
        "BasicDetails/PreferredSurname": "preferred_surname",
        "BasicDetails/PreferredForename": "preferred_forename",
        "BasicDetails/FormerSurname": "former_surname",
        "BasicDetails/FormerForename": "former_forename",
        **address_paths("Address"),
    },
    groups={
        "Contacts/Contact": ("contacts", CTF_CONTACT),
        "SchoolHistory/School": ("schools", CTF_SCHOOL),
    },
)

CTF_CUT_EARLY = frozenset(
    {
        "Attendance",
        "StageAssessments",
        "SENhistory",
        "FSMhistory",
        "NAWdetails",
        "LookedAfter",
        "Admissions",
        "Languages",
        "Disabilities",
    }
)


def read_ctf_header(file: str, header: dict[str, str], today: dt.date) -> HeaderFacts:
    laestab = school_number(file, header.get("lea"), header.get("estab"), "SourceSchool")
    reference = header_date(header.get("file_datetime")) or today
    facts = {
        "lea": laestab[:3],
        "estab": laestab[3:],
        "laestab": laestab,
        "reference_date": reference.isoformat(),
    }
    for key in ("ctf_version", "document_qualifier", "academic_year", "school_name"):
        if header.get(key):
            facts[key] = header[key][:100]
    if header.get("dest_lea") and header.get("dest_estab"):
        facts["dest_laestab"] = (header["dest_lea"] + header["dest_estab"])[:16]
    return HeaderFacts(School(laestab[:3], laestab, header.get("school_name")), reference, facts)


CTF = SchoolFileSpec(
    label="CTF",
    root="CTfile",
    header=CTF_HEADER,
    pupils={"Pupil": frozenset({"CTFpupilData"})},
    pupil=CTF_PUPIL,
    cut_early=CTF_CUT_EARLY,
    read_header=read_ctf_header,
    empty_is_error=True,
)


def parse_ctf(
    path: Path | str, *, expected_laestab: str | None = None, today: dt.date | None = None
) -> FeedParse:
    """Stream a CTF: iterate the result for records/errors; `.report` for the file."""
    path = Path(path)
    return FeedParse(
        path,
        SourceKind.CTF,
        lambda report: pupil_items(
            path, report, CTF, expected_laestab=expected_laestab, today=today or dt.date.today()
        ),
    )
