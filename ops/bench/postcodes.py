"""`childindex bench postcodes`: the postcode-to-LA table at national size.

Writes a generated ONS postcode directory (NSPL-shaped: its columns, in postcode order, about
the width of a real row; 2.7 million rows by default, as the UK file has), imports it
(`childindex postcodes import`, with and without `--collapse sectors`) in a child process each
so that its peak memory is its own, then loads a generated 1.7 million row table the way the
nightly run does (`PostcodeAreas.from_file`) and times lookups. Nothing here is a real postcode
geography: districts are real-looking outward codes given to LAs at random.

`write_directory` is also the tests' directory generator (small sizes).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from index.la_codes import la_codes
from index.ownership import PostcodeAreas
from ops.machine import describe_machine, peak_rss_mb

# The NSPL's columns (the importer reads pcds, cty and laua); the other values are fillers of
# about the real width.
HEADER = ("pcd,pcd2,pcds,dointr,doterm,usertype,oseast1m,osnrth1m,osgrdind,oa21,cty,ced,laua,ward,"
          "nhser,ctry,rgn,pcon,ttwa,itl,npark,lsoa21,msoa21,wz11,sicbl,bua24,ruc21,oac11,lat,long,"
          "lep1,lep2,pfa,imd,icb")
AREAS = ("AL", "B", "BA", "BB", "BD", "BH", "BL", "BN", "BR", "BS", "CA", "CB", "CF", "CH", "CM",
         "CO", "CR", "CT", "CV", "CW", "DA", "DE", "DH", "DL", "DN", "DT", "DY", "E", "EC", "EH",
         "EN", "EX", "FY", "G", "GL", "GU", "HA", "HD", "HG", "HP", "HR", "HU", "HX", "IG", "IP",
         "KA", "KT", "L", "LA", "LD", "LE", "LL", "LN", "LS", "LU", "M", "ME", "MK", "N", "NE",
         "NG", "NN", "NP", "NR", "NW", "OL", "OX", "PE", "PL", "PO", "PR", "RG", "RH", "RM", "S",
         "SA", "SE", "SG", "SK", "SL", "SM", "SN", "SO", "SP", "SR", "SS", "ST", "SW", "SY", "TA",
         "TF", "TN", "TQ", "TR", "TS", "TW", "UB", "W", "WA", "WC", "WD", "WF", "WN", "WR", "WS",
         "WV", "YO", "BT", "AB", "DD", "IV", "PA", "PH")
UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
# Authorities outside DfE's LAs, roughly in the UK's proportions (Scotland, Wales, Northern
# Ireland, the Channel Islands and the Isle of Man: pseudo codes).
ELSEWHERE = (["S12000033", "S12000034", "S12000036", "S12000049"] * 3
             + ["W06000015", "W06000011", "W06000022"] * 2 + ["N09000003", "L99999999", "M99999999"])
UNITS = [a + b for a in UNIT_LETTERS for b in UNIT_LETTERS]
BOUNDARY_SECTORS = 0.05  # sectors with some postcodes in a neighbouring authority


def _authorities(rng: random.Random) -> list[tuple[str, str]]:
    """(county, district) pairs: unitaries with a pseudo county, two-tier districts under their
    county, and some outside England."""
    codes = la_codes()
    live = [c for c, a in codes.by_gss.items() if a.live]
    pairs = [("E99999999", c) for c in live if not c.startswith("E10")]
    pairs += [(c, f"E07{rng.randrange(100000, 999999):06d}") for c in live if c.startswith("E10")
              for _ in range(3)]
    return pairs + [("", c) for c in ELSEWHERE]


def directory_rows(rows: int, seed: int = 17) -> Iterator[str]:
    """NSPL-shaped lines (no header), grouped by district in postcode order."""
    rng = random.Random(seed)
    authorities = _authorities(rng)
    districts = sorted(((f"{area}{n}", area) for area in AREAS for n in range(1, 40)),
                       key=lambda d: d[0].ljust(4))
    written = 0
    for outward, _area in districts:
        home = rng.choice(authorities)
        neighbour = rng.choice(authorities)
        for sector in range(10):
            split = rng.random() < BOUNDARY_SECTORS
            units = sorted(rng.sample(UNITS, rng.randint(60, 120)))
            for unit in units:
                if written >= rows:
                    return
                county, district = neighbour if split and rng.random() < 0.3 else home
                pcds = f"{outward} {sector}{unit}"
                pcd = f"{outward:<4}{sector}{unit}"
                doterm = "201906" if rng.random() < 0.3 else ""
                yield (f"{pcd},{outward:<5}{sector}{unit},{pcds},198001,{doterm},0,512345,212345,1,"
                       f"E00123456,{county},E58000001,{district},E05012345,E40000003,E92000001,E12000006,"
                       f"E14001234,E30000123,E06000123,E65000001,E01012345,E02012345,E33012345,E38000123,"
                       f"E63012345,UN1,2B3,51.123456,-0.123456,E37000001,,E23000001,12345,E54000024\n")
                written += 1


def write_directory(path: Path, rows: int, seed: int = 17) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER + "\n")
        out.writelines(directory_rows(rows, seed))
    return path


def write_table(path: Path, rows: int, seed: int = 17) -> Path:
    """A `postcode,la` table of `rows` full postcodes (random LAs)."""
    rng = random.Random(seed)
    las = sorted(la_codes().live_numbers)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("postcode,la\n")
        for line in directory_rows(rows, seed):
            out.write(f"{line.split(',', 3)[2]},{rng.choice(las)}\n")
    return path


def _import_in_child(directory: Path, out: Path, collapse: str) -> tuple[float, float, float]:
    """(seconds, CPU seconds, peak MB) of one import in a process of its own."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", (
        "import sys; from pathlib import Path; from ops.postcodes import import_directory, Collapse; "
        "import_directory(Path(sys.argv[1]), Path(sys.argv[2]), collapse=Collapse(sys.argv[3]))"),
        str(directory), str(out), collapse])
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"the import failed ({child.returncode})")
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def run(rows: int, table_rows: int, seed: int) -> str:
    lines = [f"postcode table ({describe_machine()}; load average {os.getloadavg()[0]:.1f})"]
    with tempfile.TemporaryDirectory(prefix="childindex-bench-postcodes-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        directory = write_directory(folder / "nspl.csv", rows, seed)
        size = directory.stat().st_size
        lines.append(f"  generated directory: {rows:,} rows, {size / 1e6:,.0f} MB in "
                     f"{time.perf_counter() - started:.1f} s")
        for collapse in ("none", "sectors"):
            out = folder / f"table-{collapse}.csv"
            seconds, cpu, peak = _import_in_child(directory, out, collapse)
            with out.open(encoding="utf-8") as written_table:
                written = sum(1 for line in written_table if not line.startswith("#")) - 1
            lines.append(f"  import --collapse {collapse:<8} {seconds:6.1f} s ({cpu:.1f} s CPU, "
                         f"{rows / cpu:,.0f} rows per CPU second), peak {peak:,.0f} MB; "
                         f"table {written:,} rows, {out.stat().st_size / 1e6:,.1f} MB")
        directory.unlink()
        table = write_table(folder / "table.csv", table_rows, seed)
        before = peak_rss_mb()
        resident = _resident_mb()
        started, cpu_started = time.perf_counter(), time.process_time()
        areas = PostcodeAreas.from_file(table)
        loaded, loaded_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        held = _resident_mb() - resident
        with table.open(encoding="utf-8") as lines_of_table:
            sample = [line.split(",")[0] for line, _ in zip(lines_of_table, range(10_001), strict=False)][1:]
        started = time.perf_counter()
        for postcode in sample * 10:
            areas.la_of(postcode)
        lookup = (time.perf_counter() - started) / (len(sample) * 10)
        lines.append(f"  PostcodeAreas.from_file, {len(areas):,} rows: {loaded:.1f} s "
                     f"({loaded_cpu:.1f} s CPU), holds {held:,.0f} MB, "
                     f"peak {max(peak_rss_mb() - before, 0):,.0f} MB above the process before; "
                     f"la_of {lookup * 1e6:.1f} us")
    return "\n".join(lines)


def _resident_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def command(
    rows: Annotated[int, typer.Option(min=1000, help="Rows of the generated ONS directory.")] = 2_700_000,
    table_rows: Annotated[int, typer.Option(min=1000, help="Rows of the table loaded.")] = 1_700_000,
    seed: Annotated[int, typer.Option(help="Seed of the generated directory.")] = 17,
) -> None:
    """Import speed and memory of `postcodes import`, and load time and memory of the table."""
    typer.echo(run(rows, table_rows, seed))
