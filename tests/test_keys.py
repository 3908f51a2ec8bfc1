"""Shared name, date and postcode keys (index.keys): what search and matching rely on."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index import keys

SHORT_FORMS = Path(__file__).parents[1] / "ops" / "data" / "short_forms.csv"


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Zoë O'Brien-Smith ", "zoe obrien-smith"),
        ("  MARY   jane ", "mary jane"),
        ("Ó Briain", "o briain"),
        ("Иванов", "иванов"),
        ("王", "王"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert keys.fold(text) == folded


def test_name_tokens_split_hyphens_and_drop_titles() -> None:
    assert keys.name_tokens("Mrs Smith-Jones") == ["smith", "jones"]
    assert keys.name_tokens("de la Cruz") == ["de", "la", "cruz"]
    assert keys.name_tokens(None) == []
    assert keys.compact_name("Smith Jones") == keys.compact_name("smith-jones") == "smithjones"


def test_phonetic_codes_cover_the_whole_name_and_each_part() -> None:
    hyphenated = keys.phonetic_codes("Smith-Jones")
    assert keys.phonetic_codes("Smith")[0] in hyphenated
    assert keys.phonetic_codes("Jones")[0] in hyphenated
    assert keys.phonetic_codes("Smith Jones") == hyphenated
    # Spelling variants that sound alike share a code.
    assert keys.phonetic_codes("Smyth") == keys.phonetic_codes("Smith")
    assert keys.phonetic_codes("Phillips") == keys.phonetic_codes("Philips")
    # Joined and separated forms of one name meet on the whole-name code.
    assert keys.phonetic_codes("MacDonald")[0] in keys.phonetic_codes("Mac Donald")
    # Non-Latin names are their own code.
    assert keys.phonetic_codes("Иванов") == ["иванов"]
    assert keys.phonetic_codes(None) == []


def test_name_prefixes() -> None:
    assert keys.name_prefixes("Thompson") == ["tho"]
    assert keys.name_prefixes("Smith-Jones") == ["smi", "jon"]
    assert keys.name_prefixes("Ng") == []
    assert keys.name_prefixes("Thompson", length=4) == ["thom"]
    # A typo after the prefix keeps it; the phonetic code may not survive the same typo.
    assert keys.name_prefixes("Thompxon") == keys.name_prefixes("Thompson")


@pytest.mark.parametrize(
    ("short", "full"),
    [("Alex", "Alexander"), ("Bill", "William"), ("Kasia", "Katarzyna"), ("Seun", "Oluwaseun"),
     ("Gosia", "Małgorzata"), ("Belle", "Isabelle"), ("Liam", "William")],
)
def test_short_forms_share_a_form(short: str, full: str) -> None:
    assert keys.is_known_short_form(short, full)
    assert keys.given_name_forms(full) <= keys.given_name_forms(short) | keys.given_name_forms(full)
    assert keys.given_name_forms(full) & keys.given_name_forms(short)


def test_unrelated_given_names_share_no_form() -> None:
    assert not keys.is_known_short_form("Oliver", "William")
    assert keys.given_name_forms("Zebedee") == frozenset({"zebedee"})
    assert keys.given_name_forms("") == frozenset()


def test_every_short_form_synthetic_feeds_write_is_known() -> None:
    """ops.noise writes the short forms in ops/data/short_forms.csv: search must know them all."""
    with SHORT_FORMS.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    assert rows
    unknown = [(row["full"], short) for row in rows for short in row["short_forms"].split()
               if not keys.is_known_short_form(row["full"], short)]
    assert unknown == []


def test_date_variants_include_swaps_and_one_digit_typos() -> None:
    date = dt.date(2014, 5, 10)
    variants = keys.date_variants(date)
    assert {date, dt.date(2014, 10, 5), dt.date(2014, 5, 11), dt.date(2014, 5, 9),
            dt.date(2015, 5, 10), dt.date(2014, 5, 16), dt.date(2014, 6, 10)} <= variants
    assert dt.date(2016, 6, 10) not in variants  # two digits changed


@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2030, 12, 31)))
def test_date_variants_are_symmetric_for_single_edits(date: dt.date) -> None:
    for variant in keys.date_variants(date):
        assert keys.date_distance(date, variant) in {"exact", "swapped", "one_edit", "close"}
        if keys.date_distance(date, variant) in {"swapped", "one_edit"}:
            assert date in keys.date_variants(variant)


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        (dt.date(2014, 5, 10), dt.date(2014, 5, 10), "exact"),
        (dt.date(2014, 5, 10), dt.date(2014, 10, 5), "swapped"),
        (dt.date(2014, 5, 10), dt.date(2014, 5, 16), "one_edit"),
        (dt.date(2014, 5, 10), dt.date(2014, 5, 29), "close"),
        (dt.date(2014, 5, 10), dt.date(2012, 1, 1), "far"),
    ],
)
def test_date_distance(a: dt.date, b: dt.date, level: str) -> None:
    assert keys.date_distance(a, b) == level


@pytest.mark.parametrize(
    ("a", "b", "level"),
    [
        (dt.date(2014, 5, 10), dt.date(2014, 5, 10), "exact"),
        (dt.date(2014, 5, 15), dt.date(2014, 5, 16), "next_day"),
        (dt.date(2014, 5, 31), dt.date(2014, 6, 1), "next_day"),  # three digits, one day
        (dt.date(2014, 5, 10), dt.date(2014, 10, 5), "swapped"),
        (dt.date(2014, 5, 10), dt.date(2014, 5, 16), "one_edit"),
        (dt.date(2014, 5, 10), dt.date(2014, 5, 29), "close"),
        (dt.date(2019, 8, 12), dt.date(2004, 8, 12), "two_edits"),  # two digits
        (dt.date(2014, 4, 10), dt.date(2019, 10, 4), "two_edits"),  # swapped, and one digit
        (dt.date(2014, 5, 10), dt.date(2012, 1, 1), "far"),
    ],
)
def test_date_likeness_refines_date_distance(a: dt.date, b: dt.date, level: str) -> None:
    assert keys.date_likeness(a, b) == level == keys.date_likeness(b, a)
    coarse = keys.date_distance(a, b)
    assert level == coarse or (level, coarse) in {("next_day", "one_edit"), ("next_day", "close"),
                                                  ("two_edits", "far")}


def test_postcode_parts() -> None:
    assert keys.postcode_parts("mk401aa") == ("MK40 1AA", "MK40 1", "MK40", "MK")
    assert keys.postcode_parts("E1 6AN") == ("E1 6AN", "E1 6", "E1", "E")
    assert keys.postcode_parts("MK40") is None
    assert keys.postcode_parts(None) is None


def test_unique_keeps_order() -> None:
    assert keys.unique(["b", "a", "", "b", "c"]) == ["b", "a", "c"]
