"""A merge leaves one clean record (issue 15): equal values fold into one row keeping every
provenance, differing current addresses leave one current by a stated rule, the merged-away id
says where it went, a split restores both exactly; review items explain themselves flat."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, select
from test_matching_review import add, decision_for, pair, record, snapshot, submission  # noqa: F401

from api.schemas import ReviewQueueOut
from index import models as m
from index import transaction
from index.vocabulary import AddressStatus, MatchReason, NameKind
from matching import merged_into, provenance_of
from matching.review import merge_children, open_review, review_item, split_merge

MERGED_ON = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)


def _merge(engine: Engine, keep: int, merge: int) -> int:
    with transaction(engine) as session:
        return merge_children(session, keep=keep, merge=merge, by="la-user-1",
                               reason=MatchReason.DETAILS_MATCH, now=MERGED_ON)


def _rows(engine: Engine, child_id: int) -> tuple[list[tuple], list[tuple]]:
    with transaction(engine) as session:
        names = [(n.kind, n.given_name, n.family_name) for n in session.scalars(
            select(m.ChildName).where(m.ChildName.child_id == child_id).order_by(m.ChildName.id))]
        homes = [(a.status, a.line1, a.postcode, a.valid_to) for a in session.scalars(
            select(m.ChildAddress).where(m.ChildAddress.child_id == child_id).order_by(m.ChildAddress.id))]
    return names, homes


def test_equal_values_fold_into_one_row_with_every_provenance(engine: Engine) -> None:
    s1, s2 = submission(engine, "census"), submission(engine, "health")
    a, b = add(engine, record(s1, "pupil 1"), record(s2, "line 4"))
    before = snapshot(engine)
    merge_id = _merge(engine, a, b)
    names, homes = _rows(engine, a)
    # One current name, the former name once; one current address: no doubles.
    assert names == [(NameKind.CURRENT, "Amelia", "Hughes"), (NameKind.FORMER, "Amelia", "Patel")]
    assert homes == [(AddressStatus.CURRENT, "12 Harpur Street", "MK40 1AA", None)]
    with transaction(engine) as session:
        name_id, address_id = (session.scalar(select(t.id).where(t.child_id == a).order_by(t.id).limit(1))
                               for t in (m.ChildName, m.ChildAddress))
        assert provenance_of(session, m.ChildName, name_id) == [(s1, "pupil 1"), (s2, "line 4")]
        assert provenance_of(session, m.ChildAddress, address_id) == [(s1, "pupil 1"), (s2, "line 4")]
        carers = session.scalars(select(m.Carer.given_name).where(m.Carer.child_id == a)).all()
        assert carers == ["Jo"]  # the same carer, once
        assert merged_into(session, b) == a and merged_into(session, a) is None
    with transaction(engine) as session:
        split_merge(session, merge_id, by="la-user-2")
        assert merged_into(session, b) is None
    assert snapshot(engine) == before  # both restored exactly


def test_differing_current_addresses_leave_the_latest_current(engine: Engine) -> None:
    s1, s2 = submission(engine, "census"), submission(engine, "health")
    older = {"line1": "12 Harpur Street", "town": "Bedford", "postcode": "MK40 1AA",
             "valid_from": "2020-01-01"}
    newer = {"line1": "4 Elm Close", "town": "Luton", "postcode": "LU1 1AA",
             "valid_from": "2025-06-01"}
    a, b = add(engine, record(s1, "pupil 1", addresses=[older]),
               record(s2, "line 4", addresses=[newer],
                      names=[{"given_name": "Amy", "family_name": "Hughes"}]))
    before = snapshot(engine)
    merge_id = _merge(engine, a, b)
    names, homes = _rows(engine, a)
    assert [h for h in homes if h[0] is AddressStatus.CURRENT] == [
        (AddressStatus.CURRENT, "4 Elm Close", "LU1 1AA", None)]
    assert (AddressStatus.LAST_KNOWN, "12 Harpur Street", "MK40 1AA", MERGED_ON.date()) in homes
    assert [n for n in names if n[0] is NameKind.CURRENT] == [(NameKind.CURRENT, "Amelia", "Hughes")]
    assert (NameKind.ALTERNATIVE, "Amy", "Hughes") in names
    with transaction(engine) as session:
        split_merge(session, merge_id, by="la-user-2")
    assert snapshot(engine) == before
    # The kept child's address was the newer one: it stays, the merged child's becomes last known.
    c, d = add(engine, record(s1, "pupil 2", addresses=[newer]), record(s2, "line 5", addresses=[older]))
    _merge(engine, c, d)
    _names, homes = _rows(engine, c)
    assert [h[1] for h in homes if h[0] is AddressStatus.CURRENT] == ["4 Elm Close"]


def test_merges_of_merges_say_where_the_child_lives_on(engine: Engine) -> None:
    s1 = submission(engine, "census")
    a, b, c = add(engine, record(s1, "pupil 1"), record(s1, "pupil 2"), record(s1, "pupil 3"))
    _merge(engine, b, c)
    _merge(engine, a, b)
    with transaction(engine) as session:
        assert merged_into(session, c) == a and merged_into(session, b) == a


def test_review_items_explain_field_by_field(pair) -> None:  # noqa: F811 (the fixture)
    engine, a, b, _s1, _s2 = pair
    decision = decision_for(engine, b)
    with transaction(engine) as session:
        review_id = open_review(session, child_id=b, candidate_id=a, decision=decision)
        item = review_item(session, review_id)
    given = next(f for f in item.fields if f.field == "given_name")
    assert (given.held_value, given.existing_value) == ("Amy", "Amelia")
    assert given.level and isinstance(given.weight, float)
    born = next(f for f in item.fields if f.field == "date_of_birth")
    assert (born.held_value, born.existing_value) == ("2015-08-04", "2015-03-04")
    assert item.prior_weight is not None
    out = ReviewQueueOut(items=[item]).model_dump(mode="json")["items"][0]
    assert "explanation" not in out["explanation"]  # no explanation.explanation
    assert {"field", "held_value", "existing_value", "level", "weight"} == set(out["fields"][0])
    assert "Amy" in item.side_by_side()
