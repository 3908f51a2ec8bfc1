"""Matching decisions: blocking, deterministic identifier links and conflicts, thresholds,
people's verdicts, and shielded children never duplicated."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from index import ChildRecord
from matching import (
    BlockingIndex,
    Matcher,
    MatchModel,
    Outcome,
    Rule,
    TermFrequencies,
    Thresholds,
    UnscorableRecord,
    Verdict,
    make_person,
    person_from_record,
)
from matching.blocking import INDEX_RULES, index_keys, query_keys
from matching.model import weight_of

# A hand-set model, so that these tests do not change when the stored model is re-estimated.
HAND_MODEL: dict[str, object] = {
    "prior": 0.3,
    "m": {
        "address": {
            "address_other_postcode": 0.01, "else": 0.1, "postcode_district": 0.03,
            "postcode_sector": 0.03, "postcode_unit": 0.08, "same_address": 0.75,
        },
        "date_of_birth": {
            "day_month_swapped": 0.01, "else": 0.01, "exact": 0.93, "one_edit": 0.03,
            "within_31_days": 0.01,
        },
        "family_name": {
            "else": 0.01, "exact": 0.88, "former_name": 0.01, "jaro_winkler_0.80": 0.02,
            "jaro_winkler_0.92": 0.04, "part_of_name": 0.02, "phonetic": 0.02,
        },
        "given_name": {
            "else": 0.005, "exact": 0.85, "in_middle_names": 0.01, "jaro_winkler_0.80": 0.03,
            "jaro_winkler_0.92": 0.04, "phonetic": 0.02, "short_form": 0.04,
            "swapped_with_family": 0.005,
        },
        "identifiers": {"agree": 0.69, "differ": 0.01, "else": 0.3},
        "middle_names": {"else": 0.1, "exact": 0.8, "token_set_80": 0.1},
        "sex": {"else": 0.01, "exact": 0.99},
    },
    "u": {
        "address": {
            "address_other_postcode": 0.0001, "else": 0.9644, "postcode_district": 0.03,
            "postcode_sector": 0.005, "postcode_unit": 0.0003, "same_address": 0.0002,
        },
        "date_of_birth": {
            "day_month_swapped": 5e-06, "else": 0.99, "exact": 0.0003, "one_edit": 0.003,
            "within_31_days": 0.006,
        },
        "family_name": {
            "else": 0.97, "exact": 0.005, "former_name": 0.0001, "jaro_winkler_0.80": 0.02,
            "jaro_winkler_0.92": 0.002, "part_of_name": 0.001, "phonetic": 0.003,
        },
        "given_name": {
            "else": 0.95, "exact": 0.01, "in_middle_names": 0.0005, "jaro_winkler_0.80": 0.03,
            "jaro_winkler_0.92": 0.003, "phonetic": 0.004, "short_form": 0.002,
            "swapped_with_family": 0.0001,
        },
        "identifiers": {"agree": 1e-06, "differ": 0.7, "else": 0.3},
        "middle_names": {"else": 0.9, "exact": 0.05, "token_set_80": 0.05},
        "sex": {"else": 0.5, "exact": 0.5},
    },
}


D = dt.date(2015, 3, 4)
NHS = "9434765870"
OTHER_NHS = "4010232137"
UPN = "B801200005001"


def person(ref: int | str, **values: object):
    base: dict[str, object] = {
        "given_name": "Amelia", "family_name": "Hughes", "date_of_birth": D, "sex": "F",
        "postcode": "MK40 1AA", "address": "12 Harpur Street Bedford",
    }
    base.update(values)
    return make_person(ref, **base)  # type: ignore[arg-type]


def matcher(*known, thresholds: Thresholds | None = None, verdicts=None, tf: bool = False) -> Matcher:
    """A matcher over `known` with the stored default model. Term frequencies are off unless
    asked for: over a handful of people every name would count as common."""
    model = MatchModel.from_dict(HAND_MODEL, thresholds or Thresholds())
    index = BlockingIndex(known)
    kwargs = {"verdicts": verdicts} if verdicts else {}
    return Matcher(index, model, TermFrequencies.from_people(known) if tf else None, **kwargs)


# -- blocking -------------------------------------------------------------------------------


@pytest.mark.parametrize("change", [
    {"date_of_birth": dt.date(2015, 4, 3)},           # day and month swapped
    {"date_of_birth": dt.date(2016, 3, 4)},           # one digit wrong
    {"date_of_birth": dt.date(2015, 3, 5)},           # a day out
    {"date_of_birth": dt.date(2011, 7, 9)},           # wholly wrong, names and postcode right
    {"family_name": "Hewes", "postcode": "LS1 4AP"},  # moved, and family name misspelt
    {"given_name": "Hughes", "family_name": "Amelia"},  # names the wrong way round
    {"given_name": "Millie", "family_name": "Patel", "other_family_names": ["Hughes"]},
])
def test_blocking_finds_true_matches_despite_errors(change: dict) -> None:
    known = person(1)
    noise = [person(100 + i, given_name=g, family_name=f, date_of_birth=D + dt.timedelta(days=i * 40))
             for i, (g, f) in enumerate([("Oscar", "Jones"), ("Ava", "Smith"), ("Leo", "Khan")])]
    index = BlockingIndex([known, *noise])
    assert known in index.candidates(person(2, **change))


def test_blocking_keeps_candidates_few_and_query_keys_include_index_keys() -> None:
    rng = random.Random(1)
    syllables = ["ab", "ber", "cot", "dal", "en", "far", "gil", "ham", "ing", "jon", "kel", "lor"]
    people = [person(i, given_name=rng.choice(["Jack", "Ava", "Leo", "Mia", "Noah", "Isla", "Theo"]),
                     family_name=rng.choice(syllables) + rng.choice(syllables),
                     date_of_birth=dt.date(2006, 1, 1) + dt.timedelta(days=rng.randrange(6000)),
                     postcode=f"MK{rng.randrange(1, 40)} {rng.randrange(1, 9)}A{rng.choice('BDEFGH')}")
              for i in range(2000)]
    index = BlockingIndex(people)
    for p in people[:200]:
        assert index_keys(p) <= query_keys(p)
        assert p in index.candidates(p)
    # Mostly a handful of candidates each, never the whole index.
    assert index.stats.mean_candidates < 5


def test_index_keys_follow_the_declared_rules() -> None:
    def declared(p) -> set[int]:
        values = {"dob": p.dob, "family_phonetic": p.family_phonetic, "given_phonetic": p.given_phonetic,
                  "postcode_unit": p.postcode[0] if p.postcode else None,
                  "birth_year": p.dob.year if p.dob else None}
        keys = {hash(("id", s, v)) for s, v in p.ids}
        for rule, attributes in INDEX_RULES:
            if all(values[a] for a in attributes):
                keys.add(hash((rule, *(values[a] for a in attributes))))
        return keys

    for p in [person(1), person(2, postcode=None), person(3, given_name=None),
              person(4, date_of_birth=None, identifiers={"nhs_number": NHS}),
              person(5, family_name="O'Neil-Smith", postcode="LS1 4AP")]:
        assert index_keys(p) == declared(p)


def test_strict_keys_are_a_subset_of_loose_keys() -> None:
    for p in [person(1), person(2, shielded=True), person(3, other_family_names=["Patel"])]:
        assert query_keys(p, loose=False) <= query_keys(p, loose=True)


def test_oversized_blocks_are_skipped_and_counted() -> None:
    same = [person(i, postcode=None, address=None) for i in range(30)]
    index = BlockingIndex(same, max_block=10)
    assert index.candidates(person("x")) == []
    assert index.stats.skipped_blocks > 0


# -- three outcomes -------------------------------------------------------------------------


def test_clear_match_links_with_explanation() -> None:
    decision = matcher(person(1), person(2, given_name="Oscar", sex="M")).decide(
        person("in", given_name="Millie", postcode="MK40 1AB"))
    assert decision.outcome is Outcome.LINK and decision.ref == 1
    assert decision.rule is Rule.PROBABILISTIC_LINK
    assert decision.explanation is not None
    assert decision.probability >= decision.thresholds.link
    levels = {f.comparison: f.level for f in decision.explanation.fields}
    assert levels["given_name"] == "short_form" and levels["date_of_birth"] == "exact"
    stored = decision.as_dict()
    assert stored["rule"] == "probabilistic:link" and stored["thresholds"]["link"] == 0.99
    assert "Hughes" not in str(stored) and "Amelia" not in str(stored)


def test_no_candidate_means_new() -> None:
    decision = matcher(person(1)).decide(
        person("in", given_name="Oscar", family_name="Okafor", date_of_birth=dt.date(2010, 1, 1),
               postcode="LS1 4AP", address="1 Park Row Leeds"))
    assert decision.outcome is Outcome.NEW and decision.ref is None


def test_weak_candidate_is_new_and_middling_one_is_review() -> None:
    known = person(1)
    # A sibling: same family, address and postcode, different given name and date of birth.
    sibling = person("in", given_name="Oscar", sex="M", date_of_birth=dt.date(2015, 6, 20))
    assert matcher(known).decide(sibling).outcome is Outcome.NEW
    # Same name, but another date of birth and address: possible, not certain.
    possible = person("in", postcode="LS1 4AP", address="1 Park Row Leeds", sex=None,
                      date_of_birth=dt.date(2015, 6, 20))
    decision = matcher(known).decide(possible)
    assert decision.outcome is Outcome.REVIEW and decision.rule is Rule.PROBABILISTIC_REVIEW
    assert decision.thresholds.review <= decision.probability < decision.thresholds.link


def test_thresholds_are_configurable() -> None:
    known = person(1)
    possible = person("in", postcode="LS1 4AP", address="1 Park Row Leeds", sex=None,
                      date_of_birth=dt.date(2015, 3, 14))  # one digit out
    strict = matcher(known, thresholds=Thresholds(link=0.999999, review=0.9999))
    loose = matcher(known, thresholds=Thresholds(link=0.8, review=0.5))
    assert strict.decide(possible).outcome is Outcome.NEW
    assert loose.decide(possible).outcome is Outcome.LINK


def test_no_automatic_link_across_a_different_birth_date_or_identifier() -> None:
    """Strong evidence elsewhere does not carry a link over a date of birth that is no keying
    error, or over a different identifier of the same scheme: a namesake or sibling is likelier."""
    known = person(1, middle_names="Rose", identifiers={"nhs_number": NHS})
    loose = Thresholds(link=0.8, review=0.5)
    for change in ({"date_of_birth": dt.date(2015, 3, 20)},        # 16 days out
                   {"date_of_birth": dt.date(2012, 9, 30)},        # wholly different
                   {"identifiers": {"nhs_number": OTHER_NHS}}):
        decision = matcher(known, thresholds=loose).decide(person("in", middle_names="Rose", **change))
        assert decision.outcome is Outcome.REVIEW and decision.rule is Rule.CONTRADICTION, change
    # A keying error in the date still links.
    typo = matcher(known, thresholds=loose).decide(person("in", middle_names="Rose",
                                                         date_of_birth=dt.date(2015, 3, 14)))
    assert typo.outcome is Outcome.LINK


def test_two_strong_disagreements_mean_different_children_but_shielding_still_holds() -> None:
    # A sibling at the same home, middle name shared: much agrees, but the given name, the date
    # of birth and the NHS number all differ.
    known = person(1, middle_names="Rose", identifiers={"nhs_number": NHS})
    sibling = person("in", given_name="Oscar", middle_names="Rose", date_of_birth=dt.date(2012, 9, 30),
                     identifiers={"nhs_number": OTHER_NHS})
    lenient = Thresholds(link=0.99, review=0.01, shield_review=0.001)
    assert matcher(known, thresholds=lenient).model.total(sibling, known) >= weight_of(0.01)
    decision = matcher(known, thresholds=lenient).decide(sibling)
    assert decision.outcome is Outcome.NEW and decision.rule is Rule.DIFFERENT_CHILDREN
    assert decision.explanation is not None and decision.candidates[0].ref == 1
    shielded = person(1, middle_names="Rose", identifiers={"nhs_number": NHS}, shielded=True)
    held = matcher(shielded, thresholds=lenient).decide(sibling)
    assert held.outcome is Outcome.REVIEW and held.rule is Rule.SHIELDED and held.shielded


def test_two_close_candidates_are_ambiguous() -> None:
    twins = [person(1), person(2, given_name="Amelie")]
    decision = matcher(*twins).decide(person("in", given_name="Amelia-Rose"))
    assert decision.outcome is Outcome.REVIEW
    assert decision.rule is Rule.AMBIGUOUS
    assert {c.ref for c in decision.candidates} == {1, 2}


# -- deterministic identifiers and conflicts ------------------------------------------------


def test_trusted_identifier_links_despite_weak_demographics() -> None:
    known = person(1, identifiers={"nhs_number": NHS})
    moved = person("in", family_name="Patel", postcode="LS1 4AP", address="1 Park Row",
                   identifiers={"nhs_number": NHS})
    decision = matcher(known, person(2, given_name="Oscar")).decide(moved)
    assert decision.outcome is Outcome.LINK and decision.ref == 1
    assert decision.rule is Rule.IDENTIFIER and decision.scheme == "nhs_number"


def test_same_identifier_on_clearly_different_child_is_a_conflict() -> None:
    known = person(1, identifiers={"upn": UPN})
    # A twin given the other's UPN: same family, address, date of birth; different child.
    twin = person("in", given_name="Oscar", sex="M", identifiers={"upn": UPN})
    decision = matcher(known).decide(twin)
    assert decision.outcome is Outcome.REVIEW
    assert decision.rule is Rule.IDENTIFIER_CONFLICT_DEMOGRAPHICS and decision.scheme == "upn"
    stranger = person("in", given_name="Oscar", family_name="Okafor", sex="M",
                      date_of_birth=dt.date(2009, 12, 1), postcode="LS1 4AP", address="1 Park Row",
                      identifiers={"upn": UPN})
    assert matcher(known).decide(stranger).rule is Rule.IDENTIFIER_CONFLICT_DEMOGRAPHICS


def test_identifier_held_by_two_children_is_a_conflict() -> None:
    a = person(1, identifiers={"nhs_number": NHS})
    b = person(2, given_name="Ava", date_of_birth=dt.date(2013, 1, 1), identifiers={"nhs_number": NHS})
    decision = matcher(a, b).decide(person("in", identifiers={"nhs_number": NHS}))
    assert decision.outcome is Outcome.REVIEW
    assert decision.rule is Rule.IDENTIFIER_CONFLICT_SHARED


def test_different_identifiers_count_against_a_link() -> None:
    known = person(1, identifiers={"nhs_number": NHS})
    same_looking = person("in", identifiers={"nhs_number": OTHER_NHS})
    without = person("in2")
    m = matcher(known)
    assert m.decide(same_looking).weight < m.decide(without).weight


# -- people's decisions stand ----------------------------------------------------------------


def test_verdicts_override_scores() -> None:
    known = person(1)
    incoming = person("in")
    verdicts = {("in", 1): Verdict.DIFFERENT}
    different = matcher(known, verdicts=lambda a, b: verdicts.get((a.ref, b.ref)))
    assert different.decide(incoming).outcome is Outcome.NEW
    weak = person("in", postcode="LS1 4AP", address="1 Park Row Leeds", sex=None,
                  date_of_birth=dt.date(2015, 6, 20))
    assert matcher(known).decide(weak).outcome is Outcome.REVIEW
    same = matcher(known, verdicts=lambda a, b: Verdict.SAME if (a.ref, b.ref) == ("in", 1) else None)
    decision = same.decide(weak)
    assert decision.outcome is Outcome.LINK and decision.rule is Rule.HUMAN_SAME
    # A verdict survives a change of thresholds: re-scoring does not undo it.
    stricter = matcher(known, thresholds=Thresholds(link=0.999999999, review=0.9999),
                       verdicts=lambda a, b: Verdict.SAME if (a.ref, b.ref) == ("in", 1) else None)
    assert stricter.decide(weak).outcome is Outcome.LINK


# -- shielded children ----------------------------------------------------------------------


def _record(**changes: object) -> ChildRecord:
    data: dict[str, object] = {
        "owning_la": "823", "date_of_birth": D, "gender": "female",
        "names": [{"given_name": "Amelia", "family_name": "Hughes"}],
        "addresses": [{"line1": "12 Harpur Street", "town": "Bedford", "postcode": "MK40 1AA"}],
    }
    data.update(changes)
    return ChildRecord.model_validate(data)


def test_contactpoint_case_national_feed_never_duplicates_a_shielded_child() -> None:
    """ContactPoint: a national feed failed to match a shielded child's record (new address
    withheld, name spelt differently) and created a visible, unshielded duplicate. Here the
    feed's record must go to review and be treated as shielded until the LA decides."""
    shielded = person_from_record(1, _record(shielded=True))
    others = [person_from_record(i, _record(names=[{"given_name": g, "family_name": f}],
                                            date_of_birth=D + dt.timedelta(days=17 * i)))
              for i, (g, f) in enumerate([("Oscar", "Jones"), ("Ava", "Smith")], start=2)]
    feed = person_from_record("nhs-feed-1", _record(
        names=[{"given_name": "Amy", "family_name": "Patel"}],
        date_of_birth=dt.date(2015, 8, 4),
        addresses=[{"line1": "4 Elm Close", "town": "Luton", "postcode": "LU1 1AA"}],
        identifiers=[{"scheme": "nhs_number", "value": NHS}],
    ))
    unshielded = person_from_record(1, _record())
    plain = matcher(unshielded, *others).decide(feed)
    decision = matcher(shielded, *others).decide(feed)
    # Unshielded, nothing finds the old record and the feed would create a new child...
    assert plain.outcome is Outcome.NEW
    # ...but a possible shielded match is held for review, as shielded, never a new child.
    assert decision.outcome is Outcome.REVIEW
    assert decision.rule is Rule.SHIELDED and decision.ref == 1
    assert decision.shielded
    assert decision.probability < decision.thresholds.review


