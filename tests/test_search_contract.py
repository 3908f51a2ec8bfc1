"""The search backend contract: one suite that every backend (embedded, Elasticsearch) passes.

A backend comes from `BACKENDS`, a factory per backend taking the store's engine; the world of
children is written to the store with `index.store.add_children` and then indexed by the
backend under test. Adding a backend means adding one entry to `BACKENDS`.

The Elasticsearch backend runs against a real Elasticsearch 8 node started once for the session
(the `elasticsearch_url` fixture, ops.elasticsearch); each world gets indices and aliases of its
own (a fresh name prefix), removed afterwards. Beyond passing the same tests, the backends must
rank alike: `test_backends_rank_alike` puts the same queries to both over one store.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.engine import make_url
from stdnum.gb import nhs as stdnum_nhs

from index import ChildRecord, add_children, transaction
from index import models as m
from index.elastic import ElasticSearch
from index.embedded import EmbeddedSearch
from index.identifiers import Scheme, upn_check_letter
from index.search import MAX_RESULTS, SearchBackend, SearchHit, SearchQuery, SearchQueryError
from index.store import make_engine, upgrade
from ops.elasticsearch import throwaway_backend

BACKENDS: dict[str, Callable[[Engine], SearchBackend]] = {
    "embedded": lambda engine: EmbeddedSearch(engine),
    "elasticsearch": lambda engine: throwaway_backend(engine),
}


@contextmanager
def backend_for(request: pytest.FixtureRequest, name: str, engine: Engine) -> Iterator[SearchBackend]:
    """The named backend over `engine`; for Elasticsearch, on the session's node, its indices
    removed afterwards so that the node stays small however many worlds the suite builds."""
    if name == "elasticsearch":
        request.getfixturevalue("elasticsearch_url")
    backend = BACKENDS[name](engine)
    try:
        yield backend
    finally:
        if isinstance(backend, ElasticSearch):
            backend._client.indices.delete(index=f"{backend.settings.index_prefix}-*",
                                           ignore_unavailable=True)
            backend.close()


def upn(body: str) -> str:
    return upn_check_letter(body) + body


def nhs_number(body: str) -> str:
    digit = (11 - sum(int(d) * (10 - i) for i, d in enumerate(body))) % 11 % 11
    number = body + str(0 if digit == 11 else digit)
    assert digit < 10 and stdnum_nhs.is_valid(number), "pick another NHS number body"
    return number


def uln(body: str) -> str:
    digit = (10 - sum(int(d) * (11 - i) for i, d in enumerate(body, start=1))) % 11
    assert digit < 10, "pick another ULN body"
    return body + str(digit)


def child(
    given: str, family: str, dob: dt.date, *, la: str = "823", gender: str = "unspecified",
    postcode: str | None = None, names: Sequence[dict[str, str]] = (),
    identifiers: Sequence[tuple[str, str]] = (), status: str = "live",
) -> ChildRecord:
    return ChildRecord.model_validate({
        "owning_la": la, "date_of_birth": dob, "gender": gender, "status": status,
        "names": [{"given_name": given, "family_name": family}, *names],
        "addresses": [{"line1": "1 High Street", "postcode": postcode}] if postcode else [],
        "identifiers": [{"scheme": s, "value": v} for s, v in identifiers],
    })


ALEX_DOB = dt.date(2014, 5, 10)
AMELIA_DOB = dt.date(2016, 8, 21)
CROWD_DOB = dt.date(2012, 2, 2)

# The children the tests look for, by name; the filler around them comes from `filler`.
NAMED: dict[str, ChildRecord] = {
    "alexander": child(
        "Alexander", "Thompson", ALEX_DOB, gender="male", postcode="MK40 1AA",
        identifiers=[("upn", upn("801200005001")), ("nhs_number", nhs_number("943476587")),
                     ("uln", uln("927630868")), ("la_reference", "ABC/123")],
    ),
    # Alexander's twin: same family, dob and address, different given name.
    "oliver": child("Oliver", "Thompson", ALEX_DOB, gender="male", postcode="MK40 1AA",
                    identifiers=[("upn", upn("801200005002"))]),
    # Same name and dob as Alexander, another LA and address.
    "alexander_elsewhere": child("Alexander", "Thompson", ALEX_DOB, la="384", gender="male",
                                 postcode="LS6 2AB"),
    "amelia": child(
        "Amelia", "Smith-Jones", AMELIA_DOB, gender="female", postcode="MK41 7QT", la="384",
        names=[{"kind": "former", "given_name": "Amelia", "family_name": "Brown"}],
        identifiers=[("former_upn", upn("801200005010"))],
    ),
    "zoe": child("Zoë", "Ó Briain", dt.date(2011, 11, 3), gender="female", postcode="B15 2TT"),
    "ivan": child("Иван", "Иванов", dt.date(2013, 1, 30), gender="male", postcode="E1 6AN"),
    "mei": child("美玲", "王", dt.date(2017, 7, 7), gender="female", postcode="N1 9GU"),
    "archie": child("Archie", "Archer", dt.date(2015, 6, 6), postcode="MK40 2BB", status="archived",
                    identifiers=[("upn", upn("801200005003"))]),
    "grace": child("Grace", "Darling", dt.date(2010, 4, 4), postcode="MK40 3CC", status="deceased"),
    "preferred": child("Elizabeth", "Walker", dt.date(2013, 9, 12), postcode="MK42 9AB",
                       names=[{"kind": "preferred", "given_name": "Lily", "family_name": "Walker"}]),
}
CROWD = 14  # children called Patel born on CROWD_DOB: more than MAX_RESULTS
GIVEN = ["Oliver", "George", "Harry", "Noah", "Jack", "Olivia", "Amelia", "Isla", "Ava", "Mia",
         "Leo", "Arthur", "Muhammad", "Freya", "Lily", "Ella", "Theo", "Oscar", "Sophie", "Grace"]
FAMILY = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
          "Robinson", "Wright", "Thomas", "Evans", "Walker", "Roberts", "Green", "Hall", "Wood",
          "Jackson", "Clarke", "Thomson", "Thompsett", "Tomlinson", "Khan", "Ali", "Begum"]


def filler(rng: random.Random, count: int) -> list[ChildRecord]:
    out = []
    for _ in range(count):
        out.append(child(
            rng.choice(GIVEN), rng.choice(FAMILY),
            dt.date(2010, 1, 1) + dt.timedelta(days=rng.randrange(365 * 8)),
            postcode=f"MK4{rng.randrange(4)} {rng.randrange(10)}{rng.choice('ABDEF')}{rng.choice('GHJLN')}",
        ))
    # Near misses of the named children: same dob, similar names.
    out.append(child("Alexandra", "Thomas", ALEX_DOB, gender="female", postcode="MK40 1AB"))
    out.append(child("Alex", "Tomkins", dt.date(2014, 10, 5), postcode="MK40 9ZZ"))
    out.append(child("Amelia", "Smith", AMELIA_DOB, postcode="MK41 7QU"))
    out.extend(child(GIVEN[i % len(GIVEN)], "Patel", CROWD_DOB, postcode="MK43 0AA")
               for i in range(CROWD))
    return out


@dataclass
class World:
    backend: SearchBackend
    engine: Engine
    ids: dict[str, int]

    def search(self, limit: int = MAX_RESULTS, **fields: object) -> list[SearchHit]:
        hits = list(self.backend.search(SearchQuery(**fields), limit=limit))  # type: ignore[arg-type]
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True), "hits must be ranked best first"
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert len({h.child_id for h in hits}) == len(hits), "a child appears once"
        assert len(hits) <= min(limit, MAX_RESULTS)
        return hits

    def found(self, **fields: object) -> list[int]:
        return [h.child_id for h in self.search(**fields)]

    def first(self, **fields: object) -> int | None:
        found = self.found(**fields)
        return found[0] if found else None


@pytest.fixture(params=sorted(BACKENDS))
def search_backend(request: pytest.FixtureRequest, engine: Engine) -> Iterator[SearchBackend]:
    """Each backend over a fresh, empty store (tests that change the store use this)."""
    with backend_for(request, request.param, engine) as backend:
        yield backend


def build_world(backend: SearchBackend, engine: Engine) -> World:
    records = list(NAMED.values()) + filler(random.Random(20240501), 120)
    with transaction(engine) as session:
        ids = add_children(session, records)
    backend.index_children(ids)
    return World(backend, engine, dict(zip(NAMED, ids, strict=False)))


@pytest.fixture
def fresh_world(search_backend: SearchBackend, engine: Engine) -> World:
    return build_world(search_backend, engine)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """One store per module and database for the tests that only read: building the world
    once, not once per test, keeps the suite fast. PostgreSQL gets a database of its own so
    that the function-scoped `engine` fixture, which resets its database, cannot touch it."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('search') / 'store.db'}")
    else:
        url = make_url(request.getfixturevalue("postgres_url"))
        admin = make_engine(url.render_as_string(hide_password=False)).execution_options(
            isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS search_contract"))
            conn.execute(text("CREATE DATABASE search_contract"))
        admin.dispose()
        engine = make_engine(url.set(database="search_contract").render_as_string(hide_password=False))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def world(request: pytest.FixtureRequest, shared_engine: Engine) -> Iterator[World]:
    """A world that tests only search: built once per backend and database."""
    with shared_engine.begin() as conn:
        conn.execute(delete(m.Child))
    with backend_for(request, request.param, shared_engine) as backend:
        yield build_world(backend, shared_engine)


# -- identifiers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "value"),
    [
        (Scheme.UPN, upn("801200005001")),
        (Scheme.NHS_NUMBER, nhs_number("943476587")),
        (Scheme.ULN, uln("927630868")),
        (Scheme.LA_REFERENCE, "ABC/123"),
    ],
)
def test_identifier_finds_exactly_that_child(world: World, scheme: Scheme, value: str) -> None:
    hits = world.search(identifier=(scheme, value))
    assert [h.child_id for h in hits] == [world.ids["alexander"]]
    assert hits[0].score == pytest.approx(1.0)


