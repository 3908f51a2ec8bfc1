"""Writer of School Census XML (one Message per school and term)."""

from __future__ import annotations

import datetime as dt

from ops.synth.decoration import (
    Decorator,
    esc,
    fmt_ncy,
    opt,
)
from ops.synth.draws import below, between
from ops.synth.model import (
    Address,
    Calendar,
    SourceFile,
    SourceRecord,
)


def _census_address(address: Address, style: str) -> str:
    if style == "bs7666":
        return (f"<HomeInformation><Address><BS7666Address>{opt('SAON', address.saon)}"
                f"<PAON>{esc(address.paon)}</PAON><Street>{esc(address.street)}</Street>"
                f"{opt('Locality', address.locality)}<Town>{esc(address.town)}</Town>"
                f"<PostTown>{esc(address.post_town)}</PostTown>"
                f"<UniquePropertyReferenceNumber>{address.uprn}</UniquePropertyReferenceNumber>"
                f"</BS7666Address><PostCode>{address.postcode}</PostCode></Address></HomeInformation>")
    lines = [*address.lines(), address.town]
    body = "".join(f"<AddressLine{i}>{esc(line)}</AddressLine{i}>" for i, line in enumerate(lines, 1))
    return (f"<HomeInformation><Address><PostCode>{address.postcode}</PostCode>"
            f"<LineAddressFormat>{body}</LineAddressFormat></Address></HomeInformation>")


def _census_identifiers(rec: SourceRecord, sex_tag: str) -> str:
    return (f"<PupilIdentifiers>{opt('UPN', rec.upn)}{opt('UniqueLearnerNumber', rec.uln)}"
            f"<Surname>{esc(rec.surname)}</Surname><Forename>{esc(rec.given)}</Forename>"
            f"{opt('MiddleNames', rec.middle)}{opt('FormerSurname', rec.former_surname)}"
            f"<{sex_tag}>{rec.sex}</{sex_tag}><DOB>{rec.dob.isoformat()}</DOB></PupilIdentifiers>")


def render_census(file: SourceFile, deco: Decorator, calendar: Calendar) -> str:
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
        f"<SoftwareCode>{esc(school.software)}</SoftwareCode><Release>7.{between(deco.rng, 150, 230)}"
        f"</Release><SerialNo>{between(deco.rng, 1, 9)}</SerialNo><DateTime>"
        f"{(census_day + dt.timedelta(days=between(deco.rng, 1, 9))).isoformat()}T"
        f"{between(deco.rng, 8, 17):02d}:{below(deco.rng, 60):02d}:00</DateTime></Source>"
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
            f"{fmt_ncy(child.ncy)}</NCyearActual><Boarder>N</Boarder><PartTime>false</PartTime>"
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
