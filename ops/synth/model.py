"""What an area is made of, as plain data: its calendar, addresses, carers, schools, GP
practices, services, families, children and neighbourhood chunks; and the source records and
files the feeds state about them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

# CTF relationship codes (CBDS D00033) and the index's relationship for each.
RELATIONSHIP_CODES: dict[str, str] = {
    "PAR": "parent", "CAR": "carer", "STP": "step_parent", "FOS": "foster_parent",
    "FAM": "other_family", "REL": "relative", "CHM": "childminder", "DOC": "doctor",
    "SWR": "social_worker", "OTH": "other",
}


@dataclass(frozen=True, slots=True)
class Calendar:
    """The dates of one synthetic academic year."""

    year: int  # the academic year starting in September of this year
    autumn_census: dt.date = field(init=False)  # first Thursday of October
    spring_census: dt.date = field(init=False)  # third Thursday of January
    extract_date: dt.date = field(init=False)   # when the service feeds were extracted

    def __post_init__(self) -> None:
        october = dt.date(self.year, 10, 1)
        january = dt.date(self.year + 1, 1, 1)
        spring = january + dt.timedelta(days=(3 - january.weekday()) % 7 + 14)
        object.__setattr__(self, "autumn_census",
                           october + dt.timedelta(days=(3 - october.weekday()) % 7))
        object.__setattr__(self, "spring_census", spring)
        object.__setattr__(self, "extract_date", spring + dt.timedelta(days=28))

    def nc_year(self, dob: dt.date) -> int:
        """National curriculum year in this academic year (0 = reception, -1 = nursery)."""
        cohort = dob.year if dob.month >= 9 else dob.year - 1
        return self.year - cohort - 5


@dataclass(slots=True)
class Address:
    saon: str | None
    paon: str
    street: str
    locality: str | None
    town: str
    post_town: str
    postcode: str
    uprn: str

    def lines(self) -> list[str]:
        """Address lines before the town: number and street, flat and building, locality."""
        if self.saon:
            lines = [f"{self.saon} {self.paon}", self.street]
        elif self.paon[0].isdigit():
            lines = [f"{self.paon} {self.street}"]
        else:
            lines = [self.paon, self.street]
        if self.locality:
            lines.append(self.locality)
        return lines


@dataclass(slots=True)
class Carer:
    order: int
    title: str
    given: str
    family: str
    sex: str
    relationship: str           # CTF code
    responsibility: bool
    address: Address | None     # None: lives with the child
    phones: list[tuple[str, str]]  # (telephone type H/M/W, number)
    email: str | None


@dataclass(slots=True)
class School:
    la: str
    estab: int
    name: str
    phase: str                  # primary or secondary
    sex_tag: str                # Sex, or Gender for suppliers still on the old name
    wrapper: bool               # writes the PupilsOnRoll wrapper
    address_style: str          # lines or bs7666
    software: str
    ctf_version: str
    urn: int

    @property
    def laestab(self) -> str:
        return f"{self.la}{self.estab:04d}"


@dataclass(slots=True)
class Practice:
    code: str
    name: str
    phone: str


@dataclass(slots=True)
class Service:
    service_type: str
    organisation_name: str
    organisation_code: str | None
    practitioner: str | None
    phone: str | None
    email: str | None
    start: dt.date | None
    end: dt.date | None = None
    lead: bool = False
    consent: str = "not_required"


@dataclass(slots=True)
class Family:
    group: str
    address: Address            # at the spring census (current)
    old_address: Address | None  # before a move between the terms
    move_date: dt.date | None
    carers: list[Carer]
    practice: Practice | None
    looked_after: bool = False


@dataclass(slots=True)
class Child:
    id: int
    family: Family
    given: str
    middle: str | None
    surname: str
    former_surname: str | None  # before a change between the terms
    sex: str                    # F or M
    dob: dt.date
    ncy: int
    upn: str | None = None
    uln: str | None = None
    nhs: str | None = None
    la_ref: str | None = None
    autumn_school: School | None = None    # on roll at the autumn census
    spring_school: School | None = None    # on roll at the spring census
    entry_date: dt.date | None = None      # to the autumn school (or spring, if new)
    transfer_from: School | None = None    # a school outside the area sent a CTF
    leaving_date: dt.date | None = None    # from the autumn school / outside school
    new_entry_date: dt.date | None = None  # to the spring school after a transfer
    previous_school: School | None = None  # e.g. the primary school of a secondary pupil
    gp_start: dt.date | None = None
    services: list[Service] = field(default_factory=list)


@dataclass(slots=True)
class Chunk:
    index: int
    children: list[Child]
    schools: list[School]
    practices: list[Practice]
    calendar: Calendar
    la: str
    la_name: str



@dataclass(slots=True)
class SourceRecord:
    """One pupil in a census or CTF file, or one row of a service feed, as the feed states it."""

    source_file: str
    record_ref: str
    child: Child                 # the true child (its current state)
    given: str
    middle: str | None
    surname: str
    former_surname: str | None
    dob: dt.date
    sex: str
    address: Address | None
    upn: str | None
    uln: str | None
    nhs: str | None
    la_ref: str | None
    invalid: tuple[str, ...] = ()   # identifiers written deliberately invalid
    noise: tuple[str, ...] = ()     # the kinds of noise applied, for tests and benchmarks
    on_roll: bool = True
    school: School | None = None
    entry_date: dt.date | None = None
    leaving_date: dt.date | None = None
    service: Service | None = None


@dataclass(slots=True)
class SourceFile:
    path: str                    # relative to the area directory
    kind: str                    # census, ctf or feed
    records: list[SourceRecord]
    school: School | None = None
    term: str | None = None
    dest: School | None = None
    service: str | None = None
