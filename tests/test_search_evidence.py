"""What a search may reveal (issue 14, items 3, 4, 6 and 13), on both backends and through the API.

- The evidence rule: a practitioner's result agrees with the query on a name and on the date of
  birth or the postcode, or on a trusted identifier. A made-up family name with a real date of
  birth lists nobody (it once listed ten children born that day, shielded ones included).
- A shielded child is matched only on what the searcher would be shown (name, date of birth,
  child number): never by its postcode or its NHS number or UPN, except by the owning LA's team.
- An opted-out child is matched, and shown, as the record view shows it to that service: name
  and address, no date of birth or gender.
- Child numbers are random; serial ones (issued before) still work, with the child's name.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import pytest
from api_world import World, build_world, set_register
from sqlalchemy import Engine, select, update
from test_search_contract import BACKENDS, backend_for, child, nhs_number, upn

from access.audit import what_user_looked_at
from index import add_children, transaction
from index import models as m
from index.identifiers import Scheme, is_serial_child_number, make_child_number, validate
from index.search import ADVICE, Disclosure, SearchBackend, SearchQuery, SearchQueryError
from index.vocabulary import OptOutBy, ServiceType
from ops.slapd import DemoDirectory

BORN = dt.date(2015, 9, 12)
RUBY_UPN, RUBY_NHS = upn("823200005101"), nhs_number("401023213")
JADE_UPN, JADE_NHS = upn("823200005102"), nhs_number("943476588")
OWN_TEAM = Disclosure(full_la="823")
CONNEXIONS = Disclosure(service_type=ServiceType.CONNEXIONS.value)


@pytest.fixture(params=sorted(BACKENDS))
def searched(request: pytest.FixtureRequest,
             engine: Engine) -> Iterator[tuple[SearchBackend, dict[str, int]]]:
    """Each backend over a store with a day's births: Ruby, shielded Jade, opted-out Noah and
    a dozen others born the same day."""
    rng = random.Random(14)
    others = [child(f"Other{chr(65 + i)}", f"Family{chr(65 + i)}x", BORN,
                    postcode=f"MK4{rng.randrange(4)} {rng.randrange(10)}AB") for i in range(12)]
    with transaction(engine) as session:
        ids = add_children(session, [
            child("Ruby", "Hartley", BORN, postcode="MK40 1AA",
                  identifiers=[("upn", RUBY_UPN), ("nhs_number", RUBY_NHS)]),
            child("Jade", "Okonkwo", BORN, postcode="MK41 2BB",
                  identifiers=[("upn", JADE_UPN), ("nhs_number", JADE_NHS)]),
            child("Noah", "Fenwick", BORN, postcode="MK42 3BD"),
            *others,
        ])
        session.execute(update(m.Child).where(m.Child.id == ids[1]).values(shielded=True))
        session.add(m.SharingOptOut(child_id=ids[2], service_type=ServiceType.CONNEXIONS,
                                    opted_out_by=OptOutBy.PARENT, recorded_at=dt.datetime.now(dt.UTC),
                                    recorded_by="dana.datateam"))
    with backend_for(request, request.param, engine) as backend:
        backend.index_children(ids)
        yield backend, {"ruby": ids[0], "jade": ids[1], "noah": ids[2], "first_other": ids[3]}


def found(backend: SearchBackend, **fields: object) -> list[int]:
    return [h.child_id for h in backend.search(SearchQuery(**fields))]  # type: ignore[arg-type]


def test_a_made_up_name_with_a_real_date_lists_nobody(searched: tuple[SearchBackend, dict[str, int]]) -> None:
    backend, ids = searched
    hits = backend.search(SearchQuery(family_name="Xq", date_of_birth=BORN))
    assert list(hits) == []
    assert hits.withheld >= 10 and hits.advice == ADVICE  # counted for the unusual-use flags
    # The real name finds the child, by date of birth or postcode; a mistyped name still does.
    assert found(backend, family_name="Hartley", date_of_birth=BORN) == [ids["ruby"]]
    assert found(backend, family_name="Hartly", given_name="Ruby", date_of_birth=BORN)[0] == ids["ruby"]
    assert found(backend, family_name="Hartley", postcode="MK40 1AA") == [ids["ruby"]]
    # Matching's own candidate search (ingest) is not a person's search: the rule does not apply.
    assert len(found(backend, family_name="Xq", date_of_birth=BORN, for_matching=True)) == 10


def test_a_shielded_child_is_matched_only_on_what_the_searcher_is_shown(
        searched: tuple[SearchBackend, dict[str, int]]) -> None:
    backend, ids = searched
    jade = ids["jade"]
    assert found(backend, family_name="Okonkwo", date_of_birth=BORN) == [jade]  # name and dob: shown
    # Its postcode and identifiers are hidden from a practitioner: a search must not confirm them.
    assert found(backend, family_name="Okonkwo", postcode="MK41 2BB") == []
    assert found(backend, identifier=(Scheme.NHS_NUMBER, JADE_NHS)) == []
    assert found(backend, identifier=(Scheme.UPN, JADE_UPN)) == []
    # The owning LA's data team sees them, and may search by them.
    assert found(backend, family_name="Okonkwo", postcode="MK41 2BB", disclosure=OWN_TEAM) == [jade]
    assert found(backend, identifier=(Scheme.NHS_NUMBER, JADE_NHS), disclosure=OWN_TEAM) == [jade]
    # Another LA's team is a practitioner here.
    assert found(backend, identifier=(Scheme.UPN, JADE_UPN), disclosure=Disclosure(full_la="202")) == []
    # Unshielded children are found by identifier as before.
    assert found(backend, identifier=(Scheme.NHS_NUMBER, RUBY_NHS)) == [ids["ruby"]]


def test_an_opted_out_child_is_matched_on_name_and_address_only(
        searched: tuple[SearchBackend, dict[str, int]]) -> None:
    backend, ids = searched
    noah = ids["noah"]
    # Connexions (opted out of) is shown name and address: no match on the date of birth.
    assert found(backend, family_name="Fenwick", date_of_birth=BORN, disclosure=CONNEXIONS) == []
    assert found(backend, family_name="Fenwick", postcode="MK42 3BD", disclosure=CONNEXIONS) == [noah]
    # Other services are not limited.
    assert found(backend, family_name="Fenwick", date_of_birth=BORN,
                 disclosure=Disclosure(service_type=ServiceType.HEALTH_VISITOR.value)) == [noah]


def test_child_numbers_are_random_and_serial_ones_need_the_name(
        searched: tuple[SearchBackend, dict[str, int]], engine: Engine) -> None:
    backend, ids = searched
    with engine.connect() as conn:
        numbers = dict(conn.execute(select(m.Child.id, m.Child.child_number)).all())
    assert all(not is_serial_child_number(n) and validate(Scheme.CHILD_NUMBER, n).value == n
               for n in numbers.values())
    assert all(n != make_child_number(i) for i, n in numbers.items())  # not the old serial form
    assert found(backend, identifier=(Scheme.CHILD_NUMBER, numbers[ids["ruby"]])) == [ids["ruby"]]
    assert found(backend, identifier=(Scheme.CHILD_NUMBER, numbers[ids["ruby"]].lower())) == [ids["ruby"]]
    # A child from before numbers were random keeps its serial number, which still works with
    # the child's name, and only so: the next serial number is a guess anyone can make.
    serial = make_child_number(ids["ruby"])
    with transaction(engine) as session:
        session.execute(update(m.Child).where(m.Child.id == ids["ruby"]).values(child_number=serial))
    backend.index_children([ids["ruby"]])
    with pytest.raises(SearchQueryError, match="family name"):
        backend.search(SearchQuery(identifier=(Scheme.CHILD_NUMBER, serial)))
    assert found(backend, identifier=(Scheme.CHILD_NUMBER, serial), family_name="Hartley") == [ids["ruby"]]
    assert found(backend, identifier=(Scheme.CHILD_NUMBER, serial), family_name="Xq") == []


# -- through the API ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(ldap_server, tmp_path_factory.mktemp("search-evidence"))


def post_search(world: World, uid: str, **body: object) -> dict[str, object]:
    response = world.client.post("/search", json={"reason": "safeguarding", **body}, headers=world.auth(uid))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def last_search(world: World, uid: str) -> tuple[str, tuple[int, ...]]:
    with transaction(world.engine) as db:
        entry = [e for e in what_user_looked_at(db, uid) if e.action == "search"][-1]
    return entry.outcome, entry.child_ids


def test_api_a_weak_search_shows_nobody_says_what_to_add_and_is_audited(world: World) -> None:
    out = post_search(world, "pat.practitioner", family_name="Xq", date_of_birth="2014-11-12")
    assert out["results"] == [] and out["advice"] == ADVICE
    assert last_search(world, "pat.practitioner") == ("no_evidence", ())
    out = post_search(world, "pat.practitioner", family_name="Nancarrow", date_of_birth="2014-11-12")
    assert len(out["results"]) == 2 and out["advice"] is None  # type: ignore[arg-type]
    assert last_search(world, "pat.practitioner")[0] == "ok"


def test_api_a_shielded_childs_postcode_is_not_confirmed(world: World) -> None:
    by_postcode = {"family_name": "Trevithick", "postcode": "MK40 1AB"}
    assert post_search(world, "pat.practitioner", **by_postcode)["results"] == []
    by_date = {"family_name": "Trevithick", "date_of_birth": "2009-04-05"}
    [shown] = post_search(world, "pat.practitioner", **by_date)["results"]
    assert shown["town"] is None and shown["shielded"] is True  # type: ignore[index]
    # The owning LA's data team sees the address, so may search by it.
    [own] = post_search(world, "dana.datateam", **by_postcode)["results"]
    assert own["child_id"] == world.ids["shielded"] and own["town"] == "Kempston"  # type: ignore[index]


def test_api_search_results_follow_an_opt_out_like_the_record_view(world: World) -> None:
    own = world.ids["own"]
    added = world.client.post(f"/la/children/{own}/opt-outs", headers=world.auth("dana.datateam"),
                              json={"service_type": "connexions", "opted_out_by": "parent"})
    assert added.status_code == 201, added.text
    set_register(world.engine, "pat.practitioner", service_type="connexions",
                 organisation="Bedford Connexions", organisation_code="CNX01")
    try:
        assert post_search(world, "pat.practitioner", family_name="Pendragon",
                           date_of_birth="2015-06-07")["results"] == []
        [result] = post_search(world, "pat.practitioner", family_name="Pendragon",
                               postcode="MK40 1AB")["results"]
        assert result["date_of_birth"] is None and result["gender"] is None  # type: ignore[index]
        assert result["town"] == "Kempston"  # type: ignore[index]
        view = world.client.get(f"/children/{own}", params={"reason": "safeguarding"},
                                headers=world.auth("pat.practitioner")).json()
        assert view["date_of_birth"] is None and view["gender"] is None
    finally:
        set_register(world.engine, "pat.practitioner")
        world.client.delete(f"/la/children/{own}/opt-outs/connexions", headers=world.auth("dana.datateam"))
    [result] = post_search(world, "pat.practitioner", family_name="Pendragon", postcode="MK40 1AB")["results"]
    assert result["date_of_birth"] == "2015-06-07"  # type: ignore[index]

