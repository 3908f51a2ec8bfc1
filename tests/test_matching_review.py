"""The LA data team's review queue, merges and splits: history kept, nothing lost, reversible,
decisions stand after re-scoring, shielded children never duplicated (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine, select

from index import ChildRecord, add_children, transaction
from index import models as m
from index.store import create_submission
from index.vocabulary import MatchReason, NameKind, ReviewStatus, SourceKind
from matching import BlockingIndex, Matcher, MatchModel, Outcome, Rule, Thresholds, Verdict
from matching.review import (
    ReviewError,
    decide_review,
    history,
    merge_children,
    open_review,
    person_from_child,
    rescore_open_reviews,
    review_item,
    review_queue,
    split_merge,
    verdict_lookup,
)

D = dt.date(2015, 3, 4)
NHS = "9434765870"


def record(submission: int, ref: str, **changes: Any) -> ChildRecord:
    data: dict[str, Any] = {
        "owning_la": "823", "date_of_birth": D, "gender": "female",
        "names": [{"given_name": "Amelia", "family_name": "Hughes"},
                  {"kind": "former", "given_name": "Amelia", "family_name": "Patel"}],
        "addresses": [{"line1": "12 Harpur Street", "town": "Bedford", "postcode": "MK40 1AA"}],
        "identifiers": [{"scheme": "nhs_number", "value": NHS}],
        "carers": [{"given_name": "Jo", "family_name": "Hughes", "relationship_to_child": "parent"}],
        "involvements": [{"service_type": "school", "organisation_name": "Harpur Primary",
                          "organisation_code": "8231234",
                          "indicators": [{"kind": "taking_action", "set_by": "T. Teacher",
                                          "set_at": "2025-01-01T09:00:00+00:00"}]}],
        "provenance": {"submission_id": submission, "record_ref": ref},
    }
    data.update(changes)
    return ChildRecord.model_validate(data)


def add(engine: Engine, *records_: ChildRecord) -> list[int]:
    with transaction(engine) as session:
        return add_children(session, records_)


def submission(engine: Engine, name: str) -> int:
    with transaction(engine) as session:
        return create_submission(session, source_kind=SourceKind.SERVICE_FEED, source_code=name)


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every child-owned row with its values and provenance, for before/after comparisons (not
    when a row was last written, nor how often: `revision` rightly goes up with a merge)."""
    tables = [m.Child, m.ChildName, m.ChildAddress, m.ChildIdentifier, m.Carer, m.Involvement,
              m.Indicator]
    with transaction(engine) as session:
        result = {}
        for table in tables:
            columns = [c for c in table.__table__.columns if c.name not in ("updated_at", "revision")]
            rows = session.execute(select(*columns).order_by(*table.__table__.primary_key.columns))
            result[table.__tablename__] = [tuple(r) for r in rows]
        return result


def decision_for(engine: Engine, child_id: int, *, thresholds: Thresholds | None = None):
    """The matcher's decision for a stored child against every other stored child."""
    with transaction(engine) as session:
        children = session.scalars(select(m.Child)).all()
        people = [person_from_child(c) for c in children]
    incoming = next(p for p in people if p.ref == child_id)
    known = BlockingIndex([p for p in people if p.ref != child_id])
    return Matcher(known, MatchModel.load(thresholds=thresholds)).decide(incoming)


@pytest.fixture
def pair(engine: Engine) -> tuple[Engine, int, int, int, int]:
    """An existing child A (shielded) and a record held as child B for review: B carries A's
    NHS number, but is recorded as a boy with another name, date of birth and address (an
    identifier conflict, or a mistyped number)."""
    s1, s2 = submission(engine, "census"), submission(engine, "health")
    (a,) = add(engine, record(s1, "pupil 1", shielded=True))
    (b,) = add(engine, record(
        s2, "line 7", gender="male",
        names=[{"given_name": "Amy", "middle_names": "Rose", "family_name": "Patel"}],
        date_of_birth=dt.date(2015, 8, 4),
        addresses=[{"line1": "4 Elm Close", "town": "Luton", "postcode": "LU1 1AA"}],
        identifiers=[{"scheme": "nhs_number", "value": NHS},
                     {"scheme": "uln", "value": "9276308686"}],
        carers=[{"given_name": "Sam", "family_name": "Patel", "relationship_to_child": "carer"}],
        involvements=[{"service_type": "gp_practice", "organisation_name": "Elm Surgery",
                       "organisation_code": "E81001"}],
    ))
    return engine, a, b, s1, s2


