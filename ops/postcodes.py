"""`childindex postcodes import`: the postcode-to-LA table of the nightly run's moves
(index.ownership, `CHILDINDEX_POSTCODE_LAS`) built from the ONS postcode directory.

The ONS National Statistics Postcode Lookup (NSPL) or Postcode Directory (ONSPD), Open
Government Licence, gives every UK postcode its local authority district as a GSS code. The
index's LAs are DfE's, three-digit numbers of upper-tier authorities: where a county and its
districts share the work (two-tier areas) the LA is the county, so a postcode's LA is its county
column (`cty`) when that names an English county, else its district (`laua`). GSS codes become
LA numbers through `index/data/la_codes.csv`. A code that is not an English LA (Wales,
Scotland, Northern Ireland, the Channel Islands and Isle of Man) is counted and skipped, as is
an LA abolished by a reorganisation (a directory older than the change).

The directory is read as a stream, one postcode district at a time (the ONS files are in
postcode order; a file that is not is refused), so memory holds a district, never the file.
`--collapse sectors` writes one row for a sector (`MK45 2`) whose every postcode is in one LA
and the postcodes themselves only where a sector straddles a boundary (`districts`: the same
a level up); postcodes created after the directory then fall under their sector's row.

The table is written to a temporary file beside `--out`, read back with the nightly run's own
reader, and only then renamed over `--out`: a failed import leaves the previous table as it
was. A bad row is named by line and column, never by its value.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer

from index.la_codes import GSS_CODE, LaCodes, la_codes
from index.ownership import PostcodeAreas

POSTCODE_COLUMNS = ("pcds", "pcd", "pcd2", "pcd7", "pcd8", "postcode")
DISTRICT_COLUMNS = ("laua", "lad", "oslaua")
COUNTY_COLUMNS = ("cty", "oscty")
_DISTRICT_DATED = re.compile(r"lad\d\dcd")  # later releases name a column by its year: lad25cd
_COUNTY_DATED = re.compile(r"cty\d\dcd")
_FULL = re.compile(r"[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}|GIR0AA")  # as index.ownership reads them
MAX_LISTED = 20  # bad rows named one by one; the rest are counted
COUNTRIES = {"E": "England (not a DfE LA)", "W": "Wales", "S": "Scotland", "N": "Northern Ireland",
             "L": "Channel Islands", "M": "Isle of Man"}


class Collapse(StrEnum):
    NONE = "none"
    SECTORS = "sectors"
    DISTRICTS = "districts"


class ImportRefused(ValueError):
    """The directory cannot be turned into a table; nothing was written."""


@dataclass
class ImportReport:
    rows: int = 0  # data rows read
    postcodes: int = 0  # postcodes in an English LA
    units: int = 0  # rows written: full postcodes
    sectors: int = 0  # rows written: sectors
    districts: int = 0  # rows written: districts
    no_la: int = 0  # rows with an empty LA column (postcodes the ONS could not place)
    outside: Counter[str] = field(default_factory=Counter)  # GSS code -> rows: not a DfE LA
    abolished: Counter[str] = field(default_factory=Counter)  # GSS code -> rows: LA reorganised away
    bad: int = 0
    bad_lines: list[str] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.units + self.sectors + self.districts

    def bad_row(self, line: int, column: str, what: str) -> None:
        self.bad += 1
        if len(self.bad_lines) < MAX_LISTED:
            self.bad_lines.append(f"line {line}: column {column}: {what}")

    def lines(self) -> list[str]:
        out = [f"rows read: {self.rows:,}; postcodes in an English LA: {self.postcodes:,}",
               f"table rows: {self.written:,} ({self.units:,} postcodes, {self.sectors:,} sectors, "
               f"{self.districts:,} districts)"]
        by_country = Counter[str]()
        for code, rows in self.outside.items():
            by_country[COUNTRIES.get(code[:1], "other")] += rows
        for country, rows in sorted(by_country.items()):
            out.append(f"skipped, {country}: {rows:,}")
        unknown_english = sorted(code for code in self.outside if code.startswith("E"))
        if unknown_english:
            out.append("  English codes that are no DfE LA (a district code with no county column?): "
                       + ", ".join(unknown_english[:10]) + (" ..." if len(unknown_english) > 10 else ""))
        for code, rows in sorted(self.abolished.items()):
            out.append(f"skipped, LA abolished by a reorganisation ({code}; the directory predates it): "
                       f"{rows:,}")
        if self.no_la:
            out.append(f"skipped, no LA given: {self.no_la:,}")
        if self.bad:
            out.append(f"bad rows: {self.bad:,}")
            out += [f"  {line}" for line in self.bad_lines]
            if self.bad > len(self.bad_lines):
                out.append(f"  ... and {self.bad - len(self.bad_lines):,} more")
        return out


_CsvReader = type(csv.reader([]))


@dataclass(frozen=True)
class _Columns:
    postcode: int
    district: int
    county: int | None
    names: tuple[str, str, str | None]


def _columns(header: list[str], *, postcode: str | None, district: str | None,
             county: str | None) -> _Columns:
    names = [cell.strip().lower() for cell in header]

    def find(given: str | None, known: tuple[str, ...], dated: re.Pattern[str] | None,
             what: str, required: bool) -> int | None:
        if given is not None:
            if given.lower() not in names:
                raise ImportRefused(f"the header has no column {given!r} ({what})")
            return names.index(given.lower())
        for name in known:
            if name in names:
                return names.index(name)
        for at, name in enumerate(names):
            if dated is not None and dated.fullmatch(name):
                return at
        if required:
            raise ImportRefused(f"the header has no {what} column (looked for {', '.join(known)}); "
                                "name it with the option")
        return None

    p = find(postcode, POSTCODE_COLUMNS, None, "postcode", True)
    d = find(district, DISTRICT_COLUMNS, _DISTRICT_DATED, "local authority district", True)
    c = find(county, COUNTY_COLUMNS, _COUNTY_DATED, "county", False)
    assert p is not None and d is not None
    return _Columns(p, d, c, (names[p], names[d], names[c] if c is not None else None))


def build_table(directory: TextIO, out: TextIO, *, source: str, collapse: Collapse = Collapse.NONE,
                codes: LaCodes | None = None, postcode_column: str | None = None,
                district_column: str | None = None, county_column: str | None = None) -> ImportReport:
    """Stream the ONS directory into `postcode,la` rows on `out`; the report of what was done."""
    rows = csv.reader(directory, strict=True)
    try:
        return _build(rows, out, source=source, collapse=collapse, codes=codes or la_codes(),
                      given=(postcode_column, district_column, county_column))
    except csv.Error:
        raise ImportRefused(f"line {rows.line_num}: not well-formed CSV") from None
    except UnicodeDecodeError:
        raise ImportRefused(f"after line {rows.line_num}: not UTF-8 text") from None


def _build(rows: _CsvReader, out: TextIO, *, source: str, collapse: Collapse, codes: LaCodes,
           given: tuple[str | None, str | None, str | None]) -> ImportReport:
    report = ImportReport()
    header = next(rows, None)
    if header is None:
        raise ImportRefused("the directory is empty")
    cols = _columns(header, postcode=given[0], district=given[1], county=given[2])
    width = len(header)
    out.write(f"# postcode -> DfE LA number, built by `childindex postcodes import` from {source} "
              f"on {dt.date.today().isoformat()} (collapse: {collapse.value}); "
              "LA numbers from index/data/la_codes.csv\npostcode,la\n")
    counties = {code for code in codes.by_gss if code.startswith("E10")}
    writer = _TableWriter(out, collapse, report)
    done: set[str] = set()
    current: str | None = None
    for row in rows:
        report.rows += 1
        line = rows.line_num
        if len(row) != width:
            report.bad_row(line, "*", f"{len(row)} fields where the header has {width}")
            continue
        county = row[cols.county].strip() if cols.county is not None else ""
        code = county if county in counties else row[cols.district].strip()
        number = codes.number_of(code)
        if number is None and code and not GSS_CODE.fullmatch(code):
            report.bad_row(line, cols.names[1], "not a GSS code")
            continue
        full = "".join(row[cols.postcode].split()).upper()
        if not _FULL.fullmatch(full):
            if number is None:  # outside England and not a UK-style postcode (overseas territories):
                _count_skipped(report, codes, code)  # counted, never placed
                continue
            report.bad_row(line, cols.names[0], "not a postcode")
            continue
        district = full[:-3]
        if district != current:
            if current is not None:
                writer.flush(current)
                done.add(current)
            if district in done:
                raise ImportRefused(f"line {line}: the directory is not in postcode order (a district "
                                    "comes back after others); sort it by postcode, as the ONS ships it")
            current = district
        if number is None:
            _count_skipped(report, codes, code)
        else:
            report.postcodes += 1
        # A postcode outside England is kept (as None) so that its sector is never collapsed.
        if not writer.add(full, number):
            report.bad_row(line, cols.names[0], "the same postcode again")
    if current is not None:
        writer.flush(current)
    return report


def _count_skipped(report: ImportReport, codes: LaCodes, code: str) -> None:
    if not code:
        report.no_la += 1
    elif codes.abolished(code):
        report.abolished[code] += 1
    else:
        report.outside[code] += 1


class _TableWriter:
    """One district's postcodes at a time, written at the level `collapse` allows."""

    def __init__(self, out: TextIO, collapse: Collapse, report: ImportReport) -> None:
        self.out, self.collapse, self.report = out, collapse, report
        self.units: dict[str, str | None] = {}  # full postcode -> LA number (None: not a DfE LA)

    def add(self, full: str, la: str | None) -> bool:
        if full in self.units:
            return False
        self.units[full] = la
        return True

    def flush(self, district: str) -> None:
        units, self.units = self.units, {}
        if self.collapse is Collapse.DISTRICTS and (la := _one_la(units.values())):
            self.out.write(f"{district},{la}\n")
            self.report.districts += 1
            return
        for sector, members in _sectors(units):
            if self.collapse is not Collapse.NONE and (la := _one_la(members.values())):
                self.out.write(f"{district} {sector},{la}\n")
                self.report.sectors += 1
                continue
            for full, la in members.items():
                if la is not None:
                    self.out.write(f"{district} {full[-3:]},{la}\n")
                    self.report.units += 1