def test_identifier_in_another_layout_is_canonicalised(world: World) -> None:
    spaced = nhs_number("943476587")
    spaced = f"{spaced[:3]} {spaced[3:6]} {spaced[6:]}"
    assert world.found(identifier=(Scheme.NHS_NUMBER, spaced)) == [world.ids["alexander"]]
    assert world.found(identifier=(Scheme.LA_REFERENCE, "abc/123")) == [world.ids["alexander"]]


def test_child_number_finds_the_child(world: World) -> None:
    with world.engine.connect() as conn:
        number = conn.scalar(select(m.Child.child_number).where(m.Child.id == world.ids["amelia"]))
    assert world.found(identifier=(Scheme.CHILD_NUMBER, number)) == [world.ids["amelia"]]


def test_upn_finds_a_former_upn(world: World) -> None:
    assert world.found(identifier=(Scheme.UPN, upn("801200005010"))) == [world.ids["amelia"]]


def test_identifier_nobody_has_finds_nothing(world: World) -> None:
    assert world.found(identifier=(Scheme.UPN, upn("801200009999"))) == []


def test_identifier_with_other_fields_still_only_finds_that_identifier(world: World) -> None:
    found = world.found(identifier=(Scheme.UPN, upn("801200005002")), family_name="Thompson",
                        date_of_birth=ALEX_DOB)
    assert found == [world.ids["oliver"]]


