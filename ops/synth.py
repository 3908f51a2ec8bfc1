"""Synthetic areas: realistic, deterministic, noisy feeds for one LA, with the truth.

`childindex synth` writes, for one LA and one academic year, the files the index would receive:
School Census XML per school for the autumn and spring terms, Common Transfer Files for pupils
who changed school between them, and CSV service feeds (GP registrations, health visiting,
social care, youth justice, Connexions, CAMHS, sexual health, substance misuse, early help),
plus `truth.csv` naming the true child behind every source record.

The area is generated in independent neighbourhood chunks (families, their homes, their own
schools and GP practices), each seeded from (seed, chunk index) alone, so output is
byte-identical for the same arguments and memory does not grow with the number of children.
Within a chunk, separate random streams drive the truth, the life events (moves, surname
changes, transfers), the noise and the file decoration, so changing a noise rate never changes
who the children are.

The census and CTF files deliberately carry the sections ingest must drop (ethnicity, FSM,
SEN, attendance, exclusions, assessments...), filled with fake values, so that ingest can be
tested against them. None of it is ever held by the index.

Layout of an area directory:

    census/<LAEstab>_SC_<year><AUT|SPR>.xml   one per school per term (Message)
    ctf/<from LAEstab>_CTF_<to LAEstab>_001.xml   pupils who changed school (CTfile)
    feeds/<service_type>_<chunk>.csv          ingest.service_feed.SERVICE_FEED_COLUMNS
    truth.csv                                 source_file,record_ref,true_child_id

Phone numbers come from Ofcom's drama ranges and e-mail domains are under the reserved
example.com, example.org and example.net, so nothing written here can reach a real person.
"""

from __future__ import annotations

import bisect
import collections
import csv
import datetime as dt
import enum
import functools
import io
import multiprocessing
import operator
import os
import random
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, TypeVar
from xml.sax.saxutils import escape

import typer
from pydantic import BaseModel

from index.identifiers import Scheme, upn_check_letter
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
from ingest.service_feed import SERVICE_FEED_COLUMNS
from ops.noise import (
    NoiseRates,
    corrupt_identifier,
    dob_typo,
    name_format,
    short_form,
    short_forms,
    strip_accents,
    swap_day_month,
    typo,
)

_DATA = Path(__file__).with_name("data")
T = TypeVar("T")

# Bumped whenever the same seed gives other people (names, dates, places): benchmark stores
# built from an earlier version are then rebuilt rather than searched with another truth.
GENERATION_VERSION = 2  # 2: family names have each tradition's long tail (surname_tails.csv)
CHUNK_CHILDREN = 5000
PRIMARIES_PER_CHUNK = 6
SECONDARIES_PER_CHUNK = 2
PRACTICES_PER_CHUNK = 3
DEFAULT_ACADEMIC_YEAR = 2025

# Establishment number ranges (DfE convention: 2xxx/3xxx primary, 4xxx secondary, 5xxx
# foundation). Each school in the area gets its own, which bounds the size of one area.
_PRIMARY_ESTABS = (*range(2000, 4000), *range(5200, 5400))
_SECONDARY_ESTABS = (*range(4000, 5000), *range(5400, 5500))
MAX_CHUNKS = min(
    len(_PRIMARY_ESTABS) // PRIMARIES_PER_CHUNK, len(_SECONDARY_ESTABS) // SECONDARIES_PER_CHUNK
)
MAX_CHILDREN = CHUNK_CHILDREN * MAX_CHUNKS
MAX_CHUNK_CHILDREN = 20_000  # keeps each chunk's UPRNs inside its own range

# Other LAs' numbers: UPNs issued elsewhere, and schools outside the area sending CTFs in.
_OTHER_LAS = (
    "201", "202", "203", "204", "205", "206", "207", "208", "209", "210", "211", "212", "213",
    "301", "302", "303", "304", "305", "306", "307", "308", "309", "310", "311", "312", "313",
    "330", "331", "332", "333", "334", "335", "336", "340", "341", "342", "343", "344", "350",
    "351", "352", "353", "354", "355", "356", "357", "358", "359", "370", "371", "372", "373",
    "380", "381", "382", "383", "384", "390", "391", "392", "393", "394", "800", "801", "802",
    "803", "811", "812", "813", "815", "816", "821", "822", "823", "825", "826", "830", "831",
    "835", "836", "837", "850", "851", "852", "855", "856", "857", "860", "861", "865", "866",
    "867", "868", "869", "870", "871", "872", "873", "874", "876", "877", "878", "879", "880",
    "881", "882", "883", "884", "885", "886", "887", "888", "889", "890", "891", "892", "893",
    "894", "895", "896", "908", "909", "916", "919", "921", "925", "926", "928", "929", "931",
    "933", "935", "936", "937", "938",
)

# CTF relationship codes (CBDS D00033) and the index's relationship for each.
RELATIONSHIP_CODES: dict[str, str] = {
    "PAR": "parent", "CAR": "carer", "STP": "step_parent", "FOS": "foster_parent",
    "FAM": "other_family", "REL": "relative", "CHM": "childminder", "DOC": "doctor",
    "SWR": "social_worker", "OTH": "other",
}

STREET_TYPES = ("Road", "Street", "Lane", "Avenue", "Close", "Drive", "Way", "Gardens",
                "Crescent", "Grove", "Place", "Court", "Mews", "Walk", "Rise", "View")
POSTCODE_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
SAINTS = ("Mary's", "John's", "Andrew's", "George's", "Peter's", "Paul's", "Joseph's",
          "Thomas More", "Michael's", "Christopher's", "Vincent's", "Bede's")
SCHOOL_SOFTWARE = ("SIMS", "Arbor", "Bromcom", "ScholarPack", "Pupil Asset", "iSAMS")

# Which identifiers each service usually knows about a child (probability of each).
FEED_IDENTIFIERS: dict[str, tuple[float, float, float, float]] = {
    #                  upn   nhs   uln   la_ref
    "gp_practice":      (0.0, 1.0, 0.0, 0.0),
    "health_visitor":   (0.0, 1.0, 0.0, 0.0),
    "social_care":      (0.6, 0.7, 0.2, 1.0),
    "youth_offending":  (0.3, 0.2, 0.3, 0.3),
    "connexions":       (0.8, 0.0, 0.7, 0.0),
    "camhs":            (0.1, 1.0, 0.0, 0.1),
    "sexual_health":    (0.0, 0.6, 0.0, 0.0),
    "substance_misuse": (0.0, 0.5, 0.0, 0.1),
    "other":            (0.3, 0.3, 0.0, 0.5),
}
SERVICE_ORDER = tuple(FEED_IDENTIFIERS)
FEED_ROW_PREFIX = {"gp_practice": "GP", "health_visitor": "HV", "social_care": "CSC",
                   "youth_offending": "YJS", "connexions": "CXS", "camhs": "CAMHS",
                   "sexual_health": "SH", "substance_misuse": "SMS", "other": "EH"}
SENSITIVE = frozenset({"camhs", "sexual_health", "substance_misuse"})

# Fake values for the sections ingest must drop. Ethnicity and language by naming tradition.
_ETHNICITY = {
    "british": ("WBRI", "WBRI", "WBRI", "WBRI", "WBRI", "WBRI", "MWBC", "MWBA", "MWAS", "WOTH"),
    "irish": ("WIRI", "WIRI", "WBRI"), "caribbean": ("BCRB", "BCRB", "MWBC"),
    "polish": ("WOTH", "WPOL"), "romanian": ("WOTH", "WROM"), "south_asian": ("APKN", "ABAN"),
    "indian": ("AIND",), "nigerian": ("BAFR", "BNGN"), "somali": ("BAFR", "BSOM"),
    "chinese": ("CHNE",), "arabic": ("OOTH", "AOTH"), "turkish": ("WOTH", "WTUR"),
    "portuguese": ("WOTH",),
}
_LANGUAGE = {
    "british": "ENG", "irish": "ENG", "caribbean": "ENG", "polish": "POL", "romanian": "RUM",
    "south_asian": "URD", "indian": "PAN", "nigerian": "YOR", "somali": "SOM",
    "chinese": "CHI", "arabic": "ARA", "turkish": "TUR", "portuguese": "POR",
}
_SEN_TYPES = ("SLCN", "SEMH", "SPLD", "MLD", "ASD", "OTH", "PD", "HI")
_SUBJECTS = ("ENG", "MAT", "SCI", "REA", "WRI")


# Fast draws: a third of the cost of random.choice/randint/choices, which matters at 1M children.
def _pick(rng: random.Random, seq: Sequence[T]) -> T:
    return seq[int(rng.random() * len(seq))]


def _below(rng: random.Random, n: int) -> int:
    return int(rng.random() * n)


