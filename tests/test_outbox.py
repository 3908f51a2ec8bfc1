"""The search outbox (index.outbox) on both databases, with the embedded backend.

Elasticsearch going down while updates are queued, and the catch-up afterwards, are in
tests/test_elastic.py (they need the real node).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select, update

from index import ChildRecord, SearchQuery, add_children, outbox, transaction
from index import models as m
from index.embedded import EmbeddedSearch

DOB = dt.date(2015, 3, 14)
QUERY = SearchQuery(family_name="Okafor", given_name="Chidi", date_of_birth=DOB)


def record(given: str, family: str) -> ChildRecord:
    return ChildRecord.model_validate({
        "owning_la": "823", "date_of_birth": DOB, "gender": "male",
        "names": [{"given_name": given, "family_name": family}],
        "addresses": [{"line1": "1 High Street", "postcode": "MK40 1AA"}],
    })


def found(backend: EmbeddedSearch, query: SearchQuery = QUERY) -> list[int]:
    return [hit.child_id for hit in backend.search(query)]


def test_marks_commit_with_the_change_or_not_at_all(engine: Engine) -> None:
    with pytest.raises(RuntimeError), transaction(engine) as session:
        ids = add_children(session, [record("Chidi", "Okafor")])
        outbox.mark_changed(session, ids)
        raise RuntimeError("the nightly run dies before committing")
    assert outbox.pending(engine) == 0
    with transaction(engine) as session:
        ids = add_children(session, [record("Chidi", "Okafor"), record("Ada", "Okafor")])
        assert outbox.mark_changed(session, [*ids, ids[0]]) == 2
    assert outbox.pending(engine) == 2


def test_drain_pushes_changes_and_empties_the_outbox(engine: Engine) -> None:
    backend = EmbeddedSearch(engine)
    with transaction(engine) as session:
        [chidi] = add_children(session, [record("Chidi", "Okafor")])
        outbox.mark_changed(session, [chidi])
    assert found(backend) == []
    report = outbox.drain(engine, backend)
    assert report == outbox.DrainReport(pushed=1, pending=0) and report.caught_up
    assert found(backend) == [chidi]
    # Archived in the store and marked: the drain takes the child out of the search.
    with transaction(engine) as session:
        session.execute(update(m.Child).where(m.Child.id == chidi).values(status="archived"))
        outbox.mark_changed(session, [chidi])
    assert outbox.drain(engine, backend).pushed == 1
    with engine.connect() as conn:
        assert conn.scalar(select(m.SearchKey.key).where(m.SearchKey.child_id == chidi)) is None
    # Nothing queued: draining again is a no-op.
    assert outbox.drain(engine, backend) == outbox.DrainReport(pushed=0, pending=0)


def test_drain_in_batches_and_with_a_limit(engine: Engine) -> None:
    backend = EmbeddedSearch(engine)
    with transaction(engine) as session:
        ids = add_children(session, [record(f"Chidi{'e' * i}", "Okafor") for i in range(7)])
        outbox.mark_changed(session, ids)
    report = outbox.drain(engine, backend, batch=2, limit=5)
    assert (report.pushed, report.pending, report.caught_up) == (5, 2, False)
    assert outbox.drain(engine, backend, batch=2) == outbox.DrainReport(pushed=2, pending=0)
    assert set(ids) <= set(found(backend))


class MarksAgainWhilePushing(EmbeddedSearch):
    """The real embedded backend; while it pushes, another transaction changes a child again
    (as a second nightly run or a merge would)."""

    def __init__(self, engine: Engine, child_id: int) -> None:
        super().__init__(engine)
        self.child_id = child_id

    def index_children(self, child_ids):  # type: ignore[no-untyped-def]
        super().index_children(child_ids)
        with transaction(self._engine) as session:
            session.execute(update(m.ChildName).where(m.ChildName.child_id == self.child_id)
                            .values(family_name="Okonjo"))
            outbox.mark_changed(session, [self.child_id])


def test_a_change_made_during_a_drain_stays_queued(engine: Engine) -> None:
    with transaction(engine) as session:
        [chidi] = add_children(session, [record("Chidi", "Okafor")])
        outbox.mark_changed(session, [chidi])
    report = outbox.drain(engine, MarksAgainWhilePushing(engine, chidi), limit=1)
    assert (report.pushed, report.pending) == (1, 1)
    with engine.connect() as conn:
        [(queued,)] = conn.execute(select(m.SearchOutboxEntry.child_id)).all()
        keys_before = set(conn.scalars(select(m.SearchKey.key).where(m.SearchKey.child_id == chidi)))
    assert queued == chidi  # the newer change is still queued, not lost with the pushed row
    backend = EmbeddedSearch(engine)
    assert outbox.drain(engine, backend) == outbox.DrainReport(pushed=1, pending=0)
    with engine.connect() as conn:
        keys_after = set(conn.scalars(select(m.SearchKey.key).where(m.SearchKey.child_id == chidi)))
    assert keys_after != keys_before  # the new family name's keys
    renamed = SearchQuery(family_name="Okonjo", given_name="Chidi", date_of_birth=DOB)
    assert found(backend, renamed) == [chidi]


def test_the_embedded_backend_of_the_same_store_is_keyed_in_the_transaction(
    engine: Engine, tmp_path: Path
) -> None:
    backend = EmbeddedSearch(engine)
    with pytest.raises(RuntimeError), transaction(engine) as session:
        [lost] = add_children(session, [record("Chidi", "Okafor")])
        assert outbox.mark_changed(session, [lost], backend) == 0
        raise RuntimeError("the run dies: the keys go with the change")
    assert found(backend) == [] and outbox.pending(engine) == 0
    with transaction(engine) as session:
        [chidi] = add_children(session, [record("Chidi", "Okafor")])
        assert outbox.mark_changed(session, [chidi], backend) == 0
    assert found(backend) == [chidi] and outbox.pending(engine) == 0
    # A move: only its postcode keys change; the store's keys are those a full re-key gives.
    with transaction(engine) as session:
        session.execute(update(m.ChildAddress).where(m.ChildAddress.child_id == chidi)
                        .values(postcode="LU1 3AA"))
        outbox.mark_changed(session, [chidi], backend)
    with engine.connect() as conn:
        held = sorted(conn.execute(select(m.SearchKey.key, m.SearchKey.child_id)).all())
        assert held == sorted(EmbeddedSearch._key_pairs(conn, [chidi]))
    assert found(backend, SearchQuery(family_name="Okafor", postcode="LU1 3AA")) == [chidi]
    # Another store's embedded backend is not this one: its children are queued as usual.
    other = EmbeddedSearch(create_engine(f"sqlite:///{tmp_path / 'other.db'}"))
    with transaction(engine) as session:
        assert outbox.mark_changed(session, [chidi], other) == 1