def test_contactpoint_case_record_held_shielded_until_decided(pair) -> None:
    engine, a, b, _s1, _s2 = pair
    decision = decision_for(engine, b)
    assert decision.outcome is Outcome.REVIEW and decision.ref == a and decision.shielded
    with transaction(engine) as session:
        review_id = open_review(session, child_id=b, candidate_id=a, decision=decision)
    with transaction(engine) as session:
        # No visible, unshielded duplicate of the shielded child while the LA decides.
        assert session.get(m.Child, b).shielded
        item = review_item(session, review_id)
        assert item.status is ReviewStatus.OPEN and item.child.child_id == b
        assert item.candidate.child_id == a and item.candidate.shielded
        text = item.side_by_side()
        assert "Amy" in text and "Amelia" in text and "family_name" in text
        assert item.explanation["rule"] == decision.rule.value
        stored = json.loads(session.get(m.MatchReview, review_id).explanation)
        assert stored["explanation"]["fields"][0]["comparison"] == "given_name"
        assert "Amelia" not in json.dumps(stored) and "Patel" not in json.dumps(stored)
    with transaction(engine) as session:
        decide_review(session, review_id, Verdict.DIFFERENT, by="la-user-1",
                      reason=MatchReason.DIFFERENT_PEOPLE)
    with transaction(engine) as session:
        assert not session.get(m.Child, b).shielded  # hold released: it was never its own shield
        assert session.get(m.Child, a).shielded
        review = session.get(m.MatchReview, review_id)
        assert (review.status, review.decided_by, review.decision_reason) == (
            ReviewStatus.DIFFERENT, "la-user-1", MatchReason.DIFFERENT_PEOPLE)
        with pytest.raises(ReviewError, match="already decided"):
            decide_review(session, review_id, Verdict.SAME, by="x", reason=MatchReason.DETAILS_MATCH)


def test_merge_loses_nothing_and_split_restores_everything(pair) -> None:
    engine, a, b, _s1, s2 = pair
    before = snapshot(engine)
    decision = decision_for(engine, b)
    with transaction(engine) as session:
        review_id = open_review(session, child_id=b, candidate_id=a, decision=decision)
    with transaction(engine) as session:
        merge_id = decide_review(session, review_id, Verdict.SAME, by="la-user-2",
                                 reason=MatchReason.DETAILS_CONFIRMED_WITH_SOURCE)
    assert merge_id is not None
    with transaction(engine) as session:
        assert session.get(m.Child, b) is None
        kept = session.get(m.Child, a)
        assert kept.shielded
        names = {(n.given_name, n.family_name, n.kind, n.submission_id, n.record_ref) for n in kept.names}
        assert ("Amy", "Patel", NameKind.ALTERNATIVE, s2, "line 7") in names
        assert sum(n.kind is NameKind.CURRENT for n in kept.names) == 1
        assert {ad.postcode for ad in kept.addresses} == {"MK40 1AA", "LU1 1AA"}
        ids = {(i.scheme.value, i.value, i.submission_id) for i in kept.identifiers}
        assert ("uln", "9276308686", s2) in ids
        assert sum(i.value == NHS for i in kept.identifiers) == 1  # the duplicate is in history
        assert {c.family_name for c in kept.carers} == {"Hughes", "Patel"}
        assert {i.organisation_name for i in kept.involvements} == {"Harpur Primary", "Elm Surgery"}
        merge = session.get(m.ChildMerge, merge_id)
        assert (merge.merged_by, merge.merge_reason, merge.review_id) == (
            "la-user-2", MatchReason.DETAILS_CONFIRMED_WITH_SOURCE, review_id)
        assert any(r.removed and r.value == NHS and r.submission_id == s2 for r in merge.rows)
    with transaction(engine) as session:
        assert split_merge(session, merge_id, by="la-user-3") == (a, b)
    after = snapshot(engine)
    assert after == before  # every row, value and provenance exactly as before the merge
    with transaction(engine) as session:
        merge = session.get(m.ChildMerge, merge_id)
        assert merge.split_by == "la-user-3" and merge.split_reason is MatchReason.WRONG_MERGE
        with pytest.raises(ReviewError, match="already split"):
            split_merge(session, merge_id, by="la-user-3")
        # The split is a decision too: these two are different children from now on.
        lookup = verdict_lookup(session)
        people = {c.id: person_from_child(c) for c in session.scalars(select(m.Child))}
        assert lookup(people[b], people[a]) is Verdict.DIFFERENT
        assert [i.status for i in history(session, b)] == [ReviewStatus.SAME, ReviewStatus.DIFFERENT]


