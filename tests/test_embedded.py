"""The embedded backend's own mechanics: keys, (re)indexing in batches, the broad lookup.

What every backend must do is in test_search_contract.py; this file checks how the embedded
one does it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, func, select, text, update

from index import ChildRecord, add_children, embedded, transaction
from index import models as m
from index.embedded import EmbeddedSearch, child_keys, key_hash
from index.identifiers import Scheme
from index.search import SearchQuery

DOB = dt.date(2014, 5, 10)


def record(given: str, family: str, dob: dt.date = DOB, postcode: str | None = "MK40 1AA",
           status: str = "live") -> ChildRecord:
    return ChildRecord.model_validate({
        "owning_la": "823", "date_of_birth": dob, "status": status,
        "names": [{"given_name": given, "family_name": family}],
        "addresses": [{"postcode": postcode}] if postcode else [],
    })


def stored_keys(engine: Engine, child_id: int | None = None) -> set[int]:
    query = select(m.SearchKey.key)
    if child_id is not None:
        query = query.where(m.SearchKey.child_id == child_id)
    with engine.connect() as conn:
        return set(conn.scalars(query))


def key_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(m.SearchKey)) or 0


def test_key_hash_is_a_stable_signed_64_bit_integer() -> None:
    values = [key_hash(f"d|2014051{i}|fp|0MPSN") for i in range(10)]
    assert all(-(2**63) <= v < 2**63 for v in values)
    assert len(set(values)) == 10
    assert any(v < 0 for v in [key_hash(str(i)) for i in range(50)])
    # Stored keys must survive upgrades: the hash (blake2b, 8 bytes, big-endian, signed) is
    # pinned, since changing it would silently empty every existing index.
    assert key_hash("id|upn|B801200005001") == -2775736963301731826


TRUE = {"family": "Thompson", "given": "Alexander", "dob": DOB, "postcode": "MK40 1AA"}


@pytest.mark.parametrize(
    "mistake",
    [
        {"family": "Thomspon"}, {"family": "Hompson"}, {"family": "Tompson"},
        {"given": "Alex"}, {"given": "Alexnader"}, {"given": "Xlexander"}, {"given": None},
        {"dob": dt.date(2014, 10, 5)}, {"dob": dt.date(2014, 5, 16)}, {"dob": dt.date(2015, 5, 10)},
        {"dob": None},
    ],
)
def test_one_mistake_in_any_field_leaves_a_shared_precise_key(mistake: dict[str, object]) -> None:
    child = child_keys(
        date_of_birth=DOB, family_names=[TRUE["family"]], given_names=[TRUE["given"]],
        postcodes=[TRUE["postcode"]], identifier_values=[],
    )
    fields = {**TRUE, **mistake}
    for postcode in (fields["postcode"], None) if fields["dob"] else (fields["postcode"],):
        query = SearchQuery(family_name=fields["family"], given_name=fields["given"],  # type: ignore[arg-type]
                            date_of_birth=fields["dob"], postcode=postcode)  # type: ignore[arg-type]
        assert set(embedded._Query.of(query).keys()) & child


def test_identifier_keys_and_the_former_upn() -> None:
    child = child_keys(date_of_birth=DOB, family_names=["Smith"], given_names=["Amy"], postcodes=[],
                       identifier_values=[(Scheme.FORMER_UPN, "B801200005001")])
    query = embedded._Query.of(SearchQuery(identifier=(Scheme.UPN, "B801200005001")))
    assert set(query.keys()) <= child
    assert query.broad_keys() == {}


def test_scores_order_exact_short_form_and_typo() -> None:
    candidate = embedded._Candidate(1, DOB, "male", "0000000011",
                                    names=[embedded._name_row("current", "Alexander", None, "Thompson")])
    def score(**fields: object) -> float:
        query = {"family_name": "Thompson", "given_name": "Alexander", "date_of_birth": DOB, **fields}
        return embedded.score(embedded._Query.of(SearchQuery(**query)), candidate)  # type: ignore[arg-type]
    exact = score()
    short = score(given_name="Alex")
    typo = score(given_name="Alexnader")
    swapped = score(date_of_birth=dt.date(2014, 10, 5))
    other = score(given_name="Oliver")
    assert exact == pytest.approx(1.0)
    assert exact > short > other
    assert exact > typo > other
    assert exact > swapped > score(date_of_birth=dt.date(2011, 1, 1))
    assert score(gender="male") > score(gender="female")


def test_index_and_reindex_replace_keys(engine: Engine) -> None:
    backend = EmbeddedSearch(engine)
    with transaction(engine) as session:
        ids = add_children(session, [record("Alexander", "Thompson"), record("Oliver", "Twist")])
    backend.index_children(ids)
    before = stored_keys(engine, ids[0])
    total = key_count(engine)
    assert before and stored_keys(engine, ids[1])
    backend.index_children(ids)
    assert stored_keys(engine, ids[0]) == before
    assert key_count(engine) == total
    with transaction(engine) as session:
        session.execute(
            update(m.ChildName).where(m.ChildName.child_id == ids[0]).values(family_name="Okafor")
        )
    backend.index_children([ids[0]])
    after = stored_keys(engine, ids[0])
    assert after != before and after - before and before - after
    backend.remove_children([ids[0]])
    assert stored_keys(engine, ids[0]) == set()
    assert stored_keys(engine, ids[1])


def test_archived_children_get_no_keys(engine: Engine) -> None:
    with transaction(engine) as session:
        ids = add_children(session, [record("Archie", "Archer", status="archived"),
                                     record("Grace", "Darling", status="deceased")])
    EmbeddedSearch(engine).index_children(ids)
    assert stored_keys(engine, ids[0]) == set()
    assert stored_keys(engine, ids[1])
    # Archiving an indexed child and re-indexing it drops its keys.
    with transaction(engine) as session:
        session.execute(update(m.Child).where(m.Child.id == ids[1]).values(status="archived"))
    EmbeddedSearch(engine).index_children([ids[1]])
    assert stored_keys(engine) == set()


def test_batches_give_the_same_keys_as_one_pass(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [("Amelia", "Smith"), ("Oliver", "Jones"), ("Isla", "Brown"), ("Noah", "Khan")]
    with transaction(engine) as session:
        ids = add_children(session, [record(g, f, DOB + dt.timedelta(days=i))
                                     for i in range(23) for g, f in names[i % 4:i % 4 + 1]])
    backend = EmbeddedSearch(engine)
    backend.index_children(ids)
    whole = stored_keys(engine)
    backend.remove_children(ids)
    assert key_count(engine) == 0
    monkeypatch.setattr(embedded, "INDEX_BATCH", 5)
    backend.index_children(reversed(ids))
    assert stored_keys(engine) == whole
    backend.remove_children(ids)
    assert backend.index_all() == len(ids)
    assert stored_keys(engine) == whole


def test_broad_lookup_finds_a_child_with_both_names_mistyped(engine: Engine) -> None:
    with transaction(engine) as session:
        ids = add_children(session, [record("Oliver", "Thompson"), record("Amelia", "Smith")])
    backend = EmbeddedSearch(engine)
    backend.index_children(ids)
    query = SearchQuery(family_name="Yhompson", given_name="Pliver", date_of_birth=DOB)
    # No precise key is shared: only the broad lookup (everyone born that day) finds Oliver.
    assert not set(embedded._Query.of(query).keys()) & stored_keys(engine, ids[0])
    hits = backend.search(query)
    assert hits and hits[0].child_id == ids[0]
    by_postcode = backend.search(
        SearchQuery(family_name="Yhompson", given_name="Pliver", postcode="MK40 1AA")
    )
    assert by_postcode and by_postcode[0].child_id == ids[0]


def test_candidate_cap_keeps_the_best_prescored(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # Many children share the date-of-birth + given-name key; only one shares the family keys.
    with transaction(engine) as session:
        ids = add_children(session, [record("Oliver", f"Name{chr(97 + i)}{chr(97 + i)}x", postcode=None)
                                     for i in range(20)] + [record("Oliver", "Thompson", postcode=None)])
    backend = EmbeddedSearch(engine)
    backend.index_children(ids)
    monkeypatch.setattr(embedded, "CANDIDATE_CAP", 3)
    hits = backend.search(SearchQuery(family_name="Thompson", given_name="Oliver", date_of_birth=DOB))
    assert hits[0].child_id == ids[-1]
    assert len(hits) <= 3


def test_search_keys_is_a_without_rowid_table_on_sqlite(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        sql = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'search_keys'"))
    assert "WITHOUT ROWID" in sql.upper()


def test_broad_lookup_finds_a_child_by_names_alone(engine: Engine) -> None:
    # Stored with a mistyped date (2009 -> 2019); searched with another mistake (2009 -> 2004):
    # two edits apart, so no date key is shared.
    with transaction(engine) as session:
        ids = add_children(session, [record("Louie", "Smith", dob=dt.date(2019, 8, 12), postcode="MK45 9EQ"),
                                     record("Louie", "Smith", dob=dt.date(2011, 3, 1), postcode="LU5 4AA"),
                                     record("Amelia", "Smith", dob=dt.date(2004, 8, 12))])
    backend = EmbeddedSearch(engine)
    backend.index_children(ids)
    by_date = SearchQuery(family_name="Smith", given_name="Louie", date_of_birth=dt.date(2004, 8, 12))
    assert not set(embedded._Query.of(by_date).keys()) & stored_keys(engine, ids[0])
    ranked = [h.child_id for h in backend.search(by_date)]
    # Two date mistakes apart is found (below an Amelia Smith born on the very day: the date counts
    # as much as the family name); a namesake born years away agrees on the name alone and is not
    # shown (the evidence rule, index.search).
    assert ranked == [ids[2], ids[0]]
    # A search by postcode keeps to that postcode: no namesakes from elsewhere.
    by_postcode = SearchQuery(family_name="Smith", given_name="Louie", postcode="MK45 7AB")
    assert not backend.search(by_postcode)


def test_name_pair_keys_are_left_out_for_matching() -> None:
    values = {"date_of_birth": DOB, "family_names": ["Smith"], "given_names": ["Louie"],
              "postcodes": ["MK40 1AA"], "identifier_values": ()}
    pairs = embedded.name_pair_keys(["Smith"], ["Louie"])
    assert pairs and pairs <= child_keys(**values)
    assert not pairs & child_keys(**values, name_pairs=False)
    assert child_keys(**values) - pairs == child_keys(**values, name_pairs=False)


def test_next_day_ranks_above_a_digit_wrong_in_the_year(engine: Engine) -> None:
    with transaction(engine) as session:
        ids = add_children(session, [record("Amira", "Ali", dob=dt.date(2016, 5, 16)),
                                     record("Amira", "Ali", dob=dt.date(2014, 5, 15))])
    backend = EmbeddedSearch(engine)
    backend.index_children(ids)
    # Both are one digit from the typed date; the one a day away is also one day out.
    typed = dt.date(2014, 5, 16)
    hits = backend.search(SearchQuery(family_name="Ali", given_name="Amira", date_of_birth=typed))
    assert [h.child_id for h in hits] == [ids[1], ids[0]]


@pytest.mark.parametrize(("typed", "stored"), [("vy", "Ivy"), ("Aav", "Ava"), ("Li", "Le")])
def test_one_edit_in_a_short_name_ranks_above_another_name(engine: Engine, typed: str, stored: str) -> None:
    with transaction(engine) as session:
        ids = add_children(session, [record("Rosie", "Clark"), record(stored, "Clark")])
    backend = EmbeddedSearch(engine)
    backend.index_children(ids)
    hits = backend.search(SearchQuery(family_name="Clark", given_name=typed, date_of_birth=DOB))
    assert hits[0].child_id == ids[1]
    assert embedded._similarity(typed.casefold(), stored.casefold()) > 0.0


def test_upgrade_gives_name_pair_keys_to_children_keyed_before(empty_engine: Engine) -> None:
    from alembic import command

    from index.store import _alembic_config, upgrade

    # Children are written by today's models (those of 0006 are gone) into today's schema, keyed
    # as a store keyed before 0007 was (no name-pair keys); then revision 0007 alone is run again.
    config = _alembic_config(empty_engine)
    upgrade(empty_engine)
    with transaction(empty_engine) as session:
        ids = add_children(session, [record("Louie", "Smith"), record("Alex", "Smith-Jones"),
                                     record("Archie", "Clark", status="archived")])
    backend = EmbeddedSearch(empty_engine)
    backend.index_children(ids)
    current = stored_keys(empty_engine)
    pairs = embedded.name_pair_keys(["Smith"], ["Louie"]) | embedded.name_pair_keys(["Smith-Jones"], ["Alex"])
    with empty_engine.begin() as conn:
        conn.execute(m.SearchKey.__table__.delete().where(m.SearchKey.key.in_(pairs)))
    assert stored_keys(empty_engine) == current - pairs
    command.stamp(config, "0006", purge=True)
    command.upgrade(config, "0007")
    command.stamp(config, "head", purge=True)
    assert stored_keys(empty_engine) == current
    assert not stored_keys(empty_engine, ids[2])  # the archived child stays without keys