def test_link_to_a_shielded_child_keeps_the_record_shielded() -> None:
    shielded = person(1, shielded=True)
    decision = matcher(shielded).decide(person("in"))
    assert decision.outcome is Outcome.LINK and decision.ref == 1 and decision.shielded


def test_possible_shielded_match_beats_a_confident_link_elsewhere() -> None:
    visible = person(1, given_name="Amelia", identifiers={"upn": UPN})
    shielded = person(2, given_name="Amelie", shielded=True)
    decision = matcher(visible, shielded).decide(person("in", identifiers={"upn": UPN}))
    assert decision.outcome is Outcome.REVIEW and decision.shielded
    assert decision.rule in (Rule.SHIELDED, Rule.AMBIGUOUS)


def test_twin_with_a_different_given_name_is_never_linked_automatically() -> None:
    twin = person(1, given_name="Oscar", sex="M")
    decision = matcher(twin).decide(person("in", given_name="Ruby", sex="M"))
    assert decision.outcome is Outcome.REVIEW and decision.rule is Rule.CONTRADICTION


def test_contactpoint_case_with_the_stored_model() -> None:
    """The same ContactPoint case under the stored, estimated model: a shielded girl's record
    arrives from a feed under a new family name and address, known by a short form."""
    model = MatchModel.load()
    shielded = person_from_record(1, _record(shielded=True))
    unshielded = person_from_record(1, _record())
    others = [person(10 + i, given_name=g, family_name=f, date_of_birth=D + dt.timedelta(days=30 * i))
              for i, (g, f) in enumerate([("Oscar", "Jones"), ("Ava", "Smith")], start=1)]
    feed = person_from_record("feed-2", _record(
        names=[{"given_name": "Millie", "family_name": "Patel"}],
        addresses=[{"line1": "4 Elm Close", "town": "Luton", "postcode": "LU1 1AA"}],
    ))
    plain = Matcher(BlockingIndex([unshielded, *others]), model).decide(feed)
    held = Matcher(BlockingIndex([shielded, *others]), model).decide(feed)
    assert plain.outcome is Outcome.NEW
    assert held.outcome is Outcome.REVIEW and held.ref == 1 and held.shielded