def test_decisions_stand_when_weights_or_thresholds_change(pair) -> None:
    engine, a, b, _s1, _s2 = pair
    decision = decision_for(engine, b)
    with transaction(engine) as session:
        review_id = open_review(session, child_id=b, candidate_id=a, decision=decision)
        decide_review(session, review_id, Verdict.DIFFERENT, by="la-user-1",
                      reason=MatchReason.TWINS_OR_SIBLINGS)
    loose = Thresholds(link=0.02, review=0.01, shield_review=0.01)
    with transaction(engine) as session:
        assert rescore_open_reviews(session, MatchModel.load(thresholds=loose)) == 0
        lookup = verdict_lookup(session)
        children = session.scalars(select(m.Child)).all()
        people = [person_from_child(c) for c in children]
    incoming = next(p for p in people if p.ref == b)
    index = BlockingIndex([p for p in people if p.ref != b])
    # Without the decision, A would be proposed again...
    assert Matcher(index, MatchModel.load(thresholds=loose)).decide(incoming).ref == a
    # ...with it, never.
    decided = Matcher(index, MatchModel.load(thresholds=loose), verdicts=lookup).decide(incoming)
    assert decided.ref != a and decided.outcome is Outcome.NEW
    with transaction(engine) as session:
        review = session.get(m.MatchReview, review_id)
        assert review.status is ReviewStatus.DIFFERENT and review.decided_by == "la-user-1"


def test_queue_orders_by_priority_and_rescoring_updates_only_open_items(engine: Engine) -> None:
    s = submission(engine, "feed")
    ids = add(engine, *[record(s, f"line {i}", identifiers=[],
                               names=[{"given_name": g, "family_name": "Hughes"}])
                        for i, g in enumerate(["Amelia", "Amelie", "Amelia-Rose", "Emilia"])])
    model = MatchModel.load()
    with transaction(engine) as session:
        people = {c.id: person_from_child(c) for c in session.scalars(select(m.Child))}
    index = BlockingIndex([people[ids[0]]])
    matcher = Matcher(index, model)
    made = {}
    for child, rule in [(ids[1], Rule.PROBABILISTIC_REVIEW), (ids[2], Rule.SHIELDED),
                        (ids[3], Rule.IDENTIFIER_CONFLICT_DEMOGRAPHICS)]:
        base = matcher.decide_among(people[child], [people[ids[0]]])
        decision = replace(base, outcome=Outcome.REVIEW, rule=rule)
        with transaction(engine) as session:
            made[rule] = open_review(session, child_id=child, candidate_id=ids[0], decision=decision)
    with transaction(engine) as session:
        queue = review_queue(session)
        assert [i.rule for i in queue] == [Rule.SHIELDED.value, Rule.IDENTIFIER_CONFLICT_DEMOGRAPHICS.value,
                                           Rule.PROBABILISTIC_REVIEW.value]
        assert review_queue(session, owning_la="999") == []
        decide_review(session, made[Rule.SHIELDED], Verdict.DIFFERENT, by="u",
                      reason=MatchReason.DIFFERENT_PEOPLE)
    with transaction(engine) as session:
        before = {r.id: (r.weight, r.explanation) for r in session.scalars(select(m.MatchReview))}
        heavier = MatchModel.load()
        heavier.m["family_name"]["exact"] = 0.999
        heavier = MatchModel(heavier.m, heavier.u, heavier.prior, heavier.thresholds)
        assert rescore_open_reviews(session, heavier) == 2
    with transaction(engine) as session:
        after = {r.id: (r.weight, r.explanation) for r in session.scalars(select(m.MatchReview))}
    assert after[made[Rule.SHIELDED]] == before[made[Rule.SHIELDED]]  # decided: untouched
    assert after[made[Rule.PROBABILISTIC_REVIEW]][0] != before[made[Rule.PROBABILISTIC_REVIEW]][0]