def _between(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


def _weighted(rng: random.Random, values: Sequence[T], cum_weights: Sequence[float]) -> T:
    return values[bisect.bisect(cum_weights, rng.random() * cum_weights[-1])]


# --------------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class _Pool:
    """Values with cumulative weights, for fast weighted choice."""

    values: tuple[str, ...]
    cum_weights: tuple[float, ...]

    def pick(self, rng: random.Random) -> str:
        # bisect on one random number: several times faster than random.choices per call.
        return self.values[bisect.bisect(self.cum_weights, rng.random() * self.cum_weights[-1])]


def _pool(pairs: list[tuple[str, float]]) -> _Pool:
    values, total, cums = [], 0.0, []
    for value, weight in pairs:
        total += weight
        values.append(value)
        cums.append(total)
    return _Pool(tuple(values), tuple(cums))


def _read_table(name: str) -> list[dict[str, str]]:
    with (_DATA / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


@dataclass(frozen=True)
class _Tables:
    groups: _Pool
    british_given_share: dict[str, float]
    child_names: dict[tuple[str, str], _Pool]   # (group, sex) -> given names
    adult_names: dict[tuple[str, str], _Pool]
    surnames: dict[str, _Pool]
    streets: tuple[str, ...]
    places: dict[str, list[dict[str, str]]]


def _name_pools(rows: list[dict[str, str]]) -> dict[tuple[str, str], _Pool]:
    grouped: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for row in rows:
        grouped.setdefault((row["group"], row["sex"]), []).append((row["name"], float(row["weight"])))
    return {key: _pool(pairs) for key, pairs in grouped.items()}


def _with_tail(head: list[tuple[str, float]], head_share: float, stems: list[str],
               endings: list[str]) -> list[tuple[str, float]]:
    """The listed names scaled to `head_share` of the weight, and every stem + ending sharing
    the rest equally (names already listed keep their listed weight only)."""
    listed = {name for name, _weight in head}
    tail = sorted({stem + ending for stem in stems for ending in endings} - listed)
    total = sum(weight for _name, weight in head)
    each = total * (1 - head_share) / head_share / len(tail)
    return head + [(name, each) for name in tail]


@functools.cache
def _tables() -> _Tables:
    groups = _read_table("naming_groups.csv")
    surnames: dict[str, list[tuple[str, float]]] = {}
    for row in _read_table("surnames.csv"):
        surnames.setdefault(row["group"], []).append((row["name"], float(row["weight"])))
    for row in _read_table("surname_tails.csv"):
        surnames[row["group"]] = _with_tail(surnames[row["group"]], float(row["head_share"]),
                                            row["stems"].split(), row["endings"].split())
    places: dict[str, list[dict[str, str]]] = {}
    for row in _read_table("places.csv"):
        places.setdefault(row["la"], []).append(row)
    return _Tables(
        groups=_pool([(g["group"], float(g["weight"])) for g in groups]),
        british_given_share={g["group"]: float(g["british_given_share"]) for g in groups},
        child_names=_name_pools(_read_table("given_names.csv")),
        adult_names=_name_pools(_read_table("adult_given_names.csv")),
        surnames={g: _pool(pairs) for g, pairs in surnames.items()},
        streets=tuple(row["stem"] for row in _read_table("street_names.csv")),
        places=places,
    )


# ---------------------------------------------------------------------------- identifiers


def make_upn(la: str, estab: int, year: int, serial: int) -> str:
    """A permanent UPN: check letter, LA (3), establishment (4), year issued (2), serial (3)."""
    body = f"{la}{estab:04d}{year % 100:02d}{serial:03d}"
    return upn_check_letter(body) + body


_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def _mod11_weighted(digits: str) -> int:
    return sum(map(operator.mul, map(int, digits), _WEIGHTS)) % 11


def make_nhs_number(child_id: int, seed: int) -> str:
    """A valid NHS number, unique per child id (< 10**8) for a given seed."""
    suffix = (child_id * 7_654_321 + seed * 1_000_003) % 10**8
    for prefix in "467":
        body = f"{prefix}{suffix:08d}"
        check = (11 - _mod11_weighted(body)) % 11
        if check != 10:
            return body + str(check)
    raise AssertionError("unreachable: the three prefixes give three different check digits")


def make_uln(child_id: int, seed: int) -> str:
    """A valid ULN (weighted sum 10 mod 11), unique per child id (< 10**8) for a given seed."""
    suffix = (child_id * 3_141_593 + seed * 2_718_281) % 10**8
    for prefix in "9536":
        body = f"{prefix}{suffix:08d}"
        check = (10 - _mod11_weighted(body)) % 11
        if check != 10:
            return body + str(check)
    raise AssertionError("unreachable: the prefixes give different check digits")


def make_la_reference(la: str, child_id: int, seed: int) -> str:
    return f"{la}/{(child_id * 7919 + seed * 104_729) % 10**7:07d}"


# ---------------------------------------------------------------------------------- model


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


# ------------------------------------------------------------------------------ the truth


def _title(sex: str, rng: random.Random) -> str:
    if sex == "M":
        return "Mr" if rng.random() < 0.97 else "Dr"
    return _weighted(rng, ("Mrs", "Ms", "Miss", "Dr"), (50, 80, 97, 100))


@functools.lru_cache(maxsize=4096)
def _ascii_slug(text: str) -> str:
    return "".join(c for c in strip_accents(text).lower() if c.isalnum())


class _ChunkBuilder:
    """Builds one neighbourhood: its streets, schools, practices, families and children."""

    def __init__(self, la: str, seed: int, index: int, quota: int, calendar: Calendar,
                 rates: NoiseRates, chunk_children: int) -> None:
        self.la, self.seed, self.index, self.quota = la, seed, index, quota
        self.chunk_children = chunk_children
        self.calendar, self.rates = calendar, rates
        self.tables = _tables()
        self.rng = random.Random(f"childindex-synth/{seed}/{la}/{index}/truth")
        # Event decisions draw a fixed number of numbers per family and child, so the rates
        # decide outcomes without shifting the truth; what follows an event has its own stream.
        self.events = random.Random(f"childindex-synth/{seed}/{la}/{index}/events")
        self.changes = random.Random(f"childindex-synth/{seed}/{la}/{index}/changes")
        places = self.tables.places.get(la) or self.tables.places["*"]
        self.place = places[index % len(places)]
        self.la_name = places[0]["la_name"] if la in self.tables.places else f"Local Authority {la}"
        self.dwellings = self.moved_dwellings = 0
        self.upn_serials: dict[tuple[str, int, int], int] = {}

    # -- places ------------------------------------------------------------------------
    def _streets(self) -> list[tuple[str, list[str], str | None]]:
        rng, count = self.rng, max(4, self.quota // 30)
        district = self.place["district"]
        names: set[str] = set()
        streets = []
        localities = (None, None, None, None, f"{self.place['town']} Park", "Upper End", "Westfield")
        while len(streets) < count:
            name = f"{_pick(rng, self.tables.streets)} {_pick(rng, STREET_TYPES)}"
            if name in names:
                continue
            names.add(name)
            sector = _between(rng, 1, 9)
            codes = [f"{district} {sector}{_pick(rng, POSTCODE_UNIT_LETTERS)}"
                     f"{_pick(rng, POSTCODE_UNIT_LETTERS)}" for _ in range(_between(rng, 1, 3))]
            streets.append((name, codes, _pick(rng, localities)))
        return streets

    def _address(self, rng: random.Random, used: set[tuple[str, str, str | None]], *,
                 moved: bool = False) -> Address:
        while True:
            street, codes, locality = _pick(rng, self.streets)
            if rng.random() < 0.15:
                saon = f"Flat {_between(rng, 1, 24)}"
                paon = f"{_pick(rng, self.tables.streets)} {_pick(rng, ('Court', 'House', 'Lodge'))}"
            else:
                saon, paon = None, str(_between(rng, 1, 180))
            if (street, paon, saon) not in used:
                break
        # New homes after a move are numbered apart, so a move never renumbers anyone else's.
        if moved:
            self.moved_dwellings += 1
            uprn = str(10_000_000_000 + self.index * 100_000 + 90_000 + self.moved_dwellings)
        else:
            used.add((street, paon, saon))
            self.dwellings += 1
            uprn = str(10_000_000_000 + self.index * 100_000 + self.dwellings)
        return Address(saon, paon, street, locality, self.place["town"], self.place["post_town"],
                       _pick(rng, codes), uprn)

    # -- organisations ---------------------------------------------------------------------
    def _school(self, estab: int, phase: str, name: str, la: str | None = None,
                rng: random.Random | None = None) -> School:
        rng = rng or self.rng
        return School(
            la=la or self.la, estab=estab, name=name, phase=phase,
            sex_tag="Gender" if rng.random() < 0.15 else "Sex",
            wrapper=rng.random() >= 0.15,
            address_style="bs7666" if rng.random() < 0.4 else "lines",
            software=_pick(rng, SCHOOL_SOFTWARE),
            ctf_version=_weighted(rng, ("25.0", "24.0", "23.0"), (80, 93, 100)),
            urn=100_000 + _below(rng, 50_000),
        )

    def _school_name(self, phase: str) -> str:
        rng, town = self.rng, self.place["town"]
        stem = _pick(rng, self.tables.streets)
        if phase == "primary":
            return _pick(rng, (
                f"{stem} Primary School", f"{stem} Lower School", f"St {_pick(rng, SAINTS)} "
                "Church of England Primary School", f"St {_pick(rng, SAINTS)} Catholic Primary "
                "School & Nursery", f"{town} {stem} Infant & Junior School", f"{stem} Academy",
            ))
        return _pick(rng, (f"{town} {stem} Academy", f"{stem} Upper School", f"{stem} High School",
                           f"St {_pick(rng, SAINTS)} Catholic School", f"{stem} School & Sixth Form"))

    def _organisations(self) -> None:
        k, quota = self.index, self.quota
        # At least two of each, so that a pupil can move school inside any neighbourhood.
        n_primary = min(PRIMARIES_PER_CHUNK, max(2, round(quota / 830)))
        n_secondary = min(SECONDARIES_PER_CHUNK, max(2, round(quota / 2500)))
        self.primaries = [
            self._school(_PRIMARY_ESTABS[k * PRIMARIES_PER_CHUNK + j], "primary",
                         self._school_name("primary")) for j in range(n_primary)]
        self.secondaries = [
            self._school(_SECONDARY_ESTABS[k * SECONDARIES_PER_CHUNK + j], "secondary",
                         self._school_name("secondary")) for j in range(n_secondary)]
        letter = "ABCDEFGHJKLMNPY"[int(self.la) % 15]
        n_practices = min(PRACTICES_PER_CHUNK, max(1, round(quota / 1700)))
        self.practices = []
        for j in range(n_practices):
            stem = _pick(self.rng, self.tables.streets)
            name = _pick(self.rng, (f"{stem} Surgery", f"{stem} Medical Centre",
                                    f"The {stem} Practice", f"{self.place['town']} Health Centre",
                                    f"Dr {_pick(self.rng, ('Shah', 'Okafor', 'Reid', 'Evans'))} & Partners"))
            self.practices.append(Practice(f"{letter}{81000 + k * PRACTICES_PER_CHUNK + j:05d}",
                                           name, self._landline()))
        self.teams = self._teams()

    def _landline(self) -> str:
        return f"01632 960{_below(self.rng, 1000):03d}"

    def _mobile(self, rng: random.Random) -> str:
        return f"07700 900{_below(rng, 1000):03d}"

    def _practitioner(self, domain: str) -> tuple[str, str, str]:
        rng = self.rng
        sex = _pick(rng, "FM")
        given = self.tables.adult_names[("british", sex)].pick(rng)
        family = self.tables.surnames["british"].pick(rng)
        email = f"{_ascii_slug(given)}.{_ascii_slug(family)}@{domain}"
        return f"{given} {family}", self._landline(), email

    def _teams(self) -> dict[str, list[tuple[str, str | None, str]]]:
        """Organisation (name, code, email domain) for each non-school service in this chunk."""
        town, la_name, la = self.place["town"], self.la_name, self.la
        slug = _ascii_slug(la_name)[:20] or "la"
        trust = "R" + "ABCDEFGHJKLMNPQRTVWXY"[int(la) % 21] + str(int(la) % 10)
        return {
            "health_visitor": [(f"{town} Health Visiting Team", trust, "community.nhs.example.org")],
            "social_care": [(f"{la_name} Children's Social Care", la, f"{slug}.gov.example.org"),
                            (f"{la_name} Children's Services - {town} Locality Team", la,
                             f"{slug}.gov.example.org")],
            "youth_offending": [(f"{la_name} Youth Justice Service", None, f"{slug}.gov.example.org")],
            "connexions": [(f"Connexions {la_name}", None, "connexions.example.org"),
                           (f"{la_name} Careers & Participation Team", None, f"{slug}.gov.example.org")],
            "camhs": [(f"{la_name} CAMHS", trust[:2] + "X", "camhs.nhs.example.org")],
            "sexual_health": [("iCaSH Sexual Health Service", "RYV", "sexualhealth.nhs.example.org")],
            "substance_misuse": [("Young People's Drug & Alcohol Service", "NLX", "ypdas.example.org")],
            "other": [(f"{town} Early Help Hub", None, f"{slug}.gov.example.org"),
                      (f"{la_name} Young Carers Service", None, "youngcarers.example.org")],
        }

    # -- people ----------------------------------------------------------------------------
    def _given(self, group: str, sex: str, adult: bool, avoid: set[str]) -> str:
        rng, tables = self.rng, self.tables
        pools = tables.adult_names if adult else tables.child_names
        share = tables.british_given_share.get(group, 1.0)
        key = (group, sex) if rng.random() >= share and (group, sex) in pools else ("british", sex)
        for _ in range(5):
            name = pools[key].pick(rng)
            if name not in avoid:
                return name
        return name

    def _surname(self, group: str) -> str:
        return self.tables.surnames[group].pick(self.rng)

    def _email(self, given: str, family: str) -> str | None:
        rng = self.rng
        if rng.random() < 0.25:
            return None
        domain = _pick(rng, ("example.com", "example.org", "example.net"))
        return f"{_ascii_slug(given)}.{_ascii_slug(family)}{_below(rng, 100)}@{domain}"

    def _carer(self, order: int, group: str, sex: str, family: str, relationship: str,
               responsibility: bool, address: Address | None) -> Carer:
        rng = self.rng
        given = self._given(group, sex, adult=True, avoid=set())
        phones = [("M", self._mobile(rng))]
        if rng.random() < 0.3:
            phones.append(("H", self._landline()))
        if rng.random() < 0.15:
            phones.append(("W", self._landline()))
        return Carer(order, _title(sex, rng), given, family, sex, relationship, responsibility,
                     address, phones, self._email(given, family))

    def _household(self, group: str, surname: str) -> tuple[list[Carer], str]:
        """The carers of a family's children and the children's surname."""
        rng = self.rng
        kind = _weighted(rng, ("couple", "single_mother", "stepfamily", "single_father",
                               "kinship", "foster"), (60, 82, 90, 93, 96.5, 100))
        carers: list[Carer] = []
        own_address = self._address(rng, self.used) if kind in ("single_mother", "foster") else None
        if kind == "couple":
            mother_name = surname if rng.random() < 0.7 else self._surname(group)
            carers.append(self._carer(1, group, "F", mother_name, "PAR", True, None))
            carers.append(self._carer(2, group, "M", surname, "PAR", True, None))
            if mother_name != surname and rng.random() < 0.08:
                surname = f"{mother_name}-{surname}"
        elif kind == "single_mother":
            mother = self._surname(group) if rng.random() < 0.4 else surname
            carers.append(self._carer(1, group, "F", mother, "PAR", True, None))
            if rng.random() < 0.5:
                carers.append(self._carer(2, group, "M", surname, "PAR", True, own_address))
            else:
                surname = mother
        elif kind == "stepfamily":
            carers.append(self._carer(1, group, "F", self._surname(group), "PAR", True, None))
            carers.append(self._carer(2, group, "M", self._surname(group), "STP", False, None))
        elif kind == "single_father":
            carers.append(self._carer(1, group, "M", surname, "PAR", True, None))
        elif kind == "kinship":
            # Grandparents and aunts; CAR where a court order (special guardianship) names them.
            carers.append(self._carer(1, group, "F", surname, _pick(rng, ("REL", "FAM", "CAR")),
                                      True, None))
            if rng.random() < 0.5:
                carers.append(self._carer(2, group, "M", surname, "REL", False, None))
        else:
            other = self.tables.groups.pick(rng)
            carers.append(self._carer(1, other, "F", self._surname(other), "FOS", False, None))
            carers.append(self._carer(2, group, "F", surname, "PAR", True, own_address))
            carers.append(Carer(3, "Ms", *self._practitioner_name(), "F", "SWR", True, None,
                                [("W", self._landline())], None))
        if rng.random() < 0.06:
            carers.append(self._carer(len(carers) + 1, group, "F", self._surname(group), "CHM",
                                      False, self._address(rng, self.used)))
        if rng.random() < 0.1:
            carers.append(self._carer(len(carers) + 1, group, _pick(rng, "FM"), self._surname(group),
                                      _pick(rng, ("FAM", "REL", "OTH")), False,
                                      self._address(rng, self.used)))
        return carers, surname

    def _practitioner_name(self) -> tuple[str, str]:
        given = self.tables.adult_names[("british", "F")].pick(self.rng)
        return given, self.tables.surnames["british"].pick(self.rng)

    def _dobs(self) -> list[dt.date]:
        rng, spring = self.rng, self.calendar.spring_census
        wanted = _weighted(rng, (1, 2, 3, 4, 5), (42, 79, 93, 98, 100))
        dob = spring - dt.timedelta(days=_below(rng, 19 * 365 + 4))
        dobs = [dob]
        while len(dobs) < wanted:
            if rng.random() < 0.03:
                dobs.append(dob)  # twins: same date of birth, same home, same surname
                continue
            dob = dob + dt.timedelta(days=_between(rng, 330, 6 * 365))
            if dob > spring:
                break
            dobs.append(dob)
        return dobs

    # -- the chunk -------------------------------------------------------------------------
    def build(self) -> Chunk:
        self.used: set[tuple[str, str, str | None]] = set()
        self.streets = self._streets()
        self._organisations()
        children: list[Child] = []
        first_id = self.index * self.chunk_children + 1
        while len(children) < self.quota:
            children.extend(self._family(first_id + len(children), self.quota - len(children)))
        return Chunk(self.index, children, [*self.primaries, *self.secondaries], self.practices,
                     self.calendar, self.la, self.la_name)

    def _family(self, next_id: int, room: int) -> list[Child]:
        rng, tables, cal = self.rng, self.tables, self.calendar
        group = tables.groups.pick(rng)
        surname = self._surname(group)
        if group == "british" and rng.random() < 0.03:
            surname = f"{surname}-{self._surname(group)}" if rng.random() < 0.8 else \
                f"{self._surname(group)} {surname}"
        address = self._address(rng, self.used)
        carers, surname = self._household(group, surname)
        practice = _pick(rng, self.practices) if rng.random() >= 0.03 else None
        family = Family(group, address, None, None, carers, practice,
                        any(c.relationship == "FOS" for c in carers))
        primary, secondary = _pick(rng, self.primaries), _pick(rng, self.secondaries)
        children = []
        names: set[str] = set()
        for dob in self._dobs()[:room]:
            sex = _pick(rng, "FM")
            given = self._given(group, sex, adult=False, avoid=names)
            names.add(given)
            middle = None
            roll = rng.random()
            if roll < 0.6:
                middle = self._given(group, sex, adult=False, avoid=names | {given})
                if roll < 0.08:
                    middle = f"{middle} {self._given(group, sex, adult=False, avoid=names)}"
            child = Child(next_id + len(children), family, given, middle, surname, None, sex, dob,
                          cal.nc_year(dob))
            self._schooling(child, primary, secondary)
            children.append(child)
        for child in children:
            self._identifiers(child)
            self._services(child)
        self._family_events(family, children)
        return children

    def _schooling(self, child: Child, primary: School, secondary: School) -> None:
        rng, cal, ncy = self.rng, self.calendar, child.ncy
        at_school = rng.random() >= 0.04  # independent schools, home education: not in census
        if ncy == -1:
            at_school = rng.random() < 0.4
        elif ncy in (12, 13):
            at_school = rng.random() < 0.55
        elif not 0 <= ncy <= 11:
            at_school = False
        if rng.random() < 0.15:  # not every sibling goes to the family's usual school
            primary, secondary = _pick(rng, self.primaries), _pick(rng, self.secondaries)
        if ncy <= 6:
            school, start_year = primary, cal.year - max(ncy, 0)
        else:
            school, start_year = secondary, cal.year - (ncy - 7)
            child.previous_school = primary
        entry = dt.date(start_year, 9, _between(rng, 2, 8))
        if rng.random() < 0.1 and start_year < cal.year:  # joined mid-phase
            entry = dt.date(_between(rng, start_year, cal.year - 1), _pick(rng, (1, 4, 6, 11)),
                            _between(rng, 1, 28))
        if at_school:
            child.autumn_school = child.spring_school = school
            child.entry_date = entry
        if rng.random() < 0.5 and not at_school and ncy >= 7:
            child.previous_school = primary  # left for an independent school or home education
        elif not at_school:
            child.previous_school = None

    def _family_events(self, family: Family, children: list[Child]) -> None:
        events, changes, cal = self.events, self.changes, self.calendar
        rates = self.rates
        window = (cal.spring_census - cal.autumn_census).days
        moves, renamed = events.random() < rates.move_rate, events.random() < rates.surname_change_rate
        if moves:
            family.old_address = family.address
            family.address = self._address(changes, self.used, moved=True)
            family.move_date = cal.autumn_census + dt.timedelta(days=_between(changes, 7, window - 7))
        if renamed and children:
            new = self.tables.surnames[family.group].pick(changes)
            if new == children[0].surname or changes.random() < 0.3:
                new = f"{children[0].surname}-{new}"
            for child in children:
                child.former_surname, child.surname = child.surname, new
            mothers = [c for c in family.carers if c.sex == "F" and c.address is None
                       and c.relationship in ("PAR", "REL", "FAM", "CAR")]
            if mothers and "-" not in new:
                mothers[0].family = new
        for child in children:
            transfers = events.random() < rates.transfer_rate
            kind = events.random()
            if not (transfers and child.spring_school):
                continue
            others = [s for s in (self.primaries if child.spring_school.phase == "primary"
                                  else self.secondaries) if s is not child.spring_school]
            left = cal.autumn_census + dt.timedelta(days=_between(changes, 14, window - 14))
            child.leaving_date = left
            child.new_entry_date = left + dt.timedelta(days=_between(changes, 1, 10))
            if others and kind < 0.75:
                child.spring_school = _pick(changes, others)
            else:  # came in from a school outside the area, which sent the CTF
                other_la = child.upn[1:4] if child.upn and child.upn[1:4] != self.la else \
                    _pick(changes, [la for la in _OTHER_LAS if la != self.la])
                phase = child.spring_school.phase
                outside = self._school(_between(changes, 2000, 4999), phase,
                                       f"{_pick(changes, self.tables.streets)} "
                                       f"{'Primary School' if phase == 'primary' else 'Academy'}",
                                       la=other_la, rng=changes)
                child.transfer_from = outside
                child.autumn_school = None
                child.spring_school = _pick(changes, [child.spring_school, *others])

    def _upn(self, la: str, estab: int, year: int) -> str:
        key = (la, estab, year % 100)
        serial = self.upn_serials.get(key, 0) + 1
        self.upn_serials[key] = serial
        return make_upn(la, estab, year, serial)

    def _identifiers(self, child: Child) -> None:
        rng, cal, seed = self.rng, self.calendar, self.seed
        child.nhs = make_nhs_number(child.id, seed) if rng.random() >= 0.01 else None
        first_school = child.previous_school or child.autumn_school
        elsewhere, other_la = rng.random() < 0.1, _pick(rng, _OTHER_LAS)
        if first_school is not None:
            first_year = cal.year - max(child.ncy, 0)
            if elsewhere and other_la != self.la:
                # Issued by another LA: an establishment number tied to this chunk keeps it unique.
                child.upn = self._upn(other_la, 1000 + self.index % 9000, first_year)
            else:
                child.upn = self._upn(self.la, first_school.estab, first_year)
        age = (cal.spring_census - child.dob).days / 365.25
        if age >= 14 and rng.random() < (0.95 if child.spring_school else 0.6):
            child.uln = make_uln(child.id, seed)

    def _services(self, child: Child) -> None:
        rng, cal = self.rng, self.calendar
        extract = cal.extract_date
        age = (cal.spring_census - child.dob).days / 365.25
        family = child.family
        if family.practice:
            child.gp_start = min(extract, child.dob + dt.timedelta(days=_between(rng, 10, 60)))

        def add(service: str, start: dt.date, **extra: object) -> None:
            name, code, domain = _pick(rng, self.teams[service])
            practitioner, phone, email = self._practitioner(domain)
            start = max(child.dob, min(start, extract))
            end = extra.get("end")
            if isinstance(end, dt.date) and end < start:  # a baby's short involvement
                extra["end"] = min(extract, start + dt.timedelta(days=_between(rng, 7, 90)))
            child.services.append(Service(service, name, code, practitioner, phone, email, start,
                                          **extra))  # type: ignore[arg-type]

        def since(years: float) -> dt.date:
            return extract - dt.timedelta(days=_below(rng, max(1, int(years * 365))))

        if age < 5:
            add("health_visitor", child.dob + dt.timedelta(days=_between(rng, 10, 14)))
        looked_after = family.looked_after
        if looked_after or rng.random() < 0.035:
            end = None
            if not looked_after and rng.random() < 0.3:
                end = extract - dt.timedelta(days=_between(rng, 1, 119))
            add("social_care", since(min(age, 3) + 0.2) if end is None else end -
                dt.timedelta(days=_between(rng, 60, 700)), end=end, lead=rng.random() < 0.6)
            if child.la_ref is None:
                child.la_ref = make_la_reference(self.la, child.id, self.seed)
        if 10 <= age < 18 and rng.random() < 0.012:
            add("youth_offending", since(min(age - 10, 2) + 0.1))
        if age >= 13 and rng.random() < 0.3:
            add("connexions", since(min(age - 13, 4) + 0.1))
        if age >= 5 and rng.random() < 0.025:
            add("camhs", since(2), consent=self._consent(age))
        if age >= 13 and rng.random() < 0.015:
            add("sexual_health", since(1), consent=self._consent(age))
        if age >= 12 and rng.random() < 0.007:
            add("substance_misuse", since(1), consent=self._consent(age))
        if rng.random() < 0.02:
            add("other", since(min(age, 2) + 0.1))

    def _consent(self, age: float) -> str:
        roll = self.rng.random()
        if age >= 13:
            return "child_consent" if roll < 0.75 else "parent_consent" if roll < 0.9 else \
                "significant_harm"
        return "parent_consent" if roll < 0.85 else "significant_harm"


def _chunks(children: int, size: int) -> Iterator[tuple[int, int]]:
    if children < 0:
        raise ValueError("children must not be negative")
    if not 1 <= size <= MAX_CHUNK_CHILDREN:
        raise ValueError(f"chunk_children must be between 1 and {MAX_CHUNK_CHILDREN}")
    count = (children + size - 1) // size
    if count > MAX_CHUNKS:
        raise ValueError(f"one area holds at most {MAX_CHUNKS * size} children with chunks of "
                         f"{size} (school numbers run out)")
    for index in range(count):
        yield index, min(size, children - index * size)


def _check_la(la: str) -> str:
    if not (len(la) == 3 and la.isdigit()):
        raise ValueError("la must be a three-digit LA number")
    return la


def build_chunk(index: int, quota: int, la: str, seed: int, *, year: int = DEFAULT_ACADEMIC_YEAR,
                noise: NoiseRates | None = None, chunk_children: int = CHUNK_CHILDREN) -> Chunk:
    """One neighbourhood, the same whatever the size of the area it belongs to."""
    return _ChunkBuilder(_check_la(la), seed, index, quota, Calendar(year),
                         noise or NoiseRates(), chunk_children).build()


# ------------------------------------------------------------------------- source records


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


class _Noise:
    def __init__(self, rates: NoiseRates, rng: random.Random, not_after: dt.date) -> None:
        self.rates, self.rng, self.not_after = rates, rng, not_after

    def apply(self, rec: SourceRecord) -> None:
        rates, rng = self.rates, self.rng
        applied = []
        if rng.random() < rates.short_form_rate and short_forms(rec.given):
            rec.given = short_form(rec.given, rng)
            applied.append("short_form")
        if rng.random() < rates.typo_rate:
            if rng.random() < 0.6:
                rec.given = typo(rec.given, rng)
            else:
                rec.surname = typo(rec.surname, rng)
            applied.append("typo")
        if rng.random() < rates.format_rate:
            if rng.random() < 0.5:
                formatted = name_format(rec.surname, rng)
                if formatted != rec.surname:
                    rec.surname = formatted
                    applied.append("format")
            else:
                formatted = name_format(rec.given, rng)
                if formatted != rec.given:
                    rec.given = formatted
                    applied.append("format")
        if rng.random() < rates.swap_dob_rate and (swapped := swap_day_month(rec.dob)) \
                and swapped <= self.not_after:
            rec.dob = swapped
            applied.append("swap_dob")
        if rng.random() < rates.dob_typo_rate:
            try:
                rec.dob = dob_typo(rec.dob, rng, not_after=self.not_after)
                applied.append("dob_typo")
            except ValueError:
                pass
        if rec.upn and rng.random() < rates.missing_upn_rate:
            rec.upn = None
            applied.append("missing_upn")
        if rec.nhs and rng.random() < rates.missing_nhs_rate:
            rec.nhs = None
            applied.append("missing_nhs")
        invalid = []
        for scheme in ("upn", "nhs", "uln"):
            value = getattr(rec, scheme)
            if value and rng.random() < rates.invalid_id_rate:
                setattr(rec, scheme, corrupt_identifier(value, rng))
                invalid.append(scheme)
                applied.append(f"invalid_{scheme}")
        rec.invalid = tuple(invalid)
        rec.noise = tuple(applied)


def _record(path: str, ref: int, child: Child, *, autumn: bool, prefix: str = "pupil",
            stale: float = 0.0, rng: random.Random | None = None) -> SourceRecord:
    """The child as a source reports it: as at the autumn census, or now (or, with
    probability `stale`, with the surname and address from before a change)."""
    old_name = old_home = autumn
    if stale and rng is not None:
        old_name = child.former_surname is not None and rng.random() < stale
        old_home = child.family.old_address is not None and rng.random() < stale
    family = child.family
    surname = child.former_surname if old_name and child.former_surname else child.surname
    address = family.old_address if old_home and family.old_address else family.address
    former = child.former_surname if not old_name else None
    return SourceRecord(path, f"{prefix} {ref}", child, child.given, child.middle, surname,
                        former, child.dob, child.sex, address, child.upn, child.uln, None, None)


def source_files(chunk: Chunk, noise: NoiseRates, seed: int) -> list[SourceFile]:
    """Every file of one chunk with its records, noise applied, in the order written."""
    rng = random.Random(f"childindex-synth/{seed}/{chunk.la}/{chunk.index}/noise")
    cal = chunk.calendar
    apply = _Noise(noise, rng, cal.extract_date).apply
    files: list[SourceFile] = []
    rolls: dict[tuple[str, int], list[Child]] = collections.defaultdict(list)
    left: dict[int, list[Child]] = collections.defaultdict(list)
    for child in chunk.children:
        if child.autumn_school:
            rolls[("AUT", id(child.autumn_school))].append(child)
            if child.spring_school is not child.autumn_school:
                left[id(child.autumn_school)].append(child)
        if child.spring_school:
            rolls[("SPR", id(child.spring_school))].append(child)
    for term, autumn in (("AUT", True), ("SPR", False)):
        year = cal.autumn_census.year if autumn else cal.spring_census.year
        for school in chunk.schools:
            path = f"census/{school.laestab}_SC_{year}{term}.xml"
            on_roll = rolls[(term, id(school))]
            leavers = [] if autumn else left[id(school)]
            # MIS exports list pupils by year group, then surname.
            on_roll.sort(key=lambda c: (-c.ncy, c.surname, c.given, c.id))
            records = []
            for child in on_roll:
                rec = _record(path, len(records) + 1, child, autumn=autumn)
                new = not autumn and child.new_entry_date and child.spring_school is school
                rec.school, rec.entry_date = school, child.new_entry_date if new else child.entry_date
                apply(rec)
                records.append(rec)
            for child in leavers:
                rec = _record(path, len(records) + 1, child, autumn=True)
                rec.on_roll, rec.address = False, None
                rec.school, rec.entry_date, rec.leaving_date = school, child.entry_date, \
                    child.leaving_date
                apply(rec)
                records.append(rec)
            files.append(SourceFile(path, "census", records, school=school, term=term))
    transfers: dict[tuple[str, str], tuple[School, School, list[Child]]] = {}
    for child in chunk.children:
        source = child.transfer_from or (child.autumn_school if child.leaving_date else None)
        if source is not None and child.spring_school is not None:
            key = (source.laestab, child.spring_school.laestab)
            transfers.setdefault(key, (source, child.spring_school, []))[2].append(child)
    for (src, dst), (source, dest, pupils) in sorted(transfers.items()):
        path = f"ctf/{src}_CTF_{dst}_001.xml"
        records = []
        for child in pupils:
            rec = _record(path, len(records) + 1, child, autumn=False, stale=0.5, rng=rng)
            rec.school, rec.entry_date, rec.leaving_date = source, child.entry_date, \
                child.leaving_date
            apply(rec)
            records.append(rec)
        files.append(SourceFile(path, "ctf", records, school=source, dest=dest))
    for service in SERVICE_ORDER:
        path = f"feeds/{service}_{chunk.index + 1:04d}.csv"
        p_upn, p_nhs, p_uln, p_la = FEED_IDENTIFIERS[service]
        records = []
        for child in chunk.children:
            if service == "gp_practice":
                practice = child.family.practice
                if practice is None or child.gp_start is None:
                    continue
                involvements = [Service("gp_practice", practice.name, practice.code, None,
                                        practice.phone, None, child.gp_start)]
            else:
                involvements = [s for s in child.services if s.service_type == service]
            for involvement in involvements:
                rec = _record(path, len(records) + 2, child, autumn=False, prefix="line",
                              stale=0.4, rng=rng)
                rec.upn = child.upn if rng.random() < p_upn else None
                rec.nhs = child.nhs if rng.random() < p_nhs else None
                rec.uln = child.uln if rng.random() < p_uln else None
                rec.la_ref = child.la_ref if rng.random() < p_la else None
                rec.service = involvement
                apply(rec)
                records.append(rec)
        if records:
            files.append(SourceFile(path, "feed", records, service=service))
    return files


# -------------------------------------------------------------------------------- writers


def _e(value: object) -> str:
    return escape(str(value))


def _opt(tag: str, value: object | None) -> str:
    return "" if value is None or value == "" else f"<{tag}>{escape(str(value))}</{tag}>"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _fmt_ncy(ncy: int) -> str:
    return "N2" if ncy < 0 else "R" if ncy == 0 else str(ncy)


class _Decorator:
    """Fake values for the sections ingest must drop (and the odd unknown element)."""

    def __init__(self, rng: random.Random, calendar: Calendar) -> None:
        self.rng, self.cal = rng, calendar

    def _date(self, start: dt.date, days: int) -> str:
        return (start + dt.timedelta(days=_below(self.rng, max(1, days)))).isoformat()

    def characteristics(self, child: Child) -> str:
        rng, group = self.rng, child.family.group
        language = _LANGUAGE[group] if rng.random() < 0.7 else "ENG"
        return (
            f"<PupilCharacteristics><Ethnicity>{_pick(rng, _ETHNICITY[group])}</Ethnicity>"
            f"<EthnicitySource>{_pick(rng, 'PCO')}</EthnicitySource>"
            f"<Languages><Type>F</Type><Language>{language}</Language></Languages>"
            f"<FSMeligible>{_bool(rng.random() < 0.24)}</FSMeligible>"
            f"<ServiceChild>{_bool(rng.random() < 0.01)}</ServiceChild>"
            f"<Religion>{_pick(rng, ('NOR', 'CHR', 'MUS', 'SIK', 'HIN', 'REF'))}</Religion>"
            "</PupilCharacteristics>"
        )

    def sen(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.83:
            return "<SpecialEducationalNeeds><SENprovision>N</SENprovision></SpecialEducationalNeeds>"
        provision = "E" if roll < 0.87 else "K"
        return (f"<SpecialEducationalNeeds><SENprovision>{provision}</SENprovision><SENneeds>"
                f"<SENneed><SENtypeRank>1</SENtypeRank><SENtype>{_pick(rng, _SEN_TYPES)}</SENtype>"
                "</SENneed></SENneeds></SpecialEducationalNeeds>")

    def exclusions(self, force: bool) -> str:
        rng = self.rng
        if not force and rng.random() >= 0.03:
            return "<Exclusions/>"
        return (f"<Exclusions><Exclusion><ExclusionStartDate>"
                f"{self._date(dt.date(self.cal.year - 1, 9, 5), 300)}</ExclusionStartDate>"
                f"<ExclusionCategory>{_pick(rng, ('FIXD', 'LNCH', 'PERM'))}</ExclusionCategory>"
                f"<ExclusionReason>{_pick(rng, ('PA', 'VP', 'DA', 'BU', 'DM'))}</ExclusionReason>"
                f"<ExclusionSessions>{_between(rng, 1, 10)}</ExclusionSessions></Exclusion></Exclusions>")

    def census_attendance(self, term: str) -> str:
        rng = self.rng
        possible = _between(rng, 60, 140)
        authorised = _between(rng, 0, possible // 10)
        unauthorised = _between(rng, 0, possible // 12) if rng.random() < 0.4 else 0
        return (f"<Attendance><TermlyAttendance><AttendanceYear>{self.cal.year}</AttendanceYear>"
                f"<Term>{term}</Term><SessionsPossible>{possible}</SessionsPossible>"
                f"<SessionsAuthorised>{authorised}</SessionsAuthorised>"
                f"<SessionsUnauthorised>{unauthorised}</SessionsUnauthorised>"
                f"<AttendanceReason><AttendanceReasonCode>{_pick(rng, 'IMEGOU')}</AttendanceReasonCode>"
                f"<AttendanceSessions>{authorised + unauthorised}</AttendanceSessions>"
                "</AttendanceReason></TermlyAttendance></Attendance>")

    def unknown(self, rate: float) -> str:
        if self.rng.random() >= rate:
            return ""
        return _pick(self.rng, (
            "<SupplierExtension><Field>HouseGroup</Field><Value>Blue</Value></SupplierExtension>",
            "<LocalFlags><Flag>TRIP-CONSENT</Flag></LocalFlags>",
            "<PupilPremiumNotes>see file</PupilPremiumNotes>",
        ))

    def school_block(self, school: School, pupils: int) -> str:
        rng = self.rng
        lowest, highest = ("R", "6") if school.phase == "primary" else ("7", "13")
        return (f"<School><LEA>{school.la}</LEA><Estab>{school.estab:04d}</Estab>"
                f"<SchoolName>{_e(school.name)}</SchoolName><Phase>"
                f"{'PS' if school.phase == 'primary' else 'SS'}</Phase>"
                f"<Governance>{_pick(rng, ('CO', 'VA', 'VC', 'FO', 'AC'))}</Governance>"
                f"<LowestNCyear>{lowest}</LowestNCyear><HighestNCyear>{highest}</HighestNCyear>"
                f"<IntakeType>COMP</IntakeType><PupilCount>{pupils}</PupilCount>"
                f"<FSMtaken>{_between(rng, 0, max(1, pupils // 4))}</FSMtaken>"
                f"<TeachingStaff>{max(1, pupils // 20)}</TeachingStaff>"
                f"<ClassSizes><Class><Size>{_between(rng, 18, 32)}</Size></Class></ClassSizes></School>")

    def ctf_basic_extras(self, child: Child) -> str:
        rng, group = self.rng, child.family.group
        return (f"<NCyearActual>{_fmt_ncy(child.ncy)}</NCyearActual>"
                f"<Ethnicity>{_pick(rng, _ETHNICITY[group])}</Ethnicity>"
                f"<EthnicitySource>{_pick(rng, 'PC')}</EthnicitySource>"
                f"<Languages><Type><LanguageType>F</LanguageType><Language>"
                f"{_LANGUAGE[group] if rng.random() < 0.7 else 'ENG'}</Language></Type></Languages>"
                f"<MedicalFlag>{_bool(rng.random() < 0.08)}</MedicalFlag>"
                f"<Disabilities><Disability>{_pick(rng, ('NONE', 'NONE', 'NONE', 'HEAR', 'VIS', 'MOB'))}"
                "</Disability></Disabilities><EnrolStatus>C</EnrolStatus>")

    def ctf_histories(self, child: Child) -> str:
        rng = self.rng
        fsm = ""
        if rng.random() < 0.25:
            fsm = (f"<FSMinstance><FSMstartDate>{self._date(child.dob + dt.timedelta(days=1500), 900)}"
                   "</FSMstartDate><UKcountry>ENG</UKcountry></FSMinstance>")
        in_care = child.family.looked_after
        sen = ""
        if rng.random() < 0.15:
            sen = (f"<SEN><StartDate>{self._date(child.dob + dt.timedelta(days=1800), 700)}</StartDate>"
                   f"<SENprovision>K</SENprovision></SEN><SENneeds><SENneed><SENtypeRank>1</SENtypeRank>"
                   f"<SENtype>{_pick(rng, _SEN_TYPES)}</SENtype></SENneed></SENneeds>")
        return (f"<FSMhistory><FSMreviewDate>{self.cal.year}-09-01</FSMreviewDate>"
                f"<LastFSM>{self.cal.year - 1}-07-20</LastFSM>{fsm}</FSMhistory>"
                "<NAWdetails><SENprovision>N</SENprovision></NAWdetails>"
                f"<LookedAfter><InCare>{_bool(in_care)}</InCare>"
                f"{'<CareAuthority>' + str(_between(rng, 800, 938)) + '</CareAuthority>' if in_care else ''}"
                f"</LookedAfter><SENhistory>{sen}</SENhistory>")

    def ctf_attainment(self, child: Child) -> str:
        rng = self.rng
        assessments = []
        for stage, min_ncy in (("EYFSP", 1), ("KS1", 3), ("KS2", 7)):
            if child.ncy >= min_ncy:
                subject = _pick(rng, _SUBJECTS)
                result = _pick(rng, ("EXS", "WTS", "GDS", "HNM", "AS")) if stage != "KS2" \
                    else str(_between(rng, 85, 120))
                assessments.append(
                    f"<KeyStage><Stage>{stage}</Stage><StageAssessment><Locale>0</Locale>"
                    f"<Year>{self.cal.year - (child.ncy - min_ncy) - 1}</Year><Subject>{subject}"
                    f"</Subject><Method>TT</Method><Component>{subject}</Component>"
                    f"<ResultStatus>A</ResultStatus><ResultQualifier>NV</ResultQualifier>"
                    f"<Result>{result}</Result></StageAssessment></KeyStage>")
        possible = _between(rng, 300, 380)
        return (f"<Attendance><YearData><Year>{self.cal.year - 1}</Year><DaysPossible>{possible}"
                f"</DaysPossible><DaysAttended>{possible - _between(rng, 0, 40)}</DaysAttended>"
                f"<AuthorisedAbsences>{_between(rng, 0, 20)}</AuthorisedAbsences>"
                f"<UnauthorisedAbsences>{_between(rng, 0, 10)}</UnauthorisedAbsences></YearData>"
                f"</Attendance><StageAssessments>{''.join(assessments)}</StageAssessments>")


def _census_address(address: Address, style: str) -> str:
    if style == "bs7666":
        return (f"<HomeInformation><Address><BS7666Address>{_opt('SAON', address.saon)}"
                f"<PAON>{_e(address.paon)}</PAON><Street>{_e(address.street)}</Street>"
                f"{_opt('Locality', address.locality)}<Town>{_e(address.town)}</Town>"
                f"<PostTown>{_e(address.post_town)}</PostTown>"
                f"<UniquePropertyReferenceNumber>{address.uprn}</UniquePropertyReferenceNumber>"
                f"</BS7666Address><PostCode>{address.postcode}</PostCode></Address></HomeInformation>")
    lines = [*address.lines(), address.town]
    body = "".join(f"<AddressLine{i}>{_e(line)}</AddressLine{i}>" for i, line in enumerate(lines, 1))
    return (f"<HomeInformation><Address><PostCode>{address.postcode}</PostCode>"
            f"<LineAddressFormat>{body}</LineAddressFormat></Address></HomeInformation>")


def _census_identifiers(rec: SourceRecord, sex_tag: str) -> str:
    return (f"<PupilIdentifiers>{_opt('UPN', rec.upn)}{_opt('UniqueLearnerNumber', rec.uln)}"
            f"<Surname>{_e(rec.surname)}</Surname><Forename>{_e(rec.given)}</Forename>"
            f"{_opt('MiddleNames', rec.middle)}{_opt('FormerSurname', rec.former_surname)}"
            f"<{sex_tag}>{rec.sex}</{sex_tag}><DOB>{rec.dob.isoformat()}</DOB></PupilIdentifiers>")


def render_census(file: SourceFile, deco: _Decorator, calendar: Calendar) -> str:
    school = file.school
    assert school is not None and file.term is not None
    term = file.term
    census_day = calendar.autumn_census if term == "AUT" else calendar.spring_census
    on_roll = [r for r in file.records if r.on_roll]
    leavers = [r for r in file.records if not r.on_roll]
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<Message><Header><CollectionDetails>'
        f"<Collection>SC</Collection><Term>{term}</Term><Year>{census_day.year}</Year>"
        f"<ReferenceDate>{census_day.isoformat()}</ReferenceDate></CollectionDetails><Source>"
        f"<SourceLevel>S</SourceLevel><LEA>{school.la}</LEA><Estab>{school.estab:04d}</Estab>"
        f"<SoftwareCode>{_e(school.software)}</SoftwareCode><Release>7.{_between(deco.rng, 150, 230)}"
        f"</Release><SerialNo>{_between(deco.rng, 1, 9)}</SerialNo><DateTime>"
        f"{(census_day + dt.timedelta(days=_between(deco.rng, 1, 9))).isoformat()}T"
        f"{_between(deco.rng, 8, 17):02d}:{_below(deco.rng, 60):02d}:00</DateTime></Source>"
        "<Content><CBDSLevels><CBDSLevel>School</CBDSLevel><CBDSLevel>Pupil</CBDSLevel>"
        "</CBDSLevels></Content></Header>\n",
        deco.school_block(school, len(on_roll)), "\n<Pupils>",
    ]
    if school.wrapper:
        out.append("<PupilsOnRoll>")
    forced = len(on_roll) // 2
    for i, rec in enumerate(on_roll):
        child = rec.child
        out.append(
            f"\n<PupilOnRoll>{_census_identifiers(rec, school.sex_tag)}"
            f"{deco.characteristics(child)}<PupilStatus><EntryDate>"
            f"{rec.entry_date.isoformat() if rec.entry_date else ''}</EntryDate><NCyearActual>"
            f"{_fmt_ncy(child.ncy)}</NCyearActual><Boarder>N</Boarder><PartTime>false</PartTime>"
            f"<EnrolStatus>C</EnrolStatus></PupilStatus>{deco.sen()}{deco.exclusions(i == forced)}"
            f"{deco.census_attendance(term)}"
            f"{_census_address(rec.address, school.address_style) if rec.address else ''}"
            f"{deco.unknown(0.01)}</PupilOnRoll>")
    if school.wrapper:
        out.append("</PupilsOnRoll>")
    if leavers:
        out.append("\n<PupilsNoLongerOnRoll>")
        for rec in leavers:
            out.append(
                f"\n<PupilNoLongerOnRoll>{_census_identifiers(rec, school.sex_tag)}<PupilStatus>"
                f"<EntryDate>{rec.entry_date.isoformat() if rec.entry_date else ''}</EntryDate>"
                f"<LeavingDate>{rec.leaving_date.isoformat() if rec.leaving_date else ''}"
                f"</LeavingDate></PupilStatus>{deco.exclusions(False)}"
                f"{deco.census_attendance(term)}</PupilNoLongerOnRoll>")
        out.append("</PupilsNoLongerOnRoll>")
    out.append("</Pupils>\n</Message>\n")
    return "".join(out)


def _ctf_address(address: Address, bs7666: bool) -> str:
    if bs7666:
        inner = (f"<BS7666Address>{_opt('SAON', address.saon)}<PAON>{_e(address.paon)}</PAON>"
                 f"<Street>{_e(address.street)}</Street>{_opt('Locality', address.locality)}"
                 f"<Town>{_e(address.town)}</Town><PostTown>{_e(address.post_town)}</PostTown>"
                 f"<UniquePropertyReferenceNumber>{address.uprn}</UniquePropertyReferenceNumber>"
                 "</BS7666Address>")
    else:
        lines = [*address.lines(), address.town]
        inner = "<AddressLines>" + "".join(
            f"<AddressLine{i}>{_e(line)}</AddressLine{i}>" for i, line in enumerate(lines, 1)
        ) + "</AddressLines>"
    return f"<Address>{inner}<PostCode>{address.postcode}</PostCode><Country>GBR</Country></Address>"


def _phones(phones: list[tuple[str, str]]) -> str:
    if not phones:
        return ""
    return "<Phones>" + "".join(
        f"<Phone><TelephoneType>{kind}</TelephoneType><PhoneNo>{number}</PhoneNo></Phone>"
        for kind, number in phones) + "</Phones>"


def _contact(carer: Carer, bs7666: bool) -> str:
    address = "<Address><AddressAsPupil>true</AddressAsPupil></Address>" if carer.address is None \
        else _ctf_address(carer.address, bs7666)
    return (f"<Contact><Order>{carer.order}</Order><Title>{carer.title}</Title>"
            f"<Surname>{_e(carer.family)}</Surname><Forename>{_e(carer.given)}</Forename>"
            f"<Gender>{carer.sex}</Gender><Relationship>{carer.relationship}</Relationship>"
            f"<Responsibility>{_bool(carer.responsibility)}</Responsibility>{address}"
            f"{_phones(carer.phones)}{_opt('Email', carer.email)}</Contact>")


def render_ctf(file: SourceFile, deco: _Decorator, calendar: Calendar) -> str:
    source, dest = file.school, file.dest
    assert source is not None and dest is not None
    sex_tag = "Sex" if float(source.ctf_version) >= 25 else "Gender"
    bs7666 = source.address_style == "bs7666"
    leaving = min((r.leaving_date for r in file.records if r.leaving_date),
                  default=calendar.autumn_census)
    stamp = f"{(leaving + dt.timedelta(days=1)).isoformat()}T{_between(deco.rng, 8, 17):02d}:" \
            f"{_below(deco.rng, 60):02d}:00"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<CTfile><Header><DocumentName>Common Transfer '
        f"File</DocumentName><CTFversion>{source.ctf_version}</CTFversion><DateTime>{stamp}"
        "</DateTime><DocumentQualifier>full</DocumentQualifier><DataDescriptor/><SupplierID>"
        f"{_e(source.software)}</SupplierID><SourceSchool><LEA>{source.la}</LEA><Estab>"
        f"{source.estab:04d}</Estab><URN>{source.urn}</URN><SchoolName>{_e(source.name)}"
        f"</SchoolName><AcademicYear>{calendar.year}</AcademicYear></SourceSchool><DestSchool>"
        f"<LEA>{dest.la}</LEA><Estab>{dest.estab:04d}</Estab></DestSchool>"
        f"{deco.unknown(0.1)}</Header>\n<CTFpupilData>",
    ]
    for rec in file.records:
        child = rec.child
        history = []
        if child.previous_school and child.previous_school is not source:
            prev = child.previous_school
            history.append(
                f"<School><LEA>{prev.la}</LEA><Estab>{prev.estab:04d}</Estab><SchoolName>"
                f"{_e(prev.name)}</SchoolName><EntryDate>{calendar.year - child.ncy + 0}-09-03"
                f"</EntryDate><LeavingDate>{calendar.year - child.ncy + 7}-07-21</LeavingDate>"
                "<LeavingReason>TRN</LeavingReason><LastSchool>false</LastSchool></School>")
        history.append(
            f"<School><LEA>{source.la}</LEA><Estab>{source.estab:04d}</Estab><SchoolName>"
            f"{_e(source.name)}</SchoolName><EntryDate>"
            f"{rec.entry_date.isoformat() if rec.entry_date else ''}</EntryDate>"
            f"{_opt('LeavingDate', rec.leaving_date.isoformat() if rec.leaving_date else None)}"
            "<LeavingReason>TRN</LeavingReason><LastSchool>true</LastSchool></School>")
        email = child.family.carers[0].email if deco.rng.random() < 0.3 else None
        out.append(
            f"\n<Pupil>{_opt('UPN', rec.upn)}{_opt('UniqueLearnerNumber', rec.uln)}"
            f"<Surname>{_e(rec.surname)}</Surname><Forename>{_e(rec.given)}</Forename>"
            f"<DOB>{rec.dob.isoformat()}</DOB><{sex_tag}>{rec.sex}</{sex_tag}><BasicDetails>"
            f"{_opt('FormerSurname', rec.former_surname)}{_opt('MiddleNames', rec.middle)}"
            f"{deco.ctf_basic_extras(child)}</BasicDetails>{deco.ctf_histories(child)}"
            f"{_ctf_address(rec.address, bs7666) if rec.address else ''}"
            f"{_phones(child.family.carers[0].phones[:1])}{_opt('Email', email)}<Contacts>"
            f"{''.join(_contact(c, bs7666) for c in child.family.carers)}</Contacts>"
            f"{deco.ctf_attainment(child)}<SchoolHistory>{''.join(history)}</SchoolHistory>"
            f"{deco.unknown(0.05)}</Pupil>")
    out.append("</CTFpupilData>\n</CTfile>\n")
    return "".join(out)


def _feed_row(rec: SourceRecord, row_id: str) -> list[str]:
    service = rec.service
    assert service is not None
    address = rec.address
    lines = address.lines() if address else []
    values = {
        "record_id": row_id, "given_name": rec.given, "middle_names": rec.middle or "",
        "family_name": rec.surname, "date_of_birth": rec.dob.isoformat(), "sex": rec.sex,
        "address_line1": lines[0] if lines else "", "address_line2": ", ".join(lines[1:]),
        "town": address.town if address else "", "postcode": address.postcode if address else "",
        "upn": rec.upn or "", "nhs_number": rec.nhs or "", "uln": rec.uln or "",
        "la_reference": rec.la_ref or "", "service_type": service.service_type,
        "organisation_name": service.organisation_name,
        "organisation_code": service.organisation_code or "",
        "practitioner_name": service.practitioner or "", "contact_phone": service.phone or "",
        "contact_email": service.email or "",
        "start_date": service.start.isoformat() if service.start else "",
        "end_date": service.end.isoformat() if service.end else "",
        "lead_professional": _bool(service.lead), "consent_basis": service.consent,
    }
    return [values[column] for column in SERVICE_FEED_COLUMNS]


def render_feed(file: SourceFile) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SERVICE_FEED_COLUMNS)
    prefix = FEED_ROW_PREFIX.get(file.service or "", "ROW")
    for rec in file.records:
        writer.writerow(_feed_row(rec, f"{prefix}-{rec.child.id:08d}-{rec.record_ref[5:]}"))
    return buffer.getvalue()


def render(file: SourceFile, chunk: Chunk, deco: _Decorator) -> str:
    if file.kind == "census":
        return render_census(file, deco, chunk.calendar)
    if file.kind == "ctf":
        return render_ctf(file, deco, chunk.calendar)
    return render_feed(file)


# ------------------------------------------------------------------------- ChildRecords


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


# ----------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class AreaSummary:
    children: int
    chunks: int
    census_files: int
    ctf_files: int
    feed_files: int
    records: int
    bytes_written: int
    seconds: float

    @property
    def files(self) -> int:
        return self.census_files + self.ctf_files + self.feed_files


def iter_true_children(children: int, la: str, seed: int, noise: NoiseRates | None = None, *,
                       year: int = DEFAULT_ACADEMIC_YEAR, validate: bool = False,
                       chunk_children: int = CHUNK_CHILDREN,
                       ) -> Iterator[tuple[int, ChildRecord]]:
    """(true child id, the child's true ChildRecord) for every child of the area, streaming.

    The same children as `write_area` with the same arguments (its noise rates decide who moves,
    changes surname or school, so pass the same ones)."""
    _check_la(la)
    for index, quota in _chunks(children, chunk_children):
        chunk = build_chunk(index, quota, la, seed, year=year, noise=noise,
                            chunk_children=chunk_children)
        for child in chunk.children:
            yield child.id, true_record(child, la, validate=validate)


def iter_source_records(children: int, la: str, seed: int, noise: NoiseRates | None = None, *,
                        year: int = DEFAULT_ACADEMIC_YEAR, chunk_children: int = CHUNK_CHILDREN,
                        ) -> Iterator[SourceRecord]:
    """Every source record of the area with its noise flags and its true child."""
    noise = noise or NoiseRates()
    for index, quota in _chunks(children, chunk_children):
        chunk = build_chunk(index, quota, la, seed, year=year, noise=noise,
                            chunk_children=chunk_children)
        for file in source_files(chunk, noise, seed):
            yield from file.records


def iter_noisy_records(children: int, la: str, seed: int, noise: NoiseRates | None = None, *,
                       year: int = DEFAULT_ACADEMIC_YEAR, validate: bool = False,
                       chunk_children: int = CHUNK_CHILDREN,
                       ) -> Iterator[tuple[str, str, int, ChildRecord]]:
    """(source_file, record_ref, true_child_id, ChildRecord as the feed reports it): the same
    records `write_area` writes, without the XML."""
    _check_la(la)
    for rec in iter_source_records(children, la, seed, noise, year=year,
                                   chunk_children=chunk_children):
        yield rec.source_file, rec.record_ref, rec.child.id, noisy_record(rec, la, validate=validate)


_OUTPUTS = ("census", "ctf", "feeds", "truth.csv")


@dataclass(frozen=True)
class _ChunkJob:
    out: Path
    index: int
    quota: int
    la: str
    seed: int
    year: int
    noise: NoiseRates
    chunk_children: int


@dataclass(frozen=True)
class _ChunkDone:
    truth: str
    counts: dict[str, int]
    records: int
    written: int


def _write_chunk(job: _ChunkJob) -> _ChunkDone:
    """Write one chunk's files; its truth rows come back to be written in chunk order."""
    chunk = build_chunk(job.index, job.quota, job.la, job.seed, year=job.year, noise=job.noise,
                        chunk_children=job.chunk_children)
    deco = _Decorator(random.Random(f"childindex-synth/{job.seed}/{job.la}/{job.index}/files"),
                      chunk.calendar)
    counts = {"census": 0, "ctf": 0, "feed": 0}
    lines: list[str] = []
    records = written = 0
    for file in source_files(chunk, job.noise, job.seed):
        data = render(file, chunk, deco).encode("utf-8")
        (job.out / file.path).write_bytes(data)
        written += len(data)
        counts[file.kind] += 1
        records += len(file.records)
        lines.extend(f"{r.source_file},{r.record_ref},{r.child.id}\n" for r in file.records)
    return _ChunkDone("".join(lines), counts, records, written)


def write_area(out: Path, children: int, la: str, seed: int, noise: NoiseRates | None = None, *,
               year: int = DEFAULT_ACADEMIC_YEAR, replace: bool = False,
               chunk_children: int = CHUNK_CHILDREN, workers: int = 1) -> AreaSummary:
    """Write the area's feeds and truth.csv under `out` (which must not already hold an area
    unless `replace`, which removes only what an earlier run wrote).

    `workers` > 1 writes chunks in that many processes; the output is the same byte for byte,
    since every chunk depends only on its own seed and truth rows are written in chunk order.
    """
    _check_la(la)
    noise = noise or NoiseRates()
    started = time.perf_counter()
    out = Path(out)
    jobs = [_ChunkJob(out, index, quota, la, seed, year, noise, chunk_children)
            for index, quota in _chunks(children, chunk_children)]
    existing = [out / name for name in _OUTPUTS if (out / name).exists()]
    if existing and not replace:
        raise FileExistsError(f"{out} already holds a synthetic area (use replace)")
    for path in existing:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    for sub in ("census", "ctf", "feeds"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    counts = {"census": 0, "ctf": 0, "feed": 0}
    records = written = 0
    with (out / "truth.csv").open("w", encoding="utf-8", newline="") as truth:
        truth.write("source_file,record_ref,true_child_id\n")
        if workers > 1 and len(jobs) > 1:
            # fork where there is one: workers start at once, with the tables already loaded.
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            with context.Pool(min(workers, len(jobs))) as pool:
                results = pool.imap(_write_chunk, jobs)
                done = list(_consume(results, truth))
        else:
            done = list(_consume(map(_write_chunk, jobs), truth))
    for result in done:
        for kind, count in result.counts.items():
            counts[kind] += count
        records += result.records
        written += result.written
    return AreaSummary(children, len(jobs), counts["census"], counts["ctf"], counts["feed"],
                       records, written, time.perf_counter() - started)


def _consume(results: Iterator[_ChunkDone], truth: io.TextIOBase) -> Iterator[_ChunkDone]:
    for result in results:
        truth.write(result.truth)
        # Keep the counts, drop the (large) truth text: memory stays bounded.
        yield _ChunkDone("", result.counts, result.records, result.written)


_DEFAULTS = NoiseRates()


def _rate(flag: str, help_text: str) -> object:
    return typer.Option(flag, min=0.0, max=1.0, help=help_text)


def command(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the area into.")],
    children: Annotated[int, typer.Option("--children", min=1, help="Number of children.")] = 1000,
    la: Annotated[str, typer.Option("--la", help="Three-digit LA number.")] = "823",
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same files.")] = 1,
    year: Annotated[int, typer.Option("--year", help="Academic year (starting September).")] =
        DEFAULT_ACADEMIC_YEAR,
    replace: Annotated[bool, typer.Option("--replace", help="Replace an area already in --out.")]
        = False,
    workers: Annotated[int, typer.Option("--workers", min=1,
                                         help="Processes writing chunks (output is identical).")]
        = min(2, os.cpu_count() or 1),
    typo_rate: Annotated[float, _rate("--typo-rate", "Records with a typo in a name.")]
        = _DEFAULTS.typo_rate,
    short_form_rate: Annotated[float, _rate("--short-form-rate", "Records with a short given name.")]
        = _DEFAULTS.short_form_rate,
    swap_dob_rate: Annotated[float, _rate("--swap-dob-rate", "Records with day and month swapped.")]
        = _DEFAULTS.swap_dob_rate,
    dob_typo_rate: Annotated[float, _rate("--dob-typo-rate", "Records with one DOB digit wrong.")]
        = _DEFAULTS.dob_typo_rate,
    move_rate: Annotated[float, _rate("--move-rate", "Families moving house between terms.")]
        = _DEFAULTS.move_rate,
    surname_change_rate: Annotated[float, _rate("--surname-change-rate",
                                                "Children changing surname between terms.")]
        = _DEFAULTS.surname_change_rate,
    missing_upn_rate: Annotated[float, _rate("--missing-upn-rate", "Records missing the UPN.")]
        = _DEFAULTS.missing_upn_rate,
    missing_nhs_rate: Annotated[float, _rate("--missing-nhs-rate", "Records missing the NHS number.")]
        = _DEFAULTS.missing_nhs_rate,
    transfer_rate: Annotated[float, _rate("--transfer-rate", "Pupils changing school (with a CTF).")]
        = _DEFAULTS.transfer_rate,
    invalid_id_rate: Annotated[float, _rate("--invalid-id-rate", "Identifiers written invalid.")]
        = _DEFAULTS.invalid_id_rate,
    format_rate: Annotated[float, _rate("--format-rate",
                                        "Names formatted differently (accents, hyphens, case).")]
        = _DEFAULTS.format_rate,
) -> None:
    """Write a realistic, deterministic synthetic area for one LA, with truth.csv."""
    noise = NoiseRates(
        typo_rate=typo_rate, short_form_rate=short_form_rate, swap_dob_rate=swap_dob_rate,
        dob_typo_rate=dob_typo_rate, move_rate=move_rate, surname_change_rate=surname_change_rate,
        missing_upn_rate=missing_upn_rate, missing_nhs_rate=missing_nhs_rate,
        transfer_rate=transfer_rate, invalid_id_rate=invalid_id_rate, format_rate=format_rate,
    )
    if Calendar(year).extract_date > dt.date.today():
        typer.secho("error: --year is too recent: its spring term has not happened yet",
                    err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2)
    try:
        summary = write_area(out, children, la, seed, noise, year=year, replace=replace,
                             workers=workers)
    except (ValueError, FileExistsError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    typer.echo(
        f"wrote {summary.children} children for LA {la} to {out}: {summary.census_files} census, "
        f"{summary.ctf_files} CTF and {summary.feed_files} feed files, {summary.records} source "
        f"records, {summary.bytes_written / 1e6:.1f} MB in {summary.seconds:.1f} s"
    )


__all__ = [
    "AreaSummary",
    "NoiseRates",
    "SourceRecord",
    "build_chunk",
    "command",
    "iter_noisy_records",
    "iter_source_records",
    "iter_true_children",
    "make_nhs_number",
    "make_uln",
    "make_upn",
    "write_area",
]
