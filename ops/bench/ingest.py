"""Ingest benchmark: parse + minimise + validate a generated census file; pupils/s and peak memory.

Each file size is parsed in a fresh Python process, so the peak resident memory reported is that
parse's own (the worker's, and that of the reader process it forks for a large file). Comparing
two sizes shows memory does not grow with the file. Each size is parsed several times as used
(two processes) and with the second process turned off, alternately, and optionally by a
baseline checkout (`--baseline`) in the same session; figures are medians, printed with the
machine's load average.

`--end-to-end N` also measures the whole path: `submit_file` (parse, minimise, validate, stage)
and `run_nightly` (matching, store changes, search index) for a generated census into a store
that already holds N children (built once under var/bench/: the census's pupils as the previous
census left them, less a tenth who are new and with a twentieth at an older address, and
children of another LA to make up N), each in a fresh process on a fresh copy of the store.

The generated file repeats a realistic pupil block carrying every prohibited section a real
census return has (characteristics, SEN, exclusions, attendance), so the parser drops as much
as it keeps, as it does in real use.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from index.identifiers import upn_check_letter
from ops.bench import stores
from ops.machine import describe_machine
from ops.synth import name_tables

LA, ESTAB = "823", "1234"
_UNIT = "ABDEFGHJLNPQRSTUWXYZ"  # letters used in the inward part of a postcode
_STREETS = ("Mill Lane", "Church Street", "High Street", "Station Road", "The Green")
_FILLER_AREAS = ("LU", "SG", "AL", "HP")

_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<Message>
 <Header>
  <CollectionDetails><Collection>SC</Collection><Term>{term}</Term><Year>{year}</Year>
   <ReferenceDate>{reference}</ReferenceDate></CollectionDetails>
  <Source><SourceLevel>S</SourceLevel><LEA>{la}</LEA><Estab>{estab}</Estab><SoftwareCode>BENCH</SoftwareCode>
   <Release>1</Release><SerialNo>1</SerialNo><DateTime>2025-10-03T09:00:00</DateTime></Source>
 </Header>
 <School><SchoolCharacteristics><Phase>PS</Phase></SchoolCharacteristics></School>
 <Pupils>
  <PupilsOnRoll>
"""
_PUPIL = """   <PupilOnRoll>
    <PupilIdentifiers><UPN>{upn}</UPN><Surname>{surname}</Surname><Forename>{forename}</Forename>
     <MiddleNames>{middle}</MiddleNames><PreferredSurname>{surname}</PreferredSurname><Sex>{sex}</Sex>
     <DOB>{dob}</DOB><UCI>X{serial:012d}</UCI></PupilIdentifiers>
    <PupilCharacteristics><Ethnicity>WBRI</Ethnicity><EthnicitySource>P</EthnicitySource>
     <FirstLanguage>ENG</FirstLanguage><FSMeligible>false</FSMeligible><ServiceChild>N</ServiceChild>
     <FSMperiods><FSMperiod><FSMstartDate>2024-09-01</FSMstartDate><FSMendDate>2025-03-31</FSMendDate>
     </FSMperiod></FSMperiods></PupilCharacteristics>
    <SpecialEducationalNeeds><SENprovision>K</SENprovision><SENneeds><SENneed><SENtype>SPLD</SENtype>
     <SENrank>1</SENrank></SENneed></SENneeds></SpecialEducationalNeeds>
    <Exclusions><Exclusion><Category>FIXD</Category><StartDate>2025-02-03</StartDate>
     <Sessions>2</Sessions></Exclusion></Exclusions>
    <Attendance><TermlyAttendance><Term>SUM</Term><Year>2025</Year><SessionsPossible>120</SessionsPossible>
     <SessionsAuthorised>4</SessionsAuthorised><SessionsUnauthorised>1</SessionsUnauthorised>
     <AbsenceReasons><AbsenceReason><Code>I</Code><Sessions>4</Sessions></AbsenceReason></AbsenceReasons>
     </TermlyAttendance></Attendance>
    <PupilStatus><EnrolStatus>C</EnrolStatus><NCyearActual>6</NCyearActual><EntryDate>2021-09-01</EntryDate>
     <Boarder>N</Boarder><PartTime>false</PartTime></PupilStatus>
    <HomeInformation><Address><BS7666Address><PAON>{house}</PAON><Street>{street}</Street>
     <Town>Ampthill</Town><PostTown>Bedford</PostTown>
     <UniquePropertyReferenceNumber>{uprn}</UniquePropertyReferenceNumber></BS7666Address>
     <PostCode>{outward} {inward}</PostCode></Address></HomeInformation>
   </PupilOnRoll>
"""
_FOOTER = """  </PupilsOnRoll>
 </Pupils>
</Message>
"""


