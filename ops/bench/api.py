"""`childindex bench api`: signed-in practitioners searching and viewing over HTTP on loopback.

The service runs as in production, in its own processes (`childindex serve --workers N`, uvicorn),
against a large synthetic SQLite store with the embedded search backend, a real slapd and TOTP
sign-in; audit writes are on (every search and every view appends to the hash-chained trail in
the request's transaction). This process is the load generator: asynchronous httpx clients,
each signed in as its own practitioner, each repeating "search for a child with a stated
reason, then open the first result" for a fixed time at each level of concurrency. Latency is
measured in the client, from sending a request to having read its whole response.

Baseline, in the same run: the same searches in-process (EmbeddedSearch, one thread), so the
cost of HTTP, sign-in checks, the view and the audit write can be told from the search itself.

The store holds children with names, addresses and identifiers (carers and services left out
to keep the build of a million children within minutes), so a view shows those. It is built
once under var/bench/ and reused; the directory (var/bench/slapd-api) and the practitioners'
enrolment are kept too. Each run adds its sessions and audit entries to that store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import cycle, islice
from pathlib import Path
from typing import Annotated, Any

import httpx
import pyotp
import typer
from sqlalchemy import Engine, func, select

from access import AccessSettings, Role, audit
from access.anchor import AuditSettings, add_key, read_keys, use_keys
from access.audit import Event
from index import SearchQuery, add_children, transaction
from index import models as m
from index.embedded import EmbeddedSearch
from index.store import make_engine, upgrade
from index.vocabulary import AddressStatus, NameKind, ServiceType
from ops import noise
from ops.bench import stores
from ops.demo_directory import DemoDirectory
from ops.demo_users import DemoPerson, Enrolled, demo_key, set_up
from ops.machine import describe_machine
from ops.slapd import DemoUser

LA = "823"
LOAD_BATCH = 20_000
SERVICES = (ServiceType.SCHOOL, ServiceType.HEALTH_VISITOR, ServiceType.SOCIAL_CARE)
REASON = "coordinate_services"
WARM_UP_SECONDS = 3.0
READY_SECONDS = 60.0


def default_db(children: int, seed: int) -> Path:
    return Path("var") / "bench" / f"api-{children}-seed{seed}.db"


# -- the store ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Store:
    path: Path
    children: int
    size_mb: float
    reused: bool
    build_seconds: float


def ensure_store(path: Path, children: int, seed: int) -> Store:
    """The store at `path` with `children` synthetic children, built unless a complete one with
    the same parameters is there (the completion mark is written last)."""
    wanted = {"children": children, "seed": seed, "la": LA}
    if (done := stores.completed(path, wanted)) is not None:
        stores.bring_up_to_date(path)
        return Store(path, children, stores.size_mb(path), True, float(done.get("load_seconds", 0)))
    stores.remove(path)
    from ops.synth import iter_true_children

    started = time.perf_counter()
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    backend = EmbeddedSearch(engine)
    records = (r.model_copy(update={"carers": (), "involvements": ()})
               for _true, r in iter_true_children(children, LA, seed))
    loaded = 0
    while batch := list(islice(records, LOAD_BATCH)):
        with transaction(engine) as session:
            ids = add_children(session, batch)
        backend.index_children(ids)
        loaded += len(ids)
        typer.echo(f"  loaded {loaded:,} / {children:,} children", err=True)
    engine.dispose()
    seconds = time.perf_counter() - started
    stores.mark_complete(path, {**wanted, "records": "search fields only", "load_seconds": seconds})
    return Store(path, loaded, stores.size_mb(path), False, seconds)


# -- what practitioners type ----------------------------------------------------------------

@dataclass(frozen=True)
class Probe:
    body: dict[str, Any]
    child_id: int

    def query(self) -> SearchQuery:
        b = self.body
        if "identifier" in b:
            return SearchQuery(identifier=(b["identifier_scheme"], b["identifier"]))
        dob = dt.date.fromisoformat(b["date_of_birth"]) if "date_of_birth" in b else None
        return SearchQuery(family_name=b.get("family_name"), given_name=b.get("given_name"),
                           date_of_birth=dob, postcode=b.get("postcode"))


def make_probes(engine: Engine, count: int, seed: int) -> list[Probe]:
    """Noisy searches for random children of the store, as practitioners mistype them:
    10% by the child number, else surname and given name with date of birth (or postcode)."""
    rng = random.Random(seed)
    with engine.connect() as conn:
        top = conn.scalar(select(func.max(m.Child.id))) or 0
        ids = rng.sample(range(1, top + 1), min(top, count))
        rows = {r.id: r for r in conn.execute(
            select(m.Child.id, m.Child.child_number, m.Child.date_of_birth, m.ChildName.given_name,
                   m.ChildName.family_name)
            .join(m.ChildName, (m.ChildName.child_id == m.Child.id) & (m.ChildName.kind == NameKind.CURRENT))
            .where(m.Child.id.in_(ids)))}
        postcodes = dict(conn.execute(
            select(m.ChildAddress.child_id, m.ChildAddress.postcode)
            .where(m.ChildAddress.child_id.in_(ids), m.ChildAddress.status == AddressStatus.CURRENT,
                   m.ChildAddress.postcode.is_not(None))).all())
    probes = []
    for child_id in ids:
        row = rows.get(child_id)
        if row is None or not row.family_name:
            continue
        if rng.random() < 0.10:
            probes.append(Probe({"reason": REASON, "identifier_scheme": "child_number",
                                 "identifier": row.child_number}, child_id))
            continue
        family = noise.typo(row.family_name, rng) if rng.random() < 0.2 else row.family_name
        if len(family) < 2:  # a typo in a two-letter surname ("Li" -> "L"): the service refuses
            family = row.family_name  # one letter with a clear 422; the practitioner retypes it
        given = row.given_name
        if given and rng.random() < 0.2:
            given = noise.short_form(given, rng)
        body: dict[str, Any] = {"reason": REASON, "family_name": family}
        if given:
            body["given_name"] = given
        postcode = postcodes.get(child_id)
        if postcode and rng.random() < 0.3:
            body["postcode"] = postcode
        else:
            dob = row.date_of_birth
            if rng.random() < 0.1:
                dob = noise.swap_day_month(dob) or dob
            body["date_of_birth"] = dob.isoformat()
        probes.append(Probe(body, child_id))
    return probes


# -- who searches ---------------------------------------------------------------------------

def bench_people(count: int) -> tuple[DemoPerson, ...]:
    return tuple(
        DemoPerson(DemoUser(f"bench.p{n:03}", f"bench-pass-{n:03}", ("practitioners",)), Role.PRACTITIONER,
                   "benchmark practitioner", SERVICES[n % len(SERVICES)])
        for n in range(1, count + 1)
    )


HISTORY_DAYS = 60


def add_history(engine: Engine, people: Sequence[DemoPerson], per_user: int, seed: int,
                now: dt.datetime) -> int:
    """A lived-in trail: `per_user` entries by each bench practitioner in the 60 days before the
    day before yesterday (searches showing up to three random children and record views, half
    each, at random times), less those already there; how many were added. The rate limits and
    the found-by-search check of every request must read only their recent window of it."""
    rng = random.Random(seed)
    before = now - dt.timedelta(days=2)
    event = m.AuditEvent
    with engine.connect() as conn:
        top = conn.scalar(select(func.max(m.Child.id))) or 1
        held = dict(conn.execute(  # type: ignore[arg-type]
            select(event.actor, func.count()).where(event.actor.in_([p.uid for p in people]),
                                                    event.at < before).group_by(event.actor)).all())
    events = []
    for person in people:
        for _ in range(max(0, per_user - held.get(person.uid, 0))):
            searched = rng.random() < 0.5
            events.append(Event(
                actor=person.uid, action="search" if searched else "view_record", reason=REASON,
                at=before - dt.timedelta(seconds=rng.randrange(HISTORY_DAYS * 86400)),
                child_ids=rng.sample(range(1, top + 1), rng.randint(0, 3) if searched else 1),
                criteria={"family_name": "Smith"} if searched else None,
                actor_role=Role.PRACTITIONER.value, actor_la=LA))
    events.sort(key=lambda e: e.at or now)
    for start in range(0, len(events), LOAD_BATCH):
        with transaction(engine) as session:
            for entry in events[start:start + LOAD_BATCH]:
                audit.append(session, entry)
    return len(events)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_environment(db: Path, access: AccessSettings) -> dict[str, str]:
    """The service's configuration, as `childindex serve` reads it from the environment."""
    password = access.ldap_bind_password.get_secret_value() if access.ldap_bind_password else ""
    audit_key = AuditSettings().key_file or db.parent / "audit.key"
    if not audit_key.exists():
        add_key(audit_key)
    use_keys(read_keys(audit_key))  # this process's own entries (enrolments) are signed too
    return {
        **os.environ,
        "CHILDINDEX_AUDIT_KEY_FILE": str(audit_key),
        "CHILDINDEX_API_DATABASE_URL": f"sqlite:///{db}",
        "CHILDINDEX_API_SECURE_COOKIE": "false",
        "CHILDINDEX_ACCESS_LDAP_URI": access.ldap_uri,
        "CHILDINDEX_ACCESS_LDAP_BASE_DN": access.ldap_base_dn,
        "CHILDINDEX_ACCESS_LDAP_BIND_DN": access.ldap_bind_dn or "",
        "CHILDINDEX_ACCESS_LDAP_BIND_PASSWORD": password,
        "CHILDINDEX_ACCESS_LDAP_GROUP_ROLES": json.dumps(access.ldap_group_roles),
        "CHILDINDEX_ACCESS_TOTP_KEYS": json.dumps([k.get_secret_value() for k in access.totp_keys]),
        # A load test is one user searching thousands of times: the per-user rate limits (which
        # still count, one query each) must not refuse it.
        **{f"CHILDINDEX_ACCESS_{kind}_LIMIT_PER_{window}": "100000000"
           for kind in ("SEARCH", "VIEW") for window in ("MINUTE", "HOUR", "DAY")},
    }


