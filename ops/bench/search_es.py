"""`childindex bench search --backend elasticsearch`: the Elasticsearch backend against the
embedded one, on the same synthetic store and the same queries, in the same run.

The store is the embedded search benchmark's (`ops.bench.search.build_store`: built once under
var/bench/ and reused), and so are the queries (`sample_probes`: made from the children's
truth with a practitioner's mistakes). A throwaway Elasticsearch node (ops.elasticsearch, 1 GB
heap) is started unless --es-url names one; the store is bulk indexed into it with a full
rebuild (`ElasticSearch.rebuild`: parallel bulk into new per-LA indices, then the alias swap),
timed as the indexing rate. Then the same queries run against both backends, interleaved in
blocks so that other load on the machine falls on both alike: latency of each, and recall@5 of
each (the child a query was made from among the first five).
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

from index.elastic import ElasticSearch, ElasticSettings
from index.embedded import EmbeddedSearch
from index.store import make_engine
from ops.bench import stores
from ops.bench.search_workload import (
    ROW_ORDER,
    TOP,
    WARM_UP,
    Probe,
    Tally,
    build_store,
    default_db,
    run_probes,
    sample_probes,
)
from ops.elasticsearch import ES_VERSION, throwaway_elasticsearch
from ops.machine import describe_machine

HEAP_MB = 1024
# Queries alternate between the backends in blocks of this many.
BLOCK = 100


def _merge(into: dict[str, Tally], part: dict[str, Tally]) -> None:
    for label, tally in part.items():
        into[label].latencies += tally.latencies
        into[label].found += tally.found
        into[label].rejected += tally.rejected


def _interleaved(backends: list[object], probes: list[Probe]) -> list[dict[str, Tally]]:
    tallies: list[dict[str, Tally]] = [defaultdict(Tally) for _ in backends]
    for start in range(0, len(probes), BLOCK):
        block = probes[start : start + BLOCK]
        for backend, into in zip(backends, tallies, strict=True):
            _merge(into, run_probes(backend, block))  # type: ignore[arg-type]
    return tallies


def _index_stats(backend: ElasticSearch) -> tuple[int, float, float, float]:
    """(documents, store MB, heap used MB, heap max MB) of the search alias and the node."""
    client = backend._client
    stats = client.indices.stats(index=backend.search_alias, metric="docs,store")["_all"]["primaries"]
    [node] = client.nodes.stats(node_id="_local", metric="jvm")["nodes"].values()
    heap = node["jvm"]["mem"]
    return (stats["docs"]["count"], stats["store"]["size_in_bytes"] / 2**20,
            heap["heap_used_in_bytes"] / 2**20, heap["heap_max_in_bytes"] / 2**20)


def _es_cpu_seconds(backend: ElasticSearch) -> float:
    """CPU time the Elasticsearch node's process has used so far."""
    [node] = backend._client.nodes.stats(node_id="_local", metric="process")["nodes"].values()
    return node["process"]["cpu"]["total_in_millis"] / 1000


