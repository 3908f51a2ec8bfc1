"""The search outbox: which children's search entries must be pushed to the search backend.

Whoever changes a child in the store (the nightly run, a merge, an archive) calls
`mark_changed(session, child_ids)` in the same transaction, so the store and the list of
pending index updates commit together or not at all (given the embedded backend, which lives in
the same database, it updates the keys themselves in that transaction instead).
`drain(engine, backend)` then pushes the pending children to the backend (which reads their
current state from the store: a child no longer searchable leaves the index) and deletes
exactly the rows it pushed. When the backend is unavailable (Elasticsearch down) the rows stay
and `drain` says so; a later drain catches up.

Pushing is idempotent, so a crash between pushing and deleting only pushes those children
again; a child marked again while a drain runs keeps its newer row and is pushed next time.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session

from index import models as m
from index.search import InStoreBackend, SearchBackend, SearchUnavailable

DRAIN_BATCH = 5000


def mark_changed(session: Session, child_ids: Iterable[int], backend: SearchBackend | None = None) -> int:
    """Queue these children for the search index, in the caller's transaction; the number
    queued. Marking a child twice is harmless (it is pushed once per drain batch).

    A `backend` whose entries live in this very database (the embedded one) is brought up to
    date here instead, in the same transaction, and nothing is queued (returns 0): atomic
    without the outbox, and two commits a batch cheaper for the nightly run."""
    ids = sorted({int(child_id) for child_id in child_ids})
    conn = session.connection()
    if isinstance(backend, InStoreBackend) and backend.shares_store(conn):
        backend.index_in(conn, ids)
        return 0
    now = dt.datetime.now(dt.UTC)
    if ids:
        session.execute(insert(m.SearchOutboxEntry), [{"child_id": c, "queued_at": now} for c in ids])
    return len(ids)


def pending(engine: Engine) -> int:
    """How many children are waiting to be pushed."""
    with engine.connect() as conn:
        return conn.scalar(select(func.count(func.distinct(m.SearchOutboxEntry.child_id)))) or 0


@dataclass(frozen=True)
class DrainReport:
    pushed: int  # distinct children pushed (a child marked in two batches counts twice)
    pending: int  # children still queued afterwards
    unavailable: str | None = None  # why the backend could not take them, when it could not

    @property
    def caught_up(self) -> bool:
        return self.unavailable is None and self.pending == 0


def drain(engine: Engine, backend: SearchBackend, *, batch: int = DRAIN_BATCH,
          limit: int | None = None) -> DrainReport:
    """Push queued children to `backend`, oldest first, a batch at a time, until none are left
    (or `limit` rows are done). Stops at the first SearchUnavailable and reports it, keeping
    every row not pushed; other errors (e.g. a document the backend rejects) propagate, and
    the rows stay queued."""
    pushed = done = 0
    unavailable: str | None = None
    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        with engine.connect() as conn:
            rows = conn.execute(
                select(m.SearchOutboxEntry.id, m.SearchOutboxEntry.child_id)
                .order_by(m.SearchOutboxEntry.id).limit(size)
            ).all()
        if not rows:
            break
        child_ids = sorted({child_id for _id, child_id in rows})
        try:
            backend.index_children(child_ids)
        except SearchUnavailable as exc:
            unavailable = str(exc)
            break
        # Only the rows read above: a row added since (a newer change) stays for next time.
        with engine.begin() as conn:
            conn.execute(delete(m.SearchOutboxEntry).where(
                m.SearchOutboxEntry.id.in_([row_id for row_id, _child in rows])))
        pushed += len(child_ids)
        done += len(rows)
    return DrainReport(pushed=pushed, pending=pending(engine), unavailable=unavailable)


def drain_until_caught_up(
    engine: Engine, backend: SearchBackend, *, timeout_s: float, pause_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainReport:
    """Drain, and while the backend is unavailable wait `pause_s` and try again, for at most
    `timeout_s`: how a run catches up after an outage without anyone restarting it."""
    deadline = time.monotonic() + timeout_s
    pushed = 0
    while True:
        report = drain(engine, backend)
        pushed += report.pushed
        if report.unavailable is None or time.monotonic() + pause_s > deadline:
            return DrainReport(pushed=pushed, pending=report.pending, unavailable=report.unavailable)
        sleep(pause_s)


__all__ = ["DRAIN_BATCH", "DrainReport", "drain", "drain_until_caught_up", "mark_changed", "pending"]