class Server:
    """`childindex serve` in its own process group, stopped on exit."""

    def __init__(self, env: dict[str, str], workers: int, log: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        childindex = Path(sys.executable).parent / "childindex"
        with log.open("wb") as out:  # a file, not a pipe: a full pipe would stall the server
            self.process = subprocess.Popen(
                [str(childindex), "serve", "--port", str(self.port), "--workers", str(workers)],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-1000:]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"childindex serve exited: {self._log_tail()}")
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"childindex serve did not answer within {READY_SECONDS:.0f} s: "
                           f"{self._log_tail()}")

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server's processes (its process group: supervisor and
        workers), a figure the machine's other load does not inflate."""
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # a process that has just ended
            if int(fields[2]) == self.process.pid:  # pgrp
                total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def sign_in_all(base: str, users: list[Enrolled]) -> list[str]:
    """A session token for each user, through POST /signin (directory bind and TOTP)."""
    tokens = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for user in users:
            for attempt in range(2):
                code = pyotp.TOTP(user.secret).now()
                response = client.post("/signin", json={"username": user.person.uid,
                                                        "password": user.person.user.password, "code": code,
                                                        "bearer": True})
                if response.status_code == 200:
                    tokens.append(response.json()["token"])
                    break
                if attempt == 0:  # a code spent by an earlier run in this time-step: wait for the next
                    time.sleep(30 - time.time() % 30 + 0.5)
            else:
                raise RuntimeError(f"sign-in of {user.person.uid} refused: {response.status_code}")
    return tokens


