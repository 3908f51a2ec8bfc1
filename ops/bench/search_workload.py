"""The search benchmarks' workload, shared by `bench search` (embedded, ops/bench/search.py) and
`bench search --backend elasticsearch` (ops/bench/search_es.py): the store, the queries, and the
tallies of their answers.

The store holds each synthetic child as the feeds reported it, not as it really is: one child
per true child, made from that child's most trusted source record (the spring census if it is
on a roll there, else the autumn census, a CTF, then a service feed), noise and all (typos,
short forms, other formatting, swapped or mistyped dates of birth, a stale surname or address
in a service feed), with the valid identifiers of all of that child's records (what matching
would have gathered). Carers and services are left out: search never reads them, and writing
them would triple the build time of a million-child store.

The queries are made from the generator's truth, never from the stored record: a practitioner
types what they know, with their own mistakes (typos, short forms, swapped day and month, one
wrong digit), sometimes the surname from before a change or the postcode from before a move.
Store ids follow true child ids (one stored child per true child, in order), so the right
answer of a query is the child it was made from. Each query is labelled with its own mistakes
and with the noise the stored record carries, so misses can be counted by noise kind; an
in-run baseline searches the same children with their true values.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import multiprocessing
import random
import shutil
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import Engine, create_engine, delete, event, func, select, update

from index import ChildRecord, SearchQuery, SearchQueryError, add_children, transaction
from index import models as m
from index.embedded import EmbeddedSearch, child_keys
from index.identifiers import Scheme
from index.records import ChildAddressIn
from index.store import make_engine, upgrade
from ops import noise, synth
from ops.bench import stores

LA = "823"
LOAD_BATCH = 20_000
WARM_UP = 200
TOP = 5
# What the stored records are; a store built from anything else is not reused.
STORE_RECORDS = ("one feed record per child (most trusted source), identifiers of all its records; "
                 "random child numbers")
# The feed noise the stored records carry: the synthetic area's defaults.
STORE_NOISE = noise.NoiseRates()
# Queries come from this many neighbourhoods (chunks) of the area, regenerated for their truth.
QUERY_CHUNKS = 10

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
    "surname before a change": 0.5,  # of children who changed surname
    "postcode before a move": 0.5,  # of children whose family moved
}
IDENTIFIER_SCHEMES = (Scheme.UPN, Scheme.NHS_NUMBER, Scheme.ULN, Scheme.LA_REFERENCE, Scheme.CHILD_NUMBER)
# Which source records the store prefers for a child, most trusted first.
SOURCE_PREFERENCE = ("census/*SPR", "census/*AUT", "ctf/", "feeds/gp_practice", "feeds/")


def default_db(children: int, seed: int) -> Path:
    return Path("var") / "bench" / f"search-{children}-seed{seed}-feeds.db"


@dataclass(frozen=True)
class Build:
    children: int
    key_rows: int
    size_mb: float
    load_seconds: float
    index_seconds: float
    reused: bool


def _bulk_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Building only: a big page cache keeps the growing key b-tree in memory.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA cache_size=-1000000")
    cursor.close()


def _rank(rec: synth.SourceRecord) -> int:
    for rank, prefix in enumerate(SOURCE_PREFERENCE):
        folder, _, term = prefix.partition("*")
        if rec.source_file.startswith(folder) and rec.source_file.removesuffix(".xml").endswith(term) \
                and (rec.on_roll or rec.address is not None):
            return rank
    return len(SOURCE_PREFERENCE)


def stored_source(records: Sequence[synth.SourceRecord]) -> synth.SourceRecord | None:
    """The record the store's child is made from: the most trusted, first in file order."""
    return min(records, key=_rank, default=None)


def stored_record(child: synth.Child, records: Sequence[synth.SourceRecord], la: str) -> ChildRecord:
    """The child as the store holds it: its most trusted feed record, with the valid
    identifiers and the address history of all its records (what matching would have gathered);
    a child no feed mentions is held as it really is."""
    source = stored_source(records)
    if source is None:
        record = synth.true_record(child, la)
    else:
        record = synth.noisy_record(source, la)
        held = {(i.scheme, i.value): i for r in records for i in synth.noisy_record(r, la).identifiers}
        record = record.model_copy(update={"identifiers": tuple(held.values()),
                                           "addresses": _address_history(child, records)})
    return record.model_copy(update={"carers": (), "involvements": ()})


