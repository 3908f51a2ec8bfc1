"""Small census and CTF files for the submission and nightly-run tests (fictional pupils)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from index.identifiers import upn_check_letter

LA, ESTAB = "823", "1234"
SCHOOL = LA + ESTAB


def upn(serial: int, la: str = LA) -> str:
    body = f"{la}{serial:09d}"
    return upn_check_letter(body) + body


@dataclass
class Pupil:
    serial: int
    surname: str
    forename: str
    dob: str
    sex: str = "F"
    house: str = "1"
    street: str = "Mill Lane"
    town: str = "Ampthill"
    postcode: str = "MK45 2AB"
    entry: str = "2021-09-01"
    leaving: str | None = None
    contacts: list[tuple[str, str, str, str]] = field(default_factory=list)  # forename, surname, rel, phone

    @property
    def upn(self) -> str:
        return upn(self.serial)


def _census_pupil(p: Pupil, extra: str = "") -> str:
    leaving = f"<LeavingDate>{p.leaving}</LeavingDate>" if p.leaving else ""
    tag = "PupilNoLongerOnRoll" if p.leaving else "PupilOnRoll"
    return (
        f"<{tag}><PupilIdentifiers><UPN>{p.upn}</UPN><Surname>{p.surname}</Surname>"
        f"<Forename>{p.forename}</Forename><Sex>{p.sex}</Sex><DOB>{p.dob}</DOB></PupilIdentifiers>"
        f"<PupilCharacteristics><Ethnicity>WBRI</Ethnicity></PupilCharacteristics>{extra}"
        f"<PupilStatus><EntryDate>{p.entry}</EntryDate>{leaving}</PupilStatus>"
        f"<HomeInformation><Address><BS7666Address><PAON>{p.house}</PAON><Street>{p.street}</Street>"
        f"<Town>{p.town}</Town></BS7666Address><PostCode>{p.postcode}</PostCode></Address>"
        f"</HomeInformation></{tag}>\n"
    )


def census_xml(pupils: list[Pupil], *, reference: str = "2025-10-02", term: str = "AUT",
               la: str = LA, estab: str = ESTAB) -> str:
    on_roll = "".join(_census_pupil(p) for p in pupils if not p.leaving)
    leavers = "".join(_census_pupil(p) for p in pupils if p.leaving)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Message><Header><CollectionDetails>'
        f"<Collection>SC</Collection><Term>{term}</Term><Year>{reference[:4]}</Year>"
        f"<ReferenceDate>{reference}</ReferenceDate></CollectionDetails><Source><SourceLevel>S</SourceLevel>"
        f"<LEA>{la}</LEA><Estab>{estab}</Estab></Source></Header><Pupils>\n"
        f"<PupilsOnRoll>\n{on_roll}</PupilsOnRoll>\n"
        f"<PupilsNoLongerOnRoll>\n{leavers}</PupilsNoLongerOnRoll></Pupils></Message>\n"
    )


def ctf_xml(pupils: list[Pupil], *, when: str = "2025-11-01", la: str = LA, estab: str = ESTAB) -> str:
    body = []
    for p in pupils:
        contacts = "".join(
            f"<Contact><Order>{n}</Order><Surname>{s}</Surname><Forename>{f}</Forename>"
            f"<Relationship>{r}</Relationship><Responsibility>true</Responsibility>"
            f"<Address><AddressAsPupil>true</AddressAsPupil></Address>"
            f"<Phones><Phone><TelephoneType>M</TelephoneType><PhoneNo>{phone}</PhoneNo></Phone></Phones>"
            f"</Contact>"
            for n, (f, s, r, phone) in enumerate(p.contacts, start=1))
        body.append(
            f"<Pupil><UPN>{p.upn}</UPN><Surname>{p.surname}</Surname><Forename>{p.forename}</Forename>"
            f"<DOB>{p.dob}</DOB><Sex>{p.sex}</Sex>"
            f"<Address><BS7666Address><PAON>{p.house}</PAON><Street>{p.street}</Street>"
            f"<Town>{p.town}</Town></BS7666Address><PostCode>{p.postcode}</PostCode></Address>"
            f"<Contacts>{contacts}</Contacts></Pupil>\n")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<CTfile><Header><DocumentName>Common Transfer File'
        f"</DocumentName><CTFversion>25.0</CTFversion><DateTime>{when}T10:00:00</DateTime>"
        "<DocumentQualifier>partial</DocumentQualifier>"
        f"<SourceSchool><LEA>{la}</LEA><Estab>{estab}</Estab><SchoolName>Greenfield Primary</SchoolName>"
        f"<AcademicYear>{when[:4]}</AcademicYear></SourceSchool><DestSchool><LEA>{la}</LEA><Estab>5678</Estab>"
        "</DestSchool></Header><CTFpupilData>\n" + "".join(body) + "</CTFpupilData></CTfile>\n"
    )


_SURNAMES = ("Okafor", "Nowak", "Evans", "Khan", "Patel", "Brown", "Jones", "Smith", "Garcia", "Ahmed",
             "Murphy", "Wilson", "Taylor", "Davies", "Lewis", "Walker", "Young", "Hughes", "Price", "Bell")
_FORENAMES = ("Amara", "Jan", "Rhys", "Olivia", "Mohammed", "Isla", "Noah", "Ava", "Leo", "Maya",
              "Ella", "Finn", "Zara", "Omar", "Ruby", "Theo", "Lily", "Adam", "Erin", "Sami")
_UNIT = "ABDEFGHJLNPQRSTUWXYZ"


def random_pupils(count: int, seed: int = 1, first_serial: int = 1) -> list[Pupil]:
    """Distinct fictional pupils (distinct UPNs; names and dates drawn with `seed`)."""
    rng = random.Random(seed)
    return [
        Pupil(serial=first_serial + i, surname=rng.choice(_SURNAMES), forename=rng.choice(_FORENAMES),
              dob=f"{rng.randint(2010, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
              sex=rng.choice("MF"), house=str(rng.randint(1, 150)),
              postcode=f"MK45 {rng.randint(1, 9)}{rng.choice(_UNIT)}{rng.choice(_UNIT)}")
        for i in range(count)
    ]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
