"""The termly School Census return (COLLECT, Collection SC, Term AUT|SPR|SUM).

Root `Message`; header `Header/CollectionDetails` and `Header/Source`; pupils in
`Pupils/PupilsOnRoll/PupilOnRoll` (or `Pupils/PupilOnRoll` from suppliers who leave out the
wrapper) and leavers in `Pupils/PupilsNoLongerOnRoll/PupilNoLongerOnRoll`. The census carries
no contacts. What is kept is exactly the table below; everything else is dropped and counted.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from index.vocabulary import SourceKind
from ingest.minimise import Keep
from ingest.pupil import School, address_paths
from ingest.report import FeedError, FeedParse
from ingest.school_xml import HeaderFacts, SchoolFileSpec, header_date, pupil_items, school_number

CENSUS_HEADER = Keep(
    {
        "CollectionDetails/Collection": "collection",
        "CollectionDetails/Term": "term",
        "CollectionDetails/Year": "year",
        "CollectionDetails/ReferenceDate": "reference_date",
        "Source/SourceLevel": "source_level",
        "Source/LEA": "lea",
        "Source/Estab": "estab",
        "Source/SchoolName": "school_name",
        "Source/DateTime": "file_datetime",
    }
)

# Element path under PupilOnRoll / PupilNoLongerOnRoll -> field. Nothing else leaves the parser.
CENSUS_PUPIL = Keep(
    {
        "PupilIdentifiers/UPN": "upn",
        "PupilIdentifiers/FormerUPN": "former_upn",
        "PupilIdentifiers/UniqueLearnerNumber": "uln",
        "PupilIdentifiers/Surname": "surname",
        "PupilIdentifiers/Forename": "forename",
        "PupilIdentifiers/MiddleNames": "middle_names",
        "PupilIdentifiers/PreferredSurname": "preferred_surname",
        "PupilIdentifiers/PreferredForename": "preferred_forename",
        "PupilIdentifiers/FormerSurname": "former_surname",
        "PupilIdentifiers/FormerForename": "former_forename",
        "PupilIdentifiers/Sex": "sex",
        "PupilIdentifiers/Gender": "sex",
        "PupilIdentifiers/DOB": "dob",
        "PupilStatus/EntryDate": "entry_date",
        "PupilStatus/LeavingDate": "leaving_date",
        **address_paths("HomeInformation/Address"),
    }
)

# Prohibited sections cut out of the tree the moment they close (the rest go at the pupil's end).
CENSUS_CUT_EARLY = frozenset(
    {
        "School",                       # school-level statistics
        "PupilCharacteristics",         # ethnicity, FSM, language, ...
        "SpecialEducationalNeeds",
        "Exclusions",
        "Attendance",
    }
)

TERMS = frozenset({"AUT", "SPR", "SUM"})
# Census day when the header gives no ReferenceDate: (month, which Thursday) of the Year.
CENSUS_DAYS = {"AUT": (10, 1), "SPR": (1, 3), "SUM": (5, 3)}


def census_day(term: str, year: int) -> dt.date:
    month, nth = CENSUS_DAYS[term]
    first = dt.date(year, month, 1)
    first_thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + dt.timedelta(weeks=nth - 1)


def read_census_header(file: str, header: dict[str, str], today: dt.date) -> HeaderFacts:
    if header.get("collection", "").upper() != "SC":
        raise FeedError(file, "is not a school census return (Header Collection must be SC)")
    term = header.get("term", "").upper()
    if term not in TERMS:
        raise FeedError(file, "header Term must be AUT, SPR or SUM")
    year = header.get("year", "")
    if not (year.isdigit() and len(year) == 4):
        raise FeedError(file, "header Year must be a 4-digit year")
    laestab = school_number(file, header.get("lea"), header.get("estab"), "Source")
    reference = header_date(header.get("reference_date")) or census_day(term, int(year))
    facts = {
        "collection": "SC",
        "term": term,
        "year": year,
        "lea": laestab[:3],
        "estab": laestab[3:],
        "laestab": laestab,
        "reference_date": reference.isoformat(),
    }
    school_name = header.get("school_name")
    if school_name:
        facts["school_name"] = school_name
    return HeaderFacts(School(laestab[:3], laestab, school_name), reference, facts)


CENSUS = SchoolFileSpec(
    label="school census",
    root="Message",
    header=CENSUS_HEADER,
    pupils={
        "PupilOnRoll": frozenset({"PupilsOnRoll", "Pupils"}),
        "PupilNoLongerOnRoll": frozenset({"PupilsNoLongerOnRoll", "Pupils"}),
    },
    pupil=CENSUS_PUPIL,
    cut_early=CENSUS_CUT_EARLY,
    read_header=read_census_header,
    empty_is_error=False,
)


def parse_census(
    path: Path | str, *, expected_laestab: str | None = None, today: dt.date | None = None
) -> FeedParse:
    """Stream a census file: iterate the result for records/errors; `.report` for the file."""
    path = Path(path)
    return FeedParse(
        path,
        SourceKind.CENSUS,
        lambda report: pupil_items(
            path, report, CENSUS, expected_laestab=expected_laestab, today=today or dt.date.today()
        ),
    )