def pupil_values(pupils: int, seed: int = 0, la: str = LA) -> Iterator[dict[str, Any]]:
    """The values of each generated pupil, in file order (the same for the same seed)."""
    rng = random.Random(seed)
    # Names as common as they are among children in England (the synthetic areas' tables), so
    # that as many pupils share a name and birthday as do in a real census: with a handful of
    # names, four in ten new pupils looked like someone else and went to review.
    tables = name_tables()
    for serial in range(1, pupils + 1):
        # The serial fills the UPN after its LA number, so every pupil's UPN is distinct.
        body = f"{la}{serial:09d}"
        group, sex = tables.groups.pick(rng), rng.choice("MF")
        given = tables.child_names[("british" if rng.random() < tables.british_given_share[group]
                                    else group, sex)]
        yield {
            "upn": upn_check_letter(body) + body,
            "serial": serial,
            "surname": tables.surnames[group].pick(rng),
            "forename": given.pick(rng),
            "middle": given.pick(rng),
            "sex": sex,
            "dob": f"{rng.randint(2008, 2021)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "house": rng.randint(1, 200),
            "street": rng.choice(_STREETS),
            "uprn": 100_000_000 + serial,
            "outward": _outward(la, serial),
            "inward": f"{rng.randint(1, 9)}{rng.choice(_UNIT)}{rng.choice(_UNIT)}",
        }


def _outward(la: str, serial: int) -> str:
    """The school's pupils live around it (one postcode district, ~14 pupils a unit); the
    other LA's children across 40 districts (~7 a unit, as many as a real unit's households
    have). With everyone in one district, hundreds of children shared every postcode unit."""
    if la == LA:
        return "MK45"
    return f"{_FILLER_AREAS[serial % len(_FILLER_AREAS)]}{1 + serial // len(_FILLER_AREAS) % 10}"


# The census measured, and the one before it (the school's autumn return).
SPRING, AUTUMN = ("SPR", "2026-01-15"), ("AUT", "2025-10-02")


def write_census(path: Path, pupils: int, seed: int = 0, *, la: str = LA,
                 keep: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
                 term: tuple[str, str] = SPRING) -> int:
    """Write a census return with `pupils` distinct valid pupils; returns its size in bytes.
    `keep` may change a pupil's values or leave the pupil out (None)."""
    with path.open("w", encoding="utf-8") as out:
        out.write(_HEADER.format(la=la, estab=ESTAB, term=term[0], year=term[1][:4], reference=term[1]))
        for values in pupil_values(pupils, seed, la):
            kept = keep(values) if keep else values
            if kept is not None:
                out.write(_PUPIL.format(**kept))
        out.write(_FOOTER)
    return path.stat().st_size


def _lift_file_cap() -> None:
    """Files larger than any school's are refused in use (`MAX_PUPILS_PER_FILE`); the benchmark
    uses them to measure how parsing scales and to load large stores quickly."""
    from ingest import school_xml

    school_xml.MAX_PUPILS_PER_FILE = 2**62


