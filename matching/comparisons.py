"""Comparisons as data: each field's agreement levels, tested in order, first match wins.

A `Comparison` reads one attribute of two `Person`s and walks its `levels`; each `Level` names a
test from `TESTS` and its argument (a threshold, a date relation, a postcode part). The first
level is always the *missing* level (weight 0: no evidence either way) and the last is *else*.
Adding or changing a level is an edit to `COMPARISONS`, never a new branch in the scoring loop
(modelled on Splink's comparison_library).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler
from rapidfuzz.fuzz import token_set_ratio

from matching.person import Person


def _exact(a: Any, b: Any, _arg: Any) -> bool:
    return bool(a == b)


def _jaro_winkler(a: str, b: str, threshold: float) -> bool:
    return JaroWinkler.normalized_similarity(a, b, score_cutoff=threshold) >= threshold


def _overlaps(a: frozenset[str], b: frozenset[str], _arg: Any) -> bool:
    return not a.isdisjoint(b)


@functools.lru_cache(maxsize=16)  # the date levels ask in turn about the same pair
def _relation(a: dt.date, b: dt.date) -> str:
    """`index.keys.date_distance` in integer arithmetic: this runs for every compared pair, and
    in an index of a million the pairs of dates are too many to cache."""
    if a == b:
        return "exact"
    ay, am, ad, by, bm, bd = a.year, a.month, a.day, b.year, b.month, b.day
    if ay == by and am == bd and ad == bm:
        return "swapped"
    # Digits of YYYYMMDD that differ, the year's only when the month and day leave room.
    edits = (am // 10 != bm // 10) + (am % 10 != bm % 10) + (ad // 10 != bd // 10) + (ad % 10 != bd % 10)
    if edits <= 1 and ay != by:
        edits += sum(x != y for x, y in zip(f"{ay:04d}", f"{by:04d}", strict=True))
    if edits == 1:
        return "one_edit"
    if abs((a - b).days) <= 31:
        return "close"
    return "far"


def _date_relation(a: dt.date, b: dt.date, relations: frozenset[str]) -> bool:
    return _relation(a, b) in relations


def _dob_swapped(a: Person, b: Person, _arg: Any) -> bool:
    """Day and month swapped: between two dates, or in the digits when either is not a date
    ('2013-13-05' is 13 May with its day and month the wrong way round)."""
    if a.dob and b.dob:
        return _relation(a.dob, b.dob) == "swapped"
    x, y = a.dob_digits, b.dob_digits
    return len(x) == len(y) == 8 and x[:4] == y[:4] and x[4:6] == y[6:] and x[6:] == y[4:6]


def _dob_one_edit(a: Person, b: Person, _arg: Any) -> bool:
    """One digit wrong: between two dates as the date relation says. When either is not a date
    its month or day is already known wrong, so the digits as written may be one edit (or one
    transposition) apart, or two within the same year ('2013-02-30' for 2013-02-28)."""
    if a.dob and b.dob:
        return _relation(a.dob, b.dob) == "one_edit"
    x, y = a.dob_digits, b.dob_digits
    limit = 2 if x[:4] == y[:4] else 1
    return DamerauLevenshtein.distance(x, y, score_cutoff=limit) <= limit


def _postcode_part(a: tuple[str, ...], b: tuple[str, ...], index: int) -> bool:
    return a[index] == b[index]


def _token_set(a: str, b: str, threshold: float) -> bool:
    return token_set_ratio(a, b, score_cutoff=threshold) >= threshold


def _identifiers_agree(a: frozenset[tuple[str, str]], b: frozenset[tuple[str, str]], _arg: Any) -> bool:
    # Agree: some trusted scheme held by both has the same value and none has different values.
    if a.isdisjoint(b):  # no value in common (the usual case for two different children)
        return False
    return a == b or _shared(a, b) == (True, False)


def _identifiers_differ(a: frozenset[tuple[str, str]], b: frozenset[tuple[str, str]], _arg: Any) -> bool:
    return _shared(a, b)[1]


def _shared(a: frozenset[tuple[str, str]], b: frozenset[tuple[str, str]]) -> tuple[bool, bool]:
    """(some shared scheme agrees, some shared scheme differs)."""
    left = dict(a)
    agree = differ = False
    for scheme, value in b:
        if scheme in left:
            if left[scheme] == value:
                agree = True
            else:
                differ = True
    return agree, differ


def _cross_family(a: Person, b: Person, _arg: Any) -> bool:
    """A family name of one is a former/alternative family name of the other (or its part)."""
    return bool(
        (a.family and a.family in b.other_family)
        or (b.family and b.family in a.other_family)
        or not a.other_family.isdisjoint(b.other_family)
    )


def _given_in_middle(a: Person, b: Person, _arg: Any) -> bool:
    """One record's first given name is among the other's middle names (goes by a middle name)."""
    return bool((a.given and a.given in b.middle.split()) or (b.given and b.given in a.middle.split()))


def _same_address(a: Person, b: Person, threshold: float) -> bool:
    return bool(
        a.postcode and b.postcode and a.postcode[0] == b.postcode[0]
        and a.address and b.address and _token_set(a.address, b.address, threshold)
    )


def _address_only(a: Person, b: Person, threshold: float) -> bool:
    return bool(a.address and b.address and _token_set(a.address, b.address, threshold))


def _names_swapped(a: Person, b: Person, _arg: Any) -> bool:
    return bool(a.given and a.family and a.given == b.family and a.family == b.given)


# Test name -> function(left value, right value, argument) -> bool. Tests whose level has
# `field="*"` receive the two whole `Person`s (for levels that look across fields).
TESTS: dict[str, Callable[[Any, Any, Any], bool]] = {
    "exact": _exact,
    "jaro_winkler": _jaro_winkler,
    "overlaps": _overlaps,
    "date_relation": _date_relation,
    "dob_swapped": _dob_swapped,
    "dob_one_edit": _dob_one_edit,
    "postcode_part": _postcode_part,
    "token_set": _token_set,
    "identifiers_agree": _identifiers_agree,
    "identifiers_differ": _identifiers_differ,
    "cross_family": _cross_family,
    "names_swapped": _names_swapped,
    "given_in_middle": _given_in_middle,
    "same_address": _same_address,
    "address_only": _address_only,
}


@dataclass(frozen=True)
class Level:
    """One agreement level: a label, a test from `TESTS`, its argument, and optionally the
    `Person` attribute it reads (default: the comparison's own field; '*' for whole persons).
    `tf` marks the level whose weight is adjusted by how common the value is."""

    label: str
    test: str
    arg: Any = None
    field: str | None = None
    tf: bool = False


@dataclass(frozen=True)
class Comparison:
    """A field compared at `levels`. Level 0 is 'missing' (either side empty), the last 'else'."""

    name: str
    field: str
    levels: tuple[Level, ...]
    # The attribute whose value frequency adjusts `tf` levels (e.g. the compact family name).
    tf_field: str | None = None

    def __post_init__(self) -> None:
        for level in self.levels:
            if level.test not in TESTS:
                raise ValueError(f"comparison {self.name}: unknown test {level.test!r}")
        labels = [level.label for level in self.levels]
        if len(set(labels)) != len(labels):
            raise ValueError(f"comparison {self.name}: level labels repeat")
        # Resolved once: the scoring loop runs millions of times.
        object.__setattr__(self, "labels", (MISSING, *labels, ELSE))
        steps = tuple(
            (index, TESTS[level.test], level.arg, level.field)
            for index, level in enumerate(self.levels, start=1)
        )
        # Most compared pairs are true matches agreeing exactly: test that without a call.
        exact_first = bool(steps) and steps[0][1] is _exact and steps[0][3] is None
        object.__setattr__(self, "_exact_first", exact_first)
        object.__setattr__(self, "_steps", steps[1:] if exact_first else steps)

    labels: tuple[str, ...] = dataclass_field(init=False, repr=False, compare=False)
    _steps: tuple[tuple[int, Callable[[Any, Any, Any], bool], Any, str | None], ...] = dataclass_field(
        init=False, repr=False, compare=False
    )
    _exact_first: bool = dataclass_field(init=False, repr=False, compare=False)

    def level_of(self, a: Person, b: Person) -> int:
        """Index into `labels` of the first level that holds for this pair."""
        left, right = getattr(a, self.field), getattr(b, self.field)
        if not left or not right:
            return 0
        if self._exact_first and left == right:
            return 1
        for index, test, arg, field in self._steps:
            if field is None:
                if test(left, right, arg):
                    return index
            elif field == "*":
                if test(a, b, arg):
                    return index
            else:
                x, y = getattr(a, field), getattr(b, field)
                if x and y and test(x, y, arg):
                    return index
        return len(self.levels) + 1

    def _source(self, k: int, namespace: dict[str, Any]) -> list[str]:
        """Statements that set `v{k}` to `level_of(a, b)`, for `compile_vector`; the tests and
        their arguments go into `namespace`."""
        lines = [f"left, right = a.{self.field}, b.{self.field}",
                 "if not left or not right:", f"    v{k} = 0"]
        for index, level in enumerate(self.levels, start=1):
            arg = f"arg_{k}_{index}"
            namespace[arg], namespace[f"test_{k}_{index}"] = level.arg, TESTS[level.test]
            if level.field == "*":
                condition = f"test_{k}_{index}(a, b, {arg})"
            else:
                x, y = ("left", "right") if level.field is None else ("x", "y")
                inline = _INLINE.get(level.test)
                condition = (inline.format(x=x, y=y, arg=arg) if inline
                             else f"test_{k}_{index}({x}, {y}, {arg})")
                if level.field is not None:
                    condition = f"(x := a.{level.field}) and (y := b.{level.field}) and {condition}"
            lines += [f"elif {condition}:", f"    v{k} = {index}"]
        return [*lines, "else:", f"    v{k} = {len(self.levels) + 1}"]


MISSING = "missing"
ELSE = "else"

# The comparisons the matcher uses, in explanation order. Thresholds here are the only place
# similarity cut-offs live; their weights come from the model (estimated, or stored defaults).
COMPARISONS: tuple[Comparison, ...] = (
    Comparison("given_name", "given", (
        Level("exact", "exact", tf=True),
        Level("short_form", "overlaps", field="given_forms"),
        Level("jaro_winkler_0.92", "jaro_winkler", 0.92),
        Level("phonetic", "exact", field="given_phonetic"),
        Level("jaro_winkler_0.80", "jaro_winkler", 0.80),
        Level("in_middle_names", "given_in_middle", field="*"),
        Level("swapped_with_family", "names_swapped", field="*"),
    ), tf_field="given"),
    Comparison("middle_names", "middle", (
        Level("exact", "exact"),
        Level("token_set_80", "token_set", 80.0),
    )),
    Comparison("family_name", "family", (
        Level("exact", "exact", tf=True),
        Level("jaro_winkler_0.92", "jaro_winkler", 0.92),
        Level("part_of_name", "overlaps", field="family_tokens"),
        Level("former_name", "cross_family", field="*"),
        Level("phonetic", "exact", field="family_phonetic"),
        Level("jaro_winkler_0.80", "jaro_winkler", 0.80),
    ), tf_field="family"),
    # On the date's digits, so that a date of birth that is not a date ('2013-02-30') is still
    # compared, as text; between two dates the levels are the dates' own relations.
    Comparison("date_of_birth", "dob_digits", (
        Level("exact", "exact"),
        Level("day_month_swapped", "dob_swapped", field="*"),
        Level("one_edit", "dob_one_edit", field="*"),
        Level("within_31_days", "date_relation", frozenset({"close"}), field="dob"),
    )),
    Comparison("sex", "sex", (Level("exact", "exact"),)),
    # Postcode and address lines in one comparison: they are two views of one fact, and
    # scoring them separately would count a shared home twice (siblings would look alike).
    Comparison("address", "postcode", (
        Level("same_address", "same_address", 90.0, field="*"),
        Level("postcode_unit", "postcode_part", 0),
        Level("address_other_postcode", "address_only", 95.0, field="*"),
        Level("postcode_sector", "postcode_part", 1),
        Level("postcode_district", "postcode_part", 2),
    )),
    Comparison("identifiers", "ids", (
        Level("agree", "identifiers_agree"),
        Level("differ", "identifiers_differ"),
        # Both hold identifiers but of different schemes: no evidence (weight set to 0).
    )),
)


# Tests written inline by `compile_vector` (the same meaning as their functions in `TESTS`).
_INLINE: dict[str, str] = {
    "exact": "{x} == {y}",
    "overlaps": "not {x}.isdisjoint({y})",
    "postcode_part": "{x}[{arg}] == {y}[{arg}]",
}

VectorFunction = Callable[[Person, Person], tuple[int, ...]]


@functools.lru_cache(maxsize=16)
def compile_vector(comparisons: tuple[Comparison, ...] = COMPARISONS) -> VectorFunction:
    """One function giving every comparison's level for a pair, generated from the declared
    levels: the same walk as `Comparison.level_of`, without a call and a loop per comparison
    and level (scoring runs for every candidate pair; this halves its cost)."""
    namespace: dict[str, Any] = {}
    body = [line for k, c in enumerate(comparisons) for line in c._source(k, namespace)]
    source = "def vector(a, b):\n" + "".join(f"    {line}\n" for line in body)
    source += f"    return ({''.join(f'v{k}, ' for k in range(len(comparisons)))})\n"
    exec(compile(source, "<matching.comparisons.compile_vector>", "exec"), namespace)
    function: VectorFunction = namespace["vector"]
    function.__doc__ = source  # what was generated, for anyone debugging a level
    return function


def comparison_vector(
    a: Person, b: Person, comparisons: tuple[Comparison, ...] = COMPARISONS
) -> tuple[int, ...]:
    """The level index of every comparison for one pair."""
    return tuple(c.level_of(a, b) for c in comparisons)
