"""Deciding batches of people on several cores.

`Matcher.decide` reads the index and never changes it, so decisions against a fixed index can be
spread over forked worker processes. Each worker inherits the matcher and its index at the fork,
copy-on-write (nothing is pickled up front); the people of each batch are sent to the workers in
contiguous slices and their decisions come back in order, exactly the sequential ones.

Fork once, decide many batches: a worker copies the pages of the index it touches (reference
counts are writes), so forking again for each batch would copy them again each time.
`DecidingPool` keeps its workers for its lifetime; `decide_batch` is the one-batch shortcut.
The workers see the index as it was when the pool started: a batch whose NEW people must
become candidates for later records of the same batch (`Matcher.decide_records(add_new=True)`,
the nightly run) is sequential by nature and does not use this.

Fork only (Linux); elsewhere, and for one worker, the batch is decided in this process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Sequence
from multiprocessing.pool import Pool
from types import TracebackType

from matching.decide import Decision, Matcher
from matching.person import Person

# Below this many people per worker, sending them costs more than it saves.
MIN_PER_WORKER = 500

# The matcher a forked worker decides with: set just before forking, cleared after.
_matcher: Matcher | None = None


def _decide(people: Sequence[Person]) -> list[Decision]:
    assert _matcher is not None, "a worker is forked with its matcher in place"
    return [_matcher.decide(person) for person in people]


def default_workers() -> int:
    """One worker per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class DecidingPool:
    """`workers` forked processes deciding against `matcher` as it is now."""

    def __init__(self, matcher: Matcher, workers: int) -> None:
        self._matcher = matcher
        self._pool: Pool | None = None
        self.workers = workers if "fork" in multiprocessing.get_all_start_methods() else 1
        if self.workers > 1:
            global _matcher
            _matcher = matcher
            # Objects that exist now are left out of the workers' garbage collection: a
            # collection would touch every object of the index and copy the heap page by page.
            # (A caller that froze its long-lived objects itself keeps them frozen.)
            frozen_already = gc.get_freeze_count() > 0
            gc.freeze()
            try:
                self._pool = multiprocessing.get_context("fork").Pool(self.workers)
            finally:
                if not frozen_already:
                    gc.unfreeze()
                _matcher = None

    def decide(self, people: Sequence[Person]) -> list[Decision]:
        """The decision for each person, in order."""
        workers = min(self.workers, len(people) // MIN_PER_WORKER)
        if self._pool is None or workers <= 1:
            return [self._matcher.decide(person) for person in people]
        step = -(-len(people) // workers)
        slices = [people[start:start + step] for start in range(0, len(people), step)]
        return [decision for part in self._pool.map(_decide, slices, chunksize=1) for decision in part]

    def close(self) -> None:
        """End the workers (reaped, so that their CPU time counts as this process's children's)."""
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> DecidingPool:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._pool is not None and error is not None:
            self._pool.terminate()
        self.close()


def decide_batch(matcher: Matcher, people: Sequence[Person], workers: int = 1) -> list[Decision]:
    """The decision for each person against the index as it stands (nobody is added), in order,
    on up to `workers` processes."""
    workers = min(workers, len(people) // MIN_PER_WORKER)
    if workers <= 1:
        return [matcher.decide(person) for person in people]
    with DecidingPool(matcher, workers) as pool:
        return pool.decide(people)
