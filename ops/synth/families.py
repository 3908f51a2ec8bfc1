"""Families: carers of every kind of household (couples, single parents, stepfamilies, kinship
and foster carers), children's names and dates of birth (twins included), and the life events
between two censuses (moves, surname changes, transfers between schools)."""

from __future__ import annotations

import datetime as dt

from ops.synth.draws import below, between, pick, weighted
from ops.synth.model import (
    Address,
    Carer,
    Child,
    Family,
)
from ops.synth.names import ascii_slug, title

# Other LAs' numbers: UPNs issued elsewhere, and schools outside the area sending CTFs in.
OTHER_LAS = (
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


class Families:
    """Households, children and their life events.

    One of the parts of `ops.synth.neighbourhood._ChunkBuilder`, split out by subject: the
    builder holds the random streams, name tables and calendar, and decides the order of draws.
    """

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
        domain = pick(rng, ("example.com", "example.org", "example.net"))
        return f"{ascii_slug(given)}.{ascii_slug(family)}{below(rng, 100)}@{domain}"

    def _carer(self, order: int, group: str, sex: str, family: str, relationship: str,
               responsibility: bool, address: Address | None) -> Carer:
        rng = self.rng
        given = self._given(group, sex, adult=True, avoid=set())
        phones = [("M", self._mobile(rng))]
        if rng.random() < 0.3:
            phones.append(("H", self._landline()))
        if rng.random() < 0.15:
            phones.append(("W", self._landline()))
        return Carer(order, title(sex, rng), given, family, sex, relationship, responsibility,
                     address, phones, self._email(given, family))

    def _household(self, group: str, surname: str) -> tuple[list[Carer], str]:
        """The carers of a family's children and the children's surname."""
        rng = self.rng
        kind = weighted(rng, ("couple", "single_mother", "stepfamily", "single_father",
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
            carers.append(self._carer(1, group, "F", surname, pick(rng, ("REL", "FAM", "CAR")),
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
            carers.append(self._carer(len(carers) + 1, group, pick(rng, "FM"), self._surname(group),
                                      pick(rng, ("FAM", "REL", "OTH")), False,
                                      self._address(rng, self.used)))
        return carers, surname

    def _practitioner_name(self) -> tuple[str, str]:
        given = self.tables.adult_names[("british", "F")].pick(self.rng)
        return given, self.tables.surnames["british"].pick(self.rng)

    def _dobs(self) -> list[dt.date]:
        rng, spring = self.rng, self.calendar.spring_census
        wanted = weighted(rng, (1, 2, 3, 4, 5), (42, 79, 93, 98, 100))
        dob = spring - dt.timedelta(days=below(rng, 19 * 365 + 4))
        dobs = [dob]
        while len(dobs) < wanted:
            if rng.random() < 0.03:
                dobs.append(dob)  # twins: same date of birth, same home, same surname
                continue
            dob = dob + dt.timedelta(days=between(rng, 330, 6 * 365))
            if dob > spring:
                break
            dobs.append(dob)
        return dobs


    def _family(self, next_id: int, room: int) -> list[Child]:
        rng, tables, cal = self.rng, self.tables, self.calendar
        group = tables.groups.pick(rng)
        surname = self._surname(group)
        if group == "british" and rng.random() < 0.03:
            surname = f"{surname}-{self._surname(group)}" if rng.random() < 0.8 else \
                f"{self._surname(group)} {surname}"
        address = self._address(rng, self.used)
        carers, surname = self._household(group, surname)
        practice = pick(rng, self.practices) if rng.random() >= 0.03 else None
        family = Family(group, address, None, None, carers, practice,
                        any(c.relationship == "FOS" for c in carers))
        primary, secondary = pick(rng, self.primaries), pick(rng, self.secondaries)
        children = []
        names: set[str] = set()
        for dob in self._dobs()[:room]:
            sex = pick(rng, "FM")
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


    def _family_events(self, family: Family, children: list[Child]) -> None:
        events, changes, cal = self.events, self.changes, self.calendar
        rates = self.rates
        window = (cal.spring_census - cal.autumn_census).days
        moves, renamed = events.random() < rates.move_rate, events.random() < rates.surname_change_rate
        if moves:
            family.old_address = family.address
            family.address = self._address(changes, self.used, moved=True)
            family.move_date = cal.autumn_census + dt.timedelta(days=between(changes, 7, window - 7))
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
            left = cal.autumn_census + dt.timedelta(days=between(changes, 14, window - 14))
            child.leaving_date = left
            child.new_entry_date = left + dt.timedelta(days=between(changes, 1, 10))
            if others and kind < 0.75:
                child.spring_school = pick(changes, others)
            else:  # came in from a school outside the area, which sent the CTF
                other_la = child.upn[1:4] if child.upn and child.upn[1:4] != self.la else \
                    pick(changes, [la for la in OTHER_LAS if la != self.la])
                phase = child.spring_school.phase
                outside = self._school(between(changes, 2000, 4999), phase,
                                       f"{pick(changes, self.tables.streets)} "
                                       f"{'Primary School' if phase == 'primary' else 'Academy'}",
                                       la=other_la, rng=changes)
                child.transfer_from = outside
                child.autumn_school = None
                child.spring_school = pick(changes, [child.spring_school, *others])