def _address_history(child: synth.Child, records: Sequence[synth.SourceRecord]) -> tuple[ChildAddressIn, ...]:
    """Every address the child's records give, the one before a move ended on the move date."""
    family = child.family
    seen: dict[int, synth.Address] = {id(r.address): r.address for r in records if r.address is not None}
    history = []
    for address in sorted(seen.values(), key=lambda a: a is family.old_address):
        lines: list[str | None] = [*address.lines(), None, None]
        ended = address is family.old_address
        history.append(ChildAddressIn(
            line1=lines[0], line2=lines[1], line3=lines[2], town=address.town, postcode=address.postcode,
            uprn=address.uprn, valid_from=None if ended else family.move_date,
            valid_to=family.move_date if ended else None))
    return tuple(history)


def _chunk_records(chunk: synth.Chunk, seed: int) -> dict[int, list[synth.SourceRecord]]:
    by_child: dict[int, list[synth.SourceRecord]] = defaultdict(list)
    for file in synth.source_files(chunk, STORE_NOISE, seed):
        for rec in file.records:
            by_child[rec.child.id].append(rec)
    return by_child


def _chunk_count(children: int) -> int:
    return math.ceil(children / synth.CHUNK_CHILDREN)


def _chunk(index: int, children: int, la: str, seed: int) -> synth.Chunk:
    quota = min(synth.CHUNK_CHILDREN, children - index * synth.CHUNK_CHILDREN)
    return synth.build_chunk(index, quota, la, seed, noise=STORE_NOISE)


def record_keys(record: ChildRecord, child_number: str) -> list[int]:
    """The search keys `EmbeddedSearch.index_children` gives this child once stored with
    `child_number` (the same `child_keys` on the same values), without reading the child back."""
    return sorted(child_keys(
        date_of_birth=record.date_of_birth,
        family_names=[n.family_name for n in record.names],
        given_names=[n.given_name for n in record.names],
        postcodes=[a.postcode for a in record.addresses if a.postcode],
        identifier_values=[*((i.scheme, i.value) for i in record.identifiers),
                           (Scheme.CHILD_NUMBER, child_number)],
    ))


def _chunk_pairs(index: int, children: int, la: str, seed: int) -> list[tuple[int, ChildRecord]]:
    chunk = _chunk(index, children, la, seed)
    by_child = _chunk_records(chunk, seed)
    return [(child.id, stored_record(child, by_child.get(child.id, []), la)) for child in chunk.children]


def feed_children(children: int, la: str, seed: int) -> Iterator[tuple[int, ChildRecord]]:
    """(true child id, the child as the store holds it) for every child, in id order."""
    for index in range(_chunk_count(children)):
        yield from _chunk_pairs(index, children, la, seed)


# Processes each writing one neighbourhood at a time into a shard file, through the store's own
# add_children and the backend's own index_children; the main process only copies shard rows
# into the store (INSERT ... SELECT, no Python per row). A single writer doing it all made a
# million children take over an hour on a busy 2-core machine.
BUILD_WORKERS = 4
# Children whose keys are checked against `index_children` after a build.
KEY_CHECK_SAMPLE = 2000
# The tables a shard fills, parents first; their own surrogate ids are left to the store.
_SHARD_TABLES = (m.Child, m.ChildName, m.ChildAddress, m.ChildIdentifier, m.SearchKey)
_PLACEHOLDER = ChildRecord.model_validate(
    {"owning_la": LA, "date_of_birth": dt.date(2000, 1, 1), "names": [{"family_name": "placeholder"}]})


def _write_shard(job: tuple[int, int, str, int, Path]) -> Path:
    """One neighbourhood's children stored and indexed in a shard file of their own, with the
    ids (and so child numbers) they have in the whole store."""
    index, children, la, seed, directory = job
    pairs = _chunk_pairs(index, children, la, seed)
    shard = directory / f"shard-{index:05d}.db"
    shard.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{shard}")
    m.Base.metadata.create_all(engine, tables=[t.__table__ for t in _SHARD_TABLES])
    first = pairs[0][0]
    with transaction(engine) as session:
        if first > 1:
            # add_children numbers from max(id) + 1: a placeholder just below, removed after.
            add_children(session, [_PLACEHOLDER])
            session.execute(delete(m.ChildName))
            session.execute(update(m.Child).values(id=first - 1))
        ids = add_children(session, [record.model_copy(update={"carers": (), "involvements": ()})
                                     for _true_id, record in pairs])
        session.execute(delete(m.Child).where(m.Child.id < first))
    if ids != [true_id for true_id, _record in pairs]:
        raise RuntimeError(f"shard {index}: store ids do not follow true child ids")
    EmbeddedSearch(engine).index_children(ids)
    engine.dispose()
    return shard


