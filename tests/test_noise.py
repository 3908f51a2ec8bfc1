"""ops.noise: each kind of noise does exactly what it says, and nothing more."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz.distance import DamerauLevenshtein

from index import identifiers
from index.identifiers import Scheme
from index.keys import is_known_short_form
from ops import noise
from ops.noise import NoiseRates
from ops.synth import make_nhs_number, make_uln, make_upn

NAME_CHARS = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZëéŁłąś-' ")
names = st.text(NAME_CHARS, min_size=1, max_size=30)
seeds = st.integers(min_value=0, max_value=2**32)
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2026, 12, 31))


def _digits(date: dt.date) -> str:
    return date.strftime("%Y%m%d")


@given(names, seeds)
def test_typo_is_exactly_one_edit(text: str, seed: int) -> None:
    result = noise.typo(text, random.Random(seed))
    assert result != text
    assert DamerauLevenshtein.distance(text, result) == 1


@given(st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz"), min_size=2, max_size=12), seeds)
def test_typo_keeps_a_name_a_word_of_letters(text: str, seed: int) -> None:
    result = noise.typo(text, random.Random(seed))
    assert result.isalpha() and abs(len(result) - len(text)) <= 1


def test_typo_uses_every_kind_of_edit() -> None:
    rng = random.Random(1)
    results = {noise.typo("Margaret", rng) for _ in range(400)}
    lengths = {len(r) for r in results}
    assert lengths == {7, 8, 9}  # deletions, substitutions/transpositions, insertions
    assert "Mragaret" in results or "Maragret" in results or "Magraret" in results


@pytest.mark.parametrize(("full", "expected"), [
    ("Alexander", {"Alex", "Xander"}), ("Oliver", {"Ollie", "Olly"}), ("William", {"Will", "Billy", "Liam"}),
    ("alexander", {"Alex", "Xander"}), ("Jakub", {"Kuba"}),
])
def test_short_form_comes_from_the_table(full: str, expected: set[str]) -> None:
    rng = random.Random(3)
    seen = {noise.short_form(full, rng) for _ in range(60)}
    assert seen == expected
    assert all(is_known_short_form(full, short) for short in seen)


@pytest.mark.parametrize("name", ["Zebedee", "Muhammad-Ali", ""])
def test_short_form_leaves_names_without_one_unchanged(name: str) -> None:
    assert noise.short_forms(name) == ()
    assert noise.short_form(name, random.Random(0)) == name


@given(dates)
def test_swap_day_month_is_an_involution(date: dt.date) -> None:
    swapped = noise.swap_day_month(date)
    if swapped is None:
        assert date.day > 12 or date.day == date.month
    else:
        assert swapped != date
        assert (swapped.day, swapped.month, swapped.year) == (date.month, date.day, date.year)
        assert noise.swap_day_month(swapped) == date


@given(dates, seeds)
def test_dob_typo_changes_one_digit_and_stays_a_date(date: dt.date, seed: int) -> None:
    result = noise.dob_typo(date, random.Random(seed))
    before, after = _digits(date), _digits(result)
    assert sum(a != b for a, b in zip(before, after, strict=True)) == 1
    assert before[:2] == after[:2]  # the century is never mistyped


@given(dates, seeds)
def test_dob_typo_respects_not_after(date: dt.date, seed: int) -> None:
    limit = date + dt.timedelta(days=3)
    try:
        result = noise.dob_typo(date, random.Random(seed), not_after=limit)
    except ValueError:
        return
    assert result <= limit


@given(st.integers(min_value=1, max_value=10**8 - 1), st.integers(min_value=0, max_value=10**6), seeds)
def test_corrupted_identifiers_always_fail_their_check(child_id: int, area_seed: int, seed: int) -> None:
    rng = random.Random(seed)
    upn = make_upn("823", 2000 + child_id % 2000, 2015, child_id % 999 + 1)
    for scheme, value in ((Scheme.UPN, upn), (Scheme.NHS_NUMBER, make_nhs_number(child_id, area_seed)),
                          (Scheme.ULN, make_uln(child_id, area_seed))):
        assert identifiers.is_valid(scheme, value)
        corrupted = noise.corrupt_identifier(value, rng)
        assert len(corrupted) == len(value)
        assert sum(a != b for a, b in zip(value, corrupted, strict=True)) == 1
        assert not identifiers.is_valid(scheme, corrupted)


def test_name_format_variants() -> None:
    rng = random.Random(5)
    assert {noise.name_format("Zoë", rng) for _ in range(50)} == {"Zoe", "ZOË"}
    assert {noise.name_format("Smith-Jones", rng) for _ in range(50)} == {"Smith Jones", "SMITH-JONES"}
    assert noise.strip_accents("Łukasz Wiśniewski") == "Lukasz Wisniewski"
    assert noise.name_format("SMITH", rng) == "SMITH"


def test_noise_rates_defaults_none_and_bounds() -> None:
    defaults = NoiseRates()
    assert all(0 < getattr(defaults, f.name) < 0.1 for f in dataclasses.fields(NoiseRates))
    assert all(getattr(NoiseRates.none(), f.name) == 0 for f in dataclasses.fields(NoiseRates))
    with pytest.raises(ValueError, match="typo_rate"):
        NoiseRates(typo_rate=1.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        defaults.typo_rate = 0.5  # type: ignore[misc]
