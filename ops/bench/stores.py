"""The benchmarks' large stores under var/bench/: built once, reused while their parameters match.

A store is complete when its mark (`<store>.complete`, JSON of the parameters it was built with
and what building it measured) exists: the mark is written last, so a store whose build was
interrupted, or is still running in another benchmark, is never taken for a finished one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def marker(path: Path) -> Path:
    return path.with_name(path.name + ".complete")


def completed(path: Path, wanted: dict[str, Any]) -> dict[str, Any] | None:
    """The mark of a complete store at `path` built with the `wanted` parameters, else None."""
    mark = marker(path)
    if not (path.exists() and mark.exists()):
        return None
    done: dict[str, Any] = json.loads(mark.read_text())
    return done if {k: done.get(k) for k in wanted} == wanted else None


def bring_up_to_date(path: Path) -> None:
    """Migrate a reused SQLite store to the current schema (a no-op when it is): a store built
    by an earlier version would otherwise be refused by the service, or searched with old keys."""
    from index.store import make_engine, upgrade

    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def mark_complete(path: Path, facts: dict[str, Any]) -> None:
    marker(path).write_text(json.dumps(facts))


def remove(path: Path) -> None:
    """The store, its SQLite side files and its mark."""
    for suffix in ("", "-wal", "-shm", ".complete"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def size_mb(path: Path) -> float:
    """The store and its side files, in MB."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file()) / 2**20
