"""England's local authorities: the ONS GSS code of each (`E09000033`) and the DfE three-digit LA
number the index uses (`213`), read from `index/data/la_codes.csv` (DfE's own table; its header
names the source and licence).

An LA reorganised away keeps its row as `terminated`. A terminated code whose number a live LA
still carries (North Yorkshire county E10000023 and the unitary E06000065 are both 815) names
that LA; one whose number no live LA carries (Northamptonshire, 928, split into 940 and 941 in
2021) names nobody: `number_of` returns None, and `abolished` tells the two apart.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LA_CODES = Path(__file__).with_name("data") / "la_codes.csv"
GSS_CODE = re.compile(r"[ENSWLM]\d{8}")
LA_NUMBER = re.compile(r"\d{3}")


@dataclass(frozen=True)
class LocalAuthority:
    gss_code: str
    la: str  # DfE three-digit LA number
    name: str
    live: bool


@dataclass(frozen=True)
class LaCodes:
    by_gss: dict[str, LocalAuthority]
    numbers: dict[str, str]  # GSS code -> LA number, for the codes naming an LA that exists today

    @classmethod
    def of(cls, authorities: list[LocalAuthority]) -> LaCodes:
        live = {a.la for a in authorities if a.live}
        return cls({a.gss_code: a for a in authorities},
                   {a.gss_code: a.la for a in authorities if a.la in live})

    @property
    def live_numbers(self) -> frozenset[str]:
        return frozenset(a.la for a in self.by_gss.values() if a.live)

    def number_of(self, gss_code: str) -> str | None:
        """The LA number for a GSS code, if that code names an LA that exists today."""
        return self.numbers.get(gss_code)

    def abolished(self, gss_code: str) -> bool:
        """A code of an English LA reorganised away (the directory predates the change)."""
        return gss_code in self.by_gss and gss_code not in self.numbers


def read_la_codes(path: Path = LA_CODES) -> LaCodes:
    by_gss: dict[str, LocalAuthority] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        for number, row in enumerate(rows, start=2):
            code, la = row.get("gss_code") or "", row.get("la") or ""
            status = row.get("status") or ""
            if not GSS_CODE.fullmatch(code) or not LA_NUMBER.fullmatch(la) \
                    or status not in ("live", "terminated") or code in by_gss:
                raise ValueError(f"{path.name}: data row {number} is not a unique GSS code, "
                                 "a three-digit LA number and live/terminated")
            by_gss[code] = LocalAuthority(code, la, row.get("la_name") or "", status == "live")
    return LaCodes.of(list(by_gss.values()))


@cache
def la_codes() -> LaCodes:
    """The shipped table (read once)."""
    return read_la_codes()
