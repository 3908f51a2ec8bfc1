"""Input bounds (issue 14, items 9 and 10): every date is bounded at the edge (422 naming the field,
never a 500 and a reset connection), and names and addresses lose their format and control
characters (right-to-left overrides, zero-width characters, DEL) on every way in: files, the
API's corrections and involvements, and the search itself."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from api_world import World, build_world
from ingest_files import Pupil, census_xml, write
from sqlalchemy import select

from access.audit import what_user_looked_at
from index import models as m
from index.records import ChildRecord
from index.search import SearchQuery, SearchQueryError
from index.store import add_children, transaction
from index.text import printable
from ingest import parse_feed
from ops.slapd import DemoDirectory

RLO, ZWSP, ZWJ, DEL, BOM = "\u202e", "\u200b", "\u200d", "\x7f", "\ufeff"
TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(ldap_server, tmp_path_factory.mktemp("input-bounds"))


def fields(response: object) -> list[str]:
    return [d["field"] for d in response.json().get("details", [])]  # type: ignore[attr-defined]


@pytest.mark.parametrize("born", ["9999-12-31", "0001-01-01", "1899-12-31", TOMORROW])
def test_a_search_date_of_birth_out_of_range_is_a_422_naming_the_field(world: World, born: str) -> None:
    response = world.client.post("/search", headers=world.auth("pat.practitioner"), json={
        "reason": "safeguarding", "family_name": "Pendragon", "date_of_birth": born})
    assert response.status_code == 422, response.text
    assert fields(response) == ["body.date_of_birth"] and born not in response.text
    with transaction(world.engine) as db:  # the refused attempt is in the trail (api.search)
        last = [e for e in what_user_looked_at(db, "pat.practitioner") if e.action == "search"][-1]
    assert last.outcome == "refused" and last.criteria is None
    # The service keeps answering.
    ok = world.client.post("/search", headers=world.auth("pat.practitioner"), json={
        "reason": "safeguarding", "family_name": "Pendragon", "date_of_birth": "2015-06-07"})
    assert ok.status_code == 200 and len(ok.json()["results"]) == 1


def test_a_correction_to_an_implausible_date_of_birth_is_refused_and_nothing_changes(world: World) -> None:
    child = world.ids["dup_a"]
    for born in ("9999-12-31", "0001-01-01", TOMORROW):
        response = world.client.patch(f"/la/children/{child}", headers=world.auth("dana.datateam"),
                                      json={"date_of_birth": born})
        assert response.status_code == 422 and fields(response) == ["body.date_of_birth"], response.text
    with transaction(world.engine) as db:
        assert db.get(m.Child, child).date_of_birth == dt.date(2014, 11, 12)  # type: ignore[union-attr]
        assert not [e for e in what_user_looked_at(db, "dana.datateam") if e.action == "correct_record"]


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/children/{own}/involvements", {"service_type": "health_visitor", "start_date": "9999-12-31"},
     "body.start_date"),
    ("/involvements/{inv_own}/end", {"end_date": "0001-01-01"}, "body.end_date"),
])
def test_involvement_dates_are_bounded(world: World, path: str, body: dict[str, str], field: str) -> None:
    url = path.format(**world.ids)
    response = world.client.post(url, headers=world.auth("pat.practitioner"), json=body)
    assert response.status_code == 422 and fields(response) == [field], response.text


def test_search_query_bounds_its_date_for_every_caller() -> None:
    # Web pages build SearchQuery themselves: the bound holds there too, not only in the API body.
    for born in (dt.date(9999, 12, 31), dt.date(1, 1, 1)):
        with pytest.raises(SearchQueryError, match="date_of_birth must be from 1900-01-01 to today"):
            SearchQuery(family_name="Pendragon", date_of_birth=born).check()


# -- format and control characters ------------------------------------------------------------------


def test_printable_removes_format_characters_and_spaces_controls() -> None:
    assert printable(f"Ta{ZWSP}m{RLO}sin{BOM}") == "Tamsin"
    assert printable(f"Anne{DEL}Marie\tJo{ZWJ}") == "Anne Marie Jo"
    assert printable("Zoë Ó Briain") == "Zoë Ó Briain" and printable("王") == "王"  # letters kept
    assert printable(3) == 3  # not text: left for the validator to refuse


def test_a_record_from_a_file_is_stored_without_them(tmp_path: Path) -> None:
    pupil = Pupil(1, f"Pen{RLO}dragon", f"Tam{ZWSP}sin{DEL}", "2015-06-07", street=f"Mill{BOM} Lane",
                  town=f"Amp{ZWJ}thill")
    path = write(tmp_path / "census.xml", census_xml([pupil]))
    [record] = parse_feed(path, expected_laestab="8231234").collect().records
    name, address = record.child.current_name, record.child.addresses[0]
    assert (name.family_name, name.given_name) == ("Pendragon", "Tamsin")
    assert (address.line1, address.town) == ("1 Mill Lane", "Ampthill")


def test_a_child_record_is_stored_without_them(world: World) -> None:
    record = ChildRecord.model_validate({
        "owning_la": "823", "date_of_birth": "2016-02-03",
        "names": [{"given_name": f"Kit{ZWJ}", "family_name": f"{RLO}Carne"}],
        "addresses": [{"line1": f"3{DEL} Fore Street", "town": "Looe", "postcode": "PL13 1AA"}]})
    with transaction(world.engine) as db:
        [child_id] = add_children(db, [record])
        stored = db.execute(select(m.ChildName.given_name, m.ChildName.family_name)
                            .where(m.ChildName.child_id == child_id)).one()
        line1 = db.scalar(select(m.ChildAddress.line1).where(m.ChildAddress.child_id == child_id))
    assert tuple(stored) == ("Kit", "Carne") and line1 == "3 Fore Street"


def test_names_from_the_api_are_stored_without_them(world: World) -> None:
    child = world.ids["dup_b"]
    response = world.client.patch(f"/la/children/{child}", headers=world.auth("dana.datateam"),
                                  json={"family_name": f"Nan{RLO}carow{ZWSP}", "given_name": f"Dem{DEL}elza"})
    assert response.status_code == 200, response.text
    with transaction(world.engine) as db:
        name = db.execute(select(m.ChildName.given_name, m.ChildName.family_name).where(
            m.ChildName.child_id == child, m.ChildName.kind == "current")).one()
        [entry] = [e for e in what_user_looked_at(db, "dana.datateam") if e.action == "correct_record"][-1:]
    assert tuple(name) == ("Dem elza", "Nancarow") and entry.outcome == "ok"
    # A search with them finds the child as if they were not there.
    found = world.client.post("/search", headers=world.auth("pat.practitioner"), json={
        "reason": "safeguarding", "family_name": f"Nan{ZWSP}carow", "date_of_birth": "2014-11-12"})
    assert world.ids["dup_b"] in [r["child_id"] for r in found.json()["results"]]
