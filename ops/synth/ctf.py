"""Writer of Common Transfer Files (CTfile XML, one per pair of schools)."""

from __future__ import annotations

import datetime as dt

from ops.synth.decoration import (
    Decorator,
    esc,
    opt,
    yes_no,
)
from ops.synth.draws import below, between
from ops.synth.model import (
    Address,
    Calendar,
    Carer,
    SourceFile,
)


def _ctf_address(address: Address, bs7666: bool) -> str:
    if bs7666:
        inner = (f"<BS7666Address>{opt('SAON', address.saon)}<PAON>{esc(address.paon)}</PAON>"
                 f"<Street>{esc(address.street)}</Street>{opt('Locality', address.locality)}"
                 f"<Town>{esc(address.town)}</Town><PostTown>{esc(address.post_town)}</PostTown>"
                 f"<UniquePropertyReferenceNumber>{address.uprn}</UniquePropertyReferenceNumber>"
                 "</BS7666Address>")
    else:
        lines = [*address.lines(), address.town]
        inner = "<AddressLines>" + "".join(
            f"<AddressLine{i}>{esc(line)}</AddressLine{i}>" for i, line in enumerate(lines, 1)
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
            f"<Surname>{esc(carer.family)}</Surname><Forename>{esc(carer.given)}</Forename>"
            f"<Gender>{carer.sex}</Gender><Relationship>{carer.relationship}</Relationship>"
            f"<Responsibility>{yes_no(carer.responsibility)}</Responsibility>{address}"
            f"{_phones(carer.phones)}{opt('Email', carer.email)}</Contact>")


def render_ctf(file: SourceFile, deco: Decorator, calendar: Calendar) -> str:
    source, dest = file.school, file.dest
    assert source is not None and dest is not None
    sex_tag = "Sex" if float(source.ctf_version) >= 25 else "Gender"
    bs7666 = source.address_style == "bs7666"
    leaving = min((r.leaving_date for r in file.records if r.leaving_date),
                  default=calendar.autumn_census)
    stamp = f"{(leaving + dt.timedelta(days=1)).isoformat()}T{between(deco.rng, 8, 17):02d}:" \
            f"{below(deco.rng, 60):02d}:00"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<CTfile><Header><DocumentName>Common Transfer '
        f"File</DocumentName><CTFversion>{source.ctf_version}</CTFversion><DateTime>{stamp}"
        "</DateTime><DocumentQualifier>full</DocumentQualifier><DataDescriptor/><SupplierID>"
        f"{esc(source.software)}</SupplierID><SourceSchool><LEA>{source.la}</LEA><Estab>"
        f"{source.estab:04d}</Estab><URN>{source.urn}</URN><SchoolName>{esc(source.name)}"
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
                f"{esc(prev.name)}</SchoolName><EntryDate>{calendar.year - child.ncy + 0}-09-03"
                f"</EntryDate><LeavingDate>{calendar.year - child.ncy + 7}-07-21</LeavingDate>"
                "<LeavingReason>TRN</LeavingReason><LastSchool>false</LastSchool></School>")
        history.append(
            f"<School><LEA>{source.la}</LEA><Estab>{source.estab:04d}</Estab><SchoolName>"
            f"{esc(source.name)}</SchoolName><EntryDate>"
            f"{rec.entry_date.isoformat() if rec.entry_date else ''}</EntryDate>"
            f"{opt('LeavingDate', rec.leaving_date.isoformat() if rec.leaving_date else None)}"
            "<LeavingReason>TRN</LeavingReason><LastSchool>true</LastSchool></School>")
        email = child.family.carers[0].email if deco.rng.random() < 0.3 else None
        out.append(
            f"\n<Pupil>{opt('UPN', rec.upn)}{opt('UniqueLearnerNumber', rec.uln)}"
            f"<Surname>{esc(rec.surname)}</Surname><Forename>{esc(rec.given)}</Forename>"
            f"<DOB>{rec.dob.isoformat()}</DOB><{sex_tag}>{rec.sex}</{sex_tag}><BasicDetails>"
            f"{opt('FormerSurname', rec.former_surname)}{opt('MiddleNames', rec.middle)}"
            f"{deco.ctf_basic_extras(child)}</BasicDetails>{deco.ctf_histories(child)}"
            f"{_ctf_address(rec.address, bs7666) if rec.address else ''}"
            f"{_phones(child.family.carers[0].phones[:1])}{opt('Email', email)}<Contacts>"
            f"{''.join(_contact(c, bs7666) for c in child.family.carers)}</Contacts>"
            f"{deco.ctf_attainment(child)}<SchoolHistory>{''.join(history)}</SchoolHistory>"
            f"{deco.unknown(0.05)}</Pupil>")
    out.append("</CTFpupilData>\n</CTfile>\n")
    return "".join(out)
