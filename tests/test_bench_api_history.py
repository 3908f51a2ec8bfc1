"""`childindex bench api --history N`: the practitioners' lived-in trail is made once, before the
window the rate limits and the found-by-search check read, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select
from test_store import a_child

from access.audit import verify
from index import models as m
from index.store import add_children, transaction
from ops.bench.api import HISTORY_DAYS, add_history, bench_people

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def test_history_is_old_made_once_and_chained(engine: Engine) -> None:
    with transaction(engine) as db:
        add_children(db, [a_child() for _ in range(5)])
    people = bench_people(2)
    assert add_history(engine, people, 30, 1, NOW) == 60
    assert add_history(engine, people, 30, 1, NOW) == 0  # already there: the store is reused
    assert add_history(engine, people, 35, 1, NOW) == 10  # only what is missing
    with transaction(engine) as db:
        rows = db.execute(select(m.AuditEvent.actor, m.AuditEvent.action, m.AuditEvent.at)).all()
        shown = db.scalars(select(func.max(m.AuditEventChild.child_id))).one()
        assert verify(db).ok
    assert {r.actor for r in rows} == {p.uid for p in people}
    assert {r.action for r in rows} == {"search", "view_record"}
    oldest, newest = NOW - dt.timedelta(days=HISTORY_DAYS + 2), NOW - dt.timedelta(days=2)
    assert all(oldest <= (r.at if r.at.tzinfo else r.at.replace(tzinfo=dt.UTC)) < newest for r in rows)
    assert shown is not None and shown <= 5