# -- names, dates of birth, postcodes -------------------------------------------------------


def test_name_and_dob(world: World) -> None:
    assert world.first(family_name="Thompson", given_name="Alexander", date_of_birth=ALEX_DOB,
                       owning_la="823") == world.ids["alexander"]
    found = world.found(family_name="Thompson", date_of_birth=ALEX_DOB)
    assert {world.ids["alexander"], world.ids["oliver"], world.ids["alexander_elsewhere"]} <= set(found)


def test_name_and_postcode(world: World) -> None:
    assert world.first(family_name="Thompson", given_name="Alexander", postcode="mk401aa") == (
        world.ids["alexander"])
    assert world.first(family_name="Smith-Jones", postcode="MK41 7QT") == world.ids["amelia"]


def test_postcode_decides_between_namesakes(world: World) -> None:
    query = {"family_name": "Thompson", "given_name": "Alexander", "date_of_birth": ALEX_DOB}
    assert world.first(**query, postcode="LS6 2AB") == world.ids["alexander_elsewhere"]
    assert world.first(**query, postcode="MK40 1AA") == world.ids["alexander"]


@pytest.mark.parametrize("family", ["Thomspon", "Tompson", "Thompsen", "Thompsonn", "Hompson"])
def test_typo_in_family_name(world: World, family: str) -> None:
    assert world.first(family_name=family, given_name="Alexander", date_of_birth=ALEX_DOB,
                       postcode="MK40 1AA") == world.ids["alexander"]
    assert world.ids["alexander"] in world.found(family_name=family, given_name="Alexander",
                                                 date_of_birth=ALEX_DOB)


@pytest.mark.parametrize("given", ["Alexnader", "Alexandr", "Aelxander"])
def test_typo_in_given_name(world: World, given: str) -> None:
    assert world.first(family_name="Thompson", given_name=given, date_of_birth=ALEX_DOB,
                       owning_la="823") == world.ids["alexander"]


