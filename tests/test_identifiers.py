"""Identifier validation: the published examples and properties of every checksum."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.identifiers import (
    CHILD_NUMBER_ALPHABET,
    UPN_ALPHABET,
    InvalidIdentifier,
    Scheme,
    is_serial_child_number,
    is_valid,
    make_child_number,
    new_child_number,
    upn_check_letter,
    validate,
)

DIGITS = "0123456789"


@pytest.mark.parametrize("upn", ["B801200005001", "A123456789012", "H243278544154"])
def test_published_valid_upns(upn: str) -> None:
    assert validate("upn", upn).value == upn


def test_published_invalid_upn_names_the_reason() -> None:
    with pytest.raises(InvalidIdentifier, match="invalid upn: check letter does not match"):
        validate("upn", "R247962919251")


def test_unknown_la_number_is_a_warning_not_a_rejection() -> None:
    assert validate("upn", "B801200005001").warnings == ()
    assert validate("upn", "A123456789012").warnings == ("LA number 123 is not a known LA number",)


@pytest.mark.parametrize("nhs", ["9434765870", "4010232137", "943 476 5870"])
def test_published_valid_nhs_numbers(nhs: str) -> None:
    assert validate(Scheme.NHS_NUMBER, nhs).value == nhs.replace(" ", "")


def test_published_invalid_nhs_number() -> None:
    with pytest.raises(InvalidIdentifier, match="nhs_number: check digit"):
        validate(Scheme.NHS_NUMBER, "9434765871")


def test_published_valid_uln() -> None:
    assert is_valid("uln", "9276308686")


@pytest.mark.parametrize(
    ("scheme", "value", "reason"),
    [
        ("upn", "B80120000500", "must be 13 characters"),
        ("upn", "I801200005001", "check letter"),
        ("upn", "B8012000050X1", "characters 2 to 12 must be digits"),
        ("upn", "B80120000500O", "last character"),
        ("nhs_number", "12345", "must be 10 digits"),
        ("uln", "0276308686", "must not start with 0"),
        ("uln", "9276308687", "check digit"),
        ("child_number", "123", "must be 10 characters"),
        ("la_reference", "bad ref!", "letters, digits"),
        ("upn", "   ", "is empty"),
        ("upn", "B" * 65, "too long"),
    ],
)
def test_invalid_identifiers_say_which_and_why(scheme: str, value: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=reason) as caught:
        validate(scheme, value)
    assert scheme in str(caught.value)
    assert value.strip() not in str(caught.value) or not value.strip()


def test_unknown_scheme() -> None:
    with pytest.raises(ValueError, match="unknown identifier scheme"):
        validate("passport", "123")


# The same numbers written with another script's digits (Arabic-Indic, full-width): str.isdigit
# and int() accept them, a UPN, NHS number, ULN or child number must not.
_OTHER_DIGITS = (0x0660, 0xFF10)


@pytest.mark.parametrize("zero", _OTHER_DIGITS)
@pytest.mark.parametrize(
    "scheme, value",
    [("upn", "B801200005001"), ("nhs_number", "9434765870"), ("uln", "9276308686"),
     ("child_number", make_child_number(12345))],
)
def test_digits_of_other_scripts_are_refused(scheme: str, value: str, zero: int) -> None:
    assert is_valid(scheme, value)
    last_digit = max(i for i, c in enumerate(value) if c.isdigit())
    foreign = value[:last_digit] + chr(zero + int(value[last_digit])) + value[last_digit + 1 :]
    with pytest.raises(InvalidIdentifier, match="digit"):
        validate(scheme, foreign)


upn_bodies = st.tuples(
    st.text(DIGITS, min_size=11, max_size=11),
    st.sampled_from(DIGITS + UPN_ALPHABET),
).map("".join)


@given(upn_bodies)
def test_upn_with_computed_check_letter_is_valid(body: str) -> None:
    upn = upn_check_letter(body) + body
    checked = validate("upn", upn)
    assert checked.value == upn
    assert ("temporary UPN" in checked.warnings) == body[-1].isalpha()


@given(upn_bodies, st.integers(0, 11), st.sampled_from(DIGITS))
def test_upn_single_digit_change_is_caught(body: str, position: int, digit: str) -> None:
    if body[position] == digit or not body[position].isdigit():
        return
    changed = body[:position] + digit + body[position + 1 :]
    assert not is_valid("upn", upn_check_letter(body) + changed)


def _nhs_check(nine: str) -> str | None:
    check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(nine)) % 11
    check = 0 if check == 11 else check
    return None if check == 10 else str(check)


@given(st.text(DIGITS, min_size=9, max_size=9))
def test_nhs_number_checksum_property(nine: str) -> None:
    check = _nhs_check(nine)
    if check is None:
        assert not any(is_valid("nhs_number", nine + d) for d in DIGITS)
    else:
        assert is_valid("nhs_number", nine + check)
        assert sum(is_valid("nhs_number", nine + d) for d in DIGITS) == 1


@given(st.text(DIGITS, min_size=10, max_size=10))
def test_uln_rule_property(digits: str) -> None:
    expected = digits[0] != "0" and sum(int(d) * (10 - i) for i, d in enumerate(digits)) % 11 == 10
    assert is_valid("uln", digits) == expected


@given(st.integers(1, 10**9 - 1))
def test_child_number_round_trip(serial: int) -> None:
    number = make_child_number(serial)
    assert len(number) == 10 and validate("child_number", number).value == number


@given(st.integers(1, 10**9 - 1), st.integers(0, 9), st.integers(1, 9))
def test_child_number_catches_any_single_digit_error(serial: int, position: int, delta: int) -> None:
    number = make_child_number(serial)
    wrong = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    assert not is_valid("child_number", wrong)


@given(st.integers(1, 10**9 - 1), st.integers(0, 8))
def test_child_number_catches_adjacent_transpositions(serial: int, position: int) -> None:
    number = make_child_number(serial)
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    if swapped != number:
        assert not is_valid("child_number", swapped)


def test_child_number_serial_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        make_child_number(0)


# -- random child numbers (issue 14, item 4) ----------------------------------------------------------

RANDOM_NUMBERS = st.randoms(use_true_random=False).map(lambda rng: new_child_number(rng.choice))


@given(RANDOM_NUMBERS)
def test_a_random_child_number_validates_and_is_never_a_serial_one(number: str) -> None:
    assert len(number) == 10 and number[0].isalpha() and not is_serial_child_number(number)
    assert validate("child_number", number).value == number
    # Typed in lower case, with spaces, or with O for 0 and I or L for 1 (Crockford), it is the same.
    typed = f"{number[:4]} {number[4:]}".lower().replace("0", "o").replace("1", "l")
    assert validate("child_number", typed).value == number


@given(RANDOM_NUMBERS, st.integers(1, 9), st.sampled_from(CHILD_NUMBER_ALPHABET))
def test_a_random_child_number_catches_any_single_wrong_character(number: str, position: int,
                                                                 char: str) -> None:
    # Position 0 is a letter: a digit there makes a different kind of number (refused too, below).
    if char != number[position]:
        assert not is_valid("child_number", number[:position] + char + number[position + 1:])


@given(RANDOM_NUMBERS, st.integers(0, 8))
def test_a_random_child_number_catches_adjacent_transpositions(number: str, position: int) -> None:
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2:]
    if swapped != number:
        assert not is_valid("child_number", swapped)


def test_new_child_numbers_do_not_follow_each_other() -> None:
    numbers = [new_child_number() for _ in range(1000)]
    assert len(set(numbers)) == 1000 and not any(is_serial_child_number(n) for n in numbers)
    with pytest.raises(InvalidIdentifier, match="start with a letter"):
        validate("child_number", "5" + numbers[0][1:])
