"""A held service-feed row attached by the LA data team to the child they know it is of
(ingest.held.attach_held), on SQLite and PostgreSQL: it brings what the nightly run brings for a
linked undated row (involvement; names, identifier and address as history with the row's
provenance), never the date of birth; another LA's attach changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine, select
from test_ingest_undated import LA, NHS, _feed, _known_child

from index import models as m
from index import transaction
from index.vocabulary import AddressStatus, NameKind
from ingest import run_nightly, submit_file
from ingest.held import attach_held


def test_an_attached_row_brings_its_history_to_the_child_but_not_a_date_of_birth(
        engine: Engine, tmp_path: Path) -> None:
    child_id = _known_child(engine, tmp_path)
    row = {"given_name": "Amarachi", "family_name": "Okafor-Bello", "date_of_birth": "2013-02-30",
           "nhs_number": NHS, "address_line1": "3 Dunstable Street", "town": "Ampthill",
           "postcode": "MK45 2JT", "organisation_name": "Ampthill Family Support"}
    sub = submit_file(engine, _feed(tmp_path / "held.csv", [row]), source="SC7", la=LA)
    run_nightly(engine)
    with transaction(engine) as s:
        assert s.scalar(select(m.StagedRecord.outcome).where(
            m.StagedRecord.submission_id == sub.submission_id)) == "held"
        born = s.get(m.Child, child_id).date_of_birth  # type: ignore[union-attr]
        # Another LA's team: nothing, and nothing written.
        assert attach_held(s, submission_id=sub.submission_id, record_ref="line 2", child_id=child_id,
                           owning_la="202") is None
    with transaction(engine) as s:
        assert s.scalar(select(m.StagedRecord.outcome).where(
            m.StagedRecord.submission_id == sub.submission_id)) == "held"
        assert attach_held(s, submission_id=sub.submission_id, record_ref="line 2", child_id=child_id,
                           owning_la=LA) is not None
    mine = (sub.submission_id, "line 2")
    with transaction(engine) as s:
        child = s.get(m.Child, child_id)
        assert child is not None and child.date_of_birth == born != dt.date(2013, 2, 28)
        names = s.execute(select(m.ChildName.family_name, m.ChildName.kind, m.ChildName.submission_id,
                                 m.ChildName.record_ref).where(m.ChildName.child_id == child_id)).all()
        assert ("Okafor-Bello", NameKind.ALTERNATIVE, *mine) in [tuple(n) for n in names]
        idents = s.execute(select(m.ChildIdentifier.value, m.ChildIdentifier.submission_id,
                                  m.ChildIdentifier.record_ref)
                           .where(m.ChildIdentifier.child_id == child_id)).all()
        assert (NHS, *mine) in [tuple(i) for i in idents]
        addresses = s.execute(select(m.ChildAddress.postcode, m.ChildAddress.status)
                              .where(m.ChildAddress.child_id == child_id)
                              .order_by(m.ChildAddress.id)).all()
        assert [tuple(a) for a in addresses] == [("MK45 2AB", AddressStatus.LAST_KNOWN),
                                                 ("MK45 2JT", AddressStatus.CURRENT)]
        involvements = s.execute(select(m.Involvement.organisation_name, m.Involvement.submission_id,
                                        m.Involvement.record_ref)
                                 .where(m.Involvement.child_id == child_id)).all()
        assert ("Ampthill Family Support", *mine) in [tuple(i) for i in involvements]
        staged = s.execute(select(m.StagedRecord.outcome, m.StagedRecord.child_id, m.StagedRecord.payload)
                           .where(m.StagedRecord.submission_id == sub.submission_id)).one()
        assert tuple(staged) == ("held_attached", child_id, None)
        assert s.scalars(select(m.Child.id)).all() == [child_id]  # no child made
