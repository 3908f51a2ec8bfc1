"""Deciding a batch of people on several cores.

`Matcher.decide` reads the index and never changes it, so decisions against a fixed index can be
spread over forked worker processes: each inherits the index copy-on-write (nothing is copied
or pickled up front) and decides one contiguous slice; the parent gathers the decisions in
order. The result is exactly the sequential one. Batches whose NEW people must become candidates
for later records of the same batch (`Matcher.decide_records(add_new=True)`, the nightly run)
are sequential by nature and do not use this.

Fork only (Linux): where it is not available, or for small batches, the batch is decided in
this process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Sequence

from matching.decide import Decision, Matcher
from matching.person import Person

# Below this many people per worker, forking costs more than it saves.
MIN_PER_WORKER = 500

# What the forked workers inherit: set just before forking, cleared after.
_work: tuple[Matcher, Sequence[Person]] | None = None


def _decide_slice(bounds: tuple[int, int]) -> list[Decision]:
    assert _work is not None, "a worker is forked with its work in place"
    matcher, people = _work
    return [matcher.decide(person) for person in people[bounds[0]:bounds[1]]]


def default_workers() -> int:
    """One worker per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def decide_batch(matcher: Matcher, people: Sequence[Person], workers: int = 1) -> list[Decision]:
    """The decision for each person against the index as it stands (nobody is added), in order,
    on up to `workers` processes."""
    workers = min(workers, len(people) // MIN_PER_WORKER)
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [matcher.decide(person) for person in people]
    global _work
    step = -(-len(people) // workers)
    slices = [(start, min(start + step, len(people))) for start in range(0, len(people), step)]
    _work = (matcher, people)
    # Objects that exist now are left out of the workers' garbage collection: a collection
    # would touch every object of the index and copy the whole heap page by page.
    gc.freeze()
    try:
        with multiprocessing.get_context("fork").Pool(len(slices)) as pool:  # terminated on error
            parts = pool.map(_decide_slice, slices, chunksize=1)
            pool.close()
            pool.join()  # reaped, so that their CPU time counts as this process's children's
    finally:
        gc.unfreeze()
        _work = None
    return [decision for part in parts for decision in part]
