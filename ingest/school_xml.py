"""The streaming loop shared by the two school files (census and CTF).

Each format declares a `SchoolFileSpec`: its root, its header table, where pupils sit, its
pupil table and the prohibited sections to cut out as soon as they close. The loop reads the
header first (a file-level error if it is missing or wrong), then minimises, validates and
releases one pupil at a time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from lxml import etree

from ingest.minimise import Keep, local_name, minimise
from ingest.pupil import PupilContext, School, build_pupil
from ingest.read_ahead import read_ahead, read_ahead_pays
from ingest.report import FeedError, Outcome, ParseReport, RecordError, SourceRecord
from ingest.xml_stream import check_prolog, cut, root_name, stream

LA_NUMBER = re.compile(r"^\d{3}$")
ESTAB_NUMBER = re.compile(r"^\d{4}$")


@dataclass(frozen=True)
class HeaderFacts:
    school: School
    reference_date: dt.date
    facts: dict[str, str]


@dataclass(frozen=True)
class SchoolFileSpec:
    label: str                                  # "school census", "CTF": for messages
    root: str
    header: Keep                                # paths under <Header>
    pupils: Mapping[str, frozenset[str]]        # pupil element -> the parents it may sit in
    pupil: Keep                                 # paths under each pupil element
    cut_early: frozenset[str]                   # prohibited sections dropped as they close
    read_header: Callable[[str, dict[str, str], dt.date], HeaderFacts]
    empty_is_error: bool

    def __post_init__(self) -> None:
        clash = self.cut_early & self.pupil.element_names()
        if clash:  # a kept element must never be cut by name
            raise ValueError(f"{self.label}: cut_early names kept elements {sorted(clash)}")


def school_number(file: str, lea: str | None, estab: str | None, where: str) -> str:
    if not lea or not LA_NUMBER.match(lea):
        raise FeedError(file, f"header {where}/LEA is missing or is not a 3-digit LA number")
    if not estab or not ESTAB_NUMBER.match(estab):
        raise FeedError(file, f"header {where}/Estab is missing or is not a 4-digit number")
    return lea + estab


def header_date(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def check_expected(file: str, laestab: str, expected: str | None) -> None:
    if expected is not None and laestab != expected:
        raise FeedError(
            file, f"is from school {laestab}, but it was submitted for school {expected}"
        )


# What the reading stage hands to the checking stage, in file order: the minimised header,
# each minimised pupil (with its position), or a pupil found outside its section.
HEADER, PUPIL, MISPLACED = 0, 1, 2
Read = tuple[Any, ...]


# A census or CTF with more pupils than this is refused as a whole: no school comes near it (the
# largest in England have about 4,000), and it bounds the one thing that grows with a file, the
# per-file duplicate-UPN check, whatever the file's size. Read at each parse (a benchmark lifts it).
MAX_PUPILS_PER_FILE = 100_000


def read_school_file(path: Path, spec: SchoolFileSpec, dropped: Counter[str]) -> Iterator[Read]:
    """Stream the file and minimise as it goes: no validation here, only the allow-listed values.

    This is the part that may run in a second process (ingest/read_ahead.py): it yields plain
    data only, and counts what it drops into `dropped`.
    """
    file = path.name
    header_seen = False
    position = 0
    pupils, cut_early = spec.pupils, spec.cut_early
    known_top = {"Header", *pupils, *(p for parents in pupils.values() for p in parents)}
    # Any namespace or none: some MIS write a default namespace (xmlns="...") or a prefix on
    # every element; what an element is depends on its local name only.
    tags = [f"{{*}}{name}" for name in ("Header", *pupils, *cut_early)]
    root_element: etree._Element | None = None
    for element in stream(path, tags):
        tag = element.tag
        name = tag.rpartition("}")[2] if tag[0] == "{" else tag
        parent = element.getparent()
        if root_element is None:
            root_element = element.getroottree().getroot()
        if name in pupils:
            position += 1
            if parent is None or local_name(parent.tag) not in pupils[name]:
                # Misplaced: reported by position, its content dropped with what holds it.
                yield (MISPLACED, position, name)
                continue
            if not header_seen:
                raise FeedError(file, "has a pupil before its Header (or no Header)")
            fields = minimise(element, spec.pupil, dropped)
            _release(element, dropped, known_top)
            yield (PUPIL, position, fields)
        elif name == "Header" and parent is root_element:
            if header_seen:
                raise FeedError(file, "has more than one Header")
            header_seen = True
            fields = minimise(element, spec.header, Counter())
            _release(element, dropped, known_top)
            yield (HEADER, fields)
        elif name in cut_early:
            # Counted once, at the outermost cut section (an Attendance inside an Attendance
            # is part of the one dropped section).
            if parent is None or local_name(parent.tag) not in cut_early:
                dropped[name] += 1
            cut(element)
    if root_element is not None:
        for child in root_element:
            if isinstance(child.tag, str) and local_name(child.tag) not in known_top:
                dropped[local_name(child.tag)] += 1


def _is_header(read: Read) -> bool:
    return read[0] == HEADER


def pupil_items(
    path: Path,
    report: ParseReport,
    spec: SchoolFileSpec,
    *,
    expected_laestab: str | None,
    today: dt.date,
) -> Iterator[Outcome]:
    file = path.name
    root = root_name(path)
    if root != spec.root:
        raise FeedError(file, f"has root element {root[:40]}, not {spec.root} ({spec.label})")
    if check_prolog(path) is not None:
        report.warn(f"{file}: declares UTF-16 but is 8-bit text: read as UTF-8")
    context: PupilContext | None = None
    seen_upns: dict[int, tuple[int, int]] = {}
    position = 0
    # A large file is read and minimised in a second process while this one validates.
    reads = (
        read_ahead(file, partial(read_school_file, path, spec), report.dropped, _is_header)
        if read_ahead_pays(path)
        else read_school_file(path, spec, report.dropped)
    )
    limit = MAX_PUPILS_PER_FILE
    with closing(reads):
        for read in reads:
            if read[0] == PUPIL:
                _, position, fields = read
                if position > limit:
                    raise FeedError(file, f"holds more than {limit:,} pupils: no school has that many")
                if context is None:  # the reader refuses this first; kept for clarity of types
                    raise FeedError(file, "has a pupil before its Header (or no Header)")
                outcome = build_pupil(fields, position, context, seen_upns)
                if outcome.__class__ is SourceRecord:
                    for warning in outcome.warnings:  # type: ignore[union-attr]
                        report.warn(warning)
                yield outcome
            elif read[0] == HEADER:
                header = spec.read_header(file, read[1], today)
                check_expected(file, header.school.laestab, expected_laestab)
                report.header.update(header.facts)
                context = PupilContext(file, header.school, header.reference_date)
            else:
                _, position, name = read
                where = " or ".join(sorted(spec.pupils[name]))
                yield RecordError(file, f"pupil {position}", name, f"is not inside {where}, left out")
    if context is None:
        raise FeedError(file, "has no Header")
    if position == 0:
        if spec.empty_is_error:
            raise FeedError(file, f"holds no pupils (a {spec.label} must hold at least one)")
        report.warn(f"{file}: holds no pupils")


def _release(element: etree._Element, dropped: Counter[str], known: set[str]) -> None:
    """Free a processed element and everything before it, up to the root.

    Siblings before it at every level have closed, so they are either already processed or
    elements nobody asked for (unknown top-level sections): those are counted as dropped.
    """
    element.clear(keep_tail=False)
    node = element
    while (parent := node.getparent()) is not None:
        while (previous := node.getprevious()) is not None:
            if isinstance(previous.tag, str) and local_name(previous.tag) not in known:
                dropped[local_name(previous.tag)] += 1
            parent.remove(previous)
        node = parent
