"""The name of the evidence rule is the family name, most of it (second attack test), on both
backends and through the API.

Two letters of a family name agreed with every name they begin (Jaro-Winkler rewards a shared
beginning), and a given name stood in for the family name: so "Xq" with "Ruby" and a date of
birth, or "Ha" with a date of birth, listed the children of that name (or beginning) born that
day, and a few hundred prefixes listed a day's births. A family name now agrees only where the
query holds most of it (or it sounds the same); a given name alone stands in for it only beside
the child's very postcode, or both a date of birth and a postcode, that the searcher may match the
child on.
"""

from __future__ import annotations

import pytest
from api_world import World, build_world
from test_search_evidence import BORN, found, searched  # noqa: F401 (the fixture, both backends)

from index.search import SearchBackend
from ops.slapd import DemoDirectory


def test_a_few_letters_of_a_family_name_agree_with_nobody(
        searched: tuple[SearchBackend, dict[str, int]]) -> None:  # noqa: F811
    backend, ids = searched
    for typed in ("Ha", "Har", "Hart"):
        assert found(backend, family_name=typed, date_of_birth=BORN) == [], typed
        assert found(backend, family_name=typed, postcode="MK40 1AA") == [], typed
    # Mistakes a practitioner makes still agree: a dropped, doubled or swapped letter, the sound.
    for typed in ("Hartly", "Hartlley", "Hatrley", "Hartlie"):
        assert found(backend, family_name=typed, date_of_birth=BORN)[:1] == [ids["ruby"]], typed


def test_a_given_name_does_not_stand_in_for_a_made_up_family_name(
        searched: tuple[SearchBackend, dict[str, int]]) -> None:  # noqa: F811
    backend, ids = searched
    assert found(backend, family_name="Xq", given_name="Ruby", date_of_birth=BORN) == []
    assert found(backend, family_name="Xq", given_name="Ru", date_of_birth=BORN) == []
    assert found(backend, family_name="Xq", given_name="Ruby", postcode="MK40 1ZZ") == []  # sector only
    # Beside the child's very postcode, or a date of birth and a postcode, it does (a family name
    # since changed, say).
    assert found(backend, family_name="Xq", given_name="Ruby", postcode="MK40 1AA") == [ids["ruby"]]
    assert found(backend, family_name="Xq", given_name="Ruby", date_of_birth=BORN,
                 postcode="MK40 1ZZ") == [ids["ruby"]]
    # Not for a shielded child: its postcode is not matched for a practitioner.
    assert found(backend, family_name="Xq", given_name="Jade", date_of_birth=BORN, postcode="MK41 2BB") == []


def test_through_the_api(ldap_server: DemoDirectory, tmp_path_factory: pytest.TempPathFactory) -> None:
    world: World = build_world(ldap_server, tmp_path_factory.mktemp("name-evidence"))
    try:
        def shown(**body: object) -> list[str]:
            response = world.client.post("/search", headers=world.auth("pat.practitioner"),
                                         json={"reason": "safeguarding", **body})
            assert response.status_code == 200, response.text
            return [r["family_name"] for r in response.json()["results"]]

        assert shown(family_name="Pe", date_of_birth="2015-06-07") == []
        assert shown(family_name="Xq", given_name="Tamsin", date_of_birth="2015-06-07") == []
        assert shown(family_name="Pendragn", date_of_birth="2015-06-07") == ["Pendragon"]
    finally:
        world.engine.dispose()
