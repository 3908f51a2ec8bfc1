"""`childindex bench search`: the embedded search backend on a large synthetic SQLite store.

The store, the queries made from the children's truth with a practitioner's mistakes, and the
tallies are the workload in ops/bench/search_workload.py; `--backend elasticsearch` runs the same
workload against Elasticsearch and embedded side by side (ops/bench/search_es.py).
"""

from __future__ import annotations

import enum
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from index.embedded import EmbeddedSearch
from index.store import make_engine
from ops.bench import search_es
from ops.bench.search_workload import (
    ROW_ORDER,
    TOP,
    WARM_UP,
    Miss,
    build_store,
    default_db,
    describe_misses,
    exact_practitioner_probe,
    run_probes,
    sample_probes,
)
from ops.machine import describe_machine, peak_rss_mb


def run(children: int, queries: int, seed: int, db: Path | None, show_misses: bool = False) -> str:
    """Build or reuse the store, run the queries; the report as markdown."""
    path = db or default_db(children, seed)
    started = time.perf_counter()
    build = build_store(path, children, seed)
    build_wall = time.perf_counter() - started
    engine = make_engine(f"sqlite:///{path}")
    backend = EmbeddedSearch(engine)
    known, probes = sample_probes(children, seed, queries + WARM_UP, engine)
    load = os.getloadavg()
    run_probes(backend, probes[:WARM_UP])
    misses: list[Miss] = []
    noisy = run_probes(backend, probes[WARM_UP:], misses)
    baseline = run_probes(
        backend, [exact_practitioner_probe(k, p.shape) for k, p in zip(known[WARM_UP:], probes[WARM_UP:],
                                                                      strict=True)
                  if p.shape != "identifier"])
    load_after = os.getloadavg()
    engine.dispose()

    noisy_share = sum(bool(p.stored_noise) for p in probes[WARM_UP:]) / max(len(probes) - WARM_UP, 1)
    lines = [
        f"## Embedded search, {build.children:,} children (SQLite, in-process, one thread)",
        "",
        f"machine: {describe_machine()}; load average {load[0]:.1f} before the queries, "
        f"{load_after[0]:.1f} after (other work on the machine inflates latency)",
        f"store: {path} {build.size_mb:,.0f} MB, {build.key_rows:,} search keys "
        f"({build.key_rows / max(build.children, 1):.1f} per child; each child as one feed reported it, "
        "names, addresses and identifiers only); "
        + ("reused" if build.reused else f"built in {build_wall:,.0f} s")
        + f" (load {build.load_seconds:,.0f} s, index {build.index_seconds:,.0f} s)",
        f"queries: {len(probes) - WARM_UP} made from the children's truth with a practitioner's mistakes, "
        f"after {WARM_UP} warm-up, seed {seed}; {100 * noisy_share:.1f}% of the stored records carry feed "
        f"noise; recall@{TOP} = true child in the first {TOP}; peak RSS {peak_rss_mb():,.0f} MB",
        "",
        f"| queries | n | recall@{TOP} | p50 ms | p95 ms | p99 ms | queries/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [noisy[label].row(label) for label in ROW_ORDER if label in noisy]
    lines += [baseline[label].row(f"baseline: exact {label}")
              for label in ("all", "name + dob", "name + postcode") if label in baseline]
    searchable = noisy["all"]
    if (not_held := noisy.get("identifier not held")) and len(not_held.latencies) < len(searchable.latencies):
        n = len(searchable.latencies) - len(not_held.latencies)
        recall = 100 * (searchable.found - not_held.found) / n
        lines += ["", f"recall@{TOP} without the {len(not_held.latencies)} queries by an identifier no feed "
                  f"gave the store (no search can find those): {recall:.2f}%"]
    lines += ["", noisy["all"].cpu_line(), *describe_misses(misses)]
    if show_misses:
        # Development only: the synthetic values of each missed query (never real data).
        lines += [f"  {x.probe.child_id} rank {x.rank}: {x.probe.query} {x.probe.mistakes} "
                  f"{x.probe.stored_noise}" for x in misses]
    return "\n".join(lines)


class Backend(enum.StrEnum):
    EMBEDDED = "embedded"
    ELASTICSEARCH = "elasticsearch"


def command(
    children: Annotated[int, typer.Option("--children", min=1, help="Children in the store.")] = 1_000_000,
    queries: Annotated[int, typer.Option("--queries", min=1, help="Noisy queries to time.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic area and the queries.")] = 1,
    db: Annotated[Path | None, typer.Option("--db", help="SQLite file (default under var/bench/).")] = None,
    show_misses: Annotated[bool, typer.Option("--show-misses",
                                              help="List each missed query (synthetic data).")] = False,
    backend: Annotated[Backend, typer.Option(
        "--backend", help="elasticsearch: indexing rate, then the same queries against it and embedded.",
    )] = Backend.EMBEDDED,
    es_url: Annotated[str | None, typer.Option(
        "--es-url", help="elasticsearch: a running node (default: a throwaway one, 1 GB heap).")] = None,
) -> None:
    """Embedded search on a synthetic store: latency, queries/s and recall@5 by query kind."""
    if backend is Backend.ELASTICSEARCH:
        typer.echo(search_es.run(children, queries, seed, db, es_url=es_url))
        return
    typer.echo(run(children, queries, seed, db, show_misses=show_misses))