def test_typos_in_both_names(world: World) -> None:
    assert world.first(family_name="Thomspon", given_name="Alexnader", date_of_birth=ALEX_DOB,
                       owning_la="823") == world.ids["alexander"]


@pytest.mark.parametrize("given", ["Alex", "Xander", "Sandy"])
def test_short_form_of_given_name(world: World, given: str) -> None:
    assert world.first(family_name="Thompson", given_name=given, date_of_birth=ALEX_DOB,
                       postcode="MK40 1AA") == world.ids["alexander"]


def test_preferred_name(world: World) -> None:
    assert world.first(family_name="Walker", given_name="Lily",
                       date_of_birth=dt.date(2013, 9, 12)) == world.ids["preferred"]


def test_day_and_month_swapped(world: World) -> None:
    swapped = dt.date(2014, 10, 5)
    assert world.first(family_name="Thompson", given_name="Alexander", date_of_birth=swapped,
                       owning_la="823", gender="male") == world.ids["alexander"]


@pytest.mark.parametrize("dob", [dt.date(2014, 5, 16), dt.date(2014, 6, 10), dt.date(2015, 5, 10),
                                 dt.date(2014, 5, 11)])
def test_one_digit_typo_in_dob(world: World, dob: dt.date) -> None:
    assert world.first(family_name="Thompson", given_name="Alexander", date_of_birth=dob,
                       owning_la="823") == world.ids["alexander"]


def test_dob_typo_and_name_typo_together(world: World) -> None:
    assert world.first(family_name="Thomspon", given_name="Alex", date_of_birth=dt.date(2014, 5, 16),
                       owning_la="823") == world.ids["alexander"]


def test_former_surname(world: World) -> None:
    assert world.first(family_name="Brown", given_name="Amelia",
                       date_of_birth=AMELIA_DOB) == world.ids["amelia"]
    assert world.first(family_name="Brwon", given_name="Amelia",
                       date_of_birth=AMELIA_DOB) == world.ids["amelia"]


@pytest.mark.parametrize("family", ["Jones", "Smith Jones", "SmithJones", "smith-jones", "Smith-Jnoes"])
def test_double_barrelled_surname_by_either_part(world: World, family: str) -> None:
    assert world.ids["amelia"] in world.found(family_name=family, given_name="Amelia",
                                              date_of_birth=AMELIA_DOB)


def test_full_double_barrelled_name_outranks_a_part(world: World) -> None:
    # "Amelia Smith" (a filler child) shares dob and given name with Amelia Smith-Jones.
    found = world.found(family_name="Smith-Jones", given_name="Amelia", date_of_birth=AMELIA_DOB)
    assert found[0] == world.ids["amelia"]


@pytest.mark.parametrize(
    ("key", "family", "given", "dob"),
    [
        ("zoe", "Ó Briain", "Zoë", dt.date(2011, 11, 3)),
        ("zoe", "O Briain", "Zoe", dt.date(2011, 11, 3)),
        ("zoe", "o'briain", "ZOE", dt.date(2011, 11, 3)),
        ("ivan", "Иванов", "Иван", dt.date(2013, 1, 30)),
        ("ivan", "ИВАНОВ", None, dt.date(2013, 1, 30)),
        ("ivan", "Иванв", "Иван", dt.date(2013, 1, 30)),
        ("mei", "王", "美玲", dt.date(2017, 7, 7)),
    ],
)
def test_accented_and_non_latin_names(
    world: World, key: str, family: str, given: str | None, dob: dt.date
) -> None:
    assert world.first(family_name=family, given_name=given, date_of_birth=dob) == world.ids[key]


def test_gender_only_ranks(world: World) -> None:
    query = {"family_name": "Thompson", "date_of_birth": ALEX_DOB, "owning_la": "823"}
    as_male = world.found(**query, gender="male")
    as_female = world.found(**query, gender="female")
    assert set(as_male) == set(as_female)


# -- what is searchable, and how much comes back --------------------------------------------


def test_owning_la_restricts_to_one_la(world: World) -> None:
    query = {"family_name": "Thompson", "given_name": "Alexander", "date_of_birth": ALEX_DOB}
    assert world.found(**query, owning_la="384") == [world.ids["alexander_elsewhere"]]
    in_823 = world.found(**query, owning_la="823")
    assert world.ids["alexander_elsewhere"] not in in_823
    assert in_823[0] == world.ids["alexander"]
    assert world.found(**query, owning_la="999") == []


