"""Matching: normalisation, comparison levels as data, scoring, explanation, term frequencies,
estimation of m and u."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter

import pytest

from matching import (
    COMPARISONS,
    Comparison,
    Level,
    MatchModel,
    TermFrequencies,
    Thresholds,
    UnscorableRecord,
    estimate_u,
    expectation_maximisation,
    make_person,
    person_from_row,
)
from matching.comparisons import comparison_vector
from matching.model import probability, weight_of

D = dt.date(2015, 3, 4)


def person(ref: int | str = 1, **values: object):
    base: dict[str, object] = {
        "given_name": "Amelia", "family_name": "Hughes", "date_of_birth": D, "sex": "F",
        "postcode": "MK40 1AA", "address": "12 Harpur Street Bedford",
    }
    base.update(values)
    return make_person(ref, **base)  # type: ignore[arg-type]


def level(name: str, a, b) -> str:
    comparison = next(c for c in COMPARISONS if c.name == name)
    return comparison.labels[comparison.level_of(a, b)]


# -- normalisation --------------------------------------------------------------------------


def test_normalisation_folds_case_accents_punctuation_hyphens_and_titles() -> None:
    a = person(given_name="Zoë", family_name="O'Brien-Smith")
    b = person(given_name="MISS zoe", family_name="obrien smith")
    assert (a.given, a.family) == (b.given, b.family) == ("zoe", "obriensmith")
    assert a.family_tokens == frozenset({"obrien", "smith"})
    assert a.postcode == ("MK40 1AA", "MK40 1", "MK40", "MK")
    assert person(middle_names="Rose-Mary  ANNE").middle == "rose mary anne"


def test_row_normalises_postcode_sex_and_identifiers() -> None:
    p = person_from_row("r1", {"id": "r1", "family_name": "Hughes", "date_of_birth": "2015-03-04",
                               "sex": "female", "postcode": "mk401aa", "nhs_number": "943 476 5870"})
    assert p.sex == "f" and p.postcode[0] == "MK40 1AA"
    assert p.identifier("nhs_number") == "9434765870"


@pytest.mark.parametrize(("row", "reason"), [
    ({}, "no name and no trusted identifier"),
    ({"given_name": " ", "family_name": ""}, "no name and no trusted identifier"),
    ({"family_name": "!!! ???", "given_name": "\u200b", "date_of_birth": "2015-03-04"},
     "no name and no trusted identifier"),
    ({"family_name": "x" * 101, "date_of_birth": "2015-03-04"}, "no name and no trusted identifier"),
])
def test_rows_without_name_or_identifier_are_unscorable(row: dict[str, str], reason: str) -> None:
    with pytest.raises(UnscorableRecord, match=reason) as caught:
        person_from_row(7, row)
    for value in row.values():
        if value.strip() and len(value) > 3:
            assert value not in str(caught.value)


@pytest.mark.parametrize(("row", "field", "reason"), [
    ({"family_name": "Hughes", "date_of_birth": "2015-02-30"}, "date_of_birth", "not a real calendar date"),
    ({"family_name": "Hughes", "date_of_birth": "15/03/2015"}, "date_of_birth", "not a date in YYYY-MM-DD"),
    ({"family_name": "Hughes", "date_of_birth": "2015-W10-3"}, "date_of_birth", "not a date in YYYY-MM-DD"),
    ({"family_name": "Hughes", "date_of_birth": "20150304"}, "date_of_birth", "not a date in YYYY-MM-DD"),
    ({"family_name": "Hughes", "date_of_birth": "０２０１５-03-04"}, "date_of_birth", "not a date in"),
    ({"family_name": "Hughes", "date_of_birth": "1066-10-14"}, "date_of_birth", "not a plausible date"),
    ({"family_name": "Hughes", "date_of_birth": "2999-01-01"}, "date_of_birth", "not a plausible date"),
    ({"family_name": "Hughes", "given_name": "x" * 101}, "given_name", "longer than 100"),
    ({"family_name": "Hughes", "postcode": "not a postcode"}, "postcode", "not a UK postcode"),
    ({"family_name": "Hughes", "nhs_number": "9434765871"}, "nhs_number", "not valid"),
    ({"family_name": "Hughes", "date_of_birth": "2015-03-04", "sex": "maybe"}, "sex", "not one of"),
    ({"family_name": "Hughes"}, None, None),  # a name alone: missing values are missing
])
def test_an_unusable_value_keeps_its_row_and_is_counted(row: dict[str, str], field: str | None,
                                                        reason: str | None) -> None:
    """No row is dropped because one field is unusable (issue 15 item 8): the value is compared
    as text or left out, and counted by field and reason (never the value)."""
    warnings: Counter[tuple[str, str]] = Counter()
    p = person_from_row(7, row, warnings)
    assert p.family == "hughes"
    if field is None:
        assert not warnings
        return
    ((warned_field, warned_reason), count), = warnings.items()
    assert (warned_field, count) == (field, 1) and warned_reason.startswith(reason)
    assert row[field] not in warned_reason


def test_a_date_that_is_not_one_is_compared_on_its_digits() -> None:
    def amelia(ref: str, born: str):  # type: ignore[no-untyped-def]
        return person_from_row(ref, {"given_name": "Amelia", "family_name": "Hughes", "date_of_birth": born})

    known, swapped = amelia("k", "2013-05-13"), amelia("s", "2013-13-05")
    typo, other = amelia("t", "2013-05-1e"), amelia("o", "2009-31-12")
    assert (swapped.dob, swapped.dob_digits, swapped.birth_year) == (None, "20131305", 2013)
    assert level("date_of_birth", known, swapped) == "day_month_swapped"
    assert level("date_of_birth", known, typo) == "one_edit"
    assert level("date_of_birth", known, other) == "else"
    missing = person_from_row("m", {"given_name": "Amelia", "family_name": "Hughes"})
    assert level("date_of_birth", known, missing) == "missing"


def test_a_postcode_that_is_not_a_uk_one_is_free_text() -> None:
    a = person_from_row("a", {"family_name": "Hughes", "postcode": "75008"})
    b = person_from_row("b", {"family_name": "Hughes", "postcode": " 75 008 "})
    c = person_from_row("c", {"family_name": "Hughes", "postcode": "75009"})
    uk = person_from_row("u", {"family_name": "Hughes", "postcode": "MK40 1AA"})
    assert level("address", a, b) == "postcode_unit"
    assert level("address", a, c) == "else" and level("address", a, uk) == "else"


def test_non_latin_names_are_compared_as_written() -> None:
    a = person(given_name="Дмитрий", family_name="Иванов")
    b = person(given_name="дмитрий", family_name="ИВАНОВ")
    c = person(given_name="李", family_name="王")
    assert level("given_name", a, b) == "exact" and level("family_name", a, b) == "exact"
    assert level("family_name", a, c) == "else"
    assert MatchModel.load().total(a, b) > MatchModel.load().total(a, c)


# -- comparison levels ----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "left", "right", "expected"), [
    ("given_name", {}, {}, "exact"),
    ("given_name", {}, {"given_name": None}, "missing"),
    ("given_name", {"given_name": "Bill"}, {"given_name": "William"}, "short_form"),
    ("given_name", {"given_name": "Amelia"}, {"given_name": "Ameliah"}, "jaro_winkler_0.92"),
    ("given_name", {"given_name": "Katherine"}, {"given_name": "Cathrine"}, "phonetic"),
    ("given_name", {"given_name": "Amelia"}, {"given_name": "Oscar"}, "else"),
    ("given_name", {}, {"given_name": "Hughes", "family_name": "Amelia"}, "swapped_with_family"),
    ("family_name", {}, {"family_name": "HUGHES"}, "exact"),
    ("family_name", {}, {"family_name": "Hughs"}, "jaro_winkler_0.92"),
    ("family_name", {"family_name": "Smith-Jones"}, {"family_name": "Jones"}, "part_of_name"),
    ("family_name", {"family_name": "Hughes", "other_family_names": ["Patel"]},
     {"family_name": "Patel"}, "former_name"),
    ("family_name", {}, {"family_name": "Okonkwo"}, "else"),
    ("date_of_birth", {}, {}, "exact"),
    ("date_of_birth", {}, {"date_of_birth": dt.date(2015, 4, 3)}, "day_month_swapped"),
    ("date_of_birth", {}, {"date_of_birth": dt.date(2016, 3, 4)}, "one_edit"),
    ("date_of_birth", {}, {"date_of_birth": dt.date(2015, 3, 20)}, "within_31_days"),
    ("date_of_birth", {}, {"date_of_birth": dt.date(2012, 9, 30)}, "else"),
    ("sex", {}, {"sex": "female"}, "exact"),
    ("sex", {}, {"sex": "M"}, "else"),
    ("sex", {}, {"sex": "unspecified"}, "missing"),
    ("address", {}, {"address": "12 HARPUR STREET, BEDFORD", "postcode": "mk40 1aa"}, "same_address"),
    ("address", {}, {"address": "Flat 3, 40 Castle Road"}, "postcode_unit"),
    ("address", {}, {"address": None}, "postcode_unit"),
    ("address", {}, {"postcode": "MK40 1AB", "address": "12 Harpur Street, Bedford"},
     "address_other_postcode"),
    ("address", {}, {"postcode": "MK40 1AB", "address": "3 Castle Road"}, "postcode_sector"),
    ("address", {}, {"postcode": "MK40 3XY", "address": "3 Castle Road"}, "postcode_district"),
    ("address", {}, {"postcode": "LS1 4AP", "address": "3 Castle Road"}, "else"),
    ("address", {}, {"postcode": None}, "missing"),
    ("given_name", {"given_name": "Grace", "middle_names": "Amelia Rose"}, {}, "in_middle_names"),
    ("identifiers", {"identifiers": {"nhs_number": "9434765870"}},
     {"identifiers": {"nhs_number": "9434765870"}}, "agree"),
    ("identifiers", {"identifiers": {"nhs_number": "9434765870"}},
     {"identifiers": {"nhs_number": "4010232137"}}, "differ"),
    ("identifiers", {"identifiers": {"nhs_number": "9434765870"}},
     {"identifiers": {"uln": "9276308686"}}, "else"),
])
def test_each_level_is_reached(name: str, left: dict, right: dict, expected: str) -> None:
    assert level(name, person(1, **left), person(2, **right)) == expected


def test_levels_are_data_and_unknown_tests_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown test"):
        Comparison("x", "given", (Level("odd", "no_such_test"),))
    with pytest.raises(ValueError, match="repeat"):
        Comparison("x", "given", (Level("a", "exact"), Level("a", "exact")))
    custom = Comparison("given_name", "given", (Level("jw_0.5", "jaro_winkler", 0.5),))
    assert custom.labels == ("missing", "jw_0.5", "else")
    assert custom.level_of(person(given_name="Amelia"), person(given_name="Amalie")) == 1


# -- scoring and explanation ----------------------------------------------------------------


def test_explanation_is_a_waterfall_that_adds_up() -> None:
    model = MatchModel.load()
    a, b = person(1), person(2, given_name="Millie", postcode="MK40 1AB")
    explanation = model.explain(a, b)
    assert [f.comparison for f in explanation.fields] == [c.name for c in COMPARISONS]
    assert math.isclose(explanation.prior_weight + sum(f.weight for f in explanation.fields),
                        explanation.total, abs_tol=1e-3)
    assert math.isclose(explanation.total, model.total(a, b), abs_tol=1e-3)
    assert explanation.probability == pytest.approx(probability(explanation.total), abs=1e-6)
    by_name = {f.comparison: f for f in explanation.fields}
    assert by_name["given_name"].level == "short_form"
    assert by_name["address"].level == "address_other_postcode"
    assert by_name["middle_names"].weight == 0.0  # missing: no evidence either way
    text = explanation.waterfall()
    assert "short_form" in text and "total" in text
    assert "Amelia" not in text and "Hughes" not in text


def test_weights_order_levels_sensibly() -> None:
    weights = MatchModel.load().level_weights()
    for name, levels in weights.items():
        values = [w for label, w in levels.items() if label not in ("missing",)]
        assert values[0] > 0 > levels["else"] or name == "identifiers", name
        assert levels["missing"] == 0.0
    assert weights["identifiers"]["agree"] > 10 and weights["identifiers"]["differ"] < 0


def test_rare_family_name_counts_for_more_than_a_common_one() -> None:
    model = MatchModel.load()
    people = [person(i, family_name="Smith") for i in range(500)]
    people += [person(1000 + i, family_name=f"Rare{chr(97 + i % 26)}{i}") for i in range(500)]
    tf = TermFrequencies.from_people(people)
    common = model.explain(person(1, family_name="Smith"), person(2, family_name="Smith"), tf)
    rare = model.explain(person(1, family_name="Zaltzman"), person(2, family_name="Zaltzman"), tf)
    fw = {f.comparison: f for f in common.fields}["family_name"]
    rw = {f.comparison: f for f in rare.fields}["family_name"]
    assert fw.tf_adjustment < 0 < rw.tf_adjustment
    assert rare.total > common.total
    assert abs(rw.tf_adjustment) <= model.thresholds.tf_cap


def test_thresholds_are_validated_and_convert_to_weights() -> None:
    with pytest.raises(ValueError):
        Thresholds(link=0.5, review=0.9)
    assert weight_of(0.5) == 0.0
    assert probability(weight_of(0.99)) == pytest.approx(0.99)


def test_model_round_trips_through_json(tmp_path) -> None:
    model = MatchModel.load()
    model.save(tmp_path / "m.json")
    again = MatchModel.load(tmp_path / "m.json")
    assert again.level_weights() == model.level_weights()
    assert again.thresholds == model.thresholds
    with pytest.raises(ValueError, match="no m/u"):
        MatchModel(m={}, u={})


# -- estimation -----------------------------------------------------------------------------

_GIVEN = ["amelia", "oliver", "isla", "jack", "ava", "harry", "mia", "noah", "ella", "leo",
          "grace", "oscar", "lily", "george", "freya", "arthur", "sophie", "theo", "ruby", "alfie"]
_FAMILY = ["smith", "jones", "taylor", "brown", "williams", "wilson", "johnson", "davies",
           "patel", "wright", "khan", "evans", "thomas", "roberts", "walker", "hughes", "green",
           "hall", "lewis", "clarke", "okafor", "nowak", "zaltzman", "ferreira", "kowalski"]


def synthetic_people(n: int, seed: int) -> list:
    """People with names drawn from small lists (so some are common), one to a household."""
    rng = random.Random(seed)
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return [
        make_person(
            i, given_name=rng.choice(_GIVEN),
            family_name=rng.choice(_FAMILY) + rng.choice(["", "", "", *_FAMILY[:10]]),
            date_of_birth=dt.date(2008, 1, 1) + dt.timedelta(days=rng.randrange(6000)),
            sex=rng.choice("FM"),
            postcode=f"MK{rng.randrange(1, 46)} {rng.randrange(1, 10)}"
                     f"{rng.choice(letters)}{rng.choice(letters)}",
            address=f"{rng.randrange(1, 200)} {rng.choice(_FAMILY).title()} Road",
        )
        for i in range(n)
    ]


def noisy_copy(p, ref, rng: random.Random):
    given, family, dob = p.given, p.family, p.dob
    if rng.random() < 0.1:
        given = given[:-1] + "e"
    if rng.random() < 0.1:
        family = family + "s"
    if rng.random() < 0.05 and dob.day <= 12:
        dob = dt.date(dob.year, dob.day, dob.month)
    return make_person(ref, given_name=given, family_name=family, date_of_birth=dob,
                       sex=p.sex, postcode=p.postcode[0] if rng.random() < 0.8 else None,
                       address=p.address)


def test_u_from_random_pairs_matches_value_frequencies() -> None:
    people = synthetic_people(2000, seed=1)
    u = estimate_u(people, pairs=20_000, seed=2)
    # Sex is F or M at random: different people agree half of the time.
    assert u["sex"]["exact"] == pytest.approx(0.5, abs=0.02)
    # Exact agreement between random people: the sum of squared value frequencies.
    counts = Counter(p.family for p in people)
    expected = sum((c / len(people)) ** 2 for c in counts.values())
    assert u["family_name"]["exact"] == pytest.approx(expected, rel=0.3)
    assert u["date_of_birth"]["exact"] < 0.002
    for levels in u.values():
        assert sum(levels.values()) == pytest.approx(1.0)


def test_em_recovers_known_parameters() -> None:
    comparisons = COMPARISONS[3:5]  # date of birth, sex
    true_m = {"date_of_birth": {"exact": .9, "day_month_swapped": .02, "one_edit": .04,
                                "within_31_days": .02, "else": .02},
              "sex": {"exact": .95, "else": .05}}
    u = {"date_of_birth": {"exact": .001, "day_month_swapped": .0001, "one_edit": .01,
                           "within_31_days": .02, "else": .9689},
         "sex": {"exact": .5, "else": .5}}
    rng = random.Random(3)

    def draw(dist: dict[str, float], comparison: Comparison) -> int:
        labels = comparison.labels[1:]
        return 1 + rng.choices(range(len(labels)), weights=[dist[x] for x in labels])[0]

    vectors: Counter[tuple[int, ...]] = Counter()
    for _ in range(40_000):
        source = true_m if rng.random() < 0.3 else u
        vectors[tuple(draw(source[c.name], c) for c in comparisons)] += 1
    m, prior = expectation_maximisation(vectors, u, comparisons=comparisons)
    assert prior == pytest.approx(0.3, abs=0.03)
    assert m["date_of_birth"]["exact"] == pytest.approx(0.9, abs=0.03)
    assert m["sex"]["exact"] == pytest.approx(0.95, abs=0.03)


def test_estimated_model_links_noisy_copies() -> None:
    from matching import BlockingIndex, Matcher, Outcome, estimate_model

    reference = synthetic_people(3000, seed=4)
    rng = random.Random(5)
    train = [noisy_copy(p, f"t{p.ref}", rng) for p in reference[:1500]]
    model = estimate_model(reference, train, seed=6, u_pairs=20_000)
    assert model.m["date_of_birth"]["exact"] > 0.8
    assert model.level_weights()["family_name"]["exact"] > 3
    index = BlockingIndex(reference)
    matcher = Matcher(index, model, TermFrequencies.from_people(reference))
    evaluation = [(noisy_copy(p, f"e{p.ref}", rng), p.ref) for p in reference[1500:2500]]
    right = sum(matcher.decide(q).ref == truth for q, truth in evaluation)
    wrong = sum(d.outcome is Outcome.LINK and d.ref != t
                for d, t in ((matcher.decide(q), t) for q, t in evaluation))
    assert right / len(evaluation) > 0.97
    assert wrong == 0


def test_comparison_vector_matches_levels() -> None:
    a, b = person(1), person(2, sex="M")
    vector = comparison_vector(a, b)
    assert len(vector) == len(COMPARISONS)
    sex = [c.name for c in COMPARISONS].index("sex")
    assert COMPARISONS[sex].labels[vector[sex]] == "else"


def _varied_people(rng: random.Random, count: int) -> list:
    """People whose fields vary over the values that reach every level of every comparison."""
    given = ["Amelia", "Amelie", "Millie", "Grace", "Hughes", "Oscar", "", "Ameila", "Emilia"]
    family = ["Hughes", "Hewes", "Smith-Hughes", "Amelia", "Patel", "", "Huges"]
    middle = ["", "Grace", "Grace Amelia", "Amelia Rose", "Rose"]
    dates = [D, dt.date(2015, 4, 3), dt.date(2015, 3, 14), dt.date(2015, 3, 20), dt.date(2005, 3, 4),
             dt.date(2011, 7, 9), None]
    postcodes = ["MK40 1AA", "MK40 1AB", "MK40 3XY", "MK41 7QP", "LS1 4AP", None]
    addresses = ["12 Harpur Street Bedford", "12 Harpur St Bedford", "3 Castle Road", None]
    ids = [{}, {"nhs_number": "9434765870"}, {"nhs_number": "4010232137"}, {"uln": "9276308686"},
           {"nhs_number": "9434765870", "uln": "9276308686"}]
    return [
        make_person(i, given_name=rng.choice(given), family_name=rng.choice(family),
                    middle_names=rng.choice(middle), other_family_names=rng.choice([[], ["Patel"]]),
                    date_of_birth=rng.choice(dates), sex=rng.choice(["F", "M", None]),
                    postcode=rng.choice(postcodes), address=rng.choice(addresses),
                    identifiers=rng.choice(ids) or {"upn": "B801200005001"})
        for i in range(count)
    ]


def test_compiled_vector_walks_the_levels_exactly_as_declared() -> None:
    from matching.comparisons import compile_vector

    rng = random.Random(11)
    people = _varied_people(rng, 300)
    vector = compile_vector(COMPARISONS)
    seen: set[tuple[int, int]] = set()
    for _ in range(20_000):
        a, b = rng.choice(people), rng.choice(people)
        expected = tuple(c.level_of(a, b) for c in COMPARISONS)
        assert vector(a, b) == expected
        seen.update(enumerate(expected))
    # The pairs reached nearly every level, so the comparison above means something.
    reachable = sum(len(c.labels) for c in COMPARISONS)
    assert len(seen) >= reachable - 3


def test_date_relation_agrees_with_date_distance() -> None:
    from index.keys import date_distance
    from matching.comparisons import _relation

    rng = random.Random(5)
    base = [dt.date(2000, 1, 1) + dt.timedelta(days=rng.randrange(9000)) for _ in range(300)]
    for a in base:
        for b in [a, a + dt.timedelta(days=rng.randrange(-40, 40)), rng.choice(base),
                  a.replace(year=a.year + rng.choice([-10, -1, 1, 10])) if a.month != 2 else a,
                  a.replace(day=a.month, month=a.day) if a.day <= 12 else a]:
            assert _relation(a, b) == date_distance(a, b), (a, b)
