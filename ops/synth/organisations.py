"""Schools and services: a neighbourhood's primary and secondary schools (with each school's
software habits), GP practices, and the teams of every other service, with their practitioners'
names and contact details."""

from __future__ import annotations

import random

from ops.synth.draws import below, pick, weighted
from ops.synth.model import (
    Practice,
    School,
)
from ops.synth.names import ascii_slug

# Establishment number ranges (DfE convention: 2xxx/3xxx primary, 4xxx secondary, 5xxx
# foundation). Each school in the area gets its own, which bounds the size of one area.
PRIMARY_ESTABS = (*range(2000, 4000), *range(5200, 5400))
SECONDARY_ESTABS = (*range(4000, 5000), *range(5400, 5500))
PRIMARIES_PER_CHUNK = 6
SECONDARIES_PER_CHUNK = 2
PRACTICES_PER_CHUNK = 3

SAINTS = ("Mary's", "John's", "Andrew's", "George's", "Peter's", "Paul's", "Joseph's",
          "Thomas More", "Michael's", "Christopher's", "Vincent's", "Bede's")
SCHOOL_SOFTWARE = ("SIMS", "Arbor", "Bromcom", "ScholarPack", "Pupil Asset", "iSAMS")


class Organisations:
    """Schools, practices and service teams of one neighbourhood.

    One of the parts of `ops.synth.neighbourhood._ChunkBuilder`, split out by subject: the
    builder holds the random streams, name tables and calendar, and decides the order of draws.
    """

    def _school(self, estab: int, phase: str, name: str, la: str | None = None,
                rng: random.Random | None = None) -> School:
        rng = rng or self.rng
        return School(
            la=la or self.la, estab=estab, name=name, phase=phase,
            sex_tag="Gender" if rng.random() < 0.15 else "Sex",
            wrapper=rng.random() >= 0.15,
            address_style="bs7666" if rng.random() < 0.4 else "lines",
            software=pick(rng, SCHOOL_SOFTWARE),
            ctf_version=weighted(rng, ("25.0", "24.0", "23.0"), (80, 93, 100)),
            urn=100_000 + below(rng, 50_000),
        )

    def _school_name(self, phase: str) -> str:
        rng, town = self.rng, self.place["town"]
        stem = pick(rng, self.tables.streets)
        if phase == "primary":
            return pick(rng, (
                f"{stem} Primary School", f"{stem} Lower School", f"St {pick(rng, SAINTS)} "
                "Church of England Primary School", f"St {pick(rng, SAINTS)} Catholic Primary "
                "School & Nursery", f"{town} {stem} Infant & Junior School", f"{stem} Academy",
            ))
        return pick(rng, (f"{town} {stem} Academy", f"{stem} Upper School", f"{stem} High School",
                           f"St {pick(rng, SAINTS)} Catholic School", f"{stem} School & Sixth Form"))

    def _organisations(self) -> None:
        k, quota = self.index, self.quota
        # At least two of each, so that a pupil can move school inside any neighbourhood.
        n_primary = min(PRIMARIES_PER_CHUNK, max(2, round(quota / 830)))
        n_secondary = min(SECONDARIES_PER_CHUNK, max(2, round(quota / 2500)))
        self.primaries = [
            self._school(PRIMARY_ESTABS[k * PRIMARIES_PER_CHUNK + j], "primary",
                         self._school_name("primary")) for j in range(n_primary)]
        self.secondaries = [
            self._school(SECONDARY_ESTABS[k * SECONDARIES_PER_CHUNK + j], "secondary",
                         self._school_name("secondary")) for j in range(n_secondary)]
        letter = "ABCDEFGHJKLMNPY"[int(self.la) % 15]
        n_practices = min(PRACTICES_PER_CHUNK, max(1, round(quota / 1700)))
        self.practices = []
        for j in range(n_practices):
            stem = pick(self.rng, self.tables.streets)
            name = pick(self.rng, (f"{stem} Surgery", f"{stem} Medical Centre",
                                    f"The {stem} Practice", f"{self.place['town']} Health Centre",
                                    f"Dr {pick(self.rng, ('Shah', 'Okafor', 'Reid', 'Evans'))} & Partners"))
            self.practices.append(Practice(f"{letter}{81000 + k * PRACTICES_PER_CHUNK + j:05d}",
                                           name, self._landline()))
        self.teams = self._teams()

    def _landline(self) -> str:
        return f"01632 960{below(self.rng, 1000):03d}"

    def _mobile(self, rng: random.Random) -> str:
        return f"07700 900{below(rng, 1000):03d}"

    def _practitioner(self, domain: str) -> tuple[str, str, str]:
        rng = self.rng
        sex = pick(rng, "FM")
        given = self.tables.adult_names[("british", sex)].pick(rng)
        family = self.tables.surnames["british"].pick(rng)
        email = f"{ascii_slug(given)}.{ascii_slug(family)}@{domain}"
        return f"{given} {family}", self._landline(), email

    def _teams(self) -> dict[str, list[tuple[str, str | None, str]]]:
        """Organisation (name, code, email domain) for each non-school service in this chunk."""
        town, la_name, la = self.place["town"], self.la_name, self.la
        slug = ascii_slug(la_name)[:20] or "la"
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
