"""Source records: which schools' censuses, CTFs and service feeds state each child, and how
(the noise a real feed has: typos, short forms, swapped dates, missing and invalid identifiers,
addresses before a move), as records the writers then render."""

from __future__ import annotations

import collections
import datetime as dt
import random

from ops.noise import (
    NoiseRates,
    corrupt_identifier,
    dob_typo,
    name_format,
    short_form,
    short_forms,
    swap_day_month,
    typo,
)
from ops.synth.model import (
    Child,
    Chunk,
    School,
    Service,
    SourceFile,
    SourceRecord,
)

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
