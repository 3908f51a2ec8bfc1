"""`childindex bench audit`: audit trail appends (one transaction each, as requests do) and a
full verification, on a throwaway SQLite store or a given database.

Appends run first from one writer, then from several threads at once (they serialise on the
chain head, so this shows the cost of that lock); verification walks the whole chain.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from access.audit import Event, append, verify
from index.store import make_engine, transaction, upgrade
from ops.machine import describe_machine, peak_rss_mb


def _append_many(engine: Engine, count: int, worker: int) -> None:
    for i in range(count):
        with transaction(engine) as session:
            append(session, Event(
                actor=f"user{worker}", action="view_record", reason="safeguarding",
                child_ids=[i % 5000 + 1], actor_role="practitioner", actor_la="823",
                criteria={"family_name": "Smith", "date_of_birth": dt.date(2014, 5, 10)},
            ))


def run(entries: int, threads: int, db: str | None) -> str:
    with tempfile.TemporaryDirectory(prefix="childindex-bench-audit-") as tmp:
        engine = make_engine(db or f"sqlite:///{Path(tmp) / 'audit.db'}")
        upgrade(engine)
        half = entries // 2
        started = time.perf_counter()
        _append_many(engine, half, 0)
        single = time.perf_counter() - started
        per_thread = (entries - half) // threads
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda w: _append_many(engine, per_thread, w + 1), range(threads)))
        concurrent = time.perf_counter() - started
        started = time.perf_counter()
        with Session(engine) as session:
            result = verify(session)
        checked = time.perf_counter() - started
        backend = engine.dialect.name
        engine.dispose()
    total = half + per_thread * threads
    lines = [
        f"audit trail on {backend}: {total} entries",
        f"  append, 1 writer:        {half / single:8.0f} entries/s ({single * 1e3 / half:.2f} ms each)",
        f"  append, {threads} threads:       {per_thread * threads / concurrent:8.0f} entries/s",
        f"  verify whole chain:      {total / checked:8.0f} entries/s ({checked:.2f} s) -> "
        f"{'OK' if result.ok and result.entries == total else 'BROKEN'}",
        f"  peak RSS {peak_rss_mb():.0f} MB",
        describe_machine(),
    ]
    return "\n".join(lines)


def command(
    entries: Annotated[int, typer.Option("--entries", min=10, help="Entries to append.")] = 20_000,
    threads: Annotated[int, typer.Option("--threads", min=1, help="Concurrent writers.")] = 4,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: a temporary SQLite file; "
                                                        "must be an empty database).")] = None,
) -> None:
    """Audit appends per second (single and concurrent writers) and verification speed."""
    typer.echo(run(entries, threads, db))
