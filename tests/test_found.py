"""The found-by-search rule (access.found) on SQLite and PostgreSQL: a practitioner opens a
child shown by one of their own successful searches within the window, or one their own service
works with (by organisation code, else by name); nothing else lets them in.

The API's side (403, audited, "search for the child first") is in test_scraping_limits.py."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine
from test_store import a_child

from access.audit import Event, append
from access.found import found
from access.roles import Principal, Role
from index.store import add_children, transaction

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(hours=24)
PAT = Principal(user_id="pat", role=Role.PRACTITIONER, la="823")


def may_open(engine: Engine, principal: Principal, child_id: int, *, code: str | None = "RYV01",
             name: str = "Bedford Health Visiting") -> bool:
    with transaction(engine) as db:
        return found(db, principal, child_id, NOW, window=DAY, organisation_code=code, organisation=name)


def searched(engine: Engine, actor: str, child_ids: list[int], ago: dt.timedelta, outcome: str = "ok",
             action: str = "search") -> None:
    with transaction(engine) as db:
        append(db, Event(actor=actor, action=action, outcome=outcome, child_ids=child_ids, at=NOW - ago),
               keys=None)


def test_shown_by_the_users_own_recent_search(engine: Engine) -> None:
    with transaction(engine) as db:
        # a_child's involvement is a school's (code 8231234, "Bedford Primary"): not pat's service.
        shown, other, old, theirs, refused = add_children(db, [a_child() for _ in range(5)])
    searched(engine, "pat", [old], DAY + dt.timedelta(seconds=1))  # before the window
    searched(engine, "pat", [shown, other], dt.timedelta(hours=23))
    searched(engine, "someone.else", [theirs], dt.timedelta(minutes=5))
    searched(engine, "pat", [refused], dt.timedelta(minutes=5), outcome="refused")
    searched(engine, "pat", [theirs], dt.timedelta(minutes=5), action="view_record")
    assert may_open(engine, PAT, shown) and may_open(engine, PAT, other)
    assert not may_open(engine, PAT, old)
    assert not may_open(engine, PAT, theirs)
    assert not may_open(engine, PAT, refused)
    # Roles not bound by the rule (the LA data team keeps its own LA's records).
    assert may_open(engine, Principal(user_id="dana", role=Role.LA_DATA_TEAM, la="823"), theirs)


def test_or_one_the_users_own_service_works_with(engine: Engine) -> None:
    with transaction(engine) as db:
        [child] = add_children(db, [a_child()])
    assert may_open(engine, PAT, child, code="8231234", name="anything")
    assert not may_open(engine, PAT, child, code="RYV01", name="Bedford Primary")  # a code decides
    assert may_open(engine, PAT, child, code=None, name="Bedford Primary")  # no code: by name
    assert not may_open(engine, PAT, child, code=None, name="Bedford Secondary")
