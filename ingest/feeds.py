"""Which feed a file is, and one entry point that parses any of them."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
from pathlib import Path

from index.vocabulary import SourceKind
from ingest.census import parse_census
from ingest.ctf import parse_ctf
from ingest.report import FeedError, FeedParse
from ingest.service_feed import SERVICE_FEED_COLUMNS, parse_service_feed
from ingest.spreadsheets import SAVE_AS, first_line, header_names, sniff_delimiter
from ingest.xml_stream import root_name

XML_ROOTS: dict[str, SourceKind] = {"Message": SourceKind.CENSUS, "CTfile": SourceKind.CTF}
_SNIFF_BYTES = 4096


def _looks_like_xml(head: bytes) -> bool:
    if head[:2] in (b"<\x00", b"\x00<"):
        return True
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # XML or Excel's Unicode text
        text = head[: len(head) // 2 * 2].decode("utf-16", errors="replace")
        return text.lstrip("\ufeff \r\n\t").startswith("<")
    return head.removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"<")


# Containers people send instead of the file inside them: (opening bytes, what to say).
_CONTAINERS = (
    (b"PK\x03\x04", "is a ZIP archive (a zipped file, or an Excel .xlsx workbook): send the XML "
                     f"file itself, or for a service feed {SAVE_AS}"),
    (b"\xd0\xcf\x11\xe0", f"is an Excel .xls workbook, not CSV text: {SAVE_AS}"),
    (b"\x1f\x8b", "is a gzip archive: send the file inside it"),
    (b"%PDF", "is a PDF document, not a census, CTF or CSV service feed"),
)


def _container(head: bytes) -> str | None:
    return next((reason for magic, reason in _CONTAINERS if head.startswith(magic)), None)


def _feed_columns(line: str) -> set[str]:
    """The documented service-feed columns a header line names (any delimiter and spelling)."""
    delimiter = sniff_delimiter(line, SERVICE_FEED_COLUMNS)
    return set(header_names(next(csv.reader([line], delimiter=delimiter), []))) & set(SERVICE_FEED_COLUMNS)


def detect_kind(path: Path | str) -> SourceKind:
    """census, ctf or service_feed, from the file's content (never its name); else FeedError."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise FeedError(path.name, f"cannot be read ({type(exc).__name__})") from None
    if not head.strip():
        raise FeedError(path.name, "is empty")
    container = _container(head)
    if container is not None:
        raise FeedError(path.name, container)
    if _looks_like_xml(head):
        root = root_name(path)
        kind = XML_ROOTS.get(root)
        if kind is None:
            raise FeedError(
                path.name,
                f"has root element {root[:40]}: not a school census (Message), "
                "a CTF (CTfile) or another known feed",
            )
        return kind
    line = first_line(head)
    if line is None:
        raise FeedError(path.name, f"is neither XML nor UTF-8 CSV text: for a service feed, {SAVE_AS}")
    if _feed_columns(line):
        return SourceKind.SERVICE_FEED
    raise FeedError(path.name, "is neither XML nor a CSV service feed with the documented header")


# The first element's name in a file's opening bytes, past any prolog, comments and DOCTYPE.
_FIRST_ELEMENT = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s/>]")


def guess_kind(path: Path | str) -> SourceKind:
    """What a refused file most likely is, for its report: read as text from its first bytes,
    without parsing (a census refused for its DOCTYPE, encoding or control characters is still
    a census). `SourceKind.UNKNOWN` when nothing says."""
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return SourceKind.UNKNOWN
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or head[:2] in (b"<\x00", b"\x00<"):
        text = head.decode("utf-16", errors="replace")
    else:
        text = head.removeprefix(codecs.BOM_UTF8).decode("latin-1")
    if text.lstrip().startswith("<"):
        for name in _FIRST_ELEMENT.findall(text):
            if name in XML_ROOTS:
                return XML_ROOTS[name]
        return SourceKind.UNKNOWN
    line = text.splitlines()[0] if text.strip() else ""
    return SourceKind.SERVICE_FEED if _feed_columns(line) else SourceKind.UNKNOWN


def parse_feed(
    path: Path | str,
    *,
    expected_laestab: str | None = None,
    owning_la: str | None = None,
    today: dt.date | None = None,
) -> FeedParse:
    """Detect the file's kind and start its streaming parse.

    `expected_laestab`: the school the file was submitted for (census and CTF; a mismatch is a
    file error). `owning_la`: the LA a service feed belongs to (required for service feeds).
    """
    path = Path(path)
    kind = detect_kind(path)
    if kind is SourceKind.CENSUS:
        return parse_census(path, expected_laestab=expected_laestab, today=today)
    if kind is SourceKind.CTF:
        return parse_ctf(path, expected_laestab=expected_laestab, today=today)
    if owning_la is None:
        raise FeedError(path.name, "is a service feed: the LA that sent it must be given")
    return parse_service_feed(path, owning_la=owning_la, today=today)
