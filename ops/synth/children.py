"""Each child's school career, identifiers (UPN, NHS number, ULN, LA reference) and the
services involved with them (health visiting, social care, youth justice, Connexions, CAMHS,
sexual health, substance misuse, early help), with consent where a service is sensitive."""

from __future__ import annotations

import datetime as dt

from ops.synth.draws import below, between, pick
from ops.synth.families import OTHER_LAS
from ops.synth.identifiers import make_la_reference, make_nhs_number, make_uln, make_upn
from ops.synth.model import (
    Child,
    School,
    Service,
)


class Children:
    """Schooling, identifiers and services of each child.

    One of the parts of `ops.synth.neighbourhood._ChunkBuilder`, split out by subject: the
    builder holds the random streams, name tables and calendar, and decides the order of draws.
    """

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
            primary, secondary = pick(rng, self.primaries), pick(rng, self.secondaries)
        if ncy <= 6:
            school, start_year = primary, cal.year - max(ncy, 0)
        else:
            school, start_year = secondary, cal.year - (ncy - 7)
            child.previous_school = primary
        entry = dt.date(start_year, 9, between(rng, 2, 8))
        if rng.random() < 0.1 and start_year < cal.year:  # joined mid-phase
            entry = dt.date(between(rng, start_year, cal.year - 1), pick(rng, (1, 4, 6, 11)),
                            between(rng, 1, 28))
        if at_school:
            child.autumn_school = child.spring_school = school
            child.entry_date = entry
        if rng.random() < 0.5 and not at_school and ncy >= 7:
            child.previous_school = primary  # left for an independent school or home education
        elif not at_school:
            child.previous_school = None


    def _upn(self, la: str, estab: int, year: int) -> str:
        key = (la, estab, year % 100)
        serial = self.upn_serials.get(key, 0) + 1
        self.upn_serials[key] = serial
        return make_upn(la, estab, year, serial)

    def _identifiers(self, child: Child) -> None:
        rng, cal, seed = self.rng, self.calendar, self.seed
        child.nhs = make_nhs_number(child.id, seed) if rng.random() >= 0.01 else None
        first_school = child.previous_school or child.autumn_school
        elsewhere, other_la = rng.random() < 0.1, pick(rng, OTHER_LAS)
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
            child.gp_start = min(extract, child.dob + dt.timedelta(days=between(rng, 10, 60)))

        def add(service: str, start: dt.date, **extra: object) -> None:
            name, code, domain = pick(rng, self.teams[service])
            practitioner, phone, email = self._practitioner(domain)
            start = max(child.dob, min(start, extract))
            end = extra.get("end")
            if isinstance(end, dt.date) and end < start:  # a baby's short involvement
                extra["end"] = min(extract, start + dt.timedelta(days=between(rng, 7, 90)))
            child.services.append(Service(service, name, code, practitioner, phone, email, start,
                                          **extra))  # type: ignore[arg-type]

        def since(years: float) -> dt.date:
            return extract - dt.timedelta(days=below(rng, max(1, int(years * 365))))

        if age < 5:
            add("health_visitor", child.dob + dt.timedelta(days=between(rng, 10, 14)))
        looked_after = family.looked_after
        if looked_after or rng.random() < 0.035:
            end = None
            if not looked_after and rng.random() < 0.3:
                end = extract - dt.timedelta(days=between(rng, 1, 119))
            add("social_care", since(min(age, 3) + 0.2) if end is None else end -
                dt.timedelta(days=between(rng, 60, 700)), end=end, lead=rng.random() < 0.6)
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