# -- the load -------------------------------------------------------------------------------

@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    found: int = 0
    searches: int = 0

    def add(self, kind: str, seconds: float, ok: bool, error: str | None = None) -> None:
        self.latencies[kind].append(seconds)
        if not ok:
            self.errors[error or "unknown"] += 1


async def _client(http: httpx.AsyncClient, token: str, probes: Iterable[Probe], warm_until: float,
                  stop_at: float, tally: Tally, pages: bool) -> None:
    headers = {"authorization": f"Bearer {token}"}
    for probe in probes:
        started = time.perf_counter()
        if started >= stop_at:
            return
        measured = started >= warm_until
        try:
            response = await http.post("/search", json=probe.body, headers=headers)
            ok, error = response.status_code == 200, f"search {response.status_code}"
        except httpx.HTTPError as exc:
            response, ok, error = None, False, f"search {type(exc).__name__}"
        if measured:
            tally.add("search", time.perf_counter() - started, ok, error)
        if response is None or not ok:
            continue
        results = response.json()["results"]
        if measured:
            tally.searches += 1
            tally.found += probe.child_id in [r["child_id"] for r in results[:5]]
        if not results:
            continue
        started = time.perf_counter()
        try:
            view = await http.get(f"/children/{results[0]['child_id']}", params={"reason": REASON},
                                  headers=headers)
            ok, error = view.status_code == 200, f"view {view.status_code}"
        except httpx.HTTPError as exc:
            ok, error = False, f"view {type(exc).__name__}"
        if measured:
            tally.add("view", time.perf_counter() - started, ok, error)
        if pages:
            await _pages(http, token, headers, probe, results[0]["child_id"], measured, tally)


