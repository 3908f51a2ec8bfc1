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
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from ingest.minimise import Keep, local_name, minimise
from ingest.pupil import PupilContext, School, build_pupil
from ingest.report import FeedError, Outcome, ParseReport, RecordError
from ingest.xml_stream import cut, root_name, stream

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
    header: HeaderFacts | None = None
    context: PupilContext | None = None
    seen_upns: dict[int, int] = {}
    position = 0
    known_top = {"Header", *spec.pupils, *(p for parents in spec.pupils.values() for p in parents)}
    tags = ["Header", *spec.pupils, *spec.cut_early]
    root_element: etree._Element | None = None
    for element in stream(path, tags):
        name = local_name(element.tag)
        parent = element.getparent()
        if root_element is None:
            root_element = element.getroottree().getroot()
        if name == "Header" and parent is root_element:
            if header is not None:
                raise FeedError(file, "has more than one Header")
            header = spec.read_header(file, minimise(element, spec.header, Counter()), today)
            check_expected(file, header.school.laestab, expected_laestab)
            report.header.update(header.facts)
            context = PupilContext(file, header.school, header.reference_date)
            _release(element, report.dropped, known_top)
        elif name in spec.pupils:
            position += 1
            if parent is None or local_name(parent.tag) not in spec.pupils[name]:
                # Misplaced: reported by position, its content dropped with what holds it.
                where = " or ".join(sorted(spec.pupils[name]))
                yield RecordError(file, f"pupil {position}", name, f"is not inside {where}, left out")
                continue
            if context is None:
                raise FeedError(file, "has a pupil before its Header (or no Header)")
            fields = minimise(element, spec.pupil, report.dropped)
            outcome = build_pupil(fields, position, context, seen_upns)
            for warning in getattr(outcome, "warnings", ()):
                report.warn(warning)
            _release(element, report.dropped, known_top)
            yield outcome
        elif name in spec.cut_early:
            # Counted once, at the outermost cut section (an Attendance inside an Attendance
            # is part of the one dropped section).
            if parent is None or local_name(parent.tag) not in spec.cut_early:
                report.dropped[name] += 1
            cut(element)
    if root_element is not None:
        for child in root_element:
            if isinstance(child.tag, str) and local_name(child.tag) not in known_top:
                report.dropped[local_name(child.tag)] += 1
    if header is None:
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