def test_archived_child_is_not_found(world: World) -> None:
    assert world.found(family_name="Archer", given_name="Archie",
                       date_of_birth=dt.date(2015, 6, 6)) == []
    assert world.found(identifier=(Scheme.UPN, upn("801200005003"))) == []
    assert world.found(family_name="Archer", postcode="MK40 2BB") == []


def test_child_archived_after_indexing_is_not_found(fresh_world: World) -> None:
    world = fresh_world
    with transaction(world.engine) as session:
        session.execute(update(m.Child).where(m.Child.id == world.ids["amelia"]).values(status="archived"))
    assert world.ids["amelia"] not in world.found(family_name="Smith-Jones", date_of_birth=AMELIA_DOB)


def test_deceased_child_is_found(world: World) -> None:
    assert world.first(family_name="Darling", date_of_birth=dt.date(2010, 4, 4)) == world.ids["grace"]


@pytest.mark.parametrize("limit", [1, 3, 10, 50])
def test_limit_is_respected(world: World, limit: int) -> None:
    hits = world.search(limit=limit, family_name="Patel", date_of_birth=CROWD_DOB)
    assert len(hits) == min(limit, MAX_RESULTS)


def test_unrelated_children_are_not_returned(world: World) -> None:
    # Born the same day as Alexander but sharing nothing else with the query.
    assert world.found(family_name="Zebedee", given_name="Quentin", date_of_birth=ALEX_DOB) == []


def test_nobody_found_is_an_empty_list(world: World) -> None:
    assert world.found(family_name="Nobody", date_of_birth=dt.date(2019, 12, 25)) == []
    assert world.found(family_name="Thompson", postcode="ZE2 9XX") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (SearchQuery(), "identifier"),
        (SearchQuery(given_name="Alexander", date_of_birth=ALEX_DOB), "family name"),
        (SearchQuery(family_name="Thompson"), "date of birth or a postcode"),
        (SearchQuery(family_name="Thompson", given_name="Alexander"), "date of birth or a postcode"),
        (SearchQuery(family_name="   ", date_of_birth=ALEX_DOB), "family name"),
        (SearchQuery(family_name="T", date_of_birth=ALEX_DOB), "family_name"),
        (SearchQuery(family_name="Thompson", postcode="MK40"), "postcode"),
        (SearchQuery(family_name="Thompson", date_of_birth=ALEX_DOB, gender="boy"), "gender"),
        (SearchQuery(family_name="Thompson", date_of_birth=ALEX_DOB, owning_la="82"), "owning_la"),
        (SearchQuery(identifier=(Scheme.UPN, "R247962919251")), "upn"),
        (SearchQuery(identifier=(Scheme.NHS_NUMBER, "9434765871")), "nhs_number"),
    ],
)
def test_too_broad_or_malformed_queries_are_rejected(world: World, query: SearchQuery, field: str) -> None:
    with pytest.raises(SearchQueryError, match=field) as caught:
        world.backend.search(query)
    # The message names the field, never the value searched for.
    for value in ("Thompson", "Alexander", "R247962919251", "9434765871", "MK40"):
        assert value not in str(caught.value)


# -- ranking --------------------------------------------------------------------------------


def test_twins_rank_by_given_name(world: World) -> None:
    query = {"family_name": "Thompson", "date_of_birth": ALEX_DOB, "postcode": "MK40 1AA"}
    alex = world.search(**query, given_name="Alexander")
    oliver = world.search(**query, given_name="Oliver")
    assert alex[0].child_id == world.ids["alexander"]
    assert oliver[0].child_id == world.ids["oliver"]
    assert alex[0].score > alex[1].score
    assert world.ids["oliver"] in [h.child_id for h in alex]


def test_exact_match_outranks_near_duplicates(world: World) -> None:
    hits = world.search(family_name="Thompson", given_name="Alexander", date_of_birth=ALEX_DOB,
                        postcode="MK40 1AA", gender="male")
    assert hits[0].child_id == world.ids["alexander"]
    assert hits[0].score == pytest.approx(1.0)
    assert all(h.score < 1.0 for h in hits[1:])


# -- keeping the index up to date -----------------------------------------------------------