def _form_of(body: dict[str, object], csrf: str) -> dict[str, str]:
    """The search page's form for a JSON search body (the date of birth in the Design System's
    three boxes)."""
    form = {k: str(v) for k, v in body.items() if k != "date_of_birth" and v is not None}
    if body.get("date_of_birth"):
        year, month, day = str(body["date_of_birth"]).split("-")
        form |= {"dob-day": day, "dob-month": month, "dob-year": year}
    return form | {"csrf_token": csrf}


async def _pages(http: httpx.AsyncClient, token: str, headers: dict[str, str], probe: Probe, child_id: int,
                 measured: bool, tally: Tally) -> None:
    """The same search and view as web pages (api.web): the results page, then the child's page."""
    from api.web.csrf import session_token_of

    started = time.perf_counter()
    try:
        page = await http.post("/find", data=_form_of(probe.body, session_token_of(token)), headers=headers)
        ok, error = page.status_code == 200 and "results" in page.text, f"search page {page.status_code}"
    except httpx.HTTPError as exc:
        ok, error = False, f"search page {type(exc).__name__}"
    if measured:
        tally.add("search_page", time.perf_counter() - started, ok, error)
    started = time.perf_counter()
    try:
        page = await http.get(f"/child/{child_id}", params={"reason": REASON}, headers=headers)
        ok, error = page.status_code == 200, f"child page {page.status_code}"
    except httpx.HTTPError as exc:
        ok, error = False, f"child page {type(exc).__name__}"
    if measured:
        tally.add("child_page", time.perf_counter() - started, ok, error)


async def run_level(base: str, tokens: list[str], probes: list[Probe], clients: int, seconds: float,
                    pages: bool = True) -> Tally:
    tally = Tally()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        now = time.perf_counter()
        warm_until, stop_at = now + WARM_UP_SECONDS, now + WARM_UP_SECONDS + seconds
        share = [cycle(probes[i::clients]) for i in range(clients)]
        await asyncio.gather(*(
            _client(http, tokens[i % len(tokens)], share[i], warm_until, stop_at, tally, pages)
            for i in range(clients)
        ))
    return tally