def _one_la(las: Iterable[str | None]) -> str | None:
    """The LA of every postcode given, if there is one and it is a DfE LA."""
    found = set(las)
    return found.pop() if len(found) == 1 and None not in found else None


def _sectors(units: dict[str, str | None]) -> Iterator[tuple[str, dict[str, str | None]]]:
    grouped: dict[str, dict[str, str | None]] = {}
    for full, la in units.items():
        grouped.setdefault(full[-3], {})[full] = la
    yield from grouped.items()


def import_directory(directory: Path, out: Path, *, collapse: Collapse = Collapse.NONE, max_bad: int = 0,
                     postcode_column: str | None = None, district_column: str | None = None,
                     county_column: str | None = None) -> ImportReport:
    """Build the table from the directory file into `out`, atomically: written beside it, read
    back with the nightly run's reader, then renamed over it. Refused (nothing written) on more
    than `max_bad` bad rows, a header without the columns, or a file out of postcode order."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle, \
                directory.open(encoding="utf-8-sig", newline="") as source:
            report = build_table(source, handle, source=directory.name, collapse=collapse,
                                 postcode_column=postcode_column, district_column=district_column,
                                 county_column=county_column)
            handle.flush()
            os.fsync(handle.fileno())
        if report.bad > max_bad:
            raise ImportRefused(f"{report.bad:,} bad rows (at most {max_bad:,} allowed: --max-bad)\n"
                                + "\n".join(report.lines()))
        if report.written == 0:
            raise ImportRefused("no postcode in an English LA: is this the ONS postcode directory?\n"
                                + "\n".join(report.lines()))
        PostcodeAreas.from_file(temporary)  # what the nightly run will read, read once here
        os.chmod(temporary, 0o644)  # no personal data; readable by the service account
        os.replace(temporary, out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return report


postcodes_app = typer.Typer(no_args_is_help=True,
                            help="The postcode-to-LA table of moves between LAs (CHILDINDEX_POSTCODE_LAS).")


@postcodes_app.command("import")
def import_command(
    directory: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                              help="The ONS directory CSV (NSPL or ONSPD, UK file).")],
    out: Annotated[Path, typer.Option("--out", help="The table to write (CHILDINDEX_POSTCODE_LAS).")],
    collapse: Annotated[Collapse, typer.Option(
        help="Write a sector (or district) whose every postcode is in one LA as one row.")] = Collapse.NONE,
    max_bad: Annotated[int, typer.Option(min=0, help="Bad rows tolerated (counted) before refusing.")] = 0,
    postcode_column: Annotated[str | None, typer.Option(help="Postcode column (default: pcds...).")] = None,
    district_column: Annotated[str | None, typer.Option(help="District column (default: laua...).")] = None,
    county_column: Annotated[str | None, typer.Option(help="County column (default: cty, oscty).")] = None,
) -> None:
    """Build the postcode-to-LA table from the ONS postcode directory (refresh it with each
    quarterly release); the previous table stays until the new one is complete."""
    try:
        report = import_directory(directory, out, collapse=collapse, max_bad=max_bad,
                                  postcode_column=postcode_column, district_column=district_column,
                                  county_column=county_column)
    except ValueError as exc:  # ImportRefused, or the table read back (its line, never a value)
        typer.secho(f"error: {directory.name}: nothing written: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    for line in report.lines():
        typer.echo(line)
    typer.echo(f"written: {out}")