def test_a_batch_survives_records_that_cannot_be_scored() -> None:
    known = person_from_record(1, _record())
    batch = [
        ("r1", _record(names=[{"given_name": "!!!", "family_name": "???"}])),  # no usable name
        ("r2", _record(names=[{"given_name": "Amelia", "family_name": "Hughes"}])),
        ("r3", _record(names=[{"given_name": "x" * 100, "family_name": "Ó" * 100}], addresses=[])),
        ("r4", _record(names=[{"given_name": "Ruby", "family_name": "Okafor"}],
                       date_of_birth=dt.date(2011, 1, 1), addresses=[])),
        ("r5", _record(names=[{"given_name": "Ruby", "family_name": "Okafor"}],
                       date_of_birth=dt.date(2011, 1, 1), addresses=[])),
    ]
    m = matcher(known)
    results = dict(m.decide_records(batch, add_new=True))
    assert isinstance(results["r1"], UnscorableRecord)
    assert "nothing to match on" in str(results["r1"]) and "!!!" not in str(results["r1"])
    assert results["r2"].outcome is Outcome.LINK and results["r2"].ref == 1
    assert results["r3"].outcome is Outcome.NEW
    assert results["r4"].outcome is Outcome.NEW
    # The second record of a new child links to the first, once it is known.
    assert results["r5"].outcome is Outcome.LINK and results["r5"].ref == "r4"