def _cuts(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        v = 1000 * (values[0] if values else 0.0)
        return v, v, v
    q = statistics.quantiles(values, n=100, method="inclusive")
    return 1000 * q[49], 1000 * q[94], 1000 * q[98]


def _audit_entries(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(m.AuditEvent)) or 0


def run(children: int, seed: int, db: Path | None, levels: list[int], seconds: float, workers: int,
        pages: bool = True, history: int = 0) -> str:
    path = db or default_db(children, seed)
    store = ensure_store(path, children, seed)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)  # the access tables of later migrations, if the store predates them
    probes = make_probes(engine, 4000, seed)

    # Baseline: the same searches in-process, one thread.
    backend = EmbeddedSearch(engine)
    for probe in probes[:200]:
        backend.search(probe.query())
    local = []
    for probe in probes[:1000]:
        started = time.perf_counter()
        backend.search(probe.query())
        local.append(time.perf_counter() - started)

    people = bench_people(max(levels))
    directory = DemoDirectory(tuple(p.user for p in people), folder=path.parent / "slapd-api",
                              port=_free_port())
    directory.start()
    server: Server | None = None
    try:
        access = directory.access_settings(totp_keys=[demo_key(path.parent / "api-totp.key")])
        enrolled = set_up(engine, access, la=LA, people=people)
        env = server_environment(path, access)  # also this process's audit key, for the history
        added = add_history(engine, people, history, seed, dt.datetime.now(dt.UTC)) if history else 0
        server = Server(env, workers, path.parent / "api-server.log")
        server.wait_ready()
        tokens = sign_in_all(server.base, enrolled)
        rows = []
        for clients in levels:
            audit_before = _audit_entries(engine)
            load_before = os.getloadavg()[0]
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            server_before = server.cpu_seconds()
            tally = asyncio.run(run_level(server.base, tokens, probes, clients, seconds, pages))
            server_cpu = server.cpu_seconds() - server_before
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
            audited = _audit_entries(engine) - audit_before
            rows.append((clients, tally, load_before, os.getloadavg()[0], cpu, audited, server_cpu))
    finally:
        if server is not None:
            server.stop()
        directory.stop()
        engine.dispose()

    p50, p95, p99 = _cuts(local)
    lines = [
        f"## API, {store.children:,} children (HTTP on loopback, {workers} uvicorn workers, SQLite, "
        "audit writes on)",
        "",
        f"machine: {describe_machine()}",
        f"store: {path} {store.size_mb:,.0f} MB (children with names, addresses and identifiers); "
        + ("reused" if store.reused else f"built in {store.build_seconds:,.0f} s"),
        f"audit trail before the run: {history:,} older entries per practitioner ({added:,} added now)"
        if history else "audit trail before the run: what earlier runs left in the store",
        f"each client: its own signed-in practitioner; repeats search (stated reason, noisy name + date "
        f"of birth or postcode, or the child number) then opens the first result; {WARM_UP_SECONDS:.0f} s "
        f"warm-up, then {seconds:.0f} s measured per level; latency measured in the client (httpx, this "
        "process, which shares the 2 cores with the server)",
        f"baseline in the same run: the same searches in-process, one thread: p50 {p50:.1f} ms, "
        f"p95 {p95:.1f} ms, p99 {p99:.1f} ms",
        "server CPU per request: CPU time of the server's processes over the level (warm-up included) "
        "divided by the requests it audited in that time (every search and view writes one entry)",
        "",
        "| clients | requests | errors | requests/s | p50 ms | p95 ms | p99 ms | search p95 ms | view p95 ms "
        "| found in top 5 | audit entries | load avg before/after | client CPU s "
        "| server CPU ms per request |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    page_lines = [
        "", "web pages in the same run (api.web; each client, after its JSON search and view, the same "
        "search as the results page, POST /find, and the same child's page, GET /child/{id}):", "",
        "| clients | search JSON p95 ms | results page p95 ms | difference ms | view JSON p95 ms "
        "| child page p95 ms | difference ms | page errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for clients, tally, load_before, load_after, cpu, audited, server_cpu in rows:
        every = tally.latencies["search"] + tally.latencies["view"]
        a50, a95, a99 = _cuts(every)
        errors = sum(tally.errors.values())
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(tally.errors.items()))
        lines.append(
            f"| {clients} | {len(every):,} | {errors}{f' ({detail})' if detail else ''} | "
            f"{len(every) / seconds:,.0f} | {a50:.1f} | {a95:.1f} | {a99:.1f} | "
            f"{_cuts(tally.latencies['search'])[1]:.1f} | {_cuts(tally.latencies['view'])[1]:.1f} | "
            f"{100 * tally.found / max(tally.searches, 1):.1f}% | {audited:,} | "
            f"{load_before:.1f} / {load_after:.1f} | {cpu:.0f} | {1000 * server_cpu / max(audited, 1):.1f} |"
        )
        search95, view95 = _cuts(tally.latencies["search"])[1], _cuts(tally.latencies["view"])[1]
        results95, child95 = _cuts(tally.latencies["search_page"])[1], _cuts(tally.latencies["child_page"])[1]
        page_errors = sum(v for k, v in tally.errors.items() if "page" in k)
        page_lines.append(f"| {clients} | {search95:.1f} | {results95:.1f} | {results95 - search95:+.1f} | "
                          f"{view95:.1f} | {child95:.1f} | {child95 - view95:+.1f} | {page_errors} |")
    return "\n".join(lines + (page_lines if pages else []))


def command(
    children: Annotated[int, typer.Option("--children", min=1, help="Children in the store.")] = 1_000_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic area and the queries.")] = 1,
    db: Annotated[Path | None, typer.Option("--db", help="SQLite file (default under var/bench/).")] = None,
    clients: Annotated[str, typer.Option("--clients", help="Concurrency levels, comma-separated.")
                       ] = "1,16,64",
    seconds: Annotated[float, typer.Option("--seconds", min=1, help="Measured seconds per level.")] = 20,
    workers: Annotated[int, typer.Option("--workers", min=1, max=16, help="uvicorn worker processes.")] = 2,
    pages: Annotated[bool, typer.Option("--pages/--no-pages",
                                        help="Also the web pages: results page and child page.")] = True,
    history: Annotated[int, typer.Option("--history", min=0, help=(
        "Audit entries each practitioner made before the run (60 days, up to 2 days ago): a "
        "lived-in trail."))] = 0,
) -> None:
    """Signed-in practitioners searching and viewing over HTTP: latency, requests/s and errors."""
    try:
        levels = [int(c) for c in clients.split(",") if c.strip()]
    except ValueError:
        raise typer.BadParameter("--clients takes whole numbers separated by commas") from None
    if not levels or min(levels) < 1:
        raise typer.BadParameter("--clients takes whole numbers of at least 1")
    typer.echo(run(children, seed, db, levels, seconds, workers, pages, history))