def measure(path: Path, stage: str = "full") -> dict[str, float]:
    """Parse one file in this process (run in a fresh process) up to `stage`:

    "xml": stream the pupils only (lxml, cutting and releasing as the parser does);
    "minimise": also walk each pupil against the census table (the reading stage);
    "full": the real parser, parse_census (minimise + validate into ChildRecord), reading large
    files in a second process as it does in use; "one-process": the same with that turned off.

    CPU time counts both processes (the reader's is added once it has ended); peak memory is
    given for each.
    """
    import os
    import resource
    from collections import Counter

    from ingest import SourceRecord, parse_census, read_ahead
    from ingest.census import CENSUS
    from ingest.school_xml import read_school_file
    from ingest.xml_stream import cut, release, stream

    base_rss = _peak_rss_mb()
    _lift_file_cap()
    if stage == "one-process":
        read_ahead.READ_AHEAD_BYTES = 2**62
    start = os.times()
    wall = time.perf_counter()
    accepted = rejected = dropped = 0
    if stage in ("full", "one-process"):
        parse = parse_census(path)
        for item in parse:
            if isinstance(item, SourceRecord):
                accepted += 1
            else:
                rejected += 1
        dropped = sum(parse.report.dropped.values())
    elif stage == "minimise":
        counts: Counter[str] = Counter()
        accepted = sum(1 for _ in read_school_file(path, CENSUS, counts)) - 1  # less the header
        dropped = sum(counts.values())
    else:
        for element in stream(path, ["Header", *CENSUS.pupils, *CENSUS.cut_early]):
            name = element.tag
            if name in CENSUS.pupils:
                accepted += 1
                release(element)
            elif name in CENSUS.cut_early:
                cut(element)
    wall = time.perf_counter() - wall
    end = os.times()
    own_cpu = end.user + end.system - start.user - start.system
    reader_cpu = end.children_user + end.children_system - start.children_user - start.children_system
    cpu = own_cpu + reader_cpu
    pupils = accepted + rejected
    return {
        "accepted": accepted,
        "rejected": rejected,
        "dropped": dropped,
        "seconds": wall,
        "cpu_seconds": cpu,
        "main_cpu_seconds": own_cpu,
        "reader_cpu_seconds": reader_cpu,
        "pupils_per_second": pupils / wall,
        "pupils_per_cpu_second": pupils / cpu,
        # What two free cores would give: the busier of the two processes sets the pace.
        "pupils_per_second_two_free_cores": pupils / max(own_cpu, reader_cpu),
        "baseline_rss_mb": base_rss,
        "peak_rss_mb": _peak_rss_mb(),
        "reader_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def _peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: a process started by fork and
    exec keeps its parent's ru_maxrss (here the CLI's), which is not this parse's memory."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure_in_child(path: Path, stage: str = "full", code: Path | None = None) -> dict[str, float]:
    """Run `measure` in a fresh process; `code`: another checkout to run instead (a baseline)."""
    return _run_child(
        [str(path), stage], cwd=code, env={**os.environ, "PYTHONPATH": str(code)} if code else None
    )