def test_a_batch_survives_hostile_records_that_slipped_past_validation() -> None:
    """Records built without validation (a caller's bug, a stale cache): absurd dates, overlong
    or unusable names, missing parts. Each is reported with a reason and no value; the
    well-formed records around them are decided as usual."""
    known = person_from_record(1, _record())
    good = _record()

    def unvalidated(**changes: object) -> ChildRecord:
        return good.model_copy(update=changes)  # model_copy does not validate

    name = good.names[0]
    batch = [
        ("old", unvalidated(date_of_birth=dt.date(1066, 10, 14))),
        ("future", unvalidated(date_of_birth=dt.date(2999, 1, 1))),
        ("long", unvalidated(names=[name.model_copy(update={"family_name": "Q" * 5000})])),
        ("blank", unvalidated(names=[name.model_copy(update={"given_name": "\u200b", "family_name": " "})])),
        ("broken", unvalidated(names=[])),  # no current name at all
        ("ok", good),
        ("cyrillic", unvalidated(names=[name.model_copy(update={"given_name": "Дмитрий",
                                                                "family_name": "Иванов"})])),
    ]
    results = dict(matcher(known).decide_records(batch))
    reasons = {ref: str(r) for ref, r in results.items() if isinstance(r, UnscorableRecord)}
    assert set(reasons) == {"old", "future", "long", "blank", "broken"}
    assert "plausible" in reasons["old"] and "plausible" in reasons["future"]
    assert "longer than 100" in reasons["long"] and "Q" * 10 not in reasons["long"]
    assert "nothing to match on" in reasons["blank"]
    assert "could not be normalised" in reasons["broken"]
    assert results["ok"].outcome is Outcome.LINK and results["ok"].ref == 1
    assert results["cyrillic"].outcome is not Outcome.LINK
