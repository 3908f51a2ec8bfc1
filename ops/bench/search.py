"""`childindex bench search`: the embedded search backend on a large synthetic SQLite store.

Builds (or reuses) a store of true synthetic children from `ops.synth.iter_true_children`,
indexes it with `index.embedded.EmbeddedSearch`, then runs noisy queries in-process, as a
practitioner would type them, and prints latency, throughput and recall@5 by query kind, next
to an in-run baseline of the same children searched with exact values.

The store holds the true values (the generator's children are written as they are), so the
child a query was made from is its right answer: no mapping needs storing. Children are loaded
with their names, addresses and identifiers only: search never reads carers or services, and
writing them would triple the build time of a million-child store.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Engine, event, func, select

from index import ChildRecord, SearchQuery, SearchQueryError, add_children, transaction
from index import models as m
from index.embedded import EmbeddedSearch
from index.identifiers import Scheme
from index.store import make_engine, upgrade
from index.vocabulary import AddressStatus, NameKind
from ops import noise
from ops.machine import describe_machine, peak_rss_mb

LA = "823"
LOAD_BATCH = 20_000
WARM_UP = 200
TOP = 5

# The query mix: the share of queries by identifier, then for the name queries how often each
# mistake is made (independently, so some queries carry two or three).
IDENTIFIER_SHARE = 0.10
POSTCODE_INSTEAD_OF_DOB = 0.30
MISTAKES: dict[str, float] = {
    "family typo": 0.20,
    "given short form": 0.20,
    "given typo": 0.10,  # only when no short form was used
    "dob swapped": 0.10,
    "dob one-digit typo": 0.10,  # only when not swapped
}
IDENTIFIER_SCHEMES = (Scheme.UPN, Scheme.NHS_NUMBER, Scheme.ULN, Scheme.LA_REFERENCE, Scheme.CHILD_NUMBER)

TrueChildren = Callable[[int, str, int], Iterable[tuple[int, ChildRecord]]]


def default_db(children: int, seed: int) -> Path:
    return Path("var") / "bench" / f"search-{children}-seed{seed}.db"


@dataclass(frozen=True)
class Build:
    children: int
    key_rows: int
    size_mb: float
    load_seconds: float
    index_seconds: float
    reused: bool


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".complete")


def _bulk_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Building only: a big page cache keeps the growing key b-tree in memory.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA cache_size=-1000000")
    cursor.close()


def _remove_store(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".complete"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def build_store(path: Path, children: int, seed: int, source: TrueChildren | None = None) -> Build:
    """The store at `path` with `children` true children indexed; reused when a complete one
    with the same parameters is there already."""
    wanted = {"children": children, "seed": seed, "la": LA, "records": "search fields only"}
    marker = _marker(path)
    url = f"sqlite:///{path}"
    if path.exists() and marker.exists():
        done = json.loads(marker.read_text())
        if {k: done.get(k) for k in wanted} == wanted:
            return Build(children, done["key_rows"], _size_mb(path), done["load_seconds"],
                         done["index_seconds"], reused=True)
    _remove_store(path)
    if source is None:
        from ops.synth import iter_true_children

        source = iter_true_children
    engine = make_engine(url)
    event.listen(engine, "connect", _bulk_pragmas)
    upgrade(engine)
    backend = EmbeddedSearch(engine)
    load = index = 0.0
    records = (
        record.model_copy(update={"carers": (), "involvements": ()})
        for _true_id, record in source(children, LA, seed)
    )
    loaded = 0
    while batch := list(islice(records, LOAD_BATCH)):
        started = time.perf_counter()
        with transaction(engine) as session:
            ids = add_children(session, batch)
        indexed = time.perf_counter()
        backend.index_children(ids)
        load += indexed - started
        index += time.perf_counter() - indexed
        loaded += len(ids)
        typer.echo(f"  loaded {loaded:,} / {children:,} children", err=True)
    with engine.connect() as conn:
        key_rows = conn.scalar(select(func.count()).select_from(m.SearchKey)) or 0
    engine.dispose()
    marker.write_text(json.dumps({**wanted, "key_rows": key_rows, "load_seconds": load,
                                  "index_seconds": index}))
    return Build(loaded, key_rows, _size_mb(path), load, index, reused=False)


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file()) / 2**20


@dataclass
class Truth:
    """What the store holds about one child: the values a query is made from."""

    child_id: int
    child_number: str
    date_of_birth: dt.date
    given: str | None = None
    family: str | None = None
    postcode: str | None = None
    identifiers: dict[Scheme, str] = field(default_factory=dict)


def _chunks(values: Sequence[int], size: int = 5000) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def read_truths(engine: Engine, ids: Sequence[int]) -> list[Truth]:
    truths: dict[int, Truth] = {}
    with engine.connect() as conn:
        for chunk in _chunks(ids):
            for child_id, number, dob in conn.execute(
                select(m.Child.id, m.Child.child_number, m.Child.date_of_birth).where(m.Child.id.in_(chunk))
            ):
                truths[child_id] = Truth(child_id, number, dob)
            for child_id, given, family in conn.execute(
                select(m.ChildName.child_id, m.ChildName.given_name, m.ChildName.family_name).where(
                    m.ChildName.child_id.in_(chunk), m.ChildName.kind == NameKind.CURRENT)
            ):
                truths[child_id].given, truths[child_id].family = given, family
            for child_id, postcode in conn.execute(
                select(m.ChildAddress.child_id, m.ChildAddress.postcode).where(
                    m.ChildAddress.child_id.in_(chunk), m.ChildAddress.status == AddressStatus.CURRENT,
                    m.ChildAddress.postcode.is_not(None), m.ChildAddress.valid_to.is_(None))
            ):
                truths[child_id].postcode = postcode
            for child_id, scheme, value in conn.execute(
                select(m.ChildIdentifier.child_id, m.ChildIdentifier.scheme, m.ChildIdentifier.value)
                .where(m.ChildIdentifier.child_id.in_(chunk))
            ):
                truths[child_id].identifiers[Scheme(scheme)] = value
    return [truths[i] for i in ids if i in truths]


@dataclass(frozen=True)
class Probe:
    """One query, the child it should find, and what kind of query it is."""

    query: SearchQuery
    child_id: int
    shape: str
    mistakes: tuple[str, ...]


def noisy_probe(truth: Truth, rng: random.Random, today: dt.date) -> Probe:
    if rng.random() < IDENTIFIER_SHARE:
        schemes = [s for s in IDENTIFIER_SCHEMES if s in truth.identifiers or s is Scheme.CHILD_NUMBER]
        scheme = rng.choice(schemes)
        value = truth.child_number if scheme is Scheme.CHILD_NUMBER else truth.identifiers[scheme]
        return Probe(SearchQuery(identifier=(scheme, value)), truth.child_id, "identifier", ())
    mistakes: list[str] = []
    family = truth.family or ""
    if rng.random() < MISTAKES["family typo"]:
        family = noise.typo(family, rng)
        mistakes.append("family typo")
    given = truth.given
    draw = rng.random()
    if given and draw < MISTAKES["given short form"]:
        if (short := noise.short_form(given, rng)) != given:
            given = short
            mistakes.append("given short form")
    elif given and draw < MISTAKES["given short form"] + MISTAKES["given typo"]:
        given = noise.typo(given, rng)
        mistakes.append("given typo")
    if truth.postcode and rng.random() < POSTCODE_INSTEAD_OF_DOB:
        query = SearchQuery(family_name=family, given_name=given, postcode=truth.postcode)
        return Probe(query, truth.child_id, "name + postcode", tuple(mistakes))
    dob = truth.date_of_birth
    draw = rng.random()
    if draw < MISTAKES["dob swapped"]:
        if swapped := noise.swap_day_month(dob):
            dob = swapped
            mistakes.append("dob swapped")
    elif draw < MISTAKES["dob swapped"] + MISTAKES["dob one-digit typo"]:
        dob = noise.dob_typo(dob, rng, not_after=today)
        mistakes.append("dob one-digit typo")
    query = SearchQuery(family_name=family, given_name=given, date_of_birth=dob)
    return Probe(query, truth.child_id, "name + dob", tuple(mistakes))


def exact_probe(truth: Truth, shape: str) -> Probe:
    if shape == "name + postcode" and truth.postcode:
        query = SearchQuery(family_name=truth.family, given_name=truth.given, postcode=truth.postcode)
    else:
        shape = "name + dob"
        query = SearchQuery(family_name=truth.family, given_name=truth.given,
                            date_of_birth=truth.date_of_birth)
    return Probe(query, truth.child_id, shape, ())


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    found: int = 0
    rejected: int = 0

    def add(self, seconds: float, found: bool, rejected: bool) -> None:
        self.latencies.append(seconds)
        self.found += found
        self.rejected += rejected

    def row(self, label: str) -> str:
        n = len(self.latencies)
        if n > 1:
            cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        else:
            cuts = self.latencies * 99
        ms = [1000 * cuts[i] for i in (49, 94, 98)]
        qps = n / sum(self.latencies) if self.latencies else 0.0
        rejected = f" ({self.rejected} rejected)" if self.rejected else ""
        return (f"| {label} | {n} | {100 * self.found / n:.2f}%{rejected} | {ms[0]:.1f} | {ms[1]:.1f} | "
                f"{ms[2]:.1f} | {qps:.0f} |")


def run_probes(backend: EmbeddedSearch, probes: Iterable[Probe]) -> dict[str, Tally]:
    tallies: dict[str, Tally] = defaultdict(Tally)
    for probe in probes:
        rejected = False
        started = time.perf_counter()
        try:
            hits = backend.search(probe.query)
        except SearchQueryError:
            hits, rejected = [], True
        seconds = time.perf_counter() - started
        found = probe.child_id in [h.child_id for h in hits[:TOP]]
        labels = ["all", probe.shape]
        if probe.shape != "identifier":
            labels += list(probe.mistakes) or ["no mistake"]
            if len(probe.mistakes) > 1:
                labels.append("two or more mistakes")
        for label in labels:
            tallies[label].add(seconds, found, rejected)
    return tallies


ROW_ORDER = ("all", "identifier", "name + dob", "name + postcode", "no mistake", *MISTAKES,
             "two or more mistakes")


def run(children: int, queries: int, seed: int, db: Path | None,
        source: TrueChildren | None = None) -> str:
    """Build or reuse the store, run the queries; the report as markdown."""
    path = db or default_db(children, seed)
    started = time.perf_counter()
    build = build_store(path, children, seed, source)
    build_wall = time.perf_counter() - started
    engine = make_engine(f"sqlite:///{path}")
    backend = EmbeddedSearch(engine)
    rng = random.Random(seed)
    with engine.connect() as conn:
        top = conn.scalar(select(func.max(m.Child.id))) or 0
    sample = rng.sample(range(1, top + 1), min(top, queries + WARM_UP))
    truths = read_truths(engine, sample)
    today = dt.date.today()
    probes = [noisy_probe(t, rng, today) for t in truths]
    load = os.getloadavg()
    run_probes(backend, probes[:WARM_UP])
    noisy = run_probes(backend, probes[WARM_UP:])
    baseline = run_probes(
        backend, [exact_probe(t, p.shape) for t, p in zip(truths[WARM_UP:], probes[WARM_UP:], strict=True)
                  if p.shape != "identifier"])
    engine.dispose()

    lines = [
        f"## Embedded search, {build.children:,} children (SQLite, in-process, one thread)",
        "",
        f"machine: {describe_machine()}; load average {load[0]:.1f} before the queries, "
        f"{os.getloadavg()[0]:.1f} after (other work on the machine inflates latency)",
        f"store: {path} {build.size_mb:,.0f} MB, {build.key_rows:,} search keys "
        f"({build.key_rows / max(build.children, 1):.1f} per child; children with names, addresses and "
        "identifiers only); "
        + ("reused" if build.reused else f"built in {build_wall:,.0f} s")
        + f" (load {build.load_seconds:,.0f} s, index {build.index_seconds:,.0f} s)",
        f"queries: {len(probes) - WARM_UP} noisy after {WARM_UP} warm-up, seed {seed}; "
        f"recall@{TOP} = true child in the first {TOP}; peak RSS {peak_rss_mb():,.0f} MB",
        "",
        f"| queries | n | recall@{TOP} | p50 ms | p95 ms | p99 ms | queries/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [noisy[label].row(label) for label in ROW_ORDER if label in noisy]
    lines += [baseline[label].row(f"baseline: exact {label}")
              for label in ("all", "name + dob", "name + postcode") if label in baseline]
    return "\n".join(lines)


def command(
    children: Annotated[int, typer.Option("--children", min=1, help="Children in the store.")] = 1_000_000,
    queries: Annotated[int, typer.Option("--queries", min=1, help="Noisy queries to time.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic area and the queries.")] = 1,
    db: Annotated[Path | None, typer.Option("--db", help="SQLite file (default under var/bench/).")] = None,
) -> None:
    """Embedded search on a synthetic store: latency, queries/s and recall@5 by query kind."""
    typer.echo(run(children, queries, seed, db))