def _run_child(args: list[str], **kwargs: Any) -> dict[str, Any]:
    """`python -m ops.bench.ingest ARGS` in a fresh process: the figures it prints last, or an
    error that carries the end of its stderr (a bare exit status says nothing of the cause)."""
    done = subprocess.run(
        [sys.executable, "-m", "ops.bench.ingest", *args], capture_output=True, text=True, **kwargs
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"ops.bench.ingest {' '.join(args)} exited with status {done.returncode}; its stderr ends:\n"
            + done.stderr[-4000:]
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _line(label: str, runs: list[dict[str, float]]) -> str:
    def mid(key: str) -> float:
        return statistics.median(run.get(key, 0.0) for run in runs)

    text = (
        f"  {label:<28} {mid('pupils_per_second'):>8,.0f} pupils/s wall ({mid('seconds'):.1f}s), "
        f"{mid('pupils_per_cpu_second'):>7,.0f} pupils per CPU-second"
    )
    if mid("reader_cpu_seconds") > 0:
        text += (
            f", {mid('pupils_per_second_two_free_cores'):,.0f}/s on two free cores "
            f"(main {mid('main_cpu_seconds'):.1f}s CPU, reader {mid('reader_cpu_seconds'):.1f}s)"
        )
    if "reader_peak_rss_mb" not in runs[0]:  # an older worker: its ru_maxrss includes the CLI's
        return text + f" [{len(runs)} run(s), median]"
    text += f"; peak RSS {mid('peak_rss_mb'):.0f} MB"
    if mid("reader_peak_rss_mb") > 0:
        text += f" (+ reader {mid('reader_peak_rss_mb'):.0f} MB)"
    return text + f" [{len(runs)} run(s), median]"


# -- end to end: submit + nightly run into a store that already holds children -------------------

# Of the census's pupils, every NEW_EVERY-th is not in the store yet (new intake) and every
# MOVED_EVERY-th (offset 1) was stored at another house (moved since the last census).
NEW_EVERY = 10
MOVED_EVERY = 20
FILLER_LA = "824"  # the rest of the store: children of another LA, with their own UPNs


# Bumped whenever the generated pupils change, so that a store built from older ones is not used.
# 3: the synthetic areas' family names have their long tail; 4: the other LA's children in
# their own postcode districts, and the school's previous census run through ingest.
E2E_DATA_VERSION = 4


def e2e_store_path(children: int, pupils: int, seed: int) -> Path:
    return Path("var") / "bench" / f"ingest-e2e-{children}-{pupils}-seed{seed}-v{E2E_DATA_VERSION}.db"


def _previous_term(values: dict[str, Any]) -> dict[str, Any] | None:
    if values["serial"] % NEW_EVERY == 0:
        return None
    if values["serial"] % MOVED_EVERY == 1:
        return {**values, "house": values["house"] + 1}
    return values


def build_e2e_store(path: Path, children: int, pupils: int, seed: int) -> dict[str, float]:
    """A store of `children`: children of another LA loaded through the real parser and
    `index.add_children`, then search-indexed; then the school's previous census (the census's
    pupils less the new intake, some at an older address) submitted and run through ingest,
    as last term's would have been."""
    from index import add_children, transaction
    from index.embedded import EmbeddedSearch
    from index.store import make_engine, upgrade
    from ingest import SourceRecord, parse_census, run_nightly, submit_file

    _lift_file_cap()
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.name + ".building")  # renamed when complete
    for leftover in path.parent.glob(building.name + "*"):
        leftover.unlink()
    engine = make_engine(f"sqlite:///{building}")
    upgrade(engine)
    started = time.perf_counter()
    known = sum(1 for v in range(1, pupils + 1) if v % NEW_EVERY)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        previous = Path(tmp) / f"{LA}{ESTAB}_SC_2025AUT_{pupils}.xml"
        filler = Path(tmp) / "filler.xml"
        write_census(filler, max(0, children - known), seed + 1, la=FILLER_LA)
        batch: list[Any] = []
        for item in parse_census(filler, expected_laestab=FILLER_LA + ESTAB):
            if isinstance(item, SourceRecord):
                batch.append(item.child)
            if len(batch) >= 20_000:
                with transaction(engine) as session:
                    add_children(session, batch)
                batch.clear()
        if batch:
            with transaction(engine) as session:
                add_children(session, batch)
        loaded = time.perf_counter() - started
        EmbeddedSearch(engine).index_all()
        indexed = time.perf_counter() - started - loaded
        write_census(previous, pupils, seed, keep=_previous_term, term=AUTUMN)
        submit_file(engine, previous, source=LA + ESTAB)
        run_nightly(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    building.rename(path)
    return {"load_seconds": loaded, "index_seconds": indexed,
            "previous_seconds": time.perf_counter() - started - loaded - indexed}


def measure_end_to_end(db: Path, census: Path, skip_unchanged: bool = True) -> dict[str, Any]:
    """Submit `census` and run the night into the store `db` (run in a fresh process)."""
    from sqlalchemy import select

    from index import models as m
    from index.store import open_store
    from ingest import run_nightly, submit_file

    engine = open_store(f"sqlite:///{db}")
    # VmHWM, not ru_maxrss: started from the CLI, ru_maxrss is the CLI's peak, not this run's.
    base_rss = _peak_rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    submitted = submit_file(engine, census, source=LA + ESTAB)
    submit_seconds = time.perf_counter() - wall
    summary = run_nightly(engine, skip_unchanged=skip_unchanged)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with engine.connect() as conn:
        report = json.loads(conn.scalar(select(m.StagedSubmission.run_report).where(
            m.StagedSubmission.submission_id == submitted.submission_id)) or "{}")
    return {
        "accepted": submitted.accepted, "submit_seconds": submit_seconds,
        "run_seconds": wall - submit_seconds, "seconds": wall, "cpu_seconds": cpu,
        "pupils_per_second": submitted.accepted / wall, "outcomes": dict(summary.outcomes),
        "unchanged": report.get("counts", {}).get("unchanged", 0),
        "baseline_rss_mb": base_rss,
        "peak_rss_mb": _peak_rss_mb(),
    }


# The two ways a census is run: its unchanged pupils recognised (a school's termly census after
# its previous one, the usual night), and every pupil matched in full (a school's first census,
# or the night after a new matching model).
E2E_VARIANTS = {"termly (unchanged pupils recognised)": "skip", "every pupil matched in full": "full"}


def end_to_end(store_children: int, pupils: int, seed: int, workdir: Path | None, runs: int = 1) -> None:
    import sqlite3

    store = e2e_store_path(store_children, pupils, seed)
    if not store.exists():
        typer.echo(f"building the store of {store_children:,} children at {store} (once)...")
        built = build_e2e_store(store, store_children, pupils, seed)
        typer.echo(f"  loaded in {built['load_seconds']:.0f}s, search-indexed in "
                   f"{built['index_seconds']:.0f}s, previous census run in {built['previous_seconds']:.0f}s")
    else:
        stores.bring_up_to_date(store)
    results: dict[str, list[dict[str, Any]]] = {label: [] for label in E2E_VARIANTS}
    with tempfile.TemporaryDirectory(dir=workdir or store.parent) as tmp:
        census = Path(tmp) / f"{LA}{ESTAB}_SC_2026SPR_{pupils}.xml"
        write_census(census, pupils, seed)
        baseline = _measure_in_child(census)
        work = Path(tmp) / "store.db"
        for _ in range(runs):  # alternately, so that load changes hit both alike
            for label, variant in E2E_VARIANTS.items():
                work.unlink(missing_ok=True)
                with sqlite3.connect(store) as src, sqlite3.connect(work) as dst:
                    src.backup(dst)
                results[label].append(_run_child([str(census), "e2e", str(work), variant]))
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    typer.echo(
        f"end to end, store of {store_children:,} children, census of {pupils:,} pupils "
        f"({100 // NEW_EVERY}% new, {100 // MOVED_EVERY}% moved since the previous census); "
        f"medians of {runs}; baseline parse-only in the same session "
        f"{baseline['pupils_per_second']:,.0f} pupils/s; load average {load}"
    )
    for label, figures in results.items():
        mid = {k: statistics.median(f[k] for f in figures)
               for k in ("pupils_per_second", "seconds", "submit_seconds", "run_seconds", "cpu_seconds",
                         "peak_rss_mb")}
        last = figures[-1]
        each = ", ".join(f"{f['pupils_per_second']:,.0f}" for f in figures)
        typer.echo(
            f"  {label}: {mid['pupils_per_second']:,.0f} pupils/s ({mid['seconds']:.1f}s: submit "
            f"{mid['submit_seconds']:.1f}s + run {mid['run_seconds']:.1f}s; {mid['cpu_seconds']:.1f}s CPU); "
            f"each run {each}/s; "
            f"outcomes {last['outcomes']}, recognised unchanged {last['unchanged']:,}; "
            f"peak RSS {mid['peak_rss_mb']:.0f} MB (interpreter and imports {last['baseline_rss_mb']:.0f} MB)"
        )


def loose_recall(store: Path, census: Path, records: int = 3000, seed: int = 7) -> dict[str, Counter[str]]:
    """How the nightly run's loose pass decides known pupils whose UPN is gone: `records` of the
    census's pupils already in `store`, stripped of identifiers, 40% with a letter dropped from
    the given name, 30% moved, 10% with day and month swapped; decided against the store as
    the run would (`StoreCandidates`, the stored model), once with the loose lookup's settings
    and once with every single-key child and the date-alone key. Outcome counts per variant."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from index import models as m
    from index.embedded import EmbeddedSearch
    from index.store import make_engine
    from ingest import SourceRecord, candidates, parse_census
    from matching import Matcher, MatchModel, Outcome, verdict_lookup

    _lift_file_cap()
    rng = random.Random(seed)
    known: dict[str, Any] = {}
    truth: dict[str, str] = {}
    for position, item in enumerate(parse_census(census, expected_laestab=LA + ESTAB)):
        if len(known) >= records:
            break
        # Serials count from 1 in file order; every NEW_EVERY-th pupil is not in the store.
        if not isinstance(item, SourceRecord) or (position + 1) % NEW_EVERY == 0 or rng.random() > 0.2:
            continue
        record, name = item.child, item.child.names[0]
        given = name.given_name or ""
        if rng.random() < 0.4 and len(given) > 3:
            cut = rng.randrange(1, len(given) - 1)
            given = given[:cut] + given[cut + 1:]
        addresses = record.addresses
        if rng.random() < 0.3:
            addresses = tuple(a.model_copy(update={"postcode": "LU1 1AA", "line1": "9 Other Road"})
                              for a in addresses)
        dob = record.date_of_birth
        if rng.random() < 0.1 and dob.day <= 12 and dob.day != dob.month:
            dob = dob.replace(day=dob.month, month=dob.day)
        ref = f"r{position}"
        truth[ref] = record.identifiers[0].value
        known[ref] = record.model_copy(update={
            "identifiers": (), "addresses": addresses, "date_of_birth": dob,
            "names": (name.model_copy(update={"given_name": given}),)})
    engine = make_engine(f"sqlite:///{store}")
    variants = {"as the run does": (candidates.LOOSE_STRONG, candidates.LOOSE_DATE_ALONE),
                "every single-key child, date alone": (1, True)}
    results: dict[str, Counter[str]] = {}
    model = MatchModel.load()
    try:
        with Session(engine) as session:
            holder = dict(session.execute(select(m.ChildIdentifier.value, m.ChildIdentifier.child_id)
                                          .where(m.ChildIdentifier.scheme == "upn")).all())
            for label, (strong, date_alone) in variants.items():
                saved = candidates.LOOSE_STRONG, candidates.LOOSE_DATE_ALONE
                candidates.LOOSE_STRONG, candidates.LOOSE_DATE_ALONE = strong, date_alone
                counts: Counter[str] = Counter()
                try:
                    refs = list(known)
                    for start in range(0, len(refs), 1000):
                        batch = {ref: known[ref] for ref in refs[start:start + 1000]}
                        found = candidates.StoreCandidates(session, EmbeddedSearch(engine))
                        found.prepare(batch)  # type: ignore[arg-type]
                        matcher = Matcher(index=found, model=model, verdicts=verdict_lookup(session))  # type: ignore[arg-type]
                        for ref, d in matcher.decide_records(batch.items()):
                            right = getattr(d, "ref", None) == holder[truth[str(ref)]]
                            outcome = getattr(d, "outcome", None)
                            counts[{Outcome.LINK: "linked right" if right else "linked WRONG",
                                    Outcome.REVIEW: "review, right child" if right else "review, other child",
                                    }.get(outcome, "missed (new)")] += 1  # type: ignore[arg-type]
                        counts["candidates read"] += sum(len(v) for v in found._loose.values())
                finally:
                    candidates.LOOSE_STRONG, candidates.LOOSE_DATE_ALONE = saved
                results[label] = counts
    finally:
        engine.dispose()
    return results


def command(
    pupils: Annotated[
        list[int] | None,
        typer.Option("--pupils", help="Pupils per generated file; repeat for several sizes."),
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="Where to write the files (default: a temp dir).")
    ] = None,
    store_children: Annotated[
        list[int] | None,
        typer.Option("--end-to-end", help="Also submit + run a census into a store of this many children "
                     "(built once under var/bench/); repeat for several store sizes."),
    ] = None,
    e2e_pupils: Annotated[
        int, typer.Option("--e2e-pupils", help="Pupils in the end-to-end census.")
    ] = 50_000,
    parse: Annotated[bool, typer.Option("--parse/--no-parse", help="Measure parsing alone.")] = True,
    recall: Annotated[bool, typer.Option(
        "--loose-recall", help="With --end-to-end: how the run's loose pass decides 3,000 known pupils "
        "without their UPN (with typos, moves, swapped dates), against that store.")] = False,
    runs: Annotated[
        int, typer.Option("--runs", help="Runs per size and variant, parsing and end to end (medians).")
    ] = 3,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help="Another checkout of this code whose parser is measured alongside, run for run "
            "(e.g. `git worktree add /tmp/base <commit>`).",
        ),
    ] = None,
) -> None:
    """Parse + minimise + validate generated census files: pupils/s and peak memory per size;
    with --end-to-end, submit + nightly run into a store of N children."""
    sizes = pupils or [50_000, 500_000]
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    typer.echo(f"machine: {describe_machine()}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for children in store_children or []:
        end_to_end(children, e2e_pupils, seed=1, workdir=workdir, runs=runs)
        if recall:
            with tempfile.TemporaryDirectory(dir=workdir) as tmp:
                census = Path(tmp) / "census.xml"
                write_census(census, e2e_pupils, seed=1)
                started = time.perf_counter()
                results = loose_recall(e2e_store_path(children, e2e_pupils, 1), census)
            typer.echo(f"loose pass, known pupils without their UPN, store of {children:,} "
                       f"({time.perf_counter() - started:.0f}s):")
            for label, counts in results.items():
                typer.echo(f"  {label}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
    if not parse:
        return
    typer.echo("scope: parse + minimise + validate only")
    variants = {"two processes (as used)": "full", "one process": "one-process"}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for size in sizes:
            path = Path(tmp) / f"{LA}{ESTAB}_SC_2025AUT_{size}.xml"
            started = time.perf_counter()
            nbytes = write_census(path, size)
            generated = time.perf_counter() - started
            typer.echo(
                f"pupils={size:,} file={nbytes / 2**20:,.1f} MB (generated in {generated:.1f}s); "
                f"{_load()} before"
            )
            results: dict[str, list[dict[str, float]]] = {}
            for _ in range(runs):  # variants alternate, so that load changes hit them alike
                if baseline is not None:
                    results.setdefault("baseline", []).append(_measure_in_child(path, "full", baseline))
                for label, stage in variants.items():
                    results.setdefault(label, []).append(_measure_in_child(path, stage))
            for label, figures in results.items():
                typer.echo(_line(label, figures))
            last = results["two processes (as used)"][-1]
            typer.echo(
                f"  accepted={last['accepted']:,.0f} rejected={last['rejected']:,.0f} "
                f"dropped elements={last['dropped']:,.0f}; {_load()} after"
            )
            if size == min(sizes):
                stages = {stage: _measure_in_child(path, stage) for stage in ("xml", "minimise")}
                per_pupil = {k: 1e6 / v["pupils_per_cpu_second"] for k, v in stages.items()}
                single = 1e6 / statistics.median(r["pupils_per_cpu_second"] for r in results["one process"])
                typer.echo(
                    f"  CPU per pupil (one process): XML streaming {per_pupil['xml']:.0f} us, "
                    f"minimising {per_pupil['minimise'] - per_pupil['xml']:.0f} us, "
                    f"validating {single - per_pupil['minimise']:.0f} us (total {single:.0f} us)"
                )
            path.unlink()


if __name__ == "__main__":  # the per-size worker process
    if len(sys.argv) > 3 and sys.argv[2] == "e2e":
        skip = len(sys.argv) < 5 or sys.argv[4] == "skip"
        print(json.dumps(measure_end_to_end(Path(sys.argv[3]), Path(sys.argv[1]), skip_unchanged=skip)))
    else:
        print(json.dumps(measure(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "full")))
