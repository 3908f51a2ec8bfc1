"""Ingest benchmark: parse + minimise + validate a generated census file; pupils/s and peak memory.

Each file size is parsed in a fresh Python process, so the peak resident memory reported is that
parse's own (ru_maxrss of the child). Comparing two sizes shows memory does not grow with the
file. This measures the parser only: the end-to-end path (staging, matching, the store) is
later work and not measured here.

The generated file repeats a realistic pupil block carrying every prohibited section a real
census return has (characteristics, SEN, exclusions, attendance), so the parser drops as much
as it keeps, as it does in real use.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from index.identifiers import upn_check_letter
from ops.machine import describe_machine

LA, ESTAB = "823", "1234"
_SURNAMES = ("Smith", "Jones", "Okafor", "Nowak", "Khan", "Evans", "O'Brien", "Patel", "Brown")
_FORENAMES = ("Amara", "Jan", "Rhys", "Olivia", "Mohammed", "Zoë", "Leo", "Isla", "Noah", "Ava")
_UNIT = "ABDEFGHJLNPQRSTUWXYZ"  # letters used in the inward part of a postcode
_STREETS = ("Mill Lane", "Church Street", "High Street", "Station Road", "The Green")

_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<Message>
 <Header>
  <CollectionDetails><Collection>SC</Collection><Term>AUT</Term><Year>2025</Year>
   <ReferenceDate>2025-10-02</ReferenceDate></CollectionDetails>
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
     <PostCode>MK45 {inward}</PostCode></Address></HomeInformation>
   </PupilOnRoll>
"""
_FOOTER = """  </PupilsOnRoll>
 </Pupils>
</Message>
"""


def write_census(path: Path, pupils: int, seed: int = 0) -> int:
    """Write a census return with `pupils` distinct valid pupils; returns its size in bytes."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        out.write(_HEADER.format(la=LA, estab=ESTAB))
        for serial in range(1, pupils + 1):
            # The serial fills the UPN after its LA number, so every pupil's UPN is distinct.
            body = f"{LA}{serial:09d}"
            out.write(
                _PUPIL.format(
                    upn=upn_check_letter(body) + body,
                    serial=serial,
                    surname=rng.choice(_SURNAMES),
                    forename=rng.choice(_FORENAMES),
                    middle=rng.choice(_FORENAMES),
                    sex=rng.choice("MF"),
                    dob=f"{rng.randint(2008, 2021)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    house=rng.randint(1, 200),
                    street=rng.choice(_STREETS),
                    uprn=100_000_000 + serial,
                    inward=f"{rng.randint(1, 9)}{rng.choice(_UNIT)}{rng.choice(_UNIT)}",
                )
            )
        out.write(_FOOTER)
    return path.stat().st_size


def measure(path: Path, stage: str = "full") -> dict[str, float]:
    """Parse one file in this process (run in a fresh process) up to `stage`:

    "xml": stream the pupils only (lxml, cutting and releasing as the parser does);
    "minimise": also walk each pupil against the census table;
    "full": the real parser, parse_census (minimise + validate into ChildRecord).
    """
    import resource
    from collections import Counter

    from ingest import SourceRecord, parse_census
    from ingest.census import CENSUS
    from ingest.minimise import local_name, minimise
    from ingest.xml_stream import cut, release, stream

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall, cpu = time.perf_counter(), time.process_time()
    accepted = rejected = dropped = 0
    if stage == "full":
        parse = parse_census(path)
        for item in parse:
            if isinstance(item, SourceRecord):
                accepted += 1
            else:
                rejected += 1
        dropped = sum(parse.report.dropped.values())
    else:
        counts: Counter[str] = Counter()
        for element in stream(path, ["Header", *CENSUS.pupils, *CENSUS.cut_early]):
            name = local_name(element.tag)
            if name in CENSUS.pupils:
                if stage == "minimise":
                    minimise(element, CENSUS.pupil, counts)
                accepted += 1
                release(element)
            elif name in CENSUS.cut_early:
                cut(element)
        dropped = sum(counts.values())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "accepted": accepted,
        "rejected": rejected,
        "dropped": dropped,
        "seconds": wall,
        "cpu_seconds": cpu,
        "pupils_per_second": (accepted + rejected) / wall,
        "pupils_per_cpu_second": (accepted + rejected) / cpu,
        "baseline_rss_mb": base_rss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _measure_in_child(path: Path, stage: str = "full") -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-m", "ops.bench.ingest", str(path), stage],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def command(
    pupils: Annotated[
        list[int] | None,
        typer.Option("--pupils", help="Pupils per generated file; repeat for several sizes."),
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="Where to write the files (default: a temp dir).")
    ] = None,
) -> None:
    """Parse + minimise + validate generated census files: pupils/s and peak memory per size."""
    sizes = pupils or [50_000, 500_000]
    typer.echo(f"machine: {describe_machine()}")
    typer.echo("scope: parse + minimise + validate only (staging and matching into the store: later work)")
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for size in sizes:
            path = Path(tmp) / f"{LA}{ESTAB}_SC_2025AUT_{size}.xml"
            started = time.perf_counter()
            nbytes = write_census(path, size)
            generated = time.perf_counter() - started
            figures = _measure_in_child(path)
            typer.echo(
                f"pupils={size:,} file={nbytes / 2**20:,.1f} MB (generated in {generated:.1f}s): "
                f"{figures['pupils_per_second']:,.0f} pupils/s wall ({figures['seconds']:.1f}s), "
                f"{figures['pupils_per_cpu_second']:,.0f} pupils/s of CPU; "
                f"accepted={figures['accepted']:,.0f} rejected={figures['rejected']:,.0f} "
                f"dropped elements={figures['dropped']:,.0f}; "
                f"peak RSS {figures['peak_rss_mb']:.1f} MB "
                f"(of which interpreter and imports {figures['baseline_rss_mb']:.1f} MB)"
            )
            if size == min(sizes):
                stages = {stage: _measure_in_child(path, stage) for stage in ("xml", "minimise")}
                per_pupil = {k: 1e6 / v["pupils_per_cpu_second"] for k, v in stages.items()}
                full = 1e6 / figures["pupils_per_cpu_second"]
                typer.echo(
                    f"  CPU per pupil: XML streaming {per_pupil['xml']:.0f} us, "
                    f"minimising {per_pupil['minimise'] - per_pupil['xml']:.0f} us, "
                    f"validating {full - per_pupil['minimise']:.0f} us (total {full:.0f} us)"
                )
            path.unlink()


if __name__ == "__main__":  # the per-size worker process
    print(json.dumps(measure(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "full")))