def test_merge_refusals_and_withdrawn_reviews(pair) -> None:
    engine, a, b, _s1, s2 = pair
    (c,) = add(engine, record(s2, "line 9", identifiers=[],
                              names=[{"given_name": "Amelie", "family_name": "Hughes"}]))
    decision = decision_for(engine, c)
    with transaction(engine) as session:
        with pytest.raises(ReviewError, match="itself"):
            merge_children(session, keep=a, merge=a, by="u", reason=MatchReason.DETAILS_MATCH)
        with pytest.raises(ReviewError, match="does not exist"):
            merge_children(session, keep=a, merge=999_999, by="u", reason=MatchReason.DETAILS_MATCH)
        review_id = open_review(session, child_id=c, candidate_id=b,
                                decision=replace(decision, outcome=Outcome.REVIEW))
        merge_children(session, keep=a, merge=b, by="u", reason=MatchReason.IDENTIFIERS_CONFIRMED)
    with transaction(engine) as session:
        assert session.get(m.MatchReview, review_id).status is ReviewStatus.WITHDRAWN
        assert review_queue(session) == []


def test_review_commands(tmp_path) -> None:
    from typer.testing import CliRunner

    from index.store import make_engine, upgrade
    from ops.cli import app

    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    s1, s2 = submission(engine, "census"), submission(engine, "health")
    (a,) = add(engine, record(s1, "pupil 1", shielded=True))
    (b,) = add(engine, record(s2, "line 7", gender="male",
                              names=[{"given_name": "Amy", "family_name": "Patel"}]))
    with transaction(engine) as session:
        review_id = open_review(session, child_id=b, candidate_id=a, decision=decision_for(engine, b))
    runner = CliRunner()
    listed = runner.invoke(app, ["review", "list", "--db", url])
    assert listed.exit_code == 0 and f"{review_id:>6}" in listed.output
    shown = runner.invoke(app, ["review", "show", str(review_id), "--db", url])
    assert shown.exit_code == 0 and "identifiers" in shown.output and "total" in shown.output
    bad = runner.invoke(app, ["review", "decide", str(review_id), "same", "--by", "u1",
                              "--reason", "because", "--db", url])
    assert bad.exit_code != 0  # reasons are coded
    same = runner.invoke(app, ["review", "decide", str(review_id), "same", "--by", "u1",
                               "--reason", "identifiers_confirmed", "--db", url])
    assert same.exit_code == 0, same.output
    merge_id = int(same.output.split("merge ")[1].split(";")[0])
    again = runner.invoke(app, ["review", "decide", str(review_id), "different", "--by", "u1",
                                "--reason", "different_people", "--db", url])
    assert again.exit_code == 2 and "already decided" in again.output
    split = runner.invoke(app, ["review", "split", str(merge_id), "--by", "u2", "--db", url])
    assert split.exit_code == 0 and f"child {b} restored" in split.output
    log = runner.invoke(app, ["review", "history", str(b), "--db", url])
    assert "same" in log.output and "different" in log.output and "u2" in log.output
    engine.dispose()
