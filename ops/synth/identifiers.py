"""Identifiers as real systems issue them: UPNs with their check letter, NHS numbers and ULNs
with their check digits, LA references. Deterministic from the child and the seed."""

from __future__ import annotations

import operator

from index.identifiers import upn_check_letter


def make_upn(la: str, estab: int, year: int, serial: int) -> str:
    """A permanent UPN: check letter, LA (3), establishment (4), year issued (2), serial (3)."""
    body = f"{la}{estab:04d}{year % 100:02d}{serial:03d}"
    return upn_check_letter(body) + body


_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def _mod11_weighted(digits: str) -> int:
    return sum(map(operator.mul, map(int, digits), _WEIGHTS)) % 11


def _with_check_digit(suffix: int, prefixes: str, remainder: int) -> str:
    """A prefix, the 8-digit suffix and a check digit that brings the weighted sum to `remainder`
    mod 11, with the first prefix whose check digit is not 10 (which neither scheme allows)."""
    for prefix in prefixes:
        body = f"{prefix}{suffix:08d}"
        check = (remainder - _mod11_weighted(body)) % 11
        if check != 10:
            return body + str(check)
    raise AssertionError("unreachable: the prefixes give different check digits")


def make_nhs_number(child_id: int, seed: int) -> str:
    """A valid NHS number (weighted sum 0 mod 11), unique per child id (< 10**8) for a given seed."""
    return _with_check_digit((child_id * 7_654_321 + seed * 1_000_003) % 10**8, "467", 11)


def make_uln(child_id: int, seed: int) -> str:
    """A valid ULN (weighted sum 10 mod 11), unique per child id (< 10**8) for a given seed."""
    return _with_check_digit((child_id * 3_141_593 + seed * 2_718_281) % 10**8, "9536", 10)


def make_la_reference(la: str, child_id: int, seed: int) -> str:
    return f"{la}/{(child_id * 7919 + seed * 104_729) % 10**7:07d}"
