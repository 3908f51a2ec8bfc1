"""`childindex bench audit`: audit trail appends (one transaction each, as requests do) and a
full verification, on a throwaway SQLite store or a given database.

Appends run first from one writer, then from several threads at once (they serialise on the
chain head, so this shows the cost of that lock); verification walks the whole chain. Then a
purge's part in the trail: finding the entries whose criteria name a batch of purged children
(access.erasure, a scan of every entry still holding criteria), erasing them, and verifying
again.
"""

from __future__ import annotations

import datetime as dt
import random
import string
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from access import erasure
from access.audit import Event, append, erase_criteria, verify
from index.keys import compact_name, name_tokens, phonetic
from index.store import make_engine, transaction, upgrade
from ops.machine import describe_machine, peak_rss_mb

_RNG = random.Random(17)
SURNAMES = ["".join(_RNG.choice(string.ascii_lowercase) for _ in range(7)).title() for _ in range(2000)]
FIRST_BIRTH = dt.date(2008, 1, 1)


def _append_many(engine: Engine, count: int, worker: int) -> None:
    for i in range(count):
        with transaction(engine) as session:
            append(session, Event(
                actor=f"user{worker}", action="view_record", reason="safeguarding",
                child_ids=[i % 5000 + 1], actor_role="practitioner", actor_la="823",
                criteria={"family_name": SURNAMES[(i * 7 + worker) % len(SURNAMES)],
                          "date_of_birth": FIRST_BIRTH + dt.timedelta(days=(i * 13 + worker) % 4000)},
            ))


def _purged(count: int) -> list[erasure.Person]:
    """Children as access.erasure.people would read them: a surname and a date of birth of the
    trail's (some of them searched for), no address or identifier."""
    found = []
    for k in range(count):
        name = SURNAMES[(k * 11) % len(SURNAMES)]
        found.append(erasure.Person(
            child_id=1_000_000 + k, family_names=frozenset({compact_name(name)}),
            family_words=frozenset(name_tokens(name)),
            family_sounds=frozenset({phonetic(compact_name(name))}),
            date_of_birth=FIRST_BIRTH + dt.timedelta(days=(k * 29) % 4000), sectors=frozenset(),
            identifiers=frozenset()))
    return found


def run(entries: int, threads: int, db: str | None, purged: int = 500) -> str:
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
        started = time.perf_counter()
        with transaction(engine) as session:
            naming = erasure.entries_naming(session, _purged(purged))
        scanned = time.perf_counter() - started
        started = time.perf_counter()
        with transaction(engine) as session:
            erased = erase_criteria(session, naming, actor="retention-run", reason="retention")
        erasing = time.perf_counter() - started
        with Session(engine) as session:
            after = verify(session)
        backend = engine.dialect.name
        engine.dispose()
    total = half + per_thread * threads
    lines = [
        f"audit trail on {backend}: {total} entries",
        f"  append, 1 writer:        {half / single:8.0f} entries/s ({single * 1e3 / half:.2f} ms each)",
        f"  append, {threads} threads:       {per_thread * threads / concurrent:8.0f} entries/s",
        f"  verify whole chain:      {total / checked:8.0f} entries/s ({checked:.2f} s) -> "
        f"{'OK' if result.ok and result.entries == total else 'BROKEN'}",
        f"  entries naming {purged} purged children: {len(naming)} found in {scanned:.2f} s "
        f"(every entry's criteria read); erased in {erasing:.2f} s; verify after -> "
        f"{'OK' if after.ok and after.erased == len(erased) else 'BROKEN'}",
        f"  peak RSS {peak_rss_mb():.0f} MB",
        describe_machine(),
    ]
    return "\n".join(lines)


def command(
    entries: Annotated[int, typer.Option("--entries", min=10, help="Entries to append.")] = 20_000,
    threads: Annotated[int, typer.Option("--threads", min=1, help="Concurrent writers.")] = 4,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: a temporary SQLite file; "
                                                        "must be an empty database).")] = None,
    purged: Annotated[int, typer.Option("--purged", min=1, help="Purged children to find in the "
                                                                "trail's criteria.")] = 500,
) -> None:
    """Audit appends per second (single and concurrent writers), verification speed and a
    purge's erasure of criteria."""
    typer.echo(run(entries, threads, db, purged))