def _copy_shard(engine: Engine, shard: Path) -> None:
    with engine.connect() as conn:
        # ATTACH and DETACH outside a transaction (SQLite refuses them inside one).
        conn.exec_driver_sql("ATTACH DATABASE ? AS shard", (str(shard),))
        conn.commit()
        try:
            for model in _SHARD_TABLES:
                table = model.__table__
                # Children keep their ids; the other tables' own ids are the store's to give.
                columns = ", ".join(c.name for c in table.columns if model is m.Child or c.name != "id")
                conn.exec_driver_sql(f"INSERT INTO main.{table.name} ({columns}) "
                                     f"SELECT {columns} FROM shard.{table.name}")
            conn.commit()
        finally:
            conn.rollback()
            conn.exec_driver_sql("DETACH DATABASE shard")
            conn.commit()
    shard.unlink()


def build_store(path: Path, children: int, seed: int, workers: int = BUILD_WORKERS) -> Build:
    """The store at `path` with `children` children indexed; reused when a complete one with
    the same parameters is there already. Store id i is true child i."""
    wanted = {"children": children, "seed": seed, "la": LA, "records": STORE_RECORDS,
              "generation": synth.GENERATION_VERSION}
    if (done := stores.completed(path, wanted)) is not None:
        stores.bring_up_to_date(path)  # the migrations bring its search keys up to date too
        engine = make_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            key_rows = conn.scalar(select(func.count()).select_from(m.SearchKey)) or 0
        engine.dispose()
        return Build(children, key_rows, stores.size_mb(path), done["load_seconds"],
                     done["index_seconds"], reused=True)
    stores.remove(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shards = path.with_name(path.name + ".shards")
    shutil.rmtree(shards, ignore_errors=True)
    shards.mkdir()
    engine = make_engine(f"sqlite:///{path}")
    event.listen(engine, "connect", _bulk_pragmas)
    upgrade(engine)
    jobs = [(index, children, LA, seed, shards) for index in range(_chunk_count(children))]
    started = time.perf_counter()
    copying = 0.0
    methods = multiprocessing.get_all_start_methods()
    with multiprocessing.get_context("fork" if "fork" in methods else "spawn").Pool(max(1, workers)) as pool:
        for done_index, shard in enumerate(pool.imap(_write_shard, jobs), start=1):
            copy_started = time.perf_counter()
            _copy_shard(engine, shard)
            copying += time.perf_counter() - copy_started
            if done_index % 20 == 0 or done_index == len(jobs):
                typer.echo(f"  stored {min(done_index * synth.CHUNK_CHILDREN, children):,} / "
                           f"{children:,} children", err=True)
    wall = time.perf_counter() - started
    _check_keys(engine, children, seed)
    with engine.connect() as conn:
        key_rows = conn.scalar(select(func.count()).select_from(m.SearchKey)) or 0
        stored = conn.scalar(select(func.count()).select_from(m.Child)) or 0
    engine.dispose()
    shards.rmdir()
    if stored != children:
        raise RuntimeError(f"{path}: {stored} children stored, {children} wanted")
    stores.mark_complete(path, {**wanted, "key_rows": key_rows, "load_seconds": wall,
                                "index_seconds": copying})
    return Build(children, key_rows, stores.size_mb(path), wall, copying, reused=False)


def _check_keys(engine: Engine, children: int, seed: int) -> None:
    """The copied keys are the ones `index_children` gives, and `record_keys` agrees: a sample."""
    rng = random.Random(seed)
    sample = sorted(rng.sample(range(1, children + 1), min(children, KEY_CHECK_SAMPLE)))
    with engine.connect() as conn:
        expected = sorted(EmbeddedSearch._key_pairs(conn, sample))
        stored = sorted((key, child_id) for key, child_id in conn.execute(
            select(m.SearchKey.key, m.SearchKey.child_id).where(m.SearchKey.child_id.in_(sample))))
    if expected != stored:
        raise RuntimeError("search keys in the store differ from index_children's")
    index = rng.randrange(_chunk_count(children))
    pairs = _chunk_pairs(index, children, LA, seed)[:50]
    numbers = child_numbers(engine, [i for i, _ in pairs])
    by_record = sorted((k, i) for i, record in pairs for k in record_keys(record, numbers[i]))
    with engine.connect() as conn:
        held = sorted((key, child_id) for key, child_id in conn.execute(select(
            m.SearchKey.key, m.SearchKey.child_id).where(m.SearchKey.child_id.in_([i for i, _ in pairs]))))
    if by_record != held:
        raise RuntimeError("search keys in the store differ from the records' keys")


@dataclass(frozen=True)
class Known:
    """What a practitioner knows of a child (its truth), and the noise its stored record has."""

    child: synth.Child
    stored_noise: tuple[str, ...]
    held: frozenset[tuple[str, str]]  # (scheme, value) of the identifiers the store holds
    child_number: str = ""  # the (random) number the store gave it


def child_numbers(engine: Engine, child_ids: Sequence[int]) -> dict[int, str]:
    """The child numbers the store gave these children (random: read back, never derived)."""
    with engine.connect() as conn:
        return dict(conn.execute(  # type: ignore[arg-type]
            select(m.Child.id, m.Child.child_number).where(m.Child.id.in_(sorted(set(child_ids))))).all())


def _stored_noise(child: synth.Child, source: synth.SourceRecord | None) -> tuple[str, ...]:
    if source is None:
        return ("no feed record",)
    kinds = [f"stored {kind.replace('_', ' ')}" for kind in source.noise]
    if child.former_surname and source.former_surname is None:
        kinds.append("stored surname before a change")
    if child.family.old_address is not None and source.address is child.family.old_address:
        kinds.append("stored postcode before a move")
    return tuple(kinds)


def sample_known(children: int, seed: int, count: int, rng: random.Random) -> list[Known]:
    """`count` children from up to QUERY_CHUNKS neighbourhoods, their truth regenerated."""
    chunks = sorted(rng.sample(range(_chunk_count(children)), min(QUERY_CHUNKS, _chunk_count(children))))
    per_chunk = math.ceil(count / len(chunks))
    known: list[Known] = []
    for index in chunks:
        chunk = _chunk(index, children, LA, seed)
        by_child = _chunk_records(chunk, seed)
        for child in rng.sample(chunk.children, min(per_chunk, len(chunk.children))):
            records = by_child.get(child.id, [])
            held = stored_record(child, records, LA).identifiers
            known.append(Known(child, _stored_noise(child, stored_source(records)),
                               frozenset((i.scheme.value, i.value) for i in held)))
    rng.shuffle(known)
    return known[:count]


@dataclass(frozen=True)
class Probe:
    """One query, the child it should find, what kind of query it is and the noise on each side."""

    query: SearchQuery
    child_id: int
    shape: str
    mistakes: tuple[str, ...]
    stored_noise: tuple[str, ...] = ()


def _identifiers(known: Known) -> dict[Scheme, str]:
    child = known.child
    values = {Scheme.UPN: child.upn, Scheme.NHS_NUMBER: child.nhs, Scheme.ULN: child.uln,
              Scheme.LA_REFERENCE: child.la_ref, Scheme.CHILD_NUMBER: known.child_number}
    return {scheme: value for scheme, value in values.items() if value}


def practitioner_probe(known: Known, rng: random.Random, today: dt.date) -> Probe:
    """A query as a practitioner types it from what they know of the child, mistakes and all."""
    child = known.child
    if rng.random() < IDENTIFIER_SHARE:
        held = _identifiers(known)
        scheme = rng.choice([s for s in IDENTIFIER_SCHEMES if s in held])
        # The index may not hold it: no feed gave it validly. No search can find that child.
        missing = scheme is not Scheme.CHILD_NUMBER and (scheme.value, held[scheme]) not in known.held
        return Probe(SearchQuery(identifier=(scheme, held[scheme])), child.id, "identifier",
                     (f"by {scheme.value}", *(["identifier not held"] if missing else [])),
                     known.stored_noise)
    mistakes: list[str] = []
    family = child.surname
    if child.former_surname and rng.random() < MISTAKES["surname before a change"]:
        family = child.former_surname
        mistakes.append("surname before a change")
    if rng.random() < MISTAKES["family typo"]:
        family = noise.typo(family, rng)
        mistakes.append("family typo")
    given = child.given
    draw = rng.random()
    if draw < MISTAKES["given short form"]:
        if (short := noise.short_form(given, rng)) != given:
            given = short
            mistakes.append("given short form")
    elif draw < MISTAKES["given short form"] + MISTAKES["given typo"]:
        given = noise.typo(given, rng)
        mistakes.append("given typo")
    if rng.random() < POSTCODE_INSTEAD_OF_DOB:
        address = child.family.address
        if child.family.old_address and rng.random() < MISTAKES["postcode before a move"]:
            address = child.family.old_address
            mistakes.append("postcode before a move")
        query = SearchQuery(family_name=family, given_name=given, postcode=address.postcode)
        return Probe(query, child.id, "name + postcode", tuple(mistakes), known.stored_noise)
    dob = child.dob
    draw = rng.random()
    if draw < MISTAKES["dob swapped"]:
        if (swapped := noise.swap_day_month(dob)) and swapped <= today:
            dob = swapped
            mistakes.append("dob swapped")
    elif draw < MISTAKES["dob swapped"] + MISTAKES["dob one-digit typo"]:
        dob = noise.dob_typo(dob, rng, not_after=today)
        mistakes.append("dob one-digit typo")
    query = SearchQuery(family_name=family, given_name=given, date_of_birth=dob)
    return Probe(query, child.id, "name + dob", tuple(mistakes), known.stored_noise)


def exact_practitioner_probe(known: Known, shape: str) -> Probe:
    """The same child searched with its true current values: the baseline."""
    child = known.child
    if shape == "name + postcode":
        query = SearchQuery(family_name=child.surname, given_name=child.given,
                            postcode=child.family.address.postcode)
    else:
        shape = "name + dob"
        query = SearchQuery(family_name=child.surname, given_name=child.given, date_of_birth=child.dob)
    return Probe(query, child.id, shape, (), known.stored_noise)


def sample_probes(children: int, seed: int, count: int, engine: Engine) -> tuple[list[Known], list[Probe]]:
    """The benchmark's queries (seeded): who they are about, and the queries themselves."""
    rng = random.Random(f"bench-search/{seed}")
    known = sample_known(children, seed, count, rng)
    # Child numbers are random: read from the store, never derived from the id.
    numbers = child_numbers(engine, [k.child.id for k in known])
    known = [dataclasses.replace(k, child_number=numbers[k.child.id]) for k in known]
    today = dt.date.today()
    return known, [practitioner_probe(k, rng, today) for k in known]


# -- running and reporting


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # this thread's CPU time of each query
    found: int = 0
    rejected: int = 0

    def add(self, seconds: float, found: bool, rejected: bool, cpu: float = 0.0) -> None:
        self.latencies.append(seconds)
        self.cpu.append(cpu)
        self.found += found
        self.rejected += rejected

    def cpu_line(self) -> str:
        """CPU time per query: what the query costs, whatever else the machine is doing."""
        cuts = (statistics.quantiles(self.cpu, n=100, method="inclusive") if len(self.cpu) > 1
                else self.cpu * 99)
        return (f"CPU time per query (this thread; unlike the latencies above it does not grow with "
                f"other work on the machine): p50 {1000 * cuts[49]:.1f} ms, p95 {1000 * cuts[94]:.1f} ms, "
                f"p99 {1000 * cuts[98]:.1f} ms")

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


@dataclass
class Miss:
    probe: Probe
    rank: int | None  # where the child came, past the first TOP; None: not returned


def run_probes(backend: EmbeddedSearch, probes: Iterable[Probe],
               misses: list[Miss] | None = None) -> dict[str, Tally]:
    tallies: dict[str, Tally] = defaultdict(Tally)
    for probe in probes:
        rejected = False
        started, started_cpu = time.perf_counter(), time.thread_time()
        try:
            hits = backend.search(probe.query)
        except SearchQueryError:
            hits, rejected = [], True
        seconds, cpu = time.perf_counter() - started, time.thread_time() - started_cpu
        ranked = [h.child_id for h in hits]
        found = probe.child_id in ranked[:TOP]
        if not found and misses is not None:
            misses.append(Miss(probe, ranked.index(probe.child_id) + 1 if probe.child_id in ranked else None))
        labels = ["all", probe.shape]
        if probe.shape == "identifier":
            labels += [m for m in probe.mistakes if m == "identifier not held"]
        else:
            labels += list(probe.mistakes) or ["no mistake"]
            if len(probe.mistakes) > 1:
                labels.append("two or more mistakes")
        labels += ["stored record noisy"] if probe.stored_noise else []
        for label in labels:
            tallies[label].add(seconds, found, rejected, cpu)
    return tallies


ROW_ORDER = ("all", "identifier", "identifier not held", "name + dob", "name + postcode", "no mistake",
             *MISTAKES, "two or more mistakes", "stored record noisy")


def describe_misses(misses: Sequence[Miss]) -> list[str]:
    """Misses counted by each noise kind they carry (a miss with two kinds counts under both)."""
    kinds: Counter[str] = Counter()
    for miss in misses:
        for kind in (*miss.probe.mistakes, *miss.probe.stored_noise) or ("no noise",):
            kinds[kind] += 1
    return [f"misses: {len(misses)} ({sum(x.rank is None for x in misses)} not returned at all, the rest "
            f"ranked below {TOP}; {kinds['identifier not held']} by an identifier the store does not hold); "
            "by noise kind: " + (", ".join(f"{kind} {n}" for kind, n in kinds.most_common()) or "none")]
