"""Moves between LAs (issue 17), with two LAs: 823 (postcode district MK45) and 821 (LU1).

The nightly run moves a child whose current address is now in the other LA (a census, a service
feed), with its open review items and investigations, an audit entry and a transfer both LAs
see; a pupil at school in one LA and living in the other stays where they live; a shielded child
stays shielded; a move back is a second move. An LA data team can also hand a record over."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_world import OTHER_LA, World, build_world
from ingest_files import Pupil, census_xml, write
from sqlalchemy import Engine, select, update

from access import audit
from index import models as m
from index.ownership import PostcodeAreas, responsible_las, transfers_of_la
from index.store import transaction
from index.vocabulary import ReviewStatus
from ingest import run_nightly, submit_file
from ops.slapd import DemoDirectory

AREAS = PostcodeAreas.of({"MK45": "823", "LU1": "821", "LU1 3": "821"})
HOME, AWAY = ("MK45 2AB", "Ampthill"), ("LU1 3AA", "Luton")
SCHOOL_823, SCHOOL_821 = ("823", "1234"), ("821", "4321")
HEALTH_HEADER = ("record_id,given_name,middle_names,family_name,date_of_birth,sex,address_line1,"
                 "address_line2,town,postcode,upn,nhs_number,uln,la_reference,service_type,organisation_name,"
                 "organisation_code,practitioner_name,contact_phone,contact_email,start_date,end_date,"
                 "lead_professional,consent_basis")


def pupil(serial: int, where: tuple[str, str] = HOME) -> Pupil:
    return Pupil(serial, "Penrose", f"Kit{'abcdefgh'[serial % 8]}", "2014-05-0" + str(1 + serial % 8),
                 postcode=where[0], town=where[1])


def census(engine: Engine, tmp: Path, name: str, pupils: list[Pupil], school: tuple[str, str],
           reference: str) -> None:
    la, estab = school
    file = write(tmp / f"{name}.xml", census_xml(pupils, reference=reference, la=la, estab=estab))
    submit_file(engine, file, source=la + estab)
    run_nightly(engine, areas=AREAS)


def owner(engine: Engine, upn: str) -> tuple[int, str, bool]:
    with transaction(engine) as db:
        row = db.execute(select(m.Child.id, m.Child.owning_la, m.Child.shielded)
                         .join(m.ChildIdentifier, m.ChildIdentifier.child_id == m.Child.id)
                         .where(m.ChildIdentifier.value == upn)).one()
        return row.id, row.owning_la, row.shielded


def transfers(engine: Engine, child_id: int) -> list[tuple[str, str, str]]:
    with transaction(engine) as db:
        return [(t.from_la, t.to_la, t.reason) for t in db.scalars(
            select(m.ChildTransfer).where(m.ChildTransfer.child_id == child_id).order_by(m.ChildTransfer.id))]


def test_a_move_by_census_takes_reviews_and_investigations_along(engine: Engine, tmp_path: Path) -> None:
    kit, other = pupil(1), pupil(2)
    census(engine, tmp_path, "aut", [kit, other], SCHOOL_823, "2025-10-02")
    child_id, la, _ = owner(engine, kit.upn)
    other_id, _, _ = owner(engine, other.upn)
    assert la == "823" and transfers(engine, child_id) == []
    now = dt.datetime(2025, 11, 1, tzinfo=dt.UTC)
    with transaction(engine) as db:
        db.add(m.MatchReview(child_id=child_id, candidate_id=other_id, owning_la="823",
                             rule="probabilistic_review", priority=1, held_shielded=False,
                             status=ReviewStatus.OPEN, opened_at=now))
        db.add(m.ShieldInvestigation(child_id=child_id, owning_la="823", opened_by="x", opened_at=now,
                                     audit_seq=0))
    moved = Pupil(**{**kit.__dict__, "postcode": AWAY[0], "town": AWAY[1], "house": "9"})
    census(engine, tmp_path, "spr", [moved], SCHOOL_821, "2026-01-15")
    assert owner(engine, kit.upn)[1] == "821"
    assert owner(engine, other.upn)[1] == "823"
    assert transfers(engine, child_id) == [("823", "821", "lives_there")]
    with transaction(engine) as db:
        assert db.scalar(select(m.MatchReview.owning_la).where(m.MatchReview.child_id == child_id)) == "821"
        assert db.scalar(select(m.ShieldInvestigation.owning_la)
                         .where(m.ShieldInvestigation.child_id == child_id)) == "821"
        entries = [e for e in audit.who_looked_at(db, child_id) if e.action == "transfer"]
        assert [(e.actor, e.reason) for e in entries] == [("nightly-run", "change_of_address")]
        assert audit.verify(db).ok
        # Both LAs' data teams see the move.
        assert [t.child_id for t in transfers_of_la(db, "821")] == [child_id]
        assert [t.child_id for t in transfers_of_la(db, "823")] == [child_id]
        # The search outbox took the change (the Elasticsearch document moves index through it).
        outbox = db.scalars(select(m.SearchOutboxEntry.child_id)).all()
    assert child_id in outbox or not outbox  # queued, or already pushed by the run


def test_a_move_by_service_feed(engine: Engine, tmp_path: Path) -> None:
    kit = pupil(3)
    census(engine, tmp_path, "aut", [kit], SCHOOL_823, "2025-10-02")
    child_id, _, _ = owner(engine, kit.upn)
    row = (f"HV-9,{kit.forename},,{kit.surname},{kit.dob},F,9 New Road,,Luton,{AWAY[0]},{kit.upn},,,,"
           "health_visitor,Luton Health Visiting,RLU01,Hana Visitor,01582 400200,,2025-12-01,,false,")
    feed = write(tmp_path / "feed.csv", HEALTH_HEADER + "\n" + row + "\n")
    submit_file(engine, feed, source="LUTONHV", la="821")
    run_nightly(engine, areas=AREAS)
    assert owner(engine, kit.upn)[1] == "821"
    assert transfers(engine, child_id) == [("823", "821", "lives_there")]


def test_a_cross_border_pupil_who_does_not_move_stays(engine: Engine, tmp_path: Path) -> None:
    kit = pupil(4)
    census(engine, tmp_path, "aut", [kit], SCHOOL_823, "2025-10-02")
    child_id, _, _ = owner(engine, kit.upn)
    census(engine, tmp_path, "spr", [kit], SCHOOL_821, "2026-01-15")  # a school in 821, still home in 823
    assert owner(engine, kit.upn)[1] == "823"
    assert transfers(engine, child_id) == []
    newcomer = pupil(5)  # first seen at the school in 821, living in 823: owned by 823
    census(engine, tmp_path, "sum", [kit, newcomer], SCHOOL_821, "2026-05-20")
    assert owner(engine, newcomer.upn)[1] == "823"


def test_a_shielded_child_who_moves_stays_shielded(engine: Engine, tmp_path: Path) -> None:
    kit = pupil(6)
    census(engine, tmp_path, "aut", [kit], SCHOOL_823, "2025-10-02")
    child_id, _, _ = owner(engine, kit.upn)
    with transaction(engine) as db:
        db.execute(update(m.Child).where(m.Child.id == child_id).values(shielded=True))
    moved = Pupil(**{**kit.__dict__, "postcode": AWAY[0], "town": AWAY[1]})
    census(engine, tmp_path, "spr", [moved], SCHOOL_823, "2026-01-15")
    assert owner(engine, kit.upn)[1:] == ("821", True)


def test_a_move_back(engine: Engine, tmp_path: Path) -> None:
    kit = pupil(7)
    census(engine, tmp_path, "aut", [kit], SCHOOL_823, "2025-10-02")
    child_id, _, _ = owner(engine, kit.upn)
    away = Pupil(**{**kit.__dict__, "postcode": AWAY[0], "town": AWAY[1], "house": "3"})
    census(engine, tmp_path, "spr", [away], SCHOOL_823, "2026-01-15")
    home = Pupil(**{**kit.__dict__, "house": "4"})
    census(engine, tmp_path, "sum", [home], SCHOOL_823, "2026-05-20")
    assert owner(engine, kit.upn)[1] == "823"
    assert transfers(engine, child_id) == [("823", "821", "lives_there"), ("821", "823", "lives_there")]


def test_no_table_no_moves_and_unknown_postcodes_decide_nothing(engine: Engine, tmp_path: Path) -> None:
    kit = pupil(8, ("ZZ1 1ZZ", "Nowhere"))
    census(engine, tmp_path, "aut", [kit], SCHOOL_821, "2025-10-02")
    child_id, la, _ = owner(engine, kit.upn)
    assert la == "821" and transfers(engine, child_id) == []
    with transaction(engine) as db:
        assert responsible_las(db, [child_id], AREAS) == {}


def test_postcode_table_from_a_file(tmp_path: Path) -> None:
    file = write(tmp_path / "las.csv", "# ONS extract\npostcode,la\nMK45,823\nLU1 3,821\nLU1 3AA,999\n")
    areas = PostcodeAreas.from_file(file)
    assert [areas.la_of(p) for p in ("mk45 2ab", "LU1 3AB", "lu13aa", "LU2 1AA", None)] == [
        "823", "821", "999", None, None]
    bad = write(tmp_path / "bad.csv", "postcode,la\nMK45,82\n")
    with pytest.raises(ValueError, match="line 2"):
        PostcodeAreas.from_file(bad)


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield build_world(ldap_server, tmp_path_factory.mktemp("transfers"))


def test_an_la_data_team_hands_a_record_over_by_hand(world: World) -> None:
    dana = world.auth("dana.datateam")
    child = world.ids["dup_a"]  # has an open review item in LA 823
    refused = world.client.post(f"/la/children/{world.ids['other']}/transfer", headers=dana,
                                json={"to_la": "823", "reason": "wrong_la"})
    assert refused.status_code == 403  # not the own LA's child
    bad = world.client.post(f"/la/children/{child}/transfer", headers=dana,
                            json={"to_la": OTHER_LA, "reason": "because"})
    assert bad.status_code == 422
    done = world.client.post(f"/la/children/{child}/transfer", headers=dana,
                             json={"to_la": OTHER_LA, "reason": "moved_address"})
    assert done.status_code == 200, done.text
    assert done.json()["from_la"] == "823" and done.json()["to_la"] == OTHER_LA
    assert done.json()["reviews_moved"] == 1
    listed = world.client.get("/la/transfers", headers=dana).json()["transfers"]
    assert [(t["child_id"], t["to_la"], t["transferred_by"]) for t in listed] == [
        (child, OTHER_LA, "dana.datateam")]
    with transaction(world.engine) as db:
        assert [t.child_id for t in transfers_of_la(db, OTHER_LA)] == [child]  # the receiving LA sees it
        review = db.get(m.MatchReview, world.ids["review_own"])
        assert review is not None and review.owning_la == OTHER_LA
    # It has left the sending team's scope at once.
    gone = world.client.get(f"/la/children/{child}/subject-access", headers=dana)
    assert gone.status_code == 403


def test_the_elasticsearch_document_moves_to_the_new_las_index(sqlite_engine: Engine, tmp_path: Path,
                                                               elasticsearch_url: str) -> None:
    from ops.elasticsearch import throwaway_backend

    es = throwaway_backend(sqlite_engine, hosts=[elasticsearch_url])
    kit = pupil(9)
    try:
        for name, where, reference in (("aut", HOME, "2025-10-02"), ("spr", AWAY, "2026-01-15")):
            moved = Pupil(**{**kit.__dict__, "postcode": where[0], "town": where[1]})
            file = write(tmp_path / f"{name}.xml", census_xml([moved], reference=reference))
            submit_file(sqlite_engine, file, source="8231234")
            run_nightly(sqlite_engine, es, areas=AREAS)
            child_id, la, _ = owner(sqlite_engine, kit.upn)
            located = es._locate([child_id])[child_id]
            assert {es._la_of(index) for index in located} == {la}
        assert la == "821" and es.verify().consistent
    finally:
        es.close()