def test_reindexing_after_a_change(fresh_world: World) -> None:
    world = fresh_world
    alex = world.ids["alexander"]
    with transaction(world.engine) as session:
        session.execute(
            update(m.ChildName).where(m.ChildName.child_id == alex).values(family_name="Okonkwo")
        )
        session.add(m.ChildAddress(child_id=alex, postcode="SW1A 1AA"))
    new_name = {"family_name": "Okonkwo", "given_name": "Alexander"}
    world.backend.index_children([alex])
    assert world.first(**new_name, date_of_birth=ALEX_DOB) == alex
    assert world.first(**new_name, postcode="SW1A 1AA") == alex
    # Indexing again changes nothing.
    world.backend.index_children([alex, alex])
    assert world.first(**new_name, date_of_birth=ALEX_DOB) == alex
    assert alex not in world.found(family_name="Thompson", given_name="Alexander",
                                   postcode="MK40 1AA", date_of_birth=dt.date(2019, 1, 1))


def test_new_children_are_found_once_indexed(fresh_world: World) -> None:
    world = fresh_world
    with transaction(world.engine) as session:
        [new] = add_children(session, [child("Nadia", "Quasim", dt.date(2018, 3, 3), postcode="MK40 1AA")])
    query = {"family_name": "Quasim", "date_of_birth": dt.date(2018, 3, 3)}
    assert world.found(**query) == []
    world.backend.index_children([new])
    assert world.found(**query) == [new]


def test_removal(fresh_world: World) -> None:
    world = fresh_world
    alex = world.ids["alexander"]
    world.backend.remove_children([alex])
    assert world.found(identifier=(Scheme.UPN, upn("801200005001"))) == []
    assert alex not in world.found(family_name="Thompson", date_of_birth=ALEX_DOB)
    assert world.ids["oliver"] in world.found(family_name="Thompson", date_of_birth=ALEX_DOB)
    world.backend.remove_children([alex])  # removing again is harmless
    world.backend.index_children([alex])
    assert world.found(identifier=(Scheme.UPN, upn("801200005001"))) == [alex]


# -- the backends rank alike ----------------------------------------------------------------

RANKING_QUERIES: list[dict[str, object]] = [
    {"family_name": "Thompson", "date_of_birth": ALEX_DOB},
    {"family_name": "Thompson", "given_name": "Alex", "date_of_birth": ALEX_DOB, "postcode": "MK40 1AA"},
    {"family_name": "Thomspon", "given_name": "Alexnader", "date_of_birth": dt.date(2014, 5, 16)},
    {"family_name": "Thompson", "given_name": "Alexander", "date_of_birth": dt.date(2014, 10, 5)},
    {"family_name": "Thompson", "postcode": "MK40 1AA", "gender": "male"},
    {"family_name": "Smith", "given_name": "Amelia", "date_of_birth": AMELIA_DOB},
    {"family_name": "Jones", "date_of_birth": AMELIA_DOB, "owning_la": "384"},
    {"family_name": "Patel", "date_of_birth": CROWD_DOB},
    {"family_name": "Patel", "given_name": "Isla", "postcode": "MK43 0AA"},
    {"family_name": "Walker", "given_name": "Lily", "date_of_birth": dt.date(2013, 9, 12)},
    {"family_name": "O Briain", "given_name": "Zoe", "date_of_birth": dt.date(2011, 11, 3)},
    {"family_name": "Иванв", "date_of_birth": dt.date(2013, 1, 30)},
    {"family_name": "Wilson", "date_of_birth": dt.date(2013, 6, 1)},
    {"family_name": "Khan", "postcode": "MK41 5DG"},
    {"identifier": (Scheme.UPN, upn("801200005002"))},
]


def test_backends_rank_alike(request: pytest.FixtureRequest, sqlite_engine: Engine) -> None:
    """Over one store, every backend finds the same children in the same order with the same
    scores (Elasticsearch picks the candidates, the shared scoring ranks them)."""
    records = list(NAMED.values()) + filler(random.Random(20240501), 120)
    with transaction(sqlite_engine) as session:
        ids = add_children(session, records)
    answers: dict[str, list[list[SearchHit]]] = {}
    for name in sorted(BACKENDS):
        with backend_for(request, name, sqlite_engine) as backend:
            backend.index_children(ids)
            answers[name] = [list(backend.search(SearchQuery(**q))) for q in RANKING_QUERIES]  # type: ignore[arg-type]
    reference = answers["embedded"]
    # Queries that find little would test little.
    assert sum(len(hits) for hits in reference) > 3 * len(RANKING_QUERIES)
    for name, hits in answers.items():
        for query, got, expected in zip(RANKING_QUERIES, hits, reference, strict=True):
            assert got == expected, f"{name} ranks {query} differently"
