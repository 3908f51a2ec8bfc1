"""What the school files carry besides a pupil's identity, and how each school's software
writes it: the sections ingest must drop (ethnicity, language, FSM, SEN, attendance,
exclusions, assessments), filled with fake values, and the XML text helpers the writers share."""

from __future__ import annotations

import datetime as dt
import random
from xml.sax.saxutils import escape

from ops.synth.draws import below, between, pick
from ops.synth.model import (
    Calendar,
    Child,
    School,
)

# Fake values for the sections ingest must drop. Ethnicity and language by naming tradition.
ETHNICITY = {
    "british": ("WBRI", "WBRI", "WBRI", "WBRI", "WBRI", "WBRI", "MWBC", "MWBA", "MWAS", "WOTH"),
    "irish": ("WIRI", "WIRI", "WBRI"), "caribbean": ("BCRB", "BCRB", "MWBC"),
    "polish": ("WOTH", "WPOL"), "romanian": ("WOTH", "WROM"), "south_asian": ("APKN", "ABAN"),
    "indian": ("AIND",), "nigerian": ("BAFR", "BNGN"), "somali": ("BAFR", "BSOM"),
    "chinese": ("CHNE",), "arabic": ("OOTH", "AOTH"), "turkish": ("WOTH", "WTUR"),
    "portuguese": ("WOTH",),
}
LANGUAGE = {
    "british": "ENG", "irish": "ENG", "caribbean": "ENG", "polish": "POL", "romanian": "RUM",
    "south_asian": "URD", "indian": "PAN", "nigerian": "YOR", "somali": "SOM",
    "chinese": "CHI", "arabic": "ARA", "turkish": "TUR", "portuguese": "POR",
}
SEN_TYPES = ("SLCN", "SEMH", "SPLD", "MLD", "ASD", "OTH", "PD", "HI")
SUBJECTS = ("ENG", "MAT", "SCI", "REA", "WRI")


def esc(value: object) -> str:
    return escape(str(value))


def opt(tag: str, value: object | None) -> str:
    return "" if value is None or value == "" else f"<{tag}>{escape(str(value))}</{tag}>"


def yes_no(value: bool) -> str:
    return "true" if value else "false"


def fmt_ncy(ncy: int) -> str:
    return "N2" if ncy < 0 else "R" if ncy == 0 else str(ncy)