def _own_cpu_seconds() -> float:
    """CPU time of this process and its finished children (the rebuild's worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(children: int, queries: int, seed: int, db: Path | None, es_url: str | None = None,
        shards: int = 1) -> str:
    path = db or default_db(children, seed)
    marker = stores.marker(path)
    if path.exists() and not marker.exists():
        # Another benchmark may be building it right now: never remove or rebuild it here.
        raise SystemExit(f"{path} is incomplete (still being built?): run again once it is done")
    if db is not None and marker.exists():
        # A store named explicitly is used as it is, never rebuilt (another benchmark may own it).
        made = json.loads(marker.read_text())
        stored, reused = f"{made.get('children')} children, {made.get('records')}", True
    else:
        build = build_store(path, children, seed)
        stored, reused = f"{build.children} children", build.reused
    engine = make_engine(f"sqlite:///{path}")
    embedded = EmbeddedSearch(engine)
    with ExitStack() as stack:
        if es_url is None:
            es_url = stack.enter_context(throwaway_elasticsearch(heap_mb=HEAP_MB)).url
        backend = ElasticSearch(engine, ElasticSettings(
            hosts=[es_url], index_prefix="bench", replicas=0, shards=shards, refresh="false",
            request_timeout=60.0, swap_grace_seconds=1.0))
        index_load = os.getloadavg()
        cpu_before = (_own_cpu_seconds(), _es_cpu_seconds(backend))
        started = time.perf_counter()
        rebuilt = backend.rebuild()
        index_seconds = time.perf_counter() - started
        index_cpu = (_own_cpu_seconds() - cpu_before[0], _es_cpu_seconds(backend) - cpu_before[1])
        index_load_after = os.getloadavg()
        backend._client.indices.forcemerge(index=backend.search_alias, max_num_segments=1,
                                           request_timeout=3600)
        docs, store_mb, heap_used, heap_max = _index_stats(backend)

        _known, probes = sample_probes(children, seed, queries + WARM_UP, engine)
        load = os.getloadavg()
        _interleaved([backend, embedded], probes[:WARM_UP])
        es_cpu = _es_cpu_seconds(backend)
        es, emb = _interleaved([backend, embedded], probes[WARM_UP:])
        es_cpu = _es_cpu_seconds(backend) - es_cpu
        load_after = os.getloadavg()
        backend.close()
    engine.dispose()

    lines = [
        f"## Elasticsearch {ES_VERSION} search vs embedded, {rebuilt.children:,} children",
        "",
        f"machine: {describe_machine()}; Elasticsearch: one node, heap {HEAP_MB} MB, "
        f"{shards} shard(s) per LA index, no replica; load average {load[0]:.1f} before the "
        f"queries, {load_after[0]:.1f} after",
        f"store: {path} ({'reused' if reused else 'built'}: {stored})",
        f"bulk indexing (rebuild from the store, {rebuilt.children:,} children into "
        f"{len(rebuilt.indices)} index(es), parallel_bulk x{backend.settings.bulk_threads}): "
        f"{index_seconds:,.1f} s = {rebuilt.children / index_seconds:,.0f} children/s (load average "
        f"{index_load[0]:.1f} before, {index_load_after[0]:.1f} after)",
        f"indexing CPU: {index_cpu[0]:,.0f} s in Python (store reads and keys, "
        f"{backend.settings.rebuild_workers} worker processes; bulk requests) + {index_cpu[1]:,.0f} s in "
        f"Elasticsearch = {1000 * sum(index_cpu) / max(rebuilt.children, 1):.2f} CPU-ms per child: "
        f"{os.cpu_count()} otherwise idle cores would index about "
        f"{(os.cpu_count() or 1) * rebuilt.children / max(sum(index_cpu), 1e-9):,.0f} children/s",
        f"index after force-merge: {docs:,} documents, {store_mb:,.0f} MB on disk "
        f"({1024 * store_mb / max(docs, 1):,.2f} KB per child); heap used {heap_used:,.0f} of "
        f"{heap_max:,.0f} MB",
        f"queries: {len(probes) - WARM_UP} made from the children's truth with a practitioner's "
        f"mistakes (as `bench search`), after {WARM_UP} warm-up, seed {seed}, the same for both "
        f"backends, alternating in blocks of {BLOCK}; recall@{TOP} = true child in the first {TOP}",
        "",
        f"| backend: queries | n | recall@{TOP} | p50 ms | p95 ms | p99 ms | queries/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label in ROW_ORDER:
        if label in es:
            lines.append(es[label].row(f"elasticsearch: {label}"))
            lines.append(emb[label].row(f"embedded: {label}"))
    agree = es["all"].found - emb["all"].found
    lines.append("")
    lines.append(f"recall@{TOP} difference (elasticsearch - embedded), all queries: {agree:+d} children")
    lines.append(f"Elasticsearch CPU per query: {1000 * es_cpu / max(len(es['all'].latencies), 1):.1f} ms "
                 "(the node's process, over the timed queries)")
    return "\n".join(lines)


__all__ = ["run"]