class Decorator:
    """Fake values for the sections ingest must drop (and the odd unknown element)."""

    def __init__(self, rng: random.Random, calendar: Calendar) -> None:
        self.rng, self.cal = rng, calendar

    def _date(self, start: dt.date, days: int) -> str:
        return (start + dt.timedelta(days=below(self.rng, max(1, days)))).isoformat()

    def characteristics(self, child: Child) -> str:
        rng, group = self.rng, child.family.group
        language = LANGUAGE[group] if rng.random() < 0.7 else "ENG"
        return (
            f"<PupilCharacteristics><Ethnicity>{pick(rng, ETHNICITY[group])}</Ethnicity>"
            f"<EthnicitySource>{pick(rng, 'PCO')}</EthnicitySource>"
            f"<Languages><Type>F</Type><Language>{language}</Language></Languages>"
            f"<FSMeligible>{yes_no(rng.random() < 0.24)}</FSMeligible>"
            f"<ServiceChild>{yes_no(rng.random() < 0.01)}</ServiceChild>"
            f"<Religion>{pick(rng, ('NOR', 'CHR', 'MUS', 'SIK', 'HIN', 'REF'))}</Religion>"
            "</PupilCharacteristics>"
        )

    def sen(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.83:
            return "<SpecialEducationalNeeds><SENprovision>N</SENprovision></SpecialEducationalNeeds>"
        provision = "E" if roll < 0.87 else "K"
        return (f"<SpecialEducationalNeeds><SENprovision>{provision}</SENprovision><SENneeds>"
                f"<SENneed><SENtypeRank>1</SENtypeRank><SENtype>{pick(rng, SEN_TYPES)}</SENtype>"
                "</SENneed></SENneeds></SpecialEducationalNeeds>")

    def exclusions(self, force: bool) -> str:
        rng = self.rng
        if not force and rng.random() >= 0.03:
            return "<Exclusions/>"
        return (f"<Exclusions><Exclusion><ExclusionStartDate>"
                f"{self._date(dt.date(self.cal.year - 1, 9, 5), 300)}</ExclusionStartDate>"
                f"<ExclusionCategory>{pick(rng, ('FIXD', 'LNCH', 'PERM'))}</ExclusionCategory>"
                f"<ExclusionReason>{pick(rng, ('PA', 'VP', 'DA', 'BU', 'DM'))}</ExclusionReason>"
                f"<ExclusionSessions>{between(rng, 1, 10)}</ExclusionSessions></Exclusion></Exclusions>")

    def census_attendance(self, term: str) -> str:
        rng = self.rng
        possible = between(rng, 60, 140)
        authorised = between(rng, 0, possible // 10)
        unauthorised = between(rng, 0, possible // 12) if rng.random() < 0.4 else 0
        return (f"<Attendance><TermlyAttendance><AttendanceYear>{self.cal.year}</AttendanceYear>"
                f"<Term>{term}</Term><SessionsPossible>{possible}</SessionsPossible>"
                f"<SessionsAuthorised>{authorised}</SessionsAuthorised>"
                f"<SessionsUnauthorised>{unauthorised}</SessionsUnauthorised>"
                f"<AttendanceReason><AttendanceReasonCode>{pick(rng, 'IMEGOU')}</AttendanceReasonCode>"
                f"<AttendanceSessions>{authorised + unauthorised}</AttendanceSessions>"
                "</AttendanceReason></TermlyAttendance></Attendance>")

    def unknown(self, rate: float) -> str:
        if self.rng.random() >= rate:
            return ""
        return pick(self.rng, (
            "<SupplierExtension><Field>HouseGroup</Field><Value>Blue</Value></SupplierExtension>",
            "<LocalFlags><Flag>TRIP-CONSENT</Flag></LocalFlags>",
            "<PupilPremiumNotes>see file</PupilPremiumNotes>",
        ))

    def school_block(self, school: School, pupils: int) -> str:
        rng = self.rng
        lowest, highest = ("R", "6") if school.phase == "primary" else ("7", "13")
        return (f"<School><LEA>{school.la}</LEA><Estab>{school.estab:04d}</Estab>"
                f"<SchoolName>{esc(school.name)}</SchoolName><Phase>"
                f"{'PS' if school.phase == 'primary' else 'SS'}</Phase>"
                f"<Governance>{pick(rng, ('CO', 'VA', 'VC', 'FO', 'AC'))}</Governance>"
                f"<LowestNCyear>{lowest}</LowestNCyear><HighestNCyear>{highest}</HighestNCyear>"
                f"<IntakeType>COMP</IntakeType><PupilCount>{pupils}</PupilCount>"
                f"<FSMtaken>{between(rng, 0, max(1, pupils // 4))}</FSMtaken>"
                f"<TeachingStaff>{max(1, pupils // 20)}</TeachingStaff>"
                f"<ClassSizes><Class><Size>{between(rng, 18, 32)}</Size></Class></ClassSizes></School>")

    def ctf_basic_extras(self, child: Child) -> str:
        rng, group = self.rng, child.family.group
        return (f"<NCyearActual>{fmt_ncy(child.ncy)}</NCyearActual>"
                f"<Ethnicity>{pick(rng, ETHNICITY[group])}</Ethnicity>"
                f"<EthnicitySource>{pick(rng, 'PC')}</EthnicitySource>"
                f"<Languages><Type><LanguageType>F</LanguageType><Language>"
                f"{LANGUAGE[group] if rng.random() < 0.7 else 'ENG'}</Language></Type></Languages>"
                f"<MedicalFlag>{yes_no(rng.random() < 0.08)}</MedicalFlag>"
                f"<Disabilities><Disability>{pick(rng, ('NONE', 'NONE', 'NONE', 'HEAR', 'VIS', 'MOB'))}"
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
                   f"<SENtype>{pick(rng, SEN_TYPES)}</SENtype></SENneed></SENneeds>")
        return (f"<FSMhistory><FSMreviewDate>{self.cal.year}-09-01</FSMreviewDate>"
                f"<LastFSM>{self.cal.year - 1}-07-20</LastFSM>{fsm}</FSMhistory>"
                "<NAWdetails><SENprovision>N</SENprovision></NAWdetails>"
                f"<LookedAfter><InCare>{yes_no(in_care)}</InCare>"
                f"{'<CareAuthority>' + str(between(rng, 800, 938)) + '</CareAuthority>' if in_care else ''}"
                f"</LookedAfter><SENhistory>{sen}</SENhistory>")

    def ctf_attainment(self, child: Child) -> str:
        rng = self.rng
        assessments = []
        for stage, min_ncy in (("EYFSP", 1), ("KS1", 3), ("KS2", 7)):
            if child.ncy >= min_ncy:
                subject = pick(rng, SUBJECTS)
                result = pick(rng, ("EXS", "WTS", "GDS", "HNM", "AS")) if stage != "KS2" \
                    else str(between(rng, 85, 120))
                assessments.append(
                    f"<KeyStage><Stage>{stage}</Stage><StageAssessment><Locale>0</Locale>"
                    f"<Year>{self.cal.year - (child.ncy - min_ncy) - 1}</Year><Subject>{subject}"
                    f"</Subject><Method>TT</Method><Component>{subject}</Component>"
                    f"<ResultStatus>A</ResultStatus><ResultQualifier>NV</ResultQualifier>"
                    f"<Result>{result}</Result></StageAssessment></KeyStage>")
        possible = between(rng, 300, 380)
        return (f"<Attendance><YearData><Year>{self.cal.year - 1}</Year><DaysPossible>{possible}"
                f"</DaysPossible><DaysAttended>{possible - between(rng, 0, 40)}</DaysAttended>"
                f"<AuthorisedAbsences>{between(rng, 0, 20)}</AuthorisedAbsences>"
                f"<UnauthorisedAbsences>{between(rng, 0, 10)}</UnauthorisedAbsences></YearData>"
                f"</Attendance><StageAssessments>{''.join(assessments)}</StageAssessments>")
